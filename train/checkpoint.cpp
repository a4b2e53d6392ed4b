#include "train/checkpoint.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "train/model_spec.h"

namespace moco::train {

namespace fs = std::filesystem;

std::string meta_str(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  MOCO_CHECK(it != meta.end(), "checkpoint metadata lacks '{}' (not written by moco.cpp?)", key);
  return it->second;
}

int64_t meta_int(const std::map<std::string, std::string>& meta, const std::string& key, int64_t lo, int64_t hi) {
  const std::string v = meta_str(meta, key);
  int64_t x = 0;
  bool ok = !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
  if (ok) x = std::stoll(v);
  MOCO_CHECK(ok && x >= lo && x <= hi, "checkpoint metadata '{}' is '{}', expected a whole number in [{}, {}]", key,
             printable(v.substr(0, 40)), lo, hi);
  return x;
}

std::string checkpoint_file(const std::string& p) {
  if (fs::is_directory(p)) return (fs::path(p) / "checkpoint.safetensors").string();
  return p;
}

std::string describe_checkpoint(const std::map<std::string, std::string>& meta) {
  if (!meta.count("format")) return "a state dict without moco.cpp's run metadata";
  const std::string kind = meta.count("kind") ? meta.at("kind") : "";
  std::string s = kind == "moco" ? "a `moco pretrain` run"
                  : meta.count("command") ? "a `moco " + printable(meta.at("command")) + "` run"
                                          : "a run of unknown kind";
  std::vector<std::string> parts;
  if (meta.count("moco_version")) parts.push_back("MoCo " + printable(meta.at("moco_version")));
  if (meta.count("arch")) {
    try {
      parts.push_back(ModelSpec::from_meta(meta).describe());
    } catch (const Error&) {
      parts.push_back(printable(meta.at("arch")));
    }
  }
  if (meta.count("epoch"))
    parts.push_back("epoch " + printable(meta.at("epoch")) +
                    (meta.count("epochs") ? " of " + printable(meta.at("epochs")) : std::string()));
  if (!parts.empty()) s += " (" + fmt::format("{}", fmt::join(parts, ", ")) + ")";
  return s;
}

int64_t Checkpoint::epoch() const { return meta.count("epoch") ? meta_int(meta, "epoch", 0, 1000000) : 0; }

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string bad = nn::first_non_finite(c.model);
  MOCO_CHECK(bad.empty(), "the weights are no longer finite after epoch {} ({}); not saving them. {}",
             c.meta.count("epoch") ? c.meta.at("epoch") : "?", bad,
             fs::is_regular_file(path) ? path + " keeps the last good checkpoint: continue from it with --resume, "
                                                "perhaps with a lower --lr"
                                       : std::string("The run has no good checkpoint yet: start again with a lower --lr"));
  nn::NamedTensors all = c.model;
  for (auto& t : nn::add_prefix(c.optimizer, "optimizer.")) all.push_back(t);
  std::map<std::string, std::string> meta = c.meta;
  meta["format"] = "moco.cpp checkpoint";
  nn::save_safetensors(path, all, meta);
}

void PartialEpoch::to_meta(std::map<std::string, std::string>& meta) const {
  if (step == 0) return;
  meta["step_in_epoch"] = std::to_string(step);
  for (auto& [k, v] : sums) meta["partial." + k] = fmt::format("{:.17g}", v);  // exact round trip
}

double PartialEpoch::sum(const std::string& name) const {
  auto it = sums.find(name);
  return it == sums.end() ? 0.0 : it->second;
}

PartialEpoch PartialEpoch::from_meta(const std::map<std::string, std::string>& meta, int64_t steps_per_epoch) {
  PartialEpoch p;
  if (!meta.count("step_in_epoch")) return p;
  p.step = meta_int(meta, "step_in_epoch", 0, steps_per_epoch - 1);
  for (auto& [k, v] : meta) {
    if (k.rfind("partial.", 0) != 0) continue;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    MOCO_CHECK(!v.empty() && *end == 0, "checkpoint metadata '{}' is '{}', expected a number", k,
               printable(v.substr(0, 40)));
    p.sums[k.substr(8)] = x;
  }
  return p;
}

Checkpoint load_checkpoint(const std::string& path) {
  nn::SafeTensors st = nn::load_safetensors(checkpoint_file(path));
  Checkpoint c;
  c.meta = st.metadata;
  for (auto& [n, t] : st.tensors) {
    if (n.rfind("optimizer.", 0) == 0) c.optimizer.emplace_back(n.substr(10), t);
    else c.model.emplace_back(n, t);
  }
  const std::string file = checkpoint_file(path);
  try {
    const int64_t epoch = c.epoch();
    if (c.meta.count("epochs")) {
      const int64_t epochs = meta_int(c.meta, "epochs", 1, 1000000);
      MOCO_CHECK(epoch <= epochs, "epoch {} is past the run's {} epochs", epoch, epochs);
    }
  } catch (const Error& e) {
    fail("{}: {}", file, e.what());
  }
  const std::string bad = nn::first_non_finite(c.model);
  MOCO_CHECK(bad.empty(), "{}: the weights are not finite ({}); the run that wrote it had diverged. Use an earlier "
                          "checkpoint", file, bad);
  return c;
}

static bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

static nn::NamedTensors without_head(const nn::NamedTensors& state, const std::vector<std::string>& heads) {
  nn::NamedTensors out;
  for (auto& [n, t] : state) {
    bool head = false;
    for (auto& h : heads) head = head || starts_with(n, h + ".");
    if (!head) out.emplace_back(n, t);
  }
  return out;
}

Pretrained load_pretrained(const std::string& path) {
  Pretrained p;
  p.path = checkpoint_file(path);
  MOCO_CHECK(fs::is_regular_file(p.path), "--pretrained: no checkpoint at {}", p.path);
  Checkpoint c = load_checkpoint(p.path);
  p.meta = c.meta;
  if (p.meta.count("format")) {
    const std::string kind = p.meta.count("kind") ? p.meta.at("kind") : "";
    if (kind == "moco") {
      p.backbone = without_head(nn::strip_prefix(c.model, meta_str(p.meta, "encoder_prefix")), {meta_str(p.meta, "head")});
    } else {
      p.backbone = without_head(c.model, {ModelSpec::from_meta(p.meta).head()});
    }
  } else {
    // A plain state dict: torchvision / timm names, or the official MoCo checkpoints' names.
    p.backbone = c.model;
    for (const char* prefix : {"module.encoder_q.", "encoder_q.", "module.base_encoder.", "base_encoder.", "module."}) {
      nn::NamedTensors s = nn::strip_prefix(c.model, prefix);
      if (!s.empty()) {
        p.backbone = s;
        break;
      }
    }
    p.backbone = without_head(p.backbone, {"fc", "head"});
  }
  MOCO_CHECK(!p.backbone.empty(), "--pretrained {}: no backbone tensors found", p.path);
  return p;
}

}  // namespace moco::train
