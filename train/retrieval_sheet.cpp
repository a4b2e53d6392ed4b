#include "train/retrieval_sheet.h"

#include <algorithm>

#include "tensor/error.h"

namespace moco::train {

int sheet_scale(int side) {
  MOCO_CHECK(side > 0, "sheet_scale: image side {}", side);
  return std::max(1, (56 + side - 1) / side);
}

data::Image retrieval_sheet(const std::vector<std::vector<SheetCell>>& rows, int scale) {
  MOCO_CHECK(!rows.empty() && scale >= 1, "retrieval_sheet: {} rows at scale {}", rows.size(), scale);
  int side = 0;
  size_t columns = 0;
  for (auto& r : rows) {
    columns = std::max(columns, r.size());
    for (auto& c : r) side = std::max({side, c.image.h, c.image.w});
  }
  MOCO_CHECK(side > 0, "retrieval_sheet: no images");
  SheetLayout L;
  L.cell = side * scale;
  data::Image sheet(L.height(int(rows.size())), L.width(int(columns)), 3);
  std::fill(sheet.px.begin(), sheet.px.end(), uint8_t(40));
  struct Rgb {
    uint8_t r, g, b;
  };
  const Rgb query{200, 200, 200}, same{0, 158, 115}, other{213, 94, 0};  // Okabe-Ito bluish green, vermillion
  auto fill = [&](int y0, int x0, int h, int w, Rgb c) {
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) {
        sheet.at(y, x, 0) = c.r;
        sheet.at(y, x, 1) = c.g;
        sheet.at(y, x, 2) = c.b;
      }
  };
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const SheetCell& cell = rows[r][c];
      const Rgb colour = cell.kind == SheetCell::query ? query : cell.kind == SheetCell::same ? same : other;
      const int fy = L.frame_y(int(r)), fx = L.frame_x(int(c));
      fill(fy, fx, L.cell + 2 * L.frame, L.cell + 2 * L.frame, colour);
      const int iy = fy + L.frame, ix = fx + L.frame;
      fill(iy, ix, L.cell, L.cell, {0, 0, 0});
      const data::Image& im = cell.image;
      MOCO_CHECK(im.c == 1 || im.c == 3, "retrieval_sheet: images must have 1 or 3 channels, got {}", im.c);
      // Centred when smaller than the cell (a non-square image).
      const int oy = iy + (L.cell - im.h * scale) / 2, ox = ix + (L.cell - im.w * scale) / 2;
      for (int y = 0; y < im.h * scale; ++y)
        for (int x = 0; x < im.w * scale; ++x)
          for (int ch = 0; ch < 3; ++ch) sheet.at(oy + y, ox + x, ch) = im.at(y / scale, x / scale, im.c == 3 ? ch : 0);
      if (cell.kind == SheetCell::query) continue;
      // The mark overlaps the frame's top left corner, so it reads as part of the frame.
      const int m = std::max(8, L.cell / 5), t = 2;
      fill(fy, fx, m, m, colour);
      if (cell.kind == SheetCell::other) fill(fy + t, fx + t, m - 2 * t, m - 2 * t, {255, 255, 255});
    }
  return sheet;
}

}  // namespace moco::train
