#include "host/runtime/population.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>

#include "models/fused_model.h"
#include "models/layer_unit.h"

namespace dynpmnn {
namespace {

class MemberPopulation final : public PopulationBackend {
 public:
  MemberPopulation(std::vector<std::unique_ptr<Backend>> owned, std::vector<Backend*> members, int threads)
      : owned_(std::move(owned)), members_(std::move(members)), threads_(threads) {
    if (members_.empty()) throw std::invalid_argument("population: no models");
    if (threads_ < 1) throw std::invalid_argument("population: threads must be >= 1");
  }

  int size() const override { return static_cast<int>(members_.size()); }
  std::string name() const override { return members_[0]->name(); }
  Backend& member(int m) override { return *members_.at(static_cast<std::size_t>(m)); }

  std::vector<EpochStats> train_epochs(std::span<const int> epochs) override {
    if (epochs.size() != members_.size())
      throw std::invalid_argument("population: train_epochs got " + std::to_string(epochs.size()) +
                                  " epoch numbers for " + std::to_string(members_.size()) + " models");
    std::vector<EpochStats> stats(members_.size());
    std::vector<int> todo;
    for (std::size_t m = 0; m < members_.size(); ++m)
      if (epochs[m] > 0) todo.push_back(static_cast<int>(m));
    const auto train = [&](int m) {
      const auto t0 = std::chrono::steady_clock::now();
      stats[m] = members_[m]->train_epoch(epochs[m]);
      stats[m].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const int workers = std::min<int>(threads_, static_cast<int>(todo.size()));
    if (workers <= 1) {
      for (int m : todo) train(m);
      return stats;
    }
    // Models are independent objects: any thread may train any of them. The first exception (out
    // of memory, say) is rethrown here once every thread has stopped.
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    const auto worker = [&] {
      for (std::size_t i; !failed && (i = next++) < todo.size();) {
        try {
          train(todo[i]);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    return stats;
  }

 private:
  std::vector<std::unique_ptr<Backend>> owned_;
  std::vector<Backend*> members_;
  int threads_;
};

}  // namespace

std::unique_ptr<PopulationBackend> make_member_population(std::vector<std::unique_ptr<Backend>> members,
                                                          int threads) {
  std::vector<Backend*> raw;
  for (const auto& b : members) {
    if (!b) throw std::invalid_argument("population: a null backend");
    raw.push_back(b.get());
  }
  return std::make_unique<MemberPopulation>(std::move(members), std::move(raw), threads);
}

std::unique_ptr<PopulationBackend> make_single_population(Backend& backend) {
  return std::make_unique<MemberPopulation>(std::vector<std::unique_ptr<Backend>>{}, std::vector<Backend*>{&backend},
                                            1);
}

bool fused_population_layout(std::span<const ModelSpec> specs, std::span<const TrainHyper> hypers,
                             const SplitData& data, FusedLayout& layout, std::vector<FusedParamInfo>& info,
                             std::vector<FusedHyper>& hyper, std::string* why) {
  const auto refuse = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (specs.empty() || specs.size() != hypers.size()) return refuse("no models, or not one hyperparameter set each");
  if (const char* env = std::getenv("DYNPMNN_FUSED"); env != nullptr && std::strcmp(env, "0") == 0)
    return refuse("DYNPMNN_FUSED=0");
  if (specs.size() > 65535) return refuse("more than 65535 models");
  hyper.clear();
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const TrainHyper& h = hypers[k];
    if (h.loss != Loss::kMse) return refuse("the fused population trains the MSE loss");
    if (h.data_shards != 1 || h.exchange) return refuse("the fused population trains one shard per minibatch");
    if (h.batch_size != hypers[0].batch_size) return refuse("the models' batch sizes differ");
    const ParamTable table(specs[k]);
    FusedLayout L;
    std::vector<FusedParamInfo> I;
    if (!fused_layout_for(specs[k], table, h.batch_size, data.train.rows, L, I, why)) return false;
    if (k == 0) {
      layout = L;
      info = I;
    } else {
      // Everything but the checkpoint count (the step) must be the first model's.
      if (!fused_same_layout(L, layout) || I.size() != info.size() ||
          !std::equal(I.begin(), I.end(), info.begin(), [](FusedParamInfo a, FusedParamInfo b) {
            return a.trained == b.trained && a.map == b.map;
          }))
        return refuse("the models' layouts differ");
      layout.checkpoints = std::max(layout.checkpoints, L.checkpoints);
    }
    if (specs[k].layers[0].integrator != specs[0].layers[0].integrator) return refuse("the models' schemes differ");
    hyper.push_back(fused_hyper_for(specs[k], h.adam, h.seed));
  }
  return true;
}

bool batched_population_layout(std::span<const ModelSpec> specs, std::span<const TrainHyper> hypers,
                               std::string* why) {
  const auto refuse = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (specs.empty() || specs.size() != hypers.size()) return refuse("no models, or not one hyperparameter set each");
  if (const char* env = std::getenv("DYNPMNN_BATCHED"); env != nullptr && std::strcmp(env, "0") == 0)
    return refuse("DYNPMNN_BATCHED=0");
  if (specs.size() > 1024) return refuse("more than 1024 models");
  const ModelSpec& first = specs[0];
  for (const LayerSpec& L : first.layers)
    if (!layer_unit(L.kind).gpu_population())
      return refuse("a " + L.kind + " layer has no population half on the GPU");
  const ParamTable table(first);
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const TrainHyper& h = hypers[k];
    if (h.loss != Loss::kMse) return refuse("the batched population trains the MSE loss");
    if (h.data_shards != 1 || h.exchange) return refuse("the batched population trains one shard per minibatch");
    if (h.batch_size != hypers[0].batch_size) return refuse("the models' batch sizes differ");
    const ModelSpec& s = specs[k];
    if (s.inputs != first.inputs || s.outputs != first.outputs || s.layers.size() != first.layers.size())
      return refuse("the models' shapes differ");
    for (std::size_t l = 0; l < s.layers.size(); ++l) {
      // What the kernels share: everything but each model's dt, t_end, clamp and neuron parameters' starting values.
      const LayerSpec &a = s.layers[l], &b = first.layers[l];
      const NeuronParamMaps ma = a.kind == "fhn" ? a.neuron_maps() : NeuronParamMaps{};
      const NeuronParamMaps mb = b.kind == "fhn" ? b.neuron_maps() : NeuronParamMaps{};
      if (a.kind != b.kind || a.units != b.units || a.coupling != b.coupling || a.integrator != b.integrator ||
          a.layernorm != b.layernorm || a.activation != b.activation || a.neuron_model != b.neuron_model ||
          a.voltage_readout != b.voltage_readout || ma.count != mb.count ||
          !std::equal(ma.m, ma.m + ma.count, mb.m))
        return refuse("layer " + std::to_string(l) + " differs between the models");
      // The neuron op picks its stepper by whether any model clamps: models with a clamp and
      // models without would not run the stepper they run alone (population_key keeps them apart).
      if ((a.clip > 0) != (b.clip > 0)) return refuse("models with a clamp and models without");
    }
    const ParamTable other(s);
    if (other.total() != table.total() || other.tensors().size() != table.tensors().size() ||
        !std::equal(other.tensors().begin(), other.tensors().end(), table.tensors().begin(),
                    [](const ParamTensor& x, const ParamTensor& y) {
                      return x.offset == y.offset && x.size == y.size && x.trainable == y.trainable &&
                             x.kind == y.kind && x.layer == y.layer;
                    }))
      return refuse("the models' parameter tables differ (trained tensors, say)");
  }
  return true;
}

#if !defined(DYNPMNN_HAVE_CUDA)
std::unique_ptr<PopulationBackend> make_fused_cuda_population(std::span<const ModelSpec>, std::span<const TrainHyper>,
                                                              const SplitData&, std::string* why) {
  cuda_available(why);
  return nullptr;
}
std::unique_ptr<PopulationBackend> make_batched_cuda_population(std::span<const ModelSpec>,
                                                                std::span<const TrainHyper>, const SplitData&,
                                                                std::string* why) {
  cuda_available(why);
  return nullptr;
}
#endif

}  // namespace dynpmnn
