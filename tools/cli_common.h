// What the training subcommands share: the declarations of the data flags
// (--dataset, --data, --classes, --label-fraction, ...), the model flags
// (--arch and its sizes) and the run flags (--seed, --out, --resume, --config,
// --threads, --device), which the library reads (train/run_flags.h), and what
// the commands print of a run's start and stop.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "nn/module.h"
#include "tools/args.h"
#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/dist.h"
#include "train/hooks.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/model_spec.h"
#include "train/run_config.h"
#include "train/run_dir.h"
#include "train/run_flags.h"
#include "train/run_setup.h"

namespace moco::cli {

// The training library's names, used unqualified by the commands.
using namespace moco::train;

// ------------------------------------------------------------------ data
// --dataset --data --classes --image-size --channels --val-fraction
// --max-image-pixels --skip-bad-images --workers, and --label-fraction
// (supervised commands) or --data-fraction (pretraining).
void add_data_flags(Args& a, bool supervised);

// ----------------------------------------------------------------- models
// --arch --width --stem --patch-size --vit-depth --vit-dim --vit-heads
void add_model_flags(Args& a);

// -------------------------------------------------------------- run flags
// --seed --out --resume --config --overwrite --threads --device --stop-after
void add_run_flags(Args& a, const std::string& default_out);

// "  resumed from FILE after epoch E[ and step S of epoch E+1]", from the checkpoint's metadata.
void print_resumed(const std::string& checkpoint, int64_t epoch, const std::map<std::string, std::string>& meta);
// After a stop signal: prints where the run stopped and the command that
// continues it; returns the exit status (130 for SIGINT, 143 for SIGTERM).
int stopped_run(const std::string& command, const std::string& dir, const RunEnd& end);

// Continues `trainer` from the checkpoint being resumed (if any), opens the
// run folder (with the list of images --skip-bad-images left out) and says
// where the run resumed.
template <class Trainer>
RunDir& begin_run(RunSetup& run, const DataSetup& d, Trainer& trainer) {
  Checkpoint resumed;
  if (!run.resume_from.empty()) {
    resumed = load_checkpoint(run.resume_from);
    trainer.resume(resumed);
  }
  RunDir& dir = run.open();
  if (const std::string f = d.write_skipped(dir); !f.empty())
    std::printf("  %zu unreadable images left out (--skip-bad-images): listed in %s\n", d.skipped_images.size(),
                f.c_str());
  if (!run.resume_from.empty()) print_resumed(run.resume_from, trainer.start_epoch(), resumed.meta);
  return dir;
}

// -------------------------------------------------------------- helpers
std::string fmt_duration(double seconds);

}  // namespace moco::cli
