// The FitzHugh–Nagumo layer op on the GPU (fhn.cu), float32: the twin of fhn_forward_cpu /
// fhn_backward_cpu in fhn.h, with the same layouts and semantics: neuron_gpu.h's op for the model
// of kernels/neurons/fhn.h, by its parameters' and states' names.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/fhn.h"
#include "kernels/neuron_gpu.h"

namespace dynpmnn {

// in: (P, B, input_width). out: (P, B, 2N) = [v_T | w_T] per sample. ckpt_v, ckpt_w:
// (checkpoint_elems) each, or both null for inference. When nonfinite_flag is not null and an output
// is NaN or ±Inf, *flag is set from kNoNonFinite to layer_index (an earlier value is kept).
// Asynchronous on `stream`. A population with per-model steps needs s.per_model_device
// (neuron_gpu.h's neuron_forward_gpu says how).
void fhn_forward_gpu(const NeuronShape& s, const float* in, FhnParamPtrs<float> p, float* out, float* ckpt_v,
                     float* ckpt_w, int* nonfinite_flag, int layer_index, cudaStream_t stream);

// Floats of scratch fhn_backward_gpu needs for the per-block partial sums of the parameter
// gradients: (P, blocks along the batch, 4, N).
std::size_t fhn_backward_workspace_floats(const NeuronShape& s);

// d_out: (P, B, 2N). d_in: (P, B, input_width), overwritten. d_params: (P, N) each, overwritten with
// each model's batch sum, reduced in a fixed order (bit-reproducible); a null member is skipped (frozen).
// workspace: fhn_backward_workspace_floats(s) floats (may be null when every d_params member is).
void fhn_backward_gpu(const NeuronShape& s, const float* in, FhnParamPtrs<float> p, const float* ckpt_v,
                      const float* ckpt_w, const float* d_out, float* d_in, FhnGradPtrs<float> d_params,
                      float* workspace, cudaStream_t stream);

}  // namespace dynpmnn
