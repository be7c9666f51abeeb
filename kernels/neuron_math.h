// The time stepping of a neuron layer, written once for every neuron model: the integrators, their
// exact reverses, and the checkpointed trajectories that the CPU op (neuron_cpu.h) and the CUDA
// kernels (neuron_gpu.cuh) run per (sample, neuron) with the state in registers.
//
// A neuron model is one header in kernels/neurons/ (fhn.h, morris_lecar.h, hodgkin_huxley.h,
// wilson_cowan.h; docs/neuron-models.md has the equations and a worked example of adding one). It
// is a struct M with
//   static constexpr const char* kName;          the neuron_model key's value
//   static constexpr int kStates;                state variables per neuron (x[0] is the voltage)
//   static constexpr int kParams;                per-neuron parameters
//   static constexpr int kCoupled;               initial-condition coupling sets x[0 .. kCoupled)
//   static constexpr int kCurrentParam;          the parameter that is the constant input current:
//                                                the step sees current = p[kCurrentParam] + drive
//                                                (drive: the Linear's value under current coupling,
//                                                else 0) and never reads p[kCurrentParam] itself
//   static constexpr bool kSemiImplicit;         whether it has a semi-implicit step (integrator imex)
//   static const NeuronModelTraits& traits();    host side: names, defaults, maps, initial state
//   template <typename T> static HD void field(const T (&x)[K], const T (&p)[P], T current, T (&f)[K]);
//   template <typename T> static HD void field_vjp(const T (&x)[K], const T (&p)[P], T current,
//                                                  const T (&lf)[K], T (&lx)[K], T (&lp)[P], T& lcur);
//       adds Jᵀ·lf to lx, (∂f/∂p)ᵀ·lf to lp and (∂f/∂current)ᵀ·lf to lcur
// and, where kSemiImplicit,
//   template <typename T> static HD void semi_implicit_step(x, p, current, dt, T (&xn)[K]);
//   template <typename T> static HD void semi_implicit_reverse(x, p, current, dt, const T (&ln)[K],
//                                                              T (&lx)[K], T (&lp)[P], T& lcur);
//       lx = (∂xn/∂x)ᵀ·ln (overwritten), lp and lcur accumulate as field_vjp's.
// A model may also specialise NeuronStepper below for a scheme where a form of its own is faster
// (FitzHugh–Nagumo does for explicit Euler); the specialisation must compute the same map.
#pragma once

#include <cstddef>
#include <type_traits>

#include "kernels/fhn_param_map_math.h"  // FhnParamMap: the physical-range maps of every model
#include "kernels/hd.h"

