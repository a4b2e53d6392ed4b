// A training command's run being set up: what --resume and --config bring
// back, the run folder (refused when it holds another run, locked while
// written, nothing written before every flag and the checkpoint are checked),
// and the configuration written to its config.json.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "train/data_setup.h"
#include "train/model_spec.h"
#include "train/run_config.h"
#include "train/run_dir.h"

namespace moco::train {

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
  // The values the model and data resolved (image size, channels, stem, ViT
  // sizes) replace the flags' placeholders ("auto", "0") in config.json.
  void record_resolved(const ModelSpec& spec, const DataSetup& d);
  // Locks the folder (a second writer is refused), clears what --overwrite
  // replaces and the temporary files of a writer that was killed, and writes
  // config.json.
  RunDir& open();

  RunConfig config;  // for config.json
  bool overwrite = false, in_place = false;  // in_place: resuming into the checkpoint's own folder
  std::unique_ptr<RunLock> lock;
};

// What `--resume PATH` (a checkpoint or a run folder) continues.
struct ResumeSource {
  std::string checkpoint;                    // the file
  std::map<std::string, std::string> meta;   // its metadata
  std::string dir;                           // its folder ("." for a bare file name)
  std::optional<RunConfig> config;           // the run's config.json, when there is one
};
// The checkpoint must be one `command` writes: a UsageError names what it
// holds and the command that continues it.
ResumeSource open_resume(const std::string& path, const std::string& command);

// The configuration `--config PATH` (a config.json or its folder) names, of a
// `command` run; `file` is set to the file read.
RunConfig read_config_of(const std::string& path, const std::string& command, std::string& file);

// --dist-backend (auto | none | mpi | nccl) against what this build and mpirun provide.
void check_dist_backend(const std::string& backend);

// Flags a run's config.json never lends to another invocation: where it
// writes, how it was started (a run resumes with any number of processes), when it stops.
bool never_taken_back(const std::string& flag);

// A new run's folder must be empty (or absent): a UsageError says how to continue or replace the run it holds.
void check_out_free(const std::string& out);

// --device, checked: a clear error when CUDA or the GPU is not there. Under
// mpirun, "cuda" without an index is this rank's GPU (train/dist.h rank_device).
Device open_device(const std::string& device);

// The configuration config.json records: every flag's value (`switches` are
// on/off) but the machine's (threads, device), which go with the processes
// and the backend under `machine`; the same on every rank, or an error.
// `original_command` ("": a new run) is the command line that started a resumed run.
RunConfig make_run_config(const std::map<std::string, std::string>& values, const std::set<std::string>& switches,
                          int threads, const std::string& command, const std::vector<std::string>& argv,
                          const std::string& original_command);

// "moco <command> <args...>" with shell quoting where needed.
std::string command_line(const std::string& command, const std::vector<std::string>& argv);

}  // namespace moco::train
