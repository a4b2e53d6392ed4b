#include "nn/activation.h"

#include <fmt/format.h>

#include "nn/init.h"

namespace moco::nn {

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_, end_); }

Dropout::Dropout(double p) : p_(p), gen_(uint64_t(init_generator().randint(0, INT64_MAX))) {
  MOCO_CHECK(p >= 0 && p <= 1, "Dropout: p = {} is not a probability", p);
}

std::string Dropout::extra_repr() const { return fmt::format("p={}", p_); }

}  // namespace moco::nn
