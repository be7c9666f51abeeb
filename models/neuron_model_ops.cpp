// The built-in neuron models' registry entries (models/neuron_models.cpp registers them on first
// use), from kernels/neurons/builtin.h's list.
#include "models/neuron_model_ops.h"

#include <vector>

#include "kernels/neurons/builtin.h"

namespace dynpmnn {

DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(DYNPMNN_EXTERN_NEURON_CPU_BOTH)

std::vector<NeuronModelOps> builtin_neuron_models() {
  std::vector<NeuronModelOps> models;
#define DYNPMNN_BUILTIN_ENTRY(M) models.push_back(neuron_model_ops<M>());
  DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(DYNPMNN_BUILTIN_ENTRY)
#undef DYNPMNN_BUILTIN_ENTRY
  return models;
}

}  // namespace dynpmnn
