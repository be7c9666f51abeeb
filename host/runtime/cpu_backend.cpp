// The CPU reference backend: double precision, single-threaded, deterministic for a seed.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "host/runtime/backend.h"
#include "models/cpu_model.h"
#include "kernels/cpu_isa.h"
#include "kernels/loss.h"
#include "kernels/ops.h"
#include "kernels/ops_cpu_simd.h"

namespace dynpmnn {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelSpec& spec, const TrainHyper& hyper)
      : spec_(spec), table_(spec), hyper_(hyper), model_(spec_, table_) {
    if (hyper_.batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
    if (hyper_.data_shards <= 0) throw std::invalid_argument("data_shards must be > 0");
    if (hyper_.exchange && hyper_.exchange->size() != hyper_.data_shards)
      throw std::invalid_argument("data_shards = " + std::to_string(hyper_.data_shards) + " but the exchange has " +
                                  std::to_string(hyper_.exchange->size()) + " ranks");
    params_.assign(table_.total(), 0.0);
    grad_.assign(table_.total(), 0.0);
    m_.assign(table_.total(), 0.0);
    v_.assign(table_.total(), 0.0);
  }

  std::string name() const override { return "cpu"; }

  void set_data(const SplitData& data) override {
    check_backend_data(spec_, hyper_.loss, data);
    data_ = data;
  }

  void set_params(std::span<const double> params) override {
    check_param_count("set_params", params.size(), params_.size());
    std::copy(params.begin(), params.end(), params_.begin());
    std::fill(m_.begin(), m_.end(), 0.0);
    std::fill(v_.begin(), v_.end(), 0.0);
    adam_step_ = 0;
  }

  void get_params(std::span<double> out) const override {
    check_param_count("get_params", out.size(), params_.size());
    std::copy(params_.begin(), params_.end(), out.begin());
  }

  OptimizerState get_optimizer_state() const override { return OptimizerState{adam_step_, m_, v_}; }

  void set_optimizer_state(const OptimizerState& state) override {
    check_optimizer_state(state, m_.size());
    m_ = state.m;
    v_ = state.v;
    adam_step_ = state.step;
  }

  EpochStats train_epoch(int epoch) override {
    const Dataset& train = data_.train;
    const int F = train.features, T = train.targets, K = spec_.outputs, B = hyper_.batch_size;
    const auto order = epoch_permutation(hyper_.seed, epoch, static_cast<std::uint32_t>(train.rows));
    EpochStats stats;
    double loss_sum = 0;
    for (int start = 0; start < train.rows; start += B) {
      const int n = std::min(B, train.rows - start);
      xb_.resize(static_cast<std::size_t>(n) * F);
      yb_.resize(static_cast<std::size_t>(n) * T);
      pred_.resize(static_cast<std::size_t>(n) * K);
      dpred_.resize(static_cast<std::size_t>(n) * K);
      for (int i = 0; i < n; ++i) {
        const std::size_t row = order[start + i];
        std::copy_n(train.x.begin() + row * F, F, xb_.begin() + static_cast<std::size_t>(i) * F);
        std::copy_n(train.y.begin() + row * T, T, yb_.begin() + static_cast<std::size_t>(i) * T);
      }
      const long step = start / B;
      double loss = 0;
      if (hyper_.data_shards > 1) {
        const int bad = sharded_step(n);
        if (bad != kAllFinite) return diverged(stats, loss_sum, epoch, step, bad);
        loss = shard_loss_;
      } else {
        const int bad = model_.forward(params_.data(), xb_.data(), n, pred_.data());
        if (bad != kAllFinite) return diverged(stats, loss_sum, epoch, step, bad);
        loss = hyper_.loss == Loss::kSoftmaxCrossEntropy
                   ? softmax_cross_entropy_cpu(pred_.data(), yb_.data(), n, K, dpred_.data())
                   : mse_loss_cpu(pred_.data(), yb_.data(), pred_.size(), dpred_.data());
        model_.backward(params_.data(), xb_.data(), dpred_.data(), grad_.data());
      }
      if (!std::isfinite(loss) || !all_finite(grad_)) return diverged(stats, loss_sum, epoch, step, -2);
      adam_update_all();
      loss_sum += loss;
      ++stats.steps;
    }
    stats.train_loss = stats.steps ? loss_sum / static_cast<double>(stats.steps) : 0.0;
    return stats;
  }

  std::vector<double> predict(Split split) override {
    const Dataset& d = split == Split::kTrain ? data_.train : split == Split::kVal ? data_.val : data_.test;
    std::vector<double> out(static_cast<std::size_t>(d.rows) * spec_.outputs);
    constexpr int kChunk = 4096;
    for (int start = 0; start < d.rows; start += kChunk) {
      const int n = std::min(kChunk, d.rows - start);
      model_.forward(params_.data(), d.x.data() + static_cast<std::size_t>(start) * d.features, n,
                     out.data() + static_cast<std::size_t>(start) * spec_.outputs);
    }
    return out;
  }

 private:
  static bool all_finite(const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  }

  EpochStats diverged(EpochStats& stats, double loss_sum, int epoch, long step, int layer) const {
    stats.train_loss = stats.steps ? loss_sum / static_cast<double>(stats.steps) : NAN;
    stats.divergence = Divergence{true, epoch, step, layer};
    return stats;
  }

  // The minibatch in xb_/yb_ (n rows) cut into data_shards shards (backend.h, shard_begin): each
  // shard's gradient and loss as parts of the minibatch's mean, computed here (shard_ += one per
  // shard in order) or, with an exchange, this process's shard only and the others gathered from
  // the other ranks; then summed in shard order into grad_ and shard_loss_. Returns the first
  // shard's (in order) non-finite forward layer, or kAllFinite.
  int sharded_step(int n) {
    const int K = hyper_.data_shards, F = data_.train.features, T = data_.train.targets, O = spec_.outputs;
    const std::size_t P = grad_.size(), slot = P + 2;  // gradient, loss, forward flag
    shard_all_.resize(slot * K);
    const auto compute = [&](int s, double* out) {
      const int lo = shard_begin(n, K, s), rows = shard_begin(n, K, s + 1) - lo;
      std::fill(out, out + slot, 0.0);
      out[P + 1] = kAllFinite;
      if (rows == 0) return;
      const double* x = xb_.data() + static_cast<std::size_t>(lo) * F;
      const double* y = yb_.data() + static_cast<std::size_t>(lo) * T;
      const int bad = model_.forward(params_.data(), x, rows, pred_.data());
      if (bad != kAllFinite) {
        out[P + 1] = bad;
        return;
      }
      const std::size_t values = static_cast<std::size_t>(rows) * O;
      out[P] = hyper_.loss == Loss::kSoftmaxCrossEntropy
                   ? softmax_cross_entropy_cpu(pred_.data(), y, rows, O, dpred_.data(), n)
                   : mse_loss_cpu(pred_.data(), y, values, dpred_.data(), static_cast<std::size_t>(n) * O);
      model_.backward(params_.data(), x, dpred_.data(), out);
    };
    if (hyper_.exchange) {
      shard_mine_.resize(slot);
      compute(hyper_.exchange->rank(), shard_mine_.data());
      hyper_.exchange->allgather(shard_mine_, shard_all_);
    } else {
      for (int s = 0; s < K; ++s) compute(s, shard_all_.data() + slot * s);
    }
    for (int s = 0; s < K; ++s) {
      const double flag = shard_all_[slot * s + P + 1];
      if (flag != kAllFinite) return static_cast<int>(flag);
    }
    std::copy_n(shard_all_.begin(), P, grad_.begin());
    shard_loss_ = shard_all_[P];
    for (int s = 1; s < K; ++s) {
      const double* g = shard_all_.data() + slot * s;
      for (std::size_t i = 0; i < P; ++i) grad_[i] += g[i];
      shard_loss_ += g[P];
    }
    return kAllFinite;
  }

  // torch.optim.Adam over every trainable tensor (one parameter group, L2 weight decay).
  void adam_update_all() {
    ++adam_step_;
    const AdamHyper& h = hyper_.adam;
    const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(adam_step_));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(h.beta2, static_cast<double>(adam_step_)));
    for (const auto& t : table_.tensors()) {
      if (!t.trainable) continue;
      // adam_update's bits, a vector at a time.
      adam_update_simd(cpu_isa_active(), params_.data() + t.offset, grad_.data() + t.offset, m_.data() + t.offset,
                       v_.data() + t.offset, t.size, h, bc1, bc2_sqrt);
    }
  }

  ModelSpec spec_;
  ParamTable table_;
  TrainHyper hyper_;
  CpuModel<double> model_;
  SplitData data_;
  std::vector<double> params_, grad_, m_, v_;  // (table.total()) each
  long adam_step_ = 0;
  std::vector<double> xb_, yb_, pred_, dpred_;  // minibatch scratch
  std::vector<double> shard_all_, shard_mine_;  // data_shards > 1: (K, P + 2) and (P + 2)
  double shard_loss_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelSpec& spec, const TrainHyper& hyper) {
  return std::make_unique<CpuBackend>(spec, hyper);
}

}  // namespace dynpmnn
