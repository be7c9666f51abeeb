// The built-in neuron models: every header of kernels/neurons/, and the list that instantiates the
// CPU and CUDA ops and registers each model (models/neuron_models.cpp). A new built-in model adds
// its header and one entry here.
#pragma once

#include "kernels/neurons/fhn.h"
#include "kernels/neurons/hodgkin_huxley.h"
#include "kernels/neurons/morris_lecar.h"
#include "kernels/neurons/wilson_cowan.h"

#define DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(X) \
  X(::dynpmnn::FitzHughNagumo)                    \
  X(::dynpmnn::MorrisLecar)                       \
  X(::dynpmnn::HodgkinHuxley)                     \
  X(::dynpmnn::WilsonCowan)
