// Trains a small DynPMNN on a CSV file through dynpmnn's embedding API, loads the run folder's best
// model and prints its predictions for the rows of a second CSV file, one a line.
//
//   dynpmnn_consumer TRAIN.csv TARGET RUN_DIR INPUT.csv
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/share_dir.h"
#include "host/embed/embed.h"

namespace {

// The named columns of a CSV file with a header row, row-major.
std::vector<double> read_columns(const std::string& path, const std::vector<std::string>& names, int& rows) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream head(line);
  for (std::string cell; std::getline(head, cell, ',');) header.push_back(cell);
  std::vector<int> pick;
  for (const std::string& name : names) {
    int at = -1;
    for (int j = 0; j < static_cast<int>(header.size()); ++j)
      if (header[j] == name) at = j;
    if (at < 0) throw std::runtime_error(path + ": no column " + name);
    pick.push_back(at);
  }
  std::vector<double> values;
  rows = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) row.push_back(std::stod(cell));
    for (int j : pick) values.push_back(row.at(j));
    ++rows;
  }
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s TRAIN.csv TARGET RUN_DIR INPUT.csv\n", argv[0]);
    return 2;
  }
  try {
    if (std::getenv(dynpmnn::kShareDirEnvVar) == nullptr) dynpmnn::set_share_dir(DYNPMNN_CONSUMER_SHARE_DIR);
    const std::string summary =
        dynpmnn::train("", {"data=" + std::string(argv[1]), "target=" + std::string(argv[2]), "neurons=3",
                            "dt=0.1", "t_end=1", "epochs=2", "patience=0", "device=cpu", "seed=3"},
                       argv[3]);
    std::fprintf(stderr, "trained: %s\n", summary.c_str());
    dynpmnn::Predictor model = dynpmnn::Predictor::load(argv[3], "cpu");
    int rows = 0;
    const std::vector<double> x = read_columns(argv[4], model.feature_names(), rows);
    for (double y : model.predict(x, rows)) std::printf("%.17g\n", y);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dynpmnn_consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
