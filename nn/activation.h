// Parameter-free layers: ReLU, GELU, Identity, Flatten, Dropout.
#pragma once
#include "autograd/ops.h"
#include "nn/module.h"

namespace moco::nn {

class ReLU : public Cloneable<ReLU> {
 public:
  std::string type_name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override { return relu(x); }
};

// The exact (erf) GELU, torch.nn.GELU's default.
class GELU : public Cloneable<GELU> {
 public:
  std::string type_name() const override { return "GELU"; }
  Tensor forward(const Tensor& x) override { return gelu(x); }
};

class Identity : public Cloneable<Identity> {
 public:
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& x) override { return x; }
};

// Flattens dims start..end into one (torch.nn.Flatten: start 1, end -1).
class Flatten : public Cloneable<Flatten> {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override { return x.flatten(start_, end_); }

 private:
  int64_t start_, end_;
};

// Inverted dropout in training, identity in evaluation. Each Dropout owns a
// generator, seeded from the init generator when constructed (so a seeded
// model is reproducible); set_seed() reseeds it.
class Dropout : public Cloneable<Dropout> {
 public:
  explicit Dropout(double p = 0.5);
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), gen_); }
  void set_seed(uint64_t seed) { gen_.set_state(seed, 0); }

 private:
  double p_;
  Generator gen_;
};

}  // namespace moco::nn
