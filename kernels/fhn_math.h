// Per-(sample, neuron) FitzHugh–Nagumo arithmetic, shared by the CPU reference (fhn.cpp) and the
// CUDA kernels (fhn.cu): both call these very functions, so the CPU tests exercise the GPU's math.
//
//   dv/dt = I − v (v − a)(v − 1) − w,     dw/dt = b (v − g w)
//
// integrated with step dt by explicit Euler (the paper's) or another Integrator below, optionally
// clamping v and w to [−clip, clip] after every step (the authors' later code does this to stop
// blow-ups). The backward runs the discrete
// map in reverse (exact gradient of what the forward computed, clamp included: zero gradient where
// a value was clamped, as torch.clamp). The trajectory is not stored: the forward writes the state
// at the start of every checkpoint segment, and the backward recomputes each segment in register
// blocks of R steps, so memory is O(steps / interval) with interval ≈ √steps.
#pragma once

#include <cmath>
#include <cstddef>

#if defined(__CUDACC__)
#define DYNPMNN_HD __host__ __device__ __forceinline__
#else
#define DYNPMNN_HD inline
#endif

namespace dynpmnn {

// Steps recomputed and held in registers at a time by the backward; a compile-time constant so
// that the unrolled loops keep the states in registers on the GPU.
inline constexpr int kFhnRegisterBlock = 16;

template <typename T>
struct FhnParams {
  T a, b, g, I;
};

// Gradient of the loss with respect to one neuron's parameters, summed over the steps (and, by the
// caller, over the batch). dI is also the gradient of the per-sample input current.
template <typename T>
struct FhnParamGrad {
  T a = 0, b = 0, g = 0, I = 0;
};

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

// One explicit-Euler step, unclipped result in (v_next, w_next). `current` is the neuron's I plus
// any input current of this sample.
//
// The arithmetic is arranged for the fewest GPU instructions per step. Expanded in v, the step is
//   v' = v·(v·(dt(1 + a) − dt·v) + (1 − dt·a)) + (dt·I − dt·w)      (four FMAs)
//   w' = w·(1 − dt·b·g) + (dt·b)·v                                   (a multiply and an FMA)
// and dt(1 + a), 1 − dt·a, dt·I, dt·b and 1 − dt·b·g do not change over the steps, so the
// compiler computes them once: six FP32 instructions a step where the factored form took nine.
// The clamped trajectories step with this; the unclamped ones with FhnStepper's (v, z) form below,
// the same map in five.
// The values differ from the factored form's only by rounding.
template <typename T>
DYNPMNN_HD T fhn_cubic(T v, const FhnParams<T>& p) {
  return v * (v * (v - (T(1) + p.a)) + p.a);
}

template <typename T>
DYNPMNN_HD void fhn_euler_raw(T v, T w, const FhnParams<T>& p, T current, T dt, T& v_next, T& w_next) {
  v_next = v * (v * (dt * (T(1) + p.a) - dt * v) + (T(1) - dt * p.a)) + (dt * current - dt * w);
  w_next = w * (T(1) - dt * p.b * p.g) + (dt * p.b) * v;
}

// d/dv of v (v − a)(v − 1) = 3v² − 2(1 + a) v + a, in Horner form.
template <typename T>
DYNPMNN_HD T fhn_cubic_derivative(T v, const FhnParams<T>& p) {
  return v * (T(3) * v - T(2) * (T(1) + p.a)) + p.a;
}

// clip <= 0 means no clamping.
template <typename T>
DYNPMNN_HD void fhn_euler_step(T& v, T& w, const FhnParams<T>& p, T current, T dt, T clip) {
  T vn, wn;
  fhn_euler_raw(v, w, p, current, dt, vn, wn);
  if (clip > T(0)) {
    vn = fhn_clamp(vn, clip);
    wn = fhn_clamp(wn, clip);
  }
  v = vn;
  w = wn;
}

// Reverse of one step. (v, w) is the state before the step; on entry (lv, lw) is the adjoint of the
// state after it, on exit the adjoint of the state before it. Parameter gradients accumulate in g.
template <typename T>
DYNPMNN_HD void fhn_euler_step_backward(T v, T w, const FhnParams<T>& p, T current, T dt, T clip,
                                        T& lv, T& lw, FhnParamGrad<T>& grad) {
  T lu = lv, lz = lw;
  if (clip > T(0)) {
    T vn, wn;
    fhn_euler_raw(v, w, p, current, dt, vn, wn);
    // torch.clamp passes the gradient where min <= x <= max, so only strictly outside is cut.
    if (vn > clip || vn < -clip) lu = T(0);
    if (wn > clip || wn < -clip) lz = T(0);
  }
  // Six FP32 instructions without parameter gradients (the compiler drops the grad lines when
  // nobody reads them); dt·b and 1 − dt·b·g are the loop-invariant factors of the forward.
  const T dcubic = fhn_cubic_derivative(v, p);
  const T dtb = dt * p.b;
  const T dt_lu = dt * lu;
  grad.a += dt_lu * (v * v - v);
  grad.I += dt_lu;
  grad.b += (dt * lz) * (v - p.g * w);
  grad.g -= (dtb * lz) * w;
  lv = (lu - dt_lu * dcubic) + dtb * lz;
  lw = lz * (T(1) - dtb * p.g) - dt_lu;
}

// The time-stepping schemes. Each has an exact reverse of its discrete map below.
//   kEuler  explicit Euler (the paper's).
//   kImex   semi-implicit Euler: the dissipative parts of the cubic (v³ and a·v, with v² lagged)
//           and the linear w-terms implicit, the anti-dissipative (1+a)v² explicit. One 2×2
//           linear solve per step in closed form (docs/integrators.md derives it); its matrix has
//           a positive determinant for a, b, g >= 0, and v stays bounded for any dt.
//   kHeun   explicit trapezoid (RK2).
//   kRk4    classic fourth-order Runge–Kutta.
enum class Integrator : int { kEuler = 0, kImex = 1, kHeun = 2, kRk4 = 3 };

// The vector field (dv/dt, dw/dt).
template <typename T>
DYNPMNN_HD void fhn_field(T v, T w, const FhnParams<T>& p, T current, T& fv, T& fw) {
  fv = (current - w) - fhn_cubic(v, p);
  fw = p.b * (v - p.g * w);
}

// Adds Jᵀ·(lfv, lfw) to (lv, lw), J the field's Jacobian in (v, w) at (v, w), and the field's
// parameter sensitivities times (lfv, lfw) to grad (grad.I is also d/d current).
template <typename T>
DYNPMNN_HD void fhn_field_vjp(T v, T w, const FhnParams<T>& p, T lfv, T lfw, T& lv, T& lw,
                              FhnParamGrad<T>& grad) {
  const T dcubic = fhn_cubic_derivative(v, p);
  lv += -dcubic * lfv + p.b * lfw;
  lw += -lfv - p.b * p.g * lfw;
  grad.a += (v * v - v) * lfv;
  grad.I += lfv;
  grad.b += (v - p.g * w) * lfw;
  grad.g -= p.b * w * lfw;
}

// The semi-implicit step's linear system  M·(v', w') = r  (see kImex above):
//   [1 + dt(v² + a)   dt       ] [v']   [v + dt(I + (1 + a)v²)]
//   [−dt·b            1 + dt·bg] [w'] = [w                    ]
template <typename T>
struct FhnImexSystem {
  T m11, m12, m21, m22, det, r1, r2;
};

template <typename T>
DYNPMNN_HD FhnImexSystem<T> fhn_imex_system(T v, T w, const FhnParams<T>& p, T current, T dt) {
  FhnImexSystem<T> s;
  s.m11 = T(1) + dt * (v * v + p.a);
  s.m12 = dt;
  s.m21 = -dt * p.b;
  s.m22 = T(1) + dt * p.b * p.g;
  s.det = s.m11 * s.m22 - s.m12 * s.m21;
  s.r1 = v + dt * (current + (T(1) + p.a) * v * v);
  s.r2 = w;
  return s;
}

// One unclamped step of scheme S.
template <Integrator S, typename T>
DYNPMNN_HD void fhn_raw_step(T v, T w, const FhnParams<T>& p, T current, T dt, T& v_next, T& w_next) {
  if constexpr (S == Integrator::kEuler) {
    fhn_euler_raw(v, w, p, current, dt, v_next, w_next);
  } else if constexpr (S == Integrator::kImex) {
    const FhnImexSystem<T> m = fhn_imex_system(v, w, p, current, dt);
    v_next = (m.m22 * m.r1 - m.m12 * m.r2) / m.det;
    w_next = (m.m11 * m.r2 - m.m21 * m.r1) / m.det;
  } else if constexpr (S == Integrator::kHeun) {
    T k1v, k1w, k2v, k2w;
    fhn_field(v, w, p, current, k1v, k1w);
    fhn_field(v + dt * k1v, w + dt * k1w, p, current, k2v, k2w);
    v_next = v + T(0.5) * dt * (k1v + k2v);
    w_next = w + T(0.5) * dt * (k1w + k2w);
  } else {
    static_assert(S == Integrator::kRk4, "add the new scheme's step here");
    T k1v, k1w, k2v, k2w, k3v, k3w, k4v, k4w;
    const T h = T(0.5) * dt;
    fhn_field(v, w, p, current, k1v, k1w);
    fhn_field(v + h * k1v, w + h * k1w, p, current, k2v, k2w);
    fhn_field(v + h * k2v, w + h * k2w, p, current, k3v, k3w);
    fhn_field(v + dt * k3v, w + dt * k3w, p, current, k4v, k4w);
    v_next = v + dt / T(6) * (k1v + T(2) * k2v + T(2) * k3v + k4v);
    w_next = w + dt / T(6) * (k1w + T(2) * k2w + T(2) * k3w + k4w);
  }
}

template <Integrator S, typename T>
DYNPMNN_HD void fhn_step(T& v, T& w, const FhnParams<T>& p, T current, T dt, T clip) {
  if constexpr (S == Integrator::kEuler) {
    fhn_euler_step(v, w, p, current, dt, clip);
  } else {
    T vn, wn;
    fhn_raw_step<S>(v, w, p, current, dt, vn, wn);
    if (clip > T(0)) {
      vn = fhn_clamp(vn, clip);
      wn = fhn_clamp(wn, clip);
    }
    v = vn;
    w = wn;
  }
}

// Reverse of one step of scheme S, with the same contract as fhn_euler_step_backward.
template <Integrator S, typename T>
DYNPMNN_HD void fhn_step_backward(T v, T w, const FhnParams<T>& p, T current, T dt, T clip, T& lv, T& lw,
                                  FhnParamGrad<T>& grad) {
  if constexpr (S == Integrator::kEuler) {
    fhn_euler_step_backward(v, w, p, current, dt, clip, lv, lw, grad);
    return;
  } else {
    T lu = lv, lz = lw;
    if (clip > T(0)) {
      T vn, wn;
      fhn_raw_step<S>(v, w, p, current, dt, vn, wn);
      if (vn > clip || vn < -clip) lu = T(0);
      if (wn > clip || wn < -clip) lz = T(0);
    }
    if constexpr (S == Integrator::kImex) {
      // x' = M⁻¹ r, so for any θ: dx' = M⁻¹ (∂r/∂θ − ∂M/∂θ · x'). With μ = M⁻ᵀ λ the gradient of θ
      // is μ · (∂r/∂θ − ∂M/∂θ · x').
      const FhnImexSystem<T> m = fhn_imex_system(v, w, p, current, dt);
      const T vn = (m.m22 * m.r1 - m.m12 * m.r2) / m.det;
      const T wn = (m.m11 * m.r2 - m.m21 * m.r1) / m.det;
      const T mu1 = (m.m22 * lu - m.m21 * lz) / m.det;
      const T mu2 = (m.m11 * lz - m.m12 * lu) / m.det;
      // ∂r1/∂v = 1 + 2dt(1 + a)v, ∂m11/∂v = 2dt·v; ∂r2/∂w = 1.
      lv = mu1 * (T(1) + T(2) * dt * (T(1) + p.a) * v) - mu1 * T(2) * dt * v * vn;
      lw = mu2;
      // ∂r1/∂a = dt·v², ∂m11/∂a = dt; ∂r1/∂I = dt; ∂m21/∂b = −dt, ∂m22/∂b = dt·g; ∂m22/∂g = dt·b.
      grad.a += mu1 * dt * (v * v - vn);
      grad.I += mu1 * dt;
      grad.b += mu2 * dt * (vn - p.g * wn);
      grad.g -= mu2 * dt * p.b * wn;
    } else if constexpr (S == Integrator::kHeun) {
      T k1v, k1w;
      fhn_field(v, w, p, current, k1v, k1w);
      const T tv = v + dt * k1v, tw = w + dt * k1w;  // the predictor x̃
      const T half = T(0.5) * dt;
      T ltv = 0, ltw = 0;  // adjoint of x̃, through k2 = f(x̃)
      fhn_field_vjp(tv, tw, p, half * lu, half * lz, ltv, ltw, grad);
      // k1 feeds x' directly (dt/2) and through x̃ (dt).
      const T l1v = half * lu + dt * ltv, l1w = half * lz + dt * ltw;
      lv = lu + ltv;
      lw = lz + ltw;
      fhn_field_vjp(v, w, p, l1v, l1w, lv, lw, grad);
    } else {
      static_assert(S == Integrator::kRk4, "add the new scheme's reverse here");
      const T h = T(0.5) * dt;
      T k1v, k1w, k2v, k2w, k3v, k3w;
      fhn_field(v, w, p, current, k1v, k1w);
      const T x2v = v + h * k1v, x2w = w + h * k1w;
      fhn_field(x2v, x2w, p, current, k2v, k2w);
      const T x3v = v + h * k2v, x3w = w + h * k2w;
      fhn_field(x3v, x3w, p, current, k3v, k3w);
      const T x4v = v + dt * k3v, x4w = w + dt * k3w;
      const T c1 = dt / T(6), c2 = dt / T(3);
      // Stage i's point x_i feeds k_i; its adjoint l_i then flows to k_{i−1} through x_i's formula.
      T l4v = 0, l4w = 0;
      fhn_field_vjp(x4v, x4w, p, c1 * lu, c1 * lz, l4v, l4w, grad);
      T l3v = 0, l3w = 0;
      fhn_field_vjp(x3v, x3w, p, c2 * lu + dt * l4v, c2 * lz + dt * l4w, l3v, l3w, grad);
      T l2v = 0, l2w = 0;
      fhn_field_vjp(x2v, x2w, p, c2 * lu + h * l3v, c2 * lz + h * l3w, l2v, l2w, grad);
      lv = lu + l4v + l3v + l2v;
      lw = lz + l4w + l3w + l2w;
      fhn_field_vjp(v, w, p, c1 * lu + h * l2v, c1 * lz + h * l2w, lv, lw, grad);
    }
  }
}

// The per-pair steppers the trajectories below run. A stepper holds a pair's loop-invariant
// factors and works in its own state variables (x1, x2), which it converts from and to (v, w) at
// the ends of the trajectory; the checkpoints hold its state, so the backward replays bit for bit
// what the forward computed.
//
// The general stepper: any scheme, with or without the clamp (compile-time switch kClip: without
// it the per-step clip test disappears from the GPU's step loop; the paper's setting has none).
template <Integrator S, bool kClip, typename T>
struct FhnStepper {
  FhnParams<T> p;
  T current, dt, clip;

