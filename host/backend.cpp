#include "host/backend.h"

#include <algorithm>
#include <numeric>

#include "kernels/shuffle_math.h"

namespace dynpmnn {

std::uint64_t shuffle_key(std::uint64_t seed, int epoch, std::uint32_t row) {
  return shuffle_key_of(seed, epoch, row);
}

std::vector<std::uint32_t> epoch_permutation(std::uint64_t seed, int epoch, std::uint32_t rows) {
  std::vector<std::uint64_t> keys(rows);
  for (std::uint32_t r = 0; r < rows; ++r) keys[r] = shuffle_key_of(seed, epoch, r);
  std::vector<std::uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t i, std::uint32_t j) {
    return keys[i] != keys[j] ? keys[i] < keys[j] : i < j;
  });
  return order;
}

#if !defined(DYNPMNN_HAVE_CUDA)
bool cuda_available(std::string* why) {
  if (why) *why = "this build has no CUDA backend (configured without nvcc or with -DDYNPMNN_CUDA=OFF)";
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec&, const TrainHyper&) {
  std::string why;
  cuda_available(&why);
  throw std::runtime_error("--device cuda: " + why);
}
#endif

}  // namespace dynpmnn
