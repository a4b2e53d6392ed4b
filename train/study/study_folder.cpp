#include "train/study/study_folder.h"

#include <fmt/format.h>

#include <filesystem>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/run_config.h"
#include "train/run_setup.h"

namespace moco::train {

void resume_study_flags(Flags& a, const std::string& kind) {
  const std::string dir = a.str("resume");
  MOCO_USAGE_CHECK(std::filesystem::is_regular_file(dir + "/config.json"),
                   "--resume {}: not a{} {} folder (no config.json)", dir,
                   kind.find_first_of("aeiou") == 0 ? "n" : "", kind);
  const RunConfig c = read_run_config(dir + "/config.json");
  for (const auto* m : {&c.flags, &c.machine})
    for (auto& [k, v] : *m)
      if (k != "resume" && k != "overwrite" && a.has(k) && !a.given(k)) a.set_from_run(k, v);
  if (!a.given("out")) a.set("out", dir);
}

std::string start_study(const Flags& a, const std::string& kind, const std::vector<std::string>& argv,
                        std::unique_ptr<RunLock>& lock) {
  const std::string dir = a.str("out");
  lock = std::make_unique<RunLock>(dir);
  const std::vector<std::string> e = folder_entries(dir);
  MOCO_USAGE_CHECK(e.empty() || !a.str("resume").empty() || a.on("overwrite"),
                   "--out {} already holds files ({}): continue that study with --resume {}, redo it with "
                   "--overwrite, or choose another --out",
                   dir, fmt::join(e, ", "), dir);
  const RunDir out(dir);
  std::string command = command_line(kind, argv);
  if (!a.str("resume").empty()) {  // the report shows the command that started the study, and this one
    const std::string first = read_run_config(out.file("config.json")).command;
    if (!first.empty() && first.find("--resume") == std::string::npos)
      command = first + "\n" + command_line(kind, argv) + "   # resumed";
  }
  RunConfig c;
  c.kind = kind;
  c.command = command.substr(0, command.find('\n'));
  for (auto& [k, v] : a.values()) {
    if (k == "overwrite") continue;
    if (k == "threads" || k == "device") {
      c.machine[k] = v;
      continue;
    }
    c.flags[k] = v;
    if (a.is_switch(k)) c.switches.insert(k);
  }
  write_run_config(out.file("config.json"), c);
  return command;
}

void use_machine(const Flags& a) {
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device device = Device::parse(a.str("device"));
  if (!device.is_cpu()) (void)backend_for(device);
}

}  // namespace moco::train
