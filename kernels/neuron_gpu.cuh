// The neuron layer's CUDA kernels for any model M (neuron_gpu.h declares the launchers): one
// thread per (sample, neuron) runs neuron_math.h's trajectory for the layer's integrator with the
// state in registers; only the indexing and the batch reduction of the parameter gradients are
// written here. Include it from a .cu file to instantiate the launchers for a model (neuron.cu does
// for the built-in ones).
//
// Thread mapping: a block of 256 threads is (tx neurons) × (256 / tx samples), tx = 32 when the
// layer has 32 neurons or more (a warp reads 32 consecutive neurons of one sample: coalesced) and
// the next power of two ≥ N below that (so N = 1 does not leave 31 of 32 lanes idle). The grid
// covers the neurons along x and strides over the batch along y.
//
// Populations (models > 1) take one launch whatever P: the grid's z is the model, and each thread
// moves its pointers to its model's block (neuron_cpu.h's ModelBlock) and reads its model's dt,
// steps and clip once, from the shape's per_model_device table where the models differ. A model
// with fewer steps than another simply finishes earlier. A lone model (models = 1) runs the
// kernels of ModelAxis::kLone, which have none of this: the code FitzHugh–Nagumo's kernels were
// tuned as.
//
// Parameter gradients are reduced deterministically in two passes: each thread sums its samples in
// order, each block sums its threads in shared memory in a fixed order and writes one partial per
// neuron into the workspace (models, blocks along y, kParams, N); a second kernel sums the partials
// over the blocks in order, per model. The result is bit-identical from run to run for a seed, unlike atomics.
#pragma once

#include <math_constants.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/integrator_dispatch.h"
#include "kernels/neuron_gpu.h"

