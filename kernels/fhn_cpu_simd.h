// FitzHugh–Nagumo's layer op on the CPU, vectorised across samples or neurons: the CPU backend's training
// path (models/layers/fhn_layer.cpp), for the schemes the defaults and the benchmarks use
// (explicit Euler and imex, with or without the clamp). The lanes hold samples or, where there are
// enough neurons, neurons (fhn_simd_neuron_lanes); each lane runs neuron_math.h's and fhn.h's
// arithmetic for one sample in the scalar op's order, and the batch sums of the parameter gradients
// add the samples in order. On the baseline path (SSE2, no FMA) that is the scalar reference op's
// very bits (neuron_forward_cpu / neuron_backward_cpu of kernels/neuron.h, which stays the reference
// and every other model's and scheme's path); the AVX2 and AVX-512 paths contract to FMA and differ
// from it in last bits. On every path a sample's bits do not depend on its position in a minibatch,
// the batch size or the lane layout, and a run repeats exactly on a given machine.
//
// Where the scalar op stores √steps checkpoints and its backward replays the forward from them,
// this one keeps the whole trajectory (every step's state) for its backward, which then replays
// nothing: fhn_simd_trajectory_doubles says how much that is, and the caller decides whether it
// fits (else it runs the scalar op).
#pragma once

#include <cstddef>

#include "kernels/cpu_isa.h"
#include "kernels/neuron.h"

namespace dynpmnn {

// Whether the vector op takes shape s: FitzHugh–Nagumo's layout (the caller knows the model) and
// scheme euler or imex. Populations (s.models > 1, per-model steps) included.
bool fhn_simd_takes(const NeuronShape& s);

// Doubles of the trajectory that fhn_forward_simd keeps for fhn_backward_simd with isa:
// (models, jobs, max steps, 2 states, lanes), jobs as fhn_simd_jobs (fhn_cpu_simd_isa.h) lays them.
std::size_t fhn_simd_trajectory_doubles(const NeuronShape& s, CpuIsa isa);

// As neuron_forward_cpu<FitzHughNagumo, double>; trajectory: fhn_simd_trajectory_doubles(s, isa)
// doubles to keep for the backward, or null for inference. std::invalid_argument for a shape that
// fhn_simd_takes refuses or an isa this CPU lacks.
bool fhn_forward_simd(CpuIsa isa, const NeuronShape& s, const double* in, NeuronParamPtrs<double> p, double* out,
                      double* trajectory);

// As neuron_backward_cpu<FitzHughNagumo, double>, from the trajectory of the forward with the same
// isa, shape, input and parameters, or, where trajectory is null, from the input alone (each
// group of jobs runs its forward again into a scratch that stays in the cache).
void fhn_backward_simd(CpuIsa isa, const NeuronShape& s, const double* in, NeuronParamPtrs<double> p,
                       const double* trajectory, const double* d_out, double* d_in, NeuronGradPtrs<double> d_params);

}  // namespace dynpmnn
