#include "host/runtime/backend.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "kernels/loss_math.h"
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

int target_columns(Loss loss, const ModelSpec& spec) { return loss == Loss::kSoftmaxCrossEntropy ? 1 : spec.outputs; }

void check_backend_data(const ModelSpec& spec, Loss loss, const SplitData& data) {
  const int targets = target_columns(loss, spec);
  for (const Dataset* d : {&data.train, &data.val, &data.test}) {
    if (d->features != spec.inputs || d->targets != targets)
      throw std::invalid_argument("dataset has " + std::to_string(d->features) + " features and " +
                                  std::to_string(d->targets) + " targets; the model expects " +
                                  std::to_string(spec.inputs) + " and " + std::to_string(targets));
    if (d->x.size() != static_cast<std::size_t>(d->rows) * d->features ||
        d->y.size() != static_cast<std::size_t>(d->rows) * d->targets)
      throw std::invalid_argument("dataset arrays do not match its row count");
    if (loss == Loss::kSoftmaxCrossEntropy)
      for (const double label : d->y)
        if (class_of_label(label, spec.outputs) < 0)
          throw std::invalid_argument("class index " + std::to_string(label) + " is not an integer in [0, " +
                                      std::to_string(spec.outputs) + ")");
  }
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

void check_param_count(const char* call, std::size_t got, std::size_t expected) {
  if (got != expected)
    throw std::invalid_argument(std::string(call) + ": " + std::to_string(got) + " values for " +
                                std::to_string(expected) + " parameters");
}

void check_optimizer_state(const OptimizerState& state, std::size_t expected) {
  if (state.m.size() != expected || state.v.size() != expected || state.step < 0)
    throw std::invalid_argument("set_optimizer_state: " + std::to_string(state.m.size()) + " and " +
                                std::to_string(state.v.size()) + " moments at step " + std::to_string(state.step) +
                                ", expected " + std::to_string(expected) + " each at a step >= 0");
}

}  // namespace dynpmnn
