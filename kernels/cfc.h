// The CfC cell head on the CPU (cfc.cpp); the GPU twin is in cfc_gpu.h. Layout: the head's Linear
// output z (B, 4U) holds per row [ff1 (U) | ff2 (U) | t_a (U) | t_b (U)]; out (B, U).
#pragma once

namespace dynpmnn {

// out (B, U) from z (B, 4U) at elapsed time t (cfc_math.h).
template <typename T>
void cfc_forward_cpu(const T* z, int B, int U, T t, T* out);

// dz (B, 4U), overwritten, from d_out (B, U) and the forward's z.
template <typename T>
void cfc_backward_cpu(const T* z, const T* d_out, int B, int U, T t, T* dz);

}  // namespace dynpmnn
