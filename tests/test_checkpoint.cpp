// Checkpoints: an exact round trip, refusal of every damaged file with a message naming it, and a
// run resumed from a checkpoint continuing bit for bit on the CPU backend.
#include <gtest/gtest.h>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/config/config_io.h"
#include "host/training/trainer.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::write_file;

constexpr std::size_t kChecksumAt = 8;  // bytes from the end
constexpr std::size_t kLengthAt = 12;
constexpr std::size_t kBodyAt = 20;

// FNV-1a 64, written again here so the tests do not take the format's word for it.
std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

void put_u64(std::string& bytes, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>(v >> (8 * i));
}
void put_u32(std::string& bytes, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (8 * i));
}

// Length and checksum made right again after an edit, so that only the edit is wrong.
std::string reseal(std::string bytes) {
  put_u64(bytes, kLengthAt, bytes.size());
  put_u64(bytes, bytes.size() - kChecksumAt, fnv1a(std::string_view(bytes).substr(0, bytes.size() - kChecksumAt)));
  return bytes;
}

Config small_config() {
  Config cfg;
  cfg.neurons = 2;
  cfg.dt = 0.5;
  cfg.t_end = 1.0;
  cfg.epochs = 5;
  cfg.seed = 3;
  return cfg;
}

// A checkpoint with every field holding something distinct, by hand (no training).
Checkpoint sample_checkpoint(const Config& cfg = small_config()) {
  const ParamTable table(cfg.model_spec(8, 1));
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal;
  auto random_vector = [&](std::size_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = normal(gen);
    return v;
  };
  Checkpoint ck;
  ck.config = cfg;
  ck.feature_names = california_feature_names();
  ck.scaler.mean = random_vector(8);
  ck.scaler.std = random_vector(8);
  for (double& s : ck.scaler.std) s = std::abs(s) + 0.5;
  ck.tensors = checkpoint_tensors(table);
  ck.params = random_vector(table.total());
  ck.optimizer.step = 1234;
  ck.optimizer.m = random_vector(table.total());
  ck.optimizer.v = random_vector(table.total());
  for (double& v : ck.optimizer.v) v = v * v;
  TrainState& st = ck.state;
  st.epoch = 3;
  st.best_epoch = 2;
  st.waited = 1;
  st.best_val = 0.4;
  st.patience_ref = std::numeric_limits<double>::infinity();
  st.best_params = random_vector(table.total());
  st.history = {{1, 0.9, 0.7, 0.01, true}, {2, 0.6, 0.4, 0.02, true}, {3, 0.5, 0.45, 0.03, false}};
  return ck;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "(no CheckpointError)";
}

std::string parse_error(const std::string& bytes) {
  return error_of([&] { parse_checkpoint(bytes, "ck.bin"); });
}

using testing::contains;

void expect_equal(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(to_json(a.config), to_json(b.config));
  EXPECT_EQ(a.feature_names, b.feature_names);
  EXPECT_EQ(a.scaler.mean, b.scaler.mean);
  EXPECT_EQ(a.scaler.std, b.scaler.std);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
    EXPECT_EQ(a.tensors[i].trainable, b.tensors[i].trainable);
  }
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.optimizer.step, b.optimizer.step);
  EXPECT_EQ(a.optimizer.m, b.optimizer.m);
  EXPECT_EQ(a.optimizer.v, b.optimizer.v);
  EXPECT_EQ(a.state.epoch, b.state.epoch);
  EXPECT_EQ(a.state.best_epoch, b.state.best_epoch);
  EXPECT_EQ(a.state.waited, b.state.waited);
  EXPECT_EQ(a.state.best_val, b.state.best_val);
  EXPECT_EQ(a.state.patience_ref, b.state.patience_ref);
  EXPECT_EQ(a.state.best_params, b.state.best_params);
  ASSERT_EQ(a.state.history.size(), b.state.history.size());
  for (std::size_t i = 0; i < a.state.history.size(); ++i) {
    const EpochRecord &x = a.state.history[i], &y = b.state.history[i];
    EXPECT_EQ(x.epoch, y.epoch);
    EXPECT_EQ(x.train_loss, y.train_loss);
    EXPECT_EQ(x.val_mse, y.val_mse);
    EXPECT_EQ(x.seconds, y.seconds);
    EXPECT_EQ(x.improved, y.improved);
  }
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("dynpmnn_test_checkpoint_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- the format -------------------------------------------------------------------------------

TEST(Checkpoint, RoundTripIsExact) {
  const Checkpoint ck = sample_checkpoint();
  const std::string bytes = serialize_checkpoint(ck);
  EXPECT_EQ(bytes.substr(0, 8), "DYNPMNNC");
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), kCheckpointVersion);
  expect_equal(parse_checkpoint(bytes, "ck.bin"), ck);
  EXPECT_EQ(serialize_checkpoint(parse_checkpoint(bytes, "ck.bin")), bytes);
}

