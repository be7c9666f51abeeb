// The reparametrisation op of the FHN parameters on the GPU (fhn_param_map.cu), float32: the twin of
// fhn_param_map_forward_cpu / fhn_param_map_backward_cpu in fhn_param_map.h, same layouts and
// semantics, the per-element arithmetic of fhn_param_map_math.h. Asynchronous on `stream`, fixed
// arguments: a CUDA graph may capture them.
#pragma once

#include <cuda_runtime.h>

#include "kernels/fhn_param_map.h"

namespace dynpmnn {

// The same for any neuron model's parameters (fhn_param_map.h's neuron_* CPU twins).
NeuronParamPtrs<float> neuron_param_map_forward_gpu(const NeuronParamMaps& maps, NeuronParamPtrs<float> raw, int N,
                                                    float* phys, cudaStream_t stream);
void neuron_param_map_backward_gpu(const NeuronParamMaps& maps, NeuronParamPtrs<float> raw, int N,
                                   NeuronGradPtrs<float> grads, cudaStream_t stream);

// raw: (N) each, on the device. phys: (4, N) on the device (may be null when no map applies).
// Returns fhn_physical_ptrs(maps, raw, N, phys).
FhnParamPtrs<float> fhn_param_map_forward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, float* phys,
                                              cudaStream_t stream);

// grads: (N) each on the device, multiplied in place by the map's derivative at raw; null members
// and identity maps are skipped.
void fhn_param_map_backward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, FhnGradPtrs<float> grads,
                                cudaStream_t stream);

}  // namespace dynpmnn
