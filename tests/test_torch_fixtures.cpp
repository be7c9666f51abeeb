// The CPU reference against PyTorch autograd: each fixture (written by
// scripts/make_torch_fixtures.py from an independent float64 torch model, committed because CI has
// no torch) holds a spec, the flat parameters in ParamTable order, inputs, targets, and torch's
// predictions, MSE loss and gradient. Our forward, loss and backward must reproduce them to 1e-9
// relative per tensor: both sides compute the same float64 function, so only rounding differs.
// This also pins the flat layout (names, shapes, order) that checkpoints and optimizers rely on.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kRelTol = 1e-9;

// Every fixture the script writes; a missing one fails rather than shrinking the test.
const std::vector<std::string> kFixtures = {
    "paper_dt20_clip20", "paper_dt0.5", "current_tanh_2x3_trainfhn", "identity_n4_clip1.5", "steps100_two_layers",
    "imex_dt20_current_trainfhn", "heun_n3_clip0.6", "rk4_two_layers",
};

fs::path fixture_dir() { return fs::path(DYNPMNN_FIXTURE_DIR); }

json load(const std::string& name) {
  const fs::path path = fixture_dir() / ("torch_" + name + ".json");
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path.string() + " (run scripts/make_torch_fixtures.py)");
  return json::parse(f);
}

ModelSpec spec_from(const json& j) {
  ModelSpec s;
  s.inputs = j.at("inputs").get<int>();
  s.outputs = j.at("outputs").get<int>();
  for (const auto& L : j.at("layers")) {
    LayerSpec l;
    l.units = L.at("neurons").get<int>();
    l.coupling = coupling_from_string(L.at("coupling").get<std::string>());
    l.integrator = integrator_from_string(L.at("integrator").get<std::string>());
    l.layernorm = L.at("layernorm").get<bool>();
    l.activation = activation_from_string(L.at("activation").get<std::string>());
    l.dt = L.at("dt").get<double>();
    l.t_end = L.at("t_end").get<double>();
    l.clip = L.at("clip").get<double>();
    l.a = L.at("a").get<double>();
    l.b = L.at("b").get<double>();
    l.g = L.at("g").get<double>();
    l.I = L.at("I").get<double>();
    l.train_a = L.at("train_a").get<bool>();
    l.train_b = L.at("train_b").get<bool>();
    l.train_g = L.at("train_g").get<bool>();
    l.train_I = L.at("train_I").get<bool>();
    // The fixtures were made in the raw space: LayerSpec defaults to physical, as the config does.
    l.param_space = FhnParamSpace::kRaw;
    s.layers.push_back(l);
  }
  return s;
}

double norm2(const double* a, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * a[i];
  return std::sqrt(s);
}

// ‖ours − ref‖ / ‖ref‖ (0 when both are exactly zero; infinite when only ours is not).
double rel_error(const double* ours, const double* ref, std::size_t n) {
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = ours[i] - ref[i];
  const double num = norm2(d.data(), n), den = norm2(ref, n);
  if (num == 0) return 0;
  return den == 0 ? INFINITY : num / den;
}

// Checks one tensor, printing the first mismatches with their indices on failure. Returns the error.
double expect_close(const std::string& what, const double* ours, const double* ref, std::size_t n) {
  const double err = rel_error(ours, ref, n);
  EXPECT_LT(err, kRelTol) << what << ": relative error " << err;
  if (!(err < kRelTol)) {
    const double scale = std::max(norm2(ref, n), 1e-300);
    int shown = 0;
    for (std::size_t i = 0; i < n && shown < 5; ++i) {
      if (std::abs(ours[i] - ref[i]) > kRelTol * scale || !std::isfinite(ours[i])) {
        ADD_FAILURE() << what << "[" << i << "]: ours " << ours[i] << " vs torch " << ref[i];
        ++shown;
      }
    }
  }
  return err;
}

class TorchFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchFixture, ForwardLossAndGradientMatchAutograd) {
  const json fx = load(GetParam());
  const ModelSpec spec = spec_from(fx.at("spec"));
  const ParamTable table(spec);

  // The flat layout: same tensors, in the same order, with the same shapes and trainable flags.
  const auto& tensors = fx.at("param_tensors");
  ASSERT_EQ(tensors.size(), table.tensors().size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = table.tensors()[i];
    EXPECT_EQ(tensors[i].at("name").get<std::string>(), t.name) << "tensor " << i;
    EXPECT_EQ(tensors[i].at("shape").get<std::vector<int>>(), t.shape) << t.name;
    EXPECT_EQ(tensors[i].at("trainable").get<bool>(), t.trainable) << t.name;
  }
  for (std::size_t l = 0; l < spec.layers.size(); ++l)
    EXPECT_EQ(spec.layers[l].steps(), fx.at("spec").at("layers")[l].at("steps").get<int>()) << "layer " << l;

