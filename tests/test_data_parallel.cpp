// Data-parallel training in one process (host/runtime/backend.h: shards, ShardExchange): K CPU
// backends in K threads, each computing one shard of every minibatch and gathering the others'
// through an in-memory exchange, end bit for bit where one backend computing all K shards in turn
// (data_shards = K) ends. The MPI exchange (host/cli/data_parallel.cpp) differs only in how the
// gather travels; tests/mpi/test_mpi_sweep.cpp runs it under mpiexec.
#include <gtest/gtest.h>

#include <barrier>
#include <bit>
#include <cstdint>
#include <cmath>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "host/runtime/backend.h"
#include "models/dynpmnn.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

// The gather of K threads: each writes its row, all wait, each copies the whole table, all wait.
class SharedTable {
 public:
  explicit SharedTable(int ranks) : ranks_(ranks), sync_(ranks) {}
  void allgather(int rank, std::span<const double> mine, std::span<double> all) {
    if (table_.size() != all.size()) {
      sync_.arrive_and_wait();
      if (rank == 0) table_.assign(all.size(), 0.0);
      sync_.arrive_and_wait();
    }
    std::copy(mine.begin(), mine.end(), table_.begin() + static_cast<std::ptrdiff_t>(rank * mine.size()));
    sync_.arrive_and_wait();
    std::copy(table_.begin(), table_.end(), all.begin());
    sync_.arrive_and_wait();
  }
  int ranks() const { return ranks_; }

 private:
  int ranks_;
  std::barrier<> sync_;
  std::vector<double> table_;
};

class ThreadExchange final : public ShardExchange {
 public:
  ThreadExchange(SharedTable& table, int rank) : table_(table), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return table_.ranks(); }
  void allgather(std::span<const double> mine, std::span<double> all) override { table_.allgather(rank_, mine, all); }

 private:
  SharedTable& table_;
  int rank_;
};

// The paper's optimiser: Adam, lr 5e-4, weight decay 5e-3, batches of 32.
TrainHyper paper_hyper() {
  TrainHyper h;
  h.adam.lr = 5e-4;
  h.adam.weight_decay = 5e-3;
  h.seed = 11;
  return h;
}

struct Trained {
  std::vector<double> params;
  std::vector<EpochStats> epochs;
  OptimizerState optimizer;
};

Trained train(const ModelSpec& spec, const TrainHyper& hyper, const SplitData& data, int epochs) {
  const ParamTable table(spec);
  std::vector<double> params(table.total());
  init_params(spec, table, 3, params);
  const std::unique_ptr<Backend> backend = make_cpu_backend(spec, hyper);
  backend->set_data(data);
  backend->set_params(params);
  Trained out;
  for (int e = 1; e <= epochs; ++e) {
    out.epochs.push_back(backend->train_epoch(e));
    if (out.epochs.back().divergence.diverged) break;
  }
  out.params.resize(table.total());
  backend->get_params(out.params);
  out.optimizer = backend->get_optimizer_state();
  return out;
}

// The same run as K threads, one shard each.
std::vector<Trained> train_ranks(const ModelSpec& spec, TrainHyper hyper, const SplitData& data, int epochs, int K) {
  SharedTable table(K);
  std::vector<Trained> out(K);
  std::vector<std::thread> threads;
  for (int r = 0; r < K; ++r)
    threads.emplace_back([&, r] {
      TrainHyper mine = hyper;
      mine.data_shards = K;
      mine.exchange = std::make_shared<ThreadExchange>(table, r);
      out[r] = train(spec, mine, data, epochs);
    });
  for (std::thread& t : threads) t.join();
  return out;
}

ModelSpec fhn_spec(Integrator integrator, Coupling coupling, double dt, double t_end, int outputs = 1) {
  ModelSpec spec;
  spec.outputs = outputs;
  LayerSpec l;
  l.units = 4;
  l.integrator = integrator;
  l.coupling = coupling;
  l.dt = dt;
  l.t_end = t_end;
  l.train_a = l.train_b = l.train_g = l.train_I = true;
  spec.layers = {l, l};
  return spec;
}

