// Per-element arithmetic of the Neural ODE block's solvers, shared by the CPU reference (ode.cpp)
// and the CUDA kernels (ode.cu): the Butcher tableaus, the stage combinations and the terms of the
// adaptive solver's error norm. See models/ode_block.h for the block itself.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/hd.h"

namespace dynpmnn {

enum class OdeSolver : int { kRk4 = 0, kDopri5 = 1 };

inline const char* to_string(OdeSolver s) {
  switch (s) {
    case OdeSolver::kRk4: return "rk4";
    case OdeSolver::kDopri5: return "dopri5";
  }
  return "?";
}

inline OdeSolver ode_solver_from_string(const std::string& s) {
  if (s == "rk4") return OdeSolver::kRk4;
  if (s == "dopri5") return OdeSolver::kDopri5;
  throw std::invalid_argument("unknown ode_solver '" + s + "' (expected rk4 or dopri5)");
}

// The most terms one stage combination sums (DOPRI5's error estimate uses all seven stages).
inline constexpr int kOdeMaxTerms = 7;

// An explicit Runge–Kutta method: stage i evaluates f at t + c[i]·h and y + h·Σ_{j<i} a[i][j]·k_j;
// the step is y + h·Σ b[i]·k_i. `stages` counts the stages the step uses. DOPRI5 has a seventh,
// first-same-as-last stage (a[6] = b: f at the step's end, the next step's k_1), used only by the
// error estimate h·Σ e[i]·k_i.
struct RkTableau {
  int stages;
  double c[kOdeMaxTerms];
  double a[kOdeMaxTerms][kOdeMaxTerms];
  double b[kOdeMaxTerms];
  double e[kOdeMaxTerms];
  int order;  // of the solution; the step-size controller's exponent is 1 / order
};

inline constexpr RkTableau kRk4Tableau = {
    4,
    {0.0, 0.5, 0.5, 1.0},
    {{}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}},
    {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
    {},
    4,
};

// Dormand–Prince 5(4) with the embedded 4th-order weights torchdiffeq's dopri5 uses (Shampine's,
// the b* of its dense output), so that the error estimate, hence the step sequence, follows theirs.
inline constexpr RkTableau kDopri5Tableau = {
    6,
    {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0},
    {{},
     {1.0 / 5},
     {3.0 / 40, 9.0 / 40},
     {44.0 / 45, -56.0 / 15, 32.0 / 9},
     {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
     {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
     {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0},
    {35.0 / 384 - 1951.0 / 21600, 0.0, 500.0 / 1113 - 22642.0 / 50085, 125.0 / 192 - 451.0 / 720,
     -2187.0 / 6784 + 12231.0 / 42400, 11.0 / 84 - 649.0 / 6300, -1.0 / 60},
    5,
};

inline const RkTableau& tableau_of(OdeSolver s) { return s == OdeSolver::kRk4 ? kRk4Tableau : kDopri5Tableau; }

// Up to kOdeMaxTerms arrays and their weights, passed by value (so a CUDA kernel takes it as an
// argument and a captured graph keeps it).
template <typename T>
struct OdeTerms {
  const T* x[kOdeMaxTerms] = {};
  T w[kOdeMaxTerms] = {};
  int count = 0;
};

// base + Σ_j w_j·x_j[i] at element i (base may be null: 0). Used for the stage inputs, the step,
// and in the backward for the adjoint accumulations.
template <typename T>
DYNPMNN_HD T ode_combine_element(const T* base, const OdeTerms<T>& terms, std::size_t i) {
  T acc = base ? base[i] : T(0);
  for (int j = 0; j < terms.count; ++j) acc += terms.w[j] * terms.x[j][i];
  return acc;
}

// One element's squared term of torchdiffeq's error ratio: (err / (atol + rtol·max(|y0|, |y1|)))².
// The ratio is the root of the mean of these over every element of the minibatch's state.
template <typename T>
DYNPMNN_HD double ode_error_term(T err, T y0, T y1, double rtol, double atol) {
  const double a0 = fabs(static_cast<double>(y0)), a1 = fabs(static_cast<double>(y1));
  const double tol = atol + rtol * (a0 > a1 ? a0 : a1);
  const double r = static_cast<double>(err) / tol;
  return r * r;
}

// One element's squared term of the initial step selection's norms: ((x − minus) / (atol + rtol·|y0|))²,
// minus may be 0.
template <typename T>
DYNPMNN_HD double ode_scaled_term(T x, T minus, T y0, double rtol, double atol) {
  const double r = (static_cast<double>(x) - static_cast<double>(minus)) /
                   (atol + rtol * fabs(static_cast<double>(y0)));
  return r * r;
}

// torchdiffeq's step-size controller (safety 0.9, growth at most ×10, shrink at most ×0.2, and no
// shrink after an accepted step) for an error ratio that is finite and >= 0.
inline double ode_next_step(double h, double error_ratio, int order) {
  constexpr double kSafety = 0.9, kMaxGrowth = 10.0, kMaxShrink = 0.2;
  if (error_ratio == 0.0) return h * kMaxGrowth;
  const double lowest = error_ratio < 1.0 ? 1.0 : kMaxShrink;
  double factor = kSafety / std::pow(error_ratio, 1.0 / order);
  factor = factor < lowest ? lowest : factor;
  factor = factor > kMaxGrowth ? kMaxGrowth : factor;
  return h * factor;
}

// torchdiffeq's initial step (Hairer, Nørsett & Wanner, II.4) from d0 = ‖y0 / s‖, d1 = ‖f0 / s‖ and,
// given h0 = initial_step_trial(d0, d1), d2 = ‖(f(t0 + h0, y0 + h0 f0) − f0) / s‖ / h0, with
// s = atol + rtol·|y0| and ‖·‖ the RMS norm.
inline double ode_initial_step_trial(double d0, double d1) { return (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1; }

inline double ode_initial_step(double h0, double d1, double d2, int order) {
  const double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3)
                                                 : std::pow(0.01 / std::max(d1, d2), 1.0 / (order + 1));
  return std::min(100.0 * h0, h1);
}

}  // namespace dynpmnn
