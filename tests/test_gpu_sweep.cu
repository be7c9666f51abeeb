// Several CUDA backends training at once on one device, as `dynpmnn sweep --jobs N --device cuda`
// runs them: through the backend API (three threads, graph capture required) and through the CLI
// (a sweep with --jobs 3 against the same sweep with --jobs 1), bit for bit.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host/runtime/backend.h"
#include "models/dynpmnn.h"
#include "tests/cli_runner.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

using test::ScopedEnv;
using test::params_of;

namespace fs = std::filesystem;

// One layer with every FHN parameter trained through the maps, so the concurrent runs exercise
// the parameter-map kernels inside the captured graph too.
ModelSpec mapped_spec(int neurons) {
  LayerSpec L;
  L.units = neurons;
  // dt = 0.5 diverged on both backends (explicit Euler past its limit for LayerNorm'd states); the
  // test is about concurrency, so the runs must train: dt 0.1, 20 steps.
  L.dt = 0.1;
  L.t_end = 2;
  L.train_a = L.train_b = L.train_g = L.train_I = true;
  L.param_space = FhnParamSpace::kPhysical;
  ModelSpec spec;
  spec.layers = {L};
  return spec;
}

// Three backends, each its own stream, cuBLAS handle and memory, training at once from three
// threads (graph capture required, so a capture broken by another thread's allocation fails
// instead of falling back): the results must be bit-identical to the same runs one at a time.
TEST(CudaBackendConcurrency, ThreeRunsAtOnceMatchOneAtATimeBitForBit) {
  DYNPMNN_REQUIRE_GPU();
  const ScopedEnv graphs("DYNPMNN_CUDA_GRAPHS", "1");
  const SplitData data = testing::synthetic_data(3000, 5);
  struct Job {
    ModelSpec spec;
    TrainHyper hyper;
    std::vector<double> params;
    std::vector<double> loss;
  };
  auto make_jobs = [&] {
    std::vector<Job> jobs;
    for (int j = 0; j < 3; ++j) {
      Job job;
      job.spec = mapped_spec(8 + 5 * j);
      job.hyper.batch_size = 32;
      job.hyper.adam.lr = 1e-3 * (j + 1);
      job.hyper.seed = static_cast<std::uint64_t>(j);
      jobs.push_back(job);
    }
    return jobs;
  };
  auto run = [&](Job& job) {
    const ParamTable table(job.spec);
    std::vector<double> p(table.total());
    init_params(job.spec, table, 7, p);
    auto backend = make_cuda_backend(job.spec, job.hyper);
    backend->set_data(data);
    backend->set_params(p);
    for (int epoch = 1; epoch <= 3; ++epoch) job.loss.push_back(backend->train_epoch(epoch).train_loss);
    job.params = params_of(*backend, table.total());
  };
  std::vector<Job> alone = make_jobs(), together = make_jobs();
  for (Job& job : alone) run(job);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(3);
  for (int j = 0; j < 3; ++j)
    threads.emplace_back([&, j] {
      try {
        run(together[j]);
      } catch (const std::exception& e) {
        errors[j] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int j = 0; j < 3; ++j) {
    SCOPED_TRACE("job " + std::to_string(j));
    ASSERT_EQ(errors[j], "");
    for (double loss : alone[j].loss) ASSERT_TRUE(std::isfinite(loss)) << "the run diverged; pick a stable config";
    EXPECT_EQ(together[j].loss, alone[j].loss);
    EXPECT_TRUE(test::bitwise_equal("params", test::convert<float>(together[j].params),
                                    test::convert<float>(alone[j].params)));
  }
}

class GpuSweep : public testing::CliFixture {};

constexpr const char* kRunNames[] = {"1-dt=0.1_t_end=0.6_seed=0", "2-dt=0.2_t_end=0.6_seed=0",
                                     "3-dt=0.3_t_end=0.6_seed=0"};

TEST_F(GpuSweep, JobsThreeOnCudaTrainsConcurrentlyAndMatchesJobsOne) {
  DYNPMNN_REQUIRE_GPU();
  DYNPMNN_REQUIRE_CALIFORNIA();
  testing::write_file(dir_ / "grid.toml",
                      "preset = \"wide-california\"\n[base]\nneurons = 4\nepochs = 2\ntrain_b = true\n"
                      "[grid]\ndt = [0.1, 0.2, 0.3]\nt_end = [0.6]\n");
  nlohmann::json results[2];
  const char* jobs[2] = {"3", "1"};
  for (int k = 0; k < 2; ++k) {
    const fs::path out = dir_ / (std::string("out") + jobs[k]);
    const testing::CliResult r =
        run("sweep " + testing::quote(dir_ / "grid.toml") + " --jobs " + jobs[k] + " --device cuda --out " +
            testing::quote(out));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    results[k] = nlohmann::json::parse(testing::last_line(r.out));
    EXPECT_EQ(results[k]["finished"], 3) << r.err;
    EXPECT_EQ(results[k]["failed"], 0) << r.err;
    EXPECT_TRUE(testing::contains(r.err, std::string(jobs[k]) + " at a time on cuda")) << r.err;
    for (const char* run_name : kRunNames) {
      const auto final_json = nlohmann::json::parse(testing::read_file(out / run_name / "final.json"));
      EXPECT_NE(final_json["backend"].get<std::string>().find("cuda"), std::string::npos) << final_json.dump();
    }
  }
  // Concurrency changes nothing: each run computes alone on its own stream, in a fixed order.
  EXPECT_EQ(results[0]["best"], results[1]["best"]);
  for (const char* run_name : kRunNames) {
    const auto a = nlohmann::json::parse(testing::read_file(dir_ / "out3" / run_name / "final.json"));
    const auto b = nlohmann::json::parse(testing::read_file(dir_ / "out1" / run_name / "final.json"));
    EXPECT_EQ(a["val_mse"], b["val_mse"]) << run_name;
    EXPECT_EQ(a["test_rmse"], b["test_rmse"]) << run_name;
  }
}

}  // namespace
}  // namespace dynpmnn
