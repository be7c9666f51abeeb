// The neuron models a layer may use (LayerSpec::neuron_model, the config key neuron_model): a
// registry of each model's host-side description and its ops, filled from the model's header by
// neuron_model_ops<M>() (models/neuron_model_ops.h). The built-in models (kernels/neurons/builtin.h)
// register on first use; another registers with register_neuron_model (a test's toy model does),
// and is then usable by the layer, both backends where it brings GPU ops, and every check that goes
// over the registered models.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/neuron.h"

#if DYNPMNN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace dynpmnn {

struct NeuronModelOps {
  std::string name;
  int states = 0, params = 0, coupled = 0, current_param = 0;
  bool semi_implicit = false;
  std::vector<NeuronParamInfo> param_info;
  std::vector<NeuronStateInfo> state_info;
  // inspect's phase plane: the two states it draws (Hodgkin–Huxley: v and n).
  int plane_x = 0, plane_y = 1;

  // The CPU op (neuron.h), in both float types.
  bool (*forward_d)(const NeuronShape&, const double*, NeuronParamPtrs<double>, double*,
                    NeuronCheckpoints<double>) = nullptr;
  bool (*forward_f)(const NeuronShape&, const float*, NeuronParamPtrs<float>, float*, NeuronCheckpoints<float>) = nullptr;
  void (*backward_d)(const NeuronShape&, const double*, NeuronParamPtrs<double>, NeuronCheckpoints<const double>,
                     const double*, double*, NeuronGradPtrs<double>) = nullptr;
  void (*backward_f)(const NeuronShape&, const float*, NeuronParamPtrs<float>, NeuronCheckpoints<const float>,
                     const float*, float*, NeuronGradPtrs<float>) = nullptr;
  // One clamped step of a scheme from x (states) with parameters p (params) and input current
  // `current` (p[current_param] included), into xn: inspect's trajectories and the stability check.
  void (*step)(Integrator scheme, const double* x, const double* p, double current, double dt, double clip,
               double* xn) = nullptr;

#if DYNPMNN_HAVE_CUDA
  // The GPU op (neuron_gpu.h); null for a model whose kernels were not instantiated (a test's toy
  // model compiled as C++), which the CUDA backend then refuses by name.
  void (*forward_gpu)(const NeuronShape&, const float*, NeuronParamPtrs<float>, float*, NeuronCheckpoints<float>, int*,
                      int, cudaStream_t) = nullptr;
  std::size_t (*workspace_gpu)(const NeuronShape&) = nullptr;
  void (*backward_gpu)(const NeuronShape&, const float*, NeuronParamPtrs<float>, NeuronCheckpoints<const float>,
                       const float*, float*, NeuronGradPtrs<float>, float*, cudaStream_t) = nullptr;
#endif

  // The parameter's index by name, or -1.
  int param_index(const std::string& param) const;
  // A shape with this model's layout.
  NeuronShape shape() const;
};

// Adds a model; std::invalid_argument if its name is taken or its sizes exceed the op's limits.
void register_neuron_model(const NeuronModelOps& ops);
// std::invalid_argument naming `name` and listing the registered models.
const NeuronModelOps& find_neuron_model(const std::string& name);
std::vector<std::string> neuron_model_names();

struct RegisterNeuronModel {
  explicit RegisterNeuronModel(const NeuronModelOps& ops) { register_neuron_model(ops); }
};

}  // namespace dynpmnn
