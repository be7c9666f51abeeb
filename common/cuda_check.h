// Status checks for every CUDA runtime and cuBLAS call: a failure throws std::runtime_error naming
// the file, the line, the expression and the library's error string, so an error surfaces where it
// happened instead of as a wrong number later.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace dynpmnn::detail {

inline std::string cuda_error_message(cudaError_t err, const char* expr, const char* file, int line,
                                      std::size_t bytes_requested) {
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                    cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  if (err == cudaErrorMemoryAllocation) {
    msg += "; the GPU is out of memory";
    if (bytes_requested > 0)
      msg += " (requested " + std::to_string(bytes_requested) + " bytes = " +
             std::to_string(static_cast<double>(bytes_requested) / (1024.0 * 1024.0)) + " MiB)";
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      msg += "; free " + std::to_string(free_b / (1024 * 1024)) + " MiB of " +
             std::to_string(total_b / (1024 * 1024)) + " MiB: use a smaller batch or fewer neurons";
  }
  return msg;
}

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line,
                                          std::size_t bytes_requested = 0) {
  const std::string msg = cuda_error_message(err, expr, file, line, bytes_requested);
  // Clears a non-sticky error (out of memory, a bad launch configuration) so that the next
  // launch check does not report this one again.
  (void)cudaGetLastError();
  throw std::runtime_error(msg);
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                    cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")";
  if (status == CUBLAS_STATUS_ALLOC_FAILED) msg += "; the GPU is out of memory";
  throw std::runtime_error(msg);
}

}  // namespace dynpmnn::detail

#define DYNPMNN_CUDA_CHECK(expr)                                                     \
  do {                                                                               \
    const cudaError_t dynpmnn_err_ = (expr);                                         \
    if (dynpmnn_err_ != cudaSuccess)                                                 \
      ::dynpmnn::detail::throw_cuda_error(dynpmnn_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// For allocations: the message says how many bytes were asked for.
#define DYNPMNN_CUDA_CHECK_ALLOC(expr, bytes)                                                 \
  do {                                                                                        \
    const cudaError_t dynpmnn_err_ = (expr);                                                  \
    if (dynpmnn_err_ != cudaSuccess)                                                          \
      ::dynpmnn::detail::throw_cuda_error(dynpmnn_err_, #expr, __FILE__, __LINE__, (bytes)); \
  } while (0)

#define DYNPMNN_CUBLAS_CHECK(expr)                                                       \
  do {                                                                                   \
    const cublasStatus_t dynpmnn_status_ = (expr);                                       \
    if (dynpmnn_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::dynpmnn::detail::throw_cublas_error(dynpmnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// After every kernel launch, with the kernel's name (a string literal): a bad configuration shows
// here, an error inside the kernel at the next synchronising call.
#define DYNPMNN_CUDA_CHECK_LAUNCH(kernel_name)                                                        \
  do {                                                                                                \
    const cudaError_t dynpmnn_err_ = cudaGetLastError();                                              \
    if (dynpmnn_err_ != cudaSuccess)                                                                  \
      ::dynpmnn::detail::throw_cuda_error(dynpmnn_err_, "launch of " kernel_name, __FILE__, __LINE__); \
  } while (0)
