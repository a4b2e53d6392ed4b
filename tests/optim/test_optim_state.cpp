// Optimiser state in checkpoints: a run interrupted after 2 steps, saved to
// safetensors and restored into a fresh optimiser, continues exactly as the
// uninterrupted run; loading wrong state is an error that names it.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "autograd/ops.h"
#include "nn/safetensors.h"
#include "tensor/compare.h"
#include "optim/optim.h"

using namespace moco;
using namespace moco::optim;
namespace fs = std::filesystem;

namespace {

std::vector<Tensor> params(uint64_t seed) {
  Generator g(seed);
  return {randn({4, 3}, g).requires_grad_(), randn({3}, g).requires_grad_(), randn({2, 2, 2}, g).requires_grad_()};
}

void set_grads(const std::vector<Tensor>& ps, int step) {
  Generator g(100 + uint64_t(step));
  for (auto& p : ps) p.set_grad(randn(p.shape(), g));
}

template <class O, class C>
void check_resume(const C& cfg, const std::string& path) {
  // Uninterrupted: 4 steps.
  auto a = params(1);
  O oa(a, cfg);
  for (int s = 0; s < 4; ++s) {
    set_grads(a, s);
    oa.step();
  }
  // Interrupted after 2 steps, state saved; resumed in a fresh optimiser.
  auto b = params(1);
  {
    O ob(b, cfg);
    for (int s = 0; s < 2; ++s) {
      set_grads(b, s);
      ob.step();
    }
    ob.save(path);
  }
  O oc(b, cfg);
  oc.load(path);
  CHECK(oc.steps() == 2);
  for (int s = 2; s < 4; ++s) {
    set_grads(b, s);
    oc.step();
  }
  for (size_t i = 0; i < a.size(); ++i) CHECK(allclose(b[i], a[i], 0, 0).ok);
}

}  // namespace

TEST_CASE("optim state: save, load and continue exactly (SGD, AdamW, LARS)") {
  const std::string path = (fs::temp_directory_path() / ("moco_optim_" + std::to_string(::getpid()))).string();
  SGDConfig s;
  s.lr = 0.1;
  s.momentum = 0.9;
  s.weight_decay = 1e-4;
  check_resume<SGD>(s, path);
  AdamWConfig a;
  a.lr = 1e-2;
  check_resume<AdamW>(a, path);
  LARSConfig l;
  l.lr = 0.3;
  l.weight_decay = 1e-3;
  check_resume<LARS>(l, path);
  // The file is plain safetensors with readable names.
  auto f = nn::load_safetensors(path);
  CHECK(f.metadata.at("optimizer") == "LARS");
  bool has_mu = false;
  for (auto& [n, t] : f.tensors) has_mu |= n == "state.0.mu";
  CHECK(has_mu);
  // State of another optimiser type is refused.
  auto ps = params(1);
  SGD sgd(ps, s);
  CHECK_THROWS_WITH_AS(sgd.load(path), doctest::Contains("not a SGD"), Error);
  fs::remove(path);
}

TEST_CASE("optim state: loading names unknown entries, bad indices and shape mismatches") {
  auto ps = params(2);
  AdamWConfig cfg;
  AdamW opt(ps, cfg);
  nn::NamedTensors st{{"step", Tensor::full({}, 5, DType::i64)},
                      {"state.0.exp_avg", Tensor::zeros({4, 3})},
                      {"state.0.exp_avg_sq", Tensor::zeros({3, 4})},
                      {"state.1.momentum_buffer", Tensor::zeros({3})},
                      {"state.9.exp_avg", Tensor::zeros({3})},
                      {"bogus", Tensor::zeros({1})}};
  try {
    opt.load_state_dict(st);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("4 problems") != std::string::npos);
    CHECK(msg.find("shape mismatch: state.0.exp_avg_sq: file [3, 4], parameter 0 is [4, 3]") != std::string::npos);
    CHECK(msg.find("unexpected: state.1.momentum_buffer (AdamW keeps exp_avg, exp_avg_sq)") != std::string::npos);
    CHECK(msg.find("unexpected: state.9.exp_avg (only 3 parameters)") != std::string::npos);
    CHECK(msg.find("unexpected: bogus") != std::string::npos);
  }
  CHECK(opt.steps() == 0);  // nothing changed
  CHECK_THROWS_WITH_AS(opt.load_state_dict({}), doctest::Contains("missing: step"), Error);
}
