// The reparametrisation op of the FHN parameters (maps in fhn_param_map_math.h): raw θ → physical
// per neuron before the FHN forward, and the chain rule on the reduced per-neuron gradients after
// the FHN backward. CPU here (fhn_param_map.cpp, any float type), CUDA in fhn_param_map_gpu.h. It
// sits outside the FHN op, which always sees physical values.
#pragma once

#include <stdexcept>
#include <string>

#include "kernels/fhn.h"
#include "kernels/fhn_param_map_math.h"

namespace dynpmnn {

// How trained FHN parameters are stored and optimised: kPhysical through the maps (they stay in
// range), kRaw as the values themselves (the optimiser may push b or g below 0).
enum class FhnParamSpace : int { kRaw = 0, kPhysical = 1 };

const char* to_string(FhnParamSpace s);
FhnParamSpace fhn_param_space_from_string(const std::string& s);  // throws std::invalid_argument naming s
const char* to_string(FhnParamMap m);

// One map per FHN parameter of a layer.
struct FhnParamMaps {
  FhnParamMap a = FhnParamMap::kIdentity, b = FhnParamMap::kIdentity, g = FhnParamMap::kIdentity,
              I = FhnParamMap::kIdentity;
  bool any() const {
    return a != FhnParamMap::kIdentity || b != FhnParamMap::kIdentity || g != FhnParamMap::kIdentity ||
           I != FhnParamMap::kIdentity;
  }
};

// One map per parameter of a neuron model, in the model's order.
struct NeuronParamMaps {
  FhnParamMap m[kMaxNeuronParams] = {};  // kIdentity
  int count = 0;
  bool any() const {
    for (int k = 0; k < count; ++k)
      if (m[k] != FhnParamMap::kIdentity) return true;
    return false;
  }
};

// Where the neuron op reads the physical values: the member of `raw` for an identity map, else its
// row of `phys` (count, N). Pure pointer arithmetic, no data is touched.
template <typename T>
NeuronParamPtrs<T> neuron_physical_ptrs(const NeuronParamMaps& maps, NeuronParamPtrs<T> raw, int N, T* phys) {
  NeuronParamPtrs<T> out = raw;
  for (int k = 0; k < maps.count; ++k)
    if (maps.m[k] != FhnParamMap::kIdentity) out.p[k] = phys + static_cast<std::size_t>(k) * N;
  return out;
}

// raw: (N) each. phys: (count, N), written for the members whose map is not the identity (may be
// null when none is). Returns neuron_physical_ptrs.
template <typename T>
NeuronParamPtrs<T> neuron_param_map_forward_cpu(const NeuronParamMaps& maps, NeuronParamPtrs<T> raw, int N, T* phys);

// grads: (N) each, in: d loss / d physical value (as the neuron backward leaves them); out:
// d loss / d θ, multiplied in place by the map's derivative at raw. Null members and identity maps
// are skipped.
template <typename T>
void neuron_param_map_backward_cpu(const NeuronParamMaps& maps, NeuronParamPtrs<T> raw, int N, NeuronGradPtrs<T> grads);

// The FitzHugh–Nagumo layer's maps in its (a, b, g, I) order.
NeuronParamMaps neuron_maps_of(const FhnParamMaps& maps);

// Where the FHN op reads the physical values: the member of `raw` for an identity map, else its
// slot of `phys` (4, N) (a, b, g, I rows). Pure pointer arithmetic, no data is touched.
template <typename T>
FhnParamPtrs<T> fhn_physical_ptrs(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, T* phys) {
  auto pick = [&](FhnParamMap m, const T* r, int row) -> const T* {
    return m == FhnParamMap::kIdentity ? r : phys + static_cast<std::size_t>(row) * N;
  };
  return {pick(maps.a, raw.a, 0), pick(maps.b, raw.b, 1), pick(maps.g, raw.g, 2), pick(maps.I, raw.I, 3)};
}

// raw: (N) each. phys: (4, N), written for the members whose map is not the identity (may be null
// when none is). Returns fhn_physical_ptrs.
template <typename T>
FhnParamPtrs<T> fhn_param_map_forward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, T* phys);

// grads: (N) each, in: d loss / d physical value (as the FHN backward leaves them); out: d loss / d θ,
// multiplied in place by the map's derivative at raw. Null members and identity maps are skipped.
template <typename T>
void fhn_param_map_backward_cpu(FhnParamMaps maps, FhnParamPtrs<T> raw, int N, FhnGradPtrs<T> grads);

}  // namespace dynpmnn
