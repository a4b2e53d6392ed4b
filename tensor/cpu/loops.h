// The strided iteration every CPU elementwise kernel runs on: walk a shape
// with NT operands (each with its own element strides), coalescing dims and
// handing the body whole inner rows so the common contiguous case vectorises.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/shape.h"

namespace moco::cpu {

// Below this many elements a loop runs on one thread (thread start-up costs more).
constexpr int64_t kParallelGrain = 32768;

// body(const std::array<int64_t, NT>& offsets, int64_t n, const std::array<int64_t, NT>& inner_strides)
template <size_t NT, class Body>
void strided_for(const Shape& shape_in, const std::array<const Shape*, NT>& strides_in, Body&& body) {
  // Drop size-1 dims, then merge neighbours that are contiguous for every operand.
  int64_t numel = 1;
  Shape shape;
  std::array<Shape, NT> st;
  for (size_t d = 0; d < shape_in.size(); ++d) {
    numel *= shape_in[d];
    if (shape_in[d] == 1) continue;
    bool merge = !shape.empty();
    for (size_t k = 0; k < NT && merge; ++k)
      merge = st[k].back() == (*strides_in[k])[d] * shape_in[d];
    if (merge) {
      shape.back() *= shape_in[d];
      for (size_t k = 0; k < NT; ++k) st[k].back() = (*strides_in[k])[d];
    } else {
      shape.push_back(shape_in[d]);
      for (size_t k = 0; k < NT; ++k) st[k].push_back((*strides_in[k])[d]);
    }
  }
  if (numel == 0) return;
  std::array<int64_t, NT> inner_st{};
  if (shape.empty()) {  // a single element
    std::array<int64_t, NT> off{};
    body(off, 1, inner_st);
    return;
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  for (size_t k = 0; k < NT; ++k) inner_st[k] = st[k][nd - 1];
  const int64_t inner = shape[nd - 1];
  if (nd == 1) {  // one long row: split it into blocks for the threads
    const int64_t block = 16384;
    const int64_t nblocks = (inner + block - 1) / block;
#pragma omp parallel for schedule(static) if (numel > kParallelGrain)
    for (int64_t b = 0; b < nblocks; ++b) {
      std::array<int64_t, NT> off;
      for (size_t k = 0; k < NT; ++k) off[k] = b * block * inner_st[k];
      body(off, std::min(block, inner - b * block), inner_st);
    }
    return;
  }
  const int64_t rows = numel / inner;
#pragma omp parallel for schedule(static) if (numel > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    std::array<int64_t, NT> off{};
    int64_t rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = rem % shape[d];
      rem /= shape[d];
      for (size_t k = 0; k < NT; ++k) off[k] += i * st[k][d];
    }
    body(off, inner, inner_st);
  }
}

}  // namespace moco::cpu
