// The CfC cell head on the GPU (cfc.cu), float32: the twin of cfc.h, same layouts. One thread per
// (sample, unit) runs cfc_math.h. Asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

namespace dynpmnn {

// out (B, U) from z (B, 4U) = [ff1 | ff2 | t_a | t_b] per row.
void cfc_forward_gpu(const float* z, int B, int U, float t, float* out, cudaStream_t stream);

// dz (B, 4U), overwritten, from d_out (B, U) and the forward's z; dz must not alias z.
void cfc_backward_gpu(const float* z, const float* d_out, int B, int U, float t, float* dz, cudaStream_t stream);

}  // namespace dynpmnn
