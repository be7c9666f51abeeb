// Helpers of the tests that train a Backend (CPU against CUDA, one run against another): a scoped
// environment variable, the parameters in and out of a backend, and the tolerance on parameters
// after Adam steps in float against double.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "host/backend.h"
#include "models/dynpmnn.h"

namespace dynpmnn::test {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_.c_str(), old_->c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

inline std::vector<double> initial_params(const ModelSpec& spec, std::uint64_t seed) {
  ParamTable table(spec);
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  return p;
}

inline std::vector<double> params_of(const Backend& b, std::size_t n) {
  std::vector<double> p(n);
  b.get_params(p);
  return p;
}

// Training tolerances, float32 GPU against the double CPU reference.
// Each Adam step moves a parameter by lr·m̂/(√v̂ + eps), and m̂/√v̂ does not depend on the
// gradient's scale, only on its direction through time: a relative error ε in the gradients gives
// an error of about ε·lr per step (m̂ and √v̂ see the same relative error, so it mostly cancels).
// Float gradients of a 20-step model carry ε ≈ 1e-6; steps compound mildly (lr·Hessian/√v̂ is
// about 1e-3 per step, (1 + 1e-3)^126 ≈ 1.1). We allow 1e-3·lr per step, a thousand times the
// expected error, yet a single missing, repeated or misordered step (an error of about lr) is
// still 30 times the tolerance. Plus float's own rounding of the parameter, 1e-6·|θ|.
inline double param_tolerance(double lr, long steps, double theta) {
  return 1e-3 * lr * static_cast<double>(steps) + 1e-6 * std::abs(theta);
}

inline double param_tolerance(const TrainHyper& h, long steps, double theta) {
  return param_tolerance(h.adam.lr, steps, theta);
}

}  // namespace dynpmnn::test
