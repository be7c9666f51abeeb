#include "host/config/config_io.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include "data/share_dir.h"
#include "host/config/toml.h"

namespace dynpmnn {

namespace {

constexpr std::string_view kDefaultPreset = "default";

std::string with_article(std::string_view noun) {
  const bool vowel = std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}

// Shortest text that parses back to the same double (fmt's default), e.g. 0.0005, 20, 1e-10.
std::string format_number(double x) { return fmt::format("{}", x); }

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Text (from --set) to a value; nullopt when it does not spell one of T in range.
template <typename T>
std::optional<T> parse_text(std::string_view text) {
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(text);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "0" || text == "no" || text == "off") return false;
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    // "1,2,3", optionally in brackets as TOML writes it; "" or "[]" is the empty list.
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = trim(text.substr(1, text.size() - 2));
    std::vector<int> values;
    if (text.empty()) return values;
    for (;;) {
      const auto comma = text.find(',');
      const auto item = parse_text<int>(trim(text.substr(0, comma)));
      if (!item) return std::nullopt;
      values.push_back(*item);
      if (comma == std::string_view::npos) return values;
      text = text.substr(comma + 1);
    }
  } else {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
  }
}

// A TOML node to a value; nullopt for a wrong type, with `range_error` set when the type was right
// but the integer does not fit.
template <typename T>
std::optional<T> parse_node(const toml::node& node, bool& range_error) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (const auto* s = node.as_string()) return s->get();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (const auto* b = node.as_boolean()) return b->get();
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    const auto* array = node.as_array();
    if (array == nullptr) return std::nullopt;
    std::vector<int> values;
    for (const toml::node& element : *array) {
      const auto value = parse_node<int>(element, range_error);
      if (!value) return std::nullopt;
      values.push_back(*value);
    }
    return values;
  } else if constexpr (std::is_same_v<T, double>) {
    if (const auto* f = node.as_floating_point()) return f->get();
    if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  } else {
    if (const auto* i = node.as_integer()) {
      const std::int64_t v = i->get();
      if (v < 0 && std::is_unsigned_v<T>) {
        range_error = true;
        return std::nullopt;
      }
      if constexpr (std::is_same_v<T, int>) {
        if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
          range_error = true;
          return std::nullopt;
        }
      }
      return static_cast<T>(v);
    }
  }
  return std::nullopt;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// "unknown key 'x'" plus the nearest keys by edit distance (or containing each other), so a typo
// points at the fix.
std::string unknown_key_message(std::string_view name) {
  std::vector<std::pair<std::size_t, std::string_view>> near;
  for (const auto& key : config_keys()) {
    const std::size_t d = edit_distance(name, key.name);
    const bool contains = name.size() >= 2 && (key.name.find(name) != std::string_view::npos ||
                                                name.find(key.name) != std::string_view::npos);
    if (d <= std::max<std::size_t>(2, name.size() / 3) || contains) near.emplace_back(d, key.name);
  }
  std::sort(near.begin(), near.end());
  if (near.size() > 3) near.resize(3);
  std::string message = fmt::format("unknown key '{}'", name);
  if (near.empty()) return message + " (dynpmnn train --help lists the keys)";
  message += " (did you mean ";
  for (std::size_t i = 0; i < near.size(); ++i)
    message += fmt::format("{}'{}'", i == 0 ? "" : i + 1 == near.size() ? " or " : ", ", near[i].second);
  return message + "?)";
}

// A value as TOML spells it.
template <typename T>
std::string toml_literal(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    std::string quoted = "\"";
    for (const unsigned char c : value) {
      switch (c) {
        case '"': quoted += "\\\""; break;
        case '\\': quoted += "\\\\"; break;
        case '\n': quoted += "\\n"; break;
        case '\t': quoted += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) quoted += fmt::format("\\u{:04X}", c);
          else quoted += static_cast<char>(c);
      }
    }
    return quoted + '"';
  } else if constexpr (std::is_same_v<T, double>) {
    std::string s = format_number(value);
    // fmt writes 20 for 20.0; TOML would read that back as an integer.
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  } else if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    return fmt::format("[{}]", fmt::join(value, ", "));
  } else {
    return std::to_string(value);
  }
}

}  // namespace

std::string describe_config_keys(const Config& defaults) {
  const std::span<const ConfigKey> keys = config_keys();
  std::size_t name_width = 0, type_width = 0, default_width = 0;
  std::vector<std::string> shown_defaults;
  for (const auto& key : keys) {
    std::string shown = value_string(defaults, key);
    if (std::holds_alternative<std::string Config::*>(key.field)) shown = "\"" + shown + "\"";
    name_width = std::max(name_width, key.name.size());
    type_width = std::max(type_width, type_name(key).size());
    default_width = std::max(default_width, shown.size());
    shown_defaults.push_back(std::move(shown));
  }
  std::string text;
  std::string_view group;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& key = keys[i];
    if (key.group != group) {
      group = key.group;
      text += fmt::format("{}{}:\n", text.empty() ? "" : "\n", group);
    }
    text += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {}\n", key.name, name_width, type_name(key), type_width,
                        shown_defaults[i], default_width, key.help);
  }
  return text;
}

