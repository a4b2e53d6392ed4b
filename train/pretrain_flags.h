// `moco pretrain`'s flags (the official scripts' names: --moco-version,
// --moco-k, --moco-m, --moco-t, --mlp, --aug-plus, --cos, ...) as the
// library's pretraining recipe (train/pretrain.h). Their "auto" values are
// the recipe's own, so one function owns the mapping from recipe to flags and
// config.json records what a run actually used.
#pragma once
#include <string>
#include <vector>

#include "train/data_setup.h"
#include "train/flags.h"
#include "train/model_spec.h"
#include "train/pretrain.h"

namespace moco::train {

// Checks --moco-version and --recipe, opens the data into `d` (the recipe
// depends on the image size), and fills every "auto" value and preset switch
// (--mlp, --aug-plus, --cos, --moco-m-cos, --stop-grad-conv1, --knn-features)
// from moco_recipe(). A switch given or taken from a resumed run's
// config.json is left as it is, so a preset does not turn on again what the
// run turned off (--mlp=0). Returns a warning for each flag given that the
// chosen version does not read: such a flag is said so, not silently dropped.
std::vector<std::string> resolve_pretrain_flags(Flags& a, DataSetup& d);

// The backbone of a resolved pretraining run: v3's ResNets start with zero
// residual branches and its ViT may freeze the patch projection (as the
// official code); the CIFAR-10 demo keeps PyTorch's default init of conv1.
ModelSpec pretrain_model_spec(const Flags& a, const DataSetup& d);

// The recipe the resolved flags describe. v3's --lr is per 256 images (scaled
// to --batch-size here, as main_moco.py of moco-v3 does); errors when the
// warm-up does not end before the last epoch or the batch exceeds the data.
PretrainRecipe pretrain_recipe(const Flags& a, const DataSetup& d);

}  // namespace moco::train
