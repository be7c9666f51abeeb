#include "data/california_fetch.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "data/california.h"
#include "data/share_dir.h"

namespace dynpmnn {

namespace {

namespace fs = std::filesystem;

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string how_to_supply() {
  return std::string("Supply the file yourself: pass --data PATH or set ") + kDataEnvVar +
         "=PATH to a cal_housing.data (the member CaliforniaHousing/cal_housing.data of " + kCaliforniaUrl +
         ", sha256 " + kCaliforniaSha256 + "), or run data/fetch_california.sh --from PATH.";
}

// Runs `command` with stdout and stderr together; returns its exit status (-1: not run) and output.
int run_capturing(const std::string& command, std::string& output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The script's lines, each prefixed as dynpmnn's own messages are.
std::string indented(const std::string& output) {
  std::string out;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    if (end > start) out += "  " + output.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

CaliforniaFetch default_california_fetch() {
  const char* url = std::getenv(kCaliforniaUrlEnvVar);
  const fs::path share = share_dir();
  return {url != nullptr && *url != '\0' ? url : kCaliforniaUrl, (share / "data" / "cache").string(),
          (share / "data" / "fetch_california.sh").string()};
}

std::string fetch_california(const CaliforniaFetch& fetch) {
  const std::string dest = (fs::path(fetch.cache_dir) / "cal_housing.data").string();
  std::cerr << "dynpmnn: cal_housing.data (California Housing) is not on this machine; downloading " << fetch.url
            << " into " << fetch.cache_dir << " (once) and checking its sha256" << std::endl;
  const std::string command = "bash " + shell_quoted(fetch.script) + " --download --url " + shell_quoted(fetch.url) +
                              " --dest " + shell_quoted(fetch.cache_dir) + " </dev/null";
  std::string output;
  const int status = run_capturing(command, output);
  std::error_code ec;
  if (status != 0 || !fs::is_regular_file(dest, ec))
    throw DataError("California Housing could not be downloaded from " + fetch.url + " (" + fetch.script +
                    (status == -1 ? " could not be run" : " exit status " + std::to_string(status)) + "):\n" +
                    indented(output) + how_to_supply());
  std::cerr << "dynpmnn: " << dest << " downloaded from " << fetch.url << ", sha256 verified (" << kCaliforniaSha256
            << ")" << std::endl;
  return dest;
}

std::string locate_or_fetch_california(const std::string& explicit_path,
                                       const std::vector<std::string>& default_places, const CaliforniaFetch& fetch) {
  const char* env = std::getenv(kDataEnvVar);
  const bool user_named_a_file = !explicit_path.empty() || (env != nullptr && *env != '\0');
  try {
    return locate_california(explicit_path, default_places);
  } catch (const DataError&) {
    if (user_named_a_file) throw;
  }
  return fetch_california(fetch);
}

std::string locate_or_fetch_california(const std::string& explicit_path) {
  return locate_or_fetch_california(explicit_path, california_default_places(), default_california_fetch());
}

}  // namespace dynpmnn
