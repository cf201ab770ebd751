// Runs the conformance suite against the in-memory and local backends and the decorators, and
// tests what is particular to each.
#include "phivault/storage/backend_conformance.h"

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "phivault/storage/limit_backend.h"
#include "phivault/storage/local_backend.h"
#include "phivault/storage/mem_backend.h"
#include "phivault/storage/retry_backend.h"

namespace phivault::storage {
namespace {

INSTANTIATE_TEST_SUITE_P(
    AllBackends, BackendConformanceTest,
    ::testing::Values(BackendFactory{"Mem",
                                     [](const std::string&) {
                                       return std::make_unique<MemBackend>();
                                     }},
                      BackendFactory{"Local",
                                     [](const std::string& dir) -> std::unique_ptr<Backend> {
                                       auto b = LocalBackend::Create(dir);
                                       return b.ok() ? std::move(*b) : nullptr;
                                     }},
                      BackendFactory{"RetryMem",
                                     [](const std::string&) -> std::unique_ptr<Backend> {
                                       return std::make_unique<RetryBackend>(
                                           std::make_unique<MemBackend>(), RetryPolicy{});
                                     }},
                      BackendFactory{"LimitLocal",
                                     [](const std::string& dir) -> std::unique_ptr<Backend> {
                                       auto b = LocalBackend::Create(dir);
                                       if (!b.ok()) return nullptr;
                                       return std::make_unique<LimitBackend>(std::move(*b), 2);
                                     }}),
    FactoryName);

TEST(LocalBackendTest, OpenMissingIsRepositoryMissing) {
  auto b = LocalBackend::Open("/nonexistent/phivault/repo");
  EXPECT_EQ(b.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b.status().tag(), ErrorTag::kRepositoryMissing);
}

TEST(LocalBackendTest, CreateRefusesNonEmptyDirectory) {
  char tmpl[] = "/tmp/phivault-backend-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_EQ(system(("touch '" + dir + "/stray'").c_str()), 0);
  EXPECT_EQ(LocalBackend::Create(dir).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_EQ(system(("rm -rf '" + dir + "'").c_str()), 0);
}

}  // namespace
}  // namespace phivault::storage
