#include "kernels/fhn_param_map.h"

namespace dynpmnn {

const char* to_string(FhnParamSpace s) {
  switch (s) {
    case FhnParamSpace::kRaw: return "raw";
    case FhnParamSpace::kPhysical: return "physical";
  }
  return "?";
}

FhnParamSpace fhn_param_space_from_string(const std::string& s) {
  if (s == "physical") return FhnParamSpace::kPhysical;
  if (s == "raw") return FhnParamSpace::kRaw;
  throw std::invalid_argument("unknown fhn_param_space '" + s + "' (expected 'physical' or 'raw')");
}

const char* to_string(FhnParamMap m) {
  switch (m) {
    case FhnParamMap::kIdentity: return "identity";
    case FhnParamMap::kSigmoid: return "sigmoid";
    case FhnParamMap::kSoftplus: return "softplus";
  }
  return "?";
}

template <typename T>
FhnParamPtrs<T> fhn_param_map_forward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, T* phys) {
  const FhnParamMap m[4] = {maps.a, maps.b, maps.g, maps.I};
  const T* r[4] = {raw.a, raw.b, raw.g, raw.I};
  for (int k = 0; k < 4; ++k) {
    if (m[k] == FhnParamMap::kIdentity) continue;
    T* out = phys + static_cast<std::size_t>(k) * N;
    for (int i = 0; i < N; ++i) out[i] = fhn_param_map_forward(m[k], r[k][i]);
  }
  return fhn_physical_ptrs(maps, raw, N, phys);
}

template <typename T>
void fhn_param_map_backward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, FhnGradPtrs<T> grads) {
  const FhnParamMap m[4] = {maps.a, maps.b, maps.g, maps.I};
  const T* r[4] = {raw.a, raw.b, raw.g, raw.I};
  T* d[4] = {grads.a, grads.b, grads.g, grads.I};
  for (int k = 0; k < 4; ++k) {
    if (m[k] == FhnParamMap::kIdentity || d[k] == nullptr) continue;
    for (int i = 0; i < N; ++i) d[k][i] *= fhn_param_map_derivative(m[k], r[k][i]);
  }
}

template FhnParamPtrs<float> fhn_param_map_forward_cpu(FhnParamMaps, FhnParamPtrs<float>, int, float*);
template FhnParamPtrs<double> fhn_param_map_forward_cpu(FhnParamMaps, FhnParamPtrs<double>, int, double*);
template void fhn_param_map_backward_cpu(FhnParamMaps, FhnParamPtrs<float>, int, FhnGradPtrs<float>);
template void fhn_param_map_backward_cpu(FhnParamMaps, FhnParamPtrs<double>, int, FhnGradPtrs<double>);

}  // namespace dynpmnn