void expect_same_bits(const Trained& a, const Trained& b, const char* what) {
  ASSERT_EQ(a.epochs.size(), b.epochs.size()) << what;
  for (std::size_t e = 0; e < a.epochs.size(); ++e) {
    // Bit for bit, NaN (a diverged epoch's mean) included.
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.epochs[e].train_loss), std::bit_cast<std::uint64_t>(b.epochs[e].train_loss))
        << what << " epoch " << e + 1 << ": " << a.epochs[e].train_loss << " vs " << b.epochs[e].train_loss;
    EXPECT_EQ(a.epochs[e].steps, b.epochs[e].steps) << what << " epoch " << e + 1;
    EXPECT_EQ(a.epochs[e].divergence.diverged, b.epochs[e].divergence.diverged) << what;
    EXPECT_EQ(a.epochs[e].divergence.step, b.epochs[e].divergence.step) << what;
    EXPECT_EQ(a.epochs[e].divergence.layer, b.epochs[e].divergence.layer) << what;
  }
  ASSERT_EQ(a.params.size(), b.params.size());
  for (std::size_t i = 0; i < a.params.size(); ++i) ASSERT_EQ(a.params[i], b.params[i]) << what << " param " << i;
  EXPECT_EQ(a.optimizer.step, b.optimizer.step) << what;
  EXPECT_EQ(a.optimizer.m, b.optimizer.m) << what;
  EXPECT_EQ(a.optimizer.v, b.optimizer.v) << what;
}

TEST(ShardBegin, CutsRowsIntoNearlyEqualContiguousShards) {
  EXPECT_EQ(shard_begin(32, 3, 0), 0);
  EXPECT_EQ(shard_begin(32, 3, 1), 10);
  EXPECT_EQ(shard_begin(32, 3, 2), 21);
  EXPECT_EQ(shard_begin(32, 3, 3), 32);
  // Fewer rows than shards: some shards are empty, the rows still each in exactly one.
  EXPECT_EQ(shard_begin(2, 3, 1), 0);
  EXPECT_EQ(shard_begin(2, 3, 2), 1);
  EXPECT_EQ(shard_begin(2, 3, 3), 2);
  for (int n : {0, 1, 5, 31, 32, 33, 1000})
    for (int K : {1, 2, 3, 7}) {
      int covered = 0;
      for (int s = 0; s < K; ++s) {
        const int size = shard_begin(n, K, s + 1) - shard_begin(n, K, s);
        EXPECT_GE(size, n / K) << n << " " << K;
        EXPECT_LE(size, n / K + 1) << n << " " << K;
        covered += size;
      }
      EXPECT_EQ(covered, n);
    }
}

// 101 training rows in minibatches of 32: the last has 5 rows, so 3 shards are 1, 2 and 2 rows
// (K = 3) and the sizes differ within a minibatch (32 = 10 + 11 + 11).
TEST(DataParallel, RanksEqualOneProcessComputingEveryShardBitForBit) {
  const SplitData data = testing::synthetic_data(101, 5);
  TrainHyper hyper = paper_hyper();
  hyper.adam.lr = 2e-3;
  for (const auto& [integrator, coupling] :
       {std::pair{Integrator::kImex, Coupling::kCurrent}, std::pair{Integrator::kRk4, Coupling::kInitialCondition}}) {
    const ModelSpec spec = fhn_spec(integrator, coupling, 0.5, 5.0);
    for (int K : {2, 3}) {
      SCOPED_TRACE(::testing::Message() << "K = " << K << " " << to_string(integrator));
      TrainHyper sharded = hyper;
      sharded.data_shards = K;
      const Trained one = train(spec, sharded, data, 3);
      const std::vector<Trained> ranks = train_ranks(spec, hyper, data, 3, K);
      for (int r = 0; r < K; ++r) expect_same_bits(one, ranks[r], "rank");
      // The same training as in one piece, up to the order of the sums: not bit for bit (the last
      // bits differ), but the same run.
      const Trained whole = train(spec, hyper, data, 3);
      for (std::size_t i = 0; i < whole.params.size(); ++i)
        EXPECT_NEAR(one.params[i], whole.params[i], 1e-9 * (1.0 + std::abs(whole.params[i]))) << "param " << i;
      for (std::size_t e = 0; e < whole.epochs.size(); ++e)
        EXPECT_NEAR(one.epochs[e].train_loss, whole.epochs[e].train_loss, 1e-12 * whole.epochs[e].train_loss);
    }
  }
}

