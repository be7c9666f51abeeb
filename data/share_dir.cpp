#include "data/share_dir.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace dynpmnn {

namespace fs = std::filesystem;

namespace {

constexpr int kAncestorLevels = 3;

std::mutex& set_dir_mutex() {
  static std::mutex m;
  return m;
}

fs::path& set_dir() {
  static fs::path dir;
  return dir;
}

bool holds_share_files(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "models" / "presets", ec);
}

struct Candidate {
  fs::path path;
  std::string origin;
};

std::vector<Candidate> candidates() {
  std::vector<Candidate> out;
  if (const char* env = std::getenv(kShareDirEnvVar); env != nullptr && *env != '\0')
    out.push_back({env, std::string("$") + kShareDirEnvVar});
  {
    const std::lock_guard<std::mutex> lock(set_dir_mutex());
    if (!set_dir().empty()) out.push_back({set_dir(), "set_share_dir()"});
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    for (int level = 0; level <= kAncestorLevels && !dir.empty(); ++level) {
      out.push_back({dir / "share" / "dynpmnn", "beside the executable " + exe.string()});
      if (dir == dir.root_path()) break;
      dir = dir.parent_path();
    }
  }
  return out;
}

}  // namespace

std::optional<fs::path> find_share_dir() {
  for (const Candidate& c : candidates()) {
    if (!holds_share_files(c.path)) {
      // A folder the user named is not passed over for a guess: share_dir() reports it.
      if (c.origin.front() == '$') return std::nullopt;
      continue;
    }
    std::error_code ec;
    const fs::path canonical = fs::canonical(c.path, ec);
    return ec ? c.path : canonical;
  }
  return std::nullopt;
}

std::string share_dir_places_tried() {
  std::string out;
  for (const Candidate& c : candidates())
    out += "  " + c.path.string() + " (" + c.origin + "): " +
           (holds_share_files(c.path) ? "has models/presets/" : "no models/presets/ there") + "\n";
  return out;
}

fs::path share_dir() {
  if (auto dir = find_share_dir()) return *dir;
  throw std::runtime_error(std::string("dynpmnn's shared files (models/presets/, data/) were not found. Tried:\n") +
                           share_dir_places_tried() + "Set " + kShareDirEnvVar +
                           " to the folder that holds them: <prefix>/share/dynpmnn of an install, or the source "
                           "tree.");
}

void set_share_dir(const fs::path& dir) {
  const std::lock_guard<std::mutex> lock(set_dir_mutex());
  set_dir() = dir;
}

}  // namespace dynpmnn