  DYNPMNN_HD FhnStepper(const FhnParams<T>& prm, T cur, T step, T c) : p(prm), current(cur), dt(step), clip(c) {}
  DYNPMNN_HD void enter(T, T&) const {}
  DYNPMNN_HD void leave(T, T&) const {}
  DYNPMNN_HD void step(T& v, T& w) const { fhn_step<S>(v, w, p, current, dt, kClip ? clip : T(0)); }
  DYNPMNN_HD void adjoint_enter(T&, T&) const {}
  DYNPMNN_HD void reverse(T v, T w, T& lv, T& lw, FhnParamGrad<T>& grad) const {
    fhn_step_backward<S>(v, w, p, current, dt, kClip ? clip : T(0), lv, lw, grad);
  }
  DYNPMNN_HD void adjoint_leave(T&, T&, FhnParamGrad<T>&) const {}
};

// Explicit Euler without the clamp (the paper's training) in the variables (v, z), z = dt·(current − w):
//   v' = v·(v·(dt(1 + a) − dt·v) + (1 − dt·a)) + z
//   z' = k·z + (K − dt²b·v),       k = 1 − dt·b·g,  K = dt·current · dt·b·g
// is the same map as fhn_euler_raw (z' = dt·(current − w') expands to it), in five FMAs a step where
// (v, w) needs six: z is the very term v' adds. Its reverse, with (μ, ζ) the adjoints of (v, z):
//   μ ← μ·m − dt²b·ζ,  ζ ← k·ζ + μ,    m = ∂v'/∂v = (1 − dt·a) + v·(2dt(1 + a) − 3dt·v)
// (five instructions where (v, w) needs six). The adjoint of w is −dt·ζ, so the parameter gradients
// are fhn_euler_step_backward's with lz = −dt·ζ; their constant factors (dt, −dt², dt²b) are applied
// once per pair in adjoint_leave. Rounding differs from the (v, w) form's, not the map: the w the
// pair returns is current − z/dt, accurate to ~1 ulp of max(|w|, |current|).
template <typename T>
struct FhnStepper<Integrator::kEuler, false, T> {
  T current, dt, g, b;
  T neg_dt, c1, c2, k, K, neg_dt2b, neg_3dt, two_c1, inv_dt;
  // Raw sums of the parameter gradients' per-step terms (scaled in adjoint_leave).
  T sum_a = 0, sum_I = 0, sum_b = 0, sum_g = 0;

