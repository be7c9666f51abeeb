#include "kernels/fhn.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/integrator_dispatch.h"

namespace dynpmnn {

const char* to_string(Coupling c) {
  switch (c) {
    case Coupling::kInitialCondition: return "initial";
    case Coupling::kCurrent: return "current";
  }
  return "?";
}

Coupling coupling_from_string(const std::string& s) {
  if (s == "initial" || s == "initial_condition" || s == "ic") return Coupling::kInitialCondition;
  if (s == "current") return Coupling::kCurrent;
  throw std::invalid_argument("unknown coupling '" + s + "' (expected 'initial' or 'current')");
}

const char* to_string(Integrator i) {
  switch (i) {
    case Integrator::kEuler: return "euler";
    case Integrator::kImex: return "imex";
    case Integrator::kHeun: return "heun";
    case Integrator::kRk4: return "rk4";
  }
  return "?";
}

Integrator integrator_from_string(const std::string& s) {
  if (s == "euler") return Integrator::kEuler;
  if (s == "imex" || s == "semi-implicit") return Integrator::kImex;
  if (s == "heun" || s == "rk2") return Integrator::kHeun;
  if (s == "rk4") return Integrator::kRk4;
  throw std::invalid_argument("unknown integrator '" + s + "' (expected euler, imex, heun or rk4)");
}

int FhnShape::max_steps() const {
  int most = 0;
  for (int m = 0; m < models; ++m) most = std::max(most, step_of(m).steps);
  return most;
}

void FhnShape::validate() const {
  if (models <= 0) throw std::invalid_argument("FHN layer: models must be > 0, got " + std::to_string(models));
  if (batch < 0) throw std::invalid_argument("FHN layer: batch must be >= 0, got " + std::to_string(batch));
  if (neurons <= 0) throw std::invalid_argument("FHN layer: neurons must be > 0, got " + std::to_string(neurons));
  for (int m = 0; m < models; ++m) {
    const FhnModelStep st = step_of(m);
    const std::string who = per_model ? "FHN layer, model " + std::to_string(m) + ": " : "FHN layer: ";
    if (st.steps <= 0) throw std::invalid_argument(who + "steps must be > 0, got " + std::to_string(st.steps));
    if (!(st.dt > 0) || !std::isfinite(st.dt)) throw std::invalid_argument(who + "dt must be > 0 and finite");
    if (std::isnan(st.clip)) throw std::invalid_argument(who + "clip is NaN");
  }
}

namespace {

template <typename T>
void initial_state(const FhnShape& s, const T* in, int b, int n, T& v, T& w, T& current) {
  const int N = s.neurons;
  if (s.coupling == Coupling::kInitialCondition) {
    v = in[static_cast<std::size_t>(b) * 2 * N + n];
    w = in[static_cast<std::size_t>(b) * 2 * N + N + n];
    current = T(0);
  } else {
    v = T(0);
    w = T(0);
    current = in[static_cast<std::size_t>(b) * N + n];
  }
}


// One model's rows: `in`, `out`, the parameters and the checkpoints already point at its block.
template <Integrator S, typename T>
bool fhn_forward_model(const FhnShape& s, const FhnModelStep& st, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v,
                       T* ckpt_w, std::size_t stride) {
  const int N = s.neurons;
  bool finite = true;
  for (int b = 0; b < s.batch; ++b) {
    for (int n = 0; n < N; ++n) {
      T v, w, extra;
      initial_state(s, in, b, n, v, w, extra);
      const FhnParams<T> prm{p.a[n], p.b[n], p.g[n], p.I[n]};
      const std::size_t at = static_cast<std::size_t>(b) * N + n;
      fhn_forward_trajectory<S>(v, w, prm, prm.I + extra, T(st.dt), st.steps, T(st.clip),
                             ckpt_v ? ckpt_v + at : nullptr, ckpt_w ? ckpt_w + at : nullptr, stride);
      out[static_cast<std::size_t>(b) * 2 * N + n] = v;
      out[static_cast<std::size_t>(b) * 2 * N + N + n] = w;
      finite = finite && is_finite_value(v) && is_finite_value(w);
    }
  }
  return finite;
}

template <Integrator S, typename T>
void fhn_backward_model(const FhnShape& s, const FhnModelStep& st, const T* in, FhnParamPtrs<T> p, const T* ckpt_v,
                        const T* ckpt_w, std::size_t stride, const T* d_out, T* d_in, FhnGradPtrs<T> d_params) {
  const int N = s.neurons;
  for (int n = 0; n < N; ++n) {
    FhnParamGrad<T> sum;
    const FhnParams<T> prm{p.a[n], p.b[n], p.g[n], p.I[n]};
    for (int b = 0; b < s.batch; ++b) {
      T v0, w0, extra;
      initial_state(s, in, b, n, v0, w0, extra);
      const std::size_t at = static_cast<std::size_t>(b) * N + n;
      T lv = d_out[static_cast<std::size_t>(b) * 2 * N + n];
      T lw = d_out[static_cast<std::size_t>(b) * 2 * N + N + n];
      FhnParamGrad<T> grad;
      fhn_backward_trajectory<S>(v0, w0, prm, prm.I + extra, T(st.dt), st.steps, T(st.clip),
                              ckpt_v ? ckpt_v + at : nullptr, ckpt_w ? ckpt_w + at : nullptr, stride, lv,
                              lw, grad);
      if (s.coupling == Coupling::kInitialCondition) {
        d_in[static_cast<std::size_t>(b) * 2 * N + n] = lv;
        d_in[static_cast<std::size_t>(b) * 2 * N + N + n] = lw;
      } else {
        d_in[static_cast<std::size_t>(b) * N + n] = grad.I;
      }
      sum.a += grad.a;
      sum.b += grad.b;
      sum.g += grad.g;
      sum.I += grad.I;
    }
    if (d_params.a) d_params.a[n] = sum.a;
    if (d_params.b) d_params.b[n] = sum.b;
    if (d_params.g) d_params.g[n] = sum.g;
    if (d_params.I) d_params.I[n] = sum.I;
  }
}

// Model m's block of a population's arrays: rows (B, width) at m · B · width, parameters at m · N,
// checkpoints at m · B · N within each checkpoint's (P, B, N) slab.
struct ModelBlock {
  std::size_t in, out, param, ckpt;
};

ModelBlock model_block(const FhnShape& s, int m) {
  const std::size_t B = s.batch, N = s.neurons;
  return {m * B * s.input_width(), m * B * s.output_width(), m * N, m * B * N};
}

template <typename T>
T* at_or_null(T* p, std::size_t offset) {
  return p ? p + offset : nullptr;
}

template <Integrator S, typename T>
bool fhn_forward_scheme(const FhnShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w) {
  // A lone model's checkpoint stride is B · N, as it always was; a population's is P · B · N.
  const std::size_t stride = static_cast<std::size_t>(s.models) * s.batch * s.neurons;
  bool finite = true;
  for (int m = 0; m < s.models; ++m) {
    const ModelBlock k = model_block(s, m);
    const FhnParamPtrs<T> pm{p.a + k.param, p.b + k.param, p.g + k.param, p.I + k.param};
    finite = fhn_forward_model<S>(s, s.step_of(m), in + k.in, pm, out + k.out, at_or_null(ckpt_v, k.ckpt),
                                  at_or_null(ckpt_w, k.ckpt), stride) && finite;
  }
  return finite;
}

template <Integrator S, typename T>
void fhn_backward_scheme(const FhnShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v,
                         const T* ckpt_w, const T* d_out, T* d_in, FhnGradPtrs<T> d_params) {
  const std::size_t stride = static_cast<std::size_t>(s.models) * s.batch * s.neurons;
  for (int m = 0; m < s.models; ++m) {
    const ModelBlock k = model_block(s, m);
    const FhnParamPtrs<T> pm{p.a + k.param, p.b + k.param, p.g + k.param, p.I + k.param};
    const FhnGradPtrs<T> gm{at_or_null(d_params.a, k.param), at_or_null(d_params.b, k.param),
                            at_or_null(d_params.g, k.param), at_or_null(d_params.I, k.param)};
    fhn_backward_model<S>(s, s.step_of(m), in + k.in, pm, at_or_null(ckpt_v, k.ckpt), at_or_null(ckpt_w, k.ckpt),
                          stride, d_out + k.out, d_in + k.in, gm);
  }
}

}  // namespace

// The scheme becomes a template parameter here, so the per-step code has no run-time branch.
template <typename T>
bool fhn_forward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w) {
  return dispatch_integrator(s.integrator, "fhn_forward_cpu", [&](auto scheme) {
    return fhn_forward_scheme<decltype(scheme)::value>(s, in, p, out, ckpt_v, ckpt_w);
  });
}

template <typename T>
void fhn_backward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v, const T* ckpt_w,
                      const T* d_out, T* d_in, FhnGradPtrs<T> d_params) {
  dispatch_integrator(s.integrator, "fhn_backward_cpu", [&](auto scheme) {
    fhn_backward_scheme<decltype(scheme)::value>(s, in, p, ckpt_v, ckpt_w, d_out, d_in, d_params);
  });
}

template bool fhn_forward_cpu<float>(const FhnShape&, const float*, FhnParamPtrs<float>, float*, float*, float*);
template bool fhn_forward_cpu<double>(const FhnShape&, const double*, FhnParamPtrs<double>, double*, double*, double*);
template void fhn_backward_cpu<float>(const FhnShape&, const float*, FhnParamPtrs<float>, const float*,
                                      const float*, const float*, float*, FhnGradPtrs<float>);
template void fhn_backward_cpu<double>(const FhnShape&, const double*, FhnParamPtrs<double>, const double*,
                                       const double*, const double*, double*, FhnGradPtrs<double>);

}  // namespace dynpmnn
