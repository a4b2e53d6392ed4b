#include "train/stop_signal.h"

#include <atomic>

namespace moco::train {

namespace {
std::atomic<int> g_requested{0};

extern "C" void on_stop_signal(int sig) {
  if (g_requested.load() != 0) {  // the second: no more waiting for the step
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_requested.store(sig);
}
}  // namespace

StopSignals::StopSignals() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a read in the data loader goes on; the loop checks between steps
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  g_requested.store(0);  // a request ends with the run it stopped
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::requested() { return g_requested.load(); }

void StopSignals::request(int sig) { on_stop_signal(sig); }

}  // namespace moco::train