  DYNPMNN_HD FhnStepper(const FhnParams<T>& p, T cur, T step, T)
      : current(cur),
        dt(step),
        g(p.g),
        b(p.b),
        neg_dt(-step),
        c1(step * (T(1) + p.a)),
        c2(T(1) - step * p.a),
        k(T(1) - step * p.b * p.g),
        K((step * cur) * (step * p.b * p.g)),
        neg_dt2b(-(step * step * p.b)),
        neg_3dt(T(-3) * step),
        two_c1(T(2) * (step * (T(1) + p.a))),
        inv_dt(T(1) / step) {}
  DYNPMNN_HD void enter(T, T& w) const { w = dt * (current - w); }
  DYNPMNN_HD void leave(T, T& z) const { z = current - z / dt; }
  DYNPMNN_HD void step(T& v, T& z) const {
    const T vn = v * (v * (v * neg_dt + c1) + c2) + z;
    z = k * z + (v * neg_dt2b + K);
    v = vn;
  }
  // On entry the adjoint of the final (v, w); after it, of (v, z).
  DYNPMNN_HD void adjoint_enter(T&, T& lw) const { lw = -lw / dt; }
  // (v, z): the state before the step; (mu, zeta): on entry the adjoint after it.
  DYNPMNN_HD void reverse(T v, T z, T& mu, T& zeta, FhnParamGrad<T>&) {
    const T m = v * (v * neg_3dt + two_c1) + c2;
    // Parameter terms, as fhn_euler_step_backward's (dead code, dropped, when nobody reads them).
    const T w = current - z * inv_dt;
    sum_a += mu * (v * v - v);
    sum_I += mu;
    sum_b += zeta * (v - g * w);
    sum_g += zeta * w;
    const T mu_prev = mu * m + zeta * neg_dt2b;
    zeta = k * zeta + mu;
    mu = mu_prev;
  }
  DYNPMNN_HD void adjoint_leave(T&, T& zeta, FhnParamGrad<T>& grad) const {
    zeta = -dt * zeta;
    const T dt2 = dt * dt;
    grad.a += dt * sum_a;
    grad.I += dt * sum_I;
    grad.b -= dt2 * sum_b;
    grad.g += dt2 * b * sum_g;
  }
};

template <typename Stepper, typename T>
DYNPMNN_HD void fhn_advance(const Stepper& st, T& v, T& w, int count) {
  // Whole register blocks fully unrolled (segments are multiples of R long), then the rest: the
  // loop's counter and branch come once per R steps.
  int k = 0;
  for (; k + kFhnRegisterBlock <= count; k += kFhnRegisterBlock) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int r = 0; r < kFhnRegisterBlock; ++r) st.step(v, w);
  }
  for (; k < count; ++k) st.step(v, w);
}

