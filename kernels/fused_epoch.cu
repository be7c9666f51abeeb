// The fused population's CUDA kernels (fused_epoch_gpu.h): fused_epoch.h's code with a block's
// threads. The CPU twin, with one thread a block, is fused_epoch.cpp.
#include <climits>
#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/fused_epoch_gpu.h"
#include "kernels/integrator_dispatch.h"
#include "kernels/neurons/fhn.h"

namespace dynpmnn {

namespace {

// Block::each on the GPU: the indices strided over the block's threads, then a barrier.
struct GpuBlock {
  template <typename F>
  __device__ void each(int n, F&& f) {
    for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) f(i);
    __syncthreads();
  }
};

template <Integrator S, bool kClip>
__global__ void fused_epoch_kernel(FusedLayout L, FusedDeviceModels models, const int* active, const float* x,
                                   const float* y, const std::uint32_t* orders, float* ck, std::size_t ck_elems,
                                   int s_begin, int s_end) {
  extern __shared__ __align__(16) unsigned char shared[];
  const int k = active[blockIdx.x];
  const std::size_t P = static_cast<std::size_t>(L.total);
  GpuBlock blk;
  fused_epoch<FitzHughNagumo, S, kClip, float>(
      blk, L, models.hyper[k], models.status[k], models.info, x, y,
      orders + static_cast<std::size_t>(blockIdx.x) * L.rows, models.params + k * P, models.m + k * P,
      models.v + k * P, ck + k * ck_elems, fused_shared_carve<float>(shared, L.batch, L.total), s_begin, s_end);
}

template <Integrator S, bool kClip>
__global__ void fused_predict_kernel(FusedLayout L, FusedDeviceModels models, const int* list, const float* x,
                                     int rows, float* pred) {
  const int k = list ? list[blockIdx.y] : static_cast<int>(blockIdx.y);
  const std::size_t P = static_cast<std::size_t>(L.total);
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x)
    fused_predict_row<FitzHughNagumo, S, kClip, float>(L, models.hyper[k], models.params + k * P, models.info,
                                                       x + static_cast<std::size_t>(r) * L.F,
                                                       pred + (static_cast<std::size_t>(k) * rows + r) * L.O);
}

}  // namespace

void fused_epoch_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                     const int* active, int count, const float* x, const float* y, const std::uint32_t* orders,
                     float* ck, std::size_t ck_elems, int s_begin, int s_end, cudaStream_t stream) {
  require(L.batch >= 1 && L.batch <= kFusedMaxBatch, "fused_epoch_gpu", "batch " + std::to_string(L.batch));
  require(ck_elems >= fused_checkpoint_floats(L), "fused_epoch_gpu", "checkpoint planes too small");
  if (count == 0 || L.rows == 0) return;
  const unsigned threads = static_cast<unsigned>((L.batch + 31) / 32 * 32);
  const std::size_t bytes = fused_shared_bytes<float>(L.batch, L.total);
  dispatch_integrator_clamp(integrator, clamp, "fused_epoch_gpu", [&](auto scheme, auto clip) {
    auto kernel = fused_epoch_kernel<decltype(scheme)::value, decltype(clip)::value>;
    if (bytes > 48 * 1024)
      DYNPMNN_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
    kernel<<<static_cast<unsigned>(count), threads, bytes, stream>>>(L, models, active, x, y, orders, ck, ck_elems,
                                                                      s_begin, s_end);
    DYNPMNN_CUDA_CHECK_LAUNCH("fused_epoch_kernel");
  });
}

void fused_predict_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                       const int* list, int count, const float* x, int rows, float* pred, cudaStream_t stream) {
  require(count >= 0 && count <= 65535, "fused_predict_gpu", std::to_string(count) + " models");
  if (count == 0 || rows == 0) return;
  const unsigned blocks = std::min<unsigned>((rows + kThreads - 1) / kThreads, 1024);
  dispatch_integrator_clamp(integrator, clamp, "fused_predict_gpu", [&](auto scheme, auto clip) {
    fused_predict_kernel<decltype(scheme)::value, decltype(clip)::value>
        <<<dim3(blocks, static_cast<unsigned>(count)), kThreads, 0, stream>>>(L, models, list, x, rows, pred);
    DYNPMNN_CUDA_CHECK_LAUNCH("fused_predict_kernel");
  });
}

}  // namespace dynpmnn
