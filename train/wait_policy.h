// OpenMP's wait policy for a training command, chosen before libgomp starts:
// run from the executable's .preinit_array (tools/main.cpp says why), with
// only system calls and the argv / envp handed to it.
#pragma once

namespace moco::train {

// Unless envp sets OMP_WAIT_POLICY, restarts this program (execve of
// /proc/self/exe with argv) with ACTIVE when the machine is idle, else
// PASSIVE. Returns only when it did not restart.
void restart_with_wait_policy(char** argv, char** envp);

}  // namespace moco::train
