// What every launcher in a .cu file shares: the block size, the grid of a grid-stride loop and the
// host-side precondition check. One copy, so that a kernel family launches the way the others do and
// a failed precondition reads the same everywhere ("op: what is wrong"). CUDA sources only.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace dynpmnn {

// Threads per block of every one-dimensional launch (and of the FHN kernels' 2-D blocks): a multiple
// of the warp, and the size the block reductions' shared arrays are declared with.
inline constexpr int kThreads = 256;

// A launcher's precondition: throws std::invalid_argument "op: what", before anything is launched.
inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, never more than needed
// (at least 1, so that an empty launch is still a valid configuration; at most 4096).
inline unsigned stride_blocks(std::size_t n) {
  const std::size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<std::size_t>(blocks, 1, 4096));
}

}  // namespace dynpmnn
