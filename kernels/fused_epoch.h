// A whole training epoch of one tiny neuron-layer model, written once for the CUDA persistent kernel
// (fused_epoch.cu: one block per model of a population, issue 11) and for the CPU, which runs the
// same code in double with one "thread" (tests/test_fused_epoch.cpp compares it with the CPU
// backend's lone run). The model: Linear(F → D) → optional LayerNorm → activation → N neurons of
// model M (scheme S) → their final states → Linear readout (→ O), MSE loss, Adam with L2 weight
// decay; exactly what CpuModel + CpuBackend compute for such a spec (one neuron layer).
//
// Each thread owns one row of the minibatch: its forward, its loss term and its backward are its
// own, in registers (the neuron states) and small local arrays; its gradient contribution goes to
// a row of `contrib` in shared memory. Then threads own parameters: each sums its column of
// contrib over the rows in order (deterministic: no atomics), applies the map derivative, checks
// for NaN/Inf and runs Adam. Three barriers a minibatch, one launch an epoch whatever the number
// of models. The step's divergence rules are cpu_backend.cpp's: a non-finite layer output stops
// the epoch at that step with that layer's index, a non-finite loss or gradient with -2, and the
// step is not applied.
//
// The block is a policy: Block::each(n, f) runs f(i) for i in [0, n), spread over the block's
// threads on the GPU, in order on the CPU, and then waits for every thread (a barrier).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise_math.h"
#include "kernels/fhn_param_map_math.h"
#include "kernels/hd.h"
#include "kernels/neuron.h"
#include "kernels/neuron_math.h"

