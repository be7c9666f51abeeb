// A layer kind is one unit: its checks, its parameter-table entries, its buffer sizes (the one
// source of the memory estimate), and its CPU and CUDA halves. CpuModel and GpuModel hold a list
// of the halves, one per layer, and call each once per layer and pass (no virtual call inside any
// loop over samples or steps). The set of kinds is open: a unit registered under a new name
// (register_layer_unit) is usable in a ModelSpec at once, by the parameter table, both models and
// both backends, and by every test that goes over the registered kinds.
//
// A unit's CUDA half lives in its own .cu file (models/gpu_layer.h has its interface); in a build
// without CUDA the unit has none and make_gpu says so.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/dynpmnn.h"

namespace dynpmnn {

class GpuLayer;           // models/gpu_layer.h (CUDA builds)
struct GpuLayerResources; // models/gpu_layer.h

// Where a layer sits: the model, its table, its index. Built from a validated spec.
struct LayerContext {
  const ModelSpec& spec;
  const ParamTable& table;
  int layer;

  const LayerSpec& layer_spec() const { return spec.layers[layer]; }
  int in_width() const { return spec.layer_input_width(layer); }
  int out_width() const { return spec.layer_output_width(layer); }
  const ParamTensor& param(ParamKind kind) const { return table.at(layer, kind); }
  std::size_t offset(ParamKind kind) const { return table.at(layer, kind).offset; }
};

// One layer of a CpuModel<T>: owns what its backward needs (sized by resize), reads its parameters
// and writes its gradients at its table offsets in the flat arrays.
template <typename T>
class CpuLayer {
 public:
  virtual ~CpuLayer() = default;
  virtual void resize(int B) = 0;
  // x (B, in) → y (B, out). Returns false when an output is NaN or ±Inf.
  virtual bool forward(const T* params, const T* x, int B, T* y) = 0;
  // After forward on the same x and params: dy (B, out) → dx (B, in) (null: not needed), the
  // layer's gradients written into grad (the flat array, already zero at its entries).
  virtual void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) = 0;
};

class LayerUnit {
 public:
  virtual ~LayerUnit() = default;
  virtual std::string_view kind() const = 0;
  // The unit's own checks of the layer's fields (units > 0 is checked before); throws
  // std::invalid_argument, its message prefixed with `where` ("layer 2: ").
  virtual void validate(const LayerSpec& layer, const std::string& where) const = 0;
  virtual int output_width(const LayerSpec& layer) const = 0;
  // Appends the layer's tensors to the table, in the order checkpoints store them.
  virtual void add_params(const LayerSpec& layer, int index, int in_width, ParamTable& table) const = 0;
  // Doubles per sample that the CPU model keeps for one training step of this layer (its output
  // and output gradient included): the memory estimate of Config::validate.
  virtual double training_doubles_per_sample(const LayerSpec& layer, int in_width) const = 0;

  virtual std::unique_ptr<CpuLayer<double>> make_cpu(const LayerContext& at, double) const = 0;
  virtual std::unique_ptr<CpuLayer<float>> make_cpu(const LayerContext& at, float) const = 0;
  // The CUDA half; throws std::logic_error where the build or the unit has none.
  virtual std::unique_ptr<GpuLayer> make_gpu(const LayerContext& at, const GpuLayerResources& res) const;
  // Whether make_gpu takes a population (GpuLayerResources::models > 1): P models' layers in the
  // same launches, GEMMs batched over the models (issue 11). A unit without it trains in
  // populations of separate backends.
  virtual bool gpu_population() const { return false; }
};

// Implements both make_cpu overloads from one class template Half<T> : CpuLayer<T> whose
// constructor takes the LayerContext.
template <template <typename> class Half>
class CpuHalves : public LayerUnit {
 public:
  std::unique_ptr<CpuLayer<double>> make_cpu(const LayerContext& at, double) const override {
    return std::make_unique<Half<double>>(at);
  }
  std::unique_ptr<CpuLayer<float>> make_cpu(const LayerContext& at, float) const override {
    return std::make_unique<Half<float>>(at);
  }
};

// The registry. The built-in units register on first use (models/layers/builtin.cpp); another
// registers itself with register_layer_unit (a static object in its file does it before main).
// A second unit of the same kind name is refused (std::logic_error).
void register_layer_unit(const LayerUnit& unit);
// Throws std::invalid_argument naming the kind and listing the registered ones.
const LayerUnit& layer_unit(std::string_view kind);
std::vector<std::string> layer_kinds();  // sorted

// For a static object in a unit's own file: `const RegisterLayerUnit kRegistered{unit};`.
struct RegisterLayerUnit {
  explicit RegisterLayerUnit(const LayerUnit& unit) { register_layer_unit(unit); }
};

}  // namespace dynpmnn
