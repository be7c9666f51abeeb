// California Housing downloaded on first use (data/california_fetch.h), against a local HTTP server
// (python3 -m http.server on 127.0.0.1, started and stopped here) serving a copy of StatLib's archive
// made from this machine's file: a good copy verifies and loads, a corrupted one is refused by its
// checksum and leaves nothing in the cache, an unreachable address gives the offline error. Only
// 127.0.0.1 is contacted.
#include "data/california_fetch.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>

#include "data/california.h"
#include "tests/data_test_util.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

bool have(const char* program) {
  return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0;
}

// A port on 127.0.0.1 that nothing listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// python3 -m http.server serving `root` on 127.0.0.1 for the object's lifetime (at most 10 s to start).
class LocalServer {
 public:
  explicit LocalServer(const fs::path& root) : port_(free_port()) {
    if (port_ < 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen("/dev/null", "w", stdout);
      std::freopen("/dev/null", "w", stderr);
      const std::string port = std::to_string(port_), dir = root.string();
      ::execlp("python3", "python3", "-m", "http.server", port.c_str(), "--bind", "127.0.0.1", "--directory",
               dir.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && pid_ > 0 && !ready_; ++i) {
      ready_ = accepts_connections(port_);
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~LocalServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  bool ready() const { return ready_; }
  std::string url(const std::string& file) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + file;
  }

 private:
  int port_ = -1;
  pid_t pid_ = -1;
  bool ready_ = false;
};

class CaliforniaFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("dynpmnn_fetch_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "served" / "corrupted");
    if (const char* old = std::getenv(kDataEnvVar)) saved_env_ = old;
    ::unsetenv(kDataEnvVar);  // the download happens only where no file is named
  }
  void TearDown() override {
    if (saved_env_) ::setenv(kDataEnvVar, saved_env_->c_str(), 1);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // served/cal_housing.tgz as StatLib lays it out (CaliforniaHousing/cal_housing.data) from `text`.
  void serve_archive(const std::string& text, const std::string& name) {
    const fs::path stage = dir_ / "stage" / "CaliforniaHousing";
    fs::create_directories(stage);
    std::ofstream(stage / "cal_housing.data", std::ios::binary) << text;
    const std::string command = "tar -czf '" + (dir_ / "served" / name).string() + "' -C '" +
                                (dir_ / "stage").string() + "' CaliforniaHousing/cal_housing.data";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    fs::remove_all(dir_ / "stage");
  }

  CaliforniaFetch fetch_from(const std::string& url) const {
    return {url, (dir_ / "cache").string(), DYNPMNN_SOURCE_DIR "/data/fetch_california.sh"};
  }
  // Nothing at either default place: the look-up has to download.
  std::vector<std::string> nowhere() const {
    return {(dir_ / "cache" / "cal_housing.data").string(), (dir_ / "shared" / "cal_housing.data").string()};
  }
  // Every entry the cache folder holds (it may not exist at all).
  int cache_entries() const {
    std::error_code ec;
    if (!fs::exists(dir_ / "cache", ec)) return 0;
    return static_cast<int>(std::distance(fs::directory_iterator(dir_ / "cache"), fs::directory_iterator{}));
  }

  fs::path dir_;
  std::optional<std::string> saved_env_;
};

std::string data_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no DataError thrown)";
}

#define DYNPMNN_REQUIRE_TOOLS()                                                                   \
  do {                                                                                           \
    for (const char* tool : {"python3", "tar", "bash", "sha256sum"})                             \
      if (!have(tool)) GTEST_SKIP() << tool << " is not installed; the download test needs it";  \
    if (!have("curl") && !have("wget")) GTEST_SKIP() << "neither curl nor wget is installed";    \
  } while (0)

