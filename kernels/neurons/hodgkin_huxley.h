// The Hodgkin–Huxley neuron model (the squid giant axon, Hodgkin & Huxley 1952, in the modern
// convention of rest at −65 mV), one header of kernels/neurons/. In physical units
//
//   C dV/dt = I − gNa m³h (V − ENa) − gK n⁴ (V − EK) − gL (V − EL)
//   dy/dt   = αy(V)(1 − y) − βy(V) y                     for the gates y = m, h, n
//
//   αm = 0.1 (V + 40) / (1 − e^{−(V+40)/10})    βm = 4 e^{−(V+65)/18}
//   αh = 0.07 e^{−(V+65)/20}                    βh = 1 / (1 + e^{−(V+35)/10})
//   αn = 0.01 (V + 55) / (1 − e^{−(V+55)/10})   βn = 0.125 e^{−(V+65)/80}
//
// (V in mV, t in ms, rates in 1/ms), C = 1 µF/cm², gNa = 120, gK = 36, gL = 0.3 mS/cm²,
// ENa = 50, EK = −77, EL = −54.387 mV, I in µA/cm².
//
// Scaled units, so that states and inputs of order one move the model through its range (the
// network's Linear layers produce values of order one):
//   v = (V − (−65 mV)) / 10 mV    "tens of millivolts above rest"; a spike peaks near v ≈ 10.5
//   t = t_phys / 1 ms             the gates' time constants are 0.1–10 ms; a spike lasts ~1–2 units
//   I = I_phys / 10 µA/cm²        the current that moves v by one unit per unit time at C = 1 µF/cm²
//   g = g_phys · 1 ms / C         (1/ms: the classic numbers unchanged)
//   e = (E − (−65 mV)) / 10 mV
// and then
//
//   dv/dt = I − gNa m³h (v − eNa) − gK n⁴ (v − eK) − gL (v − eL)
//   αm = ψ(v − 2.5)        βm = 4 e^{−v/1.8}
//   αh = 0.07 e^{−v/2}     βh = σ(v − 3)
//   αn = 0.1 ψ(v − 1)      βn = 0.125 e^{−v/8}
//
// with ψ(x) = x / (1 − e^{−x}) (finite and smooth through x = 0, where it is 1) and σ the logistic
// function. Rest at the defaults and I = 0 is v = 0.000362 (V = −64.996 mV: EL's classic value is
// rounded), the kStateInfo below. Repetitive firing from rest needs I ≳ 0.625 (6.25 µA/cm²); rest
// loses stability between I = 0.975 and 0.98, and I = 1 fires a spike every ~14.6 units, the
// first at t ≈ 1.8.
//
// The rates see v clamped to [−kRateVoltageLimit, kRateVoltageLimit] (±300 mV, far beyond any
// physiological voltage): beyond it βm and αh would overflow in float (v < −158); the clamp makes
// their slope zero there, in the forward and the reverse alike.
//
// The semi-implicit step (integrator imex) is Rush–Larsen's: with v frozen over the step, each gate
// is linear and is advanced exactly,
//   y' = y∞ + (y − y∞) e^{−dt/τy},   y∞ = αy/(αy + βy),   τy = 1/(αy + βy),
// and v by explicit Euler with the old gates, v' = v + dt·f_v(v, m, h, n) (the Jacobi variant: the
// whole step reads only the old state). The gates then stay in [0, 1] for any dt; v keeps Euler's
// stability limit, dt·(gNa m³h + gK n⁴ + gL) < 2 (the conductance reaches ~37 in a spike).
// Measured over t = 20, v0 ∈ [−2, 2], I ∈ [−2, 2] at the defaults: bounded for dt <= 0.0725, where
// explicit Euler and Heun need dt <= 0.0225 and RK4 dt <= 0.03 (m's rate, ~90 at v ≈ −5.5, is
// what limits them under hyperpolarising currents; for I >= −1 they reach 0.0675, 0.0625, 0.085).
#pragma once

