// Helpers of the GPU tests: skip where no device exists (fail instead when DYNPMNN_REQUIRE_GPU=1,
// as the device check sets it), device round trips, and the float-vs-reference comparison that
// prints the first mismatches with their indices.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/device_buffer.h"

namespace dynpmnn::test {

// True when at least one CUDA device is usable; otherwise `why` says what is missing.
inline bool gpu_present(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    *why = std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorName(err) + ", " +
           cudaGetErrorString(err) + ")";
    return false;
  }
  if (count < 1) {
    *why = "no CUDA device found";
    return false;
  }
  return true;
}

inline bool gpu_required() {
  const char* v = std::getenv("DYNPMNN_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace dynpmnn::test

// First statement of every GPU test: skips with the reason where no device exists, fails where
// one is required (DYNPMNN_REQUIRE_GPU=1). A machine with a device never skips.
#define DYNPMNN_REQUIRE_GPU()                                                                  \
  do {                                                                                         \
    std::string dynpmnn_why_;                                                                  \
    if (!::dynpmnn::test::gpu_present(&dynpmnn_why_)) {                                        \
      if (::dynpmnn::test::gpu_required()) FAIL() << "DYNPMNN_REQUIRE_GPU=1 but " << dynpmnn_why_; \
      GTEST_SKIP() << dynpmnn_why_;                                                            \
    }                                                                                          \
  } while (0)

namespace dynpmnn::test {

inline DeviceBuffer<float> to_device(const std::vector<float>& host) {
  DeviceBuffer<float> d(host.size());
  d.upload(host);
  return d;
}

// A poisoned (all-NaN) device buffer: an element a kernel does not write fails the comparison.
inline DeviceBuffer<float> poisoned(std::size_t n) {
  DeviceBuffer<float> d(n);
  d.poison();
  return d;
}

inline void sync_and_check() {
  const cudaError_t err = cudaDeviceSynchronize();
  ASSERT_EQ(err, cudaSuccess) << cudaGetErrorName(err) << ": " << cudaGetErrorString(err);
}

// Uniform floats in [lo, hi), and the same values in double for the reference.
inline std::vector<float> uniform_floats(std::mt19937& gen, std::size_t n, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(dist(gen));
  return v;
}

template <typename To, typename From>
std::vector<To> convert(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// |got − ref| <= atol + rtol·|ref| + extra[i] for every i (extra may be empty), every got finite.
// On failure: the count, the worst element and the first few mismatches with their indices (row
// and column when cols > 0).
inline ::testing::AssertionResult all_close(const std::string& what, const std::vector<float>& got,
                                            const std::vector<double>& ref, double atol, double rtol,
                                            const std::vector<double>& extra = {}, std::size_t cols = 0) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs reference " << ref.size();
  if (!extra.empty() && extra.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": tolerance array has the wrong size";
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  std::ostringstream first;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i];
    const double tol = atol + rtol * std::abs(ref[i]) + (extra.empty() ? 0.0 : extra[i]);
    const double err = std::abs(g - ref[i]);
    const bool ok = std::isfinite(g) && err <= tol;
    if (ok) continue;
    const double excess = std::isfinite(err) ? err / tol : INFINITY;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
    if (bad < 6) {
      first << "\n  [" << i;
      if (cols) first << " = row " << i / cols << ", col " << i % cols;
      first << "] got " << g << " ref " << ref[i] << " |err| " << err << " tol " << tol;
    }
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size()
                                       << " elements out of tolerance or not finite (worst at " << worst
                                       << ", " << worst_excess << "x its tolerance); first:" << first.str();
}

// Bitwise equality of two float arrays (NaN patterns included), with the first differences.
inline ::testing::AssertionResult bitwise_equal(const std::string& what, const std::vector<float>& a,
                                                const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  std::size_t bad = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    if (ua == ub) continue;
    if (bad < 6) first << "\n  [" << i << "] " << a[i] << " vs " << b[i];
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << a.size() << " differ; first:" << first.str();
}

inline bool all_nan(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isnan(x); });
}

}  // namespace dynpmnn::test
