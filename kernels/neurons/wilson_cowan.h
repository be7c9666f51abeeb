// The Wilson–Cowan population model, one header of kernels/neurons/: the fractions E and I of an
// excitatory and an inhibitory population that fire per unit time (Wilson & Cowan 1972, Biophys.
// J. 12:1–24, their equations with refractoriness):
//
//   τe dE/dt = −E + (ke − re E) Se(c1 E − c2 I + P)
//   τi dI/dt = −I + (ki − ri I) Si(c3 E − c4 I + Q)
//   S(x) = σ(a (x − θ)) − σ(−a θ),   k = 1 − σ(−a θ) = σ(a θ)   (σ the logistic)
//
// Their response S is the logistic shifted so that S(0) = 0, which makes E = I = 0 the rest state
// at P = Q = 0 for any parameters; k is S's supremum, so the factor ke − re E keeps E below
// ke²/(1 + re ke) (≈ 0.5 here) once it is there. ke and ki follow from a and θ and are no parameters.
//
// Defaults: the limit-cycle set of Wilson & Cowan (1972): c1 = 16, c2 = 12, c3 = 15, c4 = 3,
// ae = 1.3, θe = 4, ai = 2, θi = 3.7, re = ri = 1, τe = τi = 1, Q = 0 (P = 1.25 oscillates).
//
// Scaling: none, the classic units are already the network's. E and I are fractions of order
// one (0 to about 0.5); time is in units of the classic τ, so a cycle (period 5 at P = 1.25, 3.3
// at P = 1.5) fits a trajectory of 10–20 units. Inputs of order one span the behaviours: at
// Q = 0 the rest (0, 0) shifts little for P < 1.05, E and I oscillate for P in about
// (1.1, 1.95), and settle at a high-activity state (E ≈ 0.25–0.3) above.
// x[0] = E is what the voltage-only readout reads.
//
// The semi-implicit step (integrator imex) reads only the old state (E, I): with each response S
// frozen at the old state's input, each rate equation is linear in its own population and takes
// the implicit Euler step of it (h = dt/τ):
//   E' = (E + he ke Se) / (1 + he (1 + re Se)),   Se = Se(c1 E − c2 I + P),   he = dt/τe,
//   I' = (I + hi ki Si) / (1 + hi (1 + ri Si)),   Si = Si(c3 E − c4 I + Q),   hi = dt/τi.
// Why it is stable for any dt: with c = 1 + r S and X* = k S / c (the rest of the frozen
// equation), X' − X* = (X − X*)/(1 + h c), a contraction towards X* whenever c > 0. S is the
// shifted logistic, S ∈ (−σ(−aθ), σ(aθ)), so c > 1 − r σ(−aθ) > 0 for every state exactly when
// r σ(−aθ) < 1: at the defaults c ≥ 0.9945 (E) and 0.9994 (I), and for any θ ≥ 0 with r < 2.
// Only trained parameters with r σ(−aθ) >= 1 (r > 1 in any case, r >= 2 unless θ < 0) can make c
// negative, where S is near its lower bound; the flow itself then grows there (dX/dt =
// (−c X + k S)/τ), and the step's denominator vanishes at dt = τ/(−c). Where c > 0, X* is bounded,
// |X*| ≤ k/(1 − r σ(−aθ)), and X' lies between X and X*, so E and I stay bounded for any dt.
// It is first order, with somewhat larger errors than explicit Euler's (worst |ΔE|, |ΔI| over
// t <= 10 against a fine reference: 0.065 at dt 0.01, 0.26 at 0.1, where Euler's are 0.041, 0.23).
// Measured stability (t_end 10, E0, I0 ∈ [−2, 2], P ∈ [−2, 2], the defaults, float and double;
// bounded: every state finite and |x| < 100):
//   Euler dt <= 1.5,  Heun 1.5,  RK4 2.0,  imex every dt tried (0.01 … 5, then 10, 100, 1e4).
#pragma once

#include <cmath>

#include "kernels/neuron_math.h"

