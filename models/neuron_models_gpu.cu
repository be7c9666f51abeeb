// The built-in neuron models' GPU ops for the registry (models/neuron_models.cpp): the launchers of
// kernels/neuron_gpu.h, instantiated in kernels/fhn.cu and kernels/neuron.cu.
#include <string>

#include "kernels/neuron_gpu.h"
#include "kernels/neurons/builtin.h"
#include "models/neuron_models.h"

namespace dynpmnn {

template <class M>
void attach_neuron_gpu_ops(NeuronModelOps& ops) {
  ops.forward_gpu = &neuron_forward_gpu<M>;
  ops.workspace_gpu = &neuron_backward_workspace_floats<M>;
  ops.backward_gpu = &neuron_backward_gpu<M>;
}

void attach_builtin_neuron_gpu_ops(NeuronModelOps& ops) {
#define DYNPMNN_ATTACH_BUILTIN(M) \
  if (ops.name == M::kName) attach_neuron_gpu_ops<M>(ops);
  DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(DYNPMNN_ATTACH_BUILTIN)
#undef DYNPMNN_ATTACH_BUILTIN
}

}  // namespace dynpmnn