TEST_F(CaliforniaFetchTest, AGoodCopyIsDownloadedVerifiedAndLoaded) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  DYNPMNN_REQUIRE_TOOLS();
  const std::string original = read_all(locate_california(""));
  serve_archive(original, "cal_housing.tgz");
  const LocalServer server(dir_ / "served");
  ASSERT_TRUE(server.ready()) << "python3 -m http.server did not start within 10 s";

  const std::string path = locate_or_fetch_california("", nowhere(), fetch_from(server.url("cal_housing.tgz")));
  EXPECT_EQ(path, (dir_ / "cache" / "cal_housing.data").string());
  EXPECT_EQ(read_all(path), original);
  EXPECT_EQ(cache_entries(), 1) << "a temporary file was left in the cache";
  const SplitData data = make_california_splits(read_california_raw(path), path);
  EXPECT_EQ(data.train.rows, 14489);
  EXPECT_EQ(data.val.rows, 4102);
  EXPECT_EQ(data.test.rows, 2049);
  // Found in the cache the next time: the unreachable URL is never tried.
  EXPECT_EQ(locate_or_fetch_california("", nowhere(), fetch_from("http://127.0.0.1:9/none.tgz")), path);
}

TEST_F(CaliforniaFetchTest, ACorruptedCopyIsRefusedByItsChecksumAndLeavesNothingInTheCache) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  DYNPMNN_REQUIRE_TOOLS();
  std::string corrupted = read_all(locate_california(""));
  ASSERT_GT(corrupted.size(), 100u);
  ASSERT_EQ(corrupted.substr(0, 17), "-122.230000,37.88");
  corrupted[13] = '1';  // latitude 31.88: still a well-formed file, only the checksum tells
  serve_archive(corrupted, "corrupted/cal_housing.tgz");
  const LocalServer server(dir_ / "served");
  ASSERT_TRUE(server.ready()) << "python3 -m http.server did not start within 10 s";

  const std::string url = server.url("corrupted/cal_housing.tgz");
  const std::string message = data_error_of([&] { locate_or_fetch_california("", nowhere(), fetch_from(url)); });
  for (const std::string& expected : {url, std::string("sha256"), std::string(kCaliforniaSha256),
                                      std::string("nothing was written"), std::string("--data PATH"),
                                      std::string(kDataEnvVar)})
    EXPECT_NE(message.find(expected), std::string::npos) << expected << " missing from:\n" << message;
  EXPECT_EQ(cache_entries(), 0) << "the refused download left something in the cache";
}

TEST_F(CaliforniaFetchTest, AnUnreachableAddressGivesTheOfflineErrorAndHowToSupplyTheFile) {
  DYNPMNN_REQUIRE_TOOLS();
  const int port = free_port();  // nothing listens there
  ASSERT_GT(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/cal_housing.tgz";
  const std::string message = data_error_of([&] { locate_or_fetch_california("", nowhere(), fetch_from(url)); });
  for (const std::string& expected : {std::string("could not be downloaded from ") + url, std::string("offline"),
                                      std::string("--data PATH"), std::string(kDataEnvVar)})
    EXPECT_NE(message.find(expected), std::string::npos) << expected << " missing from:\n" << message;
  EXPECT_EQ(cache_entries(), 0);
}

TEST_F(CaliforniaFetchTest, APathTheUserNamedThatDoesNotExistIsAnErrorNotADownload) {
  const std::string missing = (dir_ / "missing.data").string();
  const std::string message =
      data_error_of([&] { locate_or_fetch_california(missing, nowhere(), fetch_from("http://127.0.0.1:9/x.tgz")); });
  EXPECT_NE(message.find("--data " + missing), std::string::npos) << message;
  EXPECT_EQ(message.find("download"), std::string::npos) << message;
}

TEST(CaliforniaFetchScript, DownloadsTheSameUrlAsTheBinary) {
  std::ifstream script(DYNPMNN_SOURCE_DIR "/data/fetch_california.sh");
  ASSERT_TRUE(script) << "data/fetch_california.sh is missing";
  const std::string text((std::istreambuf_iterator<char>(script)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(std::string("URL=\"") + kCaliforniaUrl + "\""), std::string::npos);
}

}  // namespace
}  // namespace dynpmnn
