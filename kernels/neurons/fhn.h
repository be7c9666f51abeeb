// The FitzHugh–Nagumo neuron model (the paper's), one header of kernels/neurons/:
//
//   dv/dt = I − v (v − a)(v − 1) − w,     dw/dt = b (v − g w)
//
// with its closed-form semi-implicit step (integrator imex) and the explicit-Euler forms that the
// fused kernels were tuned with (six FP32 instructions a step clamped, five unclamped), as
// specialisations of kernels/neuron_math.h's generic stepper. The generic schemes (Heun, RK4) and
// the checkpointed trajectories are neuron_math.h's. The (v, w) functions below are this model's
// own vocabulary, which inspect and the tests use.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "kernels/neuron_math.h"

namespace dynpmnn {

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

// The model, in kernels/neuron_math.h's terms: state (v, w), parameters (a, b, g, I).
struct FitzHughNagumo {
  static constexpr const char* kName = "fhn";
  static constexpr int kStates = 2;
  static constexpr int kParams = 4;
  static constexpr int kCoupled = 2;       // initial-condition coupling sets v0 and w0 (the paper's)
  static constexpr int kCurrentParam = 3;  // I
  static constexpr bool kSemiImplicit = true;
  static constexpr bool kCustomEuler = true;
  static constexpr bool kUnrollSteps = true;
  static constexpr NeuronParamInfo kParamInfo[kParams] = {
      {"a", 0.2, FhnParamMap::kSigmoid, "the cubic's middle root, in (0, 1)"},
      {"b", 0.02, FhnParamMap::kSoftplus, "recovery rate, > 0"},
      {"g", 3.0, FhnParamMap::kSoftplus, "recovery's self-coupling, > 0"},
      {"I", 0.0, FhnParamMap::kIdentity, "constant input current"},
  };
  static constexpr NeuronStateInfo kStateInfo[kStates] = {{"v", 0.0}, {"w", 0.0}};

  template <typename T>
  static DYNPMNN_HD FhnParams<T> unpack(const T (&p)[kParams]) {
    return {p[0], p[1], p[2], p[3]};
  }

  template <typename T>
  static DYNPMNN_HD void field(const T (&x)[2], const T (&p)[4], T current, T (&f)[2]) {
    fhn_field(x[0], x[1], unpack(p), current, f[0], f[1]);
  }

  // fhn_field_vjp's arithmetic, with the current's gradient apart from I's.
  template <typename T>
  static DYNPMNN_HD void field_vjp(const T (&x)[2], const T (&p)[4], T, const T (&lf)[2], T (&lx)[2], T (&lp)[4],
                                   T& lcur) {
    const T v = x[0], w = x[1];
    const T dcubic = fhn_cubic_derivative(v, unpack(p));
    lx[0] += -dcubic * lf[0] + p[1] * lf[1];
    lx[1] += -lf[0] - p[1] * p[2] * lf[1];
    lp[0] += (v * v - v) * lf[0];
    lcur += lf[0];
    lp[1] += (v - p[2] * w) * lf[1];
    lp[2] -= p[1] * w * lf[1];
  }

  // Explicit Euler in the expanded form fhn_euler_raw (six FMAs; the generic x + dt·f rounds
  // otherwise), and its reverse (fhn_euler_step_backward's arithmetic).
  template <typename T>
  static DYNPMNN_HD void euler_step(const T (&x)[2], const T (&p)[4], T current, T dt, T (&xn)[2]) {
    fhn_euler_raw(x[0], x[1], unpack(p), current, dt, xn[0], xn[1]);
  }
  template <typename T>
  static DYNPMNN_HD void euler_reverse(const T (&x)[2], const T (&p)[4], T, T dt, T (&l)[2], T (&lp)[4], T& lcur) {
    const T v = x[0], w = x[1], lu = l[0], lz = l[1];
    const T dcubic = fhn_cubic_derivative(v, unpack(p));
    const T dtb = dt * p[1];
    const T dt_lu = dt * lu;
    lp[0] += dt_lu * (v * v - v);
    lcur += dt_lu;
    lp[1] += (dt * lz) * (v - p[2] * w);
    lp[2] -= (dtb * lz) * w;
    l[0] = (lu - dt_lu * dcubic) + dtb * lz;
    l[1] = lz * (T(1) - dtb * p[2]) - dt_lu;
  }

