// The loss ops against PyTorch: cross_entropy with label smoothing, value and
// gradient (tests/parity/gen_losses.py). A gradcheck passes a forward and
// backward that agree with each other but not with PyTorch (smoothing summed
// over the classes instead of averaged); this test does not.
#include <string>

#include "autograd/ops.h"
#include "nn_fixture.h"
#include "test_util.h"

using namespace moco;
using namespace moco::testing;

TEST_CASE("cross_entropy with label smoothing 0, 0.1 and 0.3 equals F.cross_entropy, value and gradient") {
  const std::string f = "nn/cross_entropy.safetensors";
  const Tensor target = fx(f, "target");
  for (const char* s : {"0", "0.1", "0.3"}) {
    INFO("label_smoothing " << s);
    Tensor logits = fx(f, "logits").clone().requires_grad_(true);
    Tensor loss = cross_entropy(logits, target, std::stod(s));
    CHECK(loss.item() == doctest::Approx(fx(f, std::string("ls") + s + "/loss").item()).epsilon(1e-12));
    loss.backward();
    CHECK_CLOSE(logits.grad(), fx(f, std::string("ls") + s + "/grad"), 1e-14, 1e-12);
  }
}
