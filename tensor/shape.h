// Shape and stride arithmetic shared by every op.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moco {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); `op` names the caller in errors.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sorted, unique, wrapped dims; an empty list means "all dims".
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

// Strides that let `new_shape` view data laid out as (shape, strides), if
// any exist (torch.view's rule: dims merge or split only where contiguous).
bool view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape, Shape& out);

// `n` items of `item_size` elements each, cut into as few chunks of at most
// `budget` elements as there can be (at least one item per chunk), with sizes
// that differ by at most one: 64 images where 7 fit make ten chunks of 6 or 7,
// not nine of 7 and a last of 1. Chunk k holds items [begin(k), begin(k + 1)).
// The convolutions batch images this way.
struct Chunks {
  int64_t n, count, largest;
  int64_t begin(int64_t k) const { return k * n / count; }
  int64_t size(int64_t k) const { return begin(k + 1) - begin(k); }
};
Chunks equal_chunks(int64_t n, int64_t item_size, int64_t budget);

}  // namespace moco
