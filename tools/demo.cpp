// `moco demo`: trains a 2-layer MLP on a generated two-spirals problem
// (train/spirals_demo.h) and shows the loss going down.
#include <cstdio>

#include "tensor/backend.h"
#include "tools/args.h"
#include "tools/command.h"
#include "train/spirals_demo.h"

namespace moco::cli {

int demo_command(const std::vector<std::string>& argv) {
  Args args("demo", "Train a 2-layer MLP on two generated spirals (a quick end-to-end check).");
  args.opt("steps", "600", "optimisation steps")
      .opt("hidden", "64", "hidden units")
      .opt("lr", "0.5", "SGD learning rate")
      .opt("samples", "1024", "training points")
      .opt("seed", "0", "random seed")
      .opt("threads", "2", "CPU threads");
  if (!args.parse(argv)) return 0;
  set_num_threads(int(args.integer("threads", 1, 1024)));
  train::SpiralsDemo o;
  o.steps = args.integer("steps", 1, 1000000);
  o.hidden = args.integer("hidden", 1, 65536);
  o.lr = args.real("lr", 0, 100);
  o.seed = uint64_t(args.integer("seed", 0));
  o.samples = args.integer("samples", 2, 10000000);
  std::printf("two spirals, %ld points; MLP 2-%ld-2, SGD lr %.3g\n", long(o.samples), long(o.hidden), o.lr);
  const auto [first, last] = train::train_spirals(o, [](const train::SpiralsStep& s) {
    std::printf("step %5ld  loss %.4f  train accuracy %5.1f%%\n", long(s.step), s.loss, 100 * s.accuracy);
  });
  std::printf("loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}

}  // namespace moco::cli
