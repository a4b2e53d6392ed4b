#include "tools/progress.h"

#include "train/dist.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace moco::cli {

Progress::Progress(std::string label, int64_t total_steps, int64_t items_per_step, int64_t done)
    : label_(std::move(label)), total_(total_steps), items_per_step_(items_per_step), count_(done), done_(done),
      start_(std::chrono::steady_clock::now()), last_draw_(start_), tty_(isatty(fileno(stderr)) != 0) {}

double Progress::items_per_second() const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? double((count_ - done_) * items_per_step_) / s : 0;
}

void Progress::step(const std::vector<std::pair<std::string, double>>& values) {
  ++count_;
  values_ = values;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if ((tty_ && since > 0.2) || (!tty_ && since > 10) || count_ == total_) {
    last_draw_ = now;
    draw(false);
  }
}

static std::string hms(double s) {
  const int64_t t = int64_t(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{:02}:{:02}", t / 60, t % 60);
}

void Progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? double(count_) / double(total_) : 0;
  const int width = 20, filled = int(frac * width);
  std::string bar = std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.');
  std::string vals;
  for (auto& [k, v] : values_) vals += fmt::format(" {} {:.4g}", k, v);
  const double eta = count_ > done_ ? elapsed / double(count_ - done_) * double(total_ - count_) : 0;
  std::string line = fmt::format("{} [{}] {}/{}{} | {:.1f} img/s | {} {}", label_, bar, count_, total_, vals,
                                 items_per_second(), final ? "took" : "ETA", hms(final ? elapsed : eta));
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

double Progress::done() {
  if (tty_ || count_ != total_) draw(true);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

train::TrainingHooks progress_hooks() {
  if (!train::world().is_writer()) return {};  // one bar, rank 0's
  auto bar = std::make_shared<std::unique_ptr<Progress>>();
  train::TrainingHooks h;
  h.begin = [bar](const std::string& label, int64_t steps, int64_t batch, int64_t done) {
    *bar = std::make_unique<Progress>(label, steps, batch, done);
  };
  h.step = [bar](const train::MetricsRow& shown) {
    if (*bar) (*bar)->step(shown);
  };
  h.end = [bar] {
    if (*bar) (*bar)->done();
    bar->reset();
  };
  return h;
}

}  // namespace moco::cli
