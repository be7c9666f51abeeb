// The CPU op's instantiations for the built-in neuron models but FitzHugh–Nagumo (fhn.cpp has its
// own, so that python/'s stand-alone library of the FHN op builds without the others).
#include "kernels/neuron_cpu.h"

#include "kernels/neurons/builtin.h"

namespace dynpmnn {

DYNPMNN_FOR_EACH_OTHER_BUILTIN_NEURON_MODEL(DYNPMNN_INSTANTIATE_NEURON_CPU_BOTH)

}  // namespace dynpmnn
