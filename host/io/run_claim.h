// A run folder's claim: while one process trains a run, it holds an exclusive lock on
// RUN/claim.lock, and the lock file says who (host, pid, since when). flock(2) locks belong to the
// open file: the kernel drops them when the holder exits, however it exits (SIGKILL included), so a
// claim never outlives its process and nothing has to be cleaned up. Two sweeps (or a sweep and a
// table) started on one folder thus never train the same run at the same time: the second finds
// the claim held and passes the run by, and a rerun finishes what a killed process left.
//
// flock is advisory and per host on some network file systems (older NFS): the claims are exact
// between processes of one machine; across machines, MPI ranks are handed disjoint runs by rank 0.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace dynpmnn {

class RunClaim {
 public:
  // Creates the folder if needed and takes the claim; std::nullopt when another process holds it,
  // with *holder set to what its lock file says ("host pid 1234 since 2026-11-30T12:00:00Z").
  // Throws std::runtime_error naming the path when the lock file cannot be opened.
  static std::optional<RunClaim> take(const std::filesystem::path& folder, std::string* holder);

  RunClaim(RunClaim&& other) noexcept;
  RunClaim& operator=(RunClaim&&) = delete;
  RunClaim(const RunClaim&) = delete;
  ~RunClaim();  // releases the claim (the lock file stays, unlocked)

 private:
  explicit RunClaim(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// "host pid N" (and " rank R" once set_process_rank was called): who this process is, as claims
// and the claim log name it.
std::string this_process();
// Now in UTC, as the claims and the claim log write it: "2026-11-30T12:00:00Z".
std::string utc_timestamp();

// For a process that is one rank of an MPI job (host/cli/mpi_world.cpp).
void set_process_rank(int rank);

// Appends one line "<UTC time> <this_process()> <event> <run>" to `log` (O_APPEND, one write, so
// the lines of several processes interleave whole). Never throws: the log is a record, not a lock.
void log_claim_event(const std::filesystem::path& log, const std::string& event, const std::string& run);

}  // namespace dynpmnn
