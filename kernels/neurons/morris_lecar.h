// The Morris–Lecar neuron model, one header of kernels/neurons/: a conductance-based membrane with
// an instantaneous Ca²⁺ activation and a delayed K⁺ recovery gate w. In classic units (mV, ms,
// µA/cm², mS/cm², µF/cm²)
//
//   C dV/dt = I − gL (V − VL) − gCa m∞(V) (V − VCa) − gK w (V − VK)
//     dw/dt = φ (w∞(V) − w) / τw(V)
//   m∞(V) = ½(1 + tanh((V − V1)/V2)),  w∞(V) = ½(1 + tanh((V − V3)/V4)),  τw(V) = 1/cosh((V − V3)/(2V4))
//
// with Rinzel & Ermentrout's (1989) parameters, the "Hopf" set of Ermentrout & Terman (2010),
// Table 3.1: C = 20, gCa = 4.4, gK = 8, gL = 2, VCa = 120, VK = −84, VL = −60, V1 = −1.2, V2 = 18,
// V3 = 2, V4 = 30, φ = 0.04. At I = 0 it rests at V = −60.855 mV; repetitive firing (period
// 65–100 ms, spikes from about −50 to +35 mV) starts near I = 88 (the limit cycle's saddle-node;
// the rest loses stability in a subcritical Hopf near I = 94) and ends near I = 217.
//
// The network sees it in scaled units, so that states and inputs of order one span its range
// (rest at v ≈ 0, a spike's peak at v ≈ 3, the firing threshold of an initial kick near v = 1.6,
// repetitive firing for i in about (1.47, 3.6)) and a spike takes a few time units:
//   t = t0·τ,  V = V0 + Vs·v,   t0 = 10 ms (= C/gL),  V0 = −60 mV (= VL),  Vs = 30 mV,
// which turn the equations into
//   dv/dτ = i − gL (v − VL) − gCa m∞(v) (v − VCa) − gK w (v − VK)
//   dw/dτ = φ cosh(y) (σ(4y) − w),   y = (v − V3)/(2V4),   m∞(v) = σ(2(v − V1)/V2)
// (σ the logistic: ½(1 + tanh(u)) = σ(2u)) with every parameter in the scaled units:
//   g (conductances) → g·t0/C,  VX (potentials, V1, V3) → (VX − V0)/Vs,  V2, V4 → V/Vs,
//   φ → φ·t0,  I → i = I·t0/(C·Vs) (i = 1 is 60 µA/cm²).
// The capacitance is folded into t0/C and is no parameter. w is a probability and is not scaled.
// The gate's rate φ cosh(y) grows as e^|y|: it overflows float, and the trajectory reads ±∞, only
// past |v − V3| ≈ 177·V4 (5 V), a trajectory that has already diverged.
//
// The semi-implicit step (integrator imex) reads only the old state (v, w). v takes the linearly
// implicit step with the conductances frozen at the old v and w,
//   v' = (v + dt (i + gL VL + gCa m∞(v) VCa + gK w VK)) / (1 + dt (gL + gCa m∞(v) + gK w))
//      = v + dt·f_v(v, w) / (1 + dt G),   G = gL + gCa m∞(v) + gK w (the total conductance),
// and w the exact step of its equation for v frozen (Rush–Larsen, as Hodgkin–Huxley's gates),
//   w' = w∞(v) + (w − w∞(v)) e^{−dt λ(v)},   λ = φ cosh(y),
// computed as w + (w∞ − w)(1 − e^{−dt λ}) with 1 − e^{−dt λ} = −expm1(−dt λ), exact for small dt λ.
// Why it is stable for any dt: w' lies between w and w∞ ∈ (0, 1), so [0, 1] holds w once it is
// there; with w ≥ 0 every weight below is positive and v' is the convex combination
//   v' = (v + dt gL (VL + i/gL) + dt gCa m∞ VCa + dt gK w VK) / (1 + dt (gL + gCa m∞ + gK w))
// of v, VCa, VK and the leak's rest VL + i/gL, so |v'| ≤ max(|v|, |VCa|, |VK|, |VL + i/gL|): no dt
// makes it overshoot, a large one only pulls v to the rest of the frozen conductances. (For w < 0
// the denominator stays positive while gK w > −(gL + gCa m∞), i.e. w > −0.25 at the defaults.)
// It is first order, and slower than the flow in the firing range: the period at i = 2 (7.35) comes
// out 7.44 at dt 0.01, 8.15 at 0.1, 10.75 at 0.5, where Euler's stays within 0.05 up to dt 0.1
// (Euler overshoots the spike's peak instead). Measured stability (t_end 10, v0 ∈ [−2, 2] with w at
// rest, i ∈ [−2, 2], the defaults, float and double; bounded: every state finite and |x| < 100):
//   Euler dt <= 0.6,  Heun 0.75,  RK4 1.0,  imex every dt tried (0.01 … 5, then 10, 100, 1e4).
#pragma once

