#include "kernels/loss.h"

#include <cstddef>

#include "kernels/loss_math.h"

namespace dynpmnn {

template <typename T>
double softmax_cross_entropy_cpu(const T* logits, const T* labels, int B, int K, T* dlogits, int denom) {
  if (B <= 0) return 0.0;
  const double scale = 1.0 / static_cast<double>(denom > 0 ? denom : B);
  double sum = 0.0;
  for (int i = 0; i < B; ++i) {
    const std::size_t at = static_cast<std::size_t>(i) * K;
    sum += softmax_cross_entropy_row(logits + at, K, static_cast<double>(labels[i]), scale,
                                     dlogits ? dlogits + at : nullptr);
  }
  return sum * scale;
}

template double softmax_cross_entropy_cpu<float>(const float*, const float*, int, int, float*, int);
template double softmax_cross_entropy_cpu<double>(const double*, const double*, int, int, double*, int);

}  // namespace dynpmnn