  // The semi-implicit step: the dissipative parts of the cubic (v³ and a·v, with v² lagged) and
  // the linear w-terms implicit, the anti-dissipative (1+a)v² explicit. One 2×2 linear solve per
  // step in closed form (docs/integrators.md derives it); its matrix has a positive determinant
  // for a, b, g >= 0, and v stays bounded for any dt.
  template <typename T>
  static DYNPMNN_HD void semi_implicit_step(const T (&x)[2], const T (&p)[4], T current, T dt, T (&xn)[2]) {
    const FhnImexSystem<T> m = fhn_imex_system(x[0], x[1], unpack(p), current, dt);
    xn[0] = (m.m22 * m.r1 - m.m12 * m.r2) / m.det;
    xn[1] = (m.m11 * m.r2 - m.m21 * m.r1) / m.det;
  }

  // x' = M⁻¹ r, so for any θ: dx' = M⁻¹ (∂r/∂θ − ∂M/∂θ · x'). With μ = M⁻ᵀ λ the gradient of θ
  // is μ · (∂r/∂θ − ∂M/∂θ · x').
  template <typename T>
  static DYNPMNN_HD void semi_implicit_reverse(const T (&x)[2], const T (&p)[4], T current, T dt, const T (&ln)[2],
                                               T (&lx)[2], T (&lp)[4], T& lcur) {
    const T v = x[0], lu = ln[0], lz = ln[1];
    const FhnImexSystem<T> m = fhn_imex_system(x[0], x[1], unpack(p), current, dt);
    const T vn = (m.m22 * m.r1 - m.m12 * m.r2) / m.det;
    const T wn = (m.m11 * m.r2 - m.m21 * m.r1) / m.det;
    const T mu1 = (m.m22 * lu - m.m21 * lz) / m.det;
    const T mu2 = (m.m11 * lz - m.m12 * lu) / m.det;
    // ∂r1/∂v = 1 + 2dt(1 + a)v, ∂m11/∂v = 2dt·v; ∂r2/∂w = 1.
    lx[0] = mu1 * (T(1) + T(2) * dt * (T(1) + p[0]) * v) - mu1 * T(2) * dt * v * vn;
    lx[1] = mu2;
    // ∂r1/∂a = dt·v², ∂m11/∂a = dt; ∂r1/∂I = dt; ∂m21/∂b = −dt, ∂m22/∂b = dt·g; ∂m22/∂g = dt·b.
    lp[0] += mu1 * dt * (v * v - vn);
    lcur += mu1 * dt;
    lp[1] += mu2 * dt * (vn - p[2] * wn);
    lp[2] -= mu2 * dt * p[1] * wn;
  }
};

// Reverse of one explicit-Euler step (FitzHughNagumo::euler_reverse, with the clamp). (v, w) is the
// state before the step; on entry (lv, lw) is the adjoint of the state after it, on exit the
// adjoint of the state before it. Parameter gradients accumulate in grad (grad.I also takes the
// current's).
template <typename T>
DYNPMNN_HD void fhn_euler_step_backward(T v, T w, const FhnParams<T>& p, T current, T dt, T clip, T& lv, T& lw,
                                        FhnParamGrad<T>& grad) {
  T l[2] = {lv, lw};
  if (clip > T(0)) {
    T vn, wn;
    fhn_euler_raw(v, w, p, current, dt, vn, wn);
    // torch.clamp passes the gradient where min <= x <= max, so only strictly outside is cut.
    if (vn > clip || vn < -clip) l[0] = T(0);
    if (wn > clip || wn < -clip) l[1] = T(0);
  }
  const T x[2] = {v, w};
  const T q[4] = {p.a, p.b, p.g, p.I};
  T lp[4] = {grad.a, grad.b, grad.g, T(0)};
  T lcur = grad.I;
  FitzHughNagumo::euler_reverse(x, q, current, dt, l, lp, lcur);
  grad.a = lp[0];
  grad.b = lp[1];
  grad.g = lp[2];
  grad.I = lcur;
  lv = l[0];
  lw = l[1];
}

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
struct NeuronStepper<FitzHughNagumo, Integrator::kEuler, false, T> {
  T current, dt, g, b;
  T neg_dt, c1, c2, k, K, neg_dt2b, neg_3dt, two_c1, inv_dt;
  // Raw sums of the parameter gradients' per-step terms (scaled in adjoint_leave).
  T sum_a = 0, sum_I = 0, sum_b = 0, sum_g = 0;

