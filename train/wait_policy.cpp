#include "train/wait_policy.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace moco::train {

namespace {

// Runnable tasks in the whole system now, this process included
// (/proc/loadavg's fourth field, "running/total"); -1 if unreadable.
int runnable_now() {
  const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = buf;
  for (int field = 0; field < 3 && p; ++field) {
    p = std::strchr(p, ' ');
    if (p) ++p;
  }
  if (p == nullptr || *p < '0' || *p > '9') return -1;
  int running = 0;
  for (; *p >= '0' && *p <= '9'; ++p) running = running * 10 + (*p - '0');
  return running;
}

// Whether this process has the machine to itself: in at least 4 of 5 looks,
// 1 ms apart, nothing else was ready to run. A process started beside this
// one (the other end of a pipe) is runnable for a millisecond or two, which
// one look may catch; a busy machine shows in every look, so there the second
// busy look ends it (a wake-up from sleep is slow on a busy machine).
bool machine_is_idle() {
  int busy = 0;
  for (int i = 0; i < 5; ++i) {
    if (i > 0) {
      const timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
    }
    const int running = runnable_now();
    if (running < 1) return false;  // unreadable: assume busy
    if (running > 1 && ++busy > 1) return false;
  }
  return true;
}

}  // namespace

void restart_with_wait_policy(char** argv, char** envp) {
  size_t n = 0;
  for (; envp[n] != nullptr; ++n)
    if (std::strncmp(envp[n], "OMP_WAIT_POLICY=", 16) == 0) return;  // the user's choice
  static char active[] = "OMP_WAIT_POLICY=ACTIVE";
  static char passive[] = "OMP_WAIT_POLICY=PASSIVE";
  static char* env[4096];
  if (n + 2 > sizeof env / sizeof env[0]) return;
  for (size_t i = 0; i < n; ++i) env[i] = envp[i];
  env[n] = machine_is_idle() ? active : passive;
  env[n + 1] = nullptr;
  execve("/proc/self/exe", argv, env);  // returns only on failure: then carry on as we are
}

}  // namespace moco::train
