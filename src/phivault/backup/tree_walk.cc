#include "phivault/backup/tree_walk.h"

#include "phivault/base/file_util.h"

namespace phivault::backup {
namespace {

Status WalkDir(repo::BlobReader* reader, const Id& tree, const std::string& dir,
               const NodeVisitor& visit) {
  std::vector<repo::Node> nodes;
  {
    PHV_ASSIGN_OR_RETURN(ByteSpan blob, reader->Load(tree, repo::BlobType::kTree));
    PHV_ASSIGN_OR_RETURN(nodes, repo::DecodeTree(blob, "tree " + tree.Hex()));
  }
  for (const repo::Node& node : nodes) {
    std::string path = dir == "/" ? "/" + node.name : dir + "/" + node.name;
    PHV_ASSIGN_OR_RETURN(WalkAction action, visit(path, node));
    if (node.type == repo::NodeType::kDirectory && action == WalkAction::kContinue) {
      PHV_RETURN_IF_ERROR(WalkDir(reader, node.subtree, path, visit));
    }
  }
  return OkStatus();
}

}  // namespace

Status WalkTree(repo::BlobReader* reader, const Id& root, const NodeVisitor& visit) {
  return WalkDir(reader, root, "/", visit);
}

bool IsIncluded(const std::vector<std::string>& includes, const std::string& path) {
  if (includes.empty()) return true;
  for (const std::string& inc : includes) {
    if (IsPathWithin(path, inc) || IsPathWithin(inc, path)) return true;
  }
  return false;
}

bool IsOnlyAncestor(const std::vector<std::string>& includes, const std::string& path) {
  if (includes.empty()) return false;
  for (const std::string& inc : includes) {
    if (IsPathWithin(path, inc)) return false;
  }
  return true;
}

}  // namespace phivault::backup
