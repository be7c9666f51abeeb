// The CUDA neuron op over a population (NeuronShape::models > 1): for every registered model with
// CUDA kernels and every scheme it has, P models side by side in one launch, each with its own dt,
// step count (1 to 300), clamp and parameters, computing what the CPU op computes for that model
// alone (P = 1): outputs, checkpoints, input and parameter gradients. The tolerances are
// test_gpu_neuron_models.cu's (1e-3, relative to max(1, |ref|); the batch sums relative to B),
// widened by test_gpu_ops.cu's float slack (10 × how far the float CPU op itself lands from the
// double one) for the clamp, whose cut of a gradient may flip between float and double where a
// state crosses ±clip. The horizons stay under test_gpu_neuron_models.cu's 0.5, where every
// model's float trajectory follows the double one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "common/device_buffer.h"
#include "gpu_test_util.h"
#include "kernels/neuron_gpu.h"
#include "models/neuron_models.h"

namespace dynpmnn {
namespace {

using test::all_close;

constexpr double kTol = 1e-3;
constexpr double kFloatErrorSlack = 10.0;

double scale(double x) { return std::max(1.0, std::abs(x)); }

// One population's data: inputs near the resting state, each (model, neuron) its own parameters
// near the classic values, a random upstream gradient.
struct PopData {
  NeuronShape shape;                        // models = P
  std::vector<NeuronModelStep> steps;       // (P), or empty: every model has the shape's step
  std::vector<double> in, d_out;            // (P, B, input_width), (P, B, output_width)
  std::vector<std::vector<double>> params;  // (params) × (P · N)
};

PopData make_pop_data(const NeuronModelOps& ops, NeuronShape s, std::vector<NeuronModelStep> steps, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  PopData d;
  d.shape = s;
  d.steps = std::move(steps);
  const int N = s.neurons;
  d.in.resize(static_cast<std::size_t>(s.models) * s.batch * s.input_width());
  for (std::size_t i = 0; i < d.in.size(); ++i)
    d.in[i] = (s.coupling == Coupling::kInitialCondition ? ops.state_info[(i / N) % ops.coupled].initial : 0.0) +
              0.5 * u(gen);
  d.params.resize(ops.params);
  for (int k = 0; k < ops.params; ++k)
    for (int j = 0; j < s.models * N; ++j) {
      const double v = ops.param_info[k].value;
      double x = v + 0.05 * u(gen) * scale(v);
      if (ops.param_info[k].map == FhnParamMap::kSigmoid) x = std::clamp(x, 0.05, 0.95);
      if (ops.param_info[k].map == FhnParamMap::kSoftplus) x = std::max(x, 0.05);
      d.params[k].push_back(x);
    }
  d.d_out.resize(static_cast<std::size_t>(s.models) * s.batch * s.output_width());
  for (double& v : d.d_out) v = u(gen);
  return d;
}

// Model m of the population as a lone model: its step, and its blocks of the arrays.
NeuronShape lone_shape(const PopData& d, int m) {
  NeuronShape one = d.shape;
  const NeuronModelStep st = d.steps.empty() ? d.shape.step_of(m) : d.steps[m];
  one.models = 1;
  one.per_model = nullptr;
  one.per_model_device = nullptr;
  one.dt = st.dt;
  one.steps = st.steps;
  one.clip = st.clip;
  return one;
}

template <typename T>
std::vector<T> block(const std::vector<double>& v, int m, std::size_t len) {
  return std::vector<T>(v.begin() + m * len, v.begin() + (m + 1) * len);
}

// The CPU op on one model alone, in T.
template <typename T>
struct LoneRun {
  bool finite = false;
  std::vector<T> out, d_in;
  std::vector<std::vector<T>> d_params, planes;
};

template <typename T>
LoneRun<T> run_lone(const NeuronModelOps& ops, const PopData& d, int m) {
  const NeuronShape one = lone_shape(d, m);
  const std::size_t in_n = static_cast<std::size_t>(one.batch) * one.input_width();
  const std::size_t out_n = static_cast<std::size_t>(one.batch) * one.output_width();
  const int N = one.neurons;
  const std::vector<T> in = block<T>(d.in, m, in_n), d_out = block<T>(d.d_out, m, out_n);
  std::vector<std::vector<T>> prm(ops.params);
  NeuronParamPtrs<T> p;
  for (int k = 0; k < ops.params; ++k) {
    prm[k] = block<T>(d.params[k], m, N);
    p.p[k] = prm[k].data();
  }
  LoneRun<T> r;
  r.planes.assign(ops.states, std::vector<T>(one.checkpoint_elems()));
  NeuronCheckpoints<T> cw;
  NeuronCheckpoints<const T> cr;
  for (int i = 0; i < ops.states; ++i) cr.plane[i] = cw.plane[i] = r.planes[i].data();
  r.out.resize(out_n);
  r.d_in.resize(in_n);
  r.d_params.assign(ops.params, std::vector<T>(N));
  NeuronGradPtrs<T> g;
  for (int k = 0; k < ops.params; ++k) g.p[k] = r.d_params[k].data();
  if constexpr (std::is_same_v<T, double>) {
    r.finite = ops.forward_d(one, in.data(), p, r.out.data(), cw);
    ops.backward_d(one, in.data(), p, cr, d_out.data(), r.d_in.data(), g);
  } else {
    r.finite = ops.forward_f(one, in.data(), p, r.out.data(), cw);
    ops.backward_f(one, in.data(), p, cr, d_out.data(), r.d_in.data(), g);
  }
  return r;
}

// The GPU op on the whole population, in one call each way.
struct GpuRun {
  int flag = kNoNonFinite;
  std::vector<float> out, d_in;
  std::vector<std::vector<float>> d_params, planes;
};

constexpr int kLayerIndex = 3;

GpuRun run_gpu(const NeuronModelOps& ops, const PopData& d) {
  NeuronShape s = d.shape;
  auto dev = [](const std::vector<double>& v) { return test::to_device(std::vector<float>(v.begin(), v.end())); };
  // The population's steps reach the kernels as the caller's device copy of the host table.
  DeviceBuffer<NeuronModelStep> steps_d(std::max<std::size_t>(d.steps.size(), 1));
  if (!d.steps.empty()) {
    steps_d.upload(d.steps);
    s.per_model = d.steps.data();
    s.per_model_device = steps_d.data();
  }
  const int N = s.neurons;
  const std::size_t PN = static_cast<std::size_t>(s.models) * N;
  const std::size_t ck = s.checkpoint_elems();
  DeviceBuffer<float> in_d = dev(d.in), dout_d = dev(d.d_out), out_d = test::poisoned(d.d_out.size()),
                      din_d = test::poisoned(d.in.size());
  std::vector<DeviceBuffer<float>> prm_d, dprm_d, ck_d;
  NeuronParamPtrs<float> pf;
  NeuronGradPtrs<float> gf;
  NeuronCheckpoints<float> ckw;
  NeuronCheckpoints<const float> ckr;
  for (int k = 0; k < ops.params; ++k) {
    prm_d.push_back(dev(d.params[k]));
    dprm_d.push_back(test::poisoned(PN));
  }
  for (int i = 0; i < ops.states; ++i) ck_d.push_back(test::poisoned(std::max<std::size_t>(ck, 1)));
  for (int k = 0; k < ops.params; ++k) {
    pf.p[k] = prm_d[k].data();
    gf.p[k] = dprm_d[k].data();
  }
  for (int i = 0; i < ops.states; ++i) ckr.plane[i] = ckw.plane[i] = ck_d[i].data();
  DeviceBuffer<float> ws(std::max<std::size_t>(ops.workspace_gpu(s), 1));
  ws.poison();
  DeviceBuffer<int> flag(1);
  flag.upload({kNoNonFinite});
  ops.forward_gpu(s, in_d.data(), pf, out_d.data(), ckw, flag.data(), kLayerIndex, nullptr);
  ops.backward_gpu(s, in_d.data(), pf, ckr, dout_d.data(), din_d.data(), gf, ws.data(), nullptr);
  GpuRun r;
  const cudaError_t err = cudaDeviceSynchronize();
  EXPECT_EQ(err, cudaSuccess) << cudaGetErrorName(err) << ": " << cudaGetErrorString(err);
  if (err != cudaSuccess) return r;
  r.flag = flag.download()[0];
  r.out = out_d.download();
  r.d_in = din_d.download();
  for (auto& b : dprm_d) r.d_params.push_back(b.download());
  for (int i = 0; i < ops.states; ++i) r.planes.push_back(ck ? ck_d[i].download() : std::vector<float>{});
  return r;
}

// kFloatErrorSlack · |float reference − double reference|, per element.
std::vector<double> float_slack(const std::vector<float>& f, const std::vector<double>& ref, double extra = 0) {
  std::vector<double> s(ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i)
    s[i] = kFloatErrorSlack * std::abs(static_cast<double>(f[i]) - ref[i]) + extra;
  return s;
}

// Model m's block of the GPU run against the CPU op run on model m alone. check_planes: whether
// the checkpoints hold the same variables in both runs (see the caller).
void expect_member_matches(const NeuronModelOps& ops, const PopData& d, const GpuRun& g, int m, bool check_planes) {
  SCOPED_TRACE(testing::Message() << "model " << m << " of " << d.shape.models << ": dt " << lone_shape(d, m).dt
                                  << ", " << lone_shape(d, m).steps << " steps, clip " << lone_shape(d, m).clip);
  const LoneRun<double> ref = run_lone<double>(ops, d, m);
  const LoneRun<float> ref_f = run_lone<float>(ops, d, m);
  ASSERT_TRUE(ref.finite) << "the reference itself is not finite";
  const NeuronShape one = lone_shape(d, m);
  const std::size_t B = one.batch, N = one.neurons, P = d.shape.models;
  const std::size_t in_n = B * one.input_width(), out_n = B * one.output_width();
  auto slice = [&](const std::vector<float>& v, std::size_t len) {
    return std::vector<float>(v.begin() + m * len, v.begin() + (m + 1) * len);
  };
  EXPECT_TRUE(all_close("out", slice(g.out, out_n), ref.out, kTol, kTol, float_slack(ref_f.out, ref.out),
                        one.output_width()));
  EXPECT_TRUE(all_close("d_in", slice(g.d_in, in_n), ref.d_in, kTol, kTol, float_slack(ref_f.d_in, ref.d_in),
                        one.input_width()));
  for (int k = 0; k < ops.params; ++k)
    EXPECT_TRUE(all_close(std::string("d_") + ops.param_info[k].name, slice(g.d_params[k], N), ref.d_params[k],
                          kTol * B, kTol, float_slack(ref_f.d_params[k], ref.d_params[k])));
  if (!check_planes) return;
  // Checkpoint c of model m is at c · P·B·N + m · B·N in the population's planes, at c · B·N alone;
  // a model with fewer steps than the longest uses the first of them.
  const std::size_t lone_ck = one.checkpoint_elems();
  for (int i = 0; i < ops.states; ++i) {
    std::vector<float> got(lone_ck);
    for (std::size_t c = 0; c < lone_ck / (B * N); ++c)
      for (std::size_t j = 0; j < B * N; ++j) got[c * B * N + j] = g.planes[i][c * P * B * N + m * B * N + j];
    EXPECT_TRUE(all_close(std::string("checkpoints of ") + ops.state_info[i].name, got, ref.planes[i], kTol, kTol,
                          float_slack(ref_f.planes[i], ref.planes[i]), N));
  }
}

// The schemes a model has: imex only with a semi-implicit step.
std::vector<Integrator> schemes_of(const NeuronModelOps& ops) {
  std::vector<Integrator> out;
  for (const char* name : {"euler", "imex", "heun", "rk4"}) {
    const Integrator i = integrator_from_string(name);
    if (i != Integrator::kImex || ops.semi_implicit) out.push_back(i);
  }
  return out;
}

// A clip that clamps model m: 0.9 of the largest |final state| of its unclamped lone run, so the
// clamped run's largest state differs from the unclamped one's (checked).
double clip_that_clamps(const NeuronModelOps& ops, PopData& d, int m) {
  d.steps[m].clip = 0;
  const LoneRun<double> free = run_lone<double>(ops, d, m);
  double most = 0;
  for (double x : free.out) most = std::max(most, std::abs(x));
  const double clip = 0.9 * most;
  d.steps[m].clip = clip;
  const LoneRun<double> clamped = run_lone<double>(ops, d, m);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < free.out.size(); ++i) changed += std::abs(free.out[i] - clamped.out[i]) > 1e-9;
  EXPECT_GT(changed, 0u) << "clip " << clip << " never clamps model " << m;
  return clip;
}

class GpuNeuronPopulation : public ::testing::TestWithParam<std::string> {
 protected:
  const NeuronModelOps& ops() const { return find_neuron_model(GetParam()); }
};

struct Shape {
  int batch, neurons;
};

// Five models, one launch: dt, steps (1, 7, 37, 300 and 23: one step, partial register blocks,
// segments of one and of two register blocks), clamps (three without, two with) and parameters
// differ per model; both couplings (initial condition with every state read out, current with
// the voltage only) and two shapes (several blocks along the batch, several along the neurons).
TEST_P(GpuNeuronPopulation, MembersWithTheirOwnStepsMatchTheirLoneCpuRuns) {
  DYNPMNN_REQUIRE_GPU();
  const NeuronModelOps& m_ops = ops();
  ASSERT_TRUE(m_ops.forward_gpu && m_ops.backward_gpu && m_ops.workspace_gpu) << m_ops.name << " has no CUDA kernels";
  unsigned seed = 11;
  for (Shape sh : {Shape{37, 5}, Shape{3, 33}})
    for (Integrator scheme : schemes_of(m_ops))
      for (Coupling coupling : {Coupling::kInitialCondition, Coupling::kCurrent}) {
        SCOPED_TRACE(testing::Message() << "B " << sh.batch << " N " << sh.neurons << " " << to_string(scheme) << " "
                                        << to_string(coupling));
        NeuronShape s = m_ops.shape();
        s.models = 5;
        s.batch = sh.batch;
        s.neurons = sh.neurons;
        s.integrator = scheme;
        s.coupling = coupling;
        s.voltage_readout = coupling == Coupling::kCurrent;
        s.dt = 1;  // the shape's own step, which no model has: unused where per_model is set
        s.steps = 1000;
        const std::vector<NeuronModelStep> steps = {
            {0.01, 1, 0}, {0.02, 7, 0}, {0.01, 37, 0}, {0.001, 300, 0}, {0.013, 23, 0}};
        PopData d = make_pop_data(m_ops, s, steps, seed++);
        d.steps[1].clip = clip_that_clamps(m_ops, d, 1);
        d.steps[3].clip = clip_that_clamps(m_ops, d, 3);
        const GpuRun g = run_gpu(m_ops, d);
        ASSERT_FALSE(g.out.empty());
        EXPECT_EQ(g.flag, kNoNonFinite) << "finite outputs must leave the flag alone";
        for (int m = 0; m < s.models; ++m) {
          // A population whose kernel clamps runs its unclamped models in the clamped stepper, which
          // for FitzHugh–Nagumo's Euler keeps (v, w) where its unclamped stepper alone keeps (v, z):
          // the same map, other checkpointed variables.
          const bool same_planes = scheme != Integrator::kEuler || d.steps[m].clip > 0;
          expect_member_matches(m_ops, d, g, m, same_planes);
        }
      }
}

// A population whose models share the shape's step (per_model null: no device table), with and
// without the clamp.
TEST_P(GpuNeuronPopulation, MembersSharingOneStepMatchTheirLoneCpuRuns) {
  DYNPMNN_REQUIRE_GPU();
  const NeuronModelOps& m_ops = ops();
  ASSERT_TRUE(m_ops.forward_gpu && m_ops.backward_gpu && m_ops.workspace_gpu) << m_ops.name << " has no CUDA kernels";
  for (Integrator scheme : {Integrator::kEuler, Integrator::kRk4})
    for (bool clamped : {false, true}) {
      SCOPED_TRACE(testing::Message() << to_string(scheme) << (clamped ? " clamped" : ""));
      NeuronShape s = m_ops.shape();
      s.models = 3;
      s.batch = 9;
      s.neurons = 7;
      s.integrator = scheme;
      s.dt = 0.01;
      s.steps = 50;
      PopData d = make_pop_data(m_ops, s, {}, 3);
      if (clamped) {
        // Clamp every model at 0.9 of model 0's largest unclamped state (computed on the side).
        PopData probe = d;
        probe.steps.assign(s.models, NeuronModelStep{s.dt, s.steps, 0});
        d.shape.clip = clip_that_clamps(m_ops, probe, 0);
      }
      const GpuRun g = run_gpu(m_ops, d);
      ASSERT_FALSE(g.out.empty());
      EXPECT_EQ(g.flag, kNoNonFinite);
      for (int m = 0; m < s.models; ++m) expect_member_matches(m_ops, d, g, m, true);
    }
}

// One model of three overflows (explicit Euler at a huge dt): the op reports the call not finite,
// and the other two still compute their lone runs, forward and backward.
TEST_P(GpuNeuronPopulation, DivergingMemberLeavesTheOthersIntact) {
  DYNPMNN_REQUIRE_GPU();
  const NeuronModelOps& m_ops = ops();
  ASSERT_TRUE(m_ops.forward_gpu && m_ops.backward_gpu && m_ops.workspace_gpu) << m_ops.name << " has no CUDA kernels";
  NeuronShape s = m_ops.shape();
  s.models = 3;
  s.batch = 17;
  s.neurons = 6;
  s.integrator = Integrator::kEuler;
  PopData d = make_pop_data(m_ops, s, {{0.01, 30, 0}, {1e6, 40, 0}, {0.02, 9, 0}}, 5);
  ASSERT_FALSE(run_lone<float>(m_ops, d, 1).finite) << "the case must diverge in float, or it tests nothing";
  const GpuRun g = run_gpu(m_ops, d);
  ASSERT_FALSE(g.out.empty());
  EXPECT_EQ(g.flag, kLayerIndex) << "a non-finite output of any model must set the flag";
  const std::size_t out_n = static_cast<std::size_t>(s.batch) * s.output_width();
  std::size_t nonfinite = 0;
  for (std::size_t i = out_n; i < 2 * out_n; ++i) nonfinite += !std::isfinite(g.out[i]);
  EXPECT_GT(nonfinite, 0u) << "model 1's outputs should have overflowed";
  expect_member_matches(m_ops, d, g, 0, true);
  expect_member_matches(m_ops, d, g, 2, true);
}

// Per-model steps without their device copy are refused with the reason, before any launch.
TEST_P(GpuNeuronPopulation, PerModelStepsWithoutTheirDeviceCopyAreRefused) {
  DYNPMNN_REQUIRE_GPU();
  const NeuronModelOps& m_ops = ops();
  ASSERT_TRUE(m_ops.forward_gpu) << m_ops.name << " has no CUDA kernels";
  NeuronShape s = m_ops.shape();
  s.models = 2;
  s.batch = 1;
  s.neurons = 1;
  const NeuronModelStep steps[2] = {{0.01, 3, 0}, {0.02, 5, 0}};
  s.per_model = steps;
  DeviceBuffer<float> in(static_cast<std::size_t>(2) * s.input_width()), out(2 * s.output_width()),
      prm(static_cast<std::size_t>(2) * m_ops.params);
  NeuronParamPtrs<float> p;
  for (int k = 0; k < m_ops.params; ++k) p.p[k] = prm.data() + 2 * k;
  try {
    m_ops.forward_gpu(s, in.data(), p, out.data(), {}, nullptr, 0, nullptr);
    FAIL() << "accepted per-model steps without per_model_device";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("per_model_device"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Registered, GpuNeuronPopulation, ::testing::ValuesIn(neuron_model_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace dynpmnn
