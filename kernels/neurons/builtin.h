// The built-in neuron models: every header of kernels/neurons/, and the list that instantiates the
// CPU and CUDA ops and registers each model (models/neuron_models.cpp). A new built-in model adds
// its header and one entry here.
#pragma once

#include "kernels/neurons/fhn.h"

#define DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(X) \
  X(::dynpmnn::FitzHughNagumo)                   
