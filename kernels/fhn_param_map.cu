// The FHN parameter maps on the GPU: the twin of fhn_param_map.cpp. One thread per (parameter,
// neuron); the four parameters of a layer go in one launch, identity rows doing nothing.
#include "kernels/fhn_param_map_gpu.h"

#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"

namespace dynpmnn {

namespace {

struct MapRows {
  FhnParamMap map[4];
  const float* raw[4];
  float* out[4];  // forward: the physical row; backward: the gradient row (null: skipped)
};

__global__ void fhn_param_map_forward_kernel(MapRows rows, int N) {
  const int k = blockIdx.y;
  const FhnParamMap m = rows.map[k];
  if (m == FhnParamMap::kIdentity) return;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
    rows.out[k][i] = fhn_param_map_forward(m, rows.raw[k][i]);
}

__global__ void fhn_param_map_backward_kernel(MapRows rows, int N) {
  const int k = blockIdx.y;
  const FhnParamMap m = rows.map[k];
  float* d = rows.out[k];
  if (m == FhnParamMap::kIdentity || d == nullptr) return;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
    d[i] *= fhn_param_map_derivative(m, rows.raw[k][i]);
}

// x: a grid-stride loop over the N neurons; y: the four parameters.
dim3 map_grid(int N) { return dim3(stride_blocks(static_cast<std::size_t>(N)), 4); }

void check_n(int N, const char* what) { require(N > 0, what, "neurons must be > 0, got " + std::to_string(N)); }

}  // namespace

FhnParamPtrs<float> fhn_param_map_forward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, float* phys,
                                              cudaStream_t stream) {
  check_n(N, "fhn_param_map_forward_gpu");
  const FhnParamPtrs<float> physical = fhn_physical_ptrs(maps, raw, N, phys);
  if (!maps.any()) return physical;
  require(phys != nullptr, "fhn_param_map_forward_gpu", "a map applies but phys is null");
  const MapRows rows{{maps.a, maps.b, maps.g, maps.I},
                     {raw.a, raw.b, raw.g, raw.I},
                     {phys, phys + N, phys + 2 * static_cast<std::size_t>(N), phys + 3 * static_cast<std::size_t>(N)}};
  fhn_param_map_forward_kernel<<<map_grid(N), kThreads, 0, stream>>>(rows, N);
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_param_map_forward_kernel");
  return physical;
}

void fhn_param_map_backward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, FhnGradPtrs<float> grads,
                                cudaStream_t stream) {
  check_n(N, "fhn_param_map_backward_gpu");
  if (!maps.any()) return;
  const MapRows rows{{maps.a, maps.b, maps.g, maps.I},
                     {raw.a, raw.b, raw.g, raw.I},
                     {grads.a, grads.b, grads.g, grads.I}};
  fhn_param_map_backward_kernel<<<map_grid(N), kThreads, 0, stream>>>(rows, N);
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_param_map_backward_kernel");
}

}  // namespace dynpmnn
