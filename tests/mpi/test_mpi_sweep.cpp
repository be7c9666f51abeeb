// dynpmnn sweep over MPI ranks, through the real binary under mpirun (2 and 3 ranks on this
// machine, --oversubscribe): the ranks' rows equal one process's, every run is claimed and
// finished once, and a rank killed by SIGKILL while it trains a run loses nothing: Open MPI ends
// the job, and the same command run again finishes exactly what was left, from checkpoints, with
// the rows of an uninterrupted sweep. Built where CMake finds an MPI (DYNPMNN_MPI); run serially.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tests/claims_log.h"
#include "tests/cli_runner.h"
#include "tests/data_test_util.h"
#include "tests/mpi/mpi_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::quote;
using testing::read_file;
using testing::write_file;
using testing::rows_without_timing;

// Eight runs of a few tenths of a second.
constexpr const char* kQuickGrid = R"(preset = "wide-california"
seeds = [0, 1]
[base]
neurons = 8
epochs = 2
patience = 0
[grid]
dt = [0.1, 0.2]
t_end = [1.0, 2.0]
)";

// Six runs of about a second: a rank can be killed in the middle of one.
constexpr const char* kLongerGrid = R"(preset = "wide-california"
seeds = [0, 1, 2]
[base]
neurons = 32
epochs = 4
patience = 0
t_end = 4.0
[grid]
dt = [0.1, 0.2]
)";


using MpiSweep = testing::MpiFixture;

TEST_F(MpiSweep, RanksGiveTheRowsOfOneProcessAndTrainEveryRunOnce) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "quick.toml", kQuickGrid);
  const CliResult alone = run("sweep " + quote(dir_ / "quick.toml") + " --jobs 1 --device cpu --out " + quote(dir_ / "alone"));
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(fmt::format("{} ranks", ranks));
    const fs::path out = dir_ / fmt::format("ranks{}", ranks);
    // --jobs 1: one run at a time per rank, so that rank 0's threads cannot take all 8 runs before
    // another rank asks (on a 16-core machine they did, with 8 threads per rank).
    const int code = system(mpirun(ranks) + " sweep " + quote(dir_ / "quick.toml") + " --jobs 1 --device cpu --out " +
                            quote(out) + " >" + quote(dir_ / "mpi.out") + " 2>" + quote(dir_ / "mpi.err"));
    ASSERT_EQ(code, 0) << read_file(dir_ / "mpi.err");
    EXPECT_EQ(rows_without_timing(out / "results.csv"), rows_without_timing(dir_ / "alone" / "results.csv"));
    const auto events = testing::claim_events(out / "claims.log");
    ASSERT_EQ(events.size(), 8u) << read_file(out / "claims.log");
    std::set<std::string> ranks_that_trained;
    for (const auto& [run_name, list] : events) {
      ASSERT_EQ(list.size(), 2u) << run_name << "\n" << read_file(out / "claims.log");
      EXPECT_EQ(list[0].what, "claimed");
      EXPECT_EQ(list[1].what, "finished ok");
      EXPECT_EQ(list[0].rank, list[1].rank);
      ranks_that_trained.insert(list[0].rank);
    }
    EXPECT_GE(ranks_that_trained.size(), 2u) << "one rank trained every run:\n" << read_file(dir_ / "mpi.err");
    // Only rank 0 prints the summary.
    EXPECT_EQ(testing::last_line(read_file(dir_ / "mpi.out")).rfind("{\"runs\":8", 0), 0u) << read_file(dir_ / "mpi.out");
  }
}

TEST_F(MpiSweep, AKilledRankLosesNothingAndNothingIsTrainedTwice) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "longer.toml", kLongerGrid);
  const fs::path out = dir_ / "out";
  const std::string sweep = mpirun(2) + " sweep " + quote(dir_ / "longer.toml") + " --jobs 1 --device cpu --out " +
                            quote(out);
  const std::string log = quote(out / "claims.log");
  // Wait for rank 1 to claim a run, SIGKILL it there, and let Open MPI end the job.
  const int killed = system(sweep + " >/dev/null 2>" + quote(dir_ / "killed.err") + " & job=$!; " +
                            "for i in $(seq 1000); do line=$(grep ' rank 1 claimed ' " + log + " 2>/dev/null | " +
                            "tail -n 1); [ -n \"$line\" ] && break; sleep 0.02; done; " +
                            "kill -9 $(echo \"$line\" | awk '{print $4}'); wait $job; echo \"$line\" > " +
                            quote(dir_ / "victim"));
  ASSERT_EQ(killed, 0);
  std::istringstream victim(read_file(dir_ / "victim"));
  std::vector<std::string> w;
  for (std::string word; victim >> word;) w.push_back(word);
  ASSERT_FALSE(w.empty()) << "rank 1 never claimed a run:\n" << read_file(dir_ / "killed.err");
  EXPECT_FALSE(fs::exists(out / w.back() / "final.json")) << "the killed rank's run finished first";
  std::size_t finished_before = 0;
  for (const auto& [run_name, list] : testing::claim_events(out / "claims.log"))
    for (const testing::ClaimEvent& e : list) finished_before += e.what == "finished ok";
  EXPECT_LT(finished_before, 6u) << "every run finished before the kill: the test proves nothing";

  const int rerun = system(sweep + " >/dev/null 2>" + quote(dir_ / "rerun.err"));
  ASSERT_EQ(rerun, 0) << read_file(dir_ / "rerun.err");
  const auto events = testing::claim_events(out / "claims.log");
  ASSERT_EQ(events.size(), 6u) << read_file(out / "claims.log");
  for (const auto& [run_name, list] : events) {
    int finished = 0;
    for (const testing::ClaimEvent& e : list) finished += e.what == "finished ok";
    EXPECT_EQ(finished, 1) << run_name << "\n" << read_file(out / "claims.log");
    EXPECT_TRUE(fs::is_regular_file(out / run_name / "final.json")) << run_name;
  }
  const CliResult alone = run("sweep " + quote(dir_ / "longer.toml") + " --jobs 2 --device cpu --out " + quote(dir_ / "alone"));
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(rows_without_timing(out / "results.csv"), rows_without_timing(dir_ / "alone" / "results.csv"));
}

// Any other command under a launcher with several ranks would run once per rank into the same
// folder: it is refused, by name; a plain run is unchanged (every other test of the suite).
TEST_F(MpiSweep, OtherCommandsRefuseSeveralRanks) {
  const int code = system(mpirun(2) + " train --preset wide-california --epochs 1 --device cpu --out " +
                          quote(dir_ / "run") + " 2>" + quote(dir_ / "train.err"));
  EXPECT_NE(code, 0);
  EXPECT_TRUE(testing::contains(read_file(dir_ / "train.err"), "train was started as 2 MPI ranks; only `dynpmnn sweep` "
                                                               "and `dynpmnn train --data-parallel` run over ranks"))
      << read_file(dir_ / "train.err");
  EXPECT_FALSE(fs::exists(dir_ / "run" / "final.json"));
}

}  // namespace
}  // namespace dynpmnn
