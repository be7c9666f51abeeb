// Reading a sweep folder's claims.log in tests (host/io/run_claim.h writes it): per run folder, its
// events in order. A line is "<time> <host> pid <pid> [rank <r>] <event words> <run>".
#pragma once

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli_runner.h"

namespace dynpmnn::testing {

struct ClaimEvent {
  std::string pid;
  std::string rank;  // "" outside MPI
  std::string what;  // "claimed", "finished ok", "failed", ...
};

inline std::map<std::string, std::vector<ClaimEvent>> claim_events(const std::filesystem::path& log) {
  std::map<std::string, std::vector<ClaimEvent>> events;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    if (w.size() < 6 || w[2] != "pid") continue;
    ClaimEvent e{w[3], "", ""};
    std::size_t first = 4;
    if (w[4] == "rank" && w.size() >= 8) e.rank = w[5], first = 6;
    for (std::size_t i = first; i + 1 < w.size(); ++i) e.what += (e.what.empty() ? "" : " ") + w[i];
    events[w.back()].push_back(e);
  }
  return events;
}

// The same, each run's events as their words only.
inline std::map<std::string, std::vector<std::string>> claim_event_words(const std::filesystem::path& log) {
  std::map<std::string, std::vector<std::string>> words;
  for (const auto& [run, list] : claim_events(log))
    for (const ClaimEvent& e : list) words[run].push_back(e.what);
  return words;
}

}  // namespace dynpmnn::testing
