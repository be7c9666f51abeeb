// RAII owners of a CUDA stream and an instantiated CUDA graph, and the capture of a graph, beside
// the device buffers on the lowest floor.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

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

// DYNPMNN_CUDA_GRAPHS: "0" runs every step on the stream; "1" requires the graph (a capture failure
// throws); unset or anything else uses the graph and falls back to the stream with a warning.
enum class GraphMode : int { kOff = 0, kRequired = 1, kAuto = 2 };

inline GraphMode graph_mode_from_env() {
  const char* v = std::getenv("DYNPMNN_CUDA_GRAPHS");
  if (v == nullptr) return GraphMode::kAuto;
  const std::string s(v);
  if (s == "0") return GraphMode::kOff;
  if (s == "1") return GraphMode::kRequired;
  return GraphMode::kAuto;
}

// A training step replayed as a graph: captured once (capture), then launched (launch). In the
// automatic mode a failed capture says why on stderr and the steps run on the stream from then on.
class StepGraph {
 public:
  StepGraph() : mode_(graph_mode_from_env()) {}
  bool wanted() const { return mode_ != GraphMode::kOff; }
  bool ready() const { return exec_.get() != nullptr; }
  void reset() { exec_.reset(); }
  void launch(cudaStream_t stream) const { DYNPMNN_CUDA_CHECK(cudaGraphLaunch(exec_.get(), stream)); }

  template <typename F>
  void capture(cudaStream_t stream, F&& enqueue) {
    try {
      exec_.set(capture_graph(stream, enqueue));
    } catch (const std::exception& e) {
      if (mode_ == GraphMode::kRequired) throw;
      std::fprintf(stderr, "dynpmnn: CUDA graph capture failed (%s); training steps run on the stream\n", e.what());
      mode_ = GraphMode::kOff;
    }
  }

 private:
  GraphMode mode_;
  GraphExec exec_;
};

}  // namespace dynpmnn
