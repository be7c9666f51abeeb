// Whether this process can use a CUDA device (backend.h), apart from the backend itself.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "host/runtime/backend.h"

namespace dynpmnn {

bool cuda_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device found";
    return false;
  }
  if (why) *why = std::to_string(count) + " CUDA device(s)";
  return true;
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

void select_cuda_device(int ordinal) {
  const cudaError_t err = cudaSetDevice(ordinal);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::runtime_error("cudaSetDevice(" + std::to_string(ordinal) + "): " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
  }
}

}  // namespace dynpmnn
