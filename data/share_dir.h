// Where the files that go with the program live, laid out as in the source tree: models/presets/
// (presets, sweep grids, tables) and data/ (the fetch scripts and the data cache data/cache/). The
// library compiles no path of the machine that built it in (an installed copy must work anywhere):
// the folder is found at run time, first of
//   1. $DYNPMNN_SHARE_DIR;
//   2. the folder a program that embeds the library gave set_share_dir() (examples/);
//   3. <A>/share/dynpmnn for the nearest ancestor A of the running executable's folder, up to three
//      levels up, that has models/presets/ there: an install (<prefix>/bin/dynpmnn finds
//      <prefix>/share/dynpmnn), and the build tree, where CMake makes build/share/dynpmnn a link to
//      the source tree (so build/dynpmnn and build/tests/dynpmnn_tests find the source's files).
// The result is canonical (links resolved): in a build tree, the source tree itself.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace dynpmnn {

inline constexpr const char* kShareDirEnvVar = "DYNPMNN_SHARE_DIR";

// Empty when none of the places holds the files.
std::optional<std::filesystem::path> find_share_dir();
// std::runtime_error saying what was tried and how to point at the folder when none holds them.
std::filesystem::path share_dir();
// Place 2 above; an empty path clears it.
void set_share_dir(const std::filesystem::path& dir);
// Every place find_share_dir looks, in order, with why each was passed over: for messages.
std::string share_dir_places_tried();

}  // namespace dynpmnn
