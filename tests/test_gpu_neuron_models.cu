// Every registered neuron model with CUDA kernels: the GPU op (float) against the CPU op (double)
// across odd shapes, every scheme the model has, both couplings and both readouts. The horizon is
// short (50 steps of 0.01) for every model alike: there a float trajectory follows the double one
// to ~1e-5 even in the spiking models, whose float and double runs part once a spike time shifts
// (a longer horizon would need tolerances per model).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/device_buffer.h"
#include "gpu_test_util.h"
#include "models/neuron_models.h"

namespace dynpmnn {
namespace {

class GpuNeuronOp : public ::testing::TestWithParam<std::string> {};

struct Shape {
  int batch, neurons;
};

double scale(double x) { return std::max(1.0, std::abs(x)); }

TEST_P(GpuNeuronOp, MatchesTheCpuOpAcrossOddShapes) {
  DYNPMNN_REQUIRE_GPU();
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  ASSERT_TRUE(ops.forward_gpu && ops.backward_gpu && ops.workspace_gpu) << ops.name << " has no CUDA kernels";
  std::mt19937 gen(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (Shape sh : {Shape{1, 1}, Shape{37, 33}, Shape{300, 5}})
    for (const char* scheme : {"euler", "imex", "heun", "rk4"})
      for (Coupling coupling : {Coupling::kInitialCondition, Coupling::kCurrent})
        for (bool voltage : {false, true}) {
          const Integrator S = integrator_from_string(scheme);
          if (S == Integrator::kImex && !ops.semi_implicit) continue;
          SCOPED_TRACE(testing::Message() << "B " << sh.batch << " N " << sh.neurons << " " << scheme << " "
                                          << to_string(coupling) << (voltage ? " voltage" : " all"));
          NeuronShape s = ops.shape();
          s.batch = sh.batch;
          s.neurons = sh.neurons;
          s.steps = 50;
          s.dt = 0.01;
          s.integrator = S;
          s.coupling = coupling;
          s.voltage_readout = voltage;
          const int N = s.neurons;
          std::vector<double> in(static_cast<std::size_t>(s.batch) * s.input_width());
          for (std::size_t i = 0; i < in.size(); ++i)
            in[i] = (coupling == Coupling::kInitialCondition ? ops.state_info[(i / N) % ops.coupled].initial : 0.0) +
                    0.5 * u(gen);
          std::vector<std::vector<double>> prm(ops.params);
          for (int k = 0; k < ops.params; ++k)
            for (int n = 0; n < N; ++n) {
              const double v = ops.param_info[k].value;
              double x = v + 0.05 * u(gen) * scale(v);
              if (ops.param_info[k].map == FhnParamMap::kSigmoid) x = std::clamp(x, 0.05, 0.95);
              if (ops.param_info[k].map == FhnParamMap::kSoftplus) x = std::max(x, 0.05);
              prm[k].push_back(x);
            }
          const std::size_t W = static_cast<std::size_t>(s.batch) * s.output_width();
          std::vector<double> d_out(W);
          for (double& v : d_out) v = u(gen);

          // The double reference.
          const std::size_t ck = s.checkpoint_elems();
          std::vector<std::vector<double>> planes(ops.states, std::vector<double>(ck));
          NeuronCheckpoints<double> cw;
          NeuronCheckpoints<const double> cr;
          for (int i = 0; i < ops.states; ++i) cr.plane[i] = cw.plane[i] = planes[i].data();
          NeuronParamPtrs<double> pd;
          for (int k = 0; k < ops.params; ++k) pd.p[k] = prm[k].data();
          std::vector<double> out(W), d_in(in.size());
          std::vector<std::vector<double>> d_prm(ops.params, std::vector<double>(N));
          NeuronGradPtrs<double> gd;
          for (int k = 0; k < ops.params; ++k) gd.p[k] = d_prm[k].data();
          ASSERT_TRUE(ops.forward_d(s, in.data(), pd, out.data(), cw));
          ops.backward_d(s, in.data(), pd, cr, d_out.data(), d_in.data(), gd);

          // The GPU op, float.
          auto dev = [](const std::vector<double>& v) { return test::to_device(std::vector<float>(v.begin(), v.end())); };
          DeviceBuffer<float> in_d = dev(in), dout_d = dev(d_out), out_d = test::poisoned(W),
                              din_d = test::poisoned(in.size());
          std::vector<DeviceBuffer<float>> prm_d, dprm_d, ck_d;
          NeuronParamPtrs<float> pf;
          NeuronGradPtrs<float> gf;
          NeuronCheckpoints<float> ckw;
          NeuronCheckpoints<const float> ckr;
          for (int k = 0; k < ops.params; ++k) {
            prm_d.push_back(dev(prm[k]));
            dprm_d.push_back(test::poisoned(N));
          }
          for (int i = 0; i < ops.states; ++i) ck_d.emplace_back(std::max<std::size_t>(ck, 1));
          for (int k = 0; k < ops.params; ++k) {
            pf.p[k] = prm_d[k].data();
            gf.p[k] = dprm_d[k].data();
          }
          for (int i = 0; i < ops.states; ++i) ckr.plane[i] = ckw.plane[i] = ck_d[i].data();
          DeviceBuffer<float> ws(std::max<std::size_t>(ops.workspace_gpu(s), 1));
          ops.forward_gpu(s, in_d.data(), pf, out_d.data(), ckw, nullptr, 0, nullptr);
          ops.backward_gpu(s, in_d.data(), pf, ckr, dout_d.data(), din_d.data(), gf, ws.data(), nullptr);
          test::sync_and_check();
          const std::vector<float> out_g = out_d.download(), din_g = din_d.download();
          for (std::size_t i = 0; i < W; ++i) ASSERT_NEAR(out_g[i], out[i], 1e-3 * scale(out[i])) << "out " << i;
          for (std::size_t i = 0; i < in.size(); ++i) ASSERT_NEAR(din_g[i], d_in[i], 1e-3 * scale(d_in[i])) << "d_in " << i;
          for (int k = 0; k < ops.params; ++k) {
            const std::vector<float> g = dprm_d[k].download();
            for (int n = 0; n < N; ++n)
              ASSERT_NEAR(g[n], d_prm[k][n], 1e-3 * s.batch * scale(d_prm[k][n] / s.batch))
                  << ops.param_info[k].name << "[" << n << "]";
          }
        }
}

INSTANTIATE_TEST_SUITE_P(Registered, GpuNeuronOp, ::testing::ValuesIn(neuron_model_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace dynpmnn
