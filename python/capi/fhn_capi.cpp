// The C ABI of dynpmnn_fhn.h over kernels/fhn.h: every entry point converts the shape, runs the op
// and turns an exception into -1 and a thread-local message, so nothing C++ crosses the boundary.
#include "dynpmnn_fhn.h"

#include <exception>
#include <stdexcept>
#include <string>

#include "kernels/fhn.h"
#include "models/dynpmnn.h"
#if DYNPMNN_HAVE_CUDA
#include "kernels/fhn_gpu.h"
#endif

namespace {

thread_local std::string last_error;

template <typename F>
int guarded(F&& f) {
  try {
    f();
    last_error.clear();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return -1;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// The op's shape from the C one; NeuronShape::validate checks the numbers, the codes are checked here
// (a cast int that names no scheme would otherwise reach the dispatch).
dynpmnn::NeuronShape to_shape(const dynpmnn_fhn_shape* c) {
  require(c != nullptr, "dynpmnn_fhn: shape is null");
  require(c->coupling == 0 || c->coupling == 1,
          "dynpmnn_fhn: coupling code " + std::to_string(c->coupling) + " (expected 0 initial or 1 current)");
  require(c->integrator >= 0 && c->integrator <= 3,
          "dynpmnn_fhn: integrator code " + std::to_string(c->integrator) +
              " (expected 0 euler, 1 imex, 2 heun or 3 rk4)");
  dynpmnn::NeuronShape s;
  s.batch = c->batch;
  s.neurons = c->neurons;
  s.steps = c->steps;
  s.dt = c->dt;
  s.clip = c->clip;
  s.coupling = static_cast<dynpmnn::Coupling>(c->coupling);
  s.integrator = static_cast<dynpmnn::Integrator>(c->integrator);
  s.validate();
  return s;
}

template <typename T>
void require_arrays(std::initializer_list<const T*> arrays, const char* op) {
  for (const T* p : arrays) require(p != nullptr, std::string(op) + ": an input or output array is null");
}

}  // namespace

extern "C" {

int dynpmnn_fhn_abi_version(void) { return DYNPMNN_FHN_ABI_VERSION; }

int dynpmnn_fhn_has_cuda(void) {
#if DYNPMNN_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

const char* dynpmnn_fhn_last_error(void) { return last_error.c_str(); }

int dynpmnn_fhn_integrator_code(const char* name, int* code) {
  return guarded([&] {
    require(name != nullptr && code != nullptr, "dynpmnn_fhn_integrator_code: null argument");
    *code = static_cast<int>(dynpmnn::integrator_from_string(name));
  });
}

int dynpmnn_fhn_coupling_code(const char* name, int* code) {
  return guarded([&] {
    require(name != nullptr && code != nullptr, "dynpmnn_fhn_coupling_code: null argument");
    *code = static_cast<int>(dynpmnn::coupling_from_string(name));
  });
}

int dynpmnn_fhn_time_steps(double dt, double t_end, int* steps) {
  return guarded([&] {
    require(steps != nullptr, "dynpmnn_fhn_time_steps: null argument");
    *steps = dynpmnn::time_steps(dt, t_end);
  });
}

int dynpmnn_fhn_checkpoint_elems(const dynpmnn_fhn_shape* shape, size_t* elems) {
  return guarded([&] {
    require(elems != nullptr, "dynpmnn_fhn_checkpoint_elems: null argument");
    *elems = to_shape(shape).checkpoint_elems();
  });
}

int dynpmnn_fhn_forward_cpu_f64(const dynpmnn_fhn_shape* shape, const double* in, const double* a, const double* b,
                                const double* g, const double* current, double* out, double* ckpt_v,
                                double* ckpt_w, int* finite) {
  return guarded([&] {
    const dynpmnn::NeuronShape s = to_shape(shape);
    require_arrays<double>({a, b, g, current, out}, "dynpmnn_fhn_forward_cpu_f64");
    require(s.batch == 0 || in != nullptr, "dynpmnn_fhn_forward_cpu_f64: in is null");
    require((ckpt_v == nullptr) == (ckpt_w == nullptr) || s.checkpoint_elems() == 0,
            "dynpmnn_fhn_forward_cpu_f64: give both checkpoint arrays or neither");
    const bool ok = dynpmnn::fhn_forward_cpu<double>(s, in, {a, b, g, current}, out, ckpt_v, ckpt_w);
    if (finite) *finite = ok ? 1 : 0;
  });
}

int dynpmnn_fhn_backward_cpu_f64(const dynpmnn_fhn_shape* shape, const double* in, const double* a, const double* b,
                                 const double* g, const double* current, const double* ckpt_v,
                                 const double* ckpt_w, const double* d_out, double* d_in, double* d_a, double* d_b,
                                 double* d_g, double* d_current) {
  return guarded([&] {
    const dynpmnn::NeuronShape s = to_shape(shape);
    require_arrays<double>({a, b, g, current}, "dynpmnn_fhn_backward_cpu_f64");
    require(s.batch == 0 || (in && d_out && d_in), "dynpmnn_fhn_backward_cpu_f64: in, d_out or d_in is null");
    require(s.checkpoint_elems() == 0 || (ckpt_v && ckpt_w),
            "dynpmnn_fhn_backward_cpu_f64: the forward's checkpoints are needed (it ran without them)");
    dynpmnn::fhn_backward_cpu<double>(s, in, {a, b, g, current}, ckpt_v, ckpt_w, d_out, d_in,
                                      {d_a, d_b, d_g, d_current});
  });
}

#if DYNPMNN_HAVE_CUDA

int dynpmnn_fhn_backward_workspace_floats(const dynpmnn_fhn_shape* shape, size_t* floats) {
  return guarded([&] {
    require(floats != nullptr, "dynpmnn_fhn_backward_workspace_floats: null argument");
    *floats = dynpmnn::fhn_backward_workspace_floats(to_shape(shape));
  });
}

int dynpmnn_fhn_forward_cuda_f32(const dynpmnn_fhn_shape* shape, const float* in, const float* a, const float* b,
                                 const float* g, const float* current, float* out, float* ckpt_v, float* ckpt_w,
                                 void* stream) {
  return guarded([&] {
    const dynpmnn::NeuronShape s = to_shape(shape);
    require_arrays<float>({a, b, g, current, out}, "dynpmnn_fhn_forward_cuda_f32");
    // No non-finite flag: the caller checks the output (torch.isfinite) where it wants to.
    dynpmnn::fhn_forward_gpu(s, in, {a, b, g, current}, out, ckpt_v, ckpt_w, nullptr, 0,
                             static_cast<cudaStream_t>(stream));
  });
}

int dynpmnn_fhn_backward_cuda_f32(const dynpmnn_fhn_shape* shape, const float* in, const float* a, const float* b,
                                  const float* g, const float* current, const float* ckpt_v, const float* ckpt_w,
                                  const float* d_out, float* d_in, float* d_a, float* d_b, float* d_g,
                                  float* d_current, float* workspace, void* stream) {
  return guarded([&] {
    const dynpmnn::NeuronShape s = to_shape(shape);
    require_arrays<float>({a, b, g, current}, "dynpmnn_fhn_backward_cuda_f32");
    const bool any_param = d_a || d_b || d_g || d_current;
    require(!any_param || workspace != nullptr || s.batch == 0,
            "dynpmnn_fhn_backward_cuda_f32: parameter gradients need the workspace "
            "(dynpmnn_fhn_backward_workspace_floats)");
    dynpmnn::fhn_backward_gpu(s, in, {a, b, g, current}, ckpt_v, ckpt_w, d_out, d_in, {d_a, d_b, d_g, d_current},
                              workspace, static_cast<cudaStream_t>(stream));
  });
}

#else

namespace {
int no_cuda(const char* op) {
  last_error = std::string(op) + ": this build of the dynpmnn_fhn library has no CUDA op (build it where nvcc is "
               "found, or with -DDYNPMNN_CUDA=ON)";
  return -1;
}
}  // namespace

int dynpmnn_fhn_backward_workspace_floats(const dynpmnn_fhn_shape*, size_t*) {
  return no_cuda("dynpmnn_fhn_backward_workspace_floats");
}
int dynpmnn_fhn_forward_cuda_f32(const dynpmnn_fhn_shape*, const float*, const float*, const float*, const float*,
                                 const float*, float*, float*, float*, void*) {
  return no_cuda("dynpmnn_fhn_forward_cuda_f32");
}
int dynpmnn_fhn_backward_cuda_f32(const dynpmnn_fhn_shape*, const float*, const float*, const float*, const float*,
                                  const float*, const float*, const float*, const float*, float*, float*, float*,
                                  float*, float*, float*, void*) {
  return no_cuda("dynpmnn_fhn_backward_cuda_f32");
}

#endif

}  // extern "C"
