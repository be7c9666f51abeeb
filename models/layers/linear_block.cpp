#include "models/layers/linear_block.h"

namespace dynpmnn {

void add_linear_block_params(const LayerSpec& L, int index, int in_width, int D, ParamTable& table) {
  const std::string p = "layer" + std::to_string(index) + ".";
  table.add(p + "linear.weight", ParamKind::kWeight, index, {D, in_width}, true, ParamInit::uniform_fan_in(in_width));
  table.add(p + "linear.bias", ParamKind::kBias, index, {D}, true, ParamInit::uniform_fan_in(in_width));
  if (!L.layernorm) return;
  table.add(p + "norm.weight", ParamKind::kLnGamma, index, {D}, true, ParamInit::constant(1.0));
  table.add(p + "norm.bias", ParamKind::kLnBeta, index, {D}, true, ParamInit::constant(0.0));
}

}  // namespace dynpmnn