#include <cmath>

#include "kernels/neuron_math.h"

namespace dynpmnn {

struct MorrisLecar {
  // The scaling above; kParamInfo converts the classic values with it.
  static constexpr double kTimeUnitMs = 10.0;
  static constexpr double kCapacitance = 20.0;  // µF/cm²
  static constexpr double kVoltageOffsetMv = -60.0;
  static constexpr double kVoltageScaleMv = 30.0;
  static constexpr double kConductanceScale = kTimeUnitMs / kCapacitance;

  static constexpr const char* kName = "morris_lecar";
  static constexpr int kStates = 2;
  static constexpr int kParams = 12;
  static constexpr int kCoupled = 1;  // coupling sets v; the gate starts at rest
  static constexpr int kCurrentParam = 11;
  static constexpr bool kSemiImplicit = true;
  static constexpr NeuronParamInfo kParamInfo[kParams] = {
      {"gCa", 4.4 * kConductanceScale, FhnParamMap::kSoftplus, "Ca conductance (4.4 mS/cm²), > 0"},
      {"gK", 8.0 * kConductanceScale, FhnParamMap::kSoftplus, "K conductance (8 mS/cm²), > 0"},
      {"gL", 2.0 * kConductanceScale, FhnParamMap::kSoftplus, "leak conductance (2 mS/cm²), > 0"},
      {"VCa", (120.0 - kVoltageOffsetMv) / kVoltageScaleMv, FhnParamMap::kIdentity, "Ca reversal potential (120 mV)"},
      {"VK", (-84.0 - kVoltageOffsetMv) / kVoltageScaleMv, FhnParamMap::kIdentity, "K reversal potential (−84 mV)"},
      {"VL", (-60.0 - kVoltageOffsetMv) / kVoltageScaleMv, FhnParamMap::kIdentity, "leak reversal potential (−60 mV)"},
      {"V1", (-1.2 - kVoltageOffsetMv) / kVoltageScaleMv, FhnParamMap::kIdentity, "Ca activation's midpoint (−1.2 mV)"},
      {"V2", 18.0 / kVoltageScaleMv, FhnParamMap::kSoftplus, "Ca activation's slope (18 mV), > 0"},
      {"V3", (2.0 - kVoltageOffsetMv) / kVoltageScaleMv, FhnParamMap::kIdentity, "K gate's midpoint (2 mV)"},
      {"V4", 30.0 / kVoltageScaleMv, FhnParamMap::kSoftplus, "K gate's slope (30 mV), > 0"},
      {"phi", 0.04 * kTimeUnitMs, FhnParamMap::kSoftplus, "K gate's rate (0.04 /ms), > 0"},
      {"I", 0.0, FhnParamMap::kIdentity, "constant input current (1 = 60 µA/cm²)"},
  };
  // The rest at the defaults and zero input: V = −60.85538223 mV, w = w∞(V).
  static constexpr NeuronStateInfo kStateInfo[kStates] = {{"v", -0.028512741076983}, {"w", 0.0149150249539994}};