#include <cmath>

#include "kernels/neuron_math.h"

namespace dynpmnn {

// ψ(x) = x / (1 − e^{−x}) and ψ'(x). Near 0 the quotient (and far more its slope) cancels, so there
// the series ψ = x/2 + (x/2)·coth(x/2) = 1 + x/2 + Σ B₂ₖ x²ᵏ/(2k)! (truncation < 1e-15 for
// |x| < 0.5); elsewhere ψ' = (1 − e^{−x}(1 + x))/(1 − e^{−x})² = (1 + x − ψ)/(1 − e^{−x}), whose
// cancellation costs at most ~2ε/|x| (float: 2.4e-7 relative at the branch).
template <typename T>
DYNPMNN_HD void hh_psi(T x, T& value, T& slope) {
  if (fabs(x) < T(0.5)) {
    const T x2 = x * x;
    constexpr double c2 = 1.0 / 12.0, c4 = -1.0 / 720.0, c6 = 1.0 / 30240.0, c8 = -1.0 / 1209600.0,
                     c10 = 1.0 / 47900160.0, c12 = -691.0 / 1307674368000.0, c14 = 1.0 / 74724249600.0;
    const T even =
        x2 * (T(c2) + x2 * (T(c4) + x2 * (T(c6) + x2 * (T(c8) + x2 * (T(c10) + x2 * (T(c12) + x2 * T(c14)))))));
    const T odd = x * (T(2 * c2) + x2 * (T(4 * c4) + x2 * (T(6 * c6) + x2 * (T(8 * c8) +
                      x2 * (T(10 * c10) + x2 * (T(12 * c12) + x2 * T(14 * c14)))))));
    value = (T(1) + T(0.5) * x) + even;
    slope = T(0.5) + odd;
  } else {
    const T d = -expm1(-x);  // 1 − e^{−x}, same sign as x
    value = x / d;
    slope = ((T(1) + x) - value) / d;
  }
}

// The opening (α) and closing (β) rates of the gates m, h, n at v, and their slopes in v.
template <typename T>
struct HhRates {
  T alpha[3], beta[3], dalpha[3], dbeta[3];
};

// The model, in kernels/neuron_math.h's terms: state (v, m, h, n), parameters
// (gNa, gK, gL, ENa, EK, EL, I), everything in the scaled units above.
struct HodgkinHuxley {
  static constexpr const char* kName = "hodgkin_huxley";
  static constexpr int kStates = 4;
  static constexpr int kParams = 7;
  static constexpr int kCoupled = 1;       // initial-condition coupling sets v; the gates start at rest
  static constexpr int kCurrentParam = 6;  // I
  static constexpr bool kSemiImplicit = true;
  // inspect's phase plane: v against the potassium gate n, the slow pair of the classic reduction
  // (m follows v almost at once, h moves with n).
  static constexpr int kPlaneX = 0, kPlaneY = 3;

  // The scales (see the top of this file): physical = offset + unit · scaled.
  static constexpr double kRestMv = -65.0;         // the voltage origin
  static constexpr double kVoltageUnitMv = 10.0;   // v
  static constexpr double kTimeUnitMs = 1.0;       // t (and 1/g, 1/α, 1/β)
  static constexpr double kCurrentUnit = 10.0;     // I, µA/cm²
  static constexpr double kCapacitance = 1.0;      // C, µF/cm² (fixed: it only rescales g and I)
  static constexpr double kRateVoltageLimit = 30.0;

  enum : int { kGNa = 0, kGK = 1, kGL = 2, kENa = 3, kEK = 4, kEL = 5 };