  DYNPMNN_HD NeuronStepper(const T (&p)[4], T cur, T step, T)
      : current(cur),
        dt(step),
        g(p[2]),
        b(p[1]),
        neg_dt(-step),
        c1(step * (T(1) + p[0])),
        c2(T(1) - step * p[0]),
        k(T(1) - step * p[1] * p[2]),
        K((step * cur) * (step * p[1] * p[2])),
        neg_dt2b(-(step * step * p[1])),
        neg_3dt(T(-3) * step),
        two_c1(T(2) * (step * (T(1) + p[0]))),
        inv_dt(T(1) / step) {}
  DYNPMNN_HD void enter(T (&x)[2]) const { x[1] = dt * (current - x[1]); }
  DYNPMNN_HD void leave(T (&x)[2]) const { x[1] = current - x[1] / dt; }
  DYNPMNN_HD void step(T (&x)[2]) const {
    const T v = x[0], z = x[1];
    x[0] = v * (v * (v * neg_dt + c1) + c2) + z;
    x[1] = k * z + (v * neg_dt2b + K);
  }
  // On entry the adjoint of the final (v, w); after it, of (v, z).
  DYNPMNN_HD void adjoint_enter(T (&l)[2]) const { l[1] = -l[1] / dt; }
  // x = (v, z): the state before the step; l = (mu, zeta): on entry the adjoint after it.
  DYNPMNN_HD void reverse(const T (&x)[2], T (&l)[2], NeuronGrad<FitzHughNagumo, T>&) {
    const T v = x[0], z = x[1], mu = l[0], zeta = l[1];
    const T m = v * (v * neg_3dt + two_c1) + c2;
    // Parameter terms, as fhn_euler_step_backward's (dead code, dropped, when nobody reads them).
    const T w = current - z * inv_dt;
    sum_a += mu * (v * v - v);
    sum_I += mu;
    sum_b += zeta * (v - g * w);
    sum_g += zeta * w;
    l[0] = mu * m + zeta * neg_dt2b;
    l[1] = k * zeta + mu;
  }
  DYNPMNN_HD void adjoint_leave(T (&l)[2], NeuronGrad<FitzHughNagumo, T>& grad) const {
    l[1] = -dt * l[1];
    const T dt2 = dt * dt;
    grad.p[0] += dt * sum_a;
    grad.current += dt * sum_I;
    grad.p[1] -= dt2 * sum_b;
    grad.p[2] += dt2 * b * sum_g;
  }
};

// ---- The (v, w) vocabulary of inspect and the tests, over the generic code ----------------------

template <Integrator S, typename T>
DYNPMNN_HD void fhn_raw_step(T v, T w, const FhnParams<T>& p, T current, T dt, T& v_next, T& w_next) {
  const T x[2] = {v, w};
  const T q[4] = {p.a, p.b, p.g, p.I};
  T xn[2];
  neuron_raw_step<FitzHughNagumo, S>(x, q, current, dt, xn);
  v_next = xn[0];
  w_next = xn[1];
}

template <Integrator S, typename T>
DYNPMNN_HD void fhn_step(T& v, T& w, const FhnParams<T>& p, T current, T dt, T clip) {
  T vn, wn;
  fhn_raw_step<S>(v, w, p, current, dt, vn, wn);
  if (clip > T(0)) {
    vn = fhn_clamp(vn, clip);
    wn = fhn_clamp(wn, clip);
  }
  v = vn;
  w = wn;
}

// One explicit-Euler step in the expanded form; clip <= 0 means no clamping.
template <typename T>
DYNPMNN_HD void fhn_euler_step(T& v, T& w, const FhnParams<T>& p, T current, T dt, T clip) {
  fhn_step<Integrator::kEuler>(v, w, p, current, dt, clip);
}

template <typename T>
DYNPMNN_HD FhnParamGrad<T> fhn_param_grad(const NeuronGrad<FitzHughNagumo, T>& g) {
  FhnParamGrad<T> r;
  r.a = g.p[0];
  r.b = g.p[1];
  r.g = g.p[2];
  r.I = g.p[3] + g.current;
  return r;
}

// Reverse of one step of scheme S, with fhn_euler_step_backward's contract.
template <Integrator S, typename T>
DYNPMNN_HD void fhn_step_backward(T v, T w, const FhnParams<T>& p, T current, T dt, T clip, T& lv, T& lw,
                                  FhnParamGrad<T>& grad) {
  const T x[2] = {v, w};
  const T q[4] = {p.a, p.b, p.g, p.I};
  T l[2] = {lv, lw};
  if (clip > T(0)) {
    T xn[2];
    neuron_raw_step<FitzHughNagumo, S>(x, q, current, dt, xn);
    for (int i = 0; i < 2; ++i)
      if (xn[i] > clip || xn[i] < -clip) l[i] = T(0);
  }
  NeuronGrad<FitzHughNagumo, T> g;
  neuron_raw_reverse<FitzHughNagumo, S>(x, q, current, dt, l, g);
  const FhnParamGrad<T> d = fhn_param_grad(g);
  grad.a += d.a;
  grad.b += d.b;
  grad.g += d.g;
  grad.I += d.I;
  lv = l[0];
  lw = l[1];
}

// The steppers of the fused kernels, by the FHN (v, w) names.
template <Integrator S, bool kClip, typename T>
using FhnStepper = NeuronStepper<FitzHughNagumo, S, kClip, T>;

// Whole forward trajectory of one (sample, neuron). (v, w): initial state in, final state out.
// When ckpt_v is not null, the state at the start of segment s >= 1 is written to
// ckpt_v[(s − 1) * ckpt_stride] (and likewise w), the layout the backward reads.
template <Integrator S = Integrator::kEuler, typename T>
DYNPMNN_HD void fhn_forward_trajectory(T& v, T& w, const FhnParams<T>& p, T current, T dt, int steps, T clip,
                                       T* ckpt_v, T* ckpt_w, std::size_t ckpt_stride) {
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(steps);
  const T q[4] = {p.a, p.b, p.g, p.I};
  T x[2] = {v, w};
  const CheckpointPlanes<T, 2> ck{{ckpt_v, ckpt_w}};
  if (clip > T(0))
    neuron_forward_trajectory(FhnStepper<S, true, T>(q, current, dt, clip), x, plan, ck, ckpt_stride);
  else
    neuron_forward_trajectory(FhnStepper<S, false, T>(q, current, dt, clip), x, plan, ck, ckpt_stride);
  v = x[0];
  w = x[1];
}

// Whole backward of one (sample, neuron). (v0, w0): the initial state; (lv, lw): on entry the
// adjoint of the final state, on exit that of the initial state; grad accumulates this pair's
// parameter gradients (grad.I is also the gradient of the sample's input current).
template <Integrator S = Integrator::kEuler, typename T>
DYNPMNN_HD void fhn_backward_trajectory(T v0, T w0, const FhnParams<T>& p, T current, T dt, int steps, T clip,
                                        const T* ckpt_v, const T* ckpt_w, std::size_t ckpt_stride, T& lv, T& lw,
                                        FhnParamGrad<T>& grad) {
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(steps);
  const T q[4] = {p.a, p.b, p.g, p.I};
  const T x0[2] = {v0, w0};
  T l[2] = {lv, lw};
  const CheckpointPlanes<const T, 2> ck{{ckpt_v, ckpt_w}};
  NeuronGrad<FitzHughNagumo, T> g;
  constexpr bool kUnpredicated = S == Integrator::kEuler;
  if (clip > T(0)) {
    FhnStepper<S, true, T> st(q, current, dt, clip);
    neuron_backward_trajectory<kUnpredicated>(st, x0, plan, ck, ckpt_stride, l, g);
  } else {
    FhnStepper<S, false, T> st(q, current, dt, clip);
    neuron_backward_trajectory<kUnpredicated>(st, x0, plan, ck, ckpt_stride, l, g);
  }
  const FhnParamGrad<T> d = fhn_param_grad(g);
  grad.a += d.a;
  grad.b += d.b;
  grad.g += d.g;
  grad.I += d.I;
  lv = l[0];
  lw = l[1];
}

}  // namespace dynpmnn