TEST(Checkpoint, SavedAtomicallyAndLoadedBack) {
  TempDir dir;
  const fs::path path = dir.path() / "checkpoint.bin";
  Checkpoint ck = sample_checkpoint();
  save_checkpoint(path, ck);
  ck.state.epoch = 4;
  ck.state.history.push_back({4, 0.45, 0.41, 0.04, false});
  save_checkpoint(path, ck);  // replaces the first
  expect_equal(load_checkpoint(path), ck);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "checkpoint.bin") << "left behind: " << entry.path();
  }
  EXPECT_EQ(files, 1);
}

// ---- damaged files ----------------------------------------------------------------------------

TEST(Checkpoint, EveryTruncationIsRefused) {
  const std::string bytes = serialize_checkpoint(sample_checkpoint());
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    const std::string message = parse_error(bytes.substr(0, length));
    ASSERT_TRUE(contains(message, "ck.bin: ")) << length << ": " << message;
    if (length == 0) EXPECT_TRUE(contains(message, "empty")) << message;
    else ASSERT_TRUE(contains(message, "truncated")) << length << ": " << message;
  }
}

TEST(Checkpoint, EverySingleByteCorruptionIsRefused) {
  const std::string bytes = serialize_checkpoint(sample_checkpoint());
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (const unsigned char flip : {0x01, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[at] = static_cast<char>(bad[at] ^ flip);
      const std::string message = parse_error(bad);
      SCOPED_TRACE(::testing::Message() << "byte " << at << " ^ " << int(flip) << ": " << message);
      ASSERT_TRUE(contains(message, "ck.bin: "));
      if (at < 8) ASSERT_TRUE(contains(message, "not a dynpmnn checkpoint"));
      else if (at < kLengthAt) ASSERT_TRUE(contains(message, "format version"));
      else if (at < kBodyAt) ASSERT_TRUE(contains(message, "the header records") || contains(message, "header (byte 12)"));
      else ASSERT_TRUE(contains(message, "checksum mismatch"));
    }
  }
}

TEST(Checkpoint, WrongMagicVersionAndTrailingBytes) {
  const std::string bytes = serialize_checkpoint(sample_checkpoint());
  std::string png = bytes;
  png.replace(0, 8, "\x89PNG\r\n\x1a\n");
  std::string message = parse_error(png);
  EXPECT_TRUE(contains(message, "ck.bin: not a dynpmnn checkpoint: it starts with \"\\x89PNG")) << message;

  // A future version, its checksum right: refused for the version, not for the checksum.
  std::string future = bytes;
  put_u32(future, 8, 4);
  message = parse_error(reseal(future));
  EXPECT_TRUE(contains(message, "ck.bin: checkpoint format version 4 (byte 8); this dynpmnn reads versions 1 to 3"))
      << message;

  message = parse_error(bytes + "x");
  EXPECT_TRUE(contains(message, "1 bytes too many at the end")) << message;
}

