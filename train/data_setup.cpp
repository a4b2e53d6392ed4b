#include "train/data_setup.h"

#include <algorithm>
#include <sstream>
#include <tuple>

#include "data/image_stats.h"
#include "data/io.h"

namespace moco::train {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

data::PresetOptions preset_options(const DataSetup& d) {
  data::PresetOptions po;
  po.size = d.size;
  po.channels = d.channels;
  po.mean = d.norm.mean;
  po.std = d.norm.std;
  return po;
}

data::DatasetPtr cap_images(data::DatasetPtr ds, int64_t max, uint64_t seed) {
  if (max <= 0 || max >= ds->size()) return ds;
  return data::subset_by_fraction(ds, double(max) / double(ds->size()), seed);
}

Tensor to_device(const Tensor& t, Device d) { return t.device() == d ? t : t.to(d); }

data::DatasetPtr select_classes(data::DatasetPtr ds, const std::string& classes) {
  std::vector<std::string> items = split_list(classes);
  if (items.empty()) return ds;
  bool numeric = true;
  for (auto& s : items) numeric = numeric && s.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) {
    std::vector<int64_t> ids;
    for (auto& s : items) {
      MOCO_USAGE_CHECK(s.size() <= 9, "--classes: '{}' is not a class number of this data set", s);
      ids.push_back(std::stoll(s));
    }
    return data::subset_by_classes(ds, ids);
  }
  return data::subset_by_class_names(ds, items);
}

std::string DataSetup::describe() const {
  std::string cls;
  for (size_t i = 0; i < classes.size(); ++i) cls += (i ? ", " : "") + classes[i];
  return fmt::format("{}: {} train / {} val images, {} classes ({}), {}x{}x{} input", spec, train->size(),
                     val ? val->size() : 0, classes.size(), cls, channels, size, size);
}

std::string DataSetup::sources() const {
  return "train: " + train->describe() + (val ? "\n  validation: " + val->describe() : std::string());
}

std::string DataSetup::write_skipped(const RunDir& dir) const {
  if (skipped_images.empty()) return "";
  std::string text;
  for (auto& f : skipped_images) text += f + "\n";
  write_file_atomic(dir.file("skipped_images.txt"), text);
  return dir.file("skipped_images.txt");
}

DataSetup open_data(const DataOptions& o) {
  DataSetup d;
  d.spec = o.data.empty() ? o.dataset : o.dataset + ":" + o.data;
  MOCO_CHECK(o.train_fraction > 0 && o.train_fraction <= 1, "the training fraction must be in (0, 1], got {}",
             o.train_fraction);
  // Before any image is read; a command without the flag keeps the process's limit.
  if (o.max_image_pixels) data::set_max_image_pixels(*o.max_image_pixels);
  d.open.val_fraction = o.val_fraction;
  d.open.folder.skip_unreadable = o.skip_bad_images;
  data::DatasetPtr train, val;
  if (o.want_val) std::tie(train, val) = data::open_train_val(d.spec, d.open);
  else train = data::open_dataset(d.spec, "train", d.open);
  train = select_classes(train, o.classes);
  d.classes = train->classes();
  if (!split_list(o.classes).empty()) {  // a class chosen by name or number must have images
    std::vector<int64_t> count(d.classes.size(), 0);
    for (int64_t l : train->labels())
      if (l >= 0 && l < int64_t(count.size())) ++count[size_t(l)];
    std::vector<std::string> ids = split_list(o.classes);
    for (size_t c = 0; c < count.size(); ++c)
      MOCO_CHECK(count[c] > 0, "class {} has no training images in {}", ids.size() == count.size() ? ids[c] : d.classes[c],
                 train->describe());
  }
  if (o.train_fraction < 1) train = data::subset_by_fraction(train, o.train_fraction, o.seed, o.label_floor);
  d.train = train;
  if (o.want_val) d.val = select_classes(val, o.classes);
  for (const data::DatasetPtr& split : {d.train, d.val})
    if (const data::ImageFolder* f = split ? data::image_folder_of(*split) : nullptr)
      for (const std::string& file : f->skipped_files())
        if (std::find(d.skipped_images.begin(), d.skipped_images.end(), file) == d.skipped_images.end())
          d.skipped_images.push_back(file);
  d.size = o.image_size;
  d.channels = o.channels;
  if (d.size == 0 || d.channels == 0) {
    // From a sample, not the first image: one gray file in a colour folder,
    // or one thumbnail, would otherwise decide for every image.
    const data::ImageStats st = data::sample_image_stats(*d.train);
    if (d.size == 0) d.size = st.median_side <= 96 ? st.median_side : 224;
    MOCO_USAGE_CHECK(d.size >= 8 || o.image_size > 0,
                     "the images of {} are {} px on their short side (the median of {} sampled, {} to {} px), too "
                     "small to set the model input (at least 8); give --image-size N (N >= 8) to resize every "
                     "image to N x N",
                     d.train->describe(), st.median_side, st.sampled, st.min_side, st.max_side);
    if (d.channels == 0) d.channels = st.colour > 0 ? 3 : 1;
  }
  MOCO_USAGE_CHECK(d.size >= 8, "--image-size {} is too small (at least 8)", d.size);
  MOCO_CHECK(d.channels == 1 || d.channels == 3, "--channels must be 1 or 3, got {}", d.channels);
  d.norm = data::norm_stats_for(d.spec, d.channels);
  d.workers = o.workers;
  return d;
}

}  // namespace moco::train
