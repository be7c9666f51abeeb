// Checkpoints written by earlier versions still load and still mean the same model: the committed
// fuzz seeds fuzz/corpus/checkpoint/*.bin are real checkpoints (version 1, written before
// fhn_param_space existed). Each is loaded, its model rebuilt from the stored config alone and run
// forward on the CPU on raw California rows, through the stored scaler, as `dynpmnn predict` does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "data/california.h"
#include "host/io/checkpoint.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(DYNPMNN_SOURCE_DIR) / "fuzz" / "corpus" / "checkpoint";

// Three raw rows of cal_housing.data (lines 1, 2 and 10000), the last column (the target) dropped.
constexpr const char* kRows =
    "-122.23,37.88,41,880,129,322,126,8.3252\n"
    "-122.22,37.86,21,7099,1106,2401,1138,8.3014\n"
    "-121.0,39.09,7,439,84,246,80,3.0781\n";

struct OldCheckpoint {
  const char* file;
  const char* param_space;  // what the loader must read the stored FHN parameters as
  int layers, neurons, epochs_completed;
  // The best parameters' predictions on kRows (MedHouseVal, $100k), by the code that wrote them.
  std::vector<double> predictions;
};

// The predictions are what `dynpmnn predict` printed for these rows with each file as best.bin,
// built from 1b67f8f (the tree before the layer-unit refactor). Not golden bits: the Linear layers
// run through the BLAS, whose kernels differ by CPU in the last bits, so the tolerance is 1e-12
// relative, far below any change of the model's meaning (a parameter read as θ instead of its
// value, a changed default, a layer in another order).
const std::vector<OldCheckpoint> kOld = {
    {"neurons1_epoch2.bin", "physical", 1, 1, 2, {0.628676977333266, -0.28748660922911085, 0.6286893219049554}},
    // trains a, saved before fhn_param_space existed: the values themselves, so "raw".
    {"two_layers_epoch0.bin", "raw", 2, 2, 0, {0.3629417230194332, 0.3459357959467993, 0.4354979492505964}},
};

std::vector<double> predict(const Checkpoint& ck, const std::vector<double>& params) {
  const int features = static_cast<int>(ck.feature_names.size());
  const int outputs = ck.class_labels.empty() ? 1 : static_cast<int>(ck.class_labels.size());
  const ModelSpec spec = ck.config.model_spec(features, outputs);
  const ParamTable table(spec);
  EXPECT_EQ(table.total(), params.size());
  const Table raw = parse_california_inputs(kRows, "rows");
  std::vector<double> x = california_features(raw, "rows");
  ck.scaler.apply(x, features);
  const int rows = static_cast<int>(x.size()) / features;
  std::vector<double> pred(static_cast<std::size_t>(rows) * outputs, std::nan(""));
  CpuModel<double> model(spec, table);
  EXPECT_EQ(model.forward(params.data(), x.data(), rows, pred.data()), kAllFinite);
  return pred;
}

TEST(OldCheckpoint, EveryCommittedOneIsCovered) {
  std::vector<std::string> on_disk, covered;
  for (const auto& entry : fs::directory_iterator(kCorpus))
    if (entry.path().extension() == ".bin") on_disk.push_back(entry.path().filename().string());
  for (const auto& old : kOld) covered.push_back(old.file);
  std::sort(on_disk.begin(), on_disk.end());
  std::sort(covered.begin(), covered.end());
  EXPECT_EQ(on_disk, covered) << "a new checkpoint in " << kCorpus << " needs its row in kOld";
}

TEST(OldCheckpoint, LoadsRebuildsItsModelAndPredictsAsBefore) {
  for (const auto& old : kOld) {
    SCOPED_TRACE(old.file);
    const Checkpoint ck = load_checkpoint(kCorpus / old.file);
    EXPECT_EQ(ck.config.fhn_param_space, old.param_space);
    // Written before target_scaling existed: the raw target, as then.
    EXPECT_EQ(ck.config.target_scaling, "none");
    EXPECT_TRUE(ck.target_scaler.identity());
    EXPECT_EQ(ck.config.layers, old.layers);
    EXPECT_EQ(ck.config.neurons, old.neurons);
    EXPECT_EQ(ck.state.epoch, old.epochs_completed);
    EXPECT_EQ(ck.feature_names, california_feature_names());
    EXPECT_TRUE(ck.class_labels.empty());
    // The stored tensor list is the table the stored config builds today.
    const ParamTable table(ck.config.model_spec(static_cast<int>(ck.feature_names.size()), 1));
    const std::vector<CheckpointTensor> expected = checkpoint_tensors(table);
    ASSERT_EQ(ck.tensors.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(ck.tensors[i].name, expected[i].name) << i;
      EXPECT_EQ(ck.tensors[i].shape, expected[i].shape) << i;
      EXPECT_EQ(ck.tensors[i].trainable, expected[i].trainable) << i;
    }

    for (const double p : predict(ck, ck.params)) EXPECT_TRUE(std::isfinite(p));
    const std::vector<double> pred = predict(ck, ck.state.best_params);
    ASSERT_EQ(pred.size(), old.predictions.size());
    for (std::size_t i = 0; i < pred.size(); ++i) {
      EXPECT_TRUE(std::isfinite(pred[i])) << i;
      EXPECT_NEAR(pred[i], old.predictions[i], 1e-12 * std::abs(old.predictions[i])) << "row " << i;
    }
  }
}

}  // namespace
}  // namespace dynpmnn
