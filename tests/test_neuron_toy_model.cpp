// Registers the test-only toy neuron model (toy_neuron_model.h) in the CPU test binary, CPU ops only.
#include "models/neuron_model_ops.h"
#include "toy_neuron_model.h"

namespace dynpmnn {
namespace {

const RegisterNeuronModel kToy{neuron_model_ops<testing::ToyResonator>()};

}  // namespace
}  // namespace dynpmnn