TEST(Checkpoint, TensorsMustMatchTheStoredConfiguration) {
  // The tensors of a 2-neuron model under a configuration that says 3.
  Checkpoint ck = sample_checkpoint();
  ck.config.neurons = 3;
  const std::string message = parse_error(serialize_checkpoint(ck));
  EXPECT_TRUE(contains(message, "ck.bin: parameter tensor 0 is 'layer0.linear.weight' (4, 8) in the file, but the "
                                "configuration (layers = 1, neurons = 3"))
      << message;
  EXPECT_TRUE(contains(message, "makes it 'layer0.linear.weight' (6, 8)")) << message;

  Checkpoint fewer = sample_checkpoint();
  fewer.config.layernorm = false;  // two tensors fewer
  EXPECT_TRUE(contains(parse_error(serialize_checkpoint(fewer)), "holds 10 parameter tensors, but its configuration"))
      << parse_error(serialize_checkpoint(fewer));
}

TEST(Checkpoint, StoredConfigurationIsValidated) {
  const Checkpoint ck = sample_checkpoint();
  const std::string bytes = serialize_checkpoint(ck);
  const std::string toml = to_toml(ck.config);
  ASSERT_EQ(bytes.substr(kBodyAt + 8, toml.size()), toml);
  auto with_toml = [&](std::string text) {
    text.resize(toml.size(), ' ');  // same length, so nothing else moves
    std::string edited = bytes;
    edited.replace(kBodyAt + 8, toml.size(), text);
    return parse_error(reseal(edited));
  };
  std::string message = with_toml("neurons = 0\n");
  EXPECT_TRUE(contains(message, "ck.bin (configuration at byte 20): neurons = 0 must be > 0")) << message;
  message = with_toml("\n\nnuerons = 2\n");
  EXPECT_TRUE(contains(message, "ck.bin (configuration at byte 20):3: unknown key 'nuerons'")) << message;
  message = with_toml("dt = = 1\n");
  EXPECT_TRUE(contains(message, "ck.bin (configuration at byte 20):1:")) << message;
}

TEST(Checkpoint, HugeCountsAreRefusedBeforeAllocating) {
  const Checkpoint ck = sample_checkpoint();
  const std::string bytes = serialize_checkpoint(ck);
  const std::size_t features_at = kBodyAt + 8 + to_toml(ck.config).size();

  std::string huge_string = bytes;
  put_u64(huge_string, kBodyAt, 1ull << 62);
  std::string message = parse_error(reseal(huge_string));
  EXPECT_TRUE(contains(message, "ck.bin: byte 20 (configuration): length 4611686018427387904 exceeds the")) << message;

  std::string many_features = bytes;
  put_u32(many_features, features_at, 0xffffffffu);
  message = parse_error(reseal(many_features));
  EXPECT_TRUE(contains(message, "(feature count): 4294967295 entries of at least 24 bytes each cannot fit")) << message;

  // The first tensor's first dimension: after its name, trainable flag and rank.
  const std::size_t dim_at = bytes.find("layer0.linear.weight") + 20 + 1 + 4;
  std::string huge_dim = bytes;
  put_u32(huge_dim, dim_at, 0x7fffffffu);
  message = parse_error(reseal(huge_dim));
  EXPECT_TRUE(contains(message, "(tensor dimension): tensor 'layer0.linear.weight' of shape (2147483647)... cannot "
                                "fit"))
      << message;
}

TEST(Checkpoint, InconsistentTrainerStateIsRefused) {
  Checkpoint ck = sample_checkpoint();
  ck.state.epoch = 5;
  EXPECT_TRUE(contains(parse_error(serialize_checkpoint(ck)), "ck.bin: 5 epochs completed but 3 history records"));
  ck = sample_checkpoint();
  ck.state.best_epoch = 4;
  EXPECT_TRUE(contains(parse_error(serialize_checkpoint(ck)), "best epoch 4 is outside 0..3"));
  ck = sample_checkpoint();
  ck.scaler.std[2] = 0;
  EXPECT_TRUE(contains(parse_error(serialize_checkpoint(ck)), "feature 'AveRooms': scaler std 0"));
}