// A minibatch of 2 rows over 3 ranks: the first rank's shard is empty on every step.
TEST(DataParallel, EmptyShardsWhenTheMinibatchHasFewerRowsThanRanks) {
  const SplitData data = testing::synthetic_data(9, 9);
  TrainHyper hyper = paper_hyper();
  hyper.batch_size = 2;
  const ModelSpec spec = fhn_spec(Integrator::kImex, Coupling::kCurrent, 1.0, 4.0);
  TrainHyper sharded = hyper;
  sharded.data_shards = 3;
  const Trained one = train(spec, sharded, data, 2);
  EXPECT_EQ(one.epochs[0].steps, 5);
  const std::vector<Trained> ranks = train_ranks(spec, hyper, data, 2, 3);
  for (const Trained& r : ranks) expect_same_bits(one, r, "rank");
  const Trained whole = train(spec, hyper, data, 2);
  for (std::size_t i = 0; i < whole.params.size(); ++i)
    EXPECT_NEAR(one.params[i], whole.params[i], 1e-9 * (1.0 + std::abs(whole.params[i])));
}

// Classification: the cross-entropy's mean is split as the MSE's.
TEST(DataParallel, CrossEntropyShardsAsTheMse) {
  SplitData data = testing::synthetic_data(70, 13);
  for (Dataset* d : {&data.train, &data.val, &data.test})
    for (double& y : d->y) y = y > 2.0 ? 1.0 : (y > 1.5 ? 2.0 : 0.0);
  data.class_labels = {"a", "b", "c"};
  TrainHyper hyper = paper_hyper();
  hyper.loss = Loss::kSoftmaxCrossEntropy;
  const ModelSpec spec = fhn_spec(Integrator::kImex, Coupling::kCurrent, 0.5, 3.0, 3);
  TrainHyper sharded = hyper;
  sharded.data_shards = 3;
  const Trained one = train(spec, sharded, data, 2);
  for (const Trained& r : train_ranks(spec, hyper, data, 2, 3)) expect_same_bits(one, r, "rank");
  const Trained whole = train(spec, hyper, data, 2);
  for (std::size_t i = 0; i < whole.params.size(); ++i)
    EXPECT_NEAR(one.params[i], whole.params[i], 1e-9 * (1.0 + std::abs(whole.params[i])));
}

// The paper's setting diverges in the first minibatch: every rank reports it where one process
// does, the layer of the first shard (in shard order) whose forward went non-finite.
TEST(DataParallel, DivergenceIsReportedAlikeOnEveryRank) {
  const SplitData data = testing::synthetic_data(64, 17);
  ModelSpec spec = fhn_spec(Integrator::kEuler, Coupling::kInitialCondition, 20.0, 500.0);
  TrainHyper hyper = paper_hyper();
  TrainHyper sharded = hyper;
  sharded.data_shards = 2;
  const Trained one = train(spec, sharded, data, 1);
  ASSERT_TRUE(one.epochs[0].divergence.diverged);
  EXPECT_EQ(one.epochs[0].divergence.step, 0);
  EXPECT_EQ(one.epochs[0].divergence.layer, 0);
  const Trained whole = train(spec, hyper, data, 1);
  EXPECT_EQ(whole.epochs[0].divergence.step, one.epochs[0].divergence.step);
  EXPECT_EQ(whole.epochs[0].divergence.layer, one.epochs[0].divergence.layer);
  for (const Trained& r : train_ranks(spec, hyper, data, 1, 2)) expect_same_bits(one, r, "rank");
}

TEST(DataParallel, AnExchangeOfAnotherSizeIsRefused) {
  SharedTable table(2);
  TrainHyper hyper = paper_hyper();
  hyper.data_shards = 3;
  hyper.exchange = std::make_shared<ThreadExchange>(table, 0);
  EXPECT_THROW(make_cpu_backend(fhn_spec(Integrator::kImex, Coupling::kCurrent, 1.0, 2.0), hyper),
               std::invalid_argument);
}

}  // namespace
}  // namespace dynpmnn
