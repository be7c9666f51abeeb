// Whether this process can use a CUDA device (backend.h), apart from the backend itself.
#include <cuda_runtime.h>

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

}  // namespace dynpmnn
