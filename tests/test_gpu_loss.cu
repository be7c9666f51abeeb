// The softmax cross-entropy kernel (kernels/loss.cu) against the CPU reference (kernels/loss.cpp),
// and the CUDA backend training a classifier against the CPU backend.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "host/runtime/backend.h"
#include "kernels/loss.h"
#include "kernels/loss_gpu.h"
#include "models/dynpmnn.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"

namespace dynpmnn {
namespace {

using test::all_close;
using test::poisoned;
using test::to_device;

std::vector<float> class_labels(std::mt19937& gen, int B, int K) {
  std::uniform_int_distribution<int> pick(0, K - 1);
  std::vector<float> y(static_cast<std::size_t>(B));
  for (float& v : y) v = static_cast<float>(pick(gen));
  return y;
}

TEST(SoftmaxCrossEntropyGpu, MatchesCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  // Batches below, at and above the block of 256 threads; two classes up to many; logits from tame
  // to large enough that a naive exp would overflow in float.
  for (const auto [B, K, scale] : {std::tuple{1, 2, 1.0}, std::tuple{7, 3, 3.0}, std::tuple{256, 3, 1.0},
                                   std::tuple{1000, 10, 5.0}, std::tuple{33, 2, 200.0}}) {
    SCOPED_TRACE("B=" + std::to_string(B) + " K=" + std::to_string(K) + " scale=" + std::to_string(scale));
    std::mt19937 gen(static_cast<unsigned>(B * 31 + K));
    const auto logits = test::uniform_floats(gen, static_cast<std::size_t>(B) * K, -scale, scale);
    const auto labels = class_labels(gen, B, K);
    // The reference in double from the very float inputs.
    const auto logits_d = test::convert<double>(logits), labels_d = test::convert<double>(labels);
    std::vector<double> dref(logits.size());
    const double loss_ref = softmax_cross_entropy_cpu(logits_d.data(), labels_d.data(), B, K, dref.data());
    auto l_buf = to_device(logits), y_buf = to_device(labels), d_buf = poisoned(logits.size());
    DeviceBuffer<double> loss(1);
    loss.poison();
    softmax_cross_entropy_gpu(l_buf.data(), y_buf.data(), B, K, d_buf.data(), loss.data(), 0);
    test::sync_and_check();
    // Each row's math is loss_math.h's in double on both sides; only exp/log's last bits and the
    // summation order differ.
    EXPECT_TRUE(all_close("dlogits", d_buf.download(), dref, 1e-7 / B, 1e-6, {}, static_cast<std::size_t>(K)));
    const double got = loss.download()[0];
    EXPECT_TRUE(std::isfinite(got));
    EXPECT_NEAR(got, loss_ref, 1e-12 * std::abs(loss_ref) + 1e-14);

    // Deterministic: a second run gives the same bits.
    auto d2 = poisoned(logits.size());
    DeviceBuffer<double> loss2(1);
    softmax_cross_entropy_gpu(l_buf.data(), y_buf.data(), B, K, d2.data(), loss2.data(), 0);
    test::sync_and_check();
    EXPECT_TRUE(test::bitwise_equal("dlogits rerun", d2.download(), d_buf.download()));
    EXPECT_EQ(loss2.download()[0], got);
  }
}

TEST(SoftmaxCrossEntropyGpu, BadLabelGivesNaNAndBadArgumentsThrow) {
  DYNPMNN_REQUIRE_GPU();
  const std::vector<float> logits = {1, 2, 3, 4, 5, 6};
  const std::vector<float> labels = {0, 3};  // 3 is no class of K = 3
  auto l_buf = to_device(logits), y_buf = to_device(labels), d_buf = poisoned(6);
  DeviceBuffer<double> loss(1);
  softmax_cross_entropy_gpu(l_buf.data(), y_buf.data(), 2, 3, d_buf.data(), loss.data(), 0);
  test::sync_and_check();
  EXPECT_TRUE(std::isnan(loss.download()[0]));
  const auto d = d_buf.download();
  EXPECT_TRUE(std::isfinite(d[0]) && std::isfinite(d[2]));
  EXPECT_TRUE(std::isnan(d[3]) && std::isnan(d[5]));
  EXPECT_THROW(softmax_cross_entropy_gpu(l_buf.data(), y_buf.data(), 2, 3, d_buf.data(), nullptr, 0),
               std::invalid_argument);
  EXPECT_THROW(softmax_cross_entropy_gpu(l_buf.data(), y_buf.data(), 2, 0, d_buf.data(), loss.data(), 0),
               std::invalid_argument);
}

// Two Gaussian blobs per class around K centres in 4 dimensions, standardised enough as they are.
SplitData blobs(int K, int train_rows, int eval_rows, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 0.7);
  auto make = [&](int rows) {
    Dataset d;
    d.rows = rows;
    d.features = 4;
    d.targets = 1;
    for (int r = 0; r < rows; ++r) {
      const int k = r % K;
      for (int f = 0; f < 4; ++f) d.x.push_back((f == k % 4 ? 2.0 : 0.0) * (k < 4 ? 1 : -1) + normal(gen));
      d.y.push_back(k);
    }
    return d;
  };
  SplitData s;
  s.train = make(train_rows);
  s.val = make(eval_rows);
  s.test = make(eval_rows);
  for (int k = 0; k < K; ++k) s.class_labels.push_back(std::to_string(k));
  return s;
}

TEST(CudaBackendClassification, EpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  LayerSpec layer;
  layer.units = 5;
  layer.dt = 0.1;
  layer.t_end = 2.0;
  ModelSpec spec;
  spec.inputs = 4;
  spec.outputs = 3;
  spec.layers = {layer};
  TrainHyper hyper;
  hyper.batch_size = 32;
  hyper.adam.lr = 5e-3;
  hyper.loss = Loss::kSoftmaxCrossEntropy;
  const SplitData data = blobs(3, 700, 150, 9);  // 21 full batches and one of 28
  const ParamTable table(spec);
  std::vector<double> p0(table.total());
  init_params(spec, table, 4, p0);
  // Mean batch cross-entropies near log 3, so 1e-3 relative; parameters within the tolerance of
  // backend_test_util.h (Adam does not see the gradient's scale; the kernel test above checks that).
  const auto [cpu, gpu] = test::train_both_and_compare(spec, hyper, data, p0, 2, 22, 1e-3);
  EXPECT_LT(cpu->train_epoch(3).train_loss, std::log(3.0));  // it learns
  // Logits of the GPU's forward against the CPU's with the GPU-trained weights.
  std::vector<double> pg(table.total());
  gpu->get_params(pg);
  auto cpu_same = make_cpu_backend(spec, hyper);
  cpu_same->set_data(data);
  cpu_same->set_params(pg);
  for (Split split : {Split::kVal, Split::kTest}) {
    const auto ref = cpu_same->predict(split);
    const auto got = gpu->predict(split);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(150 * 3));
    EXPECT_TRUE(all_close("logits", test::convert<float>(got), ref, 1e-5, 1e-4, {}, 3));
  }
}

}  // namespace
}  // namespace dynpmnn
