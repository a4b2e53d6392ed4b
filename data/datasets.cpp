#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/dataset.h"
#include "data/io.h"
#include "data/rng.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace moco::data {

// ---------------------------------------------------------------- Dataset

void Dataset::check_index(int64_t i) const {
  MOCO_CHECK(i >= 0 && i < size(), "{}: index {} out of range [0, {})", describe(), i, size());
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> out(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) out[size_t(i)] = label(i);
  return out;
}

// ---------------------------------------------------------- MemoryDataset

MemoryDataset::MemoryDataset(std::string name, int h, int w, int c, std::vector<uint8_t> pixels,
                             std::vector<int64_t> labels, std::vector<std::string> classes)
    : name_(std::move(name)), h_(h), w_(w), c_(c), px_(std::move(pixels)), labels_(std::move(labels)),
      classes_(std::move(classes)) {
  MOCO_CHECK(h > 0 && w > 0 && c >= 1 && c <= 4, "{}: bad image geometry {}x{}x{}", name_, h, w, c);
  MOCO_CHECK(px_.size() == labels_.size() * size_t(h) * w * c,
             "{}: {} pixel bytes do not hold {} images of {}x{}x{}", name_, px_.size(), labels_.size(), h, w, c);
  for (int64_t l : labels_)
    MOCO_CHECK(l >= -1 && (classes_.empty() || l < int64_t(classes_.size())),
               "{}: label {} outside [0, {})", name_, l, classes_.size());
}

Image MemoryDataset::image(int64_t i) const {
  check_index(i);
  Image img(h_, w_, c_);
  const size_t n = size_t(h_) * w_ * c_;
  std::memcpy(img.px.data(), px_.data() + size_t(i) * n, n);
  return img;
}

std::string MemoryDataset::describe() const {
  return fmt::format("{} ({} images {}x{}x{}, {} classes)", name_, labels_.size(), h_, w_, c_, classes_.size());
}

// --------------------------------------------------------------------- IDX

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

std::vector<std::string> numbered_classes(int64_t n) {
  std::vector<std::string> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(std::to_string(i));
  return v;
}

// First existing path among `dir/name` and `dir/name.gz`.
std::string find_variant(const std::string& dir, const std::string& name) {
  for (const std::string& cand : {dir + "/" + name + ".gz", dir + "/" + name})
    if (path_exists(cand)) return cand;
  fail("{}: no {} or {}.gz there", dir, name, name);
}

}  // namespace

std::shared_ptr<MemoryDataset> load_idx(const std::string& images, const std::string& labels,
                                        std::vector<std::string> classes, std::string name) {
  std::vector<uint8_t> im = read_maybe_gzip(images);
  MOCO_CHECK(im.size() >= 16, "{}: truncated IDX file ({} bytes, the header alone is 16)", images, im.size());
  const uint32_t magic = be32(im.data());
  MOCO_CHECK(magic == 0x00000803, "{}: wrong magic number 0x{:08x}, expected 0x00000803 (IDX unsigned-byte images)",
             images, magic);
  const uint64_t n = be32(im.data() + 4), h = be32(im.data() + 8), w = be32(im.data() + 12);
  MOCO_CHECK(h > 0 && w > 0 && h <= 65536 && w <= 65536, "{}: implausible image size {}x{}", images, h, w);
  MOCO_CHECK(im.size() - 16 == n * h * w,
             "{}: {} (header says {} images of {}x{} = {} bytes, the file holds {})", images,
             im.size() - 16 < n * h * w ? "truncated" : "trailing bytes", n, h, w, n * h * w, im.size() - 16);

  std::vector<uint8_t> lb = read_maybe_gzip(labels);
  MOCO_CHECK(lb.size() >= 8, "{}: truncated IDX file ({} bytes, the header alone is 8)", labels, lb.size());
  const uint32_t lmagic = be32(lb.data());
  MOCO_CHECK(lmagic == 0x00000801, "{}: wrong magic number 0x{:08x}, expected 0x00000801 (IDX unsigned-byte labels)",
             labels, lmagic);
  const uint64_t ln = be32(lb.data() + 4);
  MOCO_CHECK(lb.size() - 8 == ln, "{}: {} (header says {} labels, the file holds {})", labels,
             lb.size() - 8 < ln ? "truncated" : "trailing bytes", ln, lb.size() - 8);
  MOCO_CHECK(ln == n, "{} has {} images but {} has {} labels", images, n, labels, ln);

  std::vector<int64_t> lab(n);
  int64_t maxl = -1;
  for (uint64_t i = 0; i < n; ++i) maxl = std::max(maxl, lab[i] = lb[8 + i]);
  if (classes.empty()) classes = numbered_classes(maxl + 1);
  MOCO_CHECK(maxl < int64_t(classes.size()), "{}: label {} but only {} classes", labels, maxl, classes.size());
  im.erase(im.begin(), im.begin() + 16);
  return std::make_shared<MemoryDataset>(fmt::format("{} ({})", name, images), int(h), int(w), 1, std::move(im),
                                         std::move(lab), std::move(classes));
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> c = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return c;
}