template <Integrator S, bool kClip, typename T>
DYNPMNN_HD void fhn_forward_trajectory_impl(T& v, T& w, const FhnParams<T>& p, T current, T dt,
                                            const FhnCheckpointPlan& plan, T clip, T* ckpt_v, T* ckpt_w,
                                            std::size_t ckpt_stride) {
  constexpr int R = kFhnRegisterBlock;
  const FhnStepper<S, kClip, T> st(p, current, dt, clip);
  st.enter(v, w);
  // Every segment but the last is whole register blocks, and when training ends with one
  // checkpoint, written through pointers that step by the stride (an index recomputed per
  // checkpoint cost ~30 instructions on the GPU, a quarter of a 16-step segment's; 32-bit offsets
  // measured slower than the pointers, 2026-11-27). One block a segment (up to 256 steps) is the
  // common case and has no inner loop.
  const bool store = ckpt_v != nullptr;
  const bool one_block = plan.interval == R;
  for (int seg = 1; seg < plan.segments; ++seg) {
    if (one_block) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int r = 0; r < R; ++r) st.step(v, w);
    } else {
      for (int k = 0; k < plan.interval; k += R) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
        for (int r = 0; r < R; ++r) st.step(v, w);
      }
    }
    if (store) {
      *ckpt_v = v;
      *ckpt_w = w;
      ckpt_v += ckpt_stride;
      ckpt_w += ckpt_stride;
    }
  }
  fhn_advance(st, v, w, plan.last_len);
  st.leave(v, w);
}

