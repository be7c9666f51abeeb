// libFuzzer target: configuration TOML text, then validation, then the round trip every run
// folder relies on (to_toml of an accepted config reads back as the same config). Anything but a
// ConfigError is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "host/config/config.h"
#include "host/config/config_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  dynpmnn::Config cfg;
  try {
    dynpmnn::apply_config_text(cfg, text, "fuzz.toml");
    cfg.validate();
  } catch (const dynpmnn::ConfigError&) {
    return 0;
  }
  dynpmnn::Config back;
  dynpmnn::apply_config_text(back, dynpmnn::to_toml(cfg), "round trip");  // must not throw
  if (dynpmnn::to_json(back) != dynpmnn::to_json(cfg)) std::abort();
  return 0;
}
