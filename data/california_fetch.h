// California Housing on first use: where the look-up of california.h finds the file nowhere, it is
// downloaded, checked against kCaliforniaSha256 and put into the repo's cache, as scikit-learn's
// fetch_california_housing does. The work is data/fetch_california.sh's (curl or wget, tar,
// sha256sum, a temporary file renamed into place only once it verifies), run as a subprocess: the
// one place that knows the archive's layout and the checksum's normal form, with no HTTP or
// archive library added to the build.
#pragma once

#include <string>
#include <vector>

namespace dynpmnn {

// StatLib's archive, the one scikit-learn downloads; also URL in data/fetch_california.sh.
inline constexpr const char* kCaliforniaUrl = "https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.tgz";
// Overrides kCaliforniaUrl (a mirror; the tests' local server).
inline constexpr const char* kCaliforniaUrlEnvVar = "DYNPMNN_CALIFORNIA_URL";

struct CaliforniaFetch {
  std::string url;        // a .tgz/.tar.gz holding CaliforniaHousing/cal_housing.data, or the file itself
  std::string cache_dir;  // receives cal_housing.data
  std::string script;     // data/fetch_california.sh
};

// $DYNPMNN_CALIFORNIA_URL or kCaliforniaUrl, the repo's data/cache/ and its fetch script.
CaliforniaFetch default_california_fetch();

// Downloads and verifies into fetch.cache_dir/cal_housing.data and returns that path, telling
// stderr what it does. DataError names the URL, what went wrong (the script's own words: offline,
// checksum mismatch, ...) and how to supply the file (--data PATH, $DYNPMNN_DATA); on any failure
// the cache holds no new file.
std::string fetch_california(const CaliforniaFetch& fetch);

// locate_california(explicit_path, default_places); where that finds the file nowhere (no --data,
// no $DYNPMNN_DATA, none of the places), fetch_california(fetch) instead. A path the user named
// that does not exist stays an error: it is not a reason to download.
std::string locate_or_fetch_california(const std::string& explicit_path,
                                       const std::vector<std::string>& default_places, const CaliforniaFetch& fetch);
// The same with the default places and fetch: what `dynpmnn train` and the other commands use.
std::string locate_or_fetch_california(const std::string& explicit_path);

}  // namespace dynpmnn
