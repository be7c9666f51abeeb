#include "host/training/class_metrics.h"

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/loss.h"
#include "kernels/loss_math.h"

namespace dynpmnn {

std::vector<int> predicted_classes(const std::vector<double>& logits, int K) {
  if (K <= 0 || logits.size() % static_cast<std::size_t>(K) != 0)
    throw std::invalid_argument("predicted_classes: " + std::to_string(logits.size()) + " logits for " +
                                std::to_string(K) + " classes");
  std::vector<int> classes(logits.size() / static_cast<std::size_t>(K));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const double* row = logits.data() + i * static_cast<std::size_t>(K);
    int best = 0;
    for (int k = 1; k < K; ++k)
      if (row[k] > row[best]) best = k;
    classes[i] = best;
  }
  return classes;
}

double macro_f1(const std::vector<long>& confusion, int K) {
  if (K <= 0 || confusion.size() != static_cast<std::size_t>(K) * K)
    throw std::invalid_argument("macro_f1: a confusion matrix of " + std::to_string(confusion.size()) +
                                " entries for " + std::to_string(K) + " classes");
  double sum = 0;
  int present = 0;
  for (int k = 0; k < K; ++k) {
    long true_k = 0, predicted_k = 0;
    for (int j = 0; j < K; ++j) {
      true_k += confusion[static_cast<std::size_t>(k) * K + j];
      predicted_k += confusion[static_cast<std::size_t>(j) * K + k];
    }
    if (true_k == 0 && predicted_k == 0) continue;
    const double tp = static_cast<double>(confusion[static_cast<std::size_t>(k) * K + k]);
    sum += 2.0 * tp / static_cast<double>(true_k + predicted_k);  // 2TP + FP + FN = true + predicted
    ++present;
  }
  return present ? sum / present : 0.0;
}

ClassMetrics classification_metrics(const std::vector<double>& logits, const std::vector<double>& labels, int K) {
  ClassMetrics m;
  m.classes = K;
  m.confusion.assign(static_cast<std::size_t>(K) * K, 0);
  const std::size_t rows = labels.size();
  if (logits.size() != rows * static_cast<std::size_t>(K))
    throw std::invalid_argument("classification_metrics: " + std::to_string(logits.size()) + " logits for " +
                                std::to_string(rows) + " rows of " + std::to_string(K) + " classes");
  if (rows == 0) return m;
  const std::vector<int> predicted = predicted_classes(logits, K);
  long correct = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    const int k = class_of_label(labels[i], K);
    if (k < 0) throw std::invalid_argument("classification_metrics: label " + std::to_string(labels[i]) +
                                           " is not a class index below " + std::to_string(K));
    ++m.confusion[static_cast<std::size_t>(k) * K + predicted[i]];
    correct += k == predicted[i];
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(rows);
  m.macro_f1 = macro_f1(m.confusion, K);
  m.loss = softmax_cross_entropy_cpu(logits.data(), labels.data(), static_cast<int>(rows), K,
                                     static_cast<double*>(nullptr));
  return m;
}

}  // namespace dynpmnn
