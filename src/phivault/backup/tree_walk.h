// Walking a snapshot's tree: every node below a root tree, parents before children, each with
// its absolute path inside the snapshot ("/srv/ehr/db.sqlite"). Used by ls, restore and check.
//
// Tree blobs are read through a BlobReader, so every tree is authenticated and checked against
// its keyed id before it is decoded; a tree that fails stops the walk with kDataLoss naming it.
//
// Thread safety: a walk uses the BlobReader it is given, from the calling thread only.
#pragma once

#include <functional>
#include <string>

#include "phivault/base/status.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/tree.h"

namespace phivault::backup {

// What the visitor tells the walk to do next.
enum class WalkAction : uint8_t { kContinue, kSkipSubtree };

using NodeVisitor =
    std::function<Result<WalkAction>(const std::string& path, const repo::Node& node)>;

// Visits every node below the tree `root` in name order, depth first.
Status WalkTree(repo::BlobReader* reader, const Id& root, const NodeVisitor& visit);

// The snapshot paths that `path` (absolute) relates to for an include list: true if `path` is
// one of `includes`, lies below one, or is an ancestor of one. An empty list includes all.
bool IsIncluded(const std::vector<std::string>& includes, const std::string& path);
// True when `path` is an ancestor of an include but not itself included.
bool IsOnlyAncestor(const std::vector<std::string>& includes, const std::string& path);

}  // namespace phivault::backup
