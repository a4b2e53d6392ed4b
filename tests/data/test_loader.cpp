// The threaded loader: batch shapes, drop_last, shuffling, the same batches
// for any number of workers, error propagation, bounded prefetch and clean
// shutdown in the middle of an epoch.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "data/loader.h"
#include "test_util.h"

using namespace moco;
using namespace moco::data;

namespace {

// 103 RGB 12x14 images whose content encodes the index; optional delay,
// optional failing index; counts image() calls.
class ToyDataset : public Dataset {
 public:
  explicit ToyDataset(int64_t n = 103, int delay_ms = 0, int64_t bad = -1) : n_(n), delay_(delay_ms), bad_(bad) {}
  int64_t size() const override { return n_; }
  Image image(int64_t i) const override {
    calls++;
    if (delay_) std::this_thread::sleep_for(std::chrono::milliseconds(delay_));
    MOCO_CHECK(i != bad_, "toy: image {} is corrupt", i);
    Image im(12, 14, 3);
    for (size_t k = 0; k < im.px.size(); ++k) im.px[k] = uint8_t((i * 7 + k * 3) & 255);
    return im;
  }
  int64_t label(int64_t i) const override { return i % 5; }
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe() const override { return "toy"; }
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_;
  int delay_;
  int64_t bad_;
  std::vector<std::string> classes_{"a", "b", "c", "d", "e"};
};

std::vector<Batch> run_epoch(DataLoader& dl, int64_t epoch) {
  std::vector<Batch> out;
  dl.start_epoch(epoch);
  Batch b;
  while (dl.next(b)) out.push_back(b);
  return out;
}

PresetOptions small() {
  PresetOptions o;
  o.size = 8;
  return o;
}

}  // namespace

TEST_CASE("loader: shapes, labels, drop_last, shuffling, views as sample_views makes them") {
  auto ds = std::make_shared<ToyDataset>();
  LoaderOptions o;
  o.batch_size = 10;
  o.num_workers = 2;
  o.seed = 5;
  DataLoader dl(ds, moco_v2(small()), o);
  CHECK(dl.batches_per_epoch() == 10);
  auto e0 = run_epoch(dl, 0);
  REQUIRE(e0.size() == 10);
  std::set<int64_t> seen;
  for (size_t bi = 0; bi < e0.size(); ++bi) {
    const Batch& b = e0[bi];
    CHECK(b.index == int64_t(bi));
    REQUIRE(b.views.size() == 2);
    CHECK(b.views[0].shape() == Shape{10, 3, 8, 8});
    CHECK(b.views[1].shape() == Shape{10, 3, 8, 8});
    CHECK(b.labels.shape() == Shape{10});
    CHECK(b.labels.dtype() == DType::i64);
    auto labels = b.labels.to_vector<int64_t>();
    for (size_t i = 0; i < b.indices.size(); ++i) {
      CHECK(labels[i] == b.indices[i] % 5);
      CHECK(seen.insert(b.indices[i]).second);
    }
  }
  CHECK(seen.size() == 100);  // drop_last dropped 3
  // Shuffled: not the identity order; another epoch, another order.
  CHECK(e0[0].indices != std::vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto e1 = run_epoch(dl, 1);
  CHECK(e1[0].indices != e0[0].indices);
  // The batch holds exactly what sample_views makes for (seed, epoch, index).
  const Batch& b = e1[3];
  auto views = dl.sample_views(b.indices[4], 1);
  const float* q = b.views[0].data<float>() + 4 * 3 * 8 * 8;
  const float* k = b.views[1].data<float>() + 4 * 3 * 8 * 8;
  CHECK(std::equal(views[0].px.begin(), views[0].px.end(), q));
  CHECK(std::equal(views[1].px.begin(), views[1].px.end(), k));

  LoaderOptions keep = o;
  keep.drop_last = false;
  keep.shuffle = false;
  DataLoader all(ds, eval_transform(small()), keep);
  auto e = run_epoch(all, 0);
  REQUIRE(e.size() == 11);
  CHECK(e.back().views[0].shape() == Shape{3, 3, 8, 8});
  CHECK(e[0].indices == std::vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_CASE("loader: identical batches for 0, 1, 2 and 3 workers") {
  auto ds = std::make_shared<ToyDataset>();
  std::vector<std::vector<Batch>> runs;
  for (int w : {0, 1, 2, 3}) {
    LoaderOptions o;
    o.batch_size = 16;
    o.num_workers = w;
    o.prefetch = 1 + w % 2;
    o.seed = 99;
    DataLoader dl(ds, moco_v3(small()), o);
    auto e = run_epoch(dl, 2);
    auto f = run_epoch(dl, 3);
    e.insert(e.end(), f.begin(), f.end());
    runs.push_back(std::move(e));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    CAPTURE(r);
    REQUIRE(runs[r].size() == runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CHECK(runs[r][i].indices == runs[0][i].indices);
      for (size_t v = 0; v < 2; ++v)
        CHECK(runs[r][i].views[v].to_vector<float>() == runs[0][i].views[v].to_vector<float>());
      CHECK(runs[r][i].labels.to_vector<int64_t>() == runs[0][i].labels.to_vector<int64_t>());
    }
  }
  // Resuming mid-epoch gives the batches the uninterrupted epoch gave.
  {
    LoaderOptions o;
    o.batch_size = 16;
    o.num_workers = 2;
    o.seed = 99;
    DataLoader dl(ds, moco_v3(small()), o);
    dl.start_epoch(2, 4);
    Batch b;
    for (size_t i = 4; i < 6; ++i) {
      REQUIRE(dl.next(b));
      CHECK(b.index == int64_t(i));
      CHECK(b.indices == runs[0][i].indices);
      CHECK(b.views[1].to_vector<float>() == runs[0][i].views[1].to_vector<float>());
    }
    CHECK_FALSE(dl.next(b));
    CHECK_THROWS_AS(dl.start_epoch(0, 7), Error);
  }
  // Another seed gives other batches.
  LoaderOptions o;
  o.batch_size = 16;
  o.seed = 100;
  DataLoader dl(ds, moco_v3(small()), o);
  auto g = run_epoch(dl, 2);
  CHECK(g[0].indices != runs[0][0].indices);
}

TEST_CASE("loader: a worker's error reaches the consumer with its message") {
  auto ds = std::make_shared<ToyDataset>(40, 0, 17);
  for (int w : {0, 2}) {
    LoaderOptions o;
    o.batch_size = 8;
    o.shuffle = false;
    o.num_workers = w;
    DataLoader dl(ds, moco_v2(small()), o);
    dl.start_epoch(0);
    Batch b;
    CHECK(dl.next(b));
    CHECK(dl.next(b));
    CHECK_THROWS_WITH_AS(dl.next(b), doctest::Contains("image 17 is corrupt"), Error);
    CHECK(dl.next(b));  // the epoch goes on after the bad batch
    CHECK(b.index == 3);
  }
  CHECK_THROWS_AS(DataLoader(ds, moco_v2(small()), LoaderOptions{64, true, true, 2, 2, 0}), Error);  // < 1 batch
}

TEST_CASE("loader: bounded prefetch; destroying it mid-epoch neither hangs nor leaks") {
  auto ds = std::make_shared<ToyDataset>(400, 2);
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  o.prefetch = 1;
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!done) {
      std::fprintf(stderr, "test_loader: DataLoader shutdown hung for 10 s\n");
      std::_Exit(1);
    }
  });
  {
    DataLoader dl(ds, moco_v2(small()), o);
    dl.start_epoch(0);
    Batch b;
    REQUIRE(dl.next(b));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    // At most prefetch * workers = 2 batches are made ahead (plus the one taken).
    CHECK(ds->calls.load() <= 3 * 4);
    REQUIRE(dl.next(b));
    dl.start_epoch(1);  // abandon epoch 0 mid-way
    REQUIRE(dl.next(b));
    CHECK(b.epoch == 1);
    CHECK(b.index == 0);
  }  // destructor joins while workers are mid-batch
  {
    DataLoader never_started(ds, moco_v2(small()), o);
  }
  done = true;
  watchdog.join();
}

