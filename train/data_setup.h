// The data of a training run: the data set's train and validation splits with
// the chosen classes and fractions, and the model input (size, channels,
// normalisation) that every image is converted to.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "tensor/tensor.h"
#include "train/run_dir.h"

namespace moco::train {

// What to open; every value resolved except where 0 says "from the images".
struct DataOptions {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder
  std::string data;                       // the data set's folder ("" : found automatically where it can be)
  std::string classes;                    // "0,2,4" or names; "" : all
  double train_fraction = 1;              // of each class's training images, seeded
  int64_t label_floor = 1;                // with train_fraction < 1: at least this many per class
  int image_size = 0;                     // 0: the median short side of a sample (224 above 96 px)
  int channels = 0;                       // 0: 3 when any sampled image has colour, else 1
  double val_fraction = 0.1;              // folder data without val/: held-out fraction of each class
  std::optional<uint64_t> max_image_pixels;  // set the process-wide limit (data/io.h) first
  bool skip_bad_images = false;           // folder data: leave out images that fail to decode
  int workers = 2;                        // data loader threads
  bool want_val = true;                   // open the validation split too
  uint64_t seed = 0;                      // of the fractions
};

struct DataSetup {
  std::string spec;  // as data::open_dataset reads it, e.g. "fashion-mnist" or "cifar10:/data/cifar"
  data::DatasetPtr train, val;  // val = the test split (the official scripts' val), same classes
  std::vector<std::string> classes;  // names of the classes in use, in label order
  int size = 0, channels = 0;        // model input: size x size, channels
  data::NormStats norm;
  int workers = 2;
  data::OpenOptions open;  // how the splits were opened: open_dataset(spec, split, open) reopens them
  std::vector<std::string> skipped_images;  // skip_bad_images: the files left out, for the run folder
  std::string describe() const;  // one line for logs and reports
  std::string sources() const;   // where the images come from: the files or folders of each split
  // skipped_images.txt in the run folder, when images were left out; returns its path ("" when none).
  std::string write_skipped(const RunDir& dir) const;
};
// Opens the train and val splits with the chosen classes. The input size and
// channels not given come from a sample of the training images (the median
// short side, colour when any sampled image has colour); every image is
// converted to them by the transforms.
DataSetup open_data(const DataOptions& o);
// "0,2,4,6" or "T-shirt/top,Pullover" -> the subset with labels 0..k-1 in that order.
data::DatasetPtr select_classes(data::DatasetPtr ds, const std::string& classes);
// A comma-separated value as its items, spaces around them trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& s);
// The transform options (size, channels, normalisation) of the set-up's model input.
data::PresetOptions preset_options(const DataSetup& d);
// At most `max` images of `ds` (a seeded, per-class subset); all of them for max <= 0.
data::DatasetPtr cap_images(data::DatasetPtr ds, int64_t max, uint64_t seed);
// The tensor on `d`, without a copy when it is already there.
Tensor to_device(const Tensor& t, Device d);

}  // namespace moco::train
