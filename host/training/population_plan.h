// How a sweep or table groups its points into populations (host/runtime/population.h,
// docs/populations.md): which points may train together, the grouping rule for their step counts,
// and how many fit in memory at once.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "data/california.h"
#include "host/config/config.h"

namespace dynpmnn {

// What two points must share to train in one population: every key but those a population's
// models may hold each their own (dt, t_end, the clamp's value, the neuron parameters' starting
// values, lr, weight_decay, epochs, patience, min_delta, seed, and where the files go: out,
// checkpoint_every), as one string. Whether a model clamps at all is shared: the kernels choose
// their stepper by it.
std::string population_key(const Config& cfg);
// The grouping rule for step counts: a neuron network's steps t_end / dt in (2^(k-1), 2^k] give
// class k (1 step: 0), so that the models of a population take at most twice the steps of its
// shortest (the paper's grid spans 1 to 10000); models without time steps are class 0.
int step_class(const Config& cfg);
// The most models of cfg's kind one population holds: half the memory available now over what one
// member needs (its copies of the data, parameters, Adam moments and a minibatch's activations),
// at most kMaxPopulation.
inline constexpr int kMaxPopulation = 256;
int population_capacity(const Config& cfg, const SplitData& data);
// The runs of `cfgs` (indices) grouped by population_key and step_class, in order of first
// appearance, each group cut into populations of at most `capacity`.
std::vector<std::vector<std::size_t>> plan_populations(const std::vector<Config>& cfgs, int capacity);

}  // namespace dynpmnn
