#include "tensor/process_group.h"

#include <cstdlib>

namespace moco {

namespace {

class SingleProcess final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "none"; }
  void all_reduce_sum(Tensor&) override {}
  void all_reduce_sum(std::vector<double>&) override {}
  void broadcast(Tensor&, int) override {}
  std::vector<uint64_t> all_gather(uint64_t x) override { return {x}; }
  Tensor all_gather(const Tensor& t) override { return t; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

std::unique_ptr<ProcessGroup>& the_world() {
  static std::unique_ptr<ProcessGroup> w = std::make_unique<SingleProcess>();
  return w;
}

}  // namespace

Tensor all_gather_any_device(ProcessGroup& g, const Tensor& t) {
  const Tensor all = g.all_gather(g.takes(t.device()) ? t.contiguous() : t.to(Device::cpu()).contiguous());
  return all.device() == t.device() ? all : all.to(t.device());
}

std::unique_ptr<ProcessGroup> single_process_group() { return std::make_unique<SingleProcess>(); }

ProcessGroup& world() { return *the_world(); }

void set_world(std::unique_ptr<ProcessGroup> g) { the_world() = std::move(g); }

std::unique_ptr<ProcessGroup> release_world() {
  std::unique_ptr<ProcessGroup> w = std::move(the_world());
  the_world() = single_process_group();
  return w;
}

}  // namespace moco