std::string find_fashion_mnist() {
  std::vector<std::string> cands;
  if (const char* e = std::getenv("MOCO_FASHION_MNIST"); e && *e) {
    // A copy named on purpose is used or refused, never swapped for another.
    const std::string d = e;
    MOCO_CHECK(path_exists(d + "/train-images-idx3-ubyte.gz") || path_exists(d + "/train-images-idx3-ubyte"),
               "MOCO_FASHION_MNIST={} holds no train-images-idx3-ubyte(.gz): point it at the folder with "
               "Fashion-MNIST's four IDX files, or unset it to use the system copy",
               printable(d));
    return d;
  }
  cands.push_back("/usr/share/datasets/fashion-mnist");
  cands.push_back("/usr/local/share/datasets/fashion-mnist");
  for (auto& d : cands)
    if (path_exists(d + "/train-images-idx3-ubyte.gz") || path_exists(d + "/train-images-idx3-ubyte")) return d;
  return "";
}

namespace {
std::shared_ptr<MemoryDataset> idx_split(const std::string& dir, const std::string& split,
                                         const std::vector<std::string>& classes, const std::string& name) {
  MOCO_CHECK(split == "train" || split == "test", "{}: split must be train or test, got '{}'", name, split);
  const std::string pre = split == "train" ? "train" : "t10k";
  return load_idx(find_variant(dir, pre + "-images-idx3-ubyte"), find_variant(dir, pre + "-labels-idx1-ubyte"),
                  classes, name);
}
}  // namespace

std::shared_ptr<MemoryDataset> fashion_mnist(const std::string& split, const std::string& dir) {
  std::string d = dir.empty() ? find_fashion_mnist() : dir;
  MOCO_CHECK(!d.empty(),
             "Fashion-MNIST not found: install Debian's dataset-fashion-mnist (make deps) or set MOCO_FASHION_MNIST "
             "to a folder with train-images-idx3-ubyte.gz");
  return idx_split(d, split, fashion_mnist_classes(), "fashion-mnist");
}

std::shared_ptr<MemoryDataset> mnist(const std::string& dir, const std::string& split) {
  return idx_split(dir, split, numbered_classes(10), "mnist");
}

// ------------------------------------------------------------------- CIFAR

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// `dir` itself when it holds `probe`, else dir/sub when that does.
std::string resolve_dir(const std::string& dir, const std::string& sub, const std::string& probe,
                        const std::string& what) {
  MOCO_CHECK(path_exists(dir), "{}: no such directory ({} data set)", dir, what);
  if (path_exists(dir + "/" + probe)) return dir;
  if (path_exists(dir + "/" + sub + "/" + probe)) return dir + "/" + sub;
  fail("{}: not a {} folder (no {} in it or in {}/)", dir, what, probe, sub);
}

}  // namespace

