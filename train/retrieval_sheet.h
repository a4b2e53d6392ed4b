// The retrieval sheet of `moco inspect`: test images, each beside its
// nearest train images, every neighbour's frame saying same class or not.
#pragma once
#include <vector>

#include "data/image.h"

namespace moco::train {

// One image of the retrieval sheet and what its frame says.
struct SheetCell {
  enum Kind { query, same, other };
  data::Image image;  // 8-bit, 1 or 3 channels, at most cell / scale pixels a side
  Kind kind = query;
};

// The sheet's geometry: every image scaled up to a `cell`-pixel square inside
// a frame, `pad` pixels between frames and around the sheet, and `gap` more
// after the query column so the queries stand apart from their neighbours.
struct SheetLayout {
  int cell = 56;
  int frame = 3, pad = 4, gap = 8;
  int width(int columns) const { return pad + columns * (cell + 2 * frame + pad) + (columns > 1 ? gap : 0); }
  int height(int rows) const { return pad + rows * (cell + 2 * frame + pad); }
  int frame_x(int column) const { return pad + column * (cell + 2 * frame + pad) + (column > 0 ? gap : 0); }
  int frame_y(int row) const { return pad + row * (cell + 2 * frame + pad); }
};

// The integer factor that shows images of `side` pixels at least 56 pixels
// wide (28 px Fashion-MNIST: 2), by pixel replication, so they stay sharp.
int sheet_scale(int side);

// Row r of `rows`: the query, then its neighbours. Frames: light grey for the
// query; for a neighbour bluish green when it has the query's class and
// vermillion when not (the Okabe-Ito pair, told apart by most colour-blind
// readers), and, so that no reader depends on colour, a square in its top
// left corner, filled for the same class and hollow for another.
data::Image retrieval_sheet(const std::vector<std::vector<SheetCell>>& rows, int scale);

}  // namespace moco::train
