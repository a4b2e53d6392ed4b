#include "train/run_setup.h"

#include <filesystem>

#include "nn/safetensors.h"
#include "tensor/backend.h"
#include "train/checkpoint.h"
#include "train/dist.h"

namespace moco::train {

namespace fs = std::filesystem;

namespace {

std::string expected_kind(const std::string& command) { return command == "pretrain" ? "moco" : "supervised"; }

std::string occupied_message(const std::string& out, const std::vector<std::string>& entries) {
  return fmt::format("--out {} already holds files ({}): continue that run with --resume {}, replace it with "
                     "--overwrite, or choose another --out",
                     out, fmt::join(entries, ", "), out);
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+%@") ==
                        std::string::npos)
    return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

std::string command_line(const std::string& command, const std::vector<std::string>& argv) {
  std::string s = "moco " + command;
  for (auto& a : argv) s += " " + shell_quote(a);
  return s;
}

void check_dist_backend(const std::string& b) {
  MOCO_USAGE_CHECK(b == "auto" || b == "none" || b == "mpi" || b == "nccl",
                   "--dist-backend must be auto, none, mpi or nccl, got '{}'", b);
  const ProcessGroup& w = world();
  MOCO_USAGE_CHECK(b != "mpi" || w.backend() == "mpi",
                   "--dist-backend mpi: {}", mpi_compiled() ? "start the command with mpirun -np N moco ..."
                                                            : "this moco was built without MPI (install "
                                                              "libopenmpi-dev and rebuild)");
  MOCO_USAGE_CHECK(b != "none" || w.size() == 1, "--dist-backend none, but mpirun started {} processes", w.size());
}

// How the processes talk: the machine's business, recorded under "machine", never one of the run's flags.
bool process_flag(const std::string& k) {
  return k == "dist-backend" || k == "dist-timeout" || k == "check-sync-every";
}

bool never_taken_back(const std::string& k) {
  return k == "out" || k == "resume" || k == "config" || k == "stop-after" || k == "overwrite" || process_flag(k);
}

ResumeSource open_resume(const std::string& path, const std::string& command) {
  ResumeSource r;
  r.checkpoint = checkpoint_file(path);
  MOCO_USAGE_CHECK(fs::is_regular_file(r.checkpoint), "--resume: no checkpoint at {}", r.checkpoint);
  // What the checkpoint holds decides before anything else: its config.json
  // must not lend its flags to another command.
  r.meta = nn::load_safetensors_metadata(r.checkpoint);
  const bool ours = r.meta.count("format") && r.meta.count("kind") && r.meta.at("kind") == expected_kind(command) &&
                    (command == "pretrain" || (r.meta.count("command") && r.meta.at("command") == command));
  MOCO_USAGE_CHECK(ours, "--resume {}: the checkpoint holds {}, not a `moco {}` run{}", path,
                   describe_checkpoint(r.meta), command,
                   r.meta.count("kind") == 0 ? std::string()
                   : r.meta.at("kind") == "moco"
                       ? "; continue it with: moco pretrain --resume " + path
                   : r.meta.count("command")
                       ? "; continue it with: moco " + printable(r.meta.at("command")) + " --resume " + path
                       : std::string());
  const std::string dir = fs::path(r.checkpoint).parent_path().string();
  r.dir = dir.empty() ? "." : dir;
  const std::string cfg = (fs::path(r.dir) / "config.json").string();
  if (fs::is_regular_file(cfg)) r.config = read_run_config(cfg);
  return r;
}

RunConfig read_config_of(const std::string& path, const std::string& command, std::string& file) {
  file = fs::is_directory(path) ? (fs::path(path) / "config.json").string() : path;
  MOCO_USAGE_CHECK(fs::is_regular_file(file), "--config: no file at {}", file);
  RunConfig c = read_run_config(file);
  MOCO_USAGE_CHECK(c.kind.empty() || c.kind == command,
                   "--config {}: the configuration of a `moco {}` run, not of `moco {}`", file, c.kind, command);
  return c;
}

void check_out_free(const std::string& out) {
  const std::vector<std::string> e = folder_entries(out);
  MOCO_USAGE_CHECK(e.empty(), "{}", occupied_message(out, e));
}

Device open_device(const std::string& device) {
  const Device d = rank_device(Device::parse(device), device.find(':') != std::string::npos);
  if (!d.is_cpu()) (void)backend_for(d);  // throws a clear error without CUDA or a GPU
  return d;
}

RunConfig make_run_config(const std::map<std::string, std::string>& values, const std::set<std::string>& switches,
                          int threads, const std::string& command, const std::vector<std::string>& argv,
                          const std::string& original_command) {
  RunConfig c;
  // A resumed run keeps the command that started it; the latest resume is noted beside it.
  c.machine = {{"threads", std::to_string(threads > 0 ? threads : get_num_threads())},
               {"device", values.at("device")},
               {"processes", std::to_string(world().size())},
               {"dist-backend", world().backend()}};  // the backend in use, not the flag's "auto"
  for (auto& [k, v] : values) {
    if (k == "threads" || k == "device") continue;
    if (k == "overwrite" || k == "config") continue;
    if (process_flag(k)) {
      if (k != "dist-backend") c.machine[k] = v;
      continue;
    }
    c.flags[k] = v;
    if (switches.count(k)) c.switches.insert(k);
  }
  std::string flags_text;  // every rank must have been started with the same flags
  for (auto& [k, v] : c.flags) flags_text += k + "=" + v + "\n";
  check_same_on_all_ranks(world(), flags_text, "flags");
  if (!original_command.empty()) c.resumed_with = command_line(command, argv);
  c.command = original_command.empty() ? command_line(command, argv) : original_command;
  c.kind = command;
  return c;
}

void RunSetup::record_resolved(const ModelSpec& spec, const DataSetup& d) {
  auto put = [&](const char* flag, const std::string& v) {
    if (config.flags.count(flag)) config.flags[flag] = v;
  };
  put("image-size", std::to_string(d.size));
  put("channels", std::to_string(d.channels));
  if (spec.is_vit()) {
    put("patch-size", std::to_string(spec.patch));
    put("vit-depth", std::to_string(spec.depth));
    put("vit-dim", std::to_string(spec.dim));
    put("vit-heads", std::to_string(spec.heads));
    for (const char* f : {"width", "stem"}) config.flags.erase(f);  // a ResNet's
  } else {
    put("stem", spec.small_stem ? "small" : "imagenet");
    for (const char* f : {"patch-size", "vit-depth", "vit-dim", "vit-heads"}) config.flags.erase(f);  // a ViT's
  }
}

void RunSetup::check_resumed_model(const ModelSpec& spec) const {
  if (resume_from.empty() || !resume_meta.count("arch")) return;
  std::vector<std::string> diff;
  for (auto& [k, v] : spec.to_meta()) {
    auto it = resume_meta.find(k);
    if (it != resume_meta.end() && it->second != v)
      diff.push_back(fmt::format("{} {} in the checkpoint, {} from the flags", k, printable(it->second), v));
  }
  MOCO_USAGE_CHECK(diff.empty(),
                   "--resume {}: the checkpoint holds {}; the flags ask for {} ({}). Drop the flags that change the "
                   "model, or start a new run with another --out",
                   resume_from, describe_checkpoint(resume_meta), spec.describe(), fmt::join(diff, "; "));
}

RunDir& RunSetup::open() {
  MOCO_CHECK(!dir, "internal: RunSetup::open() called twice");
  if (!world().is_writer()) {  // rank 0 locks, checks and writes the folder
    dir = std::make_unique<RunDir>(out);
    return *dir;
  }
  lock = std::make_unique<RunLock>(out);
  if (!in_place) {
    if (overwrite) {
      remove_run_files(out);
    } else {
      check_out_free(out);
    }
  }
  remove_stale_temp_files(out);
  dir = std::make_unique<RunDir>(out);
  write_run_config(dir->file("config.json"), config);
  return *dir;
}

}  // namespace moco::train