// Replays C steps from (v, w), keeping the C states in registers, and runs them in reverse:
// unrolled and unpredicated.
template <int C, typename Stepper, typename T>
DYNPMNN_HD void fhn_reverse_block(Stepper& st, T v, T w, T& lv, T& lw, FhnParamGrad<T>& grad) {
  T sv[C], sw[C];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int r = 0; r < C; ++r) {
    sv[r] = v;
    sw[r] = w;
    st.step(v, w);
  }
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int r = C - 1; r >= 0; --r) st.reverse(sv[r], sw[r], lv, lw, grad);
}

// The same for the C steps that start `offset` steps after a segment's start (v0, w0).
template <int C, typename Stepper, typename T>
DYNPMNN_HD void fhn_reverse_chunk(Stepper& st, T v0, T w0, int offset, T& lv, T& lw, FhnParamGrad<T>& grad) {
  T v = v0, w = w0;
  fhn_advance(st, v, w, offset);
  fhn_reverse_block<C>(st, v, w, lv, lw, grad);
}

// The reverse of the `count` (< 2C) steps that end `end` steps after the segment's start, in chunks
// of C, C/2, ..., 1 steps (count's binary digits), the largest last in time: the predicated form
// of a register block issued all R steps' instructions whatever the count, ~10 times the four
// steps a 100-step trajectory leaves after its whole blocks.
template <int C, typename Stepper, typename T>
DYNPMNN_HD void fhn_reverse_remainder(Stepper& st, T v0, T w0, int end, int count, T& lv, T& lw,
                                      FhnParamGrad<T>& grad) {
  if constexpr (C >= 1) {
    if (count & C) {
      end -= C;
      fhn_reverse_chunk<C>(st, v0, w0, end, lv, lw, grad);
    }
    fhn_reverse_remainder<C / 2>(st, v0, w0, end, count, lv, lw, grad);
  }
}

