// Microbenchmark of the fused FitzHugh–Nagumo layer on the GPU: forward (with checkpoints) plus
// backward (recompute, adjoint, deterministic parameter-gradient reduction), the kernels the
// trainer runs. It validates against the CPU reference first, then times with CUDA events: warm-up,
// L2 flushed before every repeat, median of the repeats. It also measures the card's two ceilings
// (an FP32 FMA chain kernel and a large device-to-device copy) and reports the layer's rates as a
// fraction of them. One JSON line per result on stdout; bench/device_check.sh divides by the
// PyTorch peer's time for the same shape.
//
//   bench_fhn [--repeats 30] [--shapes paper,wide]
//
// Shapes: paper = batch 32, N 1, 25 steps; wide = batch 4096, N 1024, 100 steps; both dt 0.05,
// v0 ~ N(0, 1), w0 ~ 0.1·N(0, 1), upstream gradient ~ N(0, 1), a b g I = 0.2 0.02 3 0, no clip —
// the peer's `pmnn_torch.py layer` setting.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_buffer.h"
#include "kernels/fhn.h"
#include "kernels/fhn_gpu.h"

namespace dynpmnn {
namespace {

struct Shape {
  std::string name;
  int batch, neurons, steps;
  double dt;
};

class Event {
 public:
  Event() { DYNPMNN_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() { (void)cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

float elapsed_ms(const Event& a, const Event& b) {
  float ms = 0;
  DYNPMNN_CUDA_CHECK(cudaEventElapsedTime(&ms, a.get(), b.get()));
  return ms;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// --- the card's ceilings ------------------------------------------------------------------------

constexpr int kChains = 8;

// kChains independent FMA chains per thread: enough independent work to cover the FMA latency.
__global__ void fma_peak_kernel(float* out, int iters, float mul, float add) {
  float acc[kChains];
#pragma unroll
  for (int k = 0; k < kChains; ++k) acc[k] = static_cast<float>(threadIdx.x + k);
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < kChains; ++k) acc[k] = fmaf(acc[k], mul, add);
  }
  float s = 0;
#pragma unroll
  for (int k = 0; k < kChains; ++k) s += acc[k];
  if (s == -1.0f) out[blockIdx.x * blockDim.x + threadIdx.x] = s;  // never true; keeps the work alive
}

double measure_fp32_peak_gflops(const cudaDeviceProp& prop) {
  const int threads = 256, blocks = prop.multiProcessorCount * 8, iters = 32768;  // a few ms
  DeviceBuffer<float> sink(static_cast<std::size_t>(threads) * blocks);
  Event start, stop;
  std::vector<double> ms;
  for (int r = 0; r < 7; ++r) {
    DYNPMNN_CUDA_CHECK(cudaEventRecord(start.get()));
    fma_peak_kernel<<<blocks, threads>>>(sink.data(), iters, 0.999999f, 1e-7f);
    DYNPMNN_CUDA_CHECK_LAUNCH("fma_peak_kernel");
    DYNPMNN_CUDA_CHECK(cudaEventRecord(stop.get()));
    DYNPMNN_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    if (r > 0) ms.push_back(elapsed_ms(start, stop));  // the first is the warm-up
  }
  const double flops = 2.0 * kChains * static_cast<double>(iters) * threads * blocks;
  return flops / (median(ms) * 1e-3) / 1e9;
}

// Bytes read plus bytes written per second by a 1 GiB device-to-device copy.
double measure_d2d_gbs() {
  const std::size_t bytes = std::size_t{1} << 30;
  DeviceBuffer<unsigned char> src(bytes), dst(bytes);
  DYNPMNN_CUDA_CHECK(cudaMemset(src.data(), 1, bytes));
  Event start, stop;
  std::vector<double> ms;
  for (int r = 0; r < 8; ++r) {
    DYNPMNN_CUDA_CHECK(cudaEventRecord(start.get()));
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice));
    DYNPMNN_CUDA_CHECK(cudaEventRecord(stop.get()));
    DYNPMNN_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    if (r > 0) ms.push_back(elapsed_ms(start, stop));
  }
  return 2.0 * static_cast<double>(bytes) / (median(ms) * 1e-3) / 1e9;
}

// --- work counts --------------------------------------------------------------------------------

// Euler steps the backward replays per pair: for every register block, the steps from its segment's
// checkpoint to the block's end (fhn_backward_trajectory's loops).
long long backward_replayed_steps(int steps) {
  const int R = kFhnRegisterBlock;
  const int interval = fhn_checkpoint_interval(steps);
  const int segments = (steps + interval - 1) / interval;
  long long total = 0;
  for (int seg = 0; seg < segments; ++seg) {
    const int seg_len = (seg == segments - 1) ? steps - seg * interval : interval;
    const int blocks = (seg_len + R - 1) / R;
    for (int blk = 0; blk < blocks; ++blk) total += blk * R + ((blk == blocks - 1) ? seg_len - blk * R : R);
  }
  return total;
}

// FLOPs per pair, counting an FMA as 2, as kernels/neurons/fhn.h's unclamped Euler stepper computes them in
// its variables (v, z), the loop-invariant factors computed once per pair and not counted:
//   step, 5 FMAs: v·(−dt) + dt(1 + a), v·(…) + (1 − dt·a), v·(…) + z, v·(−dt²b) + K, k·z + (…)  = 10
//   reverse step, 4 FMAs and a multiply: m = v·(v·(−3dt) + 2dt(1 + a)) + (1 − dt·a) 4,
//     μ·m + ζ·(−dt²b) 3, k·ζ + μ 2                                                         = 9
//   with parameter gradients also w 2, a 4, I 1, b 4, g 2                                  = 22
//   forward: 10·steps; backward: 10·(replayed steps) + (9 or 22)·steps.
// (Earlier commits counted 11 and 11/24 for the (v, w) form, and 13 and 17/29 before that: compare
// times, not GFLOP/s, across those changes.)
double flops_per_pair(int steps, bool param_grads) {
  return 10.0 * steps + 10.0 * static_cast<double>(backward_replayed_steps(steps)) +
         (param_grads ? 22.0 : 9.0) * steps;
}

// Fewest bytes the two passes must move: forward reads the input and parameters and writes the
// output and checkpoints; backward reads input, parameters, checkpoints and upstream gradient and
// writes the input gradient, the per-block partials and the reduced parameter gradients.
double bytes_moved(const NeuronShape& s, std::size_t workspace_floats) {
  const double pair_io = 4.0 * s.batch * 2.0 * s.neurons;  // (B, 2N) floats
  const double params = 4.0 * 4 * s.neurons;
  const double ckpt = 4.0 * 2 * static_cast<double>(s.checkpoint_elems());
  const double fwd = pair_io + params + pair_io + ckpt;
  const double bwd = pair_io + params + ckpt + pair_io + pair_io + 2.0 * 4 * workspace_floats + params;
  return fwd + bwd;
}

// --- inputs and validation --------------------------------------------------------------------

struct Inputs {
  std::vector<float> in, d_out, a, b, g, I;
};

Inputs make_inputs(const NeuronShape& s, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Inputs x;
  const int N = s.neurons;
  x.in.resize(static_cast<std::size_t>(s.batch) * 2 * N);
  for (int bb = 0; bb < s.batch; ++bb)
    for (int n = 0; n < 2 * N; ++n)
      x.in[static_cast<std::size_t>(bb) * 2 * N + n] = n < N ? normal(gen) : 0.1f * normal(gen);
  x.d_out.resize(x.in.size());
  for (auto& v : x.d_out) v = normal(gen);
  x.a.assign(N, 0.2f);
  x.b.assign(N, 0.02f);
  x.g.assign(N, 3.0f);
  x.I.assign(N, 0.0f);
  return x;
}

// Worst |got − ref| / (atol + rtol·|ref| + 10·|ref_float − ref|) over the elements (> 1 fails;
// the same criterion as tests/test_gpu_ops.cu).
double worst_ratio(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<float>& ref_f,
                   std::size_t count) {
  double worst = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double tol = 1e-5 + 1e-4 * std::abs(ref[i]) + 10.0 * std::abs(static_cast<double>(ref_f[i]) - ref[i]);
    const double err = std::abs(static_cast<double>(got[i]) - ref[i]);
    worst = std::max(worst, std::isfinite(got[i]) ? err / tol : INFINITY);
  }
  return worst;
}

struct Reference {
  std::vector<double> out, d_in, grad[4], grad_scale[4];
  std::vector<float> out_f, d_in_f, grad_f[4];
};

// CPU reference (double, and float for the rounding scale) of the first `rows` samples.
Reference cpu_reference(const NeuronShape& full, const Inputs& x, int rows) {
  NeuronShape s = full;
  s.batch = rows;
  const int N = s.neurons;
  const std::size_t n_io = static_cast<std::size_t>(rows) * 2 * N;
  Reference r;
  std::vector<double> in(x.in.begin(), x.in.begin() + n_io), d_out(x.d_out.begin(), x.d_out.begin() + n_io);
  std::vector<double> a(x.a.begin(), x.a.end()), b(x.b.begin(), x.b.end()), g(x.g.begin(), x.g.end()),
      I(x.I.begin(), x.I.end());
  std::vector<double> ckv(s.checkpoint_elems()), ckw(s.checkpoint_elems());
  r.out.resize(n_io);
  r.d_in.resize(n_io);
  for (auto& v : r.grad) v.resize(N);
  const FhnParamPtrs<double> p{a.data(), b.data(), g.data(), I.data()};
  fhn_forward_cpu(s, in.data(), p, r.out.data(), ckv.data(), ckw.data());
  fhn_backward_cpu(s, in.data(), p, ckv.data(), ckw.data(), d_out.data(), r.d_in.data(),
                   FhnGradPtrs<double>{r.grad[0].data(), r.grad[1].data(), r.grad[2].data(), r.grad[3].data()});
  // Σ_b |per-sample gradient| per neuron, the scale of the float batch sum's error.
  for (auto& v : r.grad_scale) v.assign(N, 0.0);
  const std::size_t stride = static_cast<std::size_t>(rows) * N;
  for (int n = 0; n < N; ++n)
    for (int bb = 0; bb < rows; ++bb) {
      const std::size_t row = static_cast<std::size_t>(bb) * 2 * N;
      const std::size_t at = static_cast<std::size_t>(bb) * N + n;
      double lv = d_out[row + n], lw = d_out[row + N + n];
      FhnParamGrad<double> gr;
      fhn_backward_trajectory(in[row + n], in[row + N + n], FhnParams<double>{a[n], b[n], g[n], I[n]}, I[n], s.dt,
                              s.steps, s.clip, ckv.empty() ? nullptr : ckv.data() + at,
                              ckw.empty() ? nullptr : ckw.data() + at, stride, lv, lw, gr);
      r.grad_scale[0][n] += std::abs(gr.a);
      r.grad_scale[1][n] += std::abs(gr.b);
      r.grad_scale[2][n] += std::abs(gr.g);
      r.grad_scale[3][n] += std::abs(gr.I);
    }
  std::vector<float> in_f(x.in.begin(), x.in.begin() + n_io), d_out_f(x.d_out.begin(), x.d_out.begin() + n_io);
  std::vector<float> ckv_f(s.checkpoint_elems()), ckw_f(s.checkpoint_elems());
  r.out_f.resize(n_io);
  r.d_in_f.resize(n_io);
  for (auto& v : r.grad_f) v.resize(N);
  const FhnParamPtrs<float> pf{x.a.data(), x.b.data(), x.g.data(), x.I.data()};
  fhn_forward_cpu(s, in_f.data(), pf, r.out_f.data(), ckv_f.data(), ckw_f.data());
  fhn_backward_cpu(s, in_f.data(), pf, ckv_f.data(), ckw_f.data(), d_out_f.data(), r.d_in_f.data(),
                   FhnGradPtrs<float>{r.grad_f[0].data(), r.grad_f[1].data(), r.grad_f[2].data(), r.grad_f[3].data()});
  return r;
}

// Device copies of one shape's tensors.
struct DeviceLayer {
  NeuronShape s;
  DeviceBuffer<float> in, d_out, a, b, g, I, out, ckv, ckw, d_in, ga, gb, gg, gI, workspace;

