// The Neural ODE block (Chen et al. 2018, as the paper's torchdiffeq baseline): integrates
//   dh/dt = f(h, t),  t ∈ [0, 1],
// f an MLP over the concatenation [h, t]: Linear(H+1 → V) → LayerNorm → tanh → (Linear(V → V) →
// LayerNorm → tanh) × (vf_layers − 2) → Linear(V → H). Solvers: classic RK4 with a fixed number of
// steps, or Dormand–Prince 5(4) with torchdiffeq's dopri5 step-size control (error ratio = RMS
// over every element of the minibatch's state, so the whole batch shares one step sequence).
//
// Gradients are exact reverse mode through the discrete solver steps the forward took
// ("discretise-then-optimise"), not the adjoint ODE: every vector-field evaluation of an accepted
// step is stored and back-propagated. For dopri5 the step sizes are treated as constants: the
// controller, the initial step selection and rejected attempts are not differentiated (their
// evaluations are not stored). Unlike torchdiffeq, which steps past t = 1 and interpolates, the
// last step is shortened to end at t = 1 exactly.
#pragma once

#include <cstddef>
#include <deque>
#include <stdexcept>
#include <vector>

#include "kernels/ode_math.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// Where a kOde layer's vector field lives in the flat parameter array, and its solver settings.
struct OdeLayout {
  int H = 0, V = 0, vf_layers = 0;
  OdeSolver solver = OdeSolver::kRk4;
  int steps = 1;
  double rtol = 0, atol = 0;
  int max_steps = 0;
  std::vector<std::size_t> W, bias;   // (vf_layers) offsets: (out_width(j), in_width(j)) and (out_width(j))
  std::vector<std::size_t> gamma, beta;  // (vf_layers − 1) offsets of (V) each
  std::size_t first = 0, end = 0;     // [first, end): every vector-field parameter, contiguous

  int in_width(int j) const { return j == 0 ? H + 1 : V; }
  int out_width(int j) const { return j + 1 == vf_layers ? H : V; }
};


// dopri5 needed more than ode_max_steps attempted steps (or its step size stopped advancing t).
struct OdeStepLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A right-hand side for the integrator: evaluations are numbered by `record` so that the backward
// can find what each one kept (kScratchRecord: nothing is kept).
inline constexpr std::size_t kScratchRecord = static_cast<std::size_t>(-1);

template <typename T>
class OdeVectorField {
 public:
  virtual ~OdeVectorField() = default;
  // k (n) = f(y (n), t).
  virtual void eval(const T* y, double t, std::size_t record, T* k) = 0;
  // dy (n) += (∂f/∂y)ᵀ·dk at that record's evaluation; parameter gradients are the field's business.
  virtual void eval_backward(std::size_t record, const T* dk, T* dy) = 0;
};

struct OdeSolveSettings {
  OdeSolver solver = OdeSolver::kRk4;
  int steps = 1;                    // rk4
  double rtol = 1e-7, atol = 1e-9;  // dopri5
  int max_steps = 1000;             // dopri5: attempted steps
  int layer = 0;                    // for messages
};

// Integrates over t ∈ [0, 1] and back-propagates through the steps it took (see the top of this
// file). Record numbering: stage i of accepted step s is record stages·s + i; dopri5's last stage
// (f at the step's end) is record stages·(s + 1), the next step's first.
template <typename T>
class RkIntegratorCpu {
 public:
  // y0 (n) → y1 (n). Returns false when a value became NaN or ±Inf (y1 is then not finite).
  // Throws OdeStepLimitError past max_steps.
  bool forward(OdeVectorField<T>& f, const OdeSolveSettings& settings, const T* y0, std::size_t n, T* y1);
  // After forward: dy1 (n) → dy0 (n).
  void backward(OdeVectorField<T>& f, const T* dy1, T* dy0);

  const std::vector<double>& step_sizes() const { return step_h_; }  // accepted, in order
  long evaluations() const { return evaluations_; }  // of the last forward, rejected and step selection included
  long rejected_steps() const { return rejected_; }
  // Tests: a non-empty list makes dopri5 take exactly these steps (no control, nothing rejected),
  // so a finite difference sees the same discrete map the backward differentiates.
  void replay_step_sizes(std::vector<double> h) { replay_ = std::move(h); }

 private:
  bool forward_fixed(OdeVectorField<T>& f, const T* y0, T* y1);
  bool forward_adaptive(OdeVectorField<T>& f, const T* y0, T* y1);
  void eval(OdeVectorField<T>& f, const T* y, double t, std::size_t record, T* k) {
    f.eval(y, t, record, k);
    ++evaluations_;
  }

  OdeSolveSettings settings_;
  std::size_t n_ = 0;
  std::vector<double> step_h_, replay_;
  long evaluations_ = 0, rejected_ = 0;
  std::vector<std::vector<T>> k_;          // (kOdeMaxTerms) × (n) stage derivatives; adjoints in backward
  std::vector<T> y_, stage_, next_, ybar_;  // (n) each
};

// The block on the CPU: Linear stack of the vector field over the flat parameter array.
template <typename T>
class OdeBlockCpu final : private OdeVectorField<T> {
 public:
  OdeBlockCpu(OdeLayout layout, int layer_index);

  // h0 (B, H) → h1 (B, H) at t = 1, keeping what backward needs. Returns false when a value became
  // NaN or ±Inf. Throws OdeStepLimitError past ode_max_steps.
  bool forward(const T* params, const T* h0, int B, T* h1);

  // After forward with the same params: dh1 (B, H) → dh0 (B, H) (overwritten); the vector field's
  // gradients are ADDED into grad (the whole flat array; only [first, end) is touched).
  void backward(const T* params, const T* dh1, T* dh0, T* grad);

  const RkIntegratorCpu<T>& integrator() const { return solver_; }
  RkIntegratorCpu<T>& integrator() { return solver_; }

 private:
  struct Eval {
    std::vector<T> z;                               // (B, H+1) [y, t]
    std::vector<std::vector<T>> xhat, normed, act;  // (vf_layers − 1) × (B, V)
    std::vector<std::vector<T>> rstd;               // (vf_layers − 1) × (B)
  };
  void eval(const T* y, double t, std::size_t record, T* k) override;
  void eval_backward(std::size_t record, const T* dk, T* dy) override;
  Eval& at(std::size_t record);

  OdeLayout layout_;
  OdeSolveSettings settings_;
  RkIntegratorCpu<T> solver_;
  int batch_ = 0;
  const T* params_ = nullptr;
  T* grad_ = nullptr;
  std::deque<Eval> records_;  // stable references as it grows
  Eval scratch_;
  std::vector<T> lin_;                       // (B, V)
  std::vector<T> d_a_, d_b_, grad_scratch_;  // (B, max(V, H+1)) twice, (end − first)
};

}  // namespace dynpmnn
