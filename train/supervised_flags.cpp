#include "train/supervised_flags.h"

#include <fmt/format.h>

#include "data/dataset.h"
#include "tensor/error.h"
#include "train/run_flags.h"

namespace moco::train {

std::string resolve_supervised_flags(SupervisedMode mode, Flags& args, Pretrained& pre, DataSetup& d) {
  const bool resuming = !args.str("resume").empty();
  if (mode != SupervisedMode::train && !resuming) {
    MOCO_CHECK(!args.str("pretrained").empty(), "moco {} needs --pretrained RUN_OR_CHECKPOINT", mode_name(mode));
    pre = load_pretrained(args.str("pretrained"));
    adopt_model_flags(args, pre);
  }
  d = open_data(args, args.real("label-fraction", 0, 1), uint64_t(args.integer("seed", 0)));
  const int64_t nval = args.integer("val-samples", 0);
  if (nval > 0 && nval < d.val->size())
    d.val = data::subset_by_fraction(d.val, double(nval) / double(d.val->size()), uint64_t(args.integer("seed", 0)));
  const bool vit = args.str("arch").rfind("vit", 0) == 0;
  std::string note;
  if (args.integer("batch-size", 1, 1 << 24) > d.train->size()) {
    note = fmt::format("--batch-size {} is larger than the {} training images; using batches of {}{}",
                       args.integer("batch-size", 1), d.train->size(), d.train->size(),
                       args.str("lr") == "auto" ? " (and the lr for that batch)" : "");
    args.set("batch-size", std::to_string(d.train->size()));
  }
  const SupervisedRecipe rec =
      supervised_recipe(mode, d.size, vit, args.integer("batch-size", 1), args.integer("epochs", 1, 1000000),
                        args.str("optimizer") == "auto" ? "" : args.str("optimizer"));
  auto def = [&](const char* flag, const std::string& value) {
    if (args.str(flag) == "auto") args.set(flag, value);
  };
  def("crop-min", fmt::format("{}", rec.crop_min));
  def("optimizer", rec.optimizer.kind);
  def("lr", fmt::format("{:g}", rec.optimizer.lr));  // 6 digits, as every run so far used
  def("wd", fmt::format("{}", rec.optimizer.weight_decay));
  def("warmup-epochs", fmt::format("{}", rec.lr.schedule.warmup_epochs));
  if (mode != SupervisedMode::linear && !args.given("cos") && args.str("schedule").empty()) args.set("cos", "1");
  return note;
}

SupervisedRecipe supervised_recipe(SupervisedMode mode, const Flags& a) {
  const int64_t epochs = a.integer("epochs", 1, 1000000), B = a.integer("batch-size", 1, 1 << 24);
  const double lr = a.real("lr", 0), wd = a.real("wd", 0), warmup = a.real("warmup-epochs", 0);
  MOCO_CHECK(warmup < double(epochs), "--warmup-epochs {} must be less than --epochs {}", warmup, epochs);
  SupervisedRecipe recipe;
  recipe.mode = mode;
  recipe.epochs = epochs;
  recipe.batch_size = B;
  recipe.eval_batch_size = a.integer("eval-batch-size", 1);
  recipe.crop_min = a.real("crop-min", 0, 1);
  recipe.sync_bn = a.on("sync-bn");
  recipe.check_sync_every = a.integer("check-sync-every", 0);
  recipe.optimizer = {a.str("optimizer"), lr, a.real("momentum", 0, 1), wd};
  recipe.lr = warmup > 0 ? LrPlan::warmup_cosine(lr, double(epochs), warmup)
                         : LrPlan::per_epoch(lr, double(epochs), a.on("cos"), milestones(a));
  return recipe;
}

}  // namespace moco::train
