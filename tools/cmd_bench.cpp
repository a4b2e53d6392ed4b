// `moco bench`: times supervised training steps of the benchmark
// models on random inputs — ResNet-18 (small-image stem) with SGD, ViT-Tiny
// (patch 4) with AdamW — the same work as bench/torch_train_step.py does in
// PyTorch. A step = zero_grad + forward + cross-entropy + backward +
// optimiser step + reading the loss. Reports the median over the timed steps,
// images/s, the forward / backward / optimiser split, the process CPU time per
// step (all threads; less sensitive than wall time to other jobs on a shared
// machine) and the peak RSS.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "optim/adamw.h"
#include "optim/sgd.h"
#include "tensor/backend.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
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

std::string env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v ? "\"" + std::string(v) + "\"" : "null";
}

int run(const std::vector<std::string>& argv) {
  Args args("bench",
            "Time supervised training steps on random data: resnet18 (small-image stem, SGD 0.06/0.9/5e-4) or "
            "vit_tiny (patch 4, AdamW lr 1.5e-4*B/256, wd 0.1), 10 classes.");
  args.opt("model", "resnet18", "resnet18 | resnet34 | resnet50 | vit_tiny | vit_small")
      .opt("batch", "64", "images per step")
      .opt("size", "32", "image side in pixels")
      .opt("channels", "3", "image channels")
      .opt("width", "64", "ResNet base width")
      .opt("patch", "4", "ViT patch size")
      .opt("depth", "12", "ViT depth")
      .opt("warmup", "2", "untimed steps first")
      .opt("steps", "5", "timed steps (the median is reported)")
      .opt("threads", "2", "CPU threads")
      .opt("seed", "0", "seed for weights and data")
      .opt("device", "cpu", "cpu | cuda (cuda:N); on a GPU the step ends with loss.item(), which waits for it")
      .flag("json", "print one JSON line instead of text");
  if (!args.parse(argv)) return 0;
  set_num_threads(int(args.integer("threads", 1, 1024)));
  const std::string model_name = args.str("model");
  const int64_t B = args.integer("batch", 1, 1 << 20), S = args.integer("size", 8, 4096),
                C = args.integer("channels", 1, 64);
  const int64_t warmup = args.integer("warmup", 0, 1000), steps = args.integer("steps", 1, 100000);
  const uint64_t seed = uint64_t(args.integer("seed", 0));
  nn::manual_seed(seed);
  const Device device = Device::parse(args.str("device"));

  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> opt;
  if (model_name.rfind("resnet", 0) == 0) {
    nn::ResNetConfig cfg;
    cfg.depth = std::stoi(model_name.substr(6));
    cfg.in_channels = C;
    cfg.small_stem = true;
    cfg.width = args.integer("width", 1, 4096);
    cfg.num_classes = 10;
    model = std::make_shared<nn::ResNet>(cfg);
    model->to(device);  // before the optimiser takes the parameters
    optim::SGDConfig sc;
    sc.lr = 0.06;
    sc.momentum = 0.9;
    sc.weight_decay = 5e-4;
    opt = std::make_unique<optim::SGD>(model->parameters(true), sc);
  } else if (model_name.rfind("vit", 0) == 0) {
    nn::ViTConfig cfg = nn::ViTConfig::preset(model_name);
    cfg.img_size = S;
    cfg.in_chans = C;
    cfg.patch_size = args.integer("patch", 1, 1024);
    cfg.depth = args.integer("depth", 1, 1024);
    cfg.num_classes = 10;
    model = std::make_shared<nn::VisionTransformer>(cfg);
    model->to(device);
    optim::AdamWConfig ac;
    ac.lr = 1.5e-4 * double(B) / 256;
    ac.weight_decay = 0.1;
    opt = std::make_unique<optim::AdamW>(model->parameters(true), ac);
  } else {
    fail("unknown --model '{}' (resnet18, resnet34, resnet50, vit_tiny, vit_small)", model_name);
  }
  model->train();

  Generator gen(seed + 1);
  Tensor x = randn({B, C, S, S}, gen);
  Tensor y = randint(0, 10, {B}, gen);
  x = x.to(device);
  y = y.to(device);

  std::vector<double> times, fwd, bwd, upd, cpu, losses;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    opt->zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    const double t_fwd = seconds_since(t0);
    loss.backward();
    const double t_bwd = seconds_since(t0);
    opt->step();
    losses.push_back(loss.item());
    const double dt = seconds_since(t0);
    if (i >= warmup) {
      cpu.push_back(process_cpu_seconds() - c0);
      times.push_back(dt);
      fwd.push_back(t_fwd);
      bwd.push_back(t_bwd - t_fwd);
      upd.push_back(dt - t_bwd);
    }
    if (!args.on("json"))
      std::fprintf(stderr, "step %ld: %.3f s (forward %.3f, backward %.3f, optimiser %.3f), loss %.4f\n", long(i), dt,
                   t_fwd, t_bwd - t_fwd, dt - t_bwd, losses.back());
  }
  for (double l : losses) MOCO_CHECK(std::isfinite(l), "bench: the loss became {}", l);
  const double med = median(times);
  const double rss = peak_rss_mib();
  if (args.on("json")) {
    std::string ls;
    for (double l : losses) ls += fmt::format("{}{:.4f}", ls.empty() ? "" : ", ", l);
    std::printf(
        "{\"impl\": \"moco.cpp\", \"device\": \"%s\", \"model\": \"%s\", \"batch\": %ld, \"input\": [%ld, %ld, %ld], \"threads\": %d, "
        "\"trainable_params\": %ld, \"images_per_sec\": %.2f, \"sec_per_step\": %.4f, \"sec_min\": %.4f, "
        "\"sec_max\": %.4f, \"forward_sec\": %.4f, \"backward_sec\": %.4f, \"optimizer_sec\": %.4f, "
        "\"cpu_sec_per_step\": %.4f, \"peak_rss_mib\": %.1f, \"losses\": [%s], \"OPENBLAS_CORETYPE\": %s, \"OPENBLAS_L2_SIZE\": %s}\n",
        device.str().c_str(), model_name.c_str(), long(B), long(C), long(S), long(S), get_num_threads(),
        long(model->num_parameters(true)),
        double(B) / med, med, *std::min_element(times.begin(), times.end()),
        *std::max_element(times.begin(), times.end()), median(fwd), median(bwd), median(upd), median(cpu), rss, ls.c_str(),
        env_or_null("OPENBLAS_CORETYPE").c_str(), env_or_null("OPENBLAS_L2_SIZE").c_str());
  } else {
    std::printf("%s batch %ld, %ldx%ldx%ld, %d threads: %.2f images/s, %.4f s/step (forward %.4f, backward %.4f, "
                "optimiser %.4f), %.4f CPU s/step, peak RSS %.0f MiB\n",
                model_name.c_str(), long(B), long(C), long(S), long(S), get_num_threads(), double(B) / med, med,
                median(fwd), median(bwd), median(upd), median(cpu), rss);
  }
  return 0;
}

Register reg({"bench", "time supervised training steps (resnet18 / vit_tiny) on random data, --json for a JSON line",
              run});

}  // namespace
}  // namespace moco::cli