  template <typename T>
  static DYNPMNN_HD void field(const T (&x)[2], const T (&p)[12], T current, T (&f)[2]) {
    const T v = x[0], w = x[1];
    const T gCa = p[0], gK = p[1], gL = p[2], VCa = p[3], VK = p[4], VL = p[5];
    const T V1 = p[6], V2 = p[7], V3 = p[8], V4 = p[9], phi = p[10];
    const T m = fhn_map_sigmoid(T(2) * (v - V1) / V2);
    const T y = (v - V3) / (T(2) * V4);
    f[0] = current - gL * (v - VL) - gCa * m * (v - VCa) - gK * w * (v - VK);
    f[1] = phi * cosh(y) * (fhn_map_sigmoid(T(4) * y) - w);
  }

  template <typename T>
  static DYNPMNN_HD void field_vjp(const T (&x)[2], const T (&p)[12], T, const T (&lf)[2], T (&lx)[2], T (&lp)[12],
                                   T& lcur) {
    const T v = x[0], w = x[1];
    const T gCa = p[0], gK = p[1], gL = p[2], VCa = p[3], VK = p[4], VL = p[5];
    const T V1 = p[6], V2 = p[7], V3 = p[8], V4 = p[9], phi = p[10];
    const T lv = lf[0], lw = lf[1];
    // m = σ(u), u = 2(v − V1)/V2; σ′ in the sigmoid map's overflow-free form.
    const T u = T(2) * (v - V1) / V2;
    const T m = fhn_map_sigmoid(u);
    const T du = fhn_param_map_derivative(FhnParamMap::kSigmoid, u);
    // ∂f0/∂u, which reaches v (2/V2), V1 (−2/V2) and V2 (−u/V2).
    const T lu = -gCa * (v - VCa) * du * lv;
    lx[0] += -(gL + gCa * m + gK * w) * lv + lu * (T(2) / V2);
    lx[1] -= gK * (v - VK) * lv;
    lp[0] -= m * (v - VCa) * lv;
    lp[1] -= w * (v - VK) * lv;
    lp[2] -= (v - VL) * lv;
    lp[3] += gCa * m * lv;
    lp[4] += gK * w * lv;
    lp[5] += gL * lv;
    lp[6] -= lu * (T(2) / V2);
    lp[7] -= lu * u / V2;
    lcur += lv;
    // f1 = φ cosh(y) (σ(4y) − w), y = (v − V3)/(2V4): ∂f1/∂y reaches v (1/(2V4)), V3 (−1/(2V4))
    // and V4 (−y/V4).
    const T y = (v - V3) / (T(2) * V4);
    const T ch = cosh(y);
    const T gap = fhn_map_sigmoid(T(4) * y) - w;
    // cosh(y)·4σ′(4y) as 2(e^−3|y| + e^−5|y|)/(1 + e^−4|y|)², at most 1: the product of the
    // factors is ∞·0 in float past |y| ≈ 89.
    const T e = exp(-fabs(y)), e2 = e * e, e4 = e2 * e2;
    const T ch_slope = T(2) * e2 * e * (T(1) + e2) / ((T(1) + e4) * (T(1) + e4));
    const T ly = phi * (sinh(y) * gap + ch_slope) * lw;
    lx[0] += ly / (T(2) * V4);
    lx[1] -= phi * ch * lw;
    lp[8] -= ly / (T(2) * V4);
    lp[9] -= ly * y / V4;
    lp[10] += ch * gap * lw;
  }

  // The semi-implicit step (see the top of this file): v by the linearly implicit step with the
  // conductances at the old (v, w), w by the exact exponential step for v frozen; both read only
  // the old state.
  //   v' = (v + dt (i + gL VL + gCa m VCa + gK w VK)) / (1 + dt (gL + gCa m + gK w))
  //   w' = w + (w∞ − w) D,   D = 1 − e^{−z} (expm1: no cancellation for small z),  z = dt φ cosh(y)
  template <typename T>
  static DYNPMNN_HD void semi_implicit_step(const T (&x)[2], const T (&p)[12], T current, T dt, T (&xn)[2]) {
    const T v = x[0], w = x[1];
    const T gCa = p[0], gK = p[1], gL = p[2], VCa = p[3], VK = p[4], VL = p[5];
    const T V1 = p[6], V2 = p[7], V3 = p[8], V4 = p[9], phi = p[10];
    const T gCam = gCa * fhn_map_sigmoid(T(2) * (v - V1) / V2), gKw = gK * w;
    xn[0] = (v + dt * (current + gL * VL + gCam * VCa + gKw * VK)) / (T(1) + dt * (gL + gCam + gKw));
    const T y = (v - V3) / (T(2) * V4);
    xn[1] = w + (fhn_map_sigmoid(T(4) * y) - w) * -expm1(-(dt * phi) * cosh(y));
  }

