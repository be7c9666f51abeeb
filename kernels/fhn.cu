// The FitzHugh–Nagumo layer on the GPU: the twin of fhn.cpp. One thread per (sample, neuron) runs
// fhn_math.h's trajectory, for the layer's integrator, with v, w in registers; only the indexing and
// the batch reduction of the parameter gradients are written here.
//
// Thread mapping: a block of 256 threads is (tx neurons) × (256 / tx samples), tx = 32 when the
// layer has 32 neurons or more (a warp reads 32 consecutive neurons of one sample: coalesced) and
// the next power of two ≥ N below that (so N = 1 does not leave 31 of 32 lanes idle). The grid
// covers the neurons along x and strides over the batch along y.
//
// Parameter gradients are reduced deterministically in two passes: each thread sums its samples in
// order, each block sums its threads in shared memory in a fixed order and writes one partial per
// neuron into the workspace (blocks along y, 4, N); a second kernel sums the partials over the
// blocks in order. The result is bit-identical from run to run for a seed, unlike atomics.
#include "kernels/fhn_gpu.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/integrator_dispatch.h"

namespace dynpmnn {

namespace {

constexpr int kMaxGridY = 65535;  // CUDA's limit on gridDim.y; larger batches stride

struct Geometry {
  dim3 block;
  dim3 grid;
};

Geometry fhn_geometry(const FhnShape& s) {
  int tx = 1;
  while (tx < s.neurons && tx < 32) tx *= 2;
  const int ty = kThreads / tx;
  const long long gx = (static_cast<long long>(s.neurons) + tx - 1) / tx;
  const long long gy = std::clamp<long long>((static_cast<long long>(s.batch) + ty - 1) / ty, 1, kMaxGridY);
  return {dim3(tx, ty, 1), dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), 1)};
}

// The pair's initial state and constant input current, as fhn.cpp's initial_state.
template <Coupling C>
__device__ __forceinline__ void load_initial_state(const float* in, int N, int b, int n, float I, float& v,
                                                   float& w, float& current) {
  if constexpr (C == Coupling::kInitialCondition) {
    v = in[static_cast<std::size_t>(b) * 2 * N + n];
    w = in[static_cast<std::size_t>(b) * 2 * N + N + n];
    current = I;
  } else {
    v = 0.0f;
    w = 0.0f;
    current = I + in[static_cast<std::size_t>(b) * N + n];
  }
}

// EXPERIMENT (A/B on the device): a minimum of blocks per SM for the forward (8 caps it at 32
// registers, full occupancy; unset, ptxas takes 27 for the unclamped Euler, which is full already).
#ifndef DYNPMNN_FHN_FWD_MIN_BLOCKS
#define DYNPMNN_FHN_FWD_MIN_BLOCKS 1
#endif

template <Coupling C, Integrator S, bool kClip>
__global__ void __launch_bounds__(kThreads, DYNPMNN_FHN_FWD_MIN_BLOCKS)
    fhn_forward_kernel(int B, int N, FhnCheckpointPlan plan, float dt, float clip, const float* __restrict__ in,
                       FhnParamPtrs<float> p, float* __restrict__ out, float* __restrict__ ckpt_v,
                       float* __restrict__ ckpt_w, int* nonfinite_flag, int layer_index) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;  // no barrier in this kernel
  const FhnParams<float> prm{p.a[n], p.b[n], p.g[n], p.I[n]};
  const std::size_t stride = static_cast<std::size_t>(B) * N;
  bool finite = true;
  for (int b = blockIdx.y * blockDim.y + threadIdx.y; b < B; b += gridDim.y * blockDim.y) {
    float v, w, current;
    load_initial_state<C>(in, N, b, n, prm.I, v, w, current);
    const std::size_t at = static_cast<std::size_t>(b) * N + n;
    fhn_forward_trajectory_impl<S, kClip>(v, w, prm, current, dt, plan, clip, ckpt_v ? ckpt_v + at : nullptr,
                                          ckpt_w ? ckpt_w + at : nullptr, stride);
    out[static_cast<std::size_t>(b) * 2 * N + n] = v;
    out[static_cast<std::size_t>(b) * 2 * N + N + n] = w;
    finite = finite && is_finite_value(v) && is_finite_value(w);
  }
  if (!finite && nonfinite_flag != nullptr) atomicCAS(nonfinite_flag, kNoNonFinite, layer_index);
}

// partial: (gridDim.y, 4, N), written when kParamGrads; without it the compiler drops the
// parameter-gradient arithmetic (all FHN parameters frozen, as in the paper). The minimum of two
// blocks per SM caps registers at 128: with no minimum, ptxas settles on 80 and spills the Heun and
// IMEX reverses; with it every scheme fits without a stack frame.
//
// Unclamped Euler without parameter gradients (the paper's training, and the peer's benchmark)
// needs 48 registers: five blocks per SM (40 warps to hide the adjoint's dependency chains and
// the checkpoint loads). Clamped, it keeps w's states too and needs 64 (four blocks; capped at
// five it spilled 140 bytes). With parameter gradients, ~77: three blocks (capped at four, 60
// bytes of spill).
// EXPERIMENT (A/B on the device): the unclamped Euler minimums.
#ifndef DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS
#define DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS 5
#endif
#ifndef DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS
#define DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS 3
#endif
template <Integrator S, bool kClip, bool kParamGrads>
inline constexpr int kBackwardMinBlocks =
    S != Integrator::kEuler ? 2
    : kParamGrads           ? DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS
    : kClip                 ? 4
                            : DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS;