namespace dynpmnn {

// The time-stepping schemes. Each has an exact reverse of its discrete map.
//   kEuler  explicit Euler (the paper's).
//   kImex   the model's semi-implicit step (FitzHugh–Nagumo: its cubic's dissipative part and the
//           linear w-terms implicit; Hodgkin–Huxley: Rush–Larsen's exponential step of the gates;
//           Morris–Lecar and Wilson–Cowan: linearly implicit in each state, the rest at the old
//           state), where the model has one.
//   kHeun   explicit trapezoid (RK2).
//   kRk4    classic fourth-order Runge–Kutta.
enum class Integrator : int { kEuler = 0, kImex = 1, kHeun = 2, kRk4 = 3 };

// The most parameters and states a model may have (the kernels' argument structs are this wide).
inline constexpr int kMaxNeuronParams = 16;
inline constexpr int kMaxNeuronStates = 8;

// What the host knows of a model beyond its arithmetic: one entry per parameter and per state.
struct NeuronParamInfo {
  const char* name;     // the key in neuron_params / train_params, e.g. "gK"
  double value;         // the classic value, in the model's scaled units
  FhnParamMap map;      // how a trained value is kept in its physical range (kIdentity: unbounded)
  const char* meaning;  // one line for --help and the docs
};
struct NeuronStateInfo {
  const char* name;  // "v", "w", "n", ...
  double initial;    // the state a neuron starts from where coupling does not set it
};

// Steps recomputed and held in registers at a time by the backward; a compile-time constant so
// that the unrolled loops keep the states in registers on the GPU.
inline constexpr int kFhnRegisterBlock = 16;

// Steps between stored checkpoints: a multiple of the register block near √steps, so both the
// stored states (steps / interval) and the recomputation (interval / R blocks) stay small.
DYNPMNN_HD int fhn_checkpoint_interval(int steps) {
  int root = 1;
  while (root * root < steps) ++root;
  const int blocks = (root + kFhnRegisterBlock - 1) / kFhnRegisterBlock;
  return blocks * kFhnRegisterBlock;
}

// Number of stored checkpoints (the state at the start of every segment but the first, which is
// the layer's initial state itself).
DYNPMNN_HD int fhn_num_checkpoints(int steps) {
  const int interval = fhn_checkpoint_interval(steps);
  return (steps + interval - 1) / interval - 1;
}

// The checkpoint layout of a trajectory: segments − 1 checkpoints, every segment `interval` steps
// long but the last (last_len, 1..interval). The kernels take it from the host, computed once,
// where each thread would otherwise pay a square root and a division (the forward's 100 steps are
// ~500 instructions: these were ~10% of them).
struct FhnCheckpointPlan {
  int interval = 1;
  int segments = 0;
  int last_len = 0;
};

DYNPMNN_HD FhnCheckpointPlan fhn_checkpoint_plan(int steps) {
  FhnCheckpointPlan plan;
  if (steps <= 0) return plan;
  plan.interval = fhn_checkpoint_interval(steps);
  plan.segments = (steps + plan.interval - 1) / plan.interval;
  plan.last_len = steps - (plan.segments - 1) * plan.interval;
  return plan;
}

template <typename T>
DYNPMNN_HD T fhn_clamp(T x, T clip) {
  return x > clip ? clip : (x < -clip ? -clip : x);
}

template <typename T>
DYNPMNN_HD bool is_finite_value(T x) {
  return x - x == T(0);  // false for NaN and ±Inf, also under fast-math-free builds on both sides
}

// Gradient of the loss with respect to one neuron's parameters, summed over the steps (and, by the
// caller, over the batch), and of its input current (which the caller adds to p[kCurrentParam]'s).
template <class M, typename T>
struct NeuronGrad {
  T p[M::kParams] = {};
  T current = 0;
};

// Whether M brings its own explicit-Euler arithmetic (M::kCustomEuler, M::euler_step and
// M::euler_reverse with semi_implicit_*'s signatures, the reverse updating l in place): the same map
// as x + dt·f(x) in another rounding.
template <class M, class = void>
struct HasCustomEuler : std::false_type {};
template <class M>
struct HasCustomEuler<M, std::void_t<decltype(M::kCustomEuler)>> : std::bool_constant<M::kCustomEuler> {};

// One unclamped step of scheme S of model M.
template <class M, Integrator S, typename T>
DYNPMNN_HD void neuron_raw_step(const T (&x)[M::kStates], const T (&p)[M::kParams], T current, T dt,
                                T (&xn)[M::kStates]) {
  constexpr int K = M::kStates;
  if constexpr (S == Integrator::kEuler && HasCustomEuler<M>::value) {
    M::euler_step(x, p, current, dt, xn);
  } else if constexpr (S == Integrator::kEuler) {
    T f[K];
    M::field(x, p, current, f);
    for (int i = 0; i < K; ++i) xn[i] = x[i] + dt * f[i];
  } else if constexpr (S == Integrator::kImex) {
    static_assert(M::kSemiImplicit, "this neuron model has no semi-implicit step (integrator imex)");
    M::semi_implicit_step(x, p, current, dt, xn);
  } else if constexpr (S == Integrator::kHeun) {
    T k1[K], k2[K], xt[K];
    M::field(x, p, current, k1);
    for (int i = 0; i < K; ++i) xt[i] = x[i] + dt * k1[i];
    M::field(xt, p, current, k2);
    for (int i = 0; i < K; ++i) xn[i] = x[i] + T(0.5) * dt * (k1[i] + k2[i]);
  } else {
    static_assert(S == Integrator::kRk4, "add the new scheme's step here");
    T k1[K], k2[K], k3[K], k4[K], xs[K];
    const T h = T(0.5) * dt;
    M::field(x, p, current, k1);
    for (int i = 0; i < K; ++i) xs[i] = x[i] + h * k1[i];
    M::field(xs, p, current, k2);
    for (int i = 0; i < K; ++i) xs[i] = x[i] + h * k2[i];
    M::field(xs, p, current, k3);
    for (int i = 0; i < K; ++i) xs[i] = x[i] + dt * k3[i];
    M::field(xs, p, current, k4);
    for (int i = 0; i < K; ++i) xn[i] = x[i] + dt / T(6) * (k1[i] + T(2) * k2[i] + T(2) * k3[i] + k4[i]);
  }
}

// Reverse of one unclamped step: on entry l is the adjoint of the state after the step, on exit
// that of x, the state before it; parameter and current gradients accumulate in g.
template <class M, Integrator S, typename T>
DYNPMNN_HD void neuron_raw_reverse(const T (&x)[M::kStates], const T (&p)[M::kParams], T current, T dt,
                                   T (&l)[M::kStates], NeuronGrad<M, T>& g) {
  constexpr int K = M::kStates;
  if constexpr (S == Integrator::kEuler && HasCustomEuler<M>::value) {
    M::euler_reverse(x, p, current, dt, l, g.p, g.current);
  } else if constexpr (S == Integrator::kEuler) {
    T lf[K];
    for (int i = 0; i < K; ++i) lf[i] = dt * l[i];
    M::field_vjp(x, p, current, lf, l, g.p, g.current);
  } else if constexpr (S == Integrator::kImex) {
    T ln[K];
    for (int i = 0; i < K; ++i) ln[i] = l[i];
    M::semi_implicit_reverse(x, p, current, dt, ln, l, g.p, g.current);
  } else if constexpr (S == Integrator::kHeun) {
    T k1[K], xt[K];
    M::field(x, p, current, k1);
    for (int i = 0; i < K; ++i) xt[i] = x[i] + dt * k1[i];  // the predictor x̃
    const T half = T(0.5) * dt;
    T lt[K] = {}, lf[K];  // adjoint of x̃, through k2 = f(x̃)
    for (int i = 0; i < K; ++i) lf[i] = half * l[i];
    M::field_vjp(xt, p, current, lf, lt, g.p, g.current);
    // k1 feeds x' directly (dt/2) and through x̃ (dt).
    T l1[K];
    for (int i = 0; i < K; ++i) {
      l1[i] = half * l[i] + dt * lt[i];
      l[i] = l[i] + lt[i];
    }
    M::field_vjp(x, p, current, l1, l, g.p, g.current);
  } else {
    static_assert(S == Integrator::kRk4, "add the new scheme's reverse here");
    const T h = T(0.5) * dt;
    T k1[K], k2[K], k3[K], x2[K], x3[K], x4[K];
    M::field(x, p, current, k1);
    for (int i = 0; i < K; ++i) x2[i] = x[i] + h * k1[i];
    M::field(x2, p, current, k2);
    for (int i = 0; i < K; ++i) x3[i] = x[i] + h * k2[i];
    M::field(x3, p, current, k3);
    for (int i = 0; i < K; ++i) x4[i] = x[i] + dt * k3[i];
    const T c1 = dt / T(6), c2 = dt / T(3);
    // Stage i's point x_i feeds k_i; its adjoint l_i then flows to k_{i−1} through x_i's formula.
    T lf[K], l4[K] = {}, l3[K] = {}, l2[K] = {};
    for (int i = 0; i < K; ++i) lf[i] = c1 * l[i];
    M::field_vjp(x4, p, current, lf, l4, g.p, g.current);
    for (int i = 0; i < K; ++i) lf[i] = c2 * l[i] + dt * l4[i];
    M::field_vjp(x3, p, current, lf, l3, g.p, g.current);
    for (int i = 0; i < K; ++i) lf[i] = c2 * l[i] + h * l3[i];
    M::field_vjp(x2, p, current, lf, l2, g.p, g.current);
    for (int i = 0; i < K; ++i) {
      lf[i] = c1 * l[i] + h * l2[i];
      l[i] = l[i] + l4[i] + l3[i] + l2[i];
    }
    M::field_vjp(x, p, current, lf, l, g.p, g.current);
  }
}

// Whether model M's kernels are specialised on every run-time switch and unrolled (M::kUnrollSteps:
// FitzHugh–Nagumo, whose kernels were tuned so). The others share one kernel per scheme for clamped
// and unclamped runs (the clamp tested per step; half the kernels for nvcc to compile) and do not
// unroll their register blocks (kStepUnroll below).
template <class M, class = void>
struct UnrollsSteps : std::false_type {};
template <class M>
struct UnrollsSteps<M, std::void_t<decltype(M::kUnrollSteps)>> : std::bool_constant<M::kUnrollSteps> {};

// The per-neuron steppers the trajectories below run. A stepper holds a neuron's loop-invariant
// values and works in its own state variables, which it converts from and to the model's at the
// ends of the trajectory (enter, leave); the checkpoints hold its variables, so the backward
// replays bit for bit what the forward computed. The general one: any model and scheme, with or
// without the clamp of every state to [−clip, clip] (compile-time kClip: without it the per-step
// test disappears from the GPU's step loop; a model that is not UnrollsSteps runs every clip with
// kClip and tests clip > 0 per step). A model may specialise it (kernels/neurons/fhn.h).
template <class M, Integrator S, bool kClip, typename T>
struct NeuronStepper {
  static constexpr int K = M::kStates;
  T p[M::kParams];
  T current, dt, clip;

