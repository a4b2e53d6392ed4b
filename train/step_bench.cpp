#include "train/step_bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/internals.h"
#include "contrastive/moco_v2.h"
#include "contrastive/moco_v3.h"
#include "nn/init.h"
#include "nn/models/vit.h"
#include "optim/adamw.h"
#include "optim/sgd.h"
#include "tensor/backend.h"
#include "train/model_spec.h"
#include "train/run_dir.h"

namespace moco::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// CPU seconds used by the whole process (every thread), user + system.
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

void resolve_bench_model(BenchOptions& o, bool method_given) {
  MOCO_CHECK(o.method == "sup" || o.method == "mocov2" || o.method == "mocov3",
             "unknown --method '{}' (sup, mocov2, mocov3)", o.method);
  // tools/gpu-check.sh names the MoCo steps as one model: --model mocov2_resnet18.
  for (const char* m : {"mocov2", "mocov3"})
    if (o.arch.rfind(std::string(m) + "_", 0) == 0) {
      MOCO_CHECK(!method_given || o.method == m, "--model {} contradicts --method {}", o.arch, o.method);
      o.method = m;
      o.arch = o.arch.substr(7);
    }
  if (o.arch == "auto") o.arch = o.method == "mocov3" ? "vit_tiny" : "resnet18";
  const bool vit = o.arch.rfind("vit", 0) == 0;
  MOCO_CHECK(vit || o.arch == "resnet18" || o.arch == "resnet34" || o.arch == "resnet50",
             "unknown --arch '{}' (resnet18, resnet34, resnet50, vit_tiny, vit_small, vit_base)", o.arch);
  MOCO_CHECK(o.method != "mocov3" || vit,
             "--method mocov3 times the reference's MoCo v3 ViT step; --arch must be vit_tiny, vit_small or "
             "vit_base, got '{}'", o.arch);
  MOCO_CHECK(o.method != "mocov2" || !vit,
             "--method mocov2 times the reference's MoCo v2 ResNet step; --arch must be resnet18, resnet34 or "
             "resnet50, got '{}'", o.arch);
}

void check_bench_options(BenchOptions& o) {
  MOCO_CHECK(o.log_every == 0 || o.method != "sup",
             "--log-every times MoCo's internals: it needs --method mocov2 or mocov3");
  if (o.arch.rfind("vit", 0) == 0) {
    const nn::ViTConfig preset = nn::ViTConfig::preset(o.arch);
    if (o.dim == 0) o.dim = preset.embed_dim;
    if (o.heads == 0) o.heads = preset.num_heads;
    MOCO_CHECK(o.size % o.patch == 0, "--image-size {} is not a multiple of --patch {}", o.size, o.patch);
    MOCO_CHECK(o.dim % o.heads == 0, "--dim {} is not a multiple of --heads {}", o.dim, o.heads);
    MOCO_CHECK(o.dim % 4 == 0, "--dim {} must be a multiple of 4 (2-D sin-cos position embedding)", o.dim);
  }
  if (o.method == "mocov2") {
    MOCO_CHECK(o.moco_k % o.batch == 0,
               "--method mocov2: the queue (--moco-k {}) must be a multiple of --batch-size {} (each step enqueues "
               "the batch's keys)", o.moco_k, o.batch);
    MOCO_CHECK(o.batch % o.bn_splits == 0, "--batch-size {} must be a multiple of --bn-splits {}", o.batch,
               o.bn_splits);
  }
  // The contrastive loss needs other samples of the batch as negatives;
  // BatchNorm1d in the projector needs more than one value per channel.
  if (o.method == "mocov3") MOCO_CHECK(o.batch >= 2, "--method mocov3 needs --batch-size >= 2, got {}", o.batch);
}

double BenchResult::sec_per_step() const { return median(step_sec); }
double BenchResult::images_per_sec() const { return double(opt.batch) / sec_per_step(); }
double BenchResult::internals_overhead() const {
  if (opt.log_every <= 0 || internals_sec.empty() || plain_step_sec.empty()) return 0;
  return median(internals_sec) / (double(opt.log_every) * median(plain_step_sec));
}

