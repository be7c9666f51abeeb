// Device memory owned by move-only RAII buffers; several arrays carved out of one allocation from a
// size table (parameters, gradients and both Adam moments live in one allocation, so they are
// allocated, zeroed and freed together and a model's memory is one number).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_check.h"

namespace dynpmnn {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { allocate(count); }
  ~DeviceBuffer() { release(); }

  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      ptr_ = std::exchange(other.ptr_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  bool empty() const { return count_ == 0; }

  // Synchronous copies of the whole buffer (tests, set-up and read-back; never in a training step).
  void upload(const std::vector<T>& host) {
    if (host.size() != count_)
      throw std::invalid_argument("DeviceBuffer::upload: " + std::to_string(host.size()) + " values for a buffer of " +
                                  std::to_string(count_));
    if (count_) DYNPMNN_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_) DYNPMNN_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  // Every byte 0xFF: NaN for float and double, -1 for signed integers. Tests poison outputs so that
  // an element a kernel forgot to write fails the comparison.
  void poison() {
    if (count_) DYNPMNN_CUDA_CHECK(cudaMemset(ptr_, 0xFF, bytes()));
  }
  void zero() {
    if (count_) DYNPMNN_CUDA_CHECK(cudaMemset(ptr_, 0, bytes()));
  }

 private:
  void allocate(std::size_t count) {
    if (count == 0) return;
    void* p = nullptr;
    const std::size_t nbytes = count * sizeof(T);
    DYNPMNN_CUDA_CHECK_ALLOC(cudaMalloc(&p, nbytes), nbytes);
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void release() noexcept {
    if (ptr_) (void)cudaFree(ptr_);  // a destructor must not throw; a failed free leaks at worst
    ptr_ = nullptr;
    count_ = 0;
  }

  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

// Page-locked host memory, for the one small asynchronous read-back per epoch.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count) {
    if (count == 0) return;
    void* p = nullptr;
    DYNPMNN_CUDA_CHECK_ALLOC(cudaMallocHost(&p, count * sizeof(T)), count * sizeof(T));
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  ~PinnedBuffer() {
    if (ptr_) (void)cudaFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) (void)cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

// Offsets of consecutive arrays of the given element counts inside one allocation, each starting on
// a multiple of `align_elems` elements (so every view is aligned for vector loads).
inline std::vector<std::size_t> carve_offsets(const std::vector<std::size_t>& sizes, std::size_t align_elems,
                                              std::size_t* total) {
  if (align_elems == 0) throw std::invalid_argument("carve_offsets: align_elems must be > 0");
  std::vector<std::size_t> offsets(sizes.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    offsets[i] = at;
    at += (sizes[i] + align_elems - 1) / align_elems * align_elems;
  }
  *total = at;
  return offsets;
}

// One allocation, several typed views: view(i) has sizes[i] elements.
template <typename T>
class CarvedBuffer {
 public:
  static constexpr std::size_t kAlignElems = 256 / sizeof(T) > 0 ? 256 / sizeof(T) : 1;  // 256-byte views

  CarvedBuffer() = default;
  explicit CarvedBuffer(std::vector<std::size_t> sizes) : sizes_(std::move(sizes)) {
    std::size_t total = 0;
    offsets_ = carve_offsets(sizes_, kAlignElems, &total);
    buffer_ = DeviceBuffer<T>(total);
  }

  std::size_t views() const { return sizes_.size(); }
  T* view(std::size_t i) { return buffer_.data() + checked(i); }
  const T* view(std::size_t i) const { return buffer_.data() + checked(i); }
  std::size_t view_size(std::size_t i) const { return sizes_.at(i); }
  DeviceBuffer<T>& buffer() { return buffer_; }
  const DeviceBuffer<T>& buffer() const { return buffer_; }

 private:
  std::size_t checked(std::size_t i) const {
    if (i >= offsets_.size())
      throw std::out_of_range("CarvedBuffer: view " + std::to_string(i) + " of " + std::to_string(offsets_.size()));
    return offsets_[i];
  }

  std::vector<std::size_t> sizes_;
  std::vector<std::size_t> offsets_;
  DeviceBuffer<T> buffer_;
};

// Synchronous copies of `count` elements through `stream` (set-up and read-back, never inside a
// training step): the stream is synchronised before returning, so `src` may be a temporary.
template <typename T>
std::vector<T> download_sync(const T* src, std::size_t count, cudaStream_t stream) {
  std::vector<T> host(count);
  if (count) DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host.data(), src, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

template <typename T>
void upload_sync(T* dst, const T* src, std::size_t count, cudaStream_t stream) {
  if (count == 0) return;
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace dynpmnn
