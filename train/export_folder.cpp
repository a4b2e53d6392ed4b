#include "train/export_folder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "data/dataset.h"
#include "data/io.h"
#include "data/rng.h"
#include "data/transforms.h"
#include "tensor/random.h"
#include "train/data_setup.h"

namespace moco::train {

namespace fs = std::filesystem;
using data::Image;

namespace {

struct Rgb {
  double r = 0, g = 0, b = 0;
};

Rgb hsv(double h, double s, double v) {
  const double h6 = std::fmod(h, 1.0) * 6.0, f = h6 - std::floor(h6);
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (int(h6) % 6) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

double luma(const Rgb& c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b; }

uint8_t to_byte(double x) { return uint8_t(std::lround(std::clamp(x, 0.0, 1.0) * 255.0)); }

// --classes as label ids of `ds`, by index or by name (the data set's own or
// its folder name, so a name copied from an exported folder works too).
std::vector<int64_t> resolve_classes(const std::string& list, const data::Dataset& ds) {
  const std::vector<std::string>& names = ds.classes();
  const int64_t nc = ds.num_classes();
  std::vector<int64_t> ids;
  for (const std::string& item : split_list(list)) {
    int64_t id = -1;
    if (item.find_first_not_of("0123456789") == std::string::npos) {
      MOCO_USAGE_CHECK(item.size() <= 9 && std::stoll(item) < nc, "--classes: class {} is out of range: {} has {} classes (0-{})",
                       item, ds.describe(), nc, nc - 1);
      id = std::stoll(item);
    } else {
      for (int64_t c = 0; c < nc && id < 0; ++c)
        if (names[size_t(c)] == item || safe_file_name(names[size_t(c)]) == item) id = c;
      MOCO_USAGE_CHECK(id >= 0, "--classes: no class '{}' in {} (classes: {})", item, ds.describe(), fmt::join(names, ", "));
    }
    MOCO_USAGE_CHECK(std::find(ids.begin(), ids.end(), id) == ids.end(), "--classes: class '{}' is listed twice", item);
    ids.push_back(id);
  }
  return ids;
}

std::vector<int64_t> class_counts(const data::Dataset& ds) {
  std::vector<int64_t> n(size_t(ds.num_classes()), 0);
  for (int64_t l : ds.labels())
    if (l >= 0 && l < int64_t(n.size())) ++n[size_t(l)];
  return n;
}

struct Item {
  int64_t index;  // in the source split: the file's name
  size_t cls;     // position in the exported class list
};

// Per class, a seeded random `per_class` of its images (all when it has fewer
// or per_class is 0), in source order within the class.
std::vector<Item> pick(const data::Dataset& ds, const std::vector<int64_t>& ids, int64_t per_class, uint64_t seed,
                       uint64_t tag) {
  std::vector<std::vector<int64_t>> members(ids.size());
  const std::vector<int64_t> labels = ds.labels();
  for (int64_t i = 0; i < int64_t(labels.size()); ++i) {
    auto it = std::find(ids.begin(), ids.end(), labels[size_t(i)]);
    if (it != ids.end()) members[size_t(it - ids.begin())].push_back(i);
  }
  std::vector<Item> out;
  for (size_t k = 0; k < ids.size(); ++k) {
    std::vector<int64_t>& m = members[k];
    if (per_class > 0 && per_class < int64_t(m.size())) {
      Generator gen(data::mix_seed(seed, data::Stream::subset, tag, uint64_t(ids[k] + 1)));
      data::shuffle_in_place(m, gen);
      m.resize(size_t(per_class));
      std::sort(m.begin(), m.end());
    }
    for (int64_t i : m) out.push_back({i, k});
  }
  return out;
}

int digits(int64_t n) {
  int d = 1;
  while (n >= 10) n /= 10, ++d;
  return d;
}

// Keeps the streams of this command apart from training's, which use the same
// Stream tags with small numbers (epochs, labels).
constexpr uint64_t kTag = 0x4578706f7274ull;  // "Export"

}  // namespace

std::string safe_file_name(const std::string& name) {
  std::string out;
  for (unsigned char ch : name)
    out += ch < 32 || ch == 127 || std::strchr("/\\<>:\"|?*", ch) != nullptr ? '_' : char(ch);
  if (out.empty()) out = "_";
  if (out[0] == '.') out[0] = '_';
  return out;
}

Image colourise(const Image& gray, Generator& gen) {
  MOCO_CHECK(gray.c == 1 || gray.c == 2, "colourise: expects a grayscale image (1 or 2 channels), got {}", gray.c);
  Rgb bg, fg;
  // Dark background (value <= 0.4, so luma <= 0.4), bright foreground; a
  // saturated blue is bright in value but dark in luma, hence the check and
  // the redraw. A white foreground always meets the margin: the fallback.
  for (int tries = 0;; ++tries) {
    bg = hsv(gen.uniform(), gen.uniform(0.2, 1.0), gen.uniform(0.0, 0.4));
    fg = hsv(gen.uniform(), gen.uniform(0.2, 1.0), gen.uniform(0.6, 1.0));
    if (luma(fg) - luma(bg) >= 0.25) break;
    if (tries == 15) {
      fg = {1, 1, 1};
      break;
    }
  }
  Image out(gray.h, gray.w, gray.c + 2);
  const size_t n = size_t(gray.h) * gray.w;
  for (size_t i = 0; i < n; ++i) {
    const double t = gray.px[i * gray.c] / 255.0;
    uint8_t* d = out.px.data() + i * out.c;
    d[0] = to_byte(bg.r + (fg.r - bg.r) * t);
    d[1] = to_byte(bg.g + (fg.g - bg.g) * t);
    d[2] = to_byte(bg.b + (fg.b - bg.b) * t);
    if (gray.c == 2) d[3] = gray.px[i * 2 + 1];
  }
  return out;
}

Image add_alpha(const Image& img, const Image& mask) {
  MOCO_CHECK(img.c == 1 || img.c == 3, "add_alpha: the image already has alpha ({} channels)", img.c);
  MOCO_CHECK(mask.h == img.h && mask.w == img.w, "add_alpha: mask {}x{} for a {}x{} image", mask.h, mask.w, img.h,
             img.w);
  const Image m = data::convert_channels(mask, 1);
  Image out(img.h, img.w, img.c + 1);
  const size_t n = size_t(img.h) * img.w;
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(img.px.data() + i * img.c, img.c, out.px.data() + i * out.c);
    out.px[i * out.c + size_t(img.c)] = uint8_t(64 + std::lround(191 * std::min(1.0, m.px[i] / 32.0)));
  }
  return out;
}

int64_t export_folder(const ExportOptions& o, const ExportHooks& hooks) {
  const std::string& out = o.out;
  MOCO_USAGE_CHECK(!out.empty(), "--out: give the folder to write");
  const int64_t per_class[2] = {o.train_per_class, o.val_per_class};
  const int size = o.size;
  const double rgba = o.rgba;
  const uint64_t seed = o.seed;
  const bool colour = o.colour;
  if (fs::exists(out)) {
    MOCO_USAGE_CHECK(fs::is_directory(out), "--out {}: exists and is not a folder", out);
    MOCO_USAGE_CHECK(o.overwrite || fs::is_empty(out),
                     "--out {}: the folder is not empty (--overwrite replaces its train/ and val/)", out);
  }
  const std::string& dir = o.data;
  const std::string spec = dir.empty() ? o.dataset : o.dataset + ":" + dir;
  if (!dir.empty() && fs::exists(out))
    MOCO_USAGE_CHECK(fs::weakly_canonical(dir) != fs::weakly_canonical(out), "--out {} is the source folder --data {}",
                     out, dir);

  const char* split_names[2] = {"train", "val"};
  const data::DatasetPtr src[2] = {data::open_dataset(spec, "train"), data::open_dataset(spec, "val")};
  const std::vector<int64_t> counts[2] = {class_counts(*src[0]), class_counts(*src[1])};
  MOCO_CHECK(src[1]->classes() == src[0]->classes(), "{}: the test split's classes differ from the train split's",
             spec);
  std::vector<int64_t> ids = resolve_classes(o.classes, *src[0]);
  if (ids.empty()) {
    for (int64_t c = 0; c < src[0]->num_classes(); ++c)
      if (counts[0][size_t(c)] > 0) ids.push_back(c);
    MOCO_USAGE_CHECK(!ids.empty(), "{}: no labelled images in the train split", src[0]->describe());
  }
  std::vector<std::string> folders;
  for (int64_t c : ids) {
    const std::string& name = src[0]->classes()[size_t(c)];
    for (int s = 0; s < 2; ++s)
      MOCO_USAGE_CHECK(counts[s][size_t(c)] > 0, "class {} ({}) has no images in {}'s {} split; leave it out with --classes",
                       c, name, spec, s == 0 ? "train" : "test");
    folders.push_back(safe_file_name(name));
    for (size_t k = 0; k + 1 < folders.size(); ++k)
      MOCO_CHECK(folders[k] != folders.back(), "classes '{}' and '{}' would share the folder '{}'",
                 src[0]->classes()[size_t(ids[k])], name, folders.back());
  }

  for (const char* s : split_names) fs::remove_all(fs::path(out) / s);
  if (hooks.begin) hooks.begin(spec);
  int64_t total = 0;
  for (int s = 0; s < 2; ++s) {
    const data::Dataset& ds = *src[s];
    const std::vector<Item> items = pick(ds, ids, per_class[s], seed, kTag + uint64_t(s));
    // Exactly round(rgba * n) images with alpha, chosen at random.
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    Generator pick_alpha(data::mix_seed(seed, data::Stream::shuffle, kTag + uint64_t(s)));
    data::shuffle_in_place(order, pick_alpha);
    std::vector<char> wants_alpha(items.size(), 0);
    for (size_t i = 0; i < size_t(std::llround(rgba * double(items.size()))); ++i) wants_alpha[order[i]] = 1;

    for (const std::string& f : folders) fs::create_directories(fs::path(out) / split_names[s] / f);
    const int width = digits(std::max<int64_t>(ds.size() - 1, 0));
    std::vector<int64_t> written(ids.size(), 0);
    int64_t with_alpha = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      Image img = ds.image(items[i].index);
      if (size > 0 && (img.h != size || img.w != size)) img = data::fn::resize(img, size, size);
      const Image mask = wants_alpha[i] ? img : Image();  // alpha follows the shape, not the tint
      if (colour && img.c <= 2) {
        Generator gen(data::mix_seed(seed, data::Stream::sample, kTag + uint64_t(s), uint64_t(items[i].index)));
        img = colourise(img, gen);
      }
      if (wants_alpha[i] && (img.c == 1 || img.c == 3)) img = add_alpha(img, mask);
      with_alpha += img.c == 2 || img.c == 4;
      data::write_png(fmt::format("{}/{}/{}/{:0{}d}.png", out, split_names[s], folders[items[i].cls], items[i].index,
                                  width),
                      img);
      ++written[items[i].cls];
    }
    ExportedSplit done{split_names[s], ds.describe(), int64_t(items.size()), with_alpha, {}};
    for (size_t k = 0; k < ids.size(); ++k) done.per_class.emplace_back(folders[k], written[k]);
    if (hooks.split_done) hooks.split_done(done);
    total += int64_t(items.size());
  }
  return total;
}

}  // namespace moco::train
