// What the training subcommands share: the data flags (--dataset, --data,
// --classes, --label-fraction, ...), the model flags (--arch and its sizes)
// and the run flags (--seed, --out, --resume, --config, --threads, --device),
// read into the library's options (train/data_setup.h, train/model_spec.h,
// train/run_setup.h), and what the commands print of a run's start and stop.
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
#include "train/run_setup.h"

namespace moco::cli {

// The training library's names, used unqualified by the commands.
using namespace moco::train;

// ------------------------------------------------------------------ data
// --dataset --data --classes --image-size --channels --val-fraction
// --max-image-pixels --skip-bad-images --workers, and --label-fraction
// (supervised commands) or --data-fraction (pretraining).
void add_data_flags(Args& a, bool supervised);
// The data the flags ask for (train_fraction: --label-fraction or
// --data-fraction as read by the command; seed: of the fractions), opened.
train::DataSetup open_data(const Args& a, double train_fraction, uint64_t seed, bool want_val = true);
// ... and the options themselves (the flags a command does not declare keep their defaults).
train::DataOptions data_options(const Args& a, double train_fraction, uint64_t seed, bool want_val = true);


// ----------------------------------------------------------------- models
// --arch --width --stem --patch-size --vit-depth --vit-dim --vit-heads
void add_model_flags(Args& a);

ModelSpec model_spec(const Args& a, int img_size, int channels, int64_t num_classes);
// -------------------------------------------------------------- run flags
// --seed --out --resume --config --overwrite --threads --device --stop-after
void add_run_flags(Args& a, const std::string& default_out);
// --schedule's epochs (the step schedule's milestones).
std::vector<double> milestones(const Args& a);
// The epoch this invocation stops after: --epochs, or earlier with --stop-after.
int64_t last_epoch(const Args& a, int64_t start_epoch, int64_t epochs);

// Applies --threads and checks --device (a clear error when CUDA is not
// there). With --resume PATH (a checkpoint or a run folder) the checkpoint
// must be one this command writes; the run folder is that of the checkpoint
// (unless --out is given) and every flag not given on this command line is
// taken from the run's config.json, so `--resume DIR` alone continues the
// run; flags given (e.g. a larger --epochs) override. A new run's --out must
// be empty, unless --overwrite. With --config FILE, the flags not given take
// that run's values (its machine settings excepted). `resolve` (optional) then fills derived
// defaults; open() writes the resolved configuration to config.json.
RunSetup setup_run(Args& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Args&)>& resolve = {});
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

// Flags not given on the command line take the checkpoint's model spec
// (--arch, --width, ... and --image-size), so a checkpoint alone suffices.
void adopt_model_flags(Args& a, const Pretrained& p);

// -------------------------------------------------------------- helpers
std::string fmt_duration(double seconds);

}  // namespace moco::cli
