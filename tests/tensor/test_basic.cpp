#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "tensor/compare.h"

using namespace moco;

TEST_CASE("factories") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.f));
  CHECK(Tensor::arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
}
