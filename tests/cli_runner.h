// Running the dynpmnn binary from a test (stdout and stderr apart, the exit status), in a folder
// of the test's own that is removed afterwards.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "data/california.h"
#include "tests/data_test_util.h"

namespace dynpmnn::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string last_line(const std::string& text) {
  std::string line;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) line = l;
  return line;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// results.csv without the per-epoch seconds, which differ between any two trainings.
inline std::string rows_without_timing(const std::filesystem::path& csv) {
  std::istringstream in(read_file(csv));
  std::string header, out;
  std::getline(in, header);
  std::vector<std::string> names;
  std::stringstream hs(header);
  for (std::string cell; std::getline(hs, cell, ',');) names.push_back(cell);
  for (std::string line; std::getline(in, line);) {
    std::stringstream ls(line);
    std::size_t i = 0;
    for (std::string cell; std::getline(ls, cell, ','); ++i)
      if (i >= names.size() || names[i] != "epoch_seconds") out += cell + ",";
    out += "\n";
  }
  return out;
}

inline std::string quote(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class CliFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("dynpmnn_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `env` (e.g. "NAME=value ") goes before the binary; `args` are shell-quoted where needed.
  CliResult run(const std::string& args, const std::string& env = "") const {
    const std::filesystem::path err = dir_ / "stderr.txt";
    // Where the data is missing, the binary would download it: the tests contact 127.0.0.1 only
    // (port 9, discard, refuses), unless the caller's environment names a URL.
    const std::string command = "DYNPMNN_CALIFORNIA_URL=${DYNPMNN_CALIFORNIA_URL:-http://127.0.0.1:9/cal_housing.tgz} " +
                                env + std::string(DYNPMNN_CLI_PATH) + " " + args + " 2>" + quote(err);
    CliResult r;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) r.out.append(buffer, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_file(err);
    return r;
  }

  std::filesystem::path dir_;
};

}  // namespace dynpmnn::testing