std::shared_ptr<MemoryDataset> load_cifar_files(const std::vector<std::string>& files, int label_bytes,
                                                int label_index, std::vector<std::string> classes,
                                                std::string name) {
  constexpr size_t kPix = 3 * 32 * 32;
  const size_t rec = size_t(label_bytes) + kPix;
  std::vector<uint8_t> px;
  std::vector<int64_t> labels;
  for (auto& f : files) {
    std::vector<uint8_t> raw = read_file(f);
    MOCO_CHECK(!raw.empty(), "{}: empty file (expected CIFAR records of {} bytes)", f, rec);
    MOCO_CHECK(raw.size() % rec == 0,
               "{}: truncated or not a {} binary file: {} bytes is not a multiple of the record size {}", f, name,
               raw.size(), rec);
    const size_t n = raw.size() / rec;
    size_t base = labels.size();
    px.resize((base + n) * kPix);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* r = raw.data() + i * rec;
      int64_t l = r[label_index];
      MOCO_CHECK(l < int64_t(classes.size()),
                 "{}: record {} has label {} but {} has {} classes (wrong file for this format?)", f, i, l, name,
                 classes.size());
      labels.push_back(l);
      uint8_t* d = px.data() + (base + i) * kPix;  // CHW -> HWC
      const uint8_t* s = r + label_bytes;
      for (int p = 0; p < 1024; ++p) {
        d[p * 3 + 0] = s[p];
        d[p * 3 + 1] = s[1024 + p];
        d[p * 3 + 2] = s[2048 + p];
      }
    }
  }
  return std::make_shared<MemoryDataset>(name, 32, 32, 3, std::move(px), std::move(labels), std::move(classes));
}

std::shared_ptr<MemoryDataset> cifar10(const std::string& dir, const std::string& split) {
  MOCO_CHECK(split == "train" || split == "test", "cifar10: split must be train or test, got '{}'", split);
  std::string d = resolve_dir(dir, "cifar-10-batches-bin", split == "train" ? "data_batch_1.bin" : "test_batch.bin",
                              "CIFAR-10 binary");
  std::vector<std::string> files;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) {
      std::string f = fmt::format("{}/data_batch_{}.bin", d, i);
      MOCO_CHECK(path_exists(f), "{}: missing (CIFAR-10 train has data_batch_1..5.bin)", f);
      files.push_back(f);
    }
  } else {
    files.push_back(d + "/test_batch.bin");
  }
  std::vector<std::string> classes = read_lines(d + "/batches.meta.txt");
  if (classes.size() != 10)
    classes = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return load_cifar_files(files, 1, 0, classes, fmt::format("cifar10-{} ({})", split, d));
}

std::shared_ptr<MemoryDataset> cifar100(const std::string& dir, const std::string& split, bool coarse) {
  MOCO_CHECK(split == "train" || split == "test", "cifar100: split must be train or test, got '{}'", split);
  std::string d = resolve_dir(dir, "cifar-100-binary", split + ".bin", "CIFAR-100 binary");
  const int n = coarse ? 20 : 100;
  std::vector<std::string> classes = read_lines(d + (coarse ? "/coarse_label_names.txt" : "/fine_label_names.txt"));
  if (int(classes.size()) != n) classes = numbered_classes(n);
  return load_cifar_files({d + "/" + split + ".bin"}, 2, coarse ? 0 : 1, classes,
                          fmt::format("cifar100{}-{} ({})", coarse ? "-coarse" : "", split, d));
}

// ------------------------------------------------------------------ STL-10

namespace {
constexpr uint64_t kStlPix = 3 * 96 * 96;
}

Stl10Dataset::Stl10Dataset(const std::string& dir, const std::string& split) : split_(split) {
  MOCO_CHECK(split == "train" || split == "test" || split == "unlabeled" || split == "train+unlabeled",
             "stl10: split must be train, test, unlabeled or train+unlabeled, got '{}'", split);
  const std::string first = split == "test" ? "test" : split == "unlabeled" ? "unlabeled" : "train";
  dir_ = resolve_dir(dir, "stl10_binary", first + "_X.bin", "STL-10 binary");
  auto count = [&](const std::string& f) {
    uint64_t sz = file_size(f);
    MOCO_CHECK(sz > 0 && sz % kStlPix == 0,
               "{}: truncated or not an STL-10 image file: {} bytes is not a multiple of 96*96*3 = {}", f, sz,
               kStlPix);
    return sz / kStlPix;
  };
  files_[0] = dir_ + "/" + first + "_X.bin";
  files_n_[0] = count(files_[0]);
  if (first != "unlabeled") {
    const std::string yf = dir_ + "/" + first + "_y.bin";
    std::vector<uint8_t> y = read_file(yf);
    MOCO_CHECK(y.size() == files_n_[0], "{}: {} labels but {} has {} images{}", yf, y.size(), files_[0], files_n_[0],
               y.size() < files_n_[0] ? " (truncated)" : "");
    for (size_t i = 0; i < y.size(); ++i) {
      MOCO_CHECK(y[i] >= 1 && y[i] <= 10, "{}: label {} at {} outside 1..10", yf, y[i], i);
      labels_.push_back(int64_t(y[i]) - 1);
    }
  } else {
    labels_.assign(files_n_[0], -1);
  }
  if (split == "train+unlabeled") {
    files_[1] = dir_ + "/unlabeled_X.bin";
    files_n_[1] = count(files_[1]);
  }
  classes_ = read_lines(dir_ + "/class_names.txt");
  if (classes_.size() != 10)
    classes_ = {"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"};
}

