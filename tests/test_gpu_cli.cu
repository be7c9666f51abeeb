// The CLI on the CUDA backend: train, resume, eval and predict with --device cuda, compared with
// the CPU backend on the same saved model; and a clear error when the GPU runs out of memory.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/device_buffer.h"
#include "tests/cli_runner.h"
#include "tests/gpu_test_util.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::last_line;
using testing::quote;
using testing::read_file;

// Float32 on the GPU against double on the CPU, for a model whose activations are O(1): predictions
// agree to a few float roundings through ~20 Euler steps, far inside 1e-4 (relative to the target
// scale of ~2).
constexpr double kBackendTolerance = 1e-4;

const std::string kSmallRun = "train --preset wide-california --set neurons=4 --quiet ";

std::vector<double> column(const std::string& csv) {
  std::vector<double> v;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) v.push_back(std::stod(line));
  return v;
}

class GpuCli : public CliFixture {};

TEST_F(GpuCli, EvalAndPredictOnCudaMatchTheCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  const CliResult trained = run(kSmallRun + "--device cpu --epochs 1 --out " + quote(out));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;

  const CliResult cpu = run("eval " + quote(out) + " --device cpu");
  const CliResult gpu = run("eval " + quote(out) + " --device cuda");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  const auto c = nlohmann::json::parse(last_line(cpu.out)), g = nlohmann::json::parse(last_line(gpu.out));
  for (const char* key : {"rmse", "mae", "mse"})
    EXPECT_NEAR(g[key].get<double>(), c[key].get<double>(), kBackendTolerance) << key;

  const std::string data_path = locate_california("");
  for (const char* device : {"cpu", "cuda"}) {
    const CliResult r = run("predict " + quote(out) + " --input " + quote(data_path) + " --output " +
                            quote(dir_ / (std::string(device) + ".csv")) + " --device " + device);
    ASSERT_EQ(r.exit_code, 0) << device << ": " << r.err;
  }
  const std::vector<double> pc = column(read_file(dir_ / "cpu.csv")), pg = column(read_file(dir_ / "cuda.csv"));
  ASSERT_EQ(pc.size(), 20640u);
  ASSERT_EQ(pg.size(), pc.size());
  for (std::size_t i = 0; i < pc.size(); ++i) ASSERT_NEAR(pg[i], pc[i], kBackendTolerance) << "row " << i;
}

TEST_F(GpuCli, TrainAndResumeOnCuda) {
  DYNPMNN_REQUIRE_GPU();
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path whole = dir_ / "whole", cut = dir_ / "cut";
  const CliResult a = run(kSmallRun + "--device cuda --epochs 3 --out " + quote(whole));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto fa = nlohmann::json::parse(last_line(a.out));
  EXPECT_NE(fa["backend"].get<std::string>().find("cuda"), std::string::npos) << fa.dump();
  EXPECT_EQ(fa["epochs"], 3);

  const CliResult stopped =
      run(kSmallRun + "--device cuda --epochs 3 --out " + quote(cut), "DYNPMNN_TEST_STOP_AFTER_EPOCH=1 ");
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  const CliResult resumed = run("train --resume " + quote(cut) + " --device cuda --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto fr = nlohmann::json::parse(last_line(resumed.out));
  EXPECT_EQ(fr["epochs"], 3);
  // The CUDA step is deterministic (fixed-order reductions) and the resume restores the Adam state
  // exactly (CudaBackend.ResumeFromOptimizerStateIsBitIdentical), so the end points agree to float
  // rounding of the saved state at most.
  EXPECT_NEAR(fr["val_mse"].get<double>(), fa["val_mse"].get<double>(), 1e-6 * fa["val_mse"].get<double>());
  EXPECT_NEAR(fr["test_rmse"].get<double>(), fa["test_rmse"].get<double>(), 1e-6);
}

TEST(GpuMemory, OutOfMemoryIsAClearErrorAndTheDeviceStaysUsable) {
  DYNPMNN_REQUIRE_GPU();
  try {
    DeviceBuffer<float> huge(std::size_t{1} << 42);  // 16 TiB
    FAIL() << "allocating 16 TiB on the GPU did not fail";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("out of memory"), std::string::npos) << what;
    EXPECT_NE(what.find("requested 17592186044416 bytes"), std::string::npos) << what;
  }
  DeviceBuffer<float> small(1024);  // the failed allocation left no sticky error behind
  small.upload(std::vector<float>(1024, 1.0f));
  EXPECT_EQ(small.download()[1023], 1.0f);
}

}  // namespace
}  // namespace dynpmnn
