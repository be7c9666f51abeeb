#include "common/cuda_check.h"
#include "kernels/train_state_gpu.h"

namespace dynpmnn {
namespace {

__global__ void epoch_begin_kernel(TrainState* s) {
  s->flag = kNoNonFinite;
  s->diverged_step = -1;
  s->step = 0;
  s->steps_done = 0;
  s->batch_loss = 0.0;
  s->loss_sum = 0.0;
}

__global__ void step_end_kernel(TrainState* s) {
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

void train_state_epoch_begin_gpu(TrainState* s, cudaStream_t stream) {
  epoch_begin_kernel<<<1, 1, 0, stream>>>(s);
  DYNPMNN_CUDA_CHECK_LAUNCH("epoch_begin_kernel");
}

void train_state_step_end_gpu(TrainState* s, cudaStream_t stream) {
  step_end_kernel<<<1, 1, 0, stream>>>(s);
  DYNPMNN_CUDA_CHECK_LAUNCH("step_end_kernel");
}

}  // namespace dynpmnn
