// SGD, AdamW and LARS against PyTorch (and MoCo v3's LARS) over 3 steps with
// fixed gradients (tests/parity/gen_optim.py): parameters after every step and
// the optimiser state after the last (each formula has one implementation,
// tensor/optim_step.h); parameter groups with their own lr and weight decay.
#include <doctest/doctest.h>

#include <functional>

#include "../nn/nn_fixture.h"
#include "autograd/ops.h"
#include "optim/optim.h"

using namespace moco;
using namespace moco::optim;
using moco::testing::fx;

namespace {

const char* kFile = "optim/optim.safetensors";

std::vector<Tensor> fresh_params() {
  std::vector<Tensor> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(fx(kFile, "init/" + std::to_string(i)).clone().requires_grad_());
  return ps;
}

using Factory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;

// order: which fixture parameter each optimiser index holds (groups reorder them).
void run_case(const std::string& c, const Factory& make, std::vector<int> order = {0, 1, 2, 3}) {
  CAPTURE(c);
  std::vector<Tensor> ps = fresh_params();
  auto opt = make(ps);
  for (int s = 1; s <= 3; ++s) {
    opt->zero_grad();
    for (int i = 0; i < 4; ++i) ps[size_t(i)].set_grad(fx(kFile, fmt::format("grad/{}/{}", s, i)).clone());
    opt->step();
    for (int i = 0; i < 4; ++i) {
      const std::string name = fmt::format("{}/step/{}/{}", c, s, i);
      CloseReport r = allclose(ps[size_t(i)], fx(kFile, name), 1e-6, 1e-5, name);
      CHECK_MESSAGE(r.ok, r.message);
    }
  }
  CHECK(opt->steps() == 3);
  nn::NamedTensors st = opt->state_dict();
  CHECK(nn::find_tensor(st, "step").item() == 3);
  size_t compared = 0;
  for (auto& [name, t] : st) {
    if (name == "step" || name.size() < 5 || name.compare(name.size() - 5, 5, ".step") == 0) continue;
    // state.<k>.<field> -> <case>/state/<order[k]>/<field>
    const size_t dot = name.find('.', 6);
    const int k = std::stoi(name.substr(6, dot - 6));
    const std::string want = fmt::format("{}/state/{}/{}", c, order[size_t(k)], name.substr(dot + 1));
    CloseReport r = allclose(t, fx(kFile, want), 1e-6, 1e-5, want);
    CHECK_MESSAGE(r.ok, r.message);
    ++compared;
  }
  CHECK(compared == moco::testing::fx_prefix(kFile, c + "/state/").size());
}

template <class O, class C>
Factory single(C cfg) {
  return [cfg](const std::vector<Tensor>& ps) { return std::make_unique<O>(ps, cfg); };
}

// Group 0: p0, p2; group 1: p1, p3 with its own settings.
template <class O, class C>
Factory grouped(C cfg, double lr1, double wd1) {
  return [=](const std::vector<Tensor>& ps) {
    ParamGroup a = group_of({ps[0], ps[2]}), b = group_of({ps[1], ps[3]});
    b.lr = lr1;
    b.weight_decay = wd1;
    return std::make_unique<O>(std::vector<ParamGroup>{a, b}, cfg);
  };
}

}  // namespace

TEST_CASE("parity: SGD (plain, momentum + weight decay, Nesterov, dampening)") {
  SGDConfig plain;
  plain.lr = 0.1;
  run_case("sgd", single<SGD>(plain));
  SGDConfig mom;
  mom.lr = 0.1;
  mom.momentum = 0.9;
  mom.weight_decay = 5e-4;
  run_case("sgd_momentum", single<SGD>(mom));
  SGDConfig nes;
  nes.lr = 0.05;
  nes.momentum = 0.9;
  nes.nesterov = true;
  nes.weight_decay = 1e-2;
  run_case("sgd_nesterov", single<SGD>(nes));
  SGDConfig damp;
  damp.lr = 0.1;
  damp.momentum = 0.9;
  damp.dampening = 0.1;
  run_case("sgd_dampening", single<SGD>(damp));
}

TEST_CASE("parity: AdamW (defaults, other betas and eps, parameter groups)") {
  AdamWConfig a;
  a.lr = 1e-2;
  a.weight_decay = 0.1;
  run_case("adamw", single<AdamW>(a));
  AdamWConfig b;
  b.lr = 3e-3;
  b.beta1 = 0.8;
  b.beta2 = 0.95;
  b.eps = 1e-6;
  b.weight_decay = 0.05;
  run_case("adamw_betas", single<AdamW>(b));
  run_case("adamw_groups", grouped<AdamW>(a, 5e-3, 0.0), {0, 2, 1, 3});
}

TEST_CASE("parity: LARS as in MoCo v3 (1-D parameters not adapted, zero-norm parameter)") {
  LARSConfig l;
  l.lr = 0.5;
  l.weight_decay = 1e-2;
  l.momentum = 0.9;
  run_case("lars", single<LARS>(l));
  run_case("lars_groups", grouped<LARS>(l, 0.5, 0.0), {0, 2, 1, 3});
}

TEST_CASE("optim: split_weight_decay keeps biases and norm weights out of weight decay") {
  nn::NamedTensors named{{"conv.weight", Tensor::zeros({2, 2, 3, 3}).requires_grad_()},
                         {"bn.weight", Tensor::ones({2}).requires_grad_()},
                         {"fc.bias", Tensor::zeros({2}).requires_grad_()},
                         {"frozen.weight", Tensor::zeros({2, 2})}};
  auto groups = split_weight_decay(named, 0.05);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].names == std::vector<std::string>{"conv.weight"});
  CHECK(groups[0].weight_decay == 0.05);
  CHECK(groups[1].names == std::vector<std::string>{"bn.weight", "fc.bias"});
  CHECK(groups[1].weight_decay == 0);
  SGDConfig cfg;
  cfg.lr = 0.1;
  cfg.weight_decay = 0.5;
  SGD opt(groups, cfg);
  CHECK(opt.groups()[0].weight_decay == 0.05);  // the group's own value wins
  CHECK(opt.groups()[1].weight_decay == 0);
  CHECK(opt.groups()[1].lr == 0.1);              // unset: the optimiser's
  opt.set_lr(0.01);
  CHECK(opt.lr(1) == 0.01);
  // Parameters without a gradient are skipped.
  opt.step();
  CHECK(opt.steps() == 1);
  CHECK(sum(named[1].second).item() == 2);
  CHECK_THROWS_WITH_AS(SGD(std::vector<Tensor>{named[0].second, named[0].second}, cfg),
                       doctest::Contains("more than once"), Error);
}
