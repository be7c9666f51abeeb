// Reading and writing Config: the table of every key (the single source of names, types, help text
// and parsing, from which --help, TOML files, --set and the run folder's config.toml all derive),
// TOML config files, --set overrides, the presets in models/presets/, and TOML/JSON output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/config/config.h"

namespace dynpmnn {

struct ConfigKey {
  // The Config member this key reads and writes; its type is the key's type.
  using Field = std::variant<int Config::*, std::uint64_t Config::*, double Config::*, bool Config::*,
                             std::string Config::*, std::vector<int> Config::*>;
  std::string_view name;
  Field field;
  std::string_view group;  // "data", "model", "training" or "run": how --help groups the keys
  std::string_view help;
};

// Every key, in the order --help and config.toml list them.
std::span<const ConfigKey> config_keys();
// Null when there is no such key.
const ConfigKey* find_config_key(std::string_view name);

// "integer", "number", "boolean", "list of integers" (TOML [1, 2], --set 1,2), ...: what a value of
// this key must look like.
std::string_view type_name(const ConfigKey& key);
// The key's value in cfg as --set would spell it (strings unquoted).
std::string value_string(const Config& cfg, const ConfigKey& key);
// The key table as aligned text (name, type, default from Config{}, help), for --help and docs.
std::string describe_config_keys();

// Applies "key=value" (the CLI's --set). ConfigError names the key and value and, for an unknown
// key, the closest known ones.
void apply_override(Config& cfg, std::string_view assignment);

// Applies the keys present in a flat TOML file on top of cfg. ConfigError gives file:line for
// unknown keys and wrong types, file:line:col for syntax errors.
void apply_config_file(Config& cfg, const std::filesystem::path& path);
// The same for TOML text already in memory; `where` names its source in the messages.
void apply_config_text(Config& cfg, std::string_view text, const std::string& where);
Config load_config_file(const std::filesystem::path& path);  // on top of Config{}

// models/presets/<name>.toml of the source tree, on top of Config{}, with cfg.preset = name.
// ConfigError lists the available presets when there is none of that name.
Config preset(std::string_view name);
std::vector<std::string> preset_names();  // sorted

// The CLI's precedence: preset (if not empty) < config file (if not empty) < overrides in order.
// The result is not validated.
Config resolve_config(std::string_view preset_name, const std::filesystem::path& config_path,
                      std::span<const std::string> overrides);

// Every key, resolved: load_config_file(to_toml(cfg)) gives cfg back.
std::string to_toml(const Config& cfg);
nlohmann::json to_json(const Config& cfg);

}  // namespace dynpmnn
