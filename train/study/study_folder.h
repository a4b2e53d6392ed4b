// A study's folder (`moco compare`, `moco ablate`): its flags come back from
// its config.json on --resume, one study writes it at a time, and a new study
// does not mix its runs with another's.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "train/flags.h"
#include "train/run_dir.h"

namespace moco::train {

// --resume DIR of a study: every flag not given again comes back from
// DIR/config.json (its machine's threads and device too: the same study on
// the same machine), and --out defaults to DIR. `kind` names the study in the
// message when DIR is not one ("compare", "ablation").
void resume_study_flags(Flags& a, const std::string& kind);

// The study's folder for this process: locked (one study per folder), and
// empty unless the study is resumed or --overwrite was given. The lock holds
// while `lock` lives. Then DIR/config.json: the flags (typed), the command
// line that started the study (`kind` is the command; a resumed study keeps
// the first) and the machine's threads and device. Returns the command
// line(s) for the report: the first, and this one when resumed.
std::string start_study(const Flags& a, const std::string& kind, const std::vector<std::string>& argv,
                        std::unique_ptr<RunLock>& lock);

// Sets --threads and checks --device, so a missing CUDA fails before the first run, not in it.
void use_machine(const Flags& a);

}  // namespace moco::train
