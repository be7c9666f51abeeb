// Run claims by flock(2) (host/io/run_claim.h).
#include "host/io/run_claim.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace dynpmnn {

namespace fs = std::filesystem;

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

namespace {
int process_rank = -1;
}  // namespace

void set_process_rank(int rank) { process_rank = rank; }

std::string this_process() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown-host");
  const std::string me = fmt::format("{} pid {}", host, static_cast<long>(getpid()));
  return process_rank < 0 ? me : fmt::format("{} rank {}", me, process_rank);
}

std::optional<RunClaim> RunClaim::take(const fs::path& folder, std::string* holder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  const fs::path path = folder / "claim.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open the claim file: {}", path.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (holder != nullptr) {
      char text[512] = {};
      const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
      *holder = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "another process";
      while (!holder->empty() && (holder->back() == '\n' || holder->back() == ' ')) holder->pop_back();
    }
    ::close(fd);
    if (err == EWOULDBLOCK) return std::nullopt;
    throw std::runtime_error(fmt::format("{}: cannot lock the claim file: {}", path.string(), std::strerror(err)));
  }
  const std::string me = fmt::format("{} since {}\n", this_process(), utc_timestamp());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    // The lock holds without the note; say who we are on the next try rather than fail the run.
  }
  return RunClaim(fd);
}

RunClaim::RunClaim(RunClaim&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RunClaim::~RunClaim() {
  if (fd_ >= 0) {
    (void)::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

void log_claim_event(const fs::path& log, const std::string& event, const std::string& run) {
  const std::string line = fmt::format("{} {} {} {}\n", utc_timestamp(), this_process(), event, run);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)::write(fd, line.data(), line.size());
  ::close(fd);
}

}  // namespace dynpmnn