template <Coupling C, Integrator S, bool kClip, bool kParamGrads>
__global__ void __launch_bounds__(kThreads, kBackwardMinBlocks<S, kClip, kParamGrads>)
    fhn_backward_kernel(int B, int N, FhnCheckpointPlan plan, float dt, float clip, const float* __restrict__ in,
                        FhnParamPtrs<float> p, const float* __restrict__ ckpt_v, const float* __restrict__ ckpt_w,
                        const float* __restrict__ d_out, float* __restrict__ d_in, float* __restrict__ partial) {
  __shared__ float red[4][kThreads];
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  FhnParamGrad<float> acc;
  if (n < N) {
    const FhnParams<float> prm{p.a[n], p.b[n], p.g[n], p.I[n]};
    const std::size_t stride = static_cast<std::size_t>(B) * N;
    for (int b = blockIdx.y * blockDim.y + threadIdx.y; b < B; b += gridDim.y * blockDim.y) {
      float v0, w0, current;
      load_initial_state<C>(in, N, b, n, prm.I, v0, w0, current);
      const std::size_t at = static_cast<std::size_t>(b) * N + n;
      const std::size_t row = static_cast<std::size_t>(b) * 2 * N;
      float lv = d_out[row + n];
      float lw = d_out[row + N + n];
      FhnParamGrad<float> grad;
      fhn_backward_trajectory_impl<S, kClip>(v0, w0, prm, current, dt, plan, clip, ckpt_v ? ckpt_v + at : nullptr,
                                             ckpt_w ? ckpt_w + at : nullptr, stride, lv, lw, grad);
      if constexpr (C == Coupling::kInitialCondition) {
        d_in[row + n] = lv;
        d_in[row + N + n] = lw;
      } else {
        d_in[static_cast<std::size_t>(b) * N + n] = grad.I;
      }
      acc.a += grad.a;
      acc.b += grad.b;
      acc.g += grad.g;
      acc.I += grad.I;
    }
  }
  if constexpr (!kParamGrads) return;
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  red[0][t] = acc.a;
  red[1][t] = acc.b;
  red[2][t] = acc.g;
  red[3][t] = acc.I;
  __syncthreads();
  if (threadIdx.y == 0 && n < N) {
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int y = 0; y < static_cast<int>(blockDim.y); ++y) {
      const int from = y * blockDim.x + threadIdx.x;
#pragma unroll
      for (int k = 0; k < 4; ++k) sum[k] += red[k][from];
    }
    float* dst = partial + static_cast<std::size_t>(blockIdx.y) * 4 * N;
#pragma unroll
    for (int k = 0; k < 4; ++k) dst[static_cast<std::size_t>(k) * N + n] = sum[k];
  }
}

// d.x[n] = Σ over the blocks, in block order, of partial[block][x][n].
__global__ void fhn_param_grad_reduce_kernel(int N, int blocks, const float* __restrict__ partial,
                                             FhnGradPtrs<float> d) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int y = 0; y < blocks; ++y) {
    const float* src = partial + static_cast<std::size_t>(y) * 4 * N;
#pragma unroll
    for (int k = 0; k < 4; ++k) sum[k] += src[static_cast<std::size_t>(k) * N + n];
  }
  if (d.a) d.a[n] = sum[0];
  if (d.b) d.b[n] = sum[1];
  if (d.g) d.g[n] = sum[2];
  if (d.I) d.I[n] = sum[3];
}

// The run-time coupling, integrator (through dispatch_integrator) and clamp (on or off) become
// template parameters here, in one place: f is called with std::integral_constant values of all
// three. The clamp is a kernel of its own because its reverse keeps w's states too: sharing a
// kernel, its register demand set the unclamped one's (the paper's), which then spilled.
template <typename F>
void dispatch(const char* op, const FhnShape& s, F&& f) {
  auto with_clip = [&](auto c, auto scheme) {
    if (s.clip > 0) return f(c, scheme, std::true_type{});
    return f(c, scheme, std::false_type{});
  };
  auto with_coupling = [&](auto c) {
    return dispatch_integrator(s.integrator, op, [&](auto scheme) { return with_clip(c, scheme); });
  };
  switch (s.coupling) {
    case Coupling::kInitialCondition:
      return with_coupling(std::integral_constant<Coupling, Coupling::kInitialCondition>{});
    case Coupling::kCurrent: return with_coupling(std::integral_constant<Coupling, Coupling::kCurrent>{});
  }
  throw std::invalid_argument(std::string(op) + ": unknown coupling " + std::to_string(static_cast<int>(s.coupling)) +
                              " (expected initial or current; add a case here for a new mode)");
}

