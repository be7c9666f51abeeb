// CPU reference ops of the Neural ODE block's solvers (the GPU twins are in ode.cu / ode_gpu.h).
// Per-element math in ode_math.h. Row-major; shapes in comments.
#pragma once

#include <cstddef>

#include "kernels/ode_math.h"

namespace dynpmnn {

// out[i] = base[i] + Σ_j w_j·x_j[i] over n elements; base may be null (0) and may alias out.
template <typename T>
void ode_combine_cpu(const T* base, const OdeTerms<T>& terms, std::size_t n, T* out);

// z (B, H+1) = [y (B, H) | t]: the vector field's input, time as the last column.
template <typename T>
void ode_concat_time_cpu(const T* y, T t, int B, int H, T* z);

// dy (B, H) += dz (B, H+1) without its time column.
template <typename T>
void ode_add_state_grad_cpu(const T* dz, int B, int H, T* dy);

// Σ_i ode_error_term(err_i, y0_i, y1_i) with err = Σ_j w_j·x_j (the terms carry h·e_j), in double.
template <typename T>
double ode_error_sq_sum_cpu(const OdeTerms<T>& err, const T* y0, const T* y1, std::size_t n, double rtol,
                            double atol);

// Σ_i ode_scaled_term(x_i, minus_i, y0_i) in double; minus may be null (0).
template <typename T>
double ode_scaled_sq_sum_cpu(const T* x, const T* minus, const T* y0, std::size_t n, double rtol, double atol);

}  // namespace dynpmnn
