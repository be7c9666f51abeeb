// The MPI tests' launcher: the real binary under mpiexec with what this machine needs (root
// allowed, as CI runs as root; more ranks than cores; the loopback interface only), each command
// bounded in time.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "tests/cli_runner.h"

namespace dynpmnn::testing {

class MpiFixture : public CliFixture {
 protected:
  std::string mpirun(int ranks) const {
    return fmt::format("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 {} --oversubscribe "
                       "--mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -np {} {}",
                       DYNPMNN_MPIEXEC, ranks, DYNPMNN_CLI_PATH);
  }
  // Through a script file, so the command's own quotes need no escaping; bounded in time.
  int system(const std::string& command) const {
    write_file(dir_ / "command.sh", command + "\n");
    const int status = std::system(("timeout 120 bash " + quote(dir_ / "command.sh")).c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

}  // namespace dynpmnn::testing
