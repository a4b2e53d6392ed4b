// What the training subcommands share: the data flags (--dataset, --data,
// --classes, --label-fraction, ...), the model flags (--arch and its sizes),
// the run flags (--seed, --out, --resume, --threads, --device), checkpoints
// (one safetensors file per run, written atomically every epoch) and loading
// a pretrained backbone from any of our checkpoints or a plain state dict.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "nn/module.h"
#include "tools/args.h"
#include "tools/run_dir.h"

namespace moco::cli {

// ------------------------------------------------------------------ data
// --dataset --data --classes --image-size --channels --val-fraction
// --max-image-pixels --skip-bad-images --workers, and --label-fraction
// (supervised commands) or --data-fraction (pretraining).
void add_data_flags(Args& a, bool supervised);

struct DataSetup {
  std::string spec;  // as data::open_dataset reads it, e.g. "fashion-mnist" or "cifar10:/data/cifar"
  data::DatasetPtr train, val;  // val = the test split (the official scripts' val), same classes
  std::vector<std::string> classes;  // names of the classes in use, in label order
  int size = 0, channels = 0;        // model input: size x size, channels
  data::NormStats norm;
  int workers = 2;
  data::OpenOptions open;  // how the splits were opened (--val-fraction): open_dataset(spec, split, open) reopens them
  std::vector<std::string> skipped_images;  // --skip-bad-images: the files left out, for the run folder
  std::string describe() const;  // one line for logs and reports
  std::string sources() const;   // where the images come from: the files or folders of each split
  // skipped_images.txt in the run folder, when --skip-bad-images left any out.
  void write_skipped(const RunDir& dir) const;
};
// Opens the train and val splits with the chosen classes; `train_fraction`
// keeps that fraction of each class of the train split (seeded). With
// want_val = false the val split is not opened. The input size and channels
// not given by flags come from a sample of the training images (the median
// short side, colour when any sampled image has colour); every image is
// converted to them by the transforms.
DataSetup open_data(const Args& a, double train_fraction, uint64_t seed, bool want_val = true);
// "0,2,4,6" or "T-shirt/top,Pullover" -> the subset with labels 0..k-1 in that order.
data::DatasetPtr select_classes(data::DatasetPtr ds, const std::string& classes);
// A comma-separated flag value as its items, spaces around them trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& s);
// The transform options (size, channels, normalisation) of the set-up's model input.
data::PresetOptions preset_options(const DataSetup& d);
// At most `max` images of `ds` (a seeded, per-class subset); all of them for max <= 0.
data::DatasetPtr cap_images(data::DatasetPtr ds, int64_t max, uint64_t seed);
// The tensor on `d`, without a copy when it is already there.
Tensor to_device(const Tensor& t, Device d);

// ----------------------------------------------------------------- models
// --arch --width --stem --patch-size --vit-depth --vit-dim --vit-heads
void add_model_flags(Args& a);

struct ModelSpec {
  std::string arch = "resnet18";  // resnet18|resnet34|resnet50|vit_tiny|vit_small|vit_base
  int64_t width = 64;             // ResNet: channels of layer1
  bool small_stem = true;         // ResNet: 3x3 stride-1 conv1, no max-pool
  int64_t patch = 4, depth = 12, dim = 192, heads = 3;  // ViT
  int64_t in_chans = 3, img_size = 32, num_classes = 10;
  bool stop_grad_conv1 = false;     // ViT: frozen random patch projection (MoCo v3)
  bool zero_init_residual = false;  // ResNet: MoCo v3 builds its ResNet this way
  bool stem_default_init = false;   // ResNet: conv1 with PyTorch's default init (the CIFAR-10 demo)

  bool is_vit() const { return arch.rfind("vit", 0) == 0; }
  std::string head() const { return is_vit() ? "head" : "fc"; }
  std::string describe() const;
  std::string outputs() const;  // "4 classes" or "features only"
  std::map<std::string, std::string> to_meta() const;  // into checkpoint metadata
  static ModelSpec from_meta(const std::map<std::string, std::string>& meta);
};
ModelSpec model_spec(const Args& a, int img_size, int channels, int64_t num_classes);
std::shared_ptr<nn::Module> make_backbone(const ModelSpec& s);
// The backbone's parameter count without building it: a polynomial of
// degree 2 in the ResNet's width or the ViT's dimension, fitted exactly from
// three tiny builds.
double count_parameters(const ModelSpec& s);
// Refuses (a usage error with the numbers) a model whose weights, times
// `copies` (gradients, optimiser state, a key encoder), plus the activations
// of `batch` images would not fit in the memory the machine has available.
void check_model_fits(const ModelSpec& s, double copies, int64_t batch, const std::string& what);
// The pooled features before the head (ResNet / VisionTransformer).
Tensor backbone_features(nn::Module& model, const Tensor& x);
int64_t backbone_feature_width(const nn::Module& model);

// -------------------------------------------------------------- run flags
// --seed --out --resume --overwrite --threads --device --stop-after
void add_run_flags(Args& a, const std::string& default_out);
// The epoch this invocation stops after: --epochs, or earlier with --stop-after.
int64_t last_epoch(const Args& a, int64_t start_epoch, int64_t epochs);

// A run being set up. Nothing is written into its folder until open(), which
// the command calls once every flag and the checkpoint have been checked: a
// run that fails to start leaves the folder (and the run it holds) as it was.
struct RunSetup {
  std::string out;  // the run folder
  Device device;
  std::string resume_from;                          // checkpoint file when resuming, else ""
  std::map<std::string, std::string> resume_meta;   // that checkpoint's metadata
  uint64_t seed = 0;
  std::unique_ptr<RunDir> dir;  // set by open()

