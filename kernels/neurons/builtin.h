// The built-in neuron models: every header of kernels/neurons/, and the lists that instantiate the
// CPU and CUDA ops and register each model (models/neuron_models.cpp). A new built-in model adds
// its header and one entry here (docs/neuron-models.md has a worked example).
#pragma once

#include "kernels/neurons/fhn.h"
#include "kernels/neurons/hodgkin_huxley.h"
#include "kernels/neurons/morris_lecar.h"
#include "kernels/neurons/wilson_cowan.h"

// Every built-in model but FitzHugh–Nagumo, whose ops kernels/fhn.cpp and fhn.cu instantiate (so
// that python/'s library of the FHN op builds without the others): kernels/neuron.cpp and neuron.cu
// instantiate these.
#define DYNPMNN_FOR_EACH_OTHER_BUILTIN_NEURON_MODEL(X) \
  X(::dynpmnn::MorrisLecar)                             \
  X(::dynpmnn::HodgkinHuxley)                           \
  X(::dynpmnn::WilsonCowan)

#define DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(X) \
  X(::dynpmnn::FitzHughNagumo)                    \
  DYNPMNN_FOR_EACH_OTHER_BUILTIN_NEURON_MODEL(X)
