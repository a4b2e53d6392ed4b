#include "contrastive/internals.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/moco_v2.h"

namespace moco::contrastive {

namespace {

// Calls f(p) with p pointing at the values of `t` in row-major order on the
// CPU, as float or double, copying only when `t` is elsewhere or strided: the
// logits of a big queue are tens of MB, too many to copy on every logged step.
template <class F>
void with_host_values(const Tensor& t, F&& f) {
  NoGradGuard no_grad;
  Tensor c = t.detach();
  if (!c.device().is_cpu()) c = c.to(Device::cpu());
  if (c.dtype() != DType::f32 && c.dtype() != DType::f64) c = c.to(DType::f64);
  c = c.contiguous();
  if (c.dtype() == DType::f32)
    f(static_cast<const float*>(c.data<float>()));
  else
    f(static_cast<const double*>(c.data<double>()));
}

void check_matrix(const Tensor& t, const char* what) {
  MOCO_CHECK(t.defined() && t.dim() == 2, "internals: {} must be a [N, d] matrix, got {}", what,
             t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
}

// Rows of x [N, d] as float64, each scaled to unit length when `unit`.
std::vector<double> host_rows(const Tensor& x, bool unit) {
  check_matrix(x, "x");
  const int64_t n = x.size(0), d = x.size(1);
  std::vector<double> out(size_t(n * d));
  with_host_values(x, [&](auto* p) {
    for (int64_t i = 0; i < n * d; ++i) out[size_t(i)] = double(p[i]);
  });
  if (unit)
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += out[size_t(i * d + j)] * out[size_t(i * d + j)];
      const double inv = 1.0 / std::max(std::sqrt(s), 1e-12);  // normalize()'s eps
      for (int64_t j = 0; j < d; ++j) out[size_t(i * d + j)] *= inv;
    }
  return out;
}

// {Σ (a − b)², Σ a²} in float64 on the CPU, in one pass over memory and on
// every thread (a ResNet-18 is 11M parameters: this is most of the cost of a
// logged step); on another device the reductions run there, so parameters are
// never copied to the host. Without b the first sum is Σ a².
std::pair<double, double> sum_squares(const Tensor& a, const Tensor* b = nullptr) {
  NoGradGuard no_grad;
  if (!a.device().is_cpu()) {
    const Tensor ad = a.detach();
    const double norm = sum(mul(ad, ad)).item();
    if (!b) return {norm, norm};
    const Tensor d = sub(ad, b->detach());
    return {sum(mul(d, d)).item(), norm};
  }
  const int64_t n = a.numel();
  double diff = 0, norm = 0;
  with_host_values(a, [&](auto* pa) {
    if (!b) {
#pragma omp parallel for reduction(+ : norm) if (n >= (1 << 16)) schedule(static)
      for (int64_t i = 0; i < n; ++i) norm += double(pa[i]) * double(pa[i]);
      diff = norm;
      return;
    }
    with_host_values(*b, [&](auto* pb) {
#pragma omp parallel for reduction(+ : diff, norm) if (n >= (1 << 16)) schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        const double x = double(pa[i]), d = x - double(pb[i]);
        diff += d * d;
        norm += x * x;
      }
    });
  });
  return {diff, norm};
}

}  // namespace

double chance_loss(int64_t classes, double scale) {
  MOCO_CHECK(classes >= 1, "chance_loss: {} classes", classes);
  return scale * std::log(double(classes));
}

LogitStats logit_stats(const std::vector<Tensor>& logits, const std::vector<Tensor>& labels, double T) {
  MOCO_CHECK(!logits.empty() && logits.size() == labels.size(), "logit_stats: {} logits and {} labels",
             logits.size(), labels.size());
  double pos = 0, neg = 0, neg_sq = 0, neg_max = -std::numeric_limits<double>::infinity();
  int64_t n_pos = 0, n_neg = 0;
  for (size_t m = 0; m < logits.size(); ++m) {
    check_matrix(logits[m], "logits");
    const int64_t N = logits[m].size(0), C = logits[m].size(1);
    const std::vector<int64_t> lab = labels[m].to_vector<int64_t>();
    MOCO_CHECK(int64_t(lab.size()) == N, "logit_stats: {} labels for {} rows", lab.size(), N);
    with_host_values(logits[m], [&](auto* p) {
      for (int64_t i = 0; i < N; ++i) {
        MOCO_CHECK(lab[size_t(i)] >= 0 && lab[size_t(i)] < C, "logit_stats: label {} outside [0, {})",
                   lab[size_t(i)], C);
        for (int64_t j = 0; j < C; ++j) {
          const double v = double(p[i * C + j]) * T;
          if (j == lab[size_t(i)]) {
            pos += v;
            ++n_pos;
          } else {
            neg += v;
            neg_sq += v * v;
            neg_max = std::max(neg_max, v);
            ++n_neg;
          }
        }
      }
    });
  }
  LogitStats s;
  s.pos_mean = n_pos ? pos / double(n_pos) : 0;
  if (n_neg) {
    s.neg_mean = neg / double(n_neg);
    s.neg_std = std::sqrt(std::max(0.0, neg_sq / double(n_neg) - s.neg_mean * s.neg_mean));
    s.neg_max = neg_max;
  }
  return s;
}

double instance_top1(const Tensor& logits, const Tensor& labels) {
  check_matrix(logits, "logits");
  const int64_t N = logits.size(0), C = logits.size(1);
  const std::vector<int64_t> lab = labels.to_vector<int64_t>();
  MOCO_CHECK(int64_t(lab.size()) == N && N > 0, "instance_top1: {} labels for {} rows", lab.size(), N);
  int64_t correct = 0;
  with_host_values(logits, [&](auto* p) {
    for (int64_t i = 0; i < N; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < C; ++j)
        if (p[i * C + j] > p[i * C + best]) best = j;
      correct += best == lab[size_t(i)];
    }
  });
  return 100.0 * double(correct) / double(N);
}