TEST_CASE("loader: a rank's shard is DistributedSampler's; the ranks' batches b make up one process's batch b") {
  auto ds = std::make_shared<ToyDataset>();  // 103 images
  LoaderOptions one;
  one.batch_size = 8;
  one.num_workers = 0;
  one.seed = 3;
  DataLoader whole(ds, moco_v2(small()), one);
  const std::vector<Batch> ref = run_epoch(whole, 2);
  REQUIRE(ref.size() == 12);  // 103 / 8
  const std::vector<int64_t> order = whole.epoch_order(2);
  std::vector<std::vector<Batch>> per_rank;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o = one;
    o.batch_size = 4;
    o.rank = r;
    o.world = 2;
    DataLoader dl(ds, moco_v2(small()), o);
    CHECK(dl.shard_size() == 51);  // floor(103 / 2)
    CHECK(dl.batches_per_epoch() == 12);
    const std::vector<int64_t> mine = dl.epoch_order(2);
    for (size_t j = 0; j < mine.size(); ++j) CHECK(mine[j] == order[size_t(r) + 2 * j]);  // r, r+N, r+2N, ...
    per_rank.push_back(run_epoch(dl, 2));
  }
  for (size_t b = 0; b < ref.size(); ++b) {
    std::multiset<int64_t> global(ref[b].indices.begin(), ref[b].indices.end()), joined;
    for (auto& rb : per_rank) joined.insert(rb[b].indices.begin(), rb[b].indices.end());
    CHECK(global == joined);
    // The same image gets the same augmentation on whichever rank takes it: seeds follow (seed, epoch, index).
    const int64_t first = per_rank[1][b].indices[0];
    const auto at = std::find(ref[b].indices.begin(), ref[b].indices.end(), first) - ref[b].indices.begin();
    CHECK_CLOSE(per_rank[1][b].views[0].slice(0, 0, 1), ref[b].views[0].slice(0, at, at + 1), 0.0, 0.0);
  }
  // Without drop_last (evaluation) the ranks share out every image exactly once.
  std::multiset<int64_t> all;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions o = one;
    o.drop_last = false;
    o.shuffle = false;
    o.rank = r;
    o.world = 3;
    DataLoader dl(ds, eval_transform(small()), o);
    for (const Batch& b : run_epoch(dl, 0)) all.insert(b.indices.begin(), b.indices.end());
  }
  CHECK(all.size() == 103);
  CHECK(std::set<int64_t>(all.begin(), all.end()).size() == 103);
  LoaderOptions bad = one;
  bad.rank = 2;
  bad.world = 2;
  CHECK_THROWS_WITH(DataLoader(ds, moco_v2(small()), bad), doctest::Contains("rank 2 of 2 processes"));
}
