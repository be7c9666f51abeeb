// Kernel launches per minibatch step of a population, counted by CUPTI (issue 11: "a population is
// not a loop of single runs: report kernel launches per minibatch step at P = 1 and P = 256"). Every
// launch the process makes is counted at the runtime API (ours and cub's) and at the driver API
// (those and cuBLAS's), and CUDA graph launches apart (one graph holds a step's kernels), during
// one training epoch after a warm-up epoch, for:
//   fused          the fused population (one launch an epoch), P = 1 and P = 256
//   fused-step     the same with a launch per minibatch (DYNPMNN_FUSED=step)
//   layers         a population of separate layer-by-layer CUDA backends, P = 1 and P = 16
// of the paper's model (one FitzHugh–Nagumo neuron, 25 steps, batches of 32), and
//   batched        the batched population (a step's kernels once for all models, graph-captured),
//                  P = 1 and P = 256, of the default model (two layers of 44 neurons, current
//                  coupling, the semi-implicit step, 20 steps; the fused kernels do not take it)
// on 2048 random rows.
// Prints one JSON line per configuration.
#include <cupti.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "host/runtime/population.h"
#include "models/dynpmnn.h"

namespace {

using namespace dynpmnn;

std::atomic<long> g_runtime{0}, g_driver{0}, g_graphs{0};

void CUPTIAPI on_api(void*, CUpti_CallbackDomain domain, CUpti_CallbackId id, const void* data) {
  if (static_cast<const CUpti_CallbackData*>(data)->callbackSite != CUPTI_API_ENTER) return;
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
    switch (id) {
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060: ++g_runtime; break;
      case CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000:
      case CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000: ++g_graphs; break;
      default: break;
    }
  } else if (domain == CUPTI_CB_DOMAIN_DRIVER_API) {
    switch (id) {
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel:
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz:
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx:
      case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz: ++g_driver; break;
      default: break;
    }
  }
}

#define CUPTI_OK(call)                                                                       \
  do {                                                                                       \
    const CUptiResult r_ = (call);                                                           \
    if (r_ != CUPTI_SUCCESS) {                                                               \
      const char* s_ = nullptr;                                                              \
      cuptiGetResultString(r_, &s_);                                                         \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, s_ ? s_ : "?");    \
      std::exit(1);                                                                          \
    }                                                                                        \
  } while (0)

SplitData launch_bench_data(int rows) {
  std::mt19937 gen(5);
  std::normal_distribution<double> normal;
  const auto make = [&](int n) {
    Dataset d;
    d.rows = n;
    d.features = 8;
    d.targets = 1;
    for (int i = 0; i < n * 8; ++i) d.x.push_back(normal(gen));
    for (int i = 0; i < n; ++i) d.y.push_back(normal(gen));
    return d;
  };
  SplitData s;
  s.train = make(rows);
  s.val = make(rows / 4);
  s.test = make(rows / 4);
  s.scaler.mean.assign(8, 0.0);
  s.scaler.std.assign(8, 1.0);
  return s;
}

ModelSpec paper_spec() {
  ModelSpec spec;
  spec.inputs = 8;
  spec.outputs = 1;
  LayerSpec L;
  L.units = 1;
  L.dt = 1;  // 25 steps of a stable step: the count, not the blow-up, is measured
  L.t_end = 25;
  spec.layers = {L};
  return spec;
}

// models/presets/default.toml's architecture.
ModelSpec default_spec() {
  ModelSpec spec;
  LayerSpec L;
  L.units = 44;
  L.coupling = Coupling::kCurrent;
  L.integrator = Integrator::kImex;
  L.dt = 0.1;
  L.t_end = 2;
  spec.layers = {L, L};
  return spec;
}

void measure(const std::string& form, int P, const SplitData& data) {
  const ModelSpec spec = form == "batched" ? default_spec() : paper_spec();
  const ParamTable table(spec);
  std::vector<ModelSpec> specs(P, spec);
  std::vector<TrainHyper> hypers(P);
  for (int k = 0; k < P; ++k) {
    hypers[k].batch_size = 32;
    hypers[k].seed = static_cast<std::uint64_t>(k);
    hypers[k].adam.lr = 1e-3;
  }
  setenv("DYNPMNN_FUSED", form == "fused-step" ? "step" : form == "layers" ? "0" : "1", 1);
  std::unique_ptr<PopulationBackend> pop;
  if (form == "layers") {
    std::vector<std::unique_ptr<Backend>> members;
    for (int k = 0; k < P; ++k) {
      members.push_back(make_cuda_backend(spec, hypers[k]));
      members.back()->set_data(data);
    }
    pop = make_member_population(std::move(members), 1);
  } else {
    std::string why;
    pop = form == "batched" ? make_batched_cuda_population(specs, hypers, data, &why)
                            : make_fused_cuda_population(specs, hypers, data, &why);
    if (!pop) {
      std::fprintf(stderr, "bench_population_launches: no %s population: %s\n", form.c_str(), why.c_str());
      std::exit(1);
    }
  }
  for (int k = 0; k < P; ++k) {
    std::vector<double> p(table.total());
    init_params(spec, table, static_cast<std::uint64_t>(k), p);
    pop->member(k).set_params(p);
  }
  (void)pop->train_epochs(std::vector<int>(P, 1));  // warm-up: module loading, the graph's capture
  g_runtime = g_driver = g_graphs = 0;
  (void)pop->train_epochs(std::vector<int>(P, 2));
  const long runtime = g_runtime, driver = g_driver, graphs = g_graphs;
  const int steps = (data.train.rows + 31) / 32;
  std::printf("{\"bench\": \"population_launches\", \"form\": \"%s\", \"models\": %d, \"minibatch_steps\": %d, "
              "\"runtime_kernel_launches\": %ld, \"driver_kernel_launches\": %ld, \"graph_launches\": %ld, "
              "\"launches_per_step\": %.4f, \"backend\": \"%s\"}\n",
              form.c_str(), P, steps, runtime, driver, graphs,
              static_cast<double>(std::max(runtime, driver) + graphs) / steps, pop->name().c_str());
}

}  // namespace

int main() {
  std::string why;
  if (!cuda_available(&why)) {
    std::fprintf(stderr, "bench_population_launches: %s\n", why.c_str());
    return 1;
  }
  CUpti_SubscriberHandle subscriber;
  CUPTI_OK(cuptiSubscribe(&subscriber, on_api, nullptr));
  CUPTI_OK(cuptiEnableDomain(1, subscriber, CUPTI_CB_DOMAIN_RUNTIME_API));
  CUPTI_OK(cuptiEnableDomain(1, subscriber, CUPTI_CB_DOMAIN_DRIVER_API));
  const SplitData data = launch_bench_data(2048);
  for (int P : {1, 256}) measure("fused", P, data);
  for (int P : {1, 256}) measure("fused-step", P, data);
  for (int P : {1, 16}) measure("layers", P, data);
  for (int P : {1, 256}) measure("batched", P, data);
  CUPTI_OK(cuptiUnsubscribe(subscriber));
  return 0;
}
