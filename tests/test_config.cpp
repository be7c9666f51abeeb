// Config: validation messages, the key table, TOML files, --set overrides, presets and output.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "host/config/config.h"
#include "host/config/config_io.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

// A folder of its own per test process, removed at the end.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("dynpmnn_test_config_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  fs::path path_;
};

std::string validation_error(const std::vector<std::string>& overrides) {
  Config cfg;
  for (const auto& o : overrides) apply_override(cfg, o);
  try {
    cfg.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(validate accepted it)";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(Config, DefaultsAndPresetsAreValid) {
  EXPECT_NO_THROW(Config{}.validate());
  ASSERT_FALSE(preset_names().empty());
  for (const auto& name : preset_names()) EXPECT_NO_THROW(preset(name).validate()) << name;
}

TEST(Config, EveryInvalidValueNamesItsKey) {
  struct Case {
    std::vector<std::string> overrides;
    std::string key;
  };
  const std::vector<Case> cases = {
      {{"dt=0"}, "dt"},
      {{"dt=-1"}, "dt"},
      {{"dt=nan"}, "dt"},
      {{"dt=inf"}, "dt"},
      {{"t_end=0"}, "t_end"},
      {{"t_end=-500"}, "t_end"},
      {{"t_end=1e9", "dt=1"}, "t_end"},  // absurd step count
      {{"neurons=0"}, "neurons"},
      {{"neurons=-4"}, "neurons"},
      {{"neurons=2000000"}, "neurons"},
      {{"layers=0"}, "layers"},
      {{"layers=100000"}, "layers"},
      {{"batch_size=0"}, "batch_size"},
      {{"batch_size=-32"}, "batch_size"},
      {{"epochs=-1"}, "epochs"},
      {{"lr=0"}, "lr"},
      {{"lr=-0.001"}, "lr"},
      {{"weight_decay=-0.1"}, "weight_decay"},
      {{"patience=-1"}, "patience"},
      {{"min_delta=-0.05"}, "min_delta"},
      {{"clip=-1"}, "clip"},
      {{"clip=nan"}, "clip"},
      {{"coupling=sideways"}, "coupling"},
      {{"integrator=leapfrog"}, "integrator"},
      {{"activation=sigmoid"}, "activation"},
      {{"device=tpu"}, "device"},
      {{"fhn_a=nan"}, "fhn_a"},
      {{"fhn_I=inf"}, "fhn_I"},
      {{"seed=18446744073709551615"}, "seed"},
      // Each limit alone is fine; together they would need terabytes.
      {{"neurons=1000000", "batch_size=100000"}, "neurons"},
  };
  for (const auto& c : cases) {
    const std::string message = validation_error(c.overrides);
    EXPECT_NE(message.find(c.key), std::string::npos) << c.overrides.front() << " gave: " << message;
    EXPECT_NE(message, "(validate accepted it)") << c.overrides.front();
  }
}

// California Housing is cut by the paper's split whatever `split` says; its configurations say so
// with split = "paper", and the CSV default they held before still loads and means the same.
TEST(Config, CaliforniaNamesThePapersSplit) {
  EXPECT_EQ(with_split_used(Config{}).split, kPaperSplit);
  EXPECT_EQ(with_split_used(with_split_used(Config{})).split, kPaperSplit);
  Config csv;
  csv.target = "y";
  EXPECT_EQ(with_split_used(csv).split, Config{}.split);  // the CSV default is a CSV split
  csv.split = "0.8,0.1,0.1";
  EXPECT_EQ(with_split_used(csv).split, "0.8,0.1,0.1");

  EXPECT_EQ(validation_error({}), "(validate accepted it)");  // the CSV default, as old configs hold it
  EXPECT_EQ(validation_error({"split=paper"}), "(validate accepted it)");
  const std::string california = validation_error({"split=0.8,0.1,0.1"});
  EXPECT_NE(california.find("split = '0.8,0.1,0.1' does not apply to California Housing, which has one split, the "
                            "paper's (split = \"paper\")"), std::string::npos) << california;
  const std::string on_csv = validation_error({"target=y", "split=paper"});
  EXPECT_NE(on_csv.find("split = 'paper' is California Housing's split; a CSV file takes"), std::string::npos) << on_csv;
  EXPECT_EQ(validation_error({"target=y", "split=0.8,0.1,0.1"}), "(validate accepted it)");

  const Config named = with_split_used(Config{});
  EXPECT_NE(to_toml(named).find("split = \"paper\""), std::string::npos);
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("dynpmnn_split_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file) << to_toml(named);
  EXPECT_EQ(to_json(load_config_file(file)), to_json(named));
  std::filesystem::remove(file);
}

TEST(Config, NonMultipleTEndMessage) {
  EXPECT_NE(validation_error({"t_end=501"}).find("t_end = 501 is not a multiple of dt = 20"), std::string::npos)
      << validation_error({"t_end=501"});
  EXPECT_EQ(validation_error({"t_end=2", "dt=0.1"}), "(validate accepted it)");
}

TEST(Config, MemoryEstimateRefusesBeforeAllocating) {
  const std::string message = validation_error({"neurons=1000000", "batch_size=100000"});
  EXPECT_NE(message.find("GiB"), std::string::npos) << message;
}

TEST(Config, ModelSpecFromFlatKeys) {
  Config cfg;
  for (const char* o : {"layers=3", "neurons=5", "coupling=current", "integrator=rk4", "layernorm=false",
                        "activation=tanh", "dt=0.5", "t_end=2", "clip=7", "fhn_a=0.3", "fhn_b=0.04", "fhn_g=2.5", "fhn_I=0.1", "train_g=true",
                        "train_I=true"})
    apply_override(cfg, o);
  const ModelSpec spec = cfg.model_spec(8, 1);
  EXPECT_EQ(spec.inputs, 8);
  EXPECT_EQ(spec.outputs, 1);
  ASSERT_EQ(spec.layers.size(), 3u);
  for (const LayerSpec& L : spec.layers) {
    EXPECT_EQ(L.units, 5);
    EXPECT_EQ(L.coupling, Coupling::kCurrent);
    EXPECT_EQ(L.integrator, Integrator::kRk4);
    EXPECT_FALSE(L.layernorm);
    EXPECT_EQ(L.activation, Activation::kTanh);
    EXPECT_EQ(L.dt, 0.5);
    EXPECT_EQ(L.t_end, 2.0);
    EXPECT_EQ(L.steps(), 4);
    EXPECT_EQ(L.clip, 7.0);
    EXPECT_EQ(L.a, 0.3);
    EXPECT_EQ(L.b, 0.04);
    EXPECT_EQ(L.g, 2.5);
    EXPECT_EQ(L.I, 0.1);
    EXPECT_FALSE(L.train_a);
    EXPECT_FALSE(L.train_b);
    EXPECT_TRUE(L.train_g);
    EXPECT_TRUE(L.train_I);
  }
}

TEST(Config, OverrideErrors) {
  Config cfg;
  const std::string unknown = error_of([&] { apply_override(cfg, "neuron=3"); });
  EXPECT_NE(unknown.find("'neuron'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'neurons'"), std::string::npos) << unknown;  // the close match

  const std::string far = error_of([&] { apply_override(cfg, "nonsense=1"); });
  EXPECT_NE(far.find("nonsense"), std::string::npos) << far;

  const std::string bad_int = error_of([&] { apply_override(cfg, "batch_size=abc"); });
  for (const char* part : {"batch_size", "abc", "integer"}) EXPECT_NE(bad_int.find(part), std::string::npos) << bad_int;
  const std::string fraction = error_of([&] { apply_override(cfg, "epochs=2.5"); });
  EXPECT_NE(fraction.find("epochs"), std::string::npos) << fraction;
  const std::string bad_bool = error_of([&] { apply_override(cfg, "layernorm=maybe"); });
  EXPECT_NE(bad_bool.find("boolean"), std::string::npos) << bad_bool;
  const std::string bad_number = error_of([&] { apply_override(cfg, "dt=fast"); });
  EXPECT_NE(bad_number.find("dt"), std::string::npos) << bad_number;
  const std::string negative_seed = error_of([&] { apply_override(cfg, "seed=-1"); });
  EXPECT_NE(negative_seed.find("seed"), std::string::npos) << negative_seed;
  const std::string no_equals = error_of([&] { apply_override(cfg, "dt"); });
  EXPECT_NE(no_equals.find("key=value"), std::string::npos) << no_equals;

  apply_override(cfg, " dt = 0.25 ");
  EXPECT_EQ(cfg.dt, 0.25);
  apply_override(cfg, "out=");
  EXPECT_EQ(cfg.out, "");
  apply_override(cfg, "data=/a=b");  // only the first '=' separates
  EXPECT_EQ(cfg.data, "/a=b");
}

TEST(Config, TomlUnknownKeyNamesKeyAndLine) {
  TempDir dir;
  const fs::path file = dir.write("unknown.toml", "neurons = 2\n\nnuerons = 3\n");
  const std::string message = error_of([&] { load_config_file(file); });
  EXPECT_NE(message.find(file.string() + ":3:"), std::string::npos) << message;
  EXPECT_NE(message.find("'nuerons'"), std::string::npos) << message;
  EXPECT_NE(message.find("'neurons'"), std::string::npos) << message;
}

TEST(Config, TomlTypeMismatchNamesKeyLineAndType) {
  TempDir dir;
  const fs::path file = dir.write("types.toml", "# comment\ndt = \"fast\"\n");
  const std::string message = error_of([&] { load_config_file(file); });
  for (const std::string& part : std::vector<std::string>{file.string() + ":2:", "dt", "number", "string"})
    EXPECT_NE(message.find(part), std::string::npos) << message;

  const fs::path wide = dir.write("range.toml", "neurons = 99999999999\n");
  const std::string range = error_of([&] { load_config_file(wide); });
  EXPECT_NE(range.find("neurons"), std::string::npos) << range;
  EXPECT_NE(range.find(":1:"), std::string::npos) << range;

  const fs::path boolean = dir.write("bool.toml", "layernorm = 1\n");
  EXPECT_NE(error_of([&] { load_config_file(boolean); }).find("boolean"), std::string::npos);
}

TEST(Config, TomlSyntaxErrorGivesLineAndColumn) {
  TempDir dir;
  const fs::path file = dir.write("syntax.toml", "neurons = 2\nlayers = 1\n\ndt = = 1\n");
  const std::string message = error_of([&] { load_config_file(file); });
  EXPECT_NE(message.find(file.string() + ":4:"), std::string::npos) << message;
}

TEST(Config, TomlMissingFile) {
  const std::string message = error_of([] { load_config_file("/nonexistent/dynpmnn.toml"); });
  EXPECT_NE(message.find("/nonexistent/dynpmnn.toml"), std::string::npos) << message;
}

TEST(Config, TomlIntegerIsANumber) {
  TempDir dir;
  const Config cfg = load_config_file(dir.write("int.toml", "dt = 1\nt_end = 4\n"));
  EXPECT_EQ(cfg.dt, 1.0);
  EXPECT_EQ(cfg.t_end, 4.0);
  EXPECT_EQ(cfg.neurons, Config{}.neurons);  // absent keys keep their value
}

TEST(Config, PaperPreset) {
  const Config cfg = preset("paper-california");
  EXPECT_EQ(cfg.preset, "paper-california");
  EXPECT_EQ(cfg.layers, 1);
  EXPECT_EQ(cfg.neurons, 1);
  EXPECT_EQ(cfg.coupling, "initial");
  EXPECT_TRUE(cfg.layernorm);
  EXPECT_EQ(cfg.activation, "silu");
  EXPECT_EQ(cfg.dt, 20.0);
  EXPECT_EQ(cfg.t_end, 500.0);
  EXPECT_EQ(cfg.clip, 0.0);
  EXPECT_EQ(cfg.batch_size, 32);
  EXPECT_EQ(cfg.lr, 5e-4);
  EXPECT_EQ(cfg.weight_decay, 5e-3);
  EXPECT_EQ(cfg.epochs, 100);
  EXPECT_EQ(cfg.patience, 10);
  EXPECT_EQ(cfg.min_delta, 0.05);

  Config clip = preset("paper-california-clip");
  EXPECT_EQ(clip.clip, 20.0);
  clip.clip = 0;
  clip.preset = cfg.preset;
  EXPECT_EQ(to_json(clip), to_json(cfg));  // nothing else differs

  const Config wide = preset("wide-california");
  EXPECT_EQ(wide.neurons, 64);
  EXPECT_EQ(wide.dt, 0.1);
  EXPECT_EQ(wide.t_end, 2.0);
  EXPECT_EQ(wide.lr, cfg.lr);
}

TEST(Config, UnknownPresetListsAvailable) {
  const std::string message = error_of([] { preset("paper-californa"); });
  EXPECT_NE(message.find("paper-californa"), std::string::npos) << message;
  for (const auto& name : preset_names()) EXPECT_NE(message.find(name), std::string::npos) << message;
  EXPECT_NE(error_of([] { preset("../CMakeLists"); }), "(no ConfigError)");
}

TEST(Config, Precedence) {
  TempDir dir;
  const fs::path file = dir.write("mine.toml", "neurons = 8\nlr = 0.01\n");
  const std::vector<std::string> overrides = {"neurons=16", "epochs=3", "neurons=4"};
  const Config cfg = resolve_config("wide-california", file, overrides);
  EXPECT_EQ(cfg.preset, "wide-california");
  EXPECT_EQ(cfg.dt, 0.1);        // preset
  EXPECT_EQ(cfg.lr, 0.01);       // config file over preset
  EXPECT_EQ(cfg.neurons, 4);     // overrides over the file, the last one winning
  EXPECT_EQ(cfg.epochs, 3);
  // Without a preset: the default model, or Config{} (the paper's setting) under a config file, so
  // that a config.toml written before a key existed repeats its run.
  EXPECT_EQ(to_json(resolve_config("", "", {})), to_json(default_config()));
  const Config over_base = resolve_config("", file, {});
  EXPECT_EQ(over_base.neurons, 8);
  EXPECT_EQ(over_base.dt, Config{}.dt);
  EXPECT_EQ(over_base.target_scaling, "none");
}

TEST(Config, TomlRoundTrip) {
  TempDir dir;
  Config cfg;
  for (const char* o : {"layers=2", "neurons=17", "coupling=current", "integrator=imex", "layernorm=false",
                        "activation=identity", "dt=0.1", "t_end=0.30000000000000004", "clip=1e-300", "fhn_a=-0.25", "fhn_I=3",
                        "train_b=true", "epochs=0", "batch_size=7", "lr=1.2345678901234567e-5", "weight_decay=0",
                        "patience=0", "min_delta=0.1", "seed=9223372036854775807", "device=cpu", "preset=x y"})
    apply_override(cfg, o);
  cfg.data = "/path with \"quotes\", a \\ backslash,\ta tab and ünïcödé";
  cfg.out = "line\nbreak";
  for (const Config& c : {Config{}, cfg}) {
    const Config back = load_config_file(dir.write("round.toml", to_toml(c)));
    EXPECT_EQ(to_json(back), to_json(c)) << to_toml(c);
  }
}

// The number of members of an aggregate: the most braced initialisers it accepts.
struct AnyMember {
  template <typename T>
  operator T() const;
};
template <typename T, typename... Members>
constexpr std::size_t member_count() {
  if constexpr (requires { T{Members{}..., AnyMember{}}; }) return member_count<T, Members..., AnyMember>();
  else return sizeof...(Members);
}

TEST(Config, KeyTableCoversEveryField) {
  // A member added to Config without a key would make these differ.
  EXPECT_EQ(member_count<Config>(), config_keys().size());

  std::set<std::string> names;
  for (const auto& key : config_keys()) EXPECT_TRUE(names.insert(std::string(key.name)).second) << key.name;
  const nlohmann::json defaults = to_json(Config{});
  std::set<std::string> json_keys;
  for (const auto& [name, value] : defaults.items()) json_keys.insert(name);
  EXPECT_EQ(json_keys, names);

  // Each key reaches a member of its own: changing it changes that key alone.
  const std::string help = describe_config_keys(Config{});
  for (const auto& key : config_keys()) {
    Config cfg;
    std::visit(
        [&](auto member) {
          auto& value = cfg.*member;
          using T = std::remove_cvref_t<decltype(value)>;
          if constexpr (std::is_same_v<T, bool>) value = !value;
          else if constexpr (std::is_same_v<T, std::string>) value += "x";
          else if constexpr (std::is_same_v<T, std::vector<int>>) value.push_back(1);
          else value = static_cast<T>(value + 1);
        },
        key.field);
    const nlohmann::json changed = to_json(cfg);
    for (const auto& other : config_keys())
      EXPECT_EQ(changed[std::string(other.name)] == defaults[std::string(other.name)], other.name != key.name)
          << "changing " << key.name << " vs " << other.name;
    EXPECT_EQ(find_config_key(key.name), &key);
    EXPECT_NE(help.find(std::string(key.name)), std::string::npos) << key.name;
    EXPECT_FALSE(key.help.empty()) << key.name;
  }
  EXPECT_EQ(find_config_key("nonsense"), nullptr);
}

}  // namespace
}  // namespace dynpmnn
