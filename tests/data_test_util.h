// Tests that read California Housing: they skip with the reason where the file is not on this
// machine, and fail instead where it is required (DYNPMNN_REQUIRE_DATA=1, as .ci/run sets it), as
// the GPU tests do with DYNPMNN_REQUIRE_GPU: CI has the file, so a skip there would hide a broken
// look-up and ~25 tests behind it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "data/california.h"

namespace dynpmnn::testing {

// Empty when the usual look-up (data/california.h) finds cal_housing.data; else why it does not.
inline std::string california_missing() {
  try {
    locate_california("");
    return "";
  } catch (const DataError& e) {
    return e.what();
  }
}

inline bool data_required() {
  const char* v = std::getenv("DYNPMNN_REQUIRE_DATA");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace dynpmnn::testing

// Stops the test when `why_missing` (a std::string) is not empty: a failure under
// DYNPMNN_REQUIRE_DATA=1, else a skip with the reason.
#define DYNPMNN_STOP_IF_DATA_MISSING(why_missing)                                                   \
  do {                                                                                              \
    const std::string dynpmnn_missing_ = (why_missing);                                             \
    if (!dynpmnn_missing_.empty()) {                                                                \
      if (::dynpmnn::testing::data_required())                                                      \
        FAIL() << "DYNPMNN_REQUIRE_DATA=1 but cal_housing.data is not available: " << dynpmnn_missing_; \
      GTEST_SKIP() << "cal_housing.data not available: " << dynpmnn_missing_;                       \
    }                                                                                               \
  } while (0)

// First statement of every test that reads California Housing.
#define DYNPMNN_REQUIRE_CALIFORNIA() DYNPMNN_STOP_IF_DATA_MISSING(::dynpmnn::testing::california_missing())