Image Stl10Dataset::image(int64_t i) const {
  check_index(i);
  int f = uint64_t(i) < files_n_[0] ? 0 : 1;
  uint64_t k = f == 0 ? uint64_t(i) : uint64_t(i) - files_n_[0];
  uint8_t raw[kStlPix];
  read_at(files_[f], k * kStlPix, raw, kStlPix);
  Image img(96, 96, 3);
  // Stored per channel in column-major order: byte (c, x, y) at c*9216 + x*96 + y.
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 96; ++x)
      for (int y = 0; y < 96; ++y) img.px[(size_t(y) * 96 + x) * 3 + c] = raw[c * 9216 + x * 96 + y];
  return img;
}

int64_t Stl10Dataset::label(int64_t i) const {
  check_index(i);
  return uint64_t(i) < files_n_[0] ? labels_[size_t(i)] : -1;
}

std::string Stl10Dataset::describe() const {
  return fmt::format("stl10-{} ({}, {} images 96x96x3)", split_, dir_, size());
}

// ------------------------------------------------------------- ImageFolder

namespace {

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower((unsigned char)ch));
  return s;
}

}  // namespace

ImageFolder::ImageFolder(const std::string& root, ImageFolderOptions opt) : root_(root) {
  MOCO_CHECK(path_exists(root), "{}: no such directory (ImageFolder root)", root);
  MOCO_CHECK(is_directory(root), "{}: not a directory (ImageFolder expects one sub-folder per class)", root);
  std::vector<std::string> exts = opt.extensions;
  if (exts.empty()) exts = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm", ".tga", ".gif"};
  for (auto& e : exts) e = lower(e);

  for (auto& entry : fs::directory_iterator(root, fs::directory_options::follow_directory_symlink))
    if (entry.is_directory()) classes_.push_back(entry.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  MOCO_CHECK(!classes_.empty(), "{}: no class folders (ImageFolder expects root/<class>/<image>)", root);

  std::vector<std::string> bad_msgs;
  for (size_t ci = 0; ci < classes_.size(); ++ci) {
    const std::string cdir = root + "/" + classes_[ci];
    std::vector<std::string> found;
    for (auto& entry : fs::recursive_directory_iterator(cdir, fs::directory_options::follow_directory_symlink)) {
      if (!entry.is_regular_file()) continue;
      std::string ext = lower(entry.path().extension().string());
      if (std::find(exts.begin(), exts.end(), ext) != exts.end()) found.push_back(entry.path().string());
    }
    // torchvision's order: sorted(os.walk(class_dir)), then sorted file names
    // in each folder -- i.e. by (folder path, file name).
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
      fs::path pa(a), pb(b);
      const std::string da = pa.parent_path().string(), db = pb.parent_path().string();
      return da != db ? da < db : pa.filename().string() < pb.filename().string();
    });
    MOCO_CHECK(!found.empty(), "{}: empty class folder (no files with extensions {})", cdir, fmt::join(exts, " "));
    // With skip_unreadable every file is decoded once (in parallel) to find the bad ones.
    std::vector<std::string> why(found.size());
    if (opt.skip_unreadable) {
#pragma omp parallel for schedule(dynamic, 4)
      for (int64_t i = 0; i < int64_t(found.size()); ++i) {
        try {
          (void)load_image(found[size_t(i)]);
        } catch (const std::exception& e) {
          why[size_t(i)] = e.what();
        }
      }
    }
    size_t kept = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      if (!why[i].empty()) {
        ++skipped_;
        skipped_files_.push_back(found[i]);
        bad_msgs.push_back(why[i]);
        continue;
      }
      files_.push_back(found[i]);
      labels_.push_back(int64_t(ci));
      ++kept;
    }
    MOCO_CHECK(kept > 0, "{}: every image in this class folder is unreadable ({} skipped)", cdir, found.size());
  }
  if (skipped_ > 0 && opt.verbose) {
    std::fprintf(stderr, "ImageFolder %s: skipped %lld unreadable file(s), e.g. %s\n", printable(root).c_str(),
                 (long long)skipped_, bad_msgs[0].c_str());
  }
}

