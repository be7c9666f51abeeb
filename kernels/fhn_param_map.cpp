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

NeuronParamMaps neuron_maps_of(const FhnParamMaps& maps) {
  NeuronParamMaps m;
  m.count = 4;
  m.m[0] = maps.a;
  m.m[1] = maps.b;
  m.m[2] = maps.g;
  m.m[3] = maps.I;
  return m;
}

template <typename T>
NeuronParamPtrs<T> neuron_param_map_forward_cpu(const NeuronParamMaps& maps, NeuronParamPtrs<T> raw, int N, T* phys) {
  for (int k = 0; k < maps.count; ++k) {
    if (maps.m[k] == FhnParamMap::kIdentity) continue;
    T* out = phys + static_cast<std::size_t>(k) * N;
    for (int i = 0; i < N; ++i) out[i] = fhn_param_map_forward(maps.m[k], raw.p[k][i]);
  }
  return neuron_physical_ptrs(maps, raw, N, phys);
}

template <typename T>
void neuron_param_map_backward_cpu(const NeuronParamMaps& maps, NeuronParamPtrs<T> raw, int N, NeuronGradPtrs<T> grads) {
  for (int k = 0; k < maps.count; ++k) {
    T* d = grads.p[k];
    if (maps.m[k] == FhnParamMap::kIdentity || d == nullptr) continue;
    for (int i = 0; i < N; ++i) d[i] *= fhn_param_map_derivative(maps.m[k], raw.p[k][i]);
  }
}

template <typename T>
FhnParamPtrs<T> fhn_param_map_forward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, T* phys) {
  const NeuronParamPtrs<T> r = fhn_neuron_params(raw);
  const NeuronParamPtrs<T> q = neuron_param_map_forward_cpu(neuron_maps_of(maps), r, N, phys);
  return {q.p[0], q.p[1], q.p[2], q.p[3]};
}

template <typename T>
void fhn_param_map_backward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, FhnGradPtrs<T> grads) {
  const NeuronParamPtrs<T> r = fhn_neuron_params(raw);
  neuron_param_map_backward_cpu(neuron_maps_of(maps), r, N, fhn_neuron_grads(grads));
}

template NeuronParamPtrs<float> neuron_param_map_forward_cpu(const NeuronParamMaps&, NeuronParamPtrs<float>, int, float*);
template NeuronParamPtrs<double> neuron_param_map_forward_cpu(const NeuronParamMaps&, NeuronParamPtrs<double>, int,
                                                              double*);
template void neuron_param_map_backward_cpu(const NeuronParamMaps&, NeuronParamPtrs<float>, int, NeuronGradPtrs<float>);
template void neuron_param_map_backward_cpu(const NeuronParamMaps&, NeuronParamPtrs<double>, int,
                                            NeuronGradPtrs<double>);
template FhnParamPtrs<float> fhn_param_map_forward_cpu(FhnParamMaps, FhnParamPtrs<float>, int, float*);
template FhnParamPtrs<double> fhn_param_map_forward_cpu(FhnParamMaps, FhnParamPtrs<double>, int, double*);
template void fhn_param_map_backward_cpu(FhnParamMaps, FhnParamPtrs<float>, int, FhnGradPtrs<float>);
template void fhn_param_map_backward_cpu(FhnParamMaps, FhnParamPtrs<double>, int, FhnGradPtrs<double>);

}  // namespace dynpmnn
