#include "models/layer_unit.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace dynpmnn {

// models/layers/builtin.cpp: calls add once per built-in unit.
void register_builtin_layer_units(void (*add)(const LayerUnit&));

namespace {

std::map<std::string, const LayerUnit*, std::less<>>& units() {
  static std::map<std::string, const LayerUnit*, std::less<>> registry;
  return registry;
}

void add(const LayerUnit& unit) {
  if (!units().emplace(std::string(unit.kind()), &unit).second)
    throw std::logic_error("layer registry: a unit of kind '" + std::string(unit.kind()) + "' is already registered");
}

// The built-in units come first, before any look-up or other registration, whatever the order of
// static initialisation between files.
std::map<std::string, const LayerUnit*, std::less<>>& registry() {
  static const bool builtins = (register_builtin_layer_units(add), true);
  (void)builtins;
  return units();
}

}  // namespace

void register_layer_unit(const LayerUnit& unit) {
  (void)registry();
  add(unit);
}

const LayerUnit& layer_unit(std::string_view kind) {
  const auto& r = registry();
  const auto it = r.find(kind);
  if (it != r.end()) return *it->second;
  std::string known;
  for (const auto& [name, unit] : r) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown layer kind '" + std::string(kind) + "' (registered: " + known + ")");
}

std::vector<std::string> layer_kinds() {
  std::vector<std::string> out;
  for (const auto& [name, unit] : registry()) out.push_back(name);
  return out;
}

std::unique_ptr<GpuLayer> LayerUnit::make_gpu(const LayerContext& at, const GpuLayerResources&) const {
  throw std::logic_error("layer " + std::to_string(at.layer) + ": the " + std::string(kind()) +
                         " unit has no CUDA half in this build");
}

}  // namespace dynpmnn
