// Reading and writing Config through its key table (config.h's config_keys(), from which --help,
// TOML files, --set and the run folder's config.toml all derive): TOML config files, --set
// overrides, the presets in models/presets/, and TOML/JSON output.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/config/config.h"

namespace dynpmnn {

// The key table as aligned text (name, type, the value in `defaults`, help), for --help and docs.
std::string describe_config_keys(const Config& defaults);

// Applies "key=value" (the CLI's --set). ConfigError names the key and value and, for an unknown
// key, the closest known ones.
void apply_override(Config& cfg, std::string_view assignment);

// Applies the keys present in a flat TOML file on top of cfg. ConfigError gives file:line for
// unknown keys and wrong types, file:line:col for syntax errors.
void apply_config_file(Config& cfg, const std::filesystem::path& path);
// The same for TOML text already in memory; `where` names its source in the messages.
void apply_config_text(Config& cfg, std::string_view text, const std::string& where);
Config load_config_file(const std::filesystem::path& path);  // on top of Config{}

// The presets' folder: models/presets/ of share_dir() (data/share_dir.h: $DYNPMNN_SHARE_DIR, an
// install's share/dynpmnn, or the source tree for a build tree's programs); ConfigError saying what
// was tried where none is found.
std::filesystem::path preset_dir();

// preset_dir()/<name>.toml, on top of Config{}, with cfg.preset = name.
// ConfigError lists the available presets when there is none of that name.
Config preset(std::string_view name);
std::vector<std::string> preset_names();  // sorted

// What a run that names neither a preset nor a config file starts from: the default model,
// models/presets/default.toml (chosen on validation, docs/defaults.md), with cfg.preset empty.
// Config{} stays the paper's setting: the values every file written before a key existed assumes.
Config default_config();

// The CLI's precedence: preset (if not empty) < config file (if not empty) < overrides in order.
// With neither a preset nor a config file the start is default_config(); a config file without a
// preset applies over Config{}, so that every config.toml a run folder ever wrote repeats its run.
// The result is not validated.
Config resolve_config(std::string_view preset_name, const std::filesystem::path& config_path,
                      std::span<const std::string> overrides);

// Every key, resolved: load_config_file(to_toml(cfg)) gives cfg back.
std::string to_toml(const Config& cfg);
nlohmann::json to_json(const Config& cfg);

}  // namespace dynpmnn
