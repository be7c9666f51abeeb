// The GPU twins of ode.h (ode.cu), float32, with the same layouts and semantics; per-element math
// from ode_math.h. Asynchronous on `stream`; the two sums write a device double that the caller
// copies back (the adaptive solver's step decision is made on the host).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/ode_math.h"

namespace dynpmnn {

// out[i] = base[i] + Σ_j w_j·x_j[i]; base may be null (0) and may alias out.
void ode_combine_gpu(const float* base, const OdeTerms<float>& terms, std::size_t n, float* out, cudaStream_t stream);

// z (B, H+1) = [y (B, H) | t].
void ode_concat_time_gpu(const float* y, float t, int B, int H, float* z, cudaStream_t stream);

// dy (B, H) += dz (B, H+1) without its time column.
void ode_add_state_grad_gpu(const float* dz, int B, int H, float* dy, cudaStream_t stream);

// *sum (device) = Σ_i ode_error_term(Σ_j w_j·x_j[i], y0[i], y1[i]), summed in double in a fixed order.
void ode_error_sq_sum_gpu(const OdeTerms<float>& err, const float* y0, const float* y1, std::size_t n, double rtol,
                          double atol, double* sum, cudaStream_t stream);

// *sum (device) = Σ_i ode_scaled_term(x[i], minus[i] (null: 0), y0[i]), in double, fixed order.
void ode_scaled_sq_sum_gpu(const float* x, const float* minus, const float* y0, std::size_t n, double rtol, double atol,
                           double* sum, cudaStream_t stream);

}  // namespace dynpmnn