template <Integrator S, bool kClip, typename T>
DYNPMNN_HD void fhn_backward_trajectory_impl(T v0, T w0, const FhnParams<T>& p, T current, T dt,
                                             const FhnCheckpointPlan& plan, T clip, const T* ckpt_v,
                                             const T* ckpt_w, std::size_t ckpt_stride, T& lv, T& lw,
                                             FhnParamGrad<T>& grad) {
  constexpr int R = kFhnRegisterBlock;
  static_assert((R & (R - 1)) == 0, "the remainder's chunks halve the register block");
  FhnStepper<S, kClip, T> st(p, current, dt, clip);
  st.enter(v0, w0);
  st.adjoint_enter(lv, lw);
  const int segments = plan.segments;
  // The checkpoint of segment seg >= 1 is at (seg − 1)·stride. Each is loaded one segment ahead,
  // so its latency hides behind the segment after it in time (ncu: a warp's loads at each segment
  // start were the backward's largest stall, 3.2 of 10.6 cycles per issued instruction).
  T next_v = v0, next_w = w0;
  if (segments > 1) {
    ckpt_v += static_cast<std::size_t>(segments - 2) * ckpt_stride;
    ckpt_w += static_cast<std::size_t>(segments - 2) * ckpt_stride;
    next_v = *ckpt_v;
    next_w = *ckpt_w;
  }
  auto start_of_segment = [&](int seg, T& seg_v, T& seg_w) {
    seg_v = next_v;
    seg_w = next_w;
    if (seg > 1) {
      ckpt_v -= ckpt_stride;
      ckpt_w -= ckpt_stride;
      next_v = *ckpt_v;
      next_w = *ckpt_w;
    } else {
      next_v = v0;
      next_w = w0;
    }
  };
  int seg = segments - 1;
  if constexpr (S == Integrator::kEuler) {
    // Whole register blocks, unpredicated: the unrolled steps keep every state in a register of
    // its own, where a tested form cost a branch and register moves per step. Euler only: the
    // other schemes, scheduled freely, reach 128 registers and spill. The last segment, whose
    // tail is not a whole block, comes first; then, where a segment is one block (up to 256
    // steps), nothing but its block.
    for (; seg >= 0; --seg) {
      T seg_v, seg_w;
      start_of_segment(seg, seg_v, seg_w);
      const int seg_len = (seg == segments - 1) ? plan.last_len : plan.interval;
      if (seg_len == R) {
        fhn_reverse_block<R>(st, seg_v, seg_w, lv, lw, grad);
        continue;
      }
      const int whole = seg_len / R;
      fhn_reverse_remainder<R / 2>(st, seg_v, seg_w, seg_len, seg_len - whole * R, lv, lw, grad);
      for (int blk = whole - 1; blk >= 0; --blk) fhn_reverse_chunk<R>(st, seg_v, seg_w, blk * R, lv, lw, grad);
    }
  } else {
    for (; seg >= 0; --seg) {
      T seg_v, seg_w;
      start_of_segment(seg, seg_v, seg_w);
      const int seg_len = (seg == segments - 1) ? plan.last_len : plan.interval;
      const int blocks = (seg_len + R - 1) / R;
      for (int blk = blocks - 1; blk >= 0; --blk) {
        T v = seg_v, w = seg_w;
        fhn_advance(st, v, w, blk * R);
        const int count = (blk == blocks - 1) ? seg_len - blk * R : R;
        T sv[R], sw[R];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
        for (int r = 0; r < R; ++r) {
          if (r < count) {
            sv[r] = v;
            sw[r] = w;
            st.step(v, w);
          }
        }
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
        for (int r = R - 1; r >= 0; --r) {
          if (r < count) st.reverse(sv[r], sw[r], lv, lw, grad);
        }
      }
    }
  }
  st.adjoint_leave(lv, lw, grad);
}

