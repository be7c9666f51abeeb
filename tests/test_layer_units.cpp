// Every registered layer unit (the built-in ones and the test-only toy of toy_layer.h), through the
// unit interface alone: whole-model finite-difference gradients for every parameter tensor, every
// integrator and coupling, one and two layers deep; and the registry's own behaviour. A unit that
// is registered gets these checks without new test code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "models/cpu_model.h"
#include "models/layer_unit.h"
#include "tests/layer_unit_cases.h"
#include "tests/synthetic_data.h"
#include "tests/toy_layer.h"

namespace dynpmnn {
namespace {

const RegisterLayerUnit kToyRegistered{test::toy_unit()};

// A linear functional of the predictions, so its gradient is exactly the coefficients.
double loss_of(CpuModel<double>& m, const ModelSpec& spec, const std::vector<double>& x,
               const std::vector<double>& coeff, const std::vector<double>& params, int B) {
  std::vector<double> pred(static_cast<std::size_t>(B) * spec.outputs);
  EXPECT_EQ(m.forward(params.data(), x.data(), B, pred.data()), kAllFinite);
  double s = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) s += coeff[i] * pred[i];
  return s;
}

class LayerUnitGradients : public ::testing::TestWithParam<test::UnitCase> {};

// Central differences with a step of 1e-5 relative: truncation ~1e-10, rounding ~1e-11 of an O(1)
// loss, so 1e-6 per tensor (‖fd − an‖ ≤ 1e-6 ‖an‖ + 1e-9) has margin and still catches a wrong
// term. Up to 16 entries per tensor, spread over it.
TEST_P(LayerUnitGradients, MatchFiniteDifferences) {
  const ModelSpec spec = test::unit_case_spec(GetParam());
  const ParamTable table(spec);
  const int B = 3;
  const std::vector<double> x = test::unit_case_inputs(B, spec.inputs, 1);
  const std::vector<double> coeff = test::unit_case_inputs(B, spec.outputs, 2);
  std::vector<double> params = test::unit_case_params(spec, table, 3);
  CpuModel<double> model(spec, table);
  std::vector<double> pred(static_cast<std::size_t>(B) * spec.outputs), grad(table.total(), NAN);
  ASSERT_EQ(model.forward(params.data(), x.data(), B, pred.data()), kAllFinite);
  model.backward(params.data(), x.data(), coeff.data(), grad.data());
  for (double g : grad) ASSERT_TRUE(std::isfinite(g));

  for (const ParamTensor& t : table.tensors()) {
    const std::size_t stride = std::max<std::size_t>(1, t.size / 16);
    double err2 = 0, ref2 = 0;
    int checked = 0;
    for (std::size_t i = t.offset; i < t.offset + t.size; i += stride, ++checked) {
      if (!t.trainable) {
        EXPECT_EQ(grad[i], 0.0) << t.name << " is frozen";
        continue;
      }
      const double h = 1e-5 * std::max(1.0, std::abs(params[i]));
      const double keep = params[i];
      params[i] = keep + h;
      const double up = loss_of(model, spec, x, coeff, params, B);
      params[i] = keep - h;
      const double down = loss_of(model, spec, x, coeff, params, B);
      params[i] = keep;
      const double fd = (up - down) / (2 * h);
      err2 += (fd - grad[i]) * (fd - grad[i]);
      ref2 += grad[i] * grad[i];
    }
    EXPECT_GT(checked, 0) << t.name;
    EXPECT_LE(std::sqrt(err2), 1e-6 * std::sqrt(ref2) + 1e-9)
        << t.name << ": ‖fd − analytic‖ = " << std::sqrt(err2) << ", ‖analytic‖ = " << std::sqrt(ref2);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryKind, LayerUnitGradients, ::testing::ValuesIn(test::all_unit_cases()),
                         [](const auto& info) { return info.param.name(); });

TEST(LayerRegistry, ListsTheBuiltInKindsAndTheTestsToy) {
  const std::vector<std::string> kinds = layer_kinds();
  for (const char* k : {"cfc", "dense", "fhn", "ode", test::kToyLayer})
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), k), kinds.end()) << k;
}

TEST(LayerRegistry, UnknownKindIsRefusedByName) {
  ModelSpec spec;
  spec.layers.resize(1);
  spec.layers[0].kind = "lstm";
  try {
    spec.validate();
    FAIL() << "an unknown kind validated";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("layer 0: unknown layer kind 'lstm'"), std::string::npos) << what;
    EXPECT_NE(what.find("fhn"), std::string::npos) << what;  // the registered kinds are listed
  }
}

TEST(LayerRegistry, SecondUnitOfAKindIsRefused) {
  EXPECT_THROW(register_layer_unit(test::toy_unit()), std::logic_error);
}

// The toy trains through the CPU backend, the trainer's own code path, with no edit outside its
// file: its tensors are in the table, initialised by their rule, and two epochs lower the loss.
TEST(ToyLayer, TrainsThroughTheCpuBackend) {
  ModelSpec spec;
  spec.inputs = 8;
  spec.outputs = 1;
  spec.layers.resize(1);
  spec.layers[0].kind = test::kToyLayer;
  spec.layers[0].units = 5;
  const ParamTable table(spec);
  const ParamTensor* gain = nullptr;
  for (const auto& t : table.tensors())
    if (t.name == "layer0.toy.gain") gain = &t;
  ASSERT_NE(gain, nullptr);
  std::vector<double> p0(table.total());
  init_params(spec, table, 7, p0);
  for (std::size_t i = gain->offset; i < gain->offset + gain->size; ++i) EXPECT_EQ(p0[i], 0.5);

  TrainHyper hyper;
  hyper.batch_size = 16;
  hyper.adam.lr = 1e-2;
  auto backend = make_cpu_backend(spec, hyper);
  backend->set_data(testing::synthetic_data(256, 11));
  backend->set_params(p0);
  const EpochStats first = backend->train_epoch(0);
  EpochStats last = first;
  for (int e = 1; e < 5; ++e) last = backend->train_epoch(e);
  ASSERT_FALSE(first.divergence.diverged);
  ASSERT_FALSE(last.divergence.diverged);
  EXPECT_TRUE(std::isfinite(last.train_loss));
  EXPECT_LT(last.train_loss, first.train_loss);
}

}  // namespace
}  // namespace dynpmnn
