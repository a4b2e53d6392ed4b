// Reverse-mode autograd: graph nodes, grad mode, and the backward engine.
//
// An op that needs a gradient records one Node on its output. The node holds
// edges to the nodes of its inputs (or to an AccumulateGrad for a leaf) and a
// backward function that captures only what that backward needs. backward()
// walks the graph in topological order, sums gradients per node and frees
// each node's saved tensors once it has run.
//
// With tensor/ this is one layer (see tensor/tensor.h): a Tensor's grad_fn
// is a Node of this file.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moco {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
  std::string name;
  std::vector<std::shared_ptr<Node>> next;  // one per input; null where no grad flows
  virtual ~Node() = default;
  // Gradients w.r.t. each input (undefined where not needed).
  virtual std::vector<Tensor> apply(const Tensor& grad_out) = 0;
  virtual void release() {}
};

// Whether ops record graph nodes (thread local; on by default).
struct GradMode {
  static bool enabled();
  static void set(bool on);
};

// Turns recording off for a scope: the key encoder, EMA updates, evaluation.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set(false); }
  ~NoGradGuard() { GradMode::set(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and any input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as the result of op `name` on `inputs`; `fn` returns one
// gradient per input. Does nothing when no input needs a gradient.
void record(const Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn);

// Called during a backward pass with each leaf whose .grad is complete (every
// path from the root to it has added its part), as soon as it is: data-
// parallel training starts a bucket's all-reduce while the pass goes on.
using LeafReadyFn = std::function<void(const Tensor& leaf)>;

// Backpropagates from `root` (seeded with ones for a one-element root, or
// with `grad`), accumulating into the .grad of the leaves; `on_leaf_ready`
// (if given) hears of each leaf once its gradient is complete.
void run_backward(const Tensor& root, const Tensor& grad, const LeafReadyFn& on_leaf_ready = {});

}  // namespace moco
