// The fused form of a model (kernels/fused_epoch.h): whether a model is one the fused population
// trains (one FitzHugh–Nagumo layer under a fixed-step scheme, small enough for a block's shared
// memory), and its layout, from the spec and the parameter table the other backends use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/fused_epoch.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// The most bytes of shared memory a fused block may ask for (sm_90 gives up to 227 KB a block;
// this leaves room for two blocks an SM).
inline constexpr std::size_t kFusedMaxSharedBytes = 96 * 1024;

// The layout of spec's model for minibatches of `batch` rows over `rows` training rows, and its
// per-element facts (info: table.total() entries). False with the reason in *why when the model is
// not one the fused kernels train. float32's shared memory is what the size check counts.
bool fused_layout_for(const ModelSpec& spec, const ParamTable& table, int batch, int rows, FusedLayout& layout,
                      std::vector<FusedParamInfo>& info, std::string* why);

// Whether two layouts are one population's: equal but for the checkpoint count (the models' steps).
bool fused_same_layout(const FusedLayout& a, const FusedLayout& b);

// A model's own settings: its neuron layer's step, its Adam and its shuffling seed.
FusedHyper fused_hyper_for(const ModelSpec& spec, const AdamHyper& adam, std::uint64_t seed);

}  // namespace dynpmnn