Image ImageFolder::image(int64_t i) const {
  check_index(i);
  try {
    return load_image(files_[size_t(i)]);
  } catch (const Error& e) {
    // This error would end a run mid-epoch, and again on --resume; say how to avoid it.
    fail("{} (the training commands' --skip-bad-images decodes every image of {} first and leaves out those that "
         "fail)",
         e.what(), printable(root_));
  }
}

std::string ImageFolder::describe() const {
  return fmt::format("imagefolder ({}, {} images, {} classes{})", root_, files_.size(), classes_.size(),
                     skipped_ ? fmt::format(", {} unreadable skipped", skipped_) : "");
}

// ------------------------------------------------------------------ Subset

Subset::Subset(DatasetPtr base, std::vector<int64_t> indices, std::vector<int64_t> label_map,
               std::vector<std::string> classes, std::string note)
    : base_(std::move(base)), indices_(std::move(indices)), label_map_(std::move(label_map)),
      classes_(std::move(classes)), note_(std::move(note)) {
  MOCO_CHECK(base_ != nullptr, "Subset: no base data set");
  for (int64_t i : indices_)
    MOCO_CHECK(i >= 0 && i < base_->size(), "Subset of {}: index {} out of range", base_->describe(), i);
}

int64_t Subset::label(int64_t i) const {
  check_index(i);
  int64_t l = base_->label(indices_[size_t(i)]);
  if (label_map_.empty() || l < 0) return l;
  return l < int64_t(label_map_.size()) ? label_map_[size_t(l)] : -1;
}

std::string Subset::describe() const {
  return fmt::format("{} of {} ({} images)", note_, base_->describe(), indices_.size());
}

ConcatDataset::ConcatDataset(std::vector<DatasetPtr> parts) : parts_(std::move(parts)) {
  MOCO_CHECK(!parts_.empty(), "ConcatDataset: no parts");
  offsets_.push_back(0);
  for (auto& p : parts_) offsets_.push_back(offsets_.back() + p->size());
}

std::pair<size_t, int64_t> ConcatDataset::locate(int64_t i) const {
  check_index(i);
  size_t k = size_t(std::upper_bound(offsets_.begin(), offsets_.end(), i) - offsets_.begin()) - 1;
  return {k, i - offsets_[k]};
}

Image ConcatDataset::image(int64_t i) const {
  auto [k, j] = locate(i);
  return parts_[k]->image(j);
}

int64_t ConcatDataset::label(int64_t i) const {
  auto [k, j] = locate(i);
  return parts_[k]->label(j);
}

std::string ConcatDataset::describe() const {
  std::vector<std::string> d;
  for (auto& p : parts_) d.push_back(p->describe());
  return fmt::format("concat[{}]", fmt::join(d, " + "));
}

const ImageFolder* image_folder_of(const Dataset& ds) {
  if (auto* f = dynamic_cast<const ImageFolder*>(&ds)) return f;
  if (auto* s = dynamic_cast<const Subset*>(&ds)) return image_folder_of(*s->base());
  return nullptr;
}

std::shared_ptr<Subset> subset_by_classes(DatasetPtr base, const std::vector<int64_t>& classes) {
  MOCO_CHECK(!classes.empty(), "subset_by_classes: empty class list");
  const int64_t nc = base->num_classes();
  std::vector<int64_t> map(size_t(nc), -1);
  std::vector<std::string> names;
  for (size_t k = 0; k < classes.size(); ++k) {
    int64_t c = classes[k];
    MOCO_CHECK(c >= 0 && c < nc, "subset_by_classes: class {} not in {} (it has {} classes)", c, base->describe(), nc);
    MOCO_CHECK(map[size_t(c)] < 0, "subset_by_classes: class {} listed twice", c);
    map[size_t(c)] = int64_t(k);
    names.push_back(base->classes()[size_t(c)]);
  }
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < base->size(); ++i) {
    int64_t l = base->label(i);
    if (l >= 0 && l < nc && map[size_t(l)] >= 0) idx.push_back(i);
  }
  MOCO_CHECK(!idx.empty(), "subset_by_classes: no samples of classes {} in {}", fmt::join(classes, ","),
             base->describe());
  return std::make_shared<Subset>(base, std::move(idx), std::move(map), std::move(names),
                                  fmt::format("classes [{}]", fmt::join(names, ", ")));
}

