// The kernels of ops_cpu_simd_kernel.h with 8 doubles a vector, compiled with this file's own
// instruction-set flags (CMakeLists.txt); ops_cpu_simd.cpp calls them where the CPU has them.
#define DYNPMNN_SIMD_NS simd_ops_avx512
#define DYNPMNN_SIMD_LANES 8
#define DYNPMNN_SIMD_EXP _ZGVeN8v_exp
#include "kernels/ops_cpu_simd_kernel.h"

namespace dynpmnn {

OpsSimdKernels ops_simd_kernels_avx512() { return simd_ops_avx512::kernels(); }

}  // namespace dynpmnn
