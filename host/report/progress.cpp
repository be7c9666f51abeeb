#include "host/report/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace dynpmnn {

namespace {

constexpr int kBarWidth = 10;

// Four decimals suit MSEs near 0.3-1; a diverging run's huge values switch to exponents.
std::string loss(double x) {
  return std::isfinite(x) && std::abs(x) < 1e4 ? fmt::format("{:.4f}", x) : fmt::format("{:.3g}", x);
}

std::string duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const long s = std::lround(seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
}

}  // namespace

ProgressStyle progress_style_for(std::FILE* stream) {
  return ::isatty(::fileno(stream)) ? ProgressStyle::kLiveLine : ProgressStyle::kPlainLines;
}

ProgressPrinter::ProgressPrinter(std::FILE* stream, ProgressStyle style)
    : stream_(stream), style_(style), start_(std::chrono::steady_clock::now()) {}

std::string ProgressPrinter::format_line(const EpochRecord& rec, int max_epochs, double best_val, int best_epoch,
                                         double seconds_per_epoch, ProgressStyle style) {
  const std::string best = best_epoch > 0 ? fmt::format("{}@{}", loss(best_val), best_epoch) : "-";
  if (style == ProgressStyle::kPlainLines)
    return fmt::format("epoch {}/{} train {} val {} best {} {:.3g} s{}", rec.epoch, max_epochs, loss(rec.train_loss),
                       loss(rec.val_mse), best, rec.seconds, rec.improved ? " *" : "");
  const int filled = max_epochs > 0 ? std::clamp(kBarWidth * rec.epoch / max_epochs, 0, kBarWidth) : kBarWidth;
  // An upper bound: early stopping may end the run sooner.
  const double eta = seconds_per_epoch * std::max(0, max_epochs - rec.epoch);
  return fmt::format("epoch {}/{} [{}{}] train {} val {} best {}  {:.3g} s/epoch  ETA {}", rec.epoch, max_epochs,
                     std::string(filled, '#'), std::string(kBarWidth - filled, '.'), loss(rec.train_loss),
                     loss(rec.val_mse), best, seconds_per_epoch, duration(eta));
}

void ProgressPrinter::on_epoch(const EpochRecord& rec, int max_epochs) {
  if (rec.improved) {
    best_val_ = rec.val_mse;
    best_epoch_ = rec.epoch;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line =
      format_line(rec, max_epochs, best_val_, best_epoch_, elapsed / std::max(rec.epoch, 1), style_);
  if (style_ == ProgressStyle::kLiveLine) {
    // Back to the line start, redraw, clear whatever the previous (longer) line left.
    fmt::print(stream_, "\r{}\x1b[K", line);
    line_open_ = true;
  } else {
    fmt::print(stream_, "{}\n", line);
  }
  std::fflush(stream_);
}

void ProgressPrinter::finish() {
  if (!line_open_) return;
  fmt::print(stream_, "\n");
  std::fflush(stream_);
  line_open_ = false;
}

void ObserverList::on_epoch(const EpochRecord& rec, int max_epochs) {
  for (TrainObserver* o : observers_) o->on_epoch(rec, max_epochs);
}

void ObserverList::on_best(const std::vector<double>& params, const EpochRecord& rec) {
  for (TrainObserver* o : observers_) o->on_best(params, rec);
}

void ObserverList::on_epoch_end(const TrainState& state, Backend& backend) {
  for (TrainObserver* o : observers_) o->on_epoch_end(state, backend);
}

void ObserverList::on_train_end(const TrainState& state, Backend& backend, bool diverged) {
  for (TrainObserver* o : observers_) o->on_train_end(state, backend, diverged);
}

}  // namespace dynpmnn
