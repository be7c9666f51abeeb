// The neuron op's CUDA launchers for the built-in neuron models but FitzHugh–Nagumo's (fhn.cu).
#include "kernels/neuron_gpu.cuh"
#include "kernels/neurons/builtin.h"

namespace dynpmnn {


DYNPMNN_INSTANTIATE_NEURON_GPU(MorrisLecar)
DYNPMNN_INSTANTIATE_NEURON_GPU(HodgkinHuxley)
DYNPMNN_INSTANTIATE_NEURON_GPU(WilsonCowan)

}  // namespace dynpmnn