namespace dynpmnn {

// The compile-time bounds of a fused model: its per-row arrays live in registers or local memory.
inline constexpr int kFusedMaxInputs = 64;  // F
inline constexpr int kFusedMaxWidth = 16;   // D (the Linear's width) and the neuron layer's output W
inline constexpr int kFusedMaxOutputs = 4;  // O
inline constexpr int kFusedMaxBatch = 256;  // threads of a block (a thread takes ~120 registers)

// What every model of a population shares: the shapes and where each tensor sits in a model's flat
// parameter array (ParamTable offsets). Filled on the host (host/runtime/fused_population.cpp).
struct FusedLayout {
  int F = 0, D = 0, N = 0, W = 0, O = 0;  // inputs, Linear width, neurons, neuron-layer output, outputs
  int total = 0;                          // parameters of a model
  int batch = 0;                          // minibatch rows
  int rows = 0;                           // training rows
  int checkpoints = 0;                    // stored checkpoints of the longest model's trajectory
  bool layernorm = false;
  bool voltage_readout = false;
  Coupling coupling = Coupling::kInitialCondition;
  Activation activation = Activation::kSiLU;
  int w_in = 0, b_in = 0, gamma = 0, beta = 0;  // offsets of the Linear and LayerNorm tensors
  int neuron[kMaxNeuronParams] = {};            // offsets of the neuron parameters, (N) each
  int w_out = 0, b_out = 0;                     // the readout's
  double rest[kMaxNeuronStates] = {};           // the neuron's resting state (M::kStateInfo, a host
                                                // constant device code cannot index)
};

// One model's own settings (a device array of P on the GPU).
struct FusedHyper {
  double dt = 0, clip = 0;
  int steps = 0;
  std::uint64_t seed = 0;
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

// One model's epoch in and out (a device array of P, read back after each epoch).
struct FusedStatus {
  int epoch = 0;           // in: the epoch to train (its number orders the minibatches); 0 = none
  long long adam_step = 0; // in/out: Adam's step count, which persists across epochs
  int flag = -1;           // out: -1, or the layer (or -2: loss or gradient) that went non-finite
  int diverged_step = -1;  // out: the minibatch at which it did
  int steps_done = 0;      // out: minibatches applied
  double loss_sum = 0;     // out: Σ minibatch loss over them, in order
};

// Per-element facts of the flat parameter array a reduction needs: trained (Adam updates it) and
// the neuron map whose derivative its summed gradient takes.
struct FusedParamInfo {
  std::uint8_t trained = 0;
  std::uint8_t map = 0;  // FhnParamMap
};

// The row stride of the contributions: odd, so that the rows whose same column a warp's threads
// write at once (and the columns one row's threads read) fall in different shared-memory banks.
DYNPMNN_HD int fused_row_stride(int total) { return total | 1; }

// Shared memory of a block (the CPU's: plain arrays): contributions (batch, fused_row_stride), then
// the reduced gradient (total), the rows' losses (batch, double) and first bad layers (batch).
template <typename T>
struct FusedShared {
  T* contrib;
  T* grad;
  double* row_loss;
  int* row_bad;
  int* control;  // [0] the step's first bad layer, [2] stop the epoch
  double* scalars;  // [0] loss, [1] bias correction 1, [2] its sqrt 2
};

template <typename T>
DYNPMNN_HD std::size_t fused_shared_bytes(int batch, int total) {
  return static_cast<std::size_t>(batch) * fused_row_stride(total) * sizeof(T) +
         static_cast<std::size_t>(total) * sizeof(T) +
         static_cast<std::size_t>(batch) * (sizeof(double) + sizeof(int)) + 3 * sizeof(double) + 4 * sizeof(int);
}

// Carves FusedShared out of `bytes` (fused_shared_bytes long, 8-aligned).
template <typename T>
DYNPMNN_HD FusedShared<T> fused_shared_carve(unsigned char* bytes, int batch, int total) {
  FusedShared<T> s;
  double* d = reinterpret_cast<double*>(bytes);
  s.row_loss = d;
  s.scalars = d + batch;
  T* t = reinterpret_cast<T*>(s.scalars + 3);
  s.contrib = t;
  s.grad = t + static_cast<std::size_t>(batch) * fused_row_stride(total);
  s.row_bad = reinterpret_cast<int*>(s.grad + total);
  s.control = s.row_bad + batch;
  return s;
}

// The neuron's physical parameters, its initial state and its current, as neuron_cpu.h's.
template <class M, typename T>
DYNPMNN_HD void fused_neuron_setup(const FusedLayout& L, const T* params, const FusedParamInfo* info, const T* act,
                                   int n, T (&q)[M::kParams], T (&x)[M::kStates], T& current) {
  for (int k = 0; k < M::kParams; ++k) {
    const int j = L.neuron[k] + n;
    q[k] = fhn_param_map_forward(static_cast<FhnParamMap>(info[j].map), params[j]);
  }
  for (int i = 0; i < M::kStates; ++i) x[i] = T(L.rest[i]);
  if (L.coupling == Coupling::kInitialCondition) {
    for (int i = 0; i < M::kCoupled; ++i) x[i] = act[i * L.N + n];
    current = q[M::kCurrentParam];
  } else {
    current = q[M::kCurrentParam] + act[n];
  }
}

// The front of one row: Linear, LayerNorm, activation. pre: the activation's input; lin, xhat
// and the returned rstd are what the backward needs (rstd 1 without LayerNorm).
template <typename T>
DYNPMNN_HD T fused_front_forward(const FusedLayout& L, const T* params, const T* x, T* lin, T* xhat, T* pre, T* act) {
  for (int d = 0; d < L.D; ++d) {
    const T* w = params + L.w_in + d * L.F;
    T s = 0;
    for (int f = 0; f < L.F; ++f) s += x[f] * w[f];
    lin[d] = s + params[L.b_in + d];
  }
  T rstd = T(1);
  if (L.layernorm) {
    rstd = layernorm_row_forward(lin, L.D, params + L.gamma, params + L.beta, pre, xhat);
  } else {
    for (int d = 0; d < L.D; ++d) pre[d] = lin[d];
  }
  for (int d = 0; d < L.D; ++d) act[d] = activation_forward(L.activation, pre[d]);
  return rstd;
}

// The readout of one row: pred (O) from the neuron layer's output h (W).
template <typename T>
DYNPMNN_HD void fused_readout(const FusedLayout& L, const T* params, const T* h, T* pred) {
  for (int o = 0; o < L.O; ++o) {
    const T* w = params + L.w_out + o * L.W;
    T s = 0;
    for (int k = 0; k < L.W; ++k) s += h[k] * w[k];
    pred[o] = s + params[L.b_out + o];
  }
}

// Inference of one row (validation, prediction): no checkpoints.
template <class M, Integrator S, bool kClip, typename T>
DYNPMNN_HD void fused_predict_row(const FusedLayout& L, const FusedHyper& h, const T* params,
                                  const FusedParamInfo* info, const T* x, T* pred) {
  constexpr int K = M::kStates;
  T lin[kFusedMaxWidth], xhat[kFusedMaxWidth], pre[kFusedMaxWidth], act[kFusedMaxWidth], out[kFusedMaxWidth] = {};
  fused_front_forward(L, params, x, lin, xhat, pre, act);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(h.steps);
  for (int n = 0; n < L.N; ++n) {
    T q[M::kParams], s[K], current;
    fused_neuron_setup<M>(L, params, info, act, n, q, s, current);
    CheckpointPlanes<T, K> none;
    for (int i = 0; i < K; ++i) none.plane[i] = nullptr;
    neuron_forward_trajectory(NeuronStepper<M, S, kClip, T>(q, current, T(h.dt), T(h.clip)), s, plan, none, 0);
    if (L.voltage_readout) {
      out[n] = s[0];
    } else {
      for (int i = 0; i < K; ++i) out[i * L.N + n] = s[i];
    }
  }
  fused_readout(L, params, out, pred);
}

// One row's forward and backward. Writes its gradient contribution (total; frozen and mapped
// entries as the physical gradient, before the map's derivative), its loss term Σ_o (pred − y)²
// and its first non-finite layer (0 the neuron layer, 1 the readout, -1 none). n: the minibatch's
// rows (the loss's mean). ck: this model's checkpoint planes base, (checkpoints, K, B, N).
template <class M, Integrator S, bool kClip, typename T>
DYNPMNN_HD void fused_train_row(const FusedLayout& L, const FusedHyper& h, const T* params,
                                const FusedParamInfo* info, const T* x, const T* y, int b, int n, T* ck, T* contrib,
                                double& row_loss, int& row_bad) {
  constexpr int K = M::kStates;
  T lin[kFusedMaxWidth], xhat[kFusedMaxWidth], pre[kFusedMaxWidth], act[kFusedMaxWidth], out[kFusedMaxWidth] = {};
  const T rstd = fused_front_forward(L, params, x, lin, xhat, pre, act);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(h.steps);
  const std::size_t stride = static_cast<std::size_t>(K) * L.batch * L.N;
  int bad = -1;
  for (int k = 0; k < L.N; ++k) {
    T q[M::kParams], s[K], current;
    fused_neuron_setup<M>(L, params, info, act, k, q, s, current);
    CheckpointPlanes<T, K> planes;
    for (int i = 0; i < K; ++i) planes.plane[i] = ck + (static_cast<std::size_t>(i) * L.batch + b) * L.N + k;
    neuron_forward_trajectory(NeuronStepper<M, S, kClip, T>(q, current, T(h.dt), T(h.clip)), s, plan, planes,
                              stride);
    for (int i = 0; i < K; ++i) {
      if (L.voltage_readout && i > 0) break;
      const int at = L.voltage_readout ? k : i * L.N + k;
      out[at] = s[i];
      if (!is_finite_value(s[i])) bad = 0;
    }
  }
  T pred[kFusedMaxOutputs], dpred[kFusedMaxOutputs];
  fused_readout(L, params, out, pred);
  double loss = 0;
  const double denom = static_cast<double>(n) * L.O;
  for (int o = 0; o < L.O; ++o) {
    if (bad < 0 && !is_finite_value(pred[o])) bad = 1;
    const double d = static_cast<double>(pred[o]) - static_cast<double>(y[o]);
    loss += d * d;
    dpred[o] = static_cast<T>(2.0 * d / denom);
  }
  row_loss = loss;
  row_bad = bad;

  // Backward. The readout: its gradients and dh (W).
  T dh[kFusedMaxWidth];
  for (int k = 0; k < L.W; ++k) dh[k] = 0;
  for (int o = 0; o < L.O; ++o) {
    const T* w = params + L.w_out + o * L.W;
    for (int k = 0; k < L.W; ++k) {
      contrib[L.w_out + o * L.W + k] = dpred[o] * out[k];
      dh[k] += dpred[o] * w[k];
    }
    contrib[L.b_out + o] = dpred[o];
  }
  // The neurons: their parameter gradients and the gradient at the activation's output.
  T dact[kFusedMaxWidth];
  constexpr bool kUnpredicated = S == Integrator::kEuler && K <= 2;
  for (int k = 0; k < L.N; ++k) {
    T q[M::kParams], x0[K], l[K], current;
    fused_neuron_setup<M>(L, params, info, act, k, q, x0, current);
    for (int i = 0; i < K; ++i) l[i] = L.voltage_readout ? (i == 0 ? dh[k] : T(0)) : dh[i * L.N + k];
    CheckpointPlanes<const T, K> planes;
    for (int i = 0; i < K; ++i) planes.plane[i] = ck + (static_cast<std::size_t>(i) * L.batch + b) * L.N + k;
    NeuronGrad<M, T> g;
    NeuronStepper<M, S, kClip, T> stepper(q, current, T(h.dt), T(h.clip));
    neuron_backward_trajectory<kUnpredicated>(stepper, x0, plan, planes, stride, l, g);
    g.p[M::kCurrentParam] += g.current;
    if (L.coupling == Coupling::kInitialCondition) {
      for (int i = 0; i < M::kCoupled; ++i) dact[i * L.N + k] = l[i];
    } else {
      dact[k] = g.current;
    }
    for (int p = 0; p < M::kParams; ++p) contrib[L.neuron[p] + k] = g.p[p];
  }
  // The front: activation, LayerNorm, Linear.
  T dpre[kFusedMaxWidth], dlin[kFusedMaxWidth];
  for (int d = 0; d < L.D; ++d) dpre[d] = dact[d] * activation_derivative(L.activation, pre[d]);
  if (L.layernorm) {
    layernorm_row_backward(dpre, xhat, rstd, params + L.gamma, L.D, dlin);
    for (int d = 0; d < L.D; ++d) {
      contrib[L.gamma + d] = dpre[d] * xhat[d];
      contrib[L.beta + d] = dpre[d];
    }
  } else {
    for (int d = 0; d < L.D; ++d) dlin[d] = dpre[d];
  }
  for (int d = 0; d < L.D; ++d) {
    for (int f = 0; f < L.F; ++f) contrib[L.w_in + d * L.F + f] = dlin[d] * x[f];
    contrib[L.b_in + d] = dlin[d];
  }
}

// Floats of checkpoint planes one model needs: max(1, checkpoints · states · batch · N).
inline std::size_t fused_checkpoint_floats(const FusedLayout& L) {
  const std::size_t n = static_cast<std::size_t>(L.checkpoints) * kFhnStates * L.batch * L.N;
  return n > 0 ? n : 1;
}

// Minibatches of an epoch.
DYNPMNN_HD int fused_epoch_steps(const FusedLayout& L) { return (L.rows + L.batch - 1) / L.batch; }

// Minibatches [s_begin, s_end) of one model's epoch (the whole epoch: 0 and fused_epoch_steps; a
// launch per minibatch: s, s + 1 in turn). x (rows, F) and y (rows, O): the training split; order
// (rows): this epoch's visiting order (epoch_permutation of the model's seed and epoch); params, m,
// v (total): the model's; ck: its checkpoint planes (max(1, checkpoints · K · B · N)). The epoch's
// status starts at s_begin = 0; a model that diverged in an earlier range takes no more steps.
template <class M, Integrator S, bool kClip, typename T, class Block>
DYNPMNN_HD void fused_epoch(Block& blk, const FusedLayout& L, const FusedHyper& h, FusedStatus& st,
                            const FusedParamInfo* info, const T* x, const T* y, const std::uint32_t* order,
                            T* params, T* m, T* v, T* ck, FusedShared<T> sh, int s_begin, int s_end) {
  const int B = L.batch, P = L.total, stride = fused_row_stride(L.total);
  const int steps = fused_epoch_steps(L) < s_end ? fused_epoch_steps(L) : s_end;
  blk.each(1, [&](int) {
    if (s_begin == 0) {
      st.flag = -1;
      st.diverged_step = -1;
      st.steps_done = 0;
      st.loss_sum = 0;
    }
    sh.control[2] = st.flag != -1;
  });
  if (sh.control[2]) return;  // the same value in every thread, after the barrier
  for (int s = s_begin; s < steps; ++s) {
    const int n = L.rows - s * B < B ? L.rows - s * B : B;
    blk.each(n, [&](int b) {
      const std::size_t row = order[static_cast<std::size_t>(s) * B + b];
      fused_train_row<M, S, kClip>(L, h, params, info, x + row * L.F, y + row * L.O, b, n, ck,
                                   sh.contrib + static_cast<std::size_t>(b) * stride, sh.row_loss[b], sh.row_bad[b]);
    });
    blk.each(1, [&](int) {  // the rows' losses in order, the first bad layer
      double loss = 0;
      int bad = -1;
      for (int b = 0; b < n; ++b) {
        loss += sh.row_loss[b];
        if (sh.row_bad[b] >= 0 && (bad < 0 || sh.row_bad[b] < bad)) bad = sh.row_bad[b];
      }
      sh.scalars[0] = loss / (static_cast<double>(n) * L.O);
      sh.control[0] = bad;
    });
    blk.each(P, [&](int j) {  // column j over the rows, in order
      T g = 0;
      if (info[j].trained) {
        for (int b = 0; b < n; ++b) g += sh.contrib[static_cast<std::size_t>(b) * stride + j];
        const FhnParamMap map = static_cast<FhnParamMap>(info[j].map);
        if (map != FhnParamMap::kIdentity) g *= fhn_param_map_derivative(map, params[j]);
      }
      sh.grad[j] = g;
    });
    blk.each(1, [&](int) {
      const double loss = sh.scalars[0];
      int layer = sh.control[0];
      bool finite = is_finite_value(loss);
      for (int j = 0; j < P && finite; ++j) finite = is_finite_value(sh.grad[j]);
      if (layer < 0 && !finite) layer = -2;
      if (layer != -1) {
        st.flag = layer;
        st.diverged_step = s;
        sh.control[2] = 1;
        return;
      }
      ++st.adam_step;
      const double tt = static_cast<double>(st.adam_step);
      sh.scalars[1] = 1.0 - pow(h.beta1, tt);
      sh.scalars[2] = sqrt(1.0 - pow(h.beta2, tt));
      st.loss_sum += loss;
      ++st.steps_done;
    });
    if (sh.control[2]) break;  // the same value in every thread, after the barrier
    blk.each(P, [&](int j) {
      if (!info[j].trained) return;
      adam_update(params[j], sh.grad[j], m[j], v[j], T(h.lr), T(h.beta1), T(h.beta2), T(h.eps), T(h.weight_decay),
                  T(sh.scalars[1]), T(sh.scalars[2]));
    });
  }
}

// The CPU reference of the fused epoch, FitzHugh–Nagumo in double (fused_epoch.cpp): model after
// model, each block's threads in order. order: (models, rows) the models' visiting orders; params,
// m, v: (models, total); st: (models), a model with epoch 0 left as it is. What the tests compare
// the CPU backend's lone runs and the CUDA kernel with.
// chunk > 0: the epoch in calls of `chunk` minibatches, as the GPU's per-step launches take it.
void fused_epoch_cpu(const FusedLayout& L, const FusedHyper* hyper, FusedStatus* st, const FusedParamInfo* info,
                     const double* x, const double* y, const std::uint32_t* order, double* params, double* m,
                     double* v, int models, Integrator integrator, int chunk = 0);

// Predictions of every model over `rows` rows of x: pred (models, rows, O).
void fused_predict_cpu(const FusedLayout& L, const FusedHyper* hyper, const FusedParamInfo* info, const double* x,
                       int rows, const double* params, double* pred, int models, Integrator integrator);

}  // namespace dynpmnn
