// Registers the test-only toy neuron model (toy_neuron_model.h) in the GPU test binary, with its
// CUDA kernels instantiated here from kernels/neuron_gpu.cuh.
#include "kernels/neuron_gpu.cuh"
#include "models/neuron_model_ops.h"
#include "toy_neuron_model.h"

namespace dynpmnn {

DYNPMNN_INSTANTIATE_NEURON_GPU(testing::ToyResonator)

namespace {

NeuronModelOps toy_with_kernels() {
  NeuronModelOps ops = neuron_model_ops<testing::ToyResonator>();
  ops.forward_gpu = &neuron_forward_gpu<testing::ToyResonator>;
  ops.workspace_gpu = &neuron_backward_workspace_floats<testing::ToyResonator>;
  ops.backward_gpu = &neuron_backward_gpu<testing::ToyResonator>;
  return ops;
}

const RegisterNeuronModel kToy{toy_with_kernels()};

}  // namespace
}  // namespace dynpmnn
