// The epoch's visiting order as a pure function of (seed, epoch, row), so the CPU (std::sort) and
// the GPU (a device sort of the same keys) visit rows in the same order without copying a
// permutation to the device.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace dynpmnn {

DYNPMNN_HD std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Rows are visited in increasing key order, ties broken by row index.
DYNPMNN_HD std::uint64_t shuffle_key_of(std::uint64_t seed, int epoch, std::uint32_t row) {
  const std::uint64_t stream = splitmix64(seed ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(epoch)) << 32));
  return splitmix64(stream ^ row);
}

}  // namespace dynpmnn