TEST(Checkpoint, MissingEmptyAndFolderPaths) {
  TempDir dir;
  const fs::path missing = dir.path() / "absent.bin";
  EXPECT_EQ(error_of([&] { load_checkpoint(missing); }), missing.string() + ": no such file");
  const fs::path empty = dir.path() / "empty.bin";
  write_file(empty, "");
  EXPECT_EQ(error_of([&] { load_checkpoint(empty); }), empty.string() + ": is empty (0 bytes), not a dynpmnn checkpoint");
  EXPECT_EQ(error_of([&] { load_checkpoint(dir.path()); }), dir.path().string() + ": not a regular file");
}

// ---- resuming ---------------------------------------------------------------------------------


// Keeps the serialized checkpoint of one epoch.
class Snapshot : public TrainObserver {
 public:
  Snapshot(const Config& cfg, const ParamTable& table, const SplitData& data, int epoch)
      : cfg_(cfg), table_(table), data_(data), epoch_(epoch) {}
  void on_epoch_end(const TrainState& state, Backend& backend) override {
    ++calls_;
    if (state.epoch == epoch_)
      bytes_ = serialize_checkpoint(make_checkpoint(cfg_, table_, data_.scaler, data_.feature_names, state, backend));
  }
  const std::string& bytes() const { return bytes_; }
  int calls() const { return calls_; }

 private:
  const Config& cfg_;
  const ParamTable& table_;
  const SplitData& data_;
  int epoch_;
  int calls_ = 0;
  std::string bytes_;
};

struct TrainedRun {
  TrainReport report;
  std::vector<double> best;
};

TrainedRun train_fresh(const Config& cfg, const SplitData& data, TrainObserver* observer) {
  testing::CpuTraining training(cfg, cfg.model_spec(8, 1), data);
  TrainedRun run;
  run.report = training.train(cfg, data, observer);
  run.best = training.params;
  return run;
}

TrainedRun resume(const std::string& bytes, const SplitData& data, bool restore_optimizer) {
  Checkpoint ck = parse_checkpoint(bytes, "snapshot");
  const ModelSpec spec = ck.config.model_spec(8, 1);
  auto backend = make_cpu_backend(spec, train_hyper(ck.config));
  backend->set_data(data);
  backend->set_params(ck.params);
  if (restore_optimizer) backend->set_optimizer_state(ck.optimizer);
  TrainedRun run;
  run.report = continue_training(ck.config, spec, *backend, data, ck.state, nullptr);
  run.best = ck.state.best_params;
  return run;
}

Config resumable_config() {
  Config cfg;
  cfg.neurons = 3;
  cfg.dt = 0.1;
  cfg.t_end = 1.0;
  cfg.lr = 5e-3;
  cfg.epochs = 5;
  cfg.seed = 5;
  cfg.min_delta = 0.0;
  return cfg;
}

TEST(Resume, FromACheckpointIsBitIdenticalOnTheCpu) {
  const Config cfg = resumable_config();
  const SplitData data = testing::synthetic_data(400, 8);
  const ParamTable table(cfg.model_spec(8, 1));
  Snapshot snapshot(cfg, table, data, 2);
  const TrainedRun whole = train_fresh(cfg, data, &snapshot);
  ASSERT_EQ(whole.report.status, "ok");
  EXPECT_EQ(snapshot.calls(), 5);
  ASSERT_FALSE(snapshot.bytes().empty());

  const TrainedRun resumed = resume(snapshot.bytes(), data, true);
  ASSERT_EQ(resumed.report.history.size(), whole.report.history.size());
  for (std::size_t i = 0; i < whole.report.history.size(); ++i) {
    EXPECT_EQ(resumed.report.history[i].train_loss, whole.report.history[i].train_loss) << i;
    EXPECT_EQ(resumed.report.history[i].val_mse, whole.report.history[i].val_mse) << i;
  }
  EXPECT_EQ(resumed.best, whole.best);
  EXPECT_EQ(resumed.report.best_epoch, whole.report.best_epoch);
  EXPECT_EQ(resumed.report.test.mse, whole.report.test.mse);

  // Without Adam's moments the continuation differs: the check above is not vacuous.
  const TrainedRun forgetful = resume(snapshot.bytes(), data, false);
  EXPECT_NE(forgetful.report.history[2].train_loss, whole.report.history[2].train_loss);
}

