// Replacing a file so that a reader, or a crash, never sees half of it: the run folder's files, the
// checkpoints, and what the CLI writes (predictions, sweep and table results) all go through here.
#pragma once

#include <filesystem>
#include <string_view>

namespace dynpmnn {

// Writes to a temporary file beside `path`, flushes it to disk and renames it over `path`. Throws
// std::system_error naming the file and the failed step.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace dynpmnn
