// Which vector instruction set the CPU backend's vector kernels (kernels/fhn_cpu_simd.h) run with.
// The library is built for baseline x86-64 so that one binary runs on any x86-64; the vector
// kernels are compiled once per instruction set (kernels/fhn_cpu_simd_<isa>.cpp) and the widest
// that the running CPU has is chosen once, at the first call, unless DYNPMNN_CPU_ISA names one.
// The paths differ in last bits: the baseline FitzHugh-Nagumo op computes the scalar reference's
// bits, the AVX2 and AVX-512 ones use FMA, and the vector SiLU/LayerNorm (kernels/ops_cpu_simd.h)
// have each width's own exp and sums. Each is reproducible run to run on a given machine, and a
// sample's bits never depend on its position in a batch.
#pragma once

#include <string>

namespace dynpmnn {

enum class CpuIsa : int {
  kBaseline = 0,  // SSE2, two doubles a vector: every x86-64
  kAvx2 = 1,      // four doubles a vector, and FMA
  kAvx512 = 2,    // eight doubles a vector (AVX-512F)
};

inline constexpr CpuIsa kAllCpuIsas[] = {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512};

const char* to_string(CpuIsa isa);
// "baseline", "sse2", "avx2", "avx512"; std::invalid_argument naming s otherwise.
CpuIsa cpu_isa_from_string(const std::string& s);
// Whether this CPU (and this build: non-x86 builds have the baseline only) runs isa.
bool cpu_isa_supported(CpuIsa isa);
// The widest supported instruction set.
CpuIsa cpu_isa_best();
// What the vector kernels use: DYNPMNN_CPU_ISA where set (std::invalid_argument if this CPU lacks
// it or the name is unknown), else cpu_isa_best(). Read once per process.
CpuIsa cpu_isa_active();
// Doubles per vector of isa.
int cpu_isa_lanes(CpuIsa isa);

}  // namespace dynpmnn
