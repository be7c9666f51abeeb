// The Neural ODE block on the GPU (ode_block.cu), float32: the twin of OdeBlockCpu with the same
// solvers, step-size control, records and exact backward (see models/ode_block.h), built from
// kernels/ops_gpu.h (cuBLAS dense, LayerNorm, tanh) and kernels/ode_gpu.h.
//
// rk4 enqueues a fixed sequence of work with fixed arguments and no host synchronisation, so a
// training step that contains it can be captured as a CUDA graph. dopri5 cannot: every attempted
// step's accept/reject decision and next step size need the error norm on the host (a one-block
// device reduction and an 8-byte copy, then a stream synchronisation), and the number of steps
// differs between batches. The CUDA backend therefore runs models with a dopri5 block on the stream
// without graph capture (capturable() is false for them).
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "common/device_buffer.h"
#include "kernels/ops_gpu.h"
#include "models/ode_block.h"

namespace dynpmnn {

// kKeep: training, every evaluation is stored for the backward; kScratchOnly: inference, which
// keeps nothing (one scratch evaluation).
enum class OdeRecords : int { kScratchOnly = 0, kKeep = 1 };

class OdeBlockGpu {
 public:
  // capacity: the largest batch. rk4's records are allocated here, dopri5's as the steps come.
  OdeBlockGpu(OdeLayout layout, int layer_index, const CublasContext& ctx, int capacity, OdeRecords records);

  bool capturable() const { return layout_.solver == OdeSolver::kRk4; }

  // h0 (B, H) → h1 (B, H) at t = 1 (device). When flag is not null and h1 is not finite, *flag is
  // set from kNoNonFinite to the layer index. dopri5 synchronises the stream at every step and
  // throws OdeStepLimitError past ode_max_steps.
  void forward(const float* params, const float* h0, int B, float* h1, int* flag);

  // After a forward with OdeRecords::kKeep: dh1 (B, H) → dh0 (B, H) (overwritten); the vector field's
  // gradient region [first, end) of grad is overwritten.
  void backward(const float* params, const float* dh1, float* dh0, float* grad);

  const std::vector<double>& step_sizes() const { return step_h_; }
  long rejected_steps() const { return rejected_; }

 private:
  struct Eval {
    DeviceBuffer<float> z;                          // (B, H+1)
    std::vector<DeviceBuffer<float>> xhat, normed, act;  // (vf_layers − 1) × (B, V)
    std::vector<DeviceBuffer<float>> rstd;          // (vf_layers − 1) × (B)
  };
  cudaStream_t stream() const { return ctx_.stream(); }
  std::unique_ptr<Eval> make_eval() const;
  Eval& at(std::size_t record);
  void eval(const float* params, const float* y, double t, std::size_t record, float* k);
  void eval_backward(const float* params, const Eval& e, const float* dk, float* dy, float* grad);
  void forward_fixed(const float* params, const float* h0, float* h1);
  bool forward_adaptive(const float* params, const float* h0, float* h1);
  double read_sum();

  OdeLayout layout_;
  int layer_;
  const CublasContext& ctx_;
  int capacity_;
  OdeRecords record_mode_;
  int batch_ = 0;
  std::vector<std::unique_ptr<Eval>> records_;
  std::unique_ptr<Eval> scratch_;
  std::vector<double> step_h_;
  long rejected_ = 0;
  std::vector<DeviceBuffer<float>> k_;  // (kOdeMaxTerms) × (capacity, H)
  DeviceBuffer<float> y_, stage_, next_, ybar_;  // (capacity, H)
  DeviceBuffer<float> lin_;                      // (capacity, V)
  DeviceBuffer<float> d_a_, d_b_;                // (capacity, max(V, H+1))
  DeviceBuffer<float> grad_scratch_;             // (end − first)
  DeviceBuffer<double> sum_;                     // (1)
  PinnedBuffer<double> host_sum_;                // (1)
};

}  // namespace dynpmnn
