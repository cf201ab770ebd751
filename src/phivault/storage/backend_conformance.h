// The Backend conformance suite: one set of behaviour tests that every Backend implementation
// must pass. A backend joins by instantiating the suite in its own test binary:
//
//   INSTANTIATE_TEST_SUITE_P(Mine, BackendConformanceTest,
//                            ::testing::Values(BackendFactory{"Mine", make}), FactoryName);
//
// and compiling backend_conformance.cc into that binary.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "phivault/storage/backend.h"

namespace phivault::storage {

struct BackendFactory {
  std::string name;
  // Makes an empty backend; `dir` is a fresh temporary directory it may use.
  std::function<std::unique_ptr<Backend>(const std::string& dir)> make;
};

std::string FactoryName(const ::testing::TestParamInfo<BackendFactory>& p);

class BackendConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string dir_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace phivault::storage
