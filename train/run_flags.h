// What the training commands' shared flags mean to the library: the data
// flags (--dataset, --data, --classes, --label-fraction or --data-fraction,
// ...), the model flags (--arch and its sizes) and the run flags (--seed,
// --out, --resume, --config, --threads, --device, --stop-after, the
// data-parallel ones), read into the library's options (train/data_setup.h,
// train/model_spec.h, train/run_setup.h). A flag a command does not declare
// keeps the options' default. The declarations and their --help texts are the
// command line's (tools/cli_common.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/flags.h"
#include "train/model_spec.h"
#include "train/run_setup.h"

namespace moco::train {

// The data the flags ask for (train_fraction: --label-fraction or
// --data-fraction as read by the command; seed: of the fractions).
DataOptions data_options(const Flags& a, double train_fraction, uint64_t seed, bool want_val = true);
// ... opened.
DataSetup open_data(const Flags& a, double train_fraction, uint64_t seed, bool want_val = true);

// Only the sizes of the kind of backbone --arch names are read, so a ResNet's
// --width means nothing to a ViT (and is not checked for it).
ModelSpec model_spec(const Flags& a, int img_size, int channels, int64_t num_classes);

// Flags not given on the command line take the checkpoint's model spec
// (--arch, --width, ... and --image-size), so a checkpoint alone suffices.
void adopt_model_flags(Flags& a, const Pretrained& p);

// --schedule's epochs (the step schedule's milestones).
std::vector<double> milestones(const Flags& a);
// The epoch this invocation stops after: --epochs, or earlier with --stop-after.
int64_t last_epoch(const Flags& a, int64_t start_epoch, int64_t epochs);

// Applies --threads and checks --device (a clear error when CUDA is not
// there). With --resume PATH (a checkpoint or a run folder) the checkpoint
// must be one this command writes; the run folder is that of the checkpoint
// (unless --out is given) and every flag not given on this command line is
// taken from the run's config.json, so `--resume DIR` alone continues the
// run; flags given (e.g. a larger --epochs) override. A new run's --out must
// be empty, unless --overwrite. With --config FILE, the flags not given take
// that run's values (its machine settings excepted). `resolve` (optional) then
// fills derived defaults, after the folder is known to be free and before the
// machine is set up; open() writes the resolved configuration to config.json.
RunSetup setup_run(Flags& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Flags&)>& resolve = {});

}  // namespace moco::train
