// config.json of a run (or study) folder: what ran, when and with which
// build, and the resolved values of its flags, typed (switches as booleans,
// numbers as numbers) so that a program can read them and `--config FILE`
// can run the same configuration again. The machine's settings (threads,
// device) are recorded apart and never read back: they belong to where a run
// ran, not to what it is.
#pragma once
#include <map>
#include <set>
#include <string>

namespace moco::train {

struct RunConfig {
  std::string command;  // the command line that started the run
  std::string kind;     // pretrain | train | linear | finetune | compare | ablate
  std::map<std::string, std::string> flags;  // flag -> value as the command line spells it ("1"/"0" for switches)
  std::set<std::string> switches;            // the flags that are on/off switches
  std::map<std::string, std::string> machine;  // threads, device
  std::string resumed_with;  // the latest `--resume` command line, when resumed
  std::string started;       // UTC, ISO 8601; write() fills it when empty
  std::string version, commit;  // of the build that wrote it; write() fills them
};

// Writes `c` to `path` atomically (format 2: the typed layout).
void write_run_config(const std::string& path, RunConfig c);
// Reads a config.json: format 2, or format 1 (the flat layout of older
// versions: every flag a string beside "command"). A clear error naming the
// file when it is missing or not such a file.
RunConfig read_run_config(const std::string& path);

std::string build_version();  // the project's version (CMake's project VERSION)
std::string build_commit();   // the git commit the build was configured at ("unknown" outside git)
std::string utc_now_iso();    // e.g. 2026-11-29T11:30:00Z

}  // namespace moco::train