std::shared_ptr<Subset> subset_by_class_names(DatasetPtr base, const std::vector<std::string>& names) {
  std::vector<int64_t> ids;
  const auto& cl = base->classes();
  for (auto& n : names) {
    auto it = std::find(cl.begin(), cl.end(), n);
    MOCO_CHECK(it != cl.end(), "subset_by_class_names: no class '{}' in {} (classes: {})", n, base->describe(),
               fmt::join(cl, ", "));
    ids.push_back(int64_t(it - cl.begin()));
  }
  return subset_by_classes(std::move(base), ids);
}

namespace {
// Per-class index lists (unlabeled samples under key -1).
std::map<int64_t, std::vector<int64_t>> by_class(const Dataset& ds) {
  std::map<int64_t, std::vector<int64_t>> m;
  for (int64_t i = 0; i < ds.size(); ++i) m[ds.label(i)].push_back(i);
  return m;
}
}  // namespace

std::shared_ptr<Subset> subset_by_fraction(DatasetPtr base, double fraction, uint64_t seed, int64_t min_per_class) {
  MOCO_CHECK(fraction > 0 && fraction <= 1, "subset_by_fraction: fraction must be in (0, 1], got {}", fraction);
  std::vector<int64_t> idx;
  for (auto& [label, members] : by_class(*base)) {
    Generator gen(mix_seed(seed, Stream::subset, uint64_t(label + 1)));
    std::vector<int64_t> m = members;
    shuffle_in_place(m, gen);
    size_t k = std::max<size_t>({1, size_t(std::max<int64_t>(0, min_per_class)),
                                 size_t(std::llround(fraction * double(m.size())))});
    idx.insert(idx.end(), m.begin(), m.begin() + std::min(k, m.size()));
  }
  std::sort(idx.begin(), idx.end());
  return std::make_shared<Subset>(base, std::move(idx), std::vector<int64_t>{}, std::vector<std::string>{},
                                  min_per_class > 1
                                      ? fmt::format("{:g}% per class, at least {} (seed {})", fraction * 100,
                                                    min_per_class, seed)
                                      : fmt::format("{:g}% per class (seed {})", fraction * 100, seed));
}

std::pair<std::shared_ptr<Subset>, std::shared_ptr<Subset>> train_val_split(DatasetPtr base, double val_fraction,
                                                                            uint64_t seed, bool stratified) {
  MOCO_CHECK(val_fraction > 0 && val_fraction < 1, "train_val_split: val_fraction must be in (0, 1), got {}",
             val_fraction);
  std::vector<int64_t> tr, va;
  auto split_group = [&](std::vector<int64_t> m, uint64_t key) {
    Generator gen(mix_seed(seed, Stream::split, key));
    shuffle_in_place(m, gen);
    size_t k = size_t(std::llround(val_fraction * double(m.size())));
    va.insert(va.end(), m.begin(), m.begin() + k);
    tr.insert(tr.end(), m.begin() + k, m.end());
  };
  if (stratified) {
    for (auto& [label, members] : by_class(*base)) split_group(members, uint64_t(label + 1));
  } else {
    std::vector<int64_t> all(static_cast<size_t>(base->size()));
    for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
    split_group(all, 0);
  }
  MOCO_CHECK(!tr.empty() && !va.empty(), "train_val_split: {} of {} leaves an empty side ({} train, {} val)",
             val_fraction, base->describe(), tr.size(), va.size());
  std::sort(tr.begin(), tr.end());
  std::sort(va.begin(), va.end());
  return {std::make_shared<Subset>(base, std::move(tr), std::vector<int64_t>{}, std::vector<std::string>{},
                                   fmt::format("train split (seed {})", seed)),
          std::make_shared<Subset>(base, std::move(va), std::vector<int64_t>{}, std::vector<std::string>{},
                                   fmt::format("val split {:g}% (seed {})", val_fraction * 100, seed))};
}