  // The reverse of the map above. v' = N/Q, so for any θ ∂v'/∂θ = (∂N/∂θ − v' ∂Q/∂θ)/Q: with
  // μ = λv/Q each input X of a term dt·g·X in N (and of dt·g in Q) gets μ·dt·g·(X − v'). For w',
  // with E = e^{−z} = 1 − D:
  //   ∂w'/∂w = E,  ∂w'/∂y = 4σ′(4y)·D + (w∞ − w)·E·dt φ sinh(y),  ∂w'/∂φ = (w∞ − w)·E·dt cosh(y).
  // Where z overflows (cosh(y) = ∞, |y| > 89 in float) E is 0 and the E-terms are taken as 0, not ∞·0.
  template <typename T>
  static DYNPMNN_HD void semi_implicit_reverse(const T (&x)[2], const T (&p)[12], T current, T dt, const T (&ln)[2],
                                               T (&lx)[2], T (&lp)[12], T& lcur) {
    const T v = x[0], w = x[1];
    const T gCa = p[0], gK = p[1], gL = p[2], VCa = p[3], VK = p[4], VL = p[5];
    const T V1 = p[6], V2 = p[7], V3 = p[8], V4 = p[9], phi = p[10];
    const T u = T(2) * (v - V1) / V2;
    const T m = fhn_map_sigmoid(u);
    const T gCam = gCa * m, gKw = gK * w;
    const T q = T(1) + dt * (gL + gCam + gKw);
    const T vn = (v + dt * (current + gL * VL + gCam * VCa + gKw * VK)) / q;
    const T mu = ln[0] / q, mdt = mu * dt;
    // ∂v'/∂u, which reaches v (2/V2), V1 (−2/V2) and V2 (−u/V2).
    const T lu = mdt * gCa * fhn_param_map_derivative(FhnParamMap::kSigmoid, u) * (VCa - vn);
    lx[0] = mu + lu * (T(2) / V2);
    lx[1] = mdt * gK * (VK - vn);
    lp[0] += mdt * m * (VCa - vn);
    lp[1] += mdt * w * (VK - vn);
    lp[2] += mdt * (VL - vn);
    lp[3] += mdt * gCam;
    lp[4] += mdt * gKw;
    lp[5] += mdt * gL;
    lp[6] -= lu * (T(2) / V2);
    lp[7] -= lu * u / V2;
    lcur += mdt;
    // w' = w + (w∞ − w) D: y reaches v (1/(2V4)), V3 (−1/(2V4)) and V4 (−y/V4).
    const T lw = ln[1];
    const T y = (v - V3) / (T(2) * V4);
    const T ch = cosh(y);
    const T z = (dt * phi) * ch;
    const T e = exp(-z), d = -expm1(-z);
    const T gap = fhn_map_sigmoid(T(4) * y) - w;
    const T ge = e > T(0) ? lw * gap * e * dt : T(0);  // λw·(w∞ − w)·E·dt, finite times cosh/sinh below
    const T ly = lw * d * fhn_param_map_derivative(FhnParamMap::kSigmoid, T(4) * y) * T(4) +
                 (e > T(0) ? ge * phi * sinh(y) : T(0));
    lx[0] += ly / (T(2) * V4);
    lx[1] += lw * e;
    lp[8] -= ly / (T(2) * V4);
    lp[9] -= ly * y / V4;
    lp[10] += e > T(0) ? ge * ch : T(0);
  }
};

}  // namespace dynpmnn
