#include "models/fused_model.h"

#include <string>

#include "kernels/neurons/fhn.h"
#include "models/layers/fhn_layer.h"

namespace dynpmnn {

namespace {

bool refuse(std::string* why, const std::string& reason) {
  if (why) *why = reason;
  return false;
}

}  // namespace

bool fused_layout_for(const ModelSpec& spec, const ParamTable& table, int batch, int rows, FusedLayout& L,
                      std::vector<FusedParamInfo>& info, std::string* why) {
  if (spec.layers.size() != 1 || !is_fhn_layer(spec.layers[0]))
    return refuse(why, "the fused population trains models of one neuron layer");
  const LayerSpec& S = spec.layers[0];
  if (S.neuron_model != "fhn") return refuse(why, "the fused population trains FitzHugh-Nagumo neurons");
  L = FusedLayout{};
  L.F = spec.inputs;
  L.D = fhn_linear_width(S);
  L.N = S.units;
  L.W = spec.layer_output_width(0);
  L.O = spec.outputs;
  L.total = static_cast<int>(table.total());
  L.batch = batch;
  L.rows = rows;
  L.checkpoints = fhn_num_checkpoints(S.steps());
  L.layernorm = S.layernorm;
  L.voltage_readout = S.voltage_readout;
  L.coupling = S.coupling;
  L.activation = S.activation;
  for (int i = 0; i < FitzHughNagumo::kStates; ++i) L.rest[i] = FitzHughNagumo::kStateInfo[i].initial;
  if (L.F > kFusedMaxInputs || L.D > kFusedMaxWidth || L.W > kFusedMaxWidth || L.O > kFusedMaxOutputs)
    return refuse(why, "the model is wider than the fused kernels' bounds (inputs <= " +
                           std::to_string(kFusedMaxInputs) + ", Linear and layer widths <= " +
                           std::to_string(kFusedMaxWidth) + ", outputs <= " + std::to_string(kFusedMaxOutputs) + ")");
  if (batch < 1 || batch > kFusedMaxBatch)
    return refuse(why, "batch_size " + std::to_string(batch) + " is outside the fused kernels' 1.." +
                           std::to_string(kFusedMaxBatch));
  if (fused_shared_bytes<float>(batch, L.total) > kFusedMaxSharedBytes)
    return refuse(why, "batch_size x parameters (" + std::to_string(batch) + " x " + std::to_string(L.total) +
                           ") does not fit a block's shared memory");
  const auto offset = [&](int layer, ParamKind kind) { return static_cast<int>(table.at(layer, kind).offset); };
  L.w_in = offset(0, ParamKind::kWeight);
  L.b_in = offset(0, ParamKind::kBias);
  if (S.layernorm) {
    L.gamma = offset(0, ParamKind::kLnGamma);
    L.beta = offset(0, ParamKind::kLnBeta);
  }
  static constexpr ParamKind kFhn[4] = {ParamKind::kFhnA, ParamKind::kFhnB, ParamKind::kFhnG, ParamKind::kFhnI};
  for (int k = 0; k < 4; ++k) L.neuron[k] = offset(0, kFhn[k]);
  L.w_out = offset(-1, ParamKind::kWeight);
  L.b_out = offset(-1, ParamKind::kBias);
  // Every tensor is one the fused row writes a gradient for.
  std::size_t covered = static_cast<std::size_t>(L.D) * (L.F + 1) + 4 * static_cast<std::size_t>(L.N) +
                        static_cast<std::size_t>(L.O) * (L.W + 1) + (S.layernorm ? 2 * std::size_t(L.D) : 0);
  if (covered != table.total()) return refuse(why, "the parameter table has tensors the fused kernels do not train");
  info.assign(table.total(), FusedParamInfo{});
  for (const ParamTensor& t : table.tensors())
    for (std::size_t i = 0; i < t.size; ++i)
      info[t.offset + i] = FusedParamInfo{static_cast<std::uint8_t>(t.trainable), static_cast<std::uint8_t>(t.map)};
  return true;
}

bool fused_same_layout(const FusedLayout& a, const FusedLayout& b) {
  bool same = a.F == b.F && a.D == b.D && a.N == b.N && a.W == b.W && a.O == b.O && a.total == b.total &&
              a.batch == b.batch && a.rows == b.rows && a.layernorm == b.layernorm &&
              a.voltage_readout == b.voltage_readout && a.coupling == b.coupling && a.activation == b.activation &&
              a.w_in == b.w_in && a.b_in == b.b_in && a.gamma == b.gamma && a.beta == b.beta && a.w_out == b.w_out &&
              a.b_out == b.b_out;
  for (int k = 0; k < kMaxNeuronParams; ++k) same = same && a.neuron[k] == b.neuron[k];
  for (int i = 0; i < kMaxNeuronStates; ++i) same = same && a.rest[i] == b.rest[i];
  return same;
}

FusedHyper fused_hyper_for(const ModelSpec& spec, const AdamHyper& adam, std::uint64_t seed) {
  const LayerSpec& S = spec.layers.at(0);
  FusedHyper h;
  h.dt = S.dt;
  h.clip = S.clip;
  h.steps = S.steps();
  h.seed = seed;
  h.lr = adam.lr;
  h.beta1 = adam.beta1;
  h.beta2 = adam.beta2;
  h.eps = adam.eps;
  h.weight_decay = adam.weight_decay;
  return h;
}

}  // namespace dynpmnn
