// Started by tests/dist under `mpirun -np 2` with one mode:
//   hang    rank 1 sleeps while rank 0 waits in an all-reduce with a 1 s
//           timeout: rank 0's watchdog must end the job (non-zero exit, a message);
//   prompt  the same all-reduce with both ranks present: it returns (exit 0);
//   drift   rank 1 changes one weight: check_parameters_in_sync must fail, naming it;
//   same    the ranks hold the same weights: the check passes (exit 0).
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "autograd/engine.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "tensor/error.h"
#include "train/dist.h"

using namespace moco;

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "hang" || mode == "prompt") {
    g.set_timeout(1.0);
    if (mode == "hang" && g.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
    std::vector<double> v = {double(g.rank() + 1)};
    g.all_reduce_sum(v);
    std::printf("rank %d: all-reduce returned %g\n", g.rank(), v[0]);
  } else if (mode == "drift" || mode == "same") {
    auto m = std::make_shared<nn::Sequential>(
        std::initializer_list<std::shared_ptr<nn::Module>>{std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::Linear>(3, 2)});
    train::broadcast_module(g, *m);
    if (mode == "drift" && g.rank() == 1) {
      NoGradGuard no_grad;
      Tensor b = m->named_parameters()[3].second;  // 1.bias
      b.mul_(1.0 + 1e-6);  // a rounding-sized difference
    }
    train::check_parameters_in_sync(g, *m, "after step 7");
    std::printf("rank %d: weights in sync\n", g.rank());
  } else {
    std::fprintf(stderr, "usage: guard_check hang|prompt|drift|same\n");
    return 2;
  }
  train::finalize_distributed();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "rank %d: error: %s\n", world().rank(), e.what());
  world().abort(1);
}
