// Checkpoints: one safetensors file per run, written atomically every epoch,
// with the model under its own tensor names (torchvision / timm names, or
// builder.py's encoder_q.* / base_encoder.* for MoCo), the optimiser state
// under "optimizer." and metadata (epoch, the model spec, the run kind...);
// and a pretrained backbone read from any of ours or a plain state dict.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "nn/state_dict.h"
#include "tensor/tensor.h"

namespace moco::train {

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

}  // namespace moco::train