  DYNPMNN_HD NeuronStepper(const T (&prm)[M::kParams], T cur, T step, T c) : current(cur), dt(step), clip(c) {
    for (int i = 0; i < M::kParams; ++i) p[i] = prm[i];
  }
  DYNPMNN_HD void enter(T (&)[K]) const {}
  DYNPMNN_HD void leave(T (&)[K]) const {}
  DYNPMNN_HD void step(T (&x)[K]) const {
    T xn[K];
    neuron_raw_step<M, S>(x, p, current, dt, xn);
    const bool clamp = kClip && (UnrollsSteps<M>::value || clip > T(0));
    for (int i = 0; i < K; ++i) x[i] = clamp ? fhn_clamp(xn[i], clip) : xn[i];
  }
  DYNPMNN_HD void adjoint_enter(T (&)[K]) const {}
  DYNPMNN_HD void reverse(const T (&x)[K], T (&l)[K], NeuronGrad<M, T>& g) const {
    if (kClip && (UnrollsSteps<M>::value || clip > T(0))) {
      // torch.clamp passes the gradient where min <= x <= max, so only strictly outside is cut.
      T xn[K];
      neuron_raw_step<M, S>(x, p, current, dt, xn);
      for (int i = 0; i < K; ++i)
        if (xn[i] > clip || xn[i] < -clip) l[i] = T(0);
    }
    neuron_raw_reverse<M, S>(x, p, current, dt, l, g);
  }
  DYNPMNN_HD void adjoint_leave(T (&)[K], NeuronGrad<M, T>&) const {}
};

// How far the step loops of a register block unroll on the GPU: fully for a model that asks for it
// (M::kUnrollSteps; FitzHugh–Nagumo, whose kernels were tuned with the state history of a block in
// registers), else not at all: unrolled sixteen times, twice, the larger models' steps (Hodgkin–
// Huxley's RK4 reverse: four vector-Jacobian products with their exponentials) took nvcc minutes
// per kernel, and their histories spill anyway.
template <class Stepper>
struct StepperModel;
template <class M, Integrator S, bool kClip, typename T>
struct StepperModel<NeuronStepper<M, S, kClip, T>> {
  using type = M;
};
template <class Stepper>
inline constexpr int kStepUnroll = UnrollsSteps<typename StepperModel<Stepper>::type>::value ? kFhnRegisterBlock : 1;

template <int K, typename T>
DYNPMNN_HD void neuron_copy(const T (&from)[K], T (&to)[K]) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int i = 0; i < K; ++i) to[i] = from[i];
}