void apply_override(Config& cfg, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError(fmt::format("--set expects key=value, got '{}'", assignment));
  const std::string_view name = trim(assignment.substr(0, eq));
  const std::string_view text = trim(assignment.substr(eq + 1));
  const ConfigKey* key = find_config_key(name);
  if (key == nullptr) throw ConfigError(unknown_key_message(name));
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(cfg.*member)>;
        const auto value = parse_text<T>(text);
        if (!value)
          throw ConfigError(fmt::format("bad value for {}: '{}' is not {}{}", name, text,
                                        with_article(type_name(*key)),
                                        std::is_same_v<T, bool> ? " (true or false)" : ""));
        cfg.*member = *value;
      },
      key->field);
}

void apply_config_text(Config& cfg, std::string_view text, const std::string& where) {
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(where));
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: {}", where, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  // Not a structured binding: clang before 16 cannot capture one in the lambda below.
  for (const auto& entry : table) {
    const toml::key& name = entry.first;
    const toml::node& node = entry.second;
    const auto line = name.source().begin.line;
    const ConfigKey* key = find_config_key(name.str());
    if (key == nullptr) throw ConfigError(fmt::format("{}:{}: {}", where, line, unknown_key_message(name.str())));
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(cfg.*member)>;
          bool range_error = false;
          const auto value = parse_node<T>(node, range_error);
          if (range_error) {
            std::ostringstream shown;  // an integer, or the list that holds one
            if (const auto* i = node.as_integer()) shown << i->get();
            else if (const auto* a = node.as_array()) shown << *a;
            throw ConfigError(fmt::format("{}:{}: {} = {} is out of range for {}", where, line, name.str(),
                                          shown.str(), with_article(type_name(*key))));
          }
          if (!value) {
            std::ostringstream got;
            got << node.type();
            throw ConfigError(fmt::format("{}:{}: {} expects {}, got a TOML {}", where, line, name.str(),
                                          with_article(type_name(*key)), got.str()));
          }
          cfg.*member = *value;
        },
        key->field);
  }
}

void apply_config_file(Config& cfg, const std::filesystem::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError(fmt::format("config file {}: {}", where,
                                  std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("config file {}: cannot be opened", where));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  apply_config_text(cfg, text, where);
}

Config load_config_file(const std::filesystem::path& path) {
  Config cfg;
  apply_config_file(cfg, path);
  return cfg;
}

std::filesystem::path preset_dir() {
  try {
    return share_dir() / "models" / "presets";
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  }
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  const std::filesystem::path dir = preset_dir();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Config preset(std::string_view name) {
  const auto names = preset_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw ConfigError(fmt::format("unknown preset '{}' (available: {})", name,
                                  names.empty() ? "none, " + preset_dir().string() + " is empty"
                                                : fmt::format("{}", fmt::join(names, ", "))));
  Config cfg = load_config_file(preset_dir() / (std::string(name) + ".toml"));
  cfg.preset = name;
  return cfg;
}

Config default_config() {
  Config cfg = preset(kDefaultPreset);
  cfg.preset.clear();  // the run folder is runs/run-..., as before the default model existed
  return cfg;
}

Config resolve_config(std::string_view preset_name, const std::filesystem::path& config_path,
                      std::span<const std::string> overrides) {
  Config cfg = !preset_name.empty() ? preset(preset_name) : config_path.empty() ? default_config() : Config{};
  if (!config_path.empty()) apply_config_file(cfg, config_path);
  for (const auto& assignment : overrides) apply_override(cfg, assignment);
  return cfg;
}

std::string to_toml(const Config& cfg) {
  std::string text = "# dynpmnn configuration with every key resolved: `dynpmnn train --config <this file>\n"
                     "# --out <new folder>` repeats the run.\n";
  std::string_view group;
  for (const auto& key : config_keys()) {
    if (key.group != group) {
      group = key.group;
      text += fmt::format("\n# {}\n", group);
    }
    text += std::visit([&](auto member) { return fmt::format("{} = {}\n", key.name, toml_literal(cfg.*member)); },
                       key.field);
  }
  return text;
}

nlohmann::json to_json(const Config& cfg) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& key : config_keys())
    std::visit([&](auto member) { json[std::string(key.name)] = cfg.*member; }, key.field);
  return json;
}

}  // namespace dynpmnn