namespace dynpmnn {

namespace neuron_gpu_detail {

constexpr int kMaxGridY = 65535;  // CUDA's limit on gridDim.y; larger batches stride
constexpr int kMaxGridZ = 65535;  // and on gridDim.z: the most models of one launch

// How a launch indexes models: one alone (models = 1), or a population along gridDim.z.
enum class ModelAxis : int { kLone = 0, kPopulation = 1 };

// What a population's kernel needs beyond a lone model's arguments: P, and the (P) device table of
// the models' steps where they differ (null: every model has the launch's dt, plan and clip).
struct Population {
  int models = 1;
  const NeuronModelStep* per_model = nullptr;
};

struct Geometry {
  dim3 block;
  dim3 grid;
};

inline Geometry geometry(const NeuronShape& s) {
  int tx = 1;
  while (tx < s.neurons && tx < 32) tx *= 2;
  const int ty = kThreads / tx;
  const long long gx = (static_cast<long long>(s.neurons) + tx - 1) / tx;
  const long long gy = std::clamp<long long>((static_cast<long long>(s.batch) + ty - 1) / ty, 1, kMaxGridY);
  return {dim3(tx, ty, 1), dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(s.models))};
}

// A launch's step: the lone model's (or a population's, when its models share one) as the kernels'
// arguments, and whether the kernel clamps: where any model of the population does.
struct LaunchStep {
  FhnCheckpointPlan plan;
  float dt = 0, clip = 0;
  bool clamp = false;
  const NeuronModelStep* per_model = nullptr;  // device; set where the models' steps differ
};

inline LaunchStep launch_step(const NeuronShape& s) {
  LaunchStep l;
  if (s.models == 1 || s.per_model == nullptr) {
    const NeuronModelStep st = s.step_of(0);
    l.plan = fhn_checkpoint_plan(st.steps);
    l.dt = static_cast<float>(st.dt);
    l.clip = static_cast<float>(st.clip);
    l.clamp = st.clip > 0;
    return l;
  }
  for (int m = 0; m < s.models; ++m) l.clamp = l.clamp || s.per_model[m].clip > 0;
  l.per_model = s.per_model_device;
  return l;
}

// The resting state of the states coupling does not set (M::kStateInfo, passed by value: host
// constants are not addressable in device code).
struct RestState {
  float x[kMaxNeuronStates];
};

template <class M>
RestState rest_state() {
  RestState r{};
  for (int i = 0; i < M::kStates; ++i) r.x[i] = static_cast<float>(M::kStateInfo[i].initial);
  return r;
}

// The neuron's initial state and constant input current, as neuron_cpu.h's initial_state.
template <class M, Coupling C>
__device__ __forceinline__ void load_initial_state(const float* in, int N, int b, int n, float current_param,
                                                   const RestState& rest, float (&x)[M::kStates], float& current) {
#pragma unroll
  for (int i = 0; i < M::kStates; ++i) x[i] = rest.x[i];
  if constexpr (C == Coupling::kInitialCondition) {
#pragma unroll
    for (int i = 0; i < M::kCoupled; ++i)
      x[i] = in[static_cast<std::size_t>(b) * M::kCoupled * N + static_cast<std::size_t>(i) * N + n];
    current = current_param;
  } else {
    current = current_param + in[static_cast<std::size_t>(b) * N + n];
  }
}

template <class M>
__device__ __forceinline__ void load_params(const NeuronParamPtrs<float>& p, int n, float (&q)[M::kParams]) {
#pragma unroll
  for (int k = 0; k < M::kParams; ++k) q[k] = p.p[k][n];
}

// Model m's step, read once per thread from the population's table (where its models differ) with
// the host's conversions (float dt and clip, the plan of its step count), so that it steps as the
// model would alone. In a launch whose kernel clamps because another model does, a model without
// the clamp gets clip = +∞: the clamp of a model that unrolls its steps (FitzHugh–Nagumo's kernels
// are specialised on it) then passes every value, NaN and ±∞ included, and cuts no gradient; the
// other models test clip > 0 per step anyway.
template <class M, bool kClip>
__device__ __forceinline__ void load_model_step(const NeuronModelStep* per_model, int m, FhnCheckpointPlan& plan,
                                                float& dt, float& clip) {
  if (per_model == nullptr) return;
  const NeuronModelStep st = per_model[m];
  plan = fhn_checkpoint_plan(st.steps);
  dt = static_cast<float>(st.dt);
  clip = static_cast<float>(st.clip);
  if constexpr (kClip && UnrollsSteps<M>::value)
    if (!(st.clip > 0)) clip = CUDART_INF_F;
}

template <class M>
__device__ __forceinline__ void offset_params(NeuronParamPtrs<float>& p, std::size_t by) {
#pragma unroll
  for (int k = 0; k < M::kParams; ++k) p.p[k] += by;
}

template <int K, typename T>
__device__ __forceinline__ void offset_planes(NeuronCheckpoints<T>& ck, std::size_t by) {
  if (ck.plane[0] == nullptr) return;
#pragma unroll
  for (int i = 0; i < K; ++i) ck.plane[i] += by;
}

// EXPERIMENT (A/B on the device): a minimum of blocks per SM for the forward (8 caps it at 32
// registers, full occupancy; unset, ptxas takes 27 for FitzHugh–Nagumo's unclamped Euler, which is
// full already).
#ifndef DYNPMNN_FHN_FWD_MIN_BLOCKS
#define DYNPMNN_FHN_FWD_MIN_BLOCKS 1
#endif

template <class M, Coupling C>
__host__ __device__ constexpr int input_width_of(int N) {
  return C == Coupling::kInitialCondition ? M::kCoupled * N : N;
}

template <class M, Coupling C, Integrator S, bool kClip, ModelAxis A>
__global__ void __launch_bounds__(kThreads, DYNPMNN_FHN_FWD_MIN_BLOCKS)
    forward_kernel(int B, int N, bool voltage_readout, FhnCheckpointPlan plan, float dt, float clip, RestState rest,
                   const float* __restrict__ in, NeuronParamPtrs<float> p, float* __restrict__ out,
                   NeuronCheckpoints<float> ck, int* nonfinite_flag, int layer_index, Population pop) {
  constexpr int K = M::kStates;
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;  // no barrier in this kernel
  std::size_t stride = static_cast<std::size_t>(B) * N;
  const std::size_t W = voltage_readout ? N : static_cast<std::size_t>(K) * N;
  if constexpr (A == ModelAxis::kPopulation) {
    const std::size_t m = blockIdx.z;
    load_model_step<M, kClip>(pop.per_model, static_cast<int>(m), plan, dt, clip);
    in += m * B * input_width_of<M, C>(N);
    out += m * B * W;
    offset_params<M>(p, m * N);
    offset_planes<K>(ck, m * stride);
    stride *= static_cast<std::size_t>(pop.models);
  }
  float q[M::kParams];
  load_params<M>(p, n, q);
  bool finite = true;
  for (int b = blockIdx.y * blockDim.y + threadIdx.y; b < B; b += gridDim.y * blockDim.y) {
    float x[K], current;
    load_initial_state<M, C>(in, N, b, n, q[M::kCurrentParam], rest, x, current);
    const std::size_t at = static_cast<std::size_t>(b) * N + n;
    CheckpointPlanes<float, K> planes;
#pragma unroll
    for (int i = 0; i < K; ++i) planes.plane[i] = ck.plane[0] ? ck.plane[i] + at : nullptr;
    neuron_forward_trajectory(NeuronStepper<M, S, kClip, float>(q, current, dt, clip), x, plan, planes, stride);
    float* row = out + static_cast<std::size_t>(b) * W;
    if (voltage_readout) {
      row[n] = x[0];
      finite = finite && is_finite_value(x[0]);
    } else {
#pragma unroll
      for (int i = 0; i < K; ++i) {
        row[static_cast<std::size_t>(i) * N + n] = x[i];
        finite = finite && is_finite_value(x[i]);
      }
    }
  }
  if (!finite && nonfinite_flag != nullptr) atomicCAS(nonfinite_flag, kNoNonFinite, layer_index);
}

// partial: (models, gridDim.y, kParams, N), written when kParamGrads; without it the compiler drops
// the parameter-gradient arithmetic (all neuron parameters frozen, as in the paper). For a two-state
// model the minimum of two blocks per SM caps registers at 128: with no minimum, ptxas settled on
// 80 for FitzHugh–Nagumo and spilled the Heun and IMEX reverses; with it every scheme fits without
// a stack frame. Larger states take what they need (one block).
//
// FitzHugh–Nagumo's unclamped Euler without parameter gradients (the paper's training, and the
// peer's benchmark) needs 48 registers: five blocks per SM (40 warps to hide the adjoint's
// dependency chains and the checkpoint loads). Clamped, it keeps w's states too and needs 64 (four
// blocks; capped at five it spilled 140 bytes). With parameter gradients, ~77: three blocks
// (capped at four, 60 bytes of spill).
// EXPERIMENT (A/B on the device): the unclamped Euler minimums.
#ifndef DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS
#define DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS 5
#endif
#ifndef DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS
#define DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS 3
#endif
template <class M, Integrator S, bool kClip, bool kParamGrads>
inline constexpr int kBackwardMinBlocks = M::kStates > 2         ? 1
                                          : S != Integrator::kEuler ? 2
                                          : kParamGrads             ? DYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS
                                          : kClip                   ? 4
                                                                    : DYNPMNN_FHN_BWD_EULER_MIN_BLOCKS;

template <class M, Coupling C, Integrator S, bool kClip, bool kParamGrads, ModelAxis A>
__global__ void __launch_bounds__(kThreads, kBackwardMinBlocks<M, S, kClip, kParamGrads>)
    backward_kernel(int B, int N, bool voltage_readout, FhnCheckpointPlan plan, float dt, float clip, RestState rest,
                    const float* __restrict__ in, NeuronParamPtrs<float> p, NeuronCheckpoints<const float> ck,
                    const float* __restrict__ d_out, float* __restrict__ d_in, float* __restrict__ partial,
                    Population pop) {
  constexpr int K = M::kStates;
  constexpr int P = M::kParams;
  // Explicit Euler of a two-state model replays whole register blocks without a per-step branch;
  // larger steps and states take the predicated loop (neuron_backward_trajectory).
  constexpr bool kUnpredicated = S == Integrator::kEuler && K <= 2;
  __shared__ float red[kParamGrads ? P : 1][kThreads];
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  float acc[P] = {};
  if constexpr (A == ModelAxis::kPopulation) {
    // The partials of model m: (blocks along y, kParams, N) at m · gridDim.y · kParams · N.
    if constexpr (kParamGrads)
      partial += static_cast<std::size_t>(blockIdx.z) * gridDim.y * P * static_cast<std::size_t>(N);
  }
  if (n < N) {
    std::size_t stride = static_cast<std::size_t>(B) * N;
    const std::size_t W = voltage_readout ? N : static_cast<std::size_t>(K) * N;
    if constexpr (A == ModelAxis::kPopulation) {
      const std::size_t m = blockIdx.z;
      load_model_step<M, kClip>(pop.per_model, static_cast<int>(m), plan, dt, clip);
      in += m * B * input_width_of<M, C>(N);
      d_in += m * B * input_width_of<M, C>(N);
      d_out += m * B * W;
      offset_params<M>(p, m * N);
      offset_planes<K>(ck, m * stride);
      stride *= static_cast<std::size_t>(pop.models);
    }
    float q[P];
    load_params<M>(p, n, q);
    for (int b = blockIdx.y * blockDim.y + threadIdx.y; b < B; b += gridDim.y * blockDim.y) {
      float x0[K], current, l[K];
      load_initial_state<M, C>(in, N, b, n, q[M::kCurrentParam], rest, x0, current);
      const std::size_t at = static_cast<std::size_t>(b) * N + n;
      const float* row = d_out + static_cast<std::size_t>(b) * W;
#pragma unroll
      for (int i = 0; i < K; ++i)
        l[i] = voltage_readout ? (i == 0 ? row[n] : 0.0f) : row[static_cast<std::size_t>(i) * N + n];
      CheckpointPlanes<const float, K> planes;
#pragma unroll
      for (int i = 0; i < K; ++i) planes.plane[i] = ck.plane[0] ? ck.plane[i] + at : nullptr;
      NeuronGrad<M, float> grad;
      NeuronStepper<M, S, kClip, float> st(q, current, dt, clip);
      neuron_backward_trajectory<kUnpredicated>(st, x0, plan, planes, stride, l, grad);
      if constexpr (C == Coupling::kInitialCondition) {
        float* drow = d_in + static_cast<std::size_t>(b) * M::kCoupled * N;
#pragma unroll
        for (int i = 0; i < M::kCoupled; ++i) drow[static_cast<std::size_t>(i) * N + n] = l[i];
      } else {
        d_in[static_cast<std::size_t>(b) * N + n] = grad.current;
      }
      grad.p[M::kCurrentParam] += grad.current;
#pragma unroll
      for (int k = 0; k < P; ++k) acc[k] += grad.p[k];
    }
  }
  if constexpr (!kParamGrads) return;
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
#pragma unroll
  for (int k = 0; k < P; ++k) red[k][t] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && n < N) {
    float sum[P] = {};
    for (int y = 0; y < static_cast<int>(blockDim.y); ++y) {
      const int from = y * blockDim.x + threadIdx.x;
#pragma unroll
      for (int k = 0; k < P; ++k) sum[k] += red[k][from];
    }
    float* dst = partial + static_cast<std::size_t>(blockIdx.y) * P * N;
#pragma unroll
    for (int k = 0; k < P; ++k) dst[static_cast<std::size_t>(k) * N + n] = sum[k];
  }
}