// ---------------------------------------------------------------- specs

namespace {

// The hold-out of open_dataset's folder layouts: per class, round(f * n)
// images, but at least one of a class of two or more (so that every class is
// validated) and never its last one (so that every class is trained on).
std::pair<DatasetPtr, DatasetPtr> hold_out(DatasetPtr base, double f, uint64_t seed) {
  std::vector<int64_t> tr, va;
  for (auto& [label, members] : by_class(*base)) {
    std::vector<int64_t> m = members;
    Generator gen(mix_seed(seed, Stream::split, uint64_t(label + 1)));
    shuffle_in_place(m, gen);
    const int64_t n = int64_t(m.size());
    const int64_t k = std::clamp<int64_t>(std::llround(f * double(n)), n >= 2 ? 1 : 0, n - 1);
    va.insert(va.end(), m.begin(), m.begin() + k);
    tr.insert(tr.end(), m.begin() + k, m.end());
  }
  std::sort(tr.begin(), tr.end());
  std::sort(va.begin(), va.end());
  const std::string what = fmt::format("{:g}% of each class held out for validation (seed {})", f * 100, seed);
  return {std::make_shared<Subset>(base, std::move(tr), std::vector<int64_t>{}, std::vector<std::string>{},
                                   "all but the " + what),
          std::make_shared<Subset>(base, std::move(va), std::vector<int64_t>{}, std::vector<std::string>{},
                                   "the " + what)};
}

// The train split and/or the val (or test) split of folder:DIR, reading the
// training folder once when both come from it. `val_split`: "" for none.
std::pair<DatasetPtr, DatasetPtr> open_folder(const std::string& dir, const OpenOptions& opt, bool want_train,
                                              const std::string& val_split) {
  MOCO_CHECK(is_directory(dir), "folder:{}: no such directory", printable(dir));
  const bool has_train = is_directory(dir + "/train"), has_val = is_directory(dir + "/val"),
             has_test = is_directory(dir + "/test");
  if (has_train) {
    std::vector<std::string> others;
    for (auto& e : fs::directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
      const std::string n = e.path().filename().string();
      // Hidden folders (.git, .ipynb_checkpoints) are no one's classes here.
      if (e.is_directory() && n[0] != '.' && n != "train" && n != "val" && n != "test") others.push_back(printable(n));
    }
    std::sort(others.begin(), others.end());
    MOCO_CHECK(others.empty(),
               "folder:{}: ambiguous layout: train/ beside the folders {}; expected either {}/train/<class>/ (with "
               "val/<class>/ or test/<class>/ beside it, or alone) or {}/<class>/ with no train/",
               printable(dir), fmt::join(others, ", "), printable(dir), printable(dir));
  } else {
    MOCO_CHECK(!has_val && !has_test,
               "folder:{}: ambiguous layout: a {}/ folder but no train/; expected {}/train/<class>/ beside it, or "
               "{}/<class>/ alone (then {:g}% of each class is held out for validation)",
               printable(dir), has_val ? "val" : "test", printable(dir), printable(dir), opt.val_fraction * 100);
  }
  const std::string train_dir = has_train ? dir + "/train" : dir;
  if (has_val || has_test) {
    std::string val_dir;
    if (!val_split.empty())
      val_dir = dir + "/" + (val_split == "test" ? (has_test ? "test" : "val") : (has_val ? "val" : "test"));
    return {want_train ? std::make_shared<ImageFolder>(train_dir, opt.folder) : nullptr,
            val_dir.empty() ? nullptr : std::make_shared<ImageFolder>(val_dir, opt.folder)};
  }
  // No validation folder: a hold-out of the training images.
  MOCO_CHECK(opt.val_fraction >= 0 && opt.val_fraction < 1,
             "folder:{}: the validation fraction must be in [0, 1), got {}", printable(dir), opt.val_fraction);
  MOCO_CHECK(val_split.empty() || opt.val_fraction > 0,
             "folder:{}: no val/ or test/ folder{} and no hold-out for validation (--val-fraction 0): add "
             "{}/val/<class>/, or hold out part of the training images with --val-fraction F",
             printable(dir), has_train ? " beside train/" : "", printable(dir));
  auto all = std::make_shared<ImageFolder>(train_dir, opt.folder);
  if (opt.val_fraction == 0) return {all, nullptr};
  auto [train, val] = hold_out(all, opt.val_fraction, opt.split_seed);
  MOCO_CHECK(val_split.empty() || val->size() > 0,
             "folder:{}: {} images are too few to hold out {:g}% of each class for validation (a class needs two); "
             "add {}/val/<class>/ folders",
             printable(dir), all->size(), opt.val_fraction * 100, printable(dir));
  return {train, val_split.empty() ? nullptr : val};
}

std::pair<std::string, std::string> split_spec(const std::string& spec) {
  std::string kind = spec, dir;
  if (auto c = spec.find(':'); c != std::string::npos) {
    kind = spec.substr(0, c);
    dir = spec.substr(c + 1);
  }
  return {lower(kind), dir};
}

bool is_folder_kind(const std::string& kind) { return kind == "folder" || kind == "imagefolder"; }

}  // namespace