  DeviceLayer(const NeuronShape& shape, const Inputs& x) : s(shape) {
    auto up = [](const std::vector<float>& h) {
      DeviceBuffer<float> d(h.size());
      d.upload(h);
      return d;
    };
    in = up(x.in);
    d_out = up(x.d_out);
    a = up(x.a);
    b = up(x.b);
    g = up(x.g);
    I = up(x.I);
    const std::size_t io = static_cast<std::size_t>(s.batch) * 2 * s.neurons;
    for (DeviceBuffer<float>* buf : {&out, &d_in}) *buf = DeviceBuffer<float>(io);
    for (DeviceBuffer<float>* buf : {&ckv, &ckw}) *buf = DeviceBuffer<float>(s.checkpoint_elems());
    for (DeviceBuffer<float>* buf : {&ga, &gb, &gg, &gI}) *buf = DeviceBuffer<float>(s.neurons);
    workspace = DeviceBuffer<float>(fhn_backward_workspace_floats(s));
    for (DeviceBuffer<float>* buf : {&out, &d_in, &ckv, &ckw, &ga, &gb, &gg, &gI}) buf->poison();
  }
  void forward(cudaStream_t st) {
    fhn_forward_gpu(s, in.data(), FhnParamPtrs<float>{a.data(), b.data(), g.data(), I.data()}, out.data(), ckv.data(),
                    ckw.data(), nullptr, 0, st);
  }
  // param_grads false: only the input gradients, the work the peer's `layer` benchmark does (its
  // a, b, g are constants); true: also the batch-reduced parameter gradients training needs.
  void backward(cudaStream_t st, bool param_grads = true) {
    const FhnGradPtrs<float> grads = param_grads ? FhnGradPtrs<float>{ga.data(), gb.data(), gg.data(), gI.data()}
                                                 : FhnGradPtrs<float>{nullptr, nullptr, nullptr, nullptr};
    fhn_backward_gpu(s, in.data(), FhnParamPtrs<float>{a.data(), b.data(), g.data(), I.data()}, ckv.data(), ckw.data(),
                     d_out.data(), d_in.data(), grads, workspace.data(), st);
  }
};

// Validation: a batch of 64 checked in full (outputs, input gradients, parameter gradients), and
// the first 16 rows of the timed shape's own run (rows are independent up to the batch sums).
double validate(const NeuronShape& shape, std::uint32_t seed, std::string* report) {
  NeuronShape small = shape;
  small.batch = std::min(shape.batch, 64);
  const Inputs xs = make_inputs(small, seed + 1);
  DeviceLayer ds(small, xs);
  ds.forward(0);
  ds.backward(0);
  DYNPMNN_CUDA_CHECK(cudaDeviceSynchronize());
  const Reference rs = cpu_reference(small, xs, small.batch);
  double worst = 0;
  std::ostringstream os;
  auto note = [&](const char* what, double w) {
    os << what << " " << w << "; ";
    worst = std::max(worst, w);
  };
  note("out", worst_ratio(ds.out.download(), rs.out, rs.out_f, rs.out.size()));
  note("d_in", worst_ratio(ds.d_in.download(), rs.d_in, rs.d_in_f, rs.d_in.size()));
  DeviceBuffer<float>* grads[4] = {&ds.ga, &ds.gb, &ds.gg, &ds.gI};
  const char* names[4] = {"d_a", "d_b", "d_g", "d_I"};
  for (int k = 0; k < 4; ++k) {
    const auto got = grads[k]->download();
    double w = 0;
    for (int n = 0; n < small.neurons; ++n) {
      const double tol = 1e-5 + 1e-4 * (std::abs(rs.grad[k][n]) + rs.grad_scale[k][n]) +
                         10.0 * std::abs(static_cast<double>(rs.grad_f[k][n]) - rs.grad[k][n]);
      const double err = std::abs(static_cast<double>(got[n]) - rs.grad[k][n]);
      w = std::max(w, std::isfinite(got[n]) ? err / tol : INFINITY);
    }
    note(names[k], w);
  }
  *report = os.str();
  return worst;
}

double validate_slice(DeviceLayer& d, const Inputs& x, std::string* report) {
  const int rows = std::min(d.s.batch, 16);
  const Reference r = cpu_reference(d.s, x, rows);
  const double w_out = worst_ratio(d.out.download(), r.out, r.out_f, r.out.size());
  const double w_din = worst_ratio(d.d_in.download(), r.d_in, r.d_in_f, r.d_in.size());
  *report += "slice out " + std::to_string(w_out) + "; slice d_in " + std::to_string(w_din) + "; ";
  return std::max(w_out, w_din);
}

int run(int argc, char** argv) {
  int repeats = 30;
  std::string shapes_arg = "paper,wide";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc) repeats = std::max(20, std::atoi(argv[++i]));
    else if (arg == "--shapes" && i + 1 < argc) shapes_arg = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_fhn [--repeats N>=20] [--shapes paper,wide]\n");
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "bench_fhn: no CUDA device\n");
    return 2;
  }
  cudaDeviceProp prop{};
  DYNPMNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double peak_gflops = measure_fp32_peak_gflops(prop);
  const double d2d_gbs = measure_d2d_gbs();
  std::printf("{\"bench\":\"device_peaks\",\"device\":\"%s\",\"sms\":%d,\"l2_bytes\":%d,\"fp32_fma_gflops\":%.1f,"
              "\"d2d_copy_gbs\":%.1f}\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize, peak_gflops, d2d_gbs);
  std::fflush(stdout);

  const std::vector<Shape> all = {{"paper", 32, 1, 25, 0.05}, {"wide", 4096, 1024, 100, 0.05}};
  // Flushing: writing a buffer twice the L2 evicts whatever the previous repeat left there.
  DeviceBuffer<unsigned char> flush(std::max<std::size_t>(2 * static_cast<std::size_t>(prop.l2CacheSize), 64u << 20));
  int status = 0;
  for (const Shape& sh : all) {
    if (("," + shapes_arg + ",").find("," + sh.name + ",") == std::string::npos) continue;
    NeuronShape s;
    s.batch = sh.batch;
    s.neurons = sh.neurons;
    s.steps = sh.steps;
    s.dt = sh.dt;
    s.coupling = Coupling::kInitialCondition;
    std::string report;
    double worst = validate(s, 17, &report);
    const Inputs x = make_inputs(s, 42);
    DeviceLayer d(s, x);
    d.forward(0);
    d.backward(0);
    DYNPMNN_CUDA_CHECK(cudaDeviceSynchronize());
    worst = std::max(worst, validate_slice(d, x, &report));
    const bool valid = worst <= 1.0;
    if (!valid) {
      std::printf("{\"bench\":\"fhn_layer_fwd_bwd\",\"shape\":\"%s\",\"valid\":false,\"worst_error_over_tolerance\":%g,"
                  "\"detail\":\"%s\"}\n",
                  sh.name.c_str(), worst, report.c_str());
      status = 1;
      continue;  // never time a wrong result
    }
    // Timed twice: "<shape>" without parameter gradients (the peer's work, for the ratios) and
    // "<shape>+params" with them (what training with trainable FHN parameters runs).
    for (const bool param_grads : {false, true}) {
      Event e0, e1, e2;
      for (int w = 0; w < 3; ++w) {
        d.forward(0);
        d.backward(0, param_grads);
      }
      std::vector<double> total_ms, fwd_ms, bwd_ms;
      for (int r = 0; r < repeats; ++r) {
        DYNPMNN_CUDA_CHECK(cudaMemsetAsync(flush.data(), r & 0xFF, flush.bytes()));
        DYNPMNN_CUDA_CHECK(cudaEventRecord(e0.get()));
        d.forward(0);
        DYNPMNN_CUDA_CHECK(cudaEventRecord(e1.get()));
        d.backward(0, param_grads);
        DYNPMNN_CUDA_CHECK(cudaEventRecord(e2.get()));
        DYNPMNN_CUDA_CHECK(cudaEventSynchronize(e2.get()));
        fwd_ms.push_back(elapsed_ms(e0, e1));
        bwd_ms.push_back(elapsed_ms(e1, e2));
        total_ms.push_back(elapsed_ms(e0, e2));
      }
      const double ms = median(total_ms);
      const double pairs = static_cast<double>(s.batch) * s.neurons;
      const double gflop = pairs * flops_per_pair(s.steps, param_grads) / 1e9;
      const double gbytes = bytes_moved(s, param_grads ? fhn_backward_workspace_floats(s) : 0) / 1e9;
      const double gflops = gflop / (ms * 1e-3);
      const double gbs = gbytes / (ms * 1e-3);
      const std::string name = sh.name + (param_grads ? "+params" : "");
      std::printf("{\"bench\":\"fhn_layer_fwd_bwd\",\"device\":\"%s\",\"shape\":\"%s\",\"param_grads\":%s,"
                  "\"batch\":%d,\"neurons\":%d,"
                  "\"steps\":%d,\"dt\":%g,\"repeats\":%d,\"valid\":true,\"worst_error_over_tolerance\":%.3g,"
                  "\"ms_median\":%.5f,\"ms_min\":%.5f,\"fwd_ms_median\":%.5f,\"bwd_ms_median\":%.5f,"
                  "\"gflop\":%.4f,\"gflops\":%.1f,\"gbytes\":%.4f,\"gbs\":%.1f,\"fp32_fma_gflops\":%.1f,"
                  "\"d2d_copy_gbs\":%.1f,\"pct_fp32_peak\":%.2f,\"pct_d2d_bw\":%.2f}\n",
                  prop.name, name.c_str(), param_grads ? "true" : "false", s.batch, s.neurons, s.steps, s.dt,
                  repeats, worst, ms, *std::min_element(total_ms.begin(), total_ms.end()), median(fwd_ms),
                  median(bwd_ms), gflop, gflops, gbytes, gbs, peak_gflops, d2d_gbs, 100.0 * gflops / peak_gflops,
                  100.0 * gbs / d2d_gbs);
      std::fflush(stdout);
    }
  }
  return status;
}

}  // namespace
}  // namespace dynpmnn

int main(int argc, char** argv) {
  try {
    return dynpmnn::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fhn: %s\n", e.what());
    return 1;
  }
}
