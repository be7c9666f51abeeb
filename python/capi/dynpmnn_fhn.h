/* The FitzHugh–Nagumo layer op (kernels/fhn.h) behind a C ABI: plain integers, doubles and raw
 * pointers, so any language's foreign-function interface reaches it without a compiled binding.
 * The Python package (python/dynpmnn/torch.py) loads it with ctypes, so one build serves every
 * PyTorch version; the autograd glue is Python.
 *
 * Layouts are the op's (row-major, contiguous): in (batch, input_width), input_width = 2N for
 * coupling "initial" (v0 | w0) and N for "current"; out (batch, 2N) = [v_T | w_T]; the neuron
 * parameters a, b, g, I and their gradients (N) each, physical values (I is the argument `current`:
 * a parameter named I would clash with C99's <complex.h>); checkpoints (checkpoint_elems) each.
 *
 * Every function returns 0 on success and -1 on failure; dynpmnn_fhn_last_error() then says what was
 * wrong (thread-local, valid until this thread's next call). */
#ifndef DYNPMNN_FHN_CAPI_H
#define DYNPMNN_FHN_CAPI_H

#include <stddef.h>

/* The library is built with hidden visibility; these are its only exported symbols. */
#if defined(__GNUC__)
#define DYNPMNN_FHN_API __attribute__((visibility("default")))
#else
#define DYNPMNN_FHN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature below changes; the Python loader refuses a library of another. */
#define DYNPMNN_FHN_ABI_VERSION 1

DYNPMNN_FHN_API int dynpmnn_fhn_abi_version(void);
/* 1 when the library was built with the CUDA op. */
DYNPMNN_FHN_API int dynpmnn_fhn_has_cuda(void);
DYNPMNN_FHN_API const char* dynpmnn_fhn_last_error(void);

/* Names as the CLI's keys spell them ("euler", "imex", "heun", "rk4"; "initial", "current") to the
 * op's codes; -1 with the error naming the value. */
DYNPMNN_FHN_API int dynpmnn_fhn_integrator_code(const char* name, int* code);
DYNPMNN_FHN_API int dynpmnn_fhn_coupling_code(const char* name, int* code);
/* t_end / dt, checked as the config checks it (models/dynpmnn.h time_steps). */
DYNPMNN_FHN_API int dynpmnn_fhn_time_steps(double dt, double t_end, int* steps);

typedef struct dynpmnn_fhn_shape {
  int batch;
  int neurons;
  int steps;
  double dt;
  double clip; /* <= 0: no clamping */
  int coupling;
  int integrator;
} dynpmnn_fhn_shape;

/* Elements of each of the two checkpoint arrays the forward writes for the backward. */
DYNPMNN_FHN_API int dynpmnn_fhn_checkpoint_elems(const dynpmnn_fhn_shape* shape, size_t* elems);

/* CPU, double. ckpt_v, ckpt_w may both be null (inference). *finite = 0 when an output is NaN/Inf. */
DYNPMNN_FHN_API int dynpmnn_fhn_forward_cpu_f64(const dynpmnn_fhn_shape* shape, const double* in, const double* a, const double* b,
                                const double* g, const double* current, double* out, double* ckpt_v, double* ckpt_w,
                                int* finite);
/* d_in (batch, input_width) overwritten; d_a .. d_current (N) overwritten with the batch sum, or null
 * (not wanted). */
DYNPMNN_FHN_API int dynpmnn_fhn_backward_cpu_f64(const dynpmnn_fhn_shape* shape, const double* in, const double* a, const double* b,
                                 const double* g, const double* current, const double* ckpt_v, const double* ckpt_w,
                                 const double* d_out, double* d_in, double* d_a, double* d_b, double* d_g,
                                 double* d_current);

/* CUDA, float, device pointers, asynchronous on `stream` (a cudaStream_t; null: the legacy default
 * stream). Fails with a message where the library has no CUDA op. */
DYNPMNN_FHN_API int dynpmnn_fhn_backward_workspace_floats(const dynpmnn_fhn_shape* shape, size_t* floats);
DYNPMNN_FHN_API int dynpmnn_fhn_forward_cuda_f32(const dynpmnn_fhn_shape* shape, const float* in, const float* a, const float* b,
                                 const float* g, const float* current, float* out, float* ckpt_v, float* ckpt_w,
                                 void* stream);
DYNPMNN_FHN_API int dynpmnn_fhn_backward_cuda_f32(const dynpmnn_fhn_shape* shape, const float* in, const float* a, const float* b,
                                  const float* g, const float* current, const float* ckpt_v, const float* ckpt_w,
                                  const float* d_out, float* d_in, float* d_a, float* d_b, float* d_g, float* d_current,
                                  float* workspace, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* DYNPMNN_FHN_CAPI_H */
