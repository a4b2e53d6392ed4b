#include "data/loader.h"

#include <algorithm>
#include <cstring>

#include "data/rng.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace moco::data {

Tensor collate(const std::vector<FImage>& images) {
  MOCO_CHECK(!images.empty(), "collate: no images");
  const FImage& f = images[0];
  Tensor t = Tensor::empty({int64_t(images.size()), f.c, f.h, f.w});
  float* d = t.data<float>();
  const size_t n = f.px.size();
  for (size_t i = 0; i < images.size(); ++i) {
    const FImage& im = images[i];
    MOCO_CHECK(im.c == f.c && im.h == f.h && im.w == f.w, "collate: image {} is {}x{}x{} but image 0 is {}x{}x{}", i,
               im.c, im.h, im.w, f.c, f.h, f.w);
    std::memcpy(d + i * n, im.px.data(), n * sizeof(float));
  }
  return t;
}

DataLoader::DataLoader(DatasetPtr dataset, Pipeline pipeline, LoaderOptions options)
    : ds_(std::move(dataset)), pipe_(std::move(pipeline)), opt_(options) {
  MOCO_CHECK(ds_ != nullptr, "DataLoader: no data set");
  MOCO_CHECK(opt_.batch_size > 0, "DataLoader: batch_size must be positive, got {}", opt_.batch_size);
  MOCO_CHECK(opt_.num_workers >= 0 && opt_.num_workers <= 256, "DataLoader: num_workers {} out of range [0, 256]",
             opt_.num_workers);
  MOCO_CHECK(opt_.prefetch >= 1, "DataLoader: prefetch must be >= 1, got {}", opt_.prefetch);
  MOCO_CHECK(!pipe_.views.empty() && pipe_.size > 0, "DataLoader: pipeline '{}' has no views or no output size",
             pipe_.name);
  MOCO_CHECK(ds_->size() > 0, "DataLoader: {} is empty", ds_->describe());
  MOCO_CHECK(opt_.world >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world, "DataLoader: rank {} of {} processes",
             opt_.rank, opt_.world);
  MOCO_CHECK(!opt_.drop_last || shard_size() >= opt_.batch_size,
             "DataLoader: {} has {} samples, fewer than one batch of {}{} (drop_last leaves nothing)", ds_->describe(),
             ds_->size(), opt_.batch_size, opt_.world > 1 ? fmt::format(" per process ({} processes)", opt_.world) : "");
  for (int i = 0; i < opt_.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

int64_t DataLoader::shard_size() const {
  const int64_t n = ds_->size(), w = opt_.world, r = opt_.rank;
  return opt_.drop_last ? n / w : (n - r + w - 1) / w;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = shard_size(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(ds_->size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  if (opt_.shuffle) {
    Generator gen(mix_seed(opt_.seed, Stream::shuffle, uint64_t(epoch)));
    shuffle_in_place(order, gen);
  }
  if (opt_.world > 1) {
    std::vector<int64_t> mine(static_cast<size_t>(shard_size()));
    for (size_t j = 0; j < mine.size(); ++j) mine[j] = order[size_t(opt_.rank) + j * size_t(opt_.world)];
    order = std::move(mine);
  }
  return order;
}

std::vector<FImage> DataLoader::sample_views(int64_t index, int64_t epoch) const {
  Generator gen(sample_seed(opt_.seed, epoch, index));
  return pipe_(ds_->image(index), gen);
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  MOCO_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(),
             "DataLoader: first batch {} out of range [0, {}]", first_batch, batches_per_epoch());
  std::vector<int64_t> order = epoch_order(epoch);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++generation_;
    ready_.clear();
    order_ = std::move(order);
    epoch_ = epoch;
    nbatches_ = batches_per_epoch();
    next_task_ = consumed_ = first_batch;
    active_ = true;
  }
  work_cv_.notify_all();
}

bool DataLoader::make_batch(int64_t b, int64_t epoch, uint64_t gen_id, const std::vector<int64_t>& idx,
                            Batch& out) const {
  const int64_t n = int64_t(idx.size());
  const int64_t C = pipe_.channels, S = pipe_.size;
  const size_t per = size_t(C * S * S);
  out.epoch = epoch;
  out.index = b;
  out.indices = idx;
  out.views.clear();
  std::vector<float*> dst;
  for (size_t v = 0; v < pipe_.views.size(); ++v) {
    out.views.push_back(Tensor::empty({n, C, S, S}));
    dst.push_back(out.views.back().data<float>());
  }
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_relaxed) != gen_id) return false;
    const int64_t k = idx[size_t(i)];
    Generator gen(sample_seed(opt_.seed, epoch, k));
    pipe_.run(ds_->image(k), gen, [&](size_t v, const FImage& f) {
      MOCO_CHECK(f.c == C && f.h == S && f.w == S,
                 "DataLoader: sample {} of {} became a {}x{}x{} view {}, expected {}x{}x{} (pipeline {})", k,
                 ds_->describe(), f.c, f.h, f.w, v, C, S, S, pipe_.name);
      std::memcpy(dst[v] + size_t(i) * per, f.px.data(), per * sizeof(float));
    });
    labels[size_t(i)] = ds_->label(k);
  }
  out.labels = Tensor::from_vector(labels, {n});
  return true;
}

void DataLoader::worker_loop() {
  const int64_t capacity = int64_t(opt_.prefetch) * std::max(1, opt_.num_workers);
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    work_cv_.wait(lk, [&] { return stop_ || (active_ && next_task_ < nbatches_ && next_task_ < consumed_ + capacity); });
    if (stop_) return;
    const int64_t b = next_task_++;
    const uint64_t gen_id = generation_;
    const int64_t epoch = epoch_;
    const int64_t start = b * opt_.batch_size;
    const int64_t end = std::min<int64_t>(start + opt_.batch_size, int64_t(order_.size()));
    std::vector<int64_t> idx(order_.begin() + start, order_.begin() + end);
    lk.unlock();
    Result r;
    bool finished = true;
    try {
      finished = make_batch(b, epoch, gen_id, idx, r.batch);
    } catch (...) {
      r.error = std::current_exception();
    }
    lk.lock();
    if (finished && gen_id == generation_) {
      ready_[b] = std::move(r);
      done_cv_.notify_all();
    }
  }
}

bool DataLoader::next(Batch& out) {
  if (!active_) start_epoch(epoch_);
  if (consumed_ >= nbatches_) return false;
  const int64_t b = consumed_;
  Result r;
  if (workers_.empty()) {
    const int64_t start = b * opt_.batch_size;
    const int64_t end = std::min<int64_t>(start + opt_.batch_size, int64_t(order_.size()));
    std::vector<int64_t> idx(order_.begin() + start, order_.begin() + end);
    ++consumed_;
    make_batch(b, epoch_, generation_, idx, out);
    return true;
  }
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return stop_ || ready_.count(b) > 0; });
    MOCO_CHECK(!stop_, "DataLoader: stopped");
    auto it = ready_.find(b);
    r = std::move(it->second);
    ready_.erase(it);
    ++consumed_;
  }
  work_cv_.notify_all();
  if (r.error) std::rethrow_exception(r.error);
  out = std::move(r.batch);
  return true;
}

}  // namespace moco::data