  static constexpr NeuronParamInfo kParamInfo[kParams] = {
      {"gNa", 120.0, FhnParamMap::kSoftplus, "sodium conductance, 1/ms (120 mS/cm² at C = 1 µF/cm²), > 0"},
      {"gK", 36.0, FhnParamMap::kSoftplus, "potassium conductance, 1/ms (36 mS/cm²), > 0"},
      {"gL", 0.3, FhnParamMap::kSoftplus, "leak conductance, 1/ms (0.3 mS/cm²), > 0"},
      {"ENa", 11.5, FhnParamMap::kIdentity, "sodium reversal potential, 10 mV above rest (50 mV)"},
      {"EK", -1.2, FhnParamMap::kIdentity, "potassium reversal potential, 10 mV above rest (−77 mV)"},
      {"EL", 1.0613, FhnParamMap::kIdentity, "leak reversal potential, 10 mV above rest (−54.387 mV)"},
      {"I", 0.0, FhnParamMap::kIdentity, "constant input current, 10 µA/cm² (repetitive firing above ~0.62)"},
  };
  // The resting state at the defaults and I = 0: f(rest) = 0, each gate at y∞(v_rest).
  static constexpr NeuronStateInfo kStateInfo[kStates] = {
      {"v", 0.00036206688079432},
      {"m", 0.052955086813008},
      {"h", 0.59599412473986},
      {"n", 0.31773239976087},
  };

  template <typename T>
  static DYNPMNN_HD HhRates<T> rates(T v) {
    const T lim = T(kRateVoltageLimit);
    const bool inside = v > -lim && v < lim;
    const T u = v > lim ? lim : (v < -lim ? -lim : v);
    HhRates<T> r;
    hh_psi(u - T(2.5), r.alpha[0], r.dalpha[0]);
    r.beta[0] = T(4) * exp(u * T(-1.0 / 1.8));
    r.dbeta[0] = r.beta[0] * T(-1.0 / 1.8);
    r.alpha[1] = T(0.07) * exp(T(-0.5) * u);
    r.dalpha[1] = T(-0.5) * r.alpha[1];
    const T z = u - T(3);  // βh = σ(z) and σ' = e/(1 + e)², e = e^{−|z|}, neither overflowing
    const T e = exp(-fabs(z));
    const T one_plus = T(1) + e;
    r.beta[1] = (z >= T(0) ? T(1) : e) / one_plus;
    r.dbeta[1] = e / (one_plus * one_plus);
    T psi_n, dpsi_n;
    hh_psi(u - T(1), psi_n, dpsi_n);
    r.alpha[2] = T(0.1) * psi_n;
    r.dalpha[2] = T(0.1) * dpsi_n;
    r.beta[2] = T(0.125) * exp(T(-0.125) * u);
    r.dbeta[2] = T(-0.125) * r.beta[2];
    if (!inside) {
      for (int i = 0; i < 3; ++i) r.dalpha[i] = r.dbeta[i] = T(0);
    }
    return r;
  }

  // dv/dt without the current: minus the ionic currents.
  template <typename T>
  static DYNPMNN_HD T ionic(const T (&x)[4], const T (&p)[kParams]) {
    const T v = x[0], m = x[1], h = x[2], n = x[3];
    const T n2 = n * n;
    return -p[kGNa] * (m * m * m * h) * (v - p[kENa]) - p[kGK] * (n2 * n2) * (v - p[kEK]) - p[kGL] * (v - p[kEL]);
  }

  // Adds lfv·∂f_v/∂(x, p, current) to lx, lp, lcur.
  template <typename T>
  static DYNPMNN_HD void voltage_vjp(const T (&x)[4], const T (&p)[kParams], T lfv, T (&lx)[4], T (&lp)[kParams],
                                     T& lcur) {
    const T v = x[0], m = x[1], h = x[2], n = x[3];
    const T m2 = m * m, m3h = m2 * m * h, n3 = n * n * n, n4 = n3 * n;
    const T dna = v - p[kENa], dk = v - p[kEK], dl = v - p[kEL];
    const T gna = p[kGNa] * m3h, gk = p[kGK] * n4;
    lx[0] -= lfv * ((gna + gk) + p[kGL]);
    lx[1] -= lfv * (T(3) * p[kGNa] * m2 * h * dna);
    lx[2] -= lfv * (p[kGNa] * m2 * m * dna);
    lx[3] -= lfv * (T(4) * p[kGK] * n3 * dk);
    lp[kGNa] -= lfv * (m3h * dna);
    lp[kGK] -= lfv * (n4 * dk);
    lp[kGL] -= lfv * dl;
    lp[kENa] += lfv * gna;
    lp[kEK] += lfv * gk;
    lp[kEL] += lfv * p[kGL];
    lcur += lfv;
  }