// d.p[k][m · N + n] = Σ over the blocks, in block order, of partial[m][block][k][n]; the model m is
// blockIdx.y (0 for a lone model).
template <int P>
__global__ void param_grad_reduce_kernel(int N, int blocks, const float* __restrict__ partial,
                                         NeuronGradPtrs<float> d) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const std::size_t m = blockIdx.y;
  partial += m * blocks * P * static_cast<std::size_t>(N);
  float sum[P] = {};
  for (int y = 0; y < blocks; ++y) {
    const float* src = partial + static_cast<std::size_t>(y) * P * N;
#pragma unroll
    for (int k = 0; k < P; ++k) sum[k] += src[static_cast<std::size_t>(k) * N + n];
  }
#pragma unroll
  for (int k = 0; k < P; ++k)
    if (d.p[k]) d.p[k][m * N + n] = sum[k];
}

// The run-time coupling, integrator (through dispatch_integrator), clamp (on or off) and model axis
// become template parameters here, in one place: f is called with std::integral_constant values of
// all four; a scheme the model lacks (imex without a semi-implicit step) is refused before. The
// clamp is a kernel of its own because its reverse keeps more states: sharing a kernel, its
// register demand set the unclamped one's (the paper's), which then spilled. A lone model keeps
// kernels without the model axis for the same reason.
template <class M, typename F>
void dispatch(const char* op, const NeuronShape& s, bool clamp, F&& f) {
  auto with_axis = [&](auto c, auto scheme, auto cl) {
    if (s.models == 1) return f(c, scheme, cl, std::integral_constant<ModelAxis, ModelAxis::kLone>{});
    return f(c, scheme, cl, std::integral_constant<ModelAxis, ModelAxis::kPopulation>{});
  };
  auto with_clip = [&](auto c, auto scheme) {
    if constexpr (decltype(scheme)::value == Integrator::kImex && !M::kSemiImplicit) {
      throw std::invalid_argument(std::string(op) + ": neuron model " + M::kName + " has no semi-implicit step");
    } else {
      if constexpr (!UnrollsSteps<M>::value) {
        return with_axis(c, scheme, std::true_type{});  // one kernel; the stepper tests clip > 0
      } else {
        if (clamp) return with_axis(c, scheme, std::true_type{});
        return with_axis(c, scheme, std::false_type{});
      }
    }
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

template <class M>
void check_common(const char* op, const NeuronShape& s, const float* in, const NeuronParamPtrs<float>& p) {
  s.validate();
  require(s.states == M::kStates && s.coupled == M::kCoupled, op,
          std::string("the shape's layout is not neuron model ") + M::kName + "'s");
  require(s.models <= kMaxGridZ, op,
          "a population of " + std::to_string(s.models) + " models exceeds one launch's " +
              std::to_string(kMaxGridZ) + " (split it)");
  require(s.per_model_device == nullptr || s.per_model != nullptr, op,
          "per_model_device is set but per_model is not (the op checks and sizes by the host array)");
  require(s.models == 1 || s.per_model == nullptr || s.per_model_device != nullptr, op,
          "a population with per-model steps needs per_model_device: a device copy of per_model");
  require(in != nullptr, op, "input is null");
  for (int k = 0; k < M::kParams; ++k)
    require(p.p[k] != nullptr, op, std::string("parameter ") + M::kParamInfo[k].name + "'s pointer is null");
}

}  // namespace neuron_gpu_detail

template <class M>
void neuron_forward_gpu(const NeuronShape& s, const float* in, NeuronParamPtrs<float> p, float* out,
                        NeuronCheckpoints<float> ck, int* nonfinite_flag, int layer_index, cudaStream_t stream) {
  namespace d = neuron_gpu_detail;
  constexpr const char* op = "neuron_forward_gpu";
  s.validate();
  if (s.batch == 0) return;
  d::check_common<M>(op, s, in, p);
  require(out != nullptr, op, "output is null");
  bool all_null = true, any_null = false;
  for (int i = 0; i < M::kStates; ++i) {
    all_null = all_null && ck.plane[i] == nullptr;
    any_null = any_null || ck.plane[i] == nullptr;
  }
  require(all_null || !any_null, op, "the checkpoint arrays must all be set or all be null");
  require(layer_index != kNoNonFinite, op, "layer_index must differ from the no-divergence sentinel -1");
  const d::Geometry geo = d::geometry(s);
  // Checkpoints are only written when there are any (pointers of an empty array may be null).
  if (s.checkpoint_elems() == 0) ck = NeuronCheckpoints<float>{};
  const d::LaunchStep st = d::launch_step(s);
  const d::Population pop{s.models, st.per_model};
  const d::RestState rest = d::rest_state<M>();
  d::dispatch<M>(op, s, st.clamp, [&](auto c, auto scheme, auto clamp, auto axis) {
    d::forward_kernel<M, decltype(c)::value, decltype(scheme)::value, decltype(clamp)::value, decltype(axis)::value>
        <<<geo.grid, geo.block, 0, stream>>>(s.batch, s.neurons, s.voltage_readout, st.plan, st.dt, st.clip, rest,
                                             in, p, out, ck, nonfinite_flag, layer_index, pop);
  });
  DYNPMNN_CUDA_CHECK_LAUNCH("neuron forward_kernel");
}

template <class M>
std::size_t neuron_backward_workspace_floats(const NeuronShape& s) {
  s.validate();
  if (s.batch == 0) return 0;
  return static_cast<std::size_t>(s.models) * neuron_gpu_detail::geometry(s).grid.y * M::kParams *
         static_cast<std::size_t>(s.neurons);
}

template <class M>
void neuron_backward_gpu(const NeuronShape& s, const float* in, NeuronParamPtrs<float> p,
                         NeuronCheckpoints<const float> ck, const float* d_out, float* d_in,
                         NeuronGradPtrs<float> d_params, float* workspace, cudaStream_t stream) {
  namespace d = neuron_gpu_detail;
  constexpr const char* op = "neuron_backward_gpu";
  s.validate();
  if (s.batch == 0) return;
  d::check_common<M>(op, s, in, p);
  require(d_out != nullptr && d_in != nullptr, op, "d_out and d_in must not be null");
  const bool has_checkpoints = s.checkpoint_elems() > 0;
  for (int i = 0; i < M::kStates && has_checkpoints; ++i)
    require(ck.plane[i] != nullptr, op, "this many steps needs the checkpoints the forward wrote (one is null)");
  if (!has_checkpoints) ck = NeuronCheckpoints<const float>{};
  const bool want_params = d_params.any();
  require(!want_params || workspace != nullptr, op,
          "workspace is null (needs neuron_backward_workspace_floats(shape) floats)");
  const d::Geometry geo = d::geometry(s);
  float* partial = want_params ? workspace : nullptr;
  const d::LaunchStep st = d::launch_step(s);
  const d::Population pop{s.models, st.per_model};
  const d::RestState rest = d::rest_state<M>();
  d::dispatch<M>(op, s, st.clamp, [&](auto c, auto scheme, auto clamp, auto axis) {
    constexpr Coupling C = decltype(c)::value;
    constexpr Integrator S = decltype(scheme)::value;
    constexpr bool kClip = decltype(clamp)::value;
    constexpr d::ModelAxis A = decltype(axis)::value;
    if (want_params) {
      d::backward_kernel<M, C, S, kClip, true, A><<<geo.grid, geo.block, 0, stream>>>(
          s.batch, s.neurons, s.voltage_readout, st.plan, st.dt, st.clip, rest, in, p, ck, d_out, d_in, partial, pop);
    } else {
      d::backward_kernel<M, C, S, kClip, false, A><<<geo.grid, geo.block, 0, stream>>>(
          s.batch, s.neurons, s.voltage_readout, st.plan, st.dt, st.clip, rest, in, p, ck, d_out, d_in, nullptr, pop);
    }
  });
  DYNPMNN_CUDA_CHECK_LAUNCH("neuron backward_kernel");
  if (!want_params) return;
  constexpr int kReduceThreads = 128;
  const dim3 reduce_blocks(static_cast<unsigned>((s.neurons + kReduceThreads - 1) / kReduceThreads),
                           static_cast<unsigned>(s.models));
  d::param_grad_reduce_kernel<M::kParams><<<reduce_blocks, kReduceThreads, 0, stream>>>(
      s.neurons, static_cast<int>(geo.grid.y), partial, d_params);
  DYNPMNN_CUDA_CHECK_LAUNCH("neuron param_grad_reduce_kernel");
}

#define DYNPMNN_INSTANTIATE_NEURON_GPU(M)                                                                          \
  template void neuron_forward_gpu<M>(const NeuronShape&, const float*, NeuronParamPtrs<float>, float*,            \
                                      NeuronCheckpoints<float>, int*, int, cudaStream_t);                          \
  template std::size_t neuron_backward_workspace_floats<M>(const NeuronShape&);                                   \
  template void neuron_backward_gpu<M>(const NeuronShape&, const float*, NeuronParamPtrs<float>,                   \
                                       NeuronCheckpoints<const float>, const float*, float*, NeuronGradPtrs<float>, \
                                       float*, cudaStream_t);

}  // namespace dynpmnn
