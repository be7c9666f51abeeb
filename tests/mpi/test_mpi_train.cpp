// dynpmnn train --data-parallel over MPI ranks, through the real binary under mpirun (2 and 3
// ranks on this machine): on the CPU the ranks' run equals one process with data_shards = K bit
// for bit (best parameters, validation and test figures), rank 0 alone writes, an interrupted run
// resumes over the ranks (or as one process) to the uninterrupted one's result, and a run is not
// resumed over another number of ranks. The in-process twin of the first is
// tests/test_data_parallel.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"
#include "tests/data_test_util.h"
#include "host/runtime/backend.h"
#include "tests/mpi/mpi_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::quote;
using testing::read_file;

using MpiTrain = testing::MpiFixture;

// A small wide-california run: 8 neurons, 3 epochs, no early stop; minibatches of 32 (the last of
// the 14448 training rows has 16), cut 16/16 over 2 ranks and 10/11/11 over 3.
constexpr const char* kRun = "--preset wide-california --set neurons=8 --set patience=0 --device cpu -q";

// What the run's result is: the best parameters as written, and final.json's figures.
void expect_same_run(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::is_regular_file(a / "final.json")) << a;
  ASSERT_TRUE(fs::is_regular_file(b / "final.json")) << b;
  EXPECT_EQ(read_file(a / "best_params.json"), read_file(b / "best_params.json"));
  const auto fa = nlohmann::json::parse(read_file(a / "final.json"));
  const auto fb = nlohmann::json::parse(read_file(b / "final.json"));
  for (const char* key : {"status", "epochs", "best_epoch", "val_mse", "test_rmse", "test_mae", "test_r2"})
    EXPECT_EQ(fa.at(key), fb.at(key)) << key;
}

TEST_F(MpiTrain, RanksEqualOneProcessComputingEveryShardBitForBit) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(fmt::format("{} ranks", ranks));
    const fs::path alone = dir_ / fmt::format("alone{}", ranks), over = dir_ / fmt::format("ranks{}", ranks);
    const CliResult one = run(fmt::format("train {} --epochs 3 --set data_shards={} --out {}", kRun, ranks, quote(alone)));
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const int code = system(fmt::format("{} train {} --epochs 3 --data-parallel --out {} >{} 2>{}", mpirun(ranks), kRun,
                                        quote(over), quote(dir_ / "mpi.out"), quote(dir_ / "mpi.err")));
    ASSERT_EQ(code, 0) << read_file(dir_ / "mpi.err");
    expect_same_run(alone, over);
    EXPECT_TRUE(testing::contains(read_file(over / "config.toml"), fmt::format("data_shards = {}", ranks)));
    // Rank 0 alone prints the summary line.
    const std::string out = read_file(dir_ / "mpi.out");
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

// Three epochs over 2 ranks in one go, or 1 epoch and then --resume over 2 ranks, or --resume as
// one process: the same run. Over 3 ranks it is refused, naming data_shards.
TEST_F(MpiTrain, ResumeContinuesTheRunOverTheRanksOrAsOneProcess) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path whole = dir_ / "whole", part = dir_ / "part", solo = dir_ / "solo";
  const std::string log = " >" + quote(dir_ / "mpi.out") + " 2>" + quote(dir_ / "mpi.err");
  ASSERT_EQ(system(fmt::format("{} train {} --epochs 3 --data-parallel --out {}", mpirun(2), kRun, quote(whole)) + log), 0)
      << read_file(dir_ / "mpi.err");
  ASSERT_EQ(system(fmt::format("{} train {} --epochs 1 --data-parallel --out {}", mpirun(2), kRun, quote(part)) + log), 0)
      << read_file(dir_ / "mpi.err");
  fs::copy(part, solo, fs::copy_options::recursive);
  ASSERT_EQ(system(fmt::format("{} train --resume {} --epochs 3 --data-parallel -q", mpirun(2), quote(part)) + log), 0)
      << read_file(dir_ / "mpi.err");
  expect_same_run(whole, part);
  const CliResult one = run(fmt::format("train --resume {} --epochs 3 -q", quote(solo)));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  expect_same_run(whole, solo);

  fs::remove(solo / "final.json");
  const int refused =
      system(fmt::format("{} train --resume {} --epochs 4 --data-parallel -q", mpirun(3), quote(solo)) + log);
  EXPECT_NE(refused, 0);
  EXPECT_TRUE(testing::contains(read_file(dir_ / "mpi.err"), "data_shards = 2 but train --data-parallel runs over 3 "
                                                             "MPI ranks"))
      << read_file(dir_ / "mpi.err");
}

// The GPU path on one GPU: one rank under mpirun, its gradients through NCCL's allreduce (of one
// rank), against the same run without MPI, within the GPU backend's tolerances (a sum over one
// rank adds nothing; the step is not captured as a graph). NCCL refuses two ranks on one GPU, so
// this is the NCCL path's test; it differs from the CPU's MPI path only in the exchange's calls.
TEST_F(MpiTrain, OneGpuRankThroughNcclEqualsThePlainGpuRun) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  std::string why;
  if (!cuda_available(&why)) {
    const char* required = std::getenv("DYNPMNN_REQUIRE_GPU");
    if (required != nullptr && std::string(required) == "1") FAIL() << "DYNPMNN_REQUIRE_GPU=1 but " << why;
    GTEST_SKIP() << why;
  }
  const std::string gpu_run = "--preset wide-california --set neurons=16 --set patience=0 --epochs 3 --device cuda -q";
  const fs::path plain = dir_ / "plain", nccl = dir_ / "nccl";
  const CliResult one = run(fmt::format("train {} --out {}", gpu_run, quote(plain)));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(system(fmt::format("{} train {} --data-parallel --out {} >{} 2>{}", mpirun(1), gpu_run, quote(nccl),
                               quote(dir_ / "mpi.out"), quote(dir_ / "mpi.err"))), 0)
      << read_file(dir_ / "mpi.err");
  const auto a = nlohmann::json::parse(read_file(plain / "final.json"));
  const auto b = nlohmann::json::parse(read_file(nccl / "final.json"));
  EXPECT_EQ(a.at("status"), b.at("status"));
  EXPECT_EQ(a.at("best_epoch"), b.at("best_epoch"));
  for (const char* key : {"val_mse", "test_rmse"})
    EXPECT_NEAR(a.at(key).get<double>(), b.at(key).get<double>(), 1e-4 * a.at(key).get<double>()) << key;
  EXPECT_TRUE(testing::contains(b.at("backend").get<std::string>(), "cuda")) << b.dump();
}

}  // namespace
}  // namespace dynpmnn