std::string BenchResult::json() const {
  // Seconds to 0.1 ms (internals 10 us, overheads 1e-6), rates to 0.01: the precision the timer's noise allows.
  auto list = [&](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(round_to_decimals(x, 4));
    return a;
  };
  auto env = [](const char* name) -> nlohmann::json {
    const char* v = std::getenv(name);
    return v ? nlohmann::json(v) : nlohmann::json(nullptr);
  };
  nlohmann::ordered_json j = {{"impl", "moco.cpp"},
                              {"method", opt.method},
                              {"arch", opt.arch},
                              {"model", opt.arch},  // beside "arch" for bench/train_step_table.py
                              {"device", device},
                              {"batch", opt.batch},
                              {"image_size", opt.size},
                              {"input", {opt.channels, opt.size, opt.size}},
                              {"threads", threads}};
  if (opt.method == "mocov2") j["moco_k"] = opt.moco_k, j["bn_splits"] = opt.bn_splits;
  if (opt.method == "mocov3") j["mlp_dim"] = opt.mlp_dim;
  if (opt.arch.rfind("vit", 0) == 0)
    j["patch"] = opt.patch, j["depth"] = opt.depth, j["dim"] = opt.dim, j["heads"] = opt.heads;
  else
    j["width"] = opt.width;
  if (opt.log_every > 0) {
    j["log_every"] = opt.log_every;
    j["internals_sec"] = round_to_decimals(median(internals_sec), 5);
    j["plain_step_sec"] = round_to_decimals(median(plain_step_sec), 4);
    j["logged_step_sec"] = round_to_decimals(median(logged_step_sec), 4);
    j["internals_overhead"] = round_to_decimals(internals_overhead(), 6);
    j["internals_times"] = list(internals_sec);
  }
  j["trainable_params"] = trainable_params;
  j["images_per_sec"] = round_to_decimals(images_per_sec(), 2);
  j["sec_per_step"] = round_to_decimals(sec_per_step(), 4);
  j["sec_min"] = round_to_decimals(*std::min_element(step_sec.begin(), step_sec.end()), 4);
  j["sec_max"] = round_to_decimals(*std::max_element(step_sec.begin(), step_sec.end()), 4);
  j["forward_sec"] = round_to_decimals(median(forward_sec), 4);
  j["backward_sec"] = round_to_decimals(median(backward_sec), 4);
  j["optimizer_sec"] = round_to_decimals(median(optimizer_sec), 4);
  j["cpu_sec_per_step"] = round_to_decimals(median(cpu_sec), 4);
  j["peak_rss_mib"] = round_to_decimals(peak_rss_mib, 1);
  j["losses"] = list(losses);
  j["step_times"] = list(step_sec);
  for (const char* e : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY"})
    j[e] = env(e);
  return j.dump();
}

std::string BenchResult::text() const {
  return fmt::format(
      "{} {} batch {}{}, {}x{}x{}, {} threads, {}: {:.2f} images/s, {:.4f} s/step (forward {:.4f}, backward {:.4f}, "
      "optimiser {:.4f}), {:.4f} CPU s/step, peak RSS {:.0f} MiB",
      opt.method, opt.arch, opt.batch, opt.method == "sup" ? "" : " pairs", opt.channels, opt.size, opt.size, threads,
      device, images_per_sec(), sec_per_step(), median(forward_sec), median(backward_sec), median(optimizer_sec),
      median(cpu_sec), peak_rss_mib) +
         (opt.log_every > 0
              ? fmt::format("; internals {:.4f} s per logged step (plain step {:.4f} s, logged {:.4f} s): {:.3f}% "
                            "of step time at --log-every {}",
                            median(internals_sec), median(plain_step_sec), median(logged_step_sec),
                            100 * internals_overhead(), opt.log_every)
              : std::string());
}

BenchResult run_bench(const BenchOptions& o, bool log_steps) {
  set_num_threads(o.threads);
  nn::manual_seed(o.seed);
  const Device device = Device::parse(o.device);

  ModelSpec spec;
  spec.arch = o.arch;
  spec.width = o.width;
  spec.small_stem = true;
  spec.patch = o.patch;
  spec.depth = o.depth;
  spec.dim = o.dim;
  spec.heads = o.heads;
  spec.in_chans = o.channels;
  spec.img_size = o.size;

  std::shared_ptr<nn::Module> model;
  std::shared_ptr<contrastive::MoCo> moco;
  std::unique_ptr<optim::Optimizer> opt;
  auto sgd = [&](std::vector<optim::ParamGroup> groups) {
    optim::SGDConfig c;
    c.lr = 0.06;
    c.momentum = 0.9;
    c.weight_decay = 5e-4;
    return std::make_unique<optim::SGD>(std::move(groups), c);
  };
  auto adamw = [&](std::vector<optim::ParamGroup> groups) {
    optim::AdamWConfig c;
    c.lr = 1.5e-4 * double(o.batch) / 256;
    c.weight_decay = 0.1;
    return std::make_unique<optim::AdamW>(std::move(groups), c);
  };
  if (o.method == "sup") {
    spec.num_classes = 10;
    model = make_backbone(spec);
  } else if (o.method == "mocov2") {
    contrastive::MoCoV2Config c = contrastive::MoCoV2Config::v2();
    c.K = o.moco_k;
    c.m = 0.99;
    c.bn_splits = o.bn_splits;
    c.shuffle_seed = o.seed;
    model = moco = std::make_shared<contrastive::MoCoV2>(make_backbone(spec), c);
  } else {
    spec.stop_grad_conv1 = true;
    contrastive::MoCoV3Config c;
    c.dim = 256;
    c.mlp_dim = o.mlp_dim;
    c.m = 0.99;
    c.T = 0.2;
    // The reference's predictor ends without BN (the official ViT one has it).
    c.predictor_last_bn = contrastive::MoCoV3Config::LastBN::off;
    model = moco = std::make_shared<contrastive::MoCoV3>(make_backbone(spec), c);
  }
  model->to(device);  // before the optimiser takes the parameters
  // As `moco pretrain`: one group of the trainable parameters (the key
  // encoder's and the frozen patch projection's are not), weight decay on all.
  std::vector<optim::ParamGroup> groups{optim::make_group(model->named_parameters(), true)};
  if (spec.is_vit())
    opt = adamw(std::move(groups));
  else
    opt = sgd(std::move(groups));
  model->train();

  Generator gen(o.seed + 1);
  std::function<Tensor()> forward;
  auto last = std::make_shared<contrastive::MoCoOutput>();  // the internals read the step's q, k and logits
  if (!moco) {
    Tensor x = randn({o.batch, o.channels, o.size, o.size}, gen).to(device);
    Tensor y = randint(0, 10, {o.batch}, gen).to(device);
    forward = [model, x, y] { return cross_entropy((*model)(x), y); };
  } else {
    Tensor x1 = randn({o.batch, o.channels, o.size, o.size}, gen).to(device);
    Tensor x2 = randn({o.batch, o.channels, o.size, o.size}, gen).to(device);
    forward = [moco, x1, x2, last] {
      *last = moco->forward_views(x1, x2);
      return last->loss;
    };
  }

  BenchResult r;
  r.opt = o;
  r.device = device.str();
  r.threads = get_num_threads();
  r.trainable_params = model->num_parameters(true);
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    opt->zero_grad();
    Tensor loss = forward();
    const double t_fwd = seconds_since(t0);
    loss.backward();
    double t_bwd = seconds_since(t0), t_int = 0;
    const bool logged = moco && o.log_every > 0 && i >= o.warmup && (i - o.warmup) % 2 == 1;
    if (logged) {  // what `moco pretrain` adds on a logged step: measure, then format the row
      const auto ti = Clock::now();
      const contrastive::Internals in = contrastive::measure_internals(*moco, *last);
      const std::string row = fmt::format(
          "{{\"loss_chance\": {}, \"inst_top1\": {}, \"logit_pos_mean\": {}, \"logit_neg_mean\": {}, "
          "\"logit_neg_std\": {}, \"logit_neg_max\": {}, \"encoder_drift\": {}, \"feature_std\": {}, "
          "\"alignment\": {}, \"uniformity\": {}, \"queue_age_mean\": {}, \"queue_sim_mean\": {}, "
          "\"grad_norm\": {}}}",
          in.loss_chance, in.inst_top1, in.logits.pos_mean, in.logits.neg_mean, in.logits.neg_std,
          in.logits.neg_max, in.encoder_drift, in.feature_std, in.alignment, in.uniformity,
          in.queue_age_mean.value_or(0), in.queue_sim_mean.value_or(0), in.grad_norm);
      MOCO_CHECK(row.size() > 2 && std::isfinite(in.grad_norm), "bench: the internals are not finite: {}", row);
      t_int = seconds_since(ti);
      t_bwd += t_int;
    }
    opt->step();
    r.losses.push_back(loss.item());
    const double dt = seconds_since(t0);
    if (i >= o.warmup) {
      r.cpu_sec.push_back(process_cpu_seconds() - c0);
      r.step_sec.push_back(dt - t_int);
      r.forward_sec.push_back(t_fwd);
      r.backward_sec.push_back(t_bwd - t_int - t_fwd);
      r.optimizer_sec.push_back(dt - t_bwd);
      if (o.log_every > 0 && moco) {
        (logged ? r.logged_step_sec : r.plain_step_sec).push_back(dt);
        if (logged) r.internals_sec.push_back(t_int);
      }
    }
    if (log_steps)
      std::fprintf(stderr, "step %ld: %.3f s (forward %.3f, backward %.3f, optimiser %.3f%s), loss %.4f\n", long(i),
                   dt, t_fwd, t_bwd - t_int - t_fwd, dt - t_bwd,
                   logged ? fmt::format(", internals {:.4f}", t_int).c_str() : "", r.losses.back());
  }
  for (double l : r.losses) MOCO_CHECK(std::isfinite(l), "bench: the loss became {}", l);
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

}  // namespace moco::train