double alignment(const Tensor& q, const Tensor& k) {
  check_matrix(q, "q");
  MOCO_CHECK(k.shape() == q.shape() && q.size(0) > 0, "alignment: q {} and k {} must be the same [N, d], N > 0",
             shape_str(q.shape()), shape_str(k.shape()));
  const std::vector<double> a = host_rows(q, false), b = host_rows(k, false);
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s / double(q.size(0));
}

double uniformity(const Tensor& x, double t) {
  check_matrix(x, "x");
  const int64_t n = x.size(0);
  MOCO_CHECK(n >= 2, "uniformity: needs at least 2 rows, got {}", n);
  // ‖x_i − x_j‖² from the Gram matrix, a product the device does fast even
  // for a batch of 4096; only [N, N] comes to the host.
  Tensor gram;
  {
    NoGradGuard no_grad;
    Tensor xd = x.detach();
    gram = matmul(xd, xd.t());
  }
  // log-mean-exp, shifted by the largest term (the closest pair) so no term underflows.
  auto term = [&](auto* g, int64_t i, int64_t j) {
    return -t * std::max(0.0, double(g[i * n + i]) + double(g[j * n + j]) - 2.0 * double(g[i * n + j]));
  };
  double top = -std::numeric_limits<double>::infinity(), s = 0;
  with_host_values(gram, [&](auto* g) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) top = std::max(top, term(g, i, j));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) s += std::exp(term(g, i, j) - top);
  });
  return top + std::log(s / (0.5 * double(n) * double(n - 1)));
}

double feature_std(const Tensor& z) {
  check_matrix(z, "z");
  const int64_t n = z.size(0), d = z.size(1);
  MOCO_CHECK(n >= 2, "feature_std: needs at least 2 rows, got {}", n);
  const std::vector<double> u = host_rows(z, true);
  double total = 0;
  for (int64_t j = 0; j < d; ++j) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += u[size_t(i * d + j)];
    m /= double(n);
    double v = 0;
    for (int64_t i = 0; i < n; ++i) v += (u[size_t(i * d + j)] - m) * (u[size_t(i * d + j)] - m);
    total += std::sqrt(v / double(n - 1));
  }
  return total / double(d);
}

double encoder_drift(const nn::Module& query, const nn::Module& key) {
  std::map<std::string, Tensor> k;
  for (auto& [n, t] : key.named_parameters()) k.emplace(n, t);
  double diff = 0, norm = 0;
  int64_t shared = 0;
  for (auto& [n, q] : query.named_parameters()) {
    auto it = k.find(n);
    if (it == k.end() || it->second.shape() != q.shape()) continue;
    const auto [d, q2] = sum_squares(q, &it->second);
    diff += d;
    norm += q2;
    ++shared;
  }
  MOCO_CHECK(shared > 0, "encoder_drift: the two encoders share no parameter names");
  return norm > 0 ? std::sqrt(diff / norm) : 0.0;
}

double grad_norm(const nn::Module& m) {
  double s = 0;
  for (auto& [n, p] : m.named_parameters()) {
    const Tensor g = p.grad();
    if (g.defined()) s += sum_squares(g).second;
  }
  return std::sqrt(s);
}

double queue_age_mean(const Queue& queue) {
  const std::vector<int64_t>& a = queue.ages();
  MOCO_CHECK(!a.empty(), "queue_age_mean: the queue is empty");
  double s = 0;
  for (int64_t v : a) s += double(v);
  return s / double(a.size());
}

double queue_sim_mean(const Queue& queue) {
  const int64_t K = queue.size();
  MOCO_CHECK(K >= 2, "queue_sim_mean: needs at least 2 keys, got {}", K);
  const int64_t d = queue.dim();
  const std::vector<double> u = host_rows(queue.keys(), true);
  std::vector<double> total(size_t(d), 0.0);
  double self = 0;  // Σ ‖k̂_i‖²: K, up to rounding (and rows of zeros)
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double v = u[size_t(i * d + j)];
      total[size_t(j)] += v;
      self += v * v;
    }
  double all = 0;
  for (double v : total) all += v * v;
  return (all - self) / (double(K) * double(K - 1));
}

Internals measure_internals(const MoCo& model, const MoCoOutput& out) {
  MOCO_CHECK(!out.logits.empty() && out.q.size() == out.logits.size() && out.k.size() == out.logits.size(),
             "measure_internals: the output has {} logits, {} q and {} k (one each per direction)", out.logits.size(),
             out.q.size(), out.k.size());
  Internals r;
  for (const Tensor& l : out.logits) r.loss_chance += chance_loss(l.size(1), out.loss_scale);
  r.inst_top1 = instance_top1(out.logits[0], out.labels[0]);
  r.logits = logit_stats(out.logits, out.labels, out.T);
  r.encoder_drift = encoder_drift(model.query_encoder(), model.key_encoder());
  const double dirs = double(out.q.size());
  for (size_t i = 0; i < out.q.size(); ++i) {
    r.feature_std += feature_std(out.q[i]) / dirs;
    r.alignment += alignment(out.q[i], out.k[i]) / dirs;
    r.uniformity += 0.5 * (uniformity(out.q[i]) + uniformity(out.k[i])) / dirs;
  }
  r.grad_norm = grad_norm(model);
  if (auto* v2 = dynamic_cast<const MoCoV2*>(&model)) {
    r.queue_age_mean = queue_age_mean(v2->queue());
    r.queue_sim_mean = queue_sim_mean(v2->queue());
  }
  return r;
}

}  // namespace moco::contrastive
