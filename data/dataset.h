// Data sets behind one interface: size, image(i) (8-bit HWC), label(i),
// class names. Every implementation is safe to read from several threads.
//
// Formats: IDX (MNIST / Fashion-MNIST, plain or .gz), CIFAR-10 / CIFAR-100
// binary, STL-10 binary (train, test, unlabeled), ImageFolder (one folder per
// class, as torchvision lays it out), plus subsets and concatenation.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/image.h"

namespace moco::data {

struct Sample {
  Image image;
  int64_t label = -1;  // -1: unlabeled
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Image image(int64_t i) const = 0;
  virtual int64_t label(int64_t i) const = 0;  // cheap: no decoding
  virtual const std::vector<std::string>& classes() const = 0;
  virtual std::string describe() const = 0;  // one line: format, path, size
  Sample get(int64_t i) const { return {image(i), label(i)}; }
  int64_t num_classes() const { return int64_t(classes().size()); }
  std::vector<int64_t> labels() const;  // all labels
 protected:
  void check_index(int64_t i) const;
};
using DatasetPtr = std::shared_ptr<const Dataset>;

// Images held in memory, all of one size: N x H x W x C bytes.
class MemoryDataset : public Dataset {
 public:
  MemoryDataset(std::string name, int h, int w, int c, std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                std::vector<std::string> classes);
  int64_t size() const override { return int64_t(labels_.size()); }
  Image image(int64_t i) const override;
  int64_t label(int64_t i) const override { check_index(i); return labels_[size_t(i)]; }
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe() const override;
  int height() const { return h_; }
  int width() const { return w_; }
  int channels() const { return c_; }

 private:
  std::string name_;
  int h_, w_, c_;
  std::vector<uint8_t> px_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};

// ---- IDX (MNIST, Fashion-MNIST) ----
// `images` / `labels` are IDX files (magic 0x00000803 / 0x00000801), plain
// or gzip-compressed.
std::shared_ptr<MemoryDataset> load_idx(const std::string& images, const std::string& labels,
                                        std::vector<std::string> classes = {}, std::string name = "idx");
// The directory holding Fashion-MNIST: $MOCO_FASHION_MNIST if set, else
// Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Returns
// "" when none is found.
std::string find_fashion_mnist();
// split: "train" or "test"; dir "" = find_fashion_mnist().
std::shared_ptr<MemoryDataset> fashion_mnist(const std::string& split = "train", const std::string& dir = "");
std::shared_ptr<MemoryDataset> mnist(const std::string& dir, const std::string& split = "train");
const std::vector<std::string>& fashion_mnist_classes();

// ---- CIFAR ----
// dir: the folder with data_batch_{1..5}.bin/test_batch.bin (CIFAR-10) or
// train.bin/test.bin (CIFAR-100), or its parent. split: "train" or "test".
std::shared_ptr<MemoryDataset> cifar10(const std::string& dir, const std::string& split = "train");
std::shared_ptr<MemoryDataset> cifar100(const std::string& dir, const std::string& split = "train",
                                        bool coarse = false);
// One CIFAR binary file: records of `label_bytes` label bytes + 3072 pixels;
// the label used is the last of them (CIFAR-100: fine).
std::shared_ptr<MemoryDataset> load_cifar_files(const std::vector<std::string>& files, int label_bytes,
                                                int label_index, std::vector<std::string> classes,
                                                std::string name);

// ---- STL-10 ----
// dir: stl10_binary/ (or its parent). split: "train", "test", "unlabeled",
// "train+unlabeled". Images are read from disk on demand (the unlabeled split
// is 2.7 GB).
class Stl10Dataset : public Dataset {
 public:
  Stl10Dataset(const std::string& dir, const std::string& split = "train");
  int64_t size() const override { return int64_t(files_n_[0] + files_n_[1]); }
  Image image(int64_t i) const override;
  int64_t label(int64_t i) const override;
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe() const override;

 private:
  std::string dir_, split_;
  std::string files_[2];      // image files (second may be empty)
  uint64_t files_n_[2] = {0, 0};
  std::vector<int64_t> labels_;  // for the first file; -1 for unlabeled
  std::vector<std::string> classes_;
};

// ---- ImageFolder ----
struct ImageFolderOptions {
  // Lower-case extensions with the dot; empty = PNG, JPEG, BMP, PPM/PGM/PNM, TGA, GIF.
  std::vector<std::string> extensions;
  // Decode every file once while scanning and leave out those that fail,
  // counting them (skipped()) and logging the count, instead of failing later.
  bool skip_unreadable = false;
  bool verbose = true;  // log the skipped count to stderr
};

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::string& root, ImageFolderOptions opt = {});
  int64_t size() const override { return int64_t(files_.size()); }
  Image image(int64_t i) const override;
  int64_t label(int64_t i) const override { check_index(i); return labels_[size_t(i)]; }
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe() const override;
  const std::string& path(int64_t i) const { return files_[size_t(i)]; }
  int64_t skipped() const { return skipped_; }
  const std::vector<std::string>& skipped_files() const { return skipped_files_; }

 private:
  std::string root_;
  std::vector<std::string> files_, classes_, skipped_files_;
  std::vector<int64_t> labels_;
  int64_t skipped_ = 0;
};

