// The vector kernels of fhn_cpu_simd_kernel.h with 8 doubles a vector, compiled with this file's
// own instruction-set flags (CMakeLists.txt); fhn_cpu_simd.cpp calls them where the CPU has them.
#define DYNPMNN_SIMD_NS simd_avx512
#define DYNPMNN_SIMD_LANES 8
#include "kernels/fhn_cpu_simd_kernel.h"

namespace dynpmnn {

bool fhn_simd_forward_avx512(const FhnSimdModelArgs& a) { return simd_avx512::forward(a); }
void fhn_simd_backward_avx512(const FhnSimdModelArgs& a) { simd_avx512::backward(a); }

}  // namespace dynpmnn
