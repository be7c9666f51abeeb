#include "host/runtime/population.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>

namespace dynpmnn {
namespace {

class MemberPopulation final : public PopulationBackend {
 public:
  MemberPopulation(std::vector<std::unique_ptr<Backend>> owned, std::vector<Backend*> members, int threads)
      : owned_(std::move(owned)), members_(std::move(members)), threads_(threads) {
    if (members_.empty()) throw std::invalid_argument("population: no models");
    if (threads_ < 1) throw std::invalid_argument("population: threads must be >= 1");
  }

  int size() const override { return static_cast<int>(members_.size()); }
  std::string name() const override { return members_[0]->name(); }
  Backend& member(int m) override { return *members_.at(static_cast<std::size_t>(m)); }

  std::vector<EpochStats> train_epochs(std::span<const int> epochs) override {
    if (epochs.size() != members_.size())
      throw std::invalid_argument("population: train_epochs got " + std::to_string(epochs.size()) +
                                  " epoch numbers for " + std::to_string(members_.size()) + " models");
    std::vector<EpochStats> stats(members_.size());
    std::vector<int> todo;
    for (std::size_t m = 0; m < members_.size(); ++m)
      if (epochs[m] > 0) todo.push_back(static_cast<int>(m));
    const auto train = [&](int m) {
      const auto t0 = std::chrono::steady_clock::now();
      stats[m] = members_[m]->train_epoch(epochs[m]);
      stats[m].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const int workers = std::min<int>(threads_, static_cast<int>(todo.size()));
    if (workers <= 1) {
      for (int m : todo) train(m);
      return stats;
    }
    // Models are independent objects: any thread may train any of them. The first exception (out
    // of memory, say) is rethrown here once every thread has stopped.
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    const auto worker = [&] {
      for (std::size_t i; !failed && (i = next++) < todo.size();) {
        try {
          train(todo[i]);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    return stats;
  }

 private:
  std::vector<std::unique_ptr<Backend>> owned_;
  std::vector<Backend*> members_;
  int threads_;
};

}  // namespace

std::unique_ptr<PopulationBackend> make_member_population(std::vector<std::unique_ptr<Backend>> members,
                                                          int threads) {
  std::vector<Backend*> raw;
  for (const auto& b : members) {
    if (!b) throw std::invalid_argument("population: a null backend");
    raw.push_back(b.get());
  }
  return std::make_unique<MemberPopulation>(std::move(members), std::move(raw), threads);
}

std::unique_ptr<PopulationBackend> make_single_population(Backend& backend) {
  return std::make_unique<MemberPopulation>(std::vector<std::unique_ptr<Backend>>{}, std::vector<Backend*>{&backend},
                                            1);
}

}  // namespace dynpmnn