std::pair<DatasetPtr, DatasetPtr> open_train_val(const std::string& spec, const OpenOptions& opt) {
  auto [kind, dir] = split_spec(spec);
  if (is_folder_kind(kind) && !dir.empty()) return open_folder(dir, opt, true, "val");
  return {open_dataset(spec, "train", opt), open_dataset(spec, "val", opt)};
}

DatasetPtr open_dataset(const std::string& spec, const std::string& split, const OpenOptions& opt) {
  auto [kind, dir] = split_spec(spec);
  const std::string sp = split == "val" ? "test" : split;  // fixed-split sets: val = the test split
  if (kind == "fashion-mnist" || kind == "fashion_mnist" || kind == "fmnist") return fashion_mnist(sp, dir);
  MOCO_CHECK(!dir.empty(), "data set '{}': give a folder, as {}:DIR", spec, kind);
  if (kind == "mnist") return mnist(dir, sp);
  if (kind == "cifar10" || kind == "cifar-10") return cifar10(dir, sp);
  if (kind == "cifar100" || kind == "cifar-100") return cifar100(dir, sp, false);
  if (kind == "cifar100-coarse") return cifar100(dir, sp, true);
  if (kind == "stl10" || kind == "stl-10") return std::make_shared<Stl10Dataset>(dir, sp);
  if (is_folder_kind(kind)) {
    MOCO_CHECK(split == "train" || split == "val" || split == "test",
               "folder:{}: an ImageFolder has the splits train, val and test, not '{}'", printable(dir),
               printable(split));
    auto [train, val] = open_folder(dir, opt, split == "train", split == "train" ? "" : split);
    return split == "train" ? train : val;
  }
  fail("unknown data set '{}' (expected fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, "
       "cifar100-coarse:DIR, stl10:DIR or folder:DIR)",
       spec);
}

NormStats norm_stats_for(const std::string& spec, int channels) {
  std::string kind = lower(spec.substr(0, spec.find(':')));
  NormStats s;
  if (kind.rfind("fashion", 0) == 0 || kind == "fmnist") {
    s = {{0.2860f}, {0.3530f}};
  } else if (kind == "mnist") {
    s = {{0.1307f}, {0.3081f}};
  } else if (kind.rfind("cifar10", 0) == 0 || kind == "cifar-10") {
    s = kind.rfind("cifar100", 0) == 0 ? NormStats{{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}}
                                       : NormStats{{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}};
  } else if (kind.rfind("stl", 0) == 0) {
    s = {{0.4467f, 0.4398f, 0.4066f}, {0.2603f, 0.2566f, 0.2713f}};
  } else {
    s = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};  // ImageNet
  }
  if (int(s.mean.size()) != channels) {
    // Gray statistics for RGB models (replicated) or the luma of RGB ones.
    float m = 0, d = 0;
    for (size_t i = 0; i < s.mean.size(); ++i) m += s.mean[i], d += s.std[i];
    m /= float(s.mean.size()), d /= float(s.std.size());
    s.mean.assign(size_t(channels), m);
    s.std.assign(size_t(channels), d);
  }
  return s;
}

}  // namespace moco::data
