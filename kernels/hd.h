// DYNPMNN_HD: a function the CPU reference and the CUDA kernels both call (the per-element math
// headers' functions), forced inline on the device.
#pragma once

#if defined(__CUDACC__)
#define DYNPMNN_HD __host__ __device__ __forceinline__
#else
#define DYNPMNN_HD inline
#endif