namespace dynpmnn {

struct WilsonCowan {
  static constexpr const char* kName = "wilson_cowan";
  static constexpr int kStates = 2;
  static constexpr int kParams = 14;
  static constexpr int kCoupled = 2;
  static constexpr int kCurrentParam = 13;
  static constexpr bool kSemiImplicit = true;
  static constexpr NeuronParamInfo kParamInfo[kParams] = {
      {"c1", 16.0, FhnParamMap::kSoftplus, "E→E coupling, > 0"},
      {"c2", 12.0, FhnParamMap::kSoftplus, "I→E coupling (inhibitory), > 0"},
      {"c3", 15.0, FhnParamMap::kSoftplus, "E→I coupling, > 0"},
      {"c4", 3.0, FhnParamMap::kSoftplus, "I→I coupling (inhibitory), > 0"},
      {"ae", 1.3, FhnParamMap::kSoftplus, "E response's slope, > 0"},
      {"thetae", 4.0, FhnParamMap::kIdentity, "E response's threshold"},
      {"ai", 2.0, FhnParamMap::kSoftplus, "I response's slope, > 0"},
      {"thetai", 3.7, FhnParamMap::kIdentity, "I response's threshold"},
      {"re", 1.0, FhnParamMap::kSoftplus, "E refractory period, > 0"},
      {"ri", 1.0, FhnParamMap::kSoftplus, "I refractory period, > 0"},
      {"taue", 1.0, FhnParamMap::kSoftplus, "E time constant, > 0"},
      {"taui", 1.0, FhnParamMap::kSoftplus, "I time constant, > 0"},
      {"Q", 0.0, FhnParamMap::kIdentity, "constant input to I"},
      {"P", 0.0, FhnParamMap::kIdentity, "constant input to E (the current)"},
  };
  static constexpr NeuronStateInfo kStateInfo[kStates] = {{"E", 0.0}, {"I", 0.0}};

  // One population's equation: dX/dt = (−X + (k − r X) S(u)) / τ with u its summed input.
  template <typename T>
  static DYNPMNN_HD T population(T X, T u, T a, T theta, T r, T tau) {
    const T s = fhn_map_sigmoid(a * (u - theta)) - fhn_map_sigmoid(-a * theta);
    return (-X + (fhn_map_sigmoid(a * theta) - r * X) * s) / tau;
  }

  template <typename T>
  static DYNPMNN_HD void field(const T (&x)[2], const T (&p)[14], T current, T (&f)[2]) {
    const T E = x[0], I = x[1];
    f[0] = population(E, p[0] * E - p[1] * I + current, p[4], p[5], p[8], p[10]);
    f[1] = population(I, p[2] * E - p[3] * I + p[12], p[6], p[7], p[9], p[11]);
  }

  // population's reverse, λ = ∂L/∂f: returns ∂L/∂u; adds ∂L/∂X to lx_self and the a, θ, r and τ
  // gradients to theirs.
  template <typename T>
  static DYNPMNN_HD T population_vjp(T X, T u, T a, T theta, T r, T tau, T lambda, T& lx_self, T& la, T& ltheta,
                                     T& lr, T& ltau) {
    const T z = a * (u - theta);
    const T s = fhn_map_sigmoid(z) - fhn_map_sigmoid(-a * theta);
    const T k = fhn_map_sigmoid(a * theta);
    const T gain = k - r * X;
    // σ′ at z and at ±aθ (σ′ is even), in the sigmoid map's overflow-free form.
    const T dz = fhn_param_map_derivative(FhnParamMap::kSigmoid, z);
    const T d0 = fhn_param_map_derivative(FhnParamMap::kSigmoid, a * theta);
    const T l = lambda / tau;
    const T lu = l * gain * a * dz;
    lx_self += -l * (T(1) + r * s);
    // ∂S/∂a = (u − θ)σ′(z) + θσ′(aθ), ∂k/∂a = θσ′(aθ); ∂S/∂θ = a(σ′(aθ) − σ′(z)), ∂k/∂θ = aσ′(aθ).
    la += l * (theta * d0 * s + gain * ((u - theta) * dz + theta * d0));
    ltheta += l * a * (d0 * s + gain * (d0 - dz));
    lr -= l * X * s;
    ltau -= l * (-X + gain * s) / tau;
    return lu;
  }

  template <typename T>
  static DYNPMNN_HD void field_vjp(const T (&x)[2], const T (&p)[14], T current, const T (&lf)[2], T (&lx)[2],
                                   T (&lp)[14], T& lcur) {
    const T E = x[0], I = x[1];
    const T ue = p[0] * E - p[1] * I + current;
    const T ui = p[2] * E - p[3] * I + p[12];
    const T lue = population_vjp(E, ue, p[4], p[5], p[8], p[10], lf[0], lx[0], lp[4], lp[5], lp[8], lp[10]);
    const T lui = population_vjp(I, ui, p[6], p[7], p[9], p[11], lf[1], lx[1], lp[6], lp[7], lp[9], lp[11]);
    lx[0] += p[0] * lue + p[2] * lui;
    lx[1] -= p[1] * lue + p[3] * lui;
    lp[0] += E * lue;
    lp[1] -= I * lue;
    lp[2] += E * lui;
    lp[3] -= I * lui;
    lp[12] += lui;
    lcur += lue;
  }

