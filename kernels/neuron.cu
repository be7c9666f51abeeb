// The neuron op's CUDA launchers for the built-in neuron models but FitzHugh–Nagumo's (fhn.cu).
#include "kernels/neuron_gpu.cuh"
#include "kernels/neurons/builtin.h"

namespace dynpmnn {


DYNPMNN_FOR_EACH_OTHER_BUILTIN_NEURON_MODEL(DYNPMNN_INSTANTIATE_NEURON_GPU)

}  // namespace dynpmnn