  const auto params = fx.at("params").get<std::vector<double>>();
  const auto x = fx.at("x").get<std::vector<double>>();
  const auto targets = fx.at("targets").get<std::vector<double>>();
  const auto ref_pred = fx.at("predictions").get<std::vector<double>>();
  const auto ref_grad = fx.at("grad").get<std::vector<double>>();
  const double ref_loss = fx.at("loss").get<double>();
  const int B = fx.at("batch").get<int>();
  ASSERT_EQ(params.size(), table.total());
  ASSERT_EQ(ref_grad.size(), table.total());
  ASSERT_EQ(x.size(), static_cast<std::size_t>(B) * spec.inputs);
  ASSERT_EQ(ref_pred.size(), static_cast<std::size_t>(B) * spec.outputs);
  ASSERT_EQ(targets.size(), ref_pred.size());

  CpuModel<double> model(spec, table);
  std::vector<double> pred(ref_pred.size(), std::nan("")), dpred(pred.size(), std::nan(""));
  ASSERT_EQ(model.forward(params.data(), x.data(), B, pred.data()), kAllFinite);
  const double loss = mse_loss_cpu(pred.data(), targets.data(), pred.size(), dpred.data());
  std::vector<double> grad(table.total(), std::nan(""));
  model.backward(params.data(), x.data(), dpred.data(), grad.data());

  double worst_pred = expect_close("predictions", pred.data(), ref_pred.data(), pred.size());
  const double loss_err = std::abs(loss - ref_loss) / std::abs(ref_loss);
  EXPECT_LT(loss_err, kRelTol) << "loss " << loss << " vs torch " << ref_loss;
  double worst_grad = 0;
  std::string worst_name;
  for (const auto& t : table.tensors()) {
    const double e = expect_close(t.name, grad.data() + t.offset, ref_grad.data() + t.offset, t.size);
    if (e > worst_grad) {
      worst_grad = e;
      worst_name = t.name;
    }
    if (!t.trainable)
      for (std::size_t i = 0; i < t.size; ++i) EXPECT_EQ(grad[t.offset + i], 0.0) << t.name << " is frozen";
  }
  std::printf("[ torch    ] %-26s pred %.1e  loss %.1e  worst grad %.1e (%s)\n", GetParam().c_str(), worst_pred,
              loss_err, worst_grad, worst_name.c_str());
}

INSTANTIATE_TEST_SUITE_P(CpuModel, TorchFixture, ::testing::ValuesIn(kFixtures),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '.', '_');  // gtest names: alphanumerics and _
                           return n;
                         });

// The fixture folder must exist and hold exactly the fixtures listed above: a missing folder (a
// broken DYNPMNN_FIXTURE_DIR) fails here instead of skipping, and a fixture added to the script but
// not to kFixtures would otherwise go unchecked.
TEST(TorchFixtures, FolderHoldsExactlyTheListedFixtures) {
  ASSERT_TRUE(fs::is_directory(fixture_dir())) << fixture_dir() << " is missing";
  std::set<std::string> found;
  for (const auto& e : fs::directory_iterator(fixture_dir())) {
    const std::string f = e.path().filename().string();
    if (f.rfind("torch_", 0) == 0 && e.path().extension() == ".json")
      found.insert(f.substr(6, f.size() - 6 - 5));
  }
  EXPECT_EQ(found, std::set<std::string>(kFixtures.begin(), kFixtures.end()));
}

// The clamp fixtures are only worth having if the clamp acted: the script counts the raw values
// beyond ±clip, and our forward must reach ±clip too (the readout input is not exposed, so check
// that the same parameters without the clamp give different predictions).
TEST(TorchFixtures, ClampFixturesDoClamp) {
  for (const std::string name : {"paper_dt20_clip20", "identity_n4_clip1.5"}) {
    const json fx = load(name);
    EXPECT_GT(fx.at("clamped").get<long>(), 0) << name;
    ModelSpec spec = spec_from(fx.at("spec"));
    const ParamTable table(spec);
    const auto params = fx.at("params").get<std::vector<double>>();
    const auto x = fx.at("x").get<std::vector<double>>();
    const int B = fx.at("batch").get<int>();
    std::vector<double> clipped(static_cast<std::size_t>(B) * spec.outputs), free(clipped.size());
    CpuModel<double> mc(spec, table);
    mc.forward(params.data(), x.data(), B, clipped.data());
    for (auto& L : spec.layers) L.clip = 0.0;
    CpuModel<double> mf(spec, table);
    mf.forward(params.data(), x.data(), B, free.data());
    EXPECT_NE(clipped, free) << name;
  }
}

}  // namespace
}  // namespace dynpmnn
