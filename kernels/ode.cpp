#include "kernels/ode.h"

namespace dynpmnn {

template <typename T>
void ode_combine_cpu(const T* base, const OdeTerms<T>& terms, std::size_t n, T* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = ode_combine_element(base, terms, i);
}

template <typename T>
void ode_concat_time_cpu(const T* y, T t, int B, int H, T* z) {
  for (int b = 0; b < B; ++b) {
    const T* src = y + static_cast<std::size_t>(b) * H;
    T* dst = z + static_cast<std::size_t>(b) * (H + 1);
    for (int i = 0; i < H; ++i) dst[i] = src[i];
    dst[H] = t;
  }
}

template <typename T>
void ode_add_state_grad_cpu(const T* dz, int B, int H, T* dy) {
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < H; ++i) dy[static_cast<std::size_t>(b) * H + i] += dz[static_cast<std::size_t>(b) * (H + 1) + i];
}

template <typename T>
double ode_error_sq_sum_cpu(const OdeTerms<T>& err, const T* y0, const T* y1, std::size_t n, double rtol,
                            double atol) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i)
    sum += ode_error_term(ode_combine_element<T>(nullptr, err, i), y0[i], y1[i], rtol, atol);
  return sum;
}

template <typename T>
double ode_scaled_sq_sum_cpu(const T* x, const T* minus, const T* y0, std::size_t n, double rtol, double atol) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += ode_scaled_term(x[i], minus ? minus[i] : T(0), y0[i], rtol, atol);
  return sum;
}

#define DYNPMNN_INSTANTIATE_ODE(T)                                                                          \
  template void ode_combine_cpu<T>(const T*, const OdeTerms<T>&, std::size_t, T*);                         \
  template void ode_concat_time_cpu<T>(const T*, T, int, int, T*);                                         \
  template void ode_add_state_grad_cpu<T>(const T*, int, int, T*);                                         \
  template double ode_error_sq_sum_cpu<T>(const OdeTerms<T>&, const T*, const T*, std::size_t, double, double); \
  template double ode_scaled_sq_sum_cpu<T>(const T*, const T*, const T*, std::size_t, double, double);
DYNPMNN_INSTANTIATE_ODE(float)
DYNPMNN_INSTANTIATE_ODE(double)

}  // namespace dynpmnn