  // One population's semi-implicit step (see the top of this file), h = dt/τ:
  //   X' = (X + h k S(u)) / (1 + h (1 + r S(u))).
  template <typename T>
  static DYNPMNN_HD T population_imex(T X, T u, T a, T theta, T r, T tau, T dt) {
    const T s = fhn_map_sigmoid(a * (u - theta)) - fhn_map_sigmoid(-a * theta);
    const T h = dt / tau;
    return (X + h * fhn_map_sigmoid(a * theta) * s) / (T(1) + h * (T(1) + r * s));
  }

  // population_imex's reverse, λ = ∂L/∂X': returns ∂L/∂u; adds ∂L/∂X to lx_self and the a, θ, r
  // and τ gradients to theirs. X' = N/Q, so with μ = λ/Q: ∂L/∂X = μ, and for the rest
  // ∂L/∂θ = μ (∂N/∂θ − X' ∂Q/∂θ): ∂L/∂S = μ h (k − r X'), ∂L/∂k = μ h S, ∂L/∂r = −μ h S X',
  // ∂L/∂h = μ (k S − X'(1 + r S)) and ∂h/∂τ = −h/τ; S and k reach a, θ and u as in population_vjp.
  template <typename T>
  static DYNPMNN_HD T population_imex_vjp(T X, T u, T a, T theta, T r, T tau, T dt, T lambda, T& lx_self, T& la,
                                          T& ltheta, T& lr, T& ltau) {
    const T z = a * (u - theta);
    const T s = fhn_map_sigmoid(z) - fhn_map_sigmoid(-a * theta);
    const T k = fhn_map_sigmoid(a * theta);
    const T h = dt / tau;
    const T q = T(1) + h * (T(1) + r * s);
    const T xn = (X + h * k * s) / q;
    const T dz = fhn_param_map_derivative(FhnParamMap::kSigmoid, z);
    const T d0 = fhn_param_map_derivative(FhnParamMap::kSigmoid, a * theta);
    const T mu = lambda / q, mh = mu * h;
    const T ls = mh * (k - r * xn);
    const T lk = mh * s;
    lx_self += mu;
    // ∂S/∂a = (u − θ)σ′(z) + θσ′(aθ), ∂k/∂a = θσ′(aθ); ∂S/∂θ = a(σ′(aθ) − σ′(z)), ∂k/∂θ = aσ′(aθ).
    la += ls * ((u - theta) * dz + theta * d0) + lk * theta * d0;
    ltheta += a * (ls * (d0 - dz) + lk * d0);
    lr -= mh * s * xn;
    ltau -= mu * (k * s - xn * (T(1) + r * s)) * h / tau;
    return ls * a * dz;
  }

  // The semi-implicit step: both populations' at the old (E, I) (see the top of this file).
  template <typename T>
  static DYNPMNN_HD void semi_implicit_step(const T (&x)[2], const T (&p)[14], T current, T dt, T (&xn)[2]) {
    const T E = x[0], I = x[1];
    xn[0] = population_imex(E, p[0] * E - p[1] * I + current, p[4], p[5], p[8], p[10], dt);
    xn[1] = population_imex(I, p[2] * E - p[3] * I + p[12], p[6], p[7], p[9], p[11], dt);
  }

  template <typename T>
  static DYNPMNN_HD void semi_implicit_reverse(const T (&x)[2], const T (&p)[14], T current, T dt, const T (&ln)[2],
                                               T (&lx)[2], T (&lp)[14], T& lcur) {
    const T E = x[0], I = x[1];
    const T ue = p[0] * E - p[1] * I + current;
    const T ui = p[2] * E - p[3] * I + p[12];
    lx[0] = lx[1] = T(0);
    const T lue = population_imex_vjp(E, ue, p[4], p[5], p[8], p[10], dt, ln[0], lx[0], lp[4], lp[5], lp[8], lp[10]);
    const T lui = population_imex_vjp(I, ui, p[6], p[7], p[9], p[11], dt, ln[1], lx[1], lp[6], lp[7], lp[9], lp[11]);
    lx[0] += p[0] * lue + p[2] * lui;
    lx[1] -= p[1] * lue + p[3] * lui;
    lp[0] += E * lue;
    lp[1] -= I * lue;
    lp[2] += E * lui;
    lp[3] -= I * lui;
    lp[12] += lui;
    lcur += lue;
  }
};

}  // namespace dynpmnn
