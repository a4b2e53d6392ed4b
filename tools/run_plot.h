// Pictures of run folders: `moco plot RUN [RUN...]` draws the
// curves of any runs in one PNG (what `moco pretrain` redraws as RUN/plots.png
// every epoch); train/run_report.h writes RUN/report.md beside it.
//
// Panels, each drawn only when some run has its values (steps.jsonl, one row
// every --log-every steps, where present; else metrics.jsonl, one per epoch),
// x = epochs (fractional for step rows):
//   loss against loss_chance (dashed; and train_loss of supervised runs),
//   instance top-1, kNN top-1 (epoch 0: random init; and val_top1),
//   positive / negative logits and the queue's mean pairwise cosine (as cosine
//   similarities), alignment and uniformity, feature_std with 1/sqrt(moco-dim)
//   dashed, encoder_drift (log scale), grad_norm, queue_age_mean, lr, moco_m.
// With several runs every legend entry starts with the run folder's name.
#pragma once
#include <string>
#include <vector>

namespace moco::cli {

// Draws `png` from the run folders. Input it cannot draw (no folder given, a
// folder that is not there, one without metrics.jsonl / steps.jsonl rows, or
// no curve it draws in any) throws UsageError (tools/args.h): `moco` exits
// with status 2 and the message.
void plot_runs(const std::vector<std::string>& runs, const std::string& png);

int plot_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
