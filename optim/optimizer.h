// Optimizer: parameter groups, a per-parameter state (named tensors plus a
// step count), zero_grad, learning-rate setting and state save/restore.
// SGD, AdamW and LARS (optim/sgd.h, adamw.h, lars.h) implement update(): each
// fills in its scalars and calls fused_step (optim/fused.h), the one
// implementation of its formula, on every device.
//
// Parameter groups carry their own lr and weight decay, so biases and norm
// weights can be excluded from weight decay (split_weight_decay).
//
// State dict names: "step" (int64, the optimiser's step count) and, per
// parameter index i (over all groups, in order), "state.<i>.<name>" for each
// state tensor ("momentum_buffer", "exp_avg", "exp_avg_sq", "mu") and
// "state.<i>.step" (int64).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace moco::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  std::vector<std::string> names;  // optional (same length as params): used in messages
  double lr = -1;                  // < 0: the optimiser's lr
  double weight_decay = -1;        // < 0: the optimiser's weight decay
};

// One group holding `params`.
ParamGroup group_of(const std::vector<Tensor>& params);
// One group from named parameters (those that require grad when trainable_only).
ParamGroup make_group(const nn::NamedTensors& named, bool trainable_only = true);
// Two groups: parameters with ≥ 2 dims (weights) get `weight_decay`; 1-D ones
// (biases, BN/LN weights) and scalars get 0. The cls token / pos embed of a ViT are 3-D and decay, as in timm's default.
std::vector<ParamGroup> split_weight_decay(const nn::NamedTensors& named, double weight_decay,
                                           bool trainable_only = true);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;

  // Updates every parameter that has a gradient; counts one step.
  void step();
  // Drops every gradient (PyTorch's set_to_none).
  void zero_grad();

  void set_lr(double lr);  // every group
  double lr(size_t group = 0) const { return groups_.at(group).lr; }
  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  int64_t steps() const { return steps_; }
  size_t num_params() const { return state_.size(); }

  nn::NamedTensors state_dict() const;
  // Restores state saved by state_dict() of the same optimiser over the same
  // parameters; throws listing every unknown name, bad index and shape/dtype mismatch.
  void load_state_dict(const nn::NamedTensors& state);
  void save(const std::string& path) const;  // safetensors, atomic
  void load(const std::string& path);

 protected:
  struct State {
    std::map<std::string, Tensor> tensors;
    int64_t step = 0;
  };
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay);
  // Updates one parameter p (no grad mode) from its gradient g; st.step was already incremented.
  virtual void update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) = 0;
  // The state tensors this optimiser keeps per parameter.
  virtual std::vector<std::string> state_names() const = 0;
  std::string param_label(size_t index) const;

 private:
  std::vector<ParamGroup> groups_;
  std::vector<State> state_;  // one per parameter, over groups in order
  int64_t steps_ = 0;
};

}  // namespace moco::optim
