// Every registered neuron model (neuron_model_names(): the built-in ones and any other, such as the
// toy model of test_neuron_toy_model.cpp) gets these checks without a line of its own:
//   - the op's exact gradients against finite differences, for every scheme it has, both
//     couplings, both readouts, with and without the clamp, through the checkpointed backward;
//   - the float op against the double one, and a population's model against the same model alone;
//   - the whole model's gradients (Linear, LayerNorm, every neuron parameter trained through its
//     map, readout) against finite differences;
//   - the physical-range maps, from the model's declared map, in both directions;
//   - training, a checkpoint's round trip and a bit-identical resume, and a run folder's predictions.
// tests/test_gpu_neuron_models.cu checks the GPU op of every model that has CUDA kernels against
// this CPU op; tests/test_neuron_inspect.cpp the stability limit, inspect and divergence reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "cpu_training.h"
#include "host/config/config.h"
#include "host/embed/embed.h"
#include "host/io/checkpoint.h"
#include "host/training/trainer.h"
#include "kernels/fhn_param_map_math.h"
#include "models/cpu_model.h"
#include "models/layers/fhn_layer.h"
#include "models/neuron_models.h"
#include "synthetic_data.h"

namespace dynpmnn {
namespace {

const char* const kSchemes[] = {"euler", "imex", "heun", "rk4"};

// The schemes a model has: imex only with a semi-implicit step.
std::vector<Integrator> schemes_of(const NeuronModelOps& ops) {
  std::vector<Integrator> out;
  for (const char* s : kSchemes) {
    const Integrator i = integrator_from_string(s);
    if (i != Integrator::kImex || ops.semi_implicit) out.push_back(i);
  }
  return out;
}

// The op's arrays for one case: inputs near the resting state, parameters near the classic values
// (each neuron its own), a random linear loss on the outputs.
struct OpData {
  NeuronShape shape;
  std::vector<double> in, out, coeff;
  std::vector<std::vector<double>> params;  // (params) × (P · N)
};

OpData make_op_data(const NeuronModelOps& ops, NeuronShape s, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  OpData d;
  d.shape = s;
  const int N = s.neurons;
  d.in.resize(static_cast<std::size_t>(s.models) * s.batch * s.input_width());
  for (std::size_t i = 0; i < d.in.size(); ++i) {
    if (s.coupling == Coupling::kInitialCondition) {
      const int state = static_cast<int>((i / N) % s.coupled);
      d.in[i] = ops.state_info[state].initial + 0.5 * u(gen);
    } else {
      d.in[i] = 0.5 * u(gen);
    }
  }
  d.params.resize(ops.params);
  for (int k = 0; k < ops.params; ++k) {
    const double v = ops.param_info[k].value;
    for (int j = 0; j < s.models * N; ++j) {
      double x = v + 0.1 * u(gen) * std::max(1.0, std::abs(v));
      if (ops.param_info[k].map == FhnParamMap::kSigmoid) x = std::clamp(x, 0.05, 0.95);
      if (ops.param_info[k].map == FhnParamMap::kSoftplus) x = std::max(x, 0.05);
      d.params[k].push_back(x);
    }
  }
  d.out.resize(static_cast<std::size_t>(s.models) * s.batch * s.output_width());
  d.coeff.resize(d.out.size());
  for (double& c : d.coeff) c = u(gen);
  return d;
}

NeuronParamPtrs<double> ptrs(const OpData& d) {
  NeuronParamPtrs<double> p;
  for (std::size_t k = 0; k < d.params.size(); ++k) p.p[k] = d.params[k].data();
  return p;
}

double op_loss(const NeuronModelOps& ops, OpData& d) {
  ops.forward_d(d.shape, d.in.data(), ptrs(d), d.out.data(), {});
  double loss = 0;
  for (std::size_t i = 0; i < d.out.size(); ++i) loss += d.coeff[i] * d.out[i];
  return loss;
}

struct OpGrad {
  std::vector<double> d_in;
  std::vector<std::vector<double>> d_params;
};

OpGrad op_grad(const NeuronModelOps& ops, OpData& d) {
  const std::size_t ck = d.shape.checkpoint_elems();
  std::vector<std::vector<double>> planes(ops.states, std::vector<double>(ck));
  NeuronCheckpoints<double> w;
  NeuronCheckpoints<const double> r;
  for (int i = 0; i < ops.states; ++i) r.plane[i] = w.plane[i] = planes[i].data();
  EXPECT_TRUE(ops.forward_d(d.shape, d.in.data(), ptrs(d), d.out.data(), w));
  OpGrad g;
  g.d_in.assign(d.in.size(), 0.0);
  g.d_params.assign(ops.params, std::vector<double>(d.params[0].size()));
  NeuronGradPtrs<double> gp;
  for (int k = 0; k < ops.params; ++k) gp.p[k] = g.d_params[k].data();
  ops.backward_d(d.shape, d.in.data(), ptrs(d), r, d.coeff.data(), g.d_in.data(), gp);
  return g;
}

// Central difference with a step relative to the value; its error (~h²·f''' + ε·|f|/h) is far
// below the tolerance for these smooth, short trajectories.
double central(const std::function<double()>& f, double& x) {
  const double x0 = x, h = 1e-6 * std::max(1.0, std::abs(x0));
  x = x0 + h;
  const double up = f();
  x = x0 - h;
  const double down = f();
  x = x0;
  return (up - down) / (2 * h);
}

struct OpCase {
  std::string model;
  Integrator scheme;
  Coupling coupling;
  bool voltage;
  bool clamp;
};

std::string case_name(const OpCase& c) {
  return c.model + "_" + to_string(c.scheme) + "_" + to_string(c.coupling) + (c.voltage ? "_voltage" : "_all") +
         (c.clamp ? "_clip" : "");
}

std::vector<OpCase> op_cases() {
  std::vector<OpCase> cases;
  for (const std::string& m : neuron_model_names()) {
    const NeuronModelOps& ops = find_neuron_model(m);
    for (Integrator s : schemes_of(ops))
      for (Coupling c : {Coupling::kInitialCondition, Coupling::kCurrent})
        for (bool voltage : {false, true}) cases.push_back({m, s, c, voltage, false});
    cases.push_back({m, Integrator::kRk4, Coupling::kInitialCondition, false, true});
  }
  return cases;
}

class NeuronOp : public ::testing::TestWithParam<OpCase> {};

// B 2, N 3 and 37 steps of dt 0.01: three checkpoint segments (16, 16, 5), so the backward replays
// whole register blocks and the remainder's chunks.
NeuronShape op_shape(const NeuronModelOps& ops, const OpCase& c) {
  NeuronShape s = ops.shape();
  s.batch = 2;
  s.neurons = 3;
  s.steps = 37;
  s.dt = 0.01;
  s.coupling = c.coupling;
  s.integrator = c.scheme;
  s.voltage_readout = c.voltage;
  return s;
}

TEST_P(NeuronOp, GradientsMatchFiniteDifferences) {
  const OpCase& c = GetParam();
  const NeuronModelOps& ops = find_neuron_model(c.model);
  OpData d = make_op_data(ops, op_shape(ops, c), 17);
  if (c.clamp) {
    // A clamp that cuts some states of some steps: half the largest state the run reaches.
    (void)op_loss(ops, d);
    double most = 0;
    for (double v : d.out) most = std::max(most, std::abs(v));
    d.shape.clip = 0.5 * most;
  }
  ASSERT_GT(d.shape.checkpoint_elems(), 0u);
  const OpGrad g = op_grad(ops, d);
  auto loss = [&] { return op_loss(ops, d); };
  auto near = [](double fd, double an) { return std::abs(fd - an) <= 1e-6 * std::max(1.0, std::abs(an)); };
  for (std::size_t i = 0; i < d.in.size(); ++i) {
    const double fd = central(loss, d.in[i]);
    EXPECT_PRED2(near, fd, g.d_in[i]) << "input " << i;
  }
  for (int k = 0; k < ops.params; ++k)
    for (std::size_t j = 0; j < d.params[k].size(); ++j) {
      const double fd = central(loss, d.params[k][j]);
      EXPECT_PRED2(near, fd, g.d_params[k][j]) << "parameter " << ops.param_info[k].name << "[" << j << "]";
    }
  // Not vacuous: the loss depends on the inputs.
  double norm = 0;
  for (double v : g.d_in) norm += v * v;
  EXPECT_GT(norm, 0.0);
}

TEST_P(NeuronOp, FloatOpFollowsTheDoubleOne) {
  const OpCase& c = GetParam();
  const NeuronModelOps& ops = find_neuron_model(c.model);
  OpData d = make_op_data(ops, op_shape(ops, c), 23);
  (void)op_loss(ops, d);
  std::vector<float> in(d.in.begin(), d.in.end()), out(d.out.size());
  std::vector<std::vector<float>> pf(ops.params);
  NeuronParamPtrs<float> p;
  for (int k = 0; k < ops.params; ++k) {
    pf[k].assign(d.params[k].begin(), d.params[k].end());
    p.p[k] = pf[k].data();
  }
  ASSERT_TRUE(ops.forward_f(d.shape, in.data(), p, out.data(), {}));
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_NEAR(out[i], d.out[i], 1e-4 * std::max(1.0, std::abs(d.out[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Registered, NeuronOp, ::testing::ValuesIn(op_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) { return case_name(info.param); });

class NeuronModel : public ::testing::TestWithParam<std::string> {};

// Two models of different step counts side by side: each computes bit for bit what it computes
// alone.
TEST_P(NeuronModel, PopulationMembersEqualLoneRuns) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  NeuronShape s = ops.shape();
  s.models = 2;
  s.batch = 3;
  s.neurons = 2;
  s.integrator = Integrator::kHeun;
  const NeuronModelStep steps[2] = {{0.01, 40, 0.0}, {0.02, 9, 0.0}};
  s.per_model = steps;
  OpData pop = make_op_data(ops, s, 5);
  const OpGrad gp = op_grad(ops, pop);
  for (int m = 0; m < 2; ++m) {
    NeuronShape one = s;
    one.models = 1;
    one.per_model = nullptr;
    one.dt = steps[m].dt;
    one.steps = steps[m].steps;
    OpData lone;
    lone.shape = one;
    const std::size_t in_w = static_cast<std::size_t>(s.batch) * s.input_width();
    const std::size_t out_w = static_cast<std::size_t>(s.batch) * s.output_width();
    lone.in.assign(pop.in.begin() + m * in_w, pop.in.begin() + (m + 1) * in_w);
    lone.coeff.assign(pop.coeff.begin() + m * out_w, pop.coeff.begin() + (m + 1) * out_w);
    lone.out.resize(out_w);
    lone.params.resize(ops.params);
    for (int k = 0; k < ops.params; ++k)
      lone.params[k].assign(pop.params[k].begin() + m * s.neurons, pop.params[k].begin() + (m + 1) * s.neurons);
    const OpGrad gl = op_grad(ops, lone);
    for (std::size_t i = 0; i < out_w; ++i) EXPECT_EQ(lone.out[i], pop.out[m * out_w + i]) << m << " " << i;
    for (std::size_t i = 0; i < in_w; ++i) EXPECT_EQ(gl.d_in[i], gp.d_in[m * in_w + i]) << m << " " << i;
    for (int k = 0; k < ops.params; ++k)
      for (int n = 0; n < s.neurons; ++n) EXPECT_EQ(gl.d_params[k][n], gp.d_params[k][m * s.neurons + n]);
  }
}

// The model's declared maps: trained parameters are stored through them (init returns the
// starting value), and no stored value, however far an optimiser pushes it, leaves the range.
TEST_P(NeuronModel, ParameterMapsKeepTrainedValuesInRange) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  ModelSpec spec;
  spec.inputs = 2;
  spec.outputs = 1;
  LayerSpec L;
  L.neuron_model = ops.name;
  L.units = 2;
  L.dt = 0.01;
  L.t_end = 0.1;
  for (const auto& p : ops.param_info) L.train_params.push_back(p.name);
  spec.layers = {L};
  const ParamTable table(spec);
  std::vector<double> stored(table.total());
  init_params(spec, table, 1, stored);
  const std::vector<double> phys = physical_params(table, stored);
  for (int k = 0; k < ops.params; ++k) {
    const ParamTensor& t = neuron_param_tensor(table, 0, k);
    EXPECT_TRUE(t.trainable) << t.name;
    EXPECT_EQ(t.map, ops.param_info[k].map) << t.name;
    EXPECT_NEAR(phys[t.offset], ops.param_info[k].value, 1e-12 * std::max(1.0, std::abs(ops.param_info[k].value)))
        << t.name << ": the stored value maps back to the starting one";
    for (double theta : {-30.0, -3.0, 0.0, 3.0, 30.0}) {  // beyond ±37 the sigmoid rounds to 0 or 1
      const double y = fhn_param_map_forward(t.map, theta);
      EXPECT_TRUE(fhn_param_map_in_range(t.map, y) || t.map == FhnParamMap::kIdentity) << t.name << " θ " << theta;
      if (t.map != FhnParamMap::kIdentity && std::abs(theta) < 20)
        EXPECT_NEAR(fhn_param_map_inverse(t.map, y), theta, 1e-9) << t.name;
    }
  }
  // Frozen (the default): the identity, whatever the declared map.
  spec.layers[0].train_params.clear();
  const ParamTable frozen(spec);
  for (int k = 0; k < ops.params; ++k) EXPECT_EQ(neuron_param_tensor(frozen, 0, k).map, FhnParamMap::kIdentity);
}

// The whole model, every parameter trained in its physical space: CpuModel's backward against
// central differences of its MSE loss.
TEST_P(NeuronModel, WholeModelGradientsMatchFiniteDifferences) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  for (Integrator scheme : schemes_of(ops)) {
    SCOPED_TRACE(to_string(scheme));
    ModelSpec spec;
    spec.inputs = 3;
    spec.outputs = 2;
    LayerSpec L;
    L.neuron_model = ops.name;
    L.units = 2;
    L.dt = 0.01;
    L.t_end = 0.2;
    L.integrator = scheme;
    for (const auto& p : ops.param_info) L.train_params.push_back(p.name);
    spec.layers = {L};
    const ParamTable table(spec);
    std::vector<double> params(table.total());
    init_params(spec, table, 3, params);
    std::mt19937_64 gen(11);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (const ParamTensor& t : table.tensors())
      if (t.kind == ParamKind::kNeuronParam || (t.kind >= ParamKind::kFhnA && t.kind <= ParamKind::kFhnI))
        for (std::size_t i = 0; i < t.size; ++i) params[t.offset + i] += 0.05 * u(gen);
    const int B = 3;
    std::vector<double> x(B * spec.inputs), target(B * spec.outputs);
    for (double& v : x) v = u(gen);
    for (double& v : target) v = u(gen);
    CpuModel<double> model(spec, table);
    auto loss = [&] {
      std::vector<double> pred(target.size());
      model.forward(params.data(), x.data(), B, pred.data());
      double s = 0;
      for (std::size_t i = 0; i < pred.size(); ++i) s += 0.5 * (pred[i] - target[i]) * (pred[i] - target[i]);
      return s;
    };
    std::vector<double> pred(target.size()), dpred(target.size()), grad(table.total(), 0.0);
    model.forward(params.data(), x.data(), B, pred.data());
    for (std::size_t i = 0; i < pred.size(); ++i) dpred[i] = pred[i] - target[i];
    model.backward(params.data(), x.data(), dpred.data(), grad.data());
    for (const ParamTensor& t : table.tensors())
      for (std::size_t i = 0; i < t.size; ++i) {
        const double fd = central(loss, params[t.offset + i]);
        EXPECT_NEAR(fd, grad[t.offset + i], 1e-6 * std::max(1.0, std::abs(fd))) << t.name << "[" << i << "]";
      }
  }
}

// Training with every parameter trained, then the checkpoint of epoch 1: it round-trips the model's
// configuration and table, and training resumed from it (its parameters and Adam state) continues
// bit for bit as the uninterrupted run.
class EpochSnapshot : public TrainObserver {
 public:
  EpochSnapshot(const Config& cfg, const ParamTable& table, const SplitData& data) : cfg_(cfg), table_(table), data_(data) {}
  void on_epoch_end(const TrainState& state, Backend& backend) override {
    if (state.epoch == 1)
      bytes = serialize_checkpoint(make_checkpoint(cfg_, table_, data_.scaler, data_.feature_names, state, backend));
  }
  std::string bytes;

 private:
  const Config& cfg_;
  const ParamTable& table_;
  const SplitData& data_;
};

TEST_P(NeuronModel, TrainsCheckpointsAndResumesBitIdentically) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  Config cfg;
  cfg.neuron_model = ops.name;
  cfg.neurons = 3;
  cfg.dt = 0.02;
  cfg.t_end = 0.4;
  cfg.integrator = "rk4";
  cfg.coupling = "current";
  cfg.epochs = 3;
  cfg.lr = 3e-3;
  cfg.min_delta = 0.0;
  std::string names;
  for (const auto& p : ops.param_info) names += (names.empty() ? "" : ",") + std::string(p.name);
  cfg.train_params = names;
  cfg.validate();
  const SplitData data = testing::synthetic_data(200, 4);
  testing::CpuTraining run(cfg, cfg.model_spec(8, 1), data);
  EpochSnapshot snapshot(cfg, run.table, data);
  const TrainReport whole = run.train(cfg, data, &snapshot);
  ASSERT_EQ(whole.status, "ok");
  ASSERT_TRUE(std::isfinite(whole.history.back().train_loss));
  ASSERT_FALSE(snapshot.bytes.empty());

  const Checkpoint ck = parse_checkpoint(snapshot.bytes, "snapshot");
  EXPECT_EQ(ck.config.neuron_model, ops.name);
  EXPECT_EQ(ck.config.train_params, names);
  const ModelSpec spec = ck.config.model_spec(8, 1);
  const ParamTable table(spec);
  ASSERT_EQ(table.total(), run.table.total());

  auto backend = make_cpu_backend(spec, train_hyper(ck.config));
  backend->set_data(data);
  backend->set_params(ck.params);
  backend->set_optimizer_state(ck.optimizer);
  TrainState state = ck.state;
  const TrainReport resumed = continue_training(ck.config, spec, *backend, data, state, nullptr);
  ASSERT_EQ(resumed.history.size(), whole.history.size());
  for (std::size_t i = 0; i < whole.history.size(); ++i) {
    EXPECT_EQ(resumed.history[i].train_loss, whole.history[i].train_loss) << i;
    EXPECT_EQ(resumed.history[i].val_mse, whole.history[i].val_mse) << i;
  }
  EXPECT_EQ(resumed.test.mse, whole.test.mse);
}

// A run folder trained in this process (the embedding API, as `dynpmnn train` does) and its best
// model loaded as a Predictor: one finite prediction per row that follows the rows, the same on a
// second load.
TEST_P(NeuronModel, ARunFolderPredicts) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dynpmnn-neuron-predict-" + ops.name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const SplitData data = testing::synthetic_data(160, 6);
  std::string csv = "f0,f1,f2,f3,f4,f5,f6,f7,y\n";
  for (int i = 0; i < data.train.rows; ++i) {
    for (int f = 0; f < 8; ++f) csv += std::to_string(data.train.x[i * 8 + f]) + ",";
    csv += std::to_string(data.train.y[i]) + "\n";
  }
  testing::write_file(dir / "data.csv", csv);
  const std::string summary =
      train("", {"data=" + (dir / "data.csv").string(), "target=y", "neuron_model=" + ops.name, "neurons=3",
                 "integrator=rk4", "dt=0.02", "t_end=0.4", "coupling=current", "epochs=2", "batch_size=16",
                 // The CPU op: a model registered by a test (the toy) has no CUDA kernels in the
                 // library, and device auto would choose CUDA on a GPU machine.
                 "device=cpu"},
            (dir / "run").string());
  EXPECT_NE(summary.find("\"status\":\"ok\""), std::string::npos) << summary;
  Predictor first = Predictor::load((dir / "run").string(), "cpu");
  ASSERT_EQ(first.feature_names().size(), 8u);
  const std::vector<double> rows(data.train.x.begin(), data.train.x.begin() + 20 * 8);
  const std::vector<double> pred = first.predict(rows, 20);
  ASSERT_EQ(pred.size(), 20u);
  for (double p : pred) EXPECT_TRUE(std::isfinite(p));
  EXPECT_GT(*std::max_element(pred.begin(), pred.end()) - *std::min_element(pred.begin(), pred.end()), 1e-6)
      << "the predictions follow the rows";
  EXPECT_EQ(Predictor::load((dir / "run").string(), "cpu").predict(rows, 20), pred);
  std::filesystem::remove_all(dir);
}

std::string model_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Registered, NeuronModel, ::testing::ValuesIn(neuron_model_names()), model_name);

}  // namespace
}  // namespace dynpmnn