template <typename Stepper, int K, typename T>
DYNPMNN_HD void neuron_advance(const Stepper& st, T (&x)[K], int count) {
  // Whole register blocks fully unrolled (segments are multiples of R long), then the rest: the
  // loop's counter and branch come once per R steps.
  int k = 0;
  for (; k + kFhnRegisterBlock <= count; k += kFhnRegisterBlock) {
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
    for (int r = 0; r < kFhnRegisterBlock; ++r) st.step(x);
  }
  for (; k < count; ++k) st.step(x);
}

// Where a trajectory keeps its checkpoints: one plane per state, each advanced by `stride` per
// checkpoint (the state at the start of segment s >= 1 is at plane[i][(s − 1) · stride]).
template <typename T, int K>
struct CheckpointPlanes {
  T* plane[K];
};

// The whole forward trajectory of one (sample, neuron) with stepper st. x: initial state in, final
// state out. planes: null members for inference (all or none).
template <typename Stepper, int K, typename T, typename PT>
DYNPMNN_HD void neuron_forward_trajectory(const Stepper& st, T (&x)[K], const FhnCheckpointPlan& plan,
                                          CheckpointPlanes<PT, K> ck, std::size_t stride) {
  constexpr int R = kFhnRegisterBlock;
  st.enter(x);
  // Every segment but the last is whole register blocks, and when training ends with one
  // checkpoint, written through pointers that step by the stride (an index recomputed per
  // checkpoint cost ~30 instructions on the GPU, a quarter of a 16-step segment's; 32-bit offsets
  // measured slower than the pointers, 2026-11-27). One block a segment (up to 256 steps) is the
  // common case and has no inner loop.
  const bool store = ck.plane[0] != nullptr;
  const bool one_block = plan.interval == R;
  for (int seg = 1; seg < plan.segments; ++seg) {
    if (one_block) {
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
      for (int r = 0; r < R; ++r) st.step(x);
    } else {
      for (int k = 0; k < plan.interval; k += R) {
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
        for (int r = 0; r < R; ++r) st.step(x);
      }
    }
    if (store) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int i = 0; i < K; ++i) {
        *ck.plane[i] = x[i];
        ck.plane[i] += stride;
      }
    }
  }
  neuron_advance(st, x, plan.last_len);
  st.leave(x);
}

