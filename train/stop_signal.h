// Ctrl-C (SIGINT) and SIGTERM end a training run cleanly: the first asks the
// loop to stop after the step it is in, which then writes a checkpoint that
// --resume continues from that very step; a second signal ends the process at
// once, as it would without the handler. Exit status 128 + the signal (130,
// 143), as a shell reports a process the signal killed.
#pragma once
#include <signal.h>

namespace moco::train {

class StopSignals {
 public:
  StopSignals();   // installs the handlers
  ~StopSignals();  // puts the previous handlers back and clears the request
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static int requested();  // 0, or the signal that asked to stop
  static void request(int sig);  // what the handler does (and tests)

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

inline int stop_exit_code(int sig) { return 128 + sig; }

}  // namespace moco::train
