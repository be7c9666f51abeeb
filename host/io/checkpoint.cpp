#include "host/io/checkpoint.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "host/config/config_io.h"
#include "host/io/atomic_file.h"

namespace dynpmnn {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeaderBytes = sizeof kCheckpointMagic + 4 + 8;  // magic, version, length
constexpr std::size_t kChecksumBytes = 8;
// Far above what any configuration that validates can produce (Config::validate caps the model at
// 16 GiB of training memory, of which the four parameter-sized arrays here are a part).
constexpr std::uint64_t kMaxFileBytes = 16ull << 30;
constexpr std::uint32_t kMaxRank = 8;

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Bytes as text for a message: printable ASCII as is, the rest as \xNN.
std::string printable(std::string_view bytes) {
  std::string out;
  for (const unsigned char c : bytes) out += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c))
                                                                      : fmt::format("\\x{:02x}", c);
  return out;
}

std::string shape_string(const std::vector<int>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

class Writer {
 public:
  void bytes(std::string_view b) { out_.append(b); }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i32(int v) { u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(v))); }
  void i64(long v) { u64(static_cast<std::uint64_t>(static_cast<std::int64_t>(v))); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void f64s(const std::vector<double>& values) {
    for (const double v : values) f64(v);
  }
  void count(std::size_t n, const char* what) {
    if (n > std::numeric_limits<std::uint32_t>::max())
      throw std::length_error(fmt::format("checkpoint: {} {} do not fit the format's 32-bit count", n, what));
    u32(static_cast<std::uint32_t>(n));
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// Reads [pos, end) of a file whose header and checksum have been checked; every failure names
// the file, the byte offset and the field.
class Reader {
 public:
  Reader(std::string_view bytes, std::size_t pos, std::size_t end, const std::string& name)
      : bytes_(bytes), pos_(pos), end_(end), name_(name) {}

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return end_ - pos_; }

  [[noreturn]] void fail(std::string_view field, const std::string& why) const {
    throw CheckpointError(fmt::format("{}: byte {} ({}): {}", name_, pos_, field, why));
  }

  void need(std::uint64_t n, std::string_view field) const {
    if (n > left())
      fail(field, fmt::format("needs {} bytes, only {} are left before the checksum (corrupt or not written by "
                              "this format)", n, left()));
  }

  std::uint8_t u8(std::string_view field) {
    need(1, field);
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::uint32_t u32(std::string_view field) {
    need(4, field);
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + i]);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(std::string_view field) {
    need(8, field);
    const std::uint64_t v = load_u64(bytes_.data() + pos_);
    pos_ += 8;
    return v;
  }
  int i32(std::string_view field) { return static_cast<std::int32_t>(u32(field)); }
  long i64(std::string_view field) { return static_cast<long>(static_cast<std::int64_t>(u64(field))); }
  double f64(std::string_view field) { return std::bit_cast<double>(u64(field)); }

  bool boolean(std::string_view field) {
    const std::uint8_t v = u8(field);
    if (v > 1) {
      --pos_;
      fail(field, fmt::format("{} is not a boolean (0 or 1)", v));
    }
    return v == 1;
  }

  std::string str(std::string_view field) {
    const std::size_t at = pos_;
    const std::uint64_t n = u64(field);
    if (n > left()) {
      pos_ = at;
      fail(field, fmt::format("length {} exceeds the {} bytes left before the checksum", n, left() - 8));
    }
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  // A count of entries of at least `entry_bytes` each, refused before anything is allocated when
  // the entries cannot fit in what is left.
  std::uint32_t count(std::string_view field, std::size_t entry_bytes) {
    const std::size_t at = pos_;
    const std::uint32_t n = u32(field);
    if (static_cast<std::uint64_t>(n) * entry_bytes > left()) {
      pos_ = at;
      fail(field, fmt::format("{} entries of at least {} bytes each cannot fit in the {} bytes left", n, entry_bytes,
                              left() - 4));
    }
    return n;
  }

  std::vector<double> f64s(std::uint64_t n, std::string_view field) {
    if (n > left() / 8) fail(field, fmt::format("{} doubles need {} bytes, only {} are left", n, n * 8.0, left()));
    std::vector<double> values(n);
    for (double& v : values) v = f64(field);
    return values;
  }

 private:
  std::string_view bytes_;
  std::size_t pos_, end_;
  const std::string& name_;
};

// The checks that need the parsed whole: the config, the scaler and the tensor table against it,
// the trainer state's bookkeeping.
void validate(const Checkpoint& ck, const std::string& name) {
  const std::size_t features = ck.feature_names.size();
  for (std::size_t j = 0; j < features; ++j) {
    if (!std::isfinite(ck.scaler.mean[j]))
      throw CheckpointError(fmt::format("{}: feature '{}': scaler mean {} is not finite", name,
                                        printable(ck.feature_names[j]), ck.scaler.mean[j]));
    if (!(ck.scaler.std[j] > 0) || !std::isfinite(ck.scaler.std[j]))
      throw CheckpointError(fmt::format("{}: feature '{}': scaler std {} is not a finite number > 0", name,
                                        printable(ck.feature_names[j]), ck.scaler.std[j]));
  }
  if (features == 0 || features > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw CheckpointError(fmt::format("{}: {} features; a model needs at least one", name, features));

  const bool classification = ck.config.task == "classification";
  if (classification != !ck.class_labels.empty())
    throw CheckpointError(fmt::format("{}: task = '{}' with {} class labels; a classification run has two or more, "
                                      "a regression run none", name, ck.config.task, ck.class_labels.size()));
  if (classification && ck.class_labels.size() < 2)
    throw CheckpointError(fmt::format("{}: {} class label; classification needs two or more", name,
                                      ck.class_labels.size()));
  for (std::size_t k = 0; k < ck.class_labels.size(); ++k)
    for (std::size_t j = 0; j < k; ++j)
      if (ck.class_labels[j] == ck.class_labels[k])
        throw CheckpointError(fmt::format("{}: class label '{}' appears twice (classes {} and {})", name,
                                          printable(ck.class_labels[k]), j, k));
  const int outputs = classification ? static_cast<int>(ck.class_labels.size()) : 1;
  std::optional<ParamTable> table;
  try {
    table.emplace(ck.config.model_spec(static_cast<int>(features), outputs));
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(fmt::format("{}: its configuration makes no model with {} features: {}", name, features,
                                      e.what()));
  }
  const auto& expected = table->tensors();
  const std::string model = fmt::format("layers = {}, neurons = {}, coupling = '{}', train_a/b/g/I = {}/{}/{}/{}",
                                        ck.config.layers, ck.config.neurons, ck.config.coupling, ck.config.train_a,
                                        ck.config.train_b, ck.config.train_g, ck.config.train_I);
  if (ck.tensors.size() != expected.size())
    throw CheckpointError(fmt::format("{}: holds {} parameter tensors, but its configuration ({}) has {}", name,
                                      ck.tensors.size(), model, expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const CheckpointTensor& got = ck.tensors[i];
    const ParamTensor& want = expected[i];
    if (got.name != want.name || got.shape != want.shape || got.trainable != want.trainable)
      throw CheckpointError(fmt::format(
          "{}: parameter tensor {} is '{}' {}{} in the file, but the configuration ({}) makes it '{}' {}{}", name,
          i, printable(got.name), shape_string(got.shape), got.trainable ? "" : " fixed", model, want.name,
          shape_string(want.shape), want.trainable ? "" : " fixed"));
  }

  const TrainState& st = ck.state;
  if (st.epoch < 0 || st.history.size() != static_cast<std::size_t>(st.epoch))
    throw CheckpointError(fmt::format("{}: {} epochs completed but {} history records", name, st.epoch,
                                      st.history.size()));
  for (std::size_t i = 0; i < st.history.size(); ++i)
    if (st.history[i].epoch != static_cast<int>(i) + 1)
      throw CheckpointError(fmt::format("{}: history record {} is for epoch {}, expected {}", name, i,
                                        st.history[i].epoch, i + 1));
  if (st.best_epoch < 0 || st.best_epoch > st.epoch)
    throw CheckpointError(fmt::format("{}: best epoch {} is outside 0..{}", name, st.best_epoch, st.epoch));
  if (st.waited < 0 || st.waited > st.epoch)
    throw CheckpointError(fmt::format("{}: {} epochs waited for a better validation MSE, outside 0..{}", name,
                                      st.waited, st.epoch));
  if (ck.optimizer.step < 0)
    throw CheckpointError(fmt::format("{}: Adam step count {} is negative", name, ck.optimizer.step));
}

// Whether a checkpoint of this configuration holds a target scaler (format version 3).
bool stores_target_scaler(const Config& cfg) {
  return cfg.task != "classification" && cfg.target_scaling == "standard";
}

}  // namespace

std::vector<CheckpointTensor> checkpoint_tensors(const ParamTable& table) {
  std::vector<CheckpointTensor> tensors;
  for (const ParamTensor& t : table.tensors()) tensors.push_back({t.name, t.shape, t.trainable});
  return tensors;
}

Checkpoint make_checkpoint(const Config& cfg, const ParamTable& table, const Scaler& scaler,
                           const std::vector<std::string>& feature_names, const TrainState& state,
                           const Backend& backend) {
  Checkpoint ck;
  ck.config = cfg;
  ck.scaler = scaler;
  ck.feature_names = feature_names;
  ck.tensors = checkpoint_tensors(table);
  ck.params.resize(table.total());
  backend.get_params(ck.params);
  ck.optimizer = backend.get_optimizer_state();
  ck.state = state;
  return ck;
}

std::string serialize_checkpoint(const Checkpoint& ck) {
  std::size_t total = 0;
  for (const CheckpointTensor& t : ck.tensors) {
    std::size_t size = 1;
    for (const int d : t.shape) size *= static_cast<std::size_t>(d);
    total += size;
  }
  const std::size_t features = ck.feature_names.size();
  if (ck.scaler.mean.size() != features || ck.scaler.std.size() != features || ck.params.size() != total ||
      ck.state.best_params.size() != total || ck.optimizer.m.size() != total || ck.optimizer.v.size() != total)
    throw std::invalid_argument(fmt::format(
        "serialize_checkpoint: {} feature names, {} means, {} stds; {} parameters, {} best, {} m, {} v for tensors of "
        "{} values", features, ck.scaler.mean.size(), ck.scaler.std.size(), ck.params.size(),
        ck.state.best_params.size(), ck.optimizer.m.size(), ck.optimizer.v.size(), total));

  Writer w;
  w.bytes(std::string_view(kCheckpointMagic, sizeof kCheckpointMagic));
  const bool scaled_target = stores_target_scaler(ck.config);
  w.u32(scaled_target ? kCheckpointVersionTarget
        : ck.class_labels.empty() ? kCheckpointVersion : kCheckpointVersionClasses);
  w.u64(0);  // the length, filled in below
  w.str(to_toml(ck.config));
  w.count(features, "features");
  for (std::size_t j = 0; j < features; ++j) {
    w.str(ck.feature_names[j]);
    w.f64(ck.scaler.mean[j]);
    w.f64(ck.scaler.std[j]);
  }
  if (scaled_target || !ck.class_labels.empty()) {
    w.count(ck.class_labels.size(), "class labels");
    for (const std::string& label : ck.class_labels) w.str(label);
  }
  if (scaled_target) {
    w.f64(ck.target_scaler.mean);
    w.f64(ck.target_scaler.std);
  }
  w.count(ck.tensors.size(), "tensors");
  for (const CheckpointTensor& t : ck.tensors) {
    w.str(t.name);
    w.u8(t.trainable ? 1 : 0);
    w.count(t.shape.size(), "dimensions");
    for (const int d : t.shape) w.u32(static_cast<std::uint32_t>(d));
  }
  w.f64s(ck.params);
  w.f64s(ck.state.best_params);
  w.i64(ck.optimizer.step);
  w.f64s(ck.optimizer.m);
  w.f64s(ck.optimizer.v);
  const TrainState& st = ck.state;
  w.i32(st.epoch);
  w.i32(st.best_epoch);
  w.i32(st.waited);
  w.f64(st.best_val);
  w.f64(st.patience_ref);
  w.count(st.history.size(), "history records");
  for (const EpochRecord& r : st.history) {
    w.i32(r.epoch);
    w.f64(r.train_loss);
    w.f64(r.val_mse);
    w.f64(r.seconds);
    w.u8(r.improved ? 1 : 0);
  }
  std::string& out = w.out();
  const std::uint64_t length = out.size() + kChecksumBytes;
  for (int i = 0; i < 8; ++i) out[sizeof kCheckpointMagic + 4 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  w.u64(fnv1a64(out));
  return std::move(out);
}

Checkpoint parse_checkpoint(std::string_view bytes, const std::string& name) {
  auto fail = [&](const std::string& why) -> CheckpointError { return CheckpointError(name + ": " + why); };
  const std::string_view magic(kCheckpointMagic, sizeof kCheckpointMagic);
  const std::size_t size = bytes.size();
  if (size == 0) throw fail("is empty (0 bytes), not a dynpmnn checkpoint");
  if (bytes.substr(0, magic.size()) != magic.substr(0, std::min(size, magic.size())))
    throw fail(fmt::format("not a dynpmnn checkpoint: it starts with \"{}\", a checkpoint with \"DYNPMNNC\"",
                           printable(bytes.substr(0, magic.size()))));
  if (size < kHeaderBytes)
    throw fail(fmt::format("truncated: {} bytes, less than the {}-byte header (magic, version, length)", size,
                           kHeaderBytes));
  std::uint32_t version = 0;
  for (int i = 3; i >= 0; --i) version = (version << 8) | static_cast<unsigned char>(bytes[magic.size() + i]);
  if (version != kCheckpointVersion && version != kCheckpointVersionClasses && version != kCheckpointVersionTarget)
    throw fail(fmt::format("checkpoint format version {} (byte 8); this dynpmnn reads versions {} to {}", version,
                           kCheckpointVersion, kCheckpointVersionTarget));
  const std::uint64_t length = load_u64(bytes.data() + magic.size() + 4);
  if (length < kHeaderBytes + kChecksumBytes)
    throw fail(fmt::format("the header (byte 12) records a length of {} bytes, less than a header and a checksum: "
                           "corrupted", length));
  if (size < length)
    throw fail(fmt::format("truncated: {} bytes, the header records {} (an interrupted write or copy?)", size, length));
  if (size > length)
    throw fail(fmt::format("{} bytes, the header records {}: {} bytes too many at the end, or a corrupted header",
                           size, length, size - length));
  const std::size_t body_end = size - kChecksumBytes;
  const std::uint64_t stored = load_u64(bytes.data() + body_end);
  const std::uint64_t computed = fnv1a64(bytes.substr(0, body_end));
  if (stored != computed)
    throw fail(fmt::format("checksum mismatch (stored {:#018x}, computed {:#018x} over bytes 0..{}): the file is "
                           "corrupted", stored, computed, body_end - 1));

  Reader r(bytes, kHeaderBytes, body_end, name);
  Checkpoint ck;
  const std::size_t config_at = r.pos();
  const std::string toml = r.str("configuration");
  const std::string where = fmt::format("{} (configuration at byte {})", name, config_at);
  try {
    // Checkpoints written before fhn_param_space existed stored trained FHN parameters as the values
    // themselves: without the key they read as raw (as physical where nothing is trained, where
    // the two are the same, so that such a run still matches its configuration). Every newer file
    // names the key; the empty value marks its absence.
    ck.config.fhn_param_space.clear();
    apply_config_text(ck.config, toml, where);
    if (ck.config.fhn_param_space.empty()) {
      const Config& c = ck.config;
      ck.config.fhn_param_space = c.train_a || c.train_b || c.train_g || c.train_I ? "raw" : "physical";
    }
    ck.config.validate();
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    throw CheckpointError(what.starts_with(where) ? what : where + ": " + what);
  }

  const std::uint32_t features = r.count("feature count", 8 + 8 + 8);
  ck.feature_names.reserve(features);
  for (std::uint32_t j = 0; j < features; ++j) {
    ck.feature_names.push_back(r.str("feature name"));
    ck.scaler.mean.push_back(r.f64("scaler mean"));
    ck.scaler.std.push_back(r.f64("scaler std"));
  }
  if (version == kCheckpointVersionClasses || version == kCheckpointVersionTarget) {
    const std::uint32_t classes = r.count("class count", 8);
    for (std::uint32_t k = 0; k < classes; ++k) ck.class_labels.push_back(r.str("class label"));
  }
  const std::size_t target_at = r.pos();
  if (version == kCheckpointVersionTarget) {
    ck.target_scaler.mean = r.f64("target mean");
    ck.target_scaler.std = r.f64("target std");
  }
  // Only a regression run with target_scaling = standard stores a target scaler, and it always does
  // (files of versions 1 and 2 predate the key, whose absence reads as "none").
  if ((version == kCheckpointVersionTarget) != stores_target_scaler(ck.config))
    throw CheckpointError(fmt::format(
        "{}: byte {} (target scaler): format version {} {} a target scaler, but the configuration has task = '{}' "
        "and target_scaling = '{}'", name, target_at, version,
        version == kCheckpointVersionTarget ? "stores" : "does not store", ck.config.task, ck.config.target_scaling));
  if (!std::isfinite(ck.target_scaler.mean) || !(ck.target_scaler.std > 0) || !std::isfinite(ck.target_scaler.std))
    throw CheckpointError(fmt::format("{}: byte {} (target scaler): mean {} and std {}; expected a finite mean and a "
                                      "finite std > 0", name, target_at, ck.target_scaler.mean, ck.target_scaler.std));
  const std::uint32_t tensors = r.count("tensor count", 8 + 1 + 4);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < tensors; ++i) {
    CheckpointTensor t;
    t.name = r.str("tensor name");
    t.trainable = r.boolean("tensor trainable flag");
    const std::uint32_t rank = r.count("tensor rank", 4);
    if (rank == 0 || rank > kMaxRank) r.fail("tensor rank", fmt::format("tensor '{}' has rank {}, expected 1..{}",
                                                                        printable(t.name), rank, kMaxRank));
    std::uint64_t size = 1;
    for (std::uint32_t k = 0; k < rank; ++k) {
      const std::uint32_t d = r.u32("tensor dimension");
      if (d == 0 || d > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
        r.fail("tensor dimension", fmt::format("tensor '{}' has a dimension of {}", printable(t.name), d));
      t.shape.push_back(static_cast<int>(d));
      size *= d;
      // Four arrays of 8-byte values follow: a size beyond what is left is corrupt (and this
      // bound keeps the products from overflowing).
      if (size > r.left() / 32) r.fail("tensor dimension", fmt::format("tensor '{}' of shape {}... cannot fit in "
                                                                       "the {} bytes left", printable(t.name),
                                                                       shape_string(t.shape), r.left()));
    }
    total += size;
    if (total > r.left() / 32)
      r.fail("tensor table", fmt::format("{} parameters in four arrays cannot fit in the {} bytes left", total,
                                         r.left()));
    ck.tensors.push_back(std::move(t));
  }
  ck.params = r.f64s(total, "current parameters");
  ck.state.best_params = r.f64s(total, "best parameters");
  ck.optimizer.step = r.i64("Adam step");
  ck.optimizer.m = r.f64s(total, "Adam m");
  ck.optimizer.v = r.f64s(total, "Adam v");
  TrainState& st = ck.state;
  st.epoch = r.i32("epochs completed");
  st.best_epoch = r.i32("best epoch");
  st.waited = r.i32("epochs waited");
  st.best_val = r.f64("best validation MSE");
  st.patience_ref = r.f64("patience reference");
  const std::uint32_t records = r.count("history count", 4 + 8 + 8 + 8 + 1);
  st.history.reserve(records);
  for (std::uint32_t i = 0; i < records; ++i) {
    EpochRecord rec;
    rec.epoch = r.i32("history epoch");
    rec.train_loss = r.f64("history train_loss");
    rec.val_mse = r.f64("history val_mse");
    rec.seconds = r.f64("history seconds");
    rec.improved = r.boolean("history improved flag");
    st.history.push_back(rec);
  }
  if (r.left() != 0)
    r.fail("end of data", fmt::format("{} unexpected bytes before the checksum", r.left()));
  validate(ck, name);
  return ck;
}

void save_checkpoint(const fs::path& path, const Checkpoint& checkpoint) {
  write_file_atomically(path, serialize_checkpoint(checkpoint));
}

Checkpoint load_checkpoint(const fs::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw CheckpointError(name + ": no such file");
  if (!fs::is_regular_file(path, ec)) throw CheckpointError(name + ": not a regular file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw CheckpointError(name + ": cannot read its size: " + ec.message());
  if (size > kMaxFileBytes)
    throw CheckpointError(fmt::format("{}: {} bytes, more than any checkpoint of a valid configuration", name, size));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(name + ": cannot be opened: " + std::strerror(errno));
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size)) || in.peek() != std::char_traits<char>::eof())
    throw CheckpointError(name + ": changed size while being read (another process writing it?)");
  return parse_checkpoint(bytes, name);
}

}  // namespace dynpmnn