void check_common(const char* op, const FhnShape& s, const float* in, FhnParamPtrs<float> p) {
  s.validate();
  // The kernels index (sample, neuron) of one model; the model axis is the population issue's.
  require(s.models == 1 && s.per_model == nullptr, op,
          "a population (models > 1 or per-model steps) runs on the CPU op only so far");
  require(in != nullptr, op, "input is null");
  require(p.a && p.b && p.g && p.I, op, "a parameter pointer (a, b, g or I) is null");
}

}  // namespace

void fhn_forward_gpu(const FhnShape& s, const float* in, FhnParamPtrs<float> p, float* out, float* ckpt_v,
                     float* ckpt_w, int* nonfinite_flag, int layer_index, cudaStream_t stream) {
  constexpr const char* op = "fhn_forward_gpu";
  s.validate();
  if (s.batch == 0) return;
  check_common(op, s, in, p);
  require(out != nullptr, op, "output is null");
  require((ckpt_v == nullptr) == (ckpt_w == nullptr), op, "ckpt_v and ckpt_w must both be set or both be null");
  require(layer_index != kNoNonFinite, op, "layer_index must differ from the no-divergence sentinel -1");
  const Geometry geo = fhn_geometry(s);
  // Checkpoints are only written when there are any (ckpt pointers of an empty array may be null).
  float* cv = s.checkpoint_elems() > 0 ? ckpt_v : nullptr;
  float* cw = s.checkpoint_elems() > 0 ? ckpt_w : nullptr;
  const float dt = static_cast<float>(s.dt);
  const float clip = static_cast<float>(s.clip);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(s.steps);
  dispatch(op, s, [&](auto c, auto scheme, auto clamp) {
    fhn_forward_kernel<decltype(c)::value, decltype(scheme)::value, decltype(clamp)::value><<<geo.grid, geo.block, 0, stream>>>(
        s.batch, s.neurons, plan, dt, clip, in, p, out, cv, cw, nonfinite_flag, layer_index);
  });
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_forward_kernel");
}

std::size_t fhn_backward_workspace_floats(const FhnShape& s) {
  s.validate();
  if (s.batch == 0) return 0;
  return static_cast<std::size_t>(fhn_geometry(s).grid.y) * 4 * static_cast<std::size_t>(s.neurons);
}

void fhn_backward_gpu(const FhnShape& s, const float* in, FhnParamPtrs<float> p, const float* ckpt_v,
                      const float* ckpt_w, const float* d_out, float* d_in, FhnGradPtrs<float> d_params,
                      float* workspace, cudaStream_t stream) {
  constexpr const char* op = "fhn_backward_gpu";
  s.validate();
  if (s.batch == 0) return;
  check_common(op, s, in, p);
  require(d_out != nullptr && d_in != nullptr, op, "d_out and d_in must not be null");
  const bool has_checkpoints = s.checkpoint_elems() > 0;
  require(!has_checkpoints || (ckpt_v != nullptr && ckpt_w != nullptr), op,
          "this many steps needs the checkpoints the forward wrote (ckpt_v, ckpt_w are null)");
  const bool want_params = d_params.a || d_params.b || d_params.g || d_params.I;
  require(!want_params || workspace != nullptr, op,
          "workspace is null (needs fhn_backward_workspace_floats(shape) floats)");
  const Geometry geo = fhn_geometry(s);
  const float* cv = has_checkpoints ? ckpt_v : nullptr;
  const float* cw = has_checkpoints ? ckpt_w : nullptr;
  float* partial = want_params ? workspace : nullptr;
  const float dt = static_cast<float>(s.dt);
  const float clip = static_cast<float>(s.clip);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(s.steps);
  dispatch(op, s, [&](auto c, auto scheme, auto clamp) {
    if (want_params) {
      fhn_backward_kernel<decltype(c)::value, decltype(scheme)::value, decltype(clamp)::value, true><<<geo.grid, geo.block, 0, stream>>>(
          s.batch, s.neurons, plan, dt, clip, in, p, cv, cw, d_out, d_in, partial);
    } else {
      fhn_backward_kernel<decltype(c)::value, decltype(scheme)::value, decltype(clamp)::value, false><<<geo.grid, geo.block, 0, stream>>>(
          s.batch, s.neurons, plan, dt, clip, in, p, cv, cw, d_out, d_in, nullptr);
    }
  });
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_backward_kernel");
  if (!want_params) return;
  constexpr int kReduceThreads = 128;
  const unsigned reduce_blocks = static_cast<unsigned>((s.neurons + kReduceThreads - 1) / kReduceThreads);
  fhn_param_grad_reduce_kernel<<<reduce_blocks, kReduceThreads, 0, stream>>>(s.neurons, static_cast<int>(geo.grid.y),
                                                                            partial, d_params);
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_param_grad_reduce_kernel");
}

}  // namespace dynpmnn