// Replays C steps from x, keeping the C states in registers, and runs them in reverse: unrolled
// and unpredicated.
template <int C, typename Stepper, int K, typename T, typename G>
DYNPMNN_HD void neuron_reverse_block(Stepper& st, T (&x)[K], T (&l)[K], G& grad) {
  T s[C][K];
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
  for (int r = 0; r < C; ++r) {
    neuron_copy(x, s[r]);
    st.step(x);
  }
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
  for (int r = C - 1; r >= 0; --r) st.reverse(s[r], l, grad);
}

// The same for the C steps that start `offset` steps after a segment's start x0.
template <int C, typename Stepper, int K, typename T, typename G>
DYNPMNN_HD void neuron_reverse_chunk(Stepper& st, const T (&x0)[K], int offset, T (&l)[K], G& grad) {
  T x[K];
  neuron_copy(x0, x);
  neuron_advance(st, x, offset);
  neuron_reverse_block<C>(st, x, l, grad);
}

// The reverse of the `count` (< 2C) steps that end `end` steps after the segment's start, in chunks
// of C, C/2, ..., 1 steps (count's binary digits), the largest last in time: the predicated form
// of a register block issued all R steps' instructions whatever the count, ~10 times the four
// steps a 100-step trajectory leaves after its whole blocks.
template <int C, typename Stepper, int K, typename T, typename G>
DYNPMNN_HD void neuron_reverse_remainder(Stepper& st, const T (&x0)[K], int end, int count, T (&l)[K], G& grad) {
  if constexpr (C >= 1) {
    if (count & C) {
      end -= C;
      neuron_reverse_chunk<C>(st, x0, end, l, grad);
    }
    neuron_reverse_remainder<C / 2>(st, x0, end, count, l, grad);
  }
}