// ---- views of other data sets ----
class Subset : public Dataset {
 public:
  // `label_map` (optional): new label per old label (-1 = unmapped); with it
  // `classes` names the new labels.
  Subset(DatasetPtr base, std::vector<int64_t> indices, std::vector<int64_t> label_map = {},
         std::vector<std::string> classes = {}, std::string note = "subset");
  int64_t size() const override { return int64_t(indices_.size()); }
  Image image(int64_t i) const override { check_index(i); return base_->image(indices_[size_t(i)]); }
  int64_t label(int64_t i) const override;
  const std::vector<std::string>& classes() const override { return label_map_.empty() ? base_->classes() : classes_; }
  std::string describe() const override;
  const std::vector<int64_t>& indices() const { return indices_; }
  const DatasetPtr& base() const { return base_; }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_, label_map_;
  std::vector<std::string> classes_;
  std::string note_;
};

class ConcatDataset : public Dataset {
 public:
  explicit ConcatDataset(std::vector<DatasetPtr> parts);
  int64_t size() const override { return offsets_.back(); }
  Image image(int64_t i) const override;
  int64_t label(int64_t i) const override;
  const std::vector<std::string>& classes() const override { return parts_[0]->classes(); }
  std::string describe() const override;

 private:
  std::pair<size_t, int64_t> locate(int64_t i) const;
  std::vector<DatasetPtr> parts_;
  std::vector<int64_t> offsets_;  // prefix sums, offsets_[0] = 0
};

// The ImageFolder `ds` is or views through subsets; null for other data sets.
const ImageFolder* image_folder_of(const Dataset& ds);

// Samples whose label is in `classes` (old label ids), relabelled 0..k-1 in
// the order given (the study's 4-class subset). Throws on unknown ids.
std::shared_ptr<Subset> subset_by_classes(DatasetPtr base, const std::vector<int64_t>& classes);
// Same, by class names.
std::shared_ptr<Subset> subset_by_class_names(DatasetPtr base, const std::vector<std::string>& names);
// A fraction of each class (at least `min_per_class` samples, or the whole
// class when it is smaller), chosen with `seed`: the 1% / 10% semi-supervised
// subsets. A larger minimum only adds samples (the same shuffled order is cut
// later). Indices stay sorted.
std::shared_ptr<Subset> subset_by_fraction(DatasetPtr base, double fraction, uint64_t seed, int64_t min_per_class = 1);
// Splits into (train, val) with val_fraction of each class in val (stratified)
// or of the whole set (stratified = false), chosen with `seed`.
std::pair<std::shared_ptr<Subset>, std::shared_ptr<Subset>> train_val_split(DatasetPtr base, double val_fraction,
                                                                            uint64_t seed, bool stratified = true);

struct OpenOptions {
  // folder: without its own validation folder, this fraction of each class
  // is held out of the training images for validation (see open_dataset);
  // 0: none (asking for val is then an error).
  double val_fraction = 0.1;
  // Seed of that hold-out. Fixed rather than the run's seed, so runs with
  // different seeds validate on the same images.
  uint64_t split_seed = 0;
  // folder: how each ImageFolder is read (skip_unreadable: --skip-bad-images).
  ImageFolderOptions folder;
};

// Opens a data set from a spec, as the command line names it:
//   fashion-mnist[:DIR]   mnist:DIR   cifar10:DIR   cifar100:DIR
//   cifar100-coarse:DIR   stl10:DIR   folder:DIR (imagefolder:DIR)
// split: train | test | val | unlabeled | train+unlabeled (STL-10); for the
// fixed-split sets val is the test split. folder:DIR is read as one of
//   DIR/train/<class>/ with DIR/val/<class>/ (or DIR/test/): those folders;
//   DIR/train/<class>/ alone: train/, less a seeded, stratified hold-out
//     (opt.val_fraction of each class, at least one image of each class of
//     two or more) that is the val (and test) split;
//   DIR/<class>/ (no train/, val/ or test/ folder): the same hold-out of DIR.
// train/ beside other folders, or val/ or test/ without train/, is ambiguous
// and an error; so is val from a hold-out that is off or left empty. The
// data set's describe() says which images a split holds.
DatasetPtr open_dataset(const std::string& spec, const std::string& split = "train", const OpenOptions& opt = {});
// open_dataset(spec, "train") and open_dataset(spec, "val") at once; a folder's
// training images are read once when both come from them (with
// skip_unreadable, each image is decoded once rather than twice).
std::pair<DatasetPtr, DatasetPtr> open_train_val(const std::string& spec, const OpenOptions& opt = {});
// Normalization statistics for a spec's data set (ImageNet's for folders).
struct NormStats {
  std::vector<float> mean, std;
};
NormStats norm_stats_for(const std::string& spec, int channels);

}  // namespace moco::data
