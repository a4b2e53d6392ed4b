// Sequential: children named "0", "1", ... applied in order (torch.nn.Sequential).
#pragma once
#include <initializer_list>

#include "nn/module.h"

namespace moco::nn {

class Sequential : public Cloneable<Sequential> {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  std::string type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;

  Sequential& push_back(std::shared_ptr<Module> m);
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children().at(i).second; }
};

}  // namespace moco::nn
