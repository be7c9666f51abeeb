#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/train_state_gpu.h"

namespace dynpmnn {
namespace {

__global__ void epoch_begin_kernel(TrainState* s, int models) {
  if (static_cast<int>(threadIdx.x) >= models) return;
  s += threadIdx.x;
  s->flag = kNoNonFinite;
  s->diverged_step = -1;
  s->step = 0;
  s->steps_done = 0;
  s->batch_loss = 0.0;
  s->loss_sum = 0.0;
}

__global__ void step_end_kernel(TrainState* s, int models) {
  if (static_cast<int>(threadIdx.x) >= models) return;
  s += threadIdx.x;
  if (s->flag == kNoNonFinite && !isfinite(s->batch_loss)) s->flag = kLossOrGradient;
  if (s->flag != kNoNonFinite) {
    if (s->diverged_step < 0) s->diverged_step = s->step;
  } else {
    s->loss_sum += s->batch_loss;
    s->steps_done += 1;
  }
  s->step += 1;
}

}  // namespace

// One block, a thread a model: up to 1024 models.
void train_state_epoch_begin_gpu(TrainState* s, cudaStream_t stream, int models) {
  require(models >= 1 && models <= 1024, "train_state_epoch_begin_gpu", "1 to 1024 models");
  epoch_begin_kernel<<<1, models, 0, stream>>>(s, models);
  DYNPMNN_CUDA_CHECK_LAUNCH("epoch_begin_kernel");
}

void train_state_step_end_gpu(TrainState* s, cudaStream_t stream, int models) {
  require(models >= 1 && models <= 1024, "train_state_step_end_gpu", "1 to 1024 models");
  step_end_kernel<<<1, models, 0, stream>>>(s, models);
  DYNPMNN_CUDA_CHECK_LAUNCH("step_end_kernel");
}

}  // namespace dynpmnn
