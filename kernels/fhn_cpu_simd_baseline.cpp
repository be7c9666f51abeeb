// The vector kernels of fhn_cpu_simd_kernel.h with 2 doubles a vector, compiled with this file's
// own instruction-set flags (CMakeLists.txt); fhn_cpu_simd.cpp calls them where the CPU has them.
#define DYNPMNN_SIMD_NS simd_baseline
#define DYNPMNN_SIMD_LANES 2
#include "kernels/fhn_cpu_simd_kernel.h"

namespace dynpmnn {

bool fhn_simd_forward_baseline(const FhnSimdModelArgs& a) { return simd_baseline::forward(a); }
void fhn_simd_backward_baseline(const FhnSimdModelArgs& a) { simd_baseline::backward(a); }

}  // namespace dynpmnn
