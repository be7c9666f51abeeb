// Classification metrics, computed on the host from a backend's predictions (logits): the mean
// cross-entropy that early stopping watches, accuracy and macro F1 from the confusion matrix.
#pragma once

#include <vector>

namespace dynpmnn {

struct ClassMetrics {
  double loss = 0;      // mean softmax cross-entropy
  double accuracy = 0;  // fraction of rows whose largest logit is their class
  double macro_f1 = 0;  // unweighted mean of the per-class F1 (see macro_f1)
  int classes = 0;
  std::vector<long> confusion;  // (K, K): rows true class, columns predicted class
};

// The class of each row's largest logit (the first one on a tie). logits: (rows, K).
std::vector<int> predicted_classes(const std::vector<double>& logits, int K);

// Per-class F1 = 2·TP / (2·TP + FP + FN), averaged over the classes that occur as true or
// predicted class (scikit-learn's f1_score(average="macro") over the labels present).
double macro_f1(const std::vector<long>& confusion, int K);

// logits (rows, K), labels (rows) class indices; all zero for no rows.
ClassMetrics classification_metrics(const std::vector<double>& logits, const std::vector<double>& labels, int K);

}  // namespace dynpmnn