// The whole backward of one (sample, neuron). x0: the initial state; l: on entry the adjoint of
// the final state, on exit that of the initial state; grad accumulates this neuron's parameter
// and current gradients. kUnpredicated: replay whole register blocks without a per-step branch
// (explicit Euler: its states fit the registers; the larger steps, scheduled freely, reach 128
// registers and spill, so they take the predicated loop).
template <bool kUnpredicated, typename Stepper, int K, typename T, typename PT, typename G>
DYNPMNN_HD void neuron_backward_trajectory(Stepper& st, const T (&x0_in)[K], const FhnCheckpointPlan& plan,
                                           CheckpointPlanes<PT, K> ck, std::size_t stride, T (&l)[K], G& grad) {
  constexpr int R = kFhnRegisterBlock;
  static_assert((R & (R - 1)) == 0, "the remainder's chunks halve the register block");
  T x0[K];
  neuron_copy(x0_in, x0);
  st.enter(x0);
  st.adjoint_enter(l);
  const int segments = plan.segments;
  // The checkpoint of segment seg >= 1 is at (seg − 1)·stride. Each is loaded one segment ahead,
  // so its latency hides behind the segment after it in time (ncu: a warp's loads at each segment
  // start were the backward's largest stall, 3.2 of 10.6 cycles per issued instruction).
  T next[K];
  neuron_copy(x0, next);
  if (segments > 1) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int i = 0; i < K; ++i) {
      ck.plane[i] += static_cast<std::size_t>(segments - 2) * stride;
      next[i] = *ck.plane[i];
    }
  }
  auto start_of_segment = [&](int seg, T (&seg_x)[K]) {
    neuron_copy(next, seg_x);
    if (seg > 1) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int i = 0; i < K; ++i) {
        ck.plane[i] -= stride;
        next[i] = *ck.plane[i];
      }
    } else {
      neuron_copy(x0, next);
    }
  };
  int seg = segments - 1;
  if constexpr (kUnpredicated) {
    // The last segment, whose tail is not a whole block, comes first; then, where a segment is one
    // block (up to 256 steps), nothing but its block.
    for (; seg >= 0; --seg) {
      T seg_x[K];
      start_of_segment(seg, seg_x);
      const int seg_len = (seg == segments - 1) ? plan.last_len : plan.interval;
      if (seg_len == R) {
        neuron_reverse_block<R>(st, seg_x, l, grad);
        continue;
      }
      const int whole = seg_len / R;
      neuron_reverse_remainder<R / 2>(st, seg_x, seg_len, seg_len - whole * R, l, grad);
      for (int blk = whole - 1; blk >= 0; --blk) neuron_reverse_chunk<R>(st, seg_x, blk * R, l, grad);
    }
  } else {
    for (; seg >= 0; --seg) {
      T seg_x[K];
      start_of_segment(seg, seg_x);
      const int seg_len = (seg == segments - 1) ? plan.last_len : plan.interval;
      const int blocks = (seg_len + R - 1) / R;
      for (int blk = blocks - 1; blk >= 0; --blk) {
        T x[K];
        neuron_copy(seg_x, x);
        neuron_advance(st, x, blk * R);
        const int count = (blk == blocks - 1) ? seg_len - blk * R : R;
        T s[R][K];
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
        for (int r = 0; r < R; ++r) {
          if (r < count) {
            neuron_copy(x, s[r]);
            st.step(x);
          }
        }
#if defined(__CUDA_ARCH__)
#pragma unroll(kStepUnroll<Stepper>)
#endif
        for (int r = R - 1; r >= 0; --r) {
          if (r < count) st.reverse(s[r], l, grad);
        }
      }
    }
  }
  st.adjoint_leave(l, grad);
}

}  // namespace dynpmnn