  template <typename T>
  static DYNPMNN_HD void field(const T (&x)[4], const T (&p)[kParams], T current, T (&f)[4]) {
    const HhRates<T> r = rates(x[0]);
    f[0] = current + ionic(x, p);
    for (int i = 0; i < 3; ++i) f[1 + i] = r.alpha[i] * (T(1) - x[1 + i]) - r.beta[i] * x[1 + i];
  }

  template <typename T>
  static DYNPMNN_HD void field_vjp(const T (&x)[4], const T (&p)[kParams], T, const T (&lf)[4], T (&lx)[4],
                                   T (&lp)[kParams], T& lcur) {
    const HhRates<T> r = rates(x[0]);
    voltage_vjp(x, p, lf[0], lx, lp, lcur);
    for (int i = 0; i < 3; ++i) {
      const T y = x[1 + i];
      lx[0] += lf[1 + i] * (r.dalpha[i] * (T(1) - y) - r.dbeta[i] * y);
      lx[1 + i] -= lf[1 + i] * (r.alpha[i] + r.beta[i]);
    }
  }

  // Rush–Larsen (see the top of this file). e^{−dt/τ} and 1 − e^{−dt/τ} are both taken directly
  // (exp, expm1), so small dt/τ loses nothing to cancellation in the reverse's (1 − E).
  template <typename T>
  static DYNPMNN_HD void semi_implicit_step(const T (&x)[4], const T (&p)[kParams], T current, T dt, T (&xn)[4]) {
    const HhRates<T> r = rates(x[0]);
    xn[0] = x[0] + dt * (current + ionic(x, p));
    for (int i = 0; i < 3; ++i) {
      const T s = r.alpha[i] + r.beta[i];
      const T inf = r.alpha[i] / s;
      xn[1 + i] = inf + (x[1 + i] - inf) * exp(-dt * s);
    }
  }

  // The reverse of the map above. v' is Euler's, so its adjoint is voltage_vjp's with lfv = dt·λv
  // plus λv itself. A gate's y' = y∞ + (y − y∞)E with E = e^{−dt·s}, s = α + β, both functions of
  // the old v only:  ∂y'/∂y = E,  ∂y'/∂v = y∞'(1 − E) − dt·s'·(y − y∞)E,  y∞' = (α' − y∞ s')/s.
  template <typename T>
  static DYNPMNN_HD void semi_implicit_reverse(const T (&x)[4], const T (&p)[kParams], T, T dt, const T (&ln)[4],
                                               T (&lx)[4], T (&lp)[kParams], T& lcur) {
    const HhRates<T> r = rates(x[0]);
    lx[0] = ln[0];
    lx[1] = lx[2] = lx[3] = T(0);
    voltage_vjp(x, p, dt * ln[0], lx, lp, lcur);
    for (int i = 0; i < 3; ++i) {
      const T s = r.alpha[i] + r.beta[i];
      const T ds = r.dalpha[i] + r.dbeta[i];
      const T inf = r.alpha[i] / s;
      const T dinf = (r.dalpha[i] - inf * ds) / s;
      const T z = dt * s;
      const T e = exp(-z);
      const T one_minus_e = -expm1(-z);
      const T lambda = ln[1 + i];
      lx[1 + i] += lambda * e;
      lx[0] += lambda * (dinf * one_minus_e - (dt * ds) * (x[1 + i] - inf) * e);
    }
  }
};

}  // namespace dynpmnn
