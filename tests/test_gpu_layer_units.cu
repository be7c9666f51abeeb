// The GPU model against the CPU model, without a training backend: for every registered layer
// unit (the test-only toy included), every integrator and coupling, one and two layers deep, the
// predictions and every trained gradient of GpuModel (float) match CpuModel<double> on the same
// parameters and inputs. Outputs are poisoned first, so an unwritten element fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/cuda_stream.h"
#include "common/device_buffer.h"
#include "models/cpu_model.h"
#include "models/gpu_model.h"
#include "tests/gpu_test_util.h"
#include "tests/layer_unit_cases.h"
#include "tests/toy_layer.h"

namespace dynpmnn {
namespace {

const RegisterLayerUnit kToyRegistered{test::toy_unit()};

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// |gpu − cpu| ≤ atol + rtol·max|cpu| over the array, the first mismatches printed.
void expect_close(const char* what, const std::vector<float>& gpu, const std::vector<double>& cpu, double atol,
                  double rtol) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double scale = 0;
  for (double v : cpu) scale = std::max(scale, std::abs(v));
  int shown = 0;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(std::isfinite(gpu[i])) << what << "[" << i << "] is not finite";
    if (std::abs(gpu[i] - cpu[i]) > atol + rtol * scale && shown++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: gpu " << gpu[i] << ", cpu " << cpu[i] << " (scale " << scale << ")";
  }
}

class GpuLayerUnits : public ::testing::TestWithParam<test::UnitCase> {};

TEST_P(GpuLayerUnits, GpuModelMatchesCpuModel) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = test::unit_case_spec(GetParam());
  const ParamTable table(spec);
  const int B = 37;  // not a multiple of any block size
  const std::vector<double> x = test::unit_case_inputs(B, spec.inputs, 1);
  const std::vector<double> dpred = test::unit_case_inputs(B, spec.outputs, 2);
  const std::vector<double> params = test::unit_case_params(spec, table, 3);

  CpuModel<double> cpu(spec, table);
  std::vector<double> pred(static_cast<std::size_t>(B) * spec.outputs), grad(table.total());
  ASSERT_EQ(cpu.forward(params.data(), x.data(), B, pred.data()), kAllFinite);
  cpu.backward(params.data(), x.data(), dpred.data(), grad.data());

  Stream stream;
  CublasContext cublas(stream.get());
  GpuModel gpu(spec, table, cublas, B, Pass::kTraining);
  DeviceBuffer<float> d_params(table.total()), d_grad(table.total()), d_x(x.size()), d_dpred(dpred.size()),
      d_pred(pred.size());
  DeviceBuffer<int> flag(1);
  d_params.upload(to_float(params));
  d_x.upload(to_float(x));
  d_dpred.upload(to_float(dpred));
  d_pred.poison();
  d_grad.zero();  // frozen entries are never written: 0, as the CPU model gives them
  flag.upload({kNoNonFinite});
  gpu.forward(d_params.data(), d_x.data(), B, d_pred.data(), flag.data());
  gpu.backward(d_params.data(), d_x.data(), d_dpred.data(), d_grad.data());
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  EXPECT_EQ(flag.download()[0], kNoNonFinite);
  expect_close("pred", d_pred.download(), pred, 1e-5, 1e-4);
  const std::vector<float> g = d_grad.download();
  for (const ParamTensor& t : table.tensors())
    expect_close(t.name.c_str(), std::vector<float>(g.begin() + t.offset, g.begin() + t.offset + t.size),
                 std::vector<double>(grad.begin() + t.offset, grad.begin() + t.offset + t.size), 1e-5, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, GpuLayerUnits, ::testing::ValuesIn(test::all_unit_cases()),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace dynpmnn