// Trained a, b, g in physical space: the checkpoint stores θ, and resuming continues bit for bit.
TEST(Resume, ReparametrisedFhnParametersResumeBitIdentical) {
  Config cfg = resumable_config();
  cfg.train_a = cfg.train_b = cfg.train_g = true;
  cfg.epochs = 3;
  const SplitData data = testing::synthetic_data(300, 8);
  const ParamTable table(cfg.model_spec(8, 1));
  ASSERT_EQ(table.at(0, ParamKind::kFhnB).map, FhnParamMap::kSoftplus);
  Snapshot snapshot(cfg, table, data, 1);
  const TrainedRun whole = train_fresh(cfg, data, &snapshot);
  const Checkpoint ck = parse_checkpoint(snapshot.bytes(), "snapshot");
  EXPECT_EQ(ck.config.fhn_param_space, "physical");
  const std::size_t b = table.at(0, ParamKind::kFhnB).offset;
  EXPECT_LT(ck.params[b], 0.0) << "θ_b of b near 0.02 is about -3.9: the checkpoint must hold θ, not b";
  const TrainedRun resumed = resume(snapshot.bytes(), data, true);
  ASSERT_EQ(resumed.report.history.size(), whole.report.history.size());
  for (std::size_t i = 0; i < whole.report.history.size(); ++i)
    EXPECT_EQ(resumed.report.history[i].train_loss, whole.report.history[i].train_loss) << i;
  EXPECT_EQ(resumed.best, whole.best);
}

TEST(Resume, ARunThatRanOutOfPatienceStaysStopped) {
  Config cfg = resumable_config();
  cfg.epochs = 30;
  cfg.patience = 2;
  cfg.min_delta = 10.0;  // never enough: stops after epoch 3
  const SplitData data = testing::synthetic_data(300, 9);
  const ParamTable table(cfg.model_spec(8, 1));
  Snapshot snapshot(cfg, table, data, 3);
  const TrainedRun whole = train_fresh(cfg, data, &snapshot);
  ASSERT_EQ(whole.report.status, "early_stopped");
  ASSERT_EQ(whole.report.epochs, 3);
  const TrainedRun resumed = resume(snapshot.bytes(), data, true);
  EXPECT_EQ(resumed.report.status, "early_stopped");
  EXPECT_EQ(resumed.report.epochs, 3);
  EXPECT_EQ(resumed.best, whole.best);
}

TEST(CpuBackend, OptimizerStateRoundTripsAndIsChecked) {
  const Config cfg = resumable_config();
  const SplitData data = testing::synthetic_data(100, 10);
  testing::CpuTraining training(cfg.model_spec(8, 1), train_hyper(cfg), &data, 1);
  Backend* const backend = training.backend.get();
  EXPECT_EQ(backend->get_optimizer_state().step, 0);
  backend->train_epoch(1);
  const OptimizerState after = backend->get_optimizer_state();
  EXPECT_EQ(after.step, 4);  // 100 rows in minibatches of 32
  ASSERT_EQ(after.m.size(), training.table.total());
  backend->set_params(training.params);  // resets Adam
  EXPECT_EQ(backend->get_optimizer_state().step, 0);
  backend->set_optimizer_state(after);
  EXPECT_EQ(backend->get_optimizer_state().m, after.m);
  EXPECT_EQ(backend->get_optimizer_state().v, after.v);
  OptimizerState short_state = after;
  short_state.m.pop_back();
  EXPECT_THROW(backend->set_optimizer_state(short_state), std::invalid_argument);
}

}  // namespace
}  // namespace dynpmnn
