// The NCCL exchange of data-parallel training on one GPU, without MPI: a CUDA backend whose
// gradient, loss and divergence flag pass through ncclAllReduce over a communicator of one rank
// trains as the plain CUDA backend does, within the GPU tests' tolerances (a sum over one rank
// adds nothing; the step runs on the stream instead of a captured graph). NCCL refuses two ranks
// on one GPU, so several ranks are left to a machine with several GPUs (docs/cluster.md); the
// rank-order sum they rely on is the CPU's, tested bit for bit in test_data_parallel.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "host/runtime/nccl_exchange.h"
#include "models/dynpmnn.h"
#include "tests/backend_test_util.h"

namespace dynpmnn {
namespace {

TEST(GpuDataParallel, OneRankThroughNcclTrainsAsThePlainBackend) {
  DYNPMNN_REQUIRE_GPU();
  if (!nccl_built_in()) GTEST_SKIP() << "this build has no NCCL (DYNPMNN_NCCL)";
  const SplitData data = test::synthetic_splits(300, 50, 50, 1.0, 21);
  ModelSpec spec;
  LayerSpec l;
  l.units = 8;
  l.integrator = Integrator::kImex;
  l.coupling = Coupling::kCurrent;
  l.dt = 0.5;
  l.t_end = 5.0;
  l.train_a = l.train_b = l.train_g = l.train_I = true;
  spec.layers = {l};
  const ParamTable table(spec);
  std::vector<double> init(table.total());
  init_params(spec, table, 4, init);
  const TrainHyper plain = test::paper_hyper();
  TrainHyper through = plain;
  through.exchange = make_nccl_exchange(0, 1, nccl_unique_id());
  std::vector<std::vector<double>> params;
  std::vector<std::vector<double>> losses;
  const std::vector<const TrainHyper*> runs = {&plain, &through};
  for (const TrainHyper* hyper : runs) {
    const std::unique_ptr<Backend> backend = make_cuda_backend(spec, *hyper);
    backend->set_data(data);
    backend->set_params(init);
    losses.emplace_back();
    for (int e = 1; e <= 3; ++e) {
      const EpochStats st = backend->train_epoch(e);
      ASSERT_FALSE(st.divergence.diverged);
      losses.back().push_back(st.train_loss);
    }
    params.emplace_back(table.total());
    backend->get_params(params.back());
  }
  for (int e = 0; e < 3; ++e) EXPECT_NEAR(losses[0][e], losses[1][e], 1e-5 * losses[0][e]) << "epoch " << e + 1;
  for (std::size_t i = 0; i < params[0].size(); ++i)
    EXPECT_NEAR(params[0][i], params[1][i], 1e-5 * (1.0 + std::abs(params[0][i]))) << "param " << i;
}

}  // namespace
}  // namespace dynpmnn
