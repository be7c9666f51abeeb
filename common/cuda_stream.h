// RAII owners of a CUDA stream and an instantiated CUDA graph, and the capture of a graph, beside
// the device buffers on the lowest floor.
#pragma once

#include <cuda_runtime.h>

#include "common/cuda_check.h"

namespace dynpmnn {

// A non-blocking stream, synchronised before it is destroyed.
class Stream {
 public:
  Stream() { DYNPMNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) {
      (void)cudaStreamSynchronize(s_);
      (void)cudaStreamDestroy(s_);
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class GraphExec {
 public:
  GraphExec() = default;
  ~GraphExec() { reset(); }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  void reset() {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  cudaGraphExec_t get() const { return exec_; }
  void set(cudaGraphExec_t e) {
    reset();
    exec_ = e;
  }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// Records what enqueue() puts on `stream` as a graph and instantiates it. On any failure the
// capture is ended, its partial graph destroyed, the error cleared, and the exception rethrown.
template <typename F>
cudaGraphExec_t capture_graph(cudaStream_t stream, F&& enqueue) {
  DYNPMNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue();
  } catch (...) {
    cudaGraph_t partial = nullptr;
    (void)cudaStreamEndCapture(stream, &partial);
    if (partial) (void)cudaGraphDestroy(partial);
    (void)cudaGetLastError();
    throw;
  }
  cudaGraph_t graph = nullptr;
  DYNPMNN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  DYNPMNN_CUDA_CHECK(err);
  return exec;
}

}  // namespace dynpmnn
