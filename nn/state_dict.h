// State dicts: checked loading by name, prefix helpers, and model
// checkpoints on disk (safetensors, see nn/safetensors.h).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace moco::nn {

// Every difference between the tensors a model has (`targets`) and those a
// state dict offers, one line each: "missing: fc.weight [10, 512] float32",
// "unexpected: ...", "shape mismatch: ...", "dtype mismatch: ...". With
// strict = false, missing and unexpected names are not problems.
std::vector<std::string> state_dict_problems(const NamedTensors& targets, const NamedTensors& state, bool strict);

// Copies state into targets by name (no grad). Throws one Error that starts
// with `what` and lists every problem, before copying anything.
void load_into(const NamedTensors& targets, const NamedTensors& state, bool strict, const std::string& what);

// The tensors whose names start with `prefix`, with it removed
// ("module.encoder_q." for a MoCo checkpoint's query encoder).
NamedTensors strip_prefix(const NamedTensors& state, const std::string& prefix);
// Every name with `prefix` in front.
NamedTensors add_prefix(const NamedTensors& state, const std::string& prefix);
// The tensor named `name`; throws naming the file/what when absent.
const Tensor& find_tensor(const NamedTensors& state, const std::string& name, const std::string& what = "state dict");

// "" when every floating tensor holds only finite values, else the first
// offender as "NAME [shape]: K of N values are NaN or infinite". A NaN weight
// hides behind a finite loss (ReLU maps NaN to 0), so checkpoints are checked
// on save and on load.
std::string first_non_finite(const NamedTensors& state);

// A module's state dict to/from a safetensors file (atomic write).
void save_state_dict(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata = {});
void load_state_dict(Module& m, const std::string& path, bool strict = true);

}  // namespace moco::nn
