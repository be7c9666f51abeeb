#include "kernels/cpu_isa.h"

#include <cstdlib>
#include <stdexcept>

namespace dynpmnn {

const char* to_string(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return "baseline";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

CpuIsa cpu_isa_from_string(const std::string& s) {
  if (s == "baseline" || s == "sse2") return CpuIsa::kBaseline;
  if (s == "avx2") return CpuIsa::kAvx2;
  if (s == "avx512") return CpuIsa::kAvx512;
  throw std::invalid_argument("unknown CPU instruction set '" + s + "' (expected baseline, avx2 or avx512)");
}

bool cpu_isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // Their FitzHugh-Nagumo kernels use FMA (CMakeLists.txt).
    case CpuIsa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::kAvx512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
    case CpuIsa::kAvx2:
    case CpuIsa::kAvx512: return false;
#endif
  }
  return false;
}

CpuIsa cpu_isa_best() {
  if (cpu_isa_supported(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (cpu_isa_supported(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kBaseline;
}

CpuIsa cpu_isa_active() {
  static const CpuIsa active = [] {
    const char* env = std::getenv("DYNPMNN_CPU_ISA");
    if (env == nullptr || *env == '\0') return cpu_isa_best();
    const CpuIsa isa = cpu_isa_from_string(env);
    if (!cpu_isa_supported(isa))
      throw std::invalid_argument(std::string("DYNPMNN_CPU_ISA=") + env + ": this CPU does not support it (best: " +
                                  to_string(cpu_isa_best()) + ")");
    return isa;
  }();
  return active;
}

int cpu_isa_lanes(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return 2;
    case CpuIsa::kAvx2: return 4;
    case CpuIsa::kAvx512: return 8;
  }
  return 1;
}

}  // namespace dynpmnn
