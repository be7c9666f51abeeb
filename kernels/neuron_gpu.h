// The neuron layer op on the GPU (neuron_gpu.cuh, float32) for model M: the twin of
// neuron_forward_cpu / neuron_backward_cpu in neuron.h, with the same layouts and semantics. Each
// thread owns one (sample, neuron) and runs neuron_math.h's trajectories with the state in
// registers. Instantiated for the built-in models in neuron.cu; a model defined elsewhere
// instantiates it by including neuron_gpu.cuh in a .cu file.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/neuron.h"

namespace dynpmnn {

// Sentinel of the non-finite flag: no layer has produced a NaN or ±Inf.
inline constexpr int kNoNonFinite = -1;

// in: (P, B, input_width). out: (P, B, output_width). Parameters (P, N) each. ck: one
// (checkpoint_elems) array per state, or all null for inference. When nonfinite_flag is not null and
// an output of any model is NaN or ±Inf, *flag is set from kNoNonFinite to layer_index (an earlier
// value is kept); the other models' outputs are still theirs. Asynchronous on `stream`.
//
// A population (P = s.models > 1) is one launch whatever P: model m computes what it would alone
// (P = 1 with its step, parameters and rows), up to float rounding. Where its models' steps differ
// (s.per_model set), the kernels read them from s.per_model_device, a device copy of s.per_model
// that the caller uploads (once: a population's steps do not change between minibatches) and keeps
// alive until the kernels ran; stream capture takes it as it takes any device pointer. A lone
// model needs no device table (its step is a kernel argument, as ever).
template <class M>
void neuron_forward_gpu(const NeuronShape& s, const float* in, NeuronParamPtrs<float> p, float* out,
                        NeuronCheckpoints<float> ck, int* nonfinite_flag, int layer_index, cudaStream_t stream);

// Floats of scratch neuron_backward_gpu needs for the per-block partial sums of the parameter
// gradients: (P, blocks along the batch, kParams, N).
template <class M>
std::size_t neuron_backward_workspace_floats(const NeuronShape& s);

// d_out: (P, B, output_width). d_in: (P, B, input_width), overwritten. d_params: (P, N) each,
// overwritten with each model's batch sum, reduced in a fixed order (bit-reproducible); a null
// member is skipped (frozen). Two launches whatever P (the trajectories, then the reduction; one
// without parameter gradients). workspace: neuron_backward_workspace_floats(s) floats (may be null when every d_params
// member is).
template <class M>
void neuron_backward_gpu(const NeuronShape& s, const float* in, NeuronParamPtrs<float> p,
                         NeuronCheckpoints<const float> ck, const float* d_out, float* d_in,
                         NeuronGradPtrs<float> d_params, float* workspace, cudaStream_t stream);

}  // namespace dynpmnn
