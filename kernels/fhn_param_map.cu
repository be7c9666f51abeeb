// The neuron parameter maps on the GPU: the twin of fhn_param_map.cpp. One thread per (parameter,
// neuron); the parameters of a layer go in one launch, identity rows doing nothing.
#include "kernels/fhn_param_map_gpu.h"

#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"

namespace dynpmnn {

namespace {

struct MapRows {
  FhnParamMap map[kMaxNeuronParams];
  const float* raw[kMaxNeuronParams];
  float* out[kMaxNeuronParams];  // forward: the physical row; backward: the gradient row (null: skipped)
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

// x: a grid-stride loop over the N neurons; y: the parameters.
dim3 map_grid(int N, int count) { return dim3(stride_blocks(static_cast<std::size_t>(N)), count); }

void check_n(int N, const char* what) { require(N > 0, what, "neurons must be > 0, got " + std::to_string(N)); }

}  // namespace

NeuronParamPtrs<float> neuron_param_map_forward_gpu(const NeuronParamMaps& maps, NeuronParamPtrs<float> raw, int N,
                                                    float* phys, cudaStream_t stream) {
  check_n(N, "neuron_param_map_forward_gpu");
  const NeuronParamPtrs<float> physical = neuron_physical_ptrs(maps, raw, N, phys);
  if (!maps.any()) return physical;
  require(phys != nullptr, "neuron_param_map_forward_gpu", "a map applies but phys is null");
  MapRows rows{};
  for (int k = 0; k < maps.count; ++k) {
    rows.map[k] = maps.m[k];
    rows.raw[k] = raw.p[k];
    rows.out[k] = phys + static_cast<std::size_t>(k) * N;
  }
  fhn_param_map_forward_kernel<<<map_grid(N, maps.count), kThreads, 0, stream>>>(rows, N);
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_param_map_forward_kernel");
  return physical;
}

void neuron_param_map_backward_gpu(const NeuronParamMaps& maps, NeuronParamPtrs<float> raw, int N,
                                   NeuronGradPtrs<float> grads, cudaStream_t stream) {
  check_n(N, "neuron_param_map_backward_gpu");
  if (!maps.any()) return;
  MapRows rows{};
  for (int k = 0; k < maps.count; ++k) {
    rows.map[k] = maps.m[k];
    rows.raw[k] = raw.p[k];
    rows.out[k] = grads.p[k];
  }
  fhn_param_map_backward_kernel<<<map_grid(N, maps.count), kThreads, 0, stream>>>(rows, N);
  DYNPMNN_CUDA_CHECK_LAUNCH("fhn_param_map_backward_kernel");
}

FhnParamPtrs<float> fhn_param_map_forward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, float* phys,
                                              cudaStream_t stream) {
  const NeuronParamPtrs<float> q =
      neuron_param_map_forward_gpu(neuron_maps_of(maps), fhn_neuron_params(raw), N,
                                   phys, stream);
  return {q.p[0], q.p[1], q.p[2], q.p[3]};
}

void fhn_param_map_backward_gpu(FhnParamMaps maps, FhnParamPtrs<float> raw, int N, FhnGradPtrs<float> grads,
                                cudaStream_t stream) {
  neuron_param_map_backward_gpu(neuron_maps_of(maps), fhn_neuron_params(raw), N,
                                fhn_neuron_grads(grads), stream);
}

}  // namespace dynpmnn
