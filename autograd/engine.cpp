#include "autograd/engine.h"

#include <unordered_map>

#include "tensor/backend.h"

namespace moco {

namespace {
thread_local bool grad_enabled = true;

struct FunctionNode final : Node {
  BackwardFn fn;
  std::vector<Tensor> apply(const Tensor& g) override {
    MOCO_CHECK(fn != nullptr, "backward through '{}' a second time: its saved tensors were already freed", name);
    return fn(g);
  }
  void release() override { fn = nullptr; }
};

// Adds the incoming gradient to a leaf's .grad. Holds the leaf weakly so a
// graph never keeps parameters alive.
struct AccumulateGrad final : Node {
  std::weak_ptr<TensorImpl> leaf;
  std::vector<Tensor> apply(const Tensor& g) override {
    auto impl = leaf.lock();
    if (!impl) return {};
    MOCO_CHECK(g.shape() == impl->shape, "backward: gradient of shape {} for a leaf of shape {}",
               shape_str(g.shape()), shape_str(impl->shape));
    if (!impl->grad) {
      // Own the gradient storage: g may alias a tensor saved elsewhere. A
      // contiguous g that nothing else references (a backward's fresh
      // result, which the engine hands over) is taken as it is: no copy.
      const bool sole = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1;
      if (sole && g.is_contiguous()) impl->grad = g.impl_ptr();
      else impl->grad = g.contiguous().same(g) ? g.clone().impl_ptr() : g.contiguous().impl_ptr();
    } else {
      Tensor(impl->grad).add_(g);
    }
    return {};
  }
};

std::shared_ptr<Node> edge_of(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  auto acc = std::make_shared<AccumulateGrad>();
  acc->name = "AccumulateGrad";
  acc->leaf = t.impl_ptr();
  return acc;
}
}  // namespace

bool GradMode::enabled() { return grad_enabled; }
void GradMode::set(bool on) { grad_enabled = on; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled) return false;
  for (auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>();
  node->name = name;
  node->fn = std::move(fn);
  for (auto& t : inputs) node->next.push_back(edge_of(t));
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
}

void run_backward(const Tensor& root, const Tensor& grad, const LeafReadyFn& on_leaf_ready) {
  MOCO_CHECK(root.requires_grad(), "backward: tensor does not require grad (no input of its graph requires grad)");
  Tensor seed = grad;
  if (!seed.defined()) {
    MOCO_CHECK(root.numel() == 1, "backward: root of shape {} is not a scalar; pass a gradient explicitly",
               shape_str(root.shape()));
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  MOCO_CHECK(seed.shape() == root.shape(), "backward: gradient shape {} does not match tensor shape {}",
             shape_str(seed.shape()), shape_str(root.shape()));
  std::shared_ptr<Node> start = edge_of(root);

  // Count, for every node, how many edges point at it; and, for every leaf,
  // how many AccumulateGrad nodes feed it (one per place the graph uses it).
  std::unordered_map<Node*, int> pending;
  std::unordered_map<TensorImpl*, int> leaf_parts;
  std::vector<Node*> stack{start.get()};
  pending[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (on_leaf_ready)
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n))
        if (auto leaf = acc->leaf.lock()) leaf_parts[leaf.get()]++;
    for (auto& e : n->next) {
      if (!e) continue;
      auto [it, fresh] = pending.try_emplace(e.get(), 0);
      it->second++;
      if (fresh) stack.push_back(e.get());
    }
  }

  NoGradGuard no_grad;  // backward computations are not recorded
  std::unordered_map<Node*, Tensor> grads;
  grads[start.get()] = seed;
  std::vector<std::shared_ptr<Node>> ready{start};
  while (!ready.empty()) {
    std::shared_ptr<Node> n = ready.back();
    ready.pop_back();
    Tensor g = std::move(grads[n.get()]);
    grads.erase(n.get());
    std::vector<Tensor> in_grads = n->apply(g);
    n->release();
    if (on_leaf_ready)
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n.get()))
        if (auto leaf = acc->leaf.lock(); leaf && --leaf_parts[leaf.get()] == 0) on_leaf_ready(Tensor(leaf));
    for (size_t i = 0; i < n->next.size(); ++i) {
      auto& e = n->next[i];
      if (!e) continue;
      if (i < in_grads.size() && in_grads[i].defined()) {
        auto it = grads.find(e.get());
        if (it == grads.end()) {
          grads[e.get()] = in_grads[i];
        } else {
          // Sum into a fresh tensor: the first gradient may alias saved data.
          Tensor sum = Tensor::empty(it->second.shape(), it->second.dtype(), it->second.device());
          backend_for(sum).binary(BinaryOp::add, sum, it->second, expand_view(in_grads[i], sum.shape()));
          it->second = sum;
        }
      }
      if (--pending[e.get()] == 0) ready.push_back(e);
    }
  }
}

}  // namespace moco