  std::string file(const std::string& name) const { return out + "/" + name; }
  // The model the flags ask for against the one the resumed checkpoint holds:
  // a difference is a usage error that names both.
  void check_resumed_model(const ModelSpec& spec) const;
  // Locks the folder (a second writer is refused), clears what --overwrite
  // replaces and the temporary files of a writer that was killed, and writes
  // config.json.
  RunDir& open();

  std::map<std::string, std::string> config;  // for config.json
  std::string command_text;
  bool overwrite = false, in_place = false;  // in_place: resuming into the checkpoint's own folder
  std::unique_ptr<RunLock> lock;
};
// Applies --threads and checks --device (a clear error when CUDA is not
// there). With --resume PATH (a checkpoint or a run folder) the checkpoint
// must be one this command writes; the run folder is that of the checkpoint
// (unless --out is given) and every flag not given on this command line is
// taken from the run's config.json, so `--resume DIR` alone continues the
// run; flags given (e.g. a larger --epochs) override. A new run's --out must
// be empty, unless --overwrite. `resolve` (optional) then fills derived
// defaults; open() writes the resolved configuration to config.json.
RunSetup setup_run(Args& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Args&)>& resolve = {});
// "moco <command> <args...>" with shell quoting where needed.
std::string command_line(const std::string& command, const std::vector<std::string>& argv);

// ------------------------------------------------------------ checkpoints
// One file: model tensors under their own names (torchvision / timm names, or
// builder.py's encoder_q.* / base_encoder.* for MoCo), the optimiser state
// under "optimizer.", and metadata (epoch, the model spec, the run kind...).
struct Checkpoint {
  nn::NamedTensors model, optimizer;
  std::map<std::string, std::string> meta;
  int64_t epoch() const;  // epochs completed ("epoch" metadata)
};
// Refuses non-finite weights (the file keeps the last good checkpoint).
void save_checkpoint(const std::string& path, const Checkpoint& c);  // atomic
// Checks the epoch metadata and that every weight is finite.
Checkpoint load_checkpoint(const std::string& path);
// An epoch stopped part-way (Ctrl-C, SIGTERM): the batches it had done and the
// running sums of its metrics row, kept in the checkpoint's metadata so that
// --resume finishes the epoch from that batch with the row it would have had.
struct PartialEpoch {
  int64_t step = 0;  // batches done (0: a checkpoint at an epoch's end)
  std::map<std::string, double> sums;
  double sum(const std::string& name) const;  // 0 when not kept
  void to_meta(std::map<std::string, std::string>& meta) const;
  static PartialEpoch from_meta(const std::map<std::string, std::string>& meta, int64_t steps_per_epoch);
};
// "  resumed from FILE after epoch E[ and step S of epoch E+1]", from the checkpoint's metadata.
void print_resumed(const std::string& checkpoint, int64_t epoch, const std::map<std::string, std::string>& meta);
// After a stop signal: prints where the run stopped and the command that
// continues it; returns the exit status (130 for SIGINT, 143 for SIGTERM).
int stopped_run(const std::string& command, const std::string& dir, int64_t epoch, int64_t step, int64_t steps);

// Metadata KEY; a clear error when the checkpoint lacks it.
std::string meta_str(const std::map<std::string, std::string>& meta, const std::string& key);
// Metadata KEY as a whole number in [lo, hi]; a clear error otherwise.
int64_t meta_int(const std::map<std::string, std::string>& meta, const std::string& key, int64_t lo, int64_t hi);
// "a `moco pretrain` run (MoCo v2, resnet18 ..., epoch 3 of 10)": what a checkpoint holds.
std::string describe_checkpoint(const std::map<std::string, std::string>& meta);
// A run folder -> its checkpoint.safetensors; a file stays as it is.
std::string checkpoint_file(const std::string& file_or_dir);

// The backbone weights (no head) from a `pretrain` checkpoint (query encoder),
// a `train`/`finetune`/`linear` checkpoint, or a plain state dict (torchvision
// names, or the official MoCo names with module.encoder_q. / base_encoder.).
struct Pretrained {
  nn::NamedTensors backbone;
  std::map<std::string, std::string> meta;  // empty for foreign files
  std::string path;
  bool has_spec() const { return meta.count("arch") != 0; }
};
Pretrained load_pretrained(const std::string& path);
// Flags not given on the command line take the checkpoint's model spec
// (--arch, --width, ... and --image-size), so a checkpoint alone suffices.
void adopt_model_flags(Args& a, const Pretrained& p);

// -------------------------------------------------------------- helpers
// Stops the run with a clear message when the loss is NaN or infinite;
// `checkpoint`: this run's last good checkpoint ("" when it has none yet).
void check_finite_loss(double loss, int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t global_step,
                       const std::string& checkpoint);
double top1_correct(const Tensor& logits, const Tensor& labels);  // number of correct predictions
std::string fmt_duration(double seconds);

}  // namespace moco::cli
