#include <string>
#include <vector>

#include "tools/ablate.h"
#include "tools/bench_step.h"
#include "tools/command.h"
#include "tools/compare.h"
#include "tools/export_folder.h"
#include "tools/inspect.h"
#include "tools/pretrain.h"
#include "tools/run_plot.h"
#include "tools/supervised.h"

namespace moco::cli {

const std::vector<Command>& commands() {
  auto mode = [](SupervisedMode m) {
    return [m](const std::vector<std::string>& argv) { return supervised_command(m, argv); };
  };
  static const std::vector<Command> table = {
      {"ablate",
       "the MoCo paper's ablations at a small scale (--what m|K|T|shuffle-bn): table.md + plot.png over seeds",
       ablate_command},
      {"bench",
       "time training steps (--method sup | mocov2 | mocov3) on random data as the PyTorch reference does; --json for "
       "a JSON line",
       bench_command},
      {"bench-data", "measure the data loader's images/s for a preset and a number of workers", bench_data_command},
      {"compare",
       "the seed study: resnet, moco_resnet, vit, moco_vit on a 4-class task; report.md + curves.png (--preset "
       "quick|full)",
       compare_command},
      {"demo", "train a small MLP on generated spirals (a seconds-long end-to-end check of the stack)", demo_command},
      {"export-folder", "write a data set's train / test splits as an ImageFolder of PNGs (optional tint, alpha)",
       export_folder_command},
      {"finetune", "fine-tune a pretrained backbone end to end with a new classification head",
       mode(SupervisedMode::finetune)},
      {"inspect", "a MoCo checkpoint's retrieval sheet, logit / queue histograms and kNN top-1 (PNG + report)",
       inspect_command},
      {"knn", "kNN top-1 (k 200, T 0.1) of a checkpoint's backbone features on the test split", knn_command},
      {"linear", "linear probe on frozen pretrained features (BN frozen; lr 30, no wd, step schedule)",
       mode(SupervisedMode::linear)},
      {"plot", "one PNG of run folders' curves: loss vs chance, logits, drift, feature std, uniformity, kNN, lr, m",
       plot_command},
      {"pretrain", "MoCo v1/v2/v3 self-supervised pretraining (official flags; kNN monitor; --resume)",
       pretrain_command},
      {"show-augment", "write a PNG contact sheet of images and their MoCo augmented views", show_augment_command},
      {"train", "supervised training from scratch (the seed study's baseline)", mode(SupervisedMode::train)},
  };
  return table;
}

}  // namespace moco::cli
