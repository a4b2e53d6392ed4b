// The MoCo v1/v2 queue: normalised random start, ring enqueue, the K % batch
// rule, and the checkpoint layout of builder.py's buffers.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "contrastive/queue.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {
Tensor rows(int64_t B, int64_t dim, double base) {
  std::vector<float> v(size_t(B * dim));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(base + double(i));
  return Tensor::from_vector(v, {B, dim});
}
}  // namespace

TEST_CASE("queue starts with K random unit keys") {
  Generator g(7);
  Queue q(64, 8, g);
  CHECK(q.size() == 64);
  CHECK(q.dim() == 8);
  CHECK(q.ptr() == 0);
  CHECK(q.keys().shape() == Shape{64, 8});
  CHECK_CLOSE(sqrt(sum(mul(q.keys(), q.keys()), {1})), Tensor::ones({64}), 1e-6, 1e-6);
  // Not all the same key: the spread of the first coordinate is that of a random unit vector.
  const auto v = q.keys().to_vector<float>();
  CHECK(v[0] != v[8]);
  Generator g2(7);
  Queue same(64, 8, g2);
  CHECK_CLOSE(same.keys(), q.keys(), 0, 0);  // the seed decides
}

TEST_CASE("enqueue writes at the pointer and wraps") {
  Generator g(1);
  Queue q(6, 2, g);
  const Tensor before = q.keys().clone();
  q.enqueue(rows(2, 2, 100));
  CHECK(q.ptr() == 2);
  CHECK_CLOSE(q.keys().narrow(0, 0, 2), rows(2, 2, 100), 0, 0);
  CHECK_CLOSE(q.keys().narrow(0, 2, 4), before.narrow(0, 2, 4), 0, 0);
  q.enqueue(rows(2, 2, 200));
  q.enqueue(rows(2, 2, 300));
  CHECK(q.ptr() == 0);  // wrapped
  q.enqueue(rows(2, 2, 400));  // overwrites the oldest
  CHECK(q.ptr() == 2);
  CHECK_CLOSE(q.keys().narrow(0, 0, 2), rows(2, 2, 400), 0, 0);
  CHECK_CLOSE(q.keys().narrow(0, 2, 2), rows(2, 2, 200), 0, 0);
  CHECK_CLOSE(q.keys().narrow(0, 4, 2), rows(2, 2, 300), 0, 0);
}

TEST_CASE("queue errors: K not a multiple of the batch, wrong key width, changing batch") {
  Generator g(1);
  Queue q(8, 4, g);
  CHECK_THROWS_CONTAINS(q.enqueue(rows(3, 4, 0)), "K = 8 must be a multiple of the keys enqueued per step (3");
  CHECK_THROWS_CONTAINS(q.check_keys_per_step(6), "K % 6 == 0");
  CHECK_THROWS_CONTAINS(q.enqueue(rows(2, 3, 0)), "expected keys [B, 4]");
  q.enqueue(rows(2, 4, 0));
  CHECK_THROWS_CONTAINS(q.enqueue(rows(8, 4, 0)), "do not fit at pointer 2");
  CHECK_THROWS_CONTAINS(Queue(0, 4, g), "must be positive");
}

TEST_CASE("queue state uses builder.py's buffers: queue [dim, K] and queue_ptr [1]") {
  Generator g(3);
  Queue q(8, 4, g);
  q.enqueue(rows(4, 4, 10));
  auto st = q.state_dict("module.");
  REQUIRE(st.size() == 2);
  CHECK(st[0].first == "module.queue");
  CHECK(st[0].second.shape() == Shape{4, 8});
  CHECK_CLOSE(st[0].second.t(), q.keys(), 0, 0);
  CHECK(st[1].first == "module.queue_ptr");
  CHECK(st[1].second.dtype() == DType::i64);
  CHECK(st[1].second.item() == 4);

  Generator g2(99);
  Queue r(8, 4, g2);
  r.load_state_dict(st, "module.");
  CHECK(r.ptr() == 4);
  CHECK_CLOSE(r.keys(), q.keys(), 0, 0);
  // A loaded queue continues exactly where the saved one was.
  q.enqueue(rows(4, 4, 50));
  r.enqueue(rows(4, 4, 50));
  CHECK_CLOSE(r.keys(), q.keys(), 0, 0);
  CHECK(r.ptr() == q.ptr());

  Queue wrong(16, 4, g2);
  CHECK_THROWS_CONTAINS(wrong.load_state_dict(st, "module."), "expected [4, 16] ([dim, K])");
  CHECK_THROWS_CONTAINS(wrong.load_state_dict(st), "queue");  // names without the prefix are missing
}

TEST_CASE("queue clone owns its storage") {
  Generator g(3);
  Queue q(4, 2, g);
  Queue c = q.clone();
  q.enqueue(rows(2, 2, 7));
  CHECK(c.ptr() == 0);
  CHECK(c.keys().to_vector<float>() != q.keys().to_vector<float>());
}
