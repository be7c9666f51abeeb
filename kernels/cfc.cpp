// The CfC cell head on the CPU: cfc_math.h over every (sample, unit).
#include "kernels/cfc.h"

#include <cstddef>

#include "kernels/cfc_math.h"

namespace dynpmnn {

template <typename T>
void cfc_forward_cpu(const T* z, int B, int U, T t, T* out) {
  for (int b = 0; b < B; ++b) {
    const T* row = z + static_cast<std::size_t>(b) * 4 * U;
    for (int j = 0; j < U; ++j)
      out[static_cast<std::size_t>(b) * U + j] = cfc_unit_forward(row[j], row[U + j], row[2 * U + j], row[3 * U + j], t);
  }
}

template <typename T>
void cfc_backward_cpu(const T* z, const T* d_out, int B, int U, T t, T* dz) {
  for (int b = 0; b < B; ++b) {
    const std::size_t base = static_cast<std::size_t>(b) * 4 * U;
    const T* row = z + base;
    T* drow = dz + base;
    for (int j = 0; j < U; ++j) {
      const CfcUnitGrad<T> g = cfc_unit_backward(row[j], row[U + j], row[2 * U + j], row[3 * U + j], t,
                                                 d_out[static_cast<std::size_t>(b) * U + j]);
      drow[j] = g.ff1;
      drow[U + j] = g.ff2;
      drow[2 * U + j] = g.t_a;
      drow[3 * U + j] = g.t_b;
    }
  }
}

template void cfc_forward_cpu<float>(const float*, int, int, float, float*);
template void cfc_forward_cpu<double>(const double*, int, int, double, double*);
template void cfc_backward_cpu<float>(const float*, const float*, int, int, float, float*);
template void cfc_backward_cpu<double>(const double*, const double*, int, int, double, double*);

}  // namespace dynpmnn
