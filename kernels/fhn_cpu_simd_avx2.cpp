// The vector kernels of fhn_cpu_simd_kernel.h with 4 doubles a vector, compiled with this file's
// own instruction-set flags (CMakeLists.txt); fhn_cpu_simd.cpp calls them where the CPU has them.
#define DYNPMNN_SIMD_NS simd_avx2
#define DYNPMNN_SIMD_LANES 4
#include "kernels/fhn_cpu_simd_kernel.h"

namespace dynpmnn {

bool fhn_simd_forward_avx2(const FhnSimdModelArgs& a) { return simd_avx2::forward(a); }
void fhn_simd_backward_avx2(const FhnSimdModelArgs& a) { simd_avx2::backward(a); }

}  // namespace dynpmnn