// Whole forward trajectory of one (sample, neuron). (v, w): initial state in, final state out.
// When ckpt_v is not null, the state at the start of segment s >= 1 is written to
// ckpt_v[(s − 1) * ckpt_stride] (and likewise w), the layout the backward reads.
template <Integrator S = Integrator::kEuler, typename T>
DYNPMNN_HD void fhn_forward_trajectory(T& v, T& w, const FhnParams<T>& p, T current, T dt, int steps,
                                       T clip, T* ckpt_v, T* ckpt_w, std::size_t ckpt_stride) {
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(steps);
  if (clip > T(0))
    fhn_forward_trajectory_impl<S, true>(v, w, p, current, dt, plan, clip, ckpt_v, ckpt_w, ckpt_stride);
  else
    fhn_forward_trajectory_impl<S, false>(v, w, p, current, dt, plan, clip, ckpt_v, ckpt_w, ckpt_stride);
}

// Whole backward of one (sample, neuron). (v0, w0): the initial state; (lv, lw): on entry the
// adjoint of the final state, on exit that of the initial state; grad accumulates this pair's
// parameter gradients (grad.I is also the gradient of the sample's input current).
template <Integrator S = Integrator::kEuler, typename T>
DYNPMNN_HD void fhn_backward_trajectory(T v0, T w0, const FhnParams<T>& p, T current, T dt, int steps,
                                        T clip, const T* ckpt_v, const T* ckpt_w,
                                        std::size_t ckpt_stride, T& lv, T& lw, FhnParamGrad<T>& grad) {
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(steps);
  if (clip > T(0))
    fhn_backward_trajectory_impl<S, true>(v0, w0, p, current, dt, plan, clip, ckpt_v, ckpt_w, ckpt_stride, lv,
                                          lw, grad);
  else
    fhn_backward_trajectory_impl<S, false>(v0, w0, p, current, dt, plan, clip, ckpt_v, ckpt_w, ckpt_stride, lv,
                                           lw, grad);
}

template <typename T>
DYNPMNN_HD bool is_finite_value(T x) {
  return x - x == T(0);  // false for NaN and ±Inf, also under fast-math-free builds on both sides
}

}  // namespace dynpmnn
