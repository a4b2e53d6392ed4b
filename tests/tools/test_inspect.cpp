// `moco inspect` end to end on a tiny generated data set (IDX files in a temp
// folder, 4 classes of 16x16 bar patterns, as test_train.cpp) and tiny MoCo
// runs: the files, the retrieval sheet's size and frames, the kNN top-1
// against `moco knn`, v3 and checkpoints without ages or a run folder, and
// the usage errors for what is not a MoCo checkpoint.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "data/io.h"
#include "nn/safetensors.h"
#include "test_util.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/inspect.h"
#include "tools/pretrain.h"
#include "tools/supervised.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

const TinyData& tiny() {
  static TinyData d("inspect");
  return d;
}


// `moco knn --json`'s knn_top1.
double knn_json(const std::vector<std::string>& args) {
  const std::string text = capture_stdout(tiny().out("stdout.txt"), [&] { REQUIRE(knn_command(plus(args, {"--json"})) == 0); });
  const size_t brace = text.rfind("{\"checkpoint\"");
  REQUIRE(brace != std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(text.substr(brace));
  REQUIRE(j.contains("knn_top1"));
  return j.at("knn_top1").get<double>();
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }

const std::vector<std::string> kV2 = {"--moco-version", "v2", "--arch",    "resnet18", "--width",     "4",
                                      "--batch-size",   "16", "--moco-k",  "64",       "--bn-splits", "2",
                                      "--epochs",       "2",  "--seed",    "3",        "--knn-every", "0"};

// A finished tiny v2 run, made once.
const std::string& v2_run() {
  static const std::string run = [] {
    const std::string r = tiny().out("v2");
    REQUIRE(pretrain_command(tiny().args(plus(kV2, {"--out", r}))) == 0);
    return r;
  }();
  return run;
}

}  // namespace

TEST_CASE("inspect v2: the files, an 8 x 9 retrieval sheet with frames that match the report, the queue") {
  const std::string run = v2_run();
  const std::string text = capture_stdout(tiny().out("stdout.txt"), [&] { REQUIRE(inspect_command({run, "--knn-k", "10"}) == 0); });
  const std::string dir = run + "/inspect";
  for (const char* f : {"retrieval.png", "inspect.md", "inspect.json"}) CHECK_MESSAGE(fs::is_regular_file(dir + "/" + f), f);
  if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) CHECK(fs::is_regular_file(dir + "/histograms.png"));
  const std::string md = slurp(dir + "/inspect.md");
  CHECK(text.find(md) != std::string::npos);  // the report is printed too
  for (const char* s : {"## kNN", "kNN top-1 on the test split", "| positive | 16 |", "Negatives above their positive",
                        "## Queue", "64 keys of 128 dimensions", "Ages (training steps since a key was enqueued): "
                        "mean 1.5, max 3", "over 2016 pairs", "## Retrieval sheet", "| 8 |", "Neighbour agreement"})
    CHECK_MESSAGE(md.find(s) != std::string::npos, s);

  // 16 px images at 4x: 64 px cells in 3 px frames, 4 px apart, 8 px more after the queries.
  CHECK(sheet_scale(16) == 4);
  CHECK(sheet_scale(28) == 2);
  CHECK(sheet_scale(96) == 1);
  const data::Image sheet = data::load_image(dir + "/retrieval.png");
  CHECK(sheet.w == 4 + 9 * (64 + 6 + 4) + 8);
  CHECK(sheet.h == 4 + 8 * (64 + 6 + 4));
  SheetLayout L;
  L.cell = 64;
  CHECK(sheet.w == L.width(9));
  CHECK(sheet.h == L.height(8));

  // Each neighbour's frame and corner mark say what inspect.json says of it.
  const nlohmann::json j = read_json(dir + "/inspect.json");
  REQUIRE(j.contains("queries"));
  const nlohmann::json& queries = j.at("queries");
  REQUIRE(queries.size() == 8);
  int64_t same_total = 0;
  for (size_t r = 0; r < 8; ++r) {
    REQUIRE(queries[r].contains("neighbours"));
    const nlohmann::json& nb = queries[r].at("neighbours");
    REQUIRE(nb.size() == 8);
    for (size_t c = 0; c < 8; ++c) {
      INFO("row " << r << ", neighbour " << c);
      const bool same = nb[c].at("same").get<bool>();
      same_total += same;
      CHECK(same == (nb[c].at("label").get<int64_t>() == queries[r].at("label").get<int64_t>()));
      const int fx = L.frame_x(int(c) + 1), fy = L.frame_y(int(r));
      // the left edge of the frame, below the corner mark: bluish green (0, 158, 115) or vermillion (213, 94, 0)
      const int y = fy + L.cell / 2;
      CHECK(int(sheet.at(y, fx + 1, 0)) == (same ? 0 : 213));
      CHECK(int(sheet.at(y, fx + 1, 1)) == (same ? 158 : 94));
      // the corner mark's centre: the frame's colour (filled) or white (hollow)
      const int m = std::max(8, L.cell / 5);
      CHECK(int(sheet.at(fy + m / 2, fx + m / 2, 0)) == (same ? 0 : 255));
    }
    // the query's frame is grey
    CHECK(int(sheet.at(L.frame_y(int(r)) + L.cell / 2, L.frame_x(0) + 1, 1)) == 200);
  }
  CHECK(j.at("agreement").get<int64_t>() == same_total);
  CHECK(j.at("queue_k") == 64);
  CHECK(j.at("queue_age_mean").get<double>() == doctest::Approx(1.5));  // 16 of 64 slots a step, a full ring: ages 0..3
  CHECK(j.at("logit_pos").at("n") == 16);
  CHECK(j.at("logit_neg").at("n") == 16 * 64);
  const double pos_mean = j.at("logit_pos").at("mean").get<double>();
  CHECK(pos_mean > -1);
  CHECK(pos_mean <= 1);
}

TEST_CASE("inspect: the kNN top-1 in the report is moco knn's, also with capped bank and test sets") {
  const auto& d = tiny();
  const std::string run = v2_run();
  REQUIRE(inspect_command({run, "--knn-k", "10", "--out", d.out("insp_knn")}) == 0);
  const double knn = knn_json(d.args({"--pretrained", run, "--knn-k", "10"}));
  CHECK(read_json(d.out("insp_knn") + "/inspect.json").at("knn_top1").get<double>() == knn);
  CHECK(read_json(d.out("insp_knn") + "/inspect.json").at("knn_test") == 32);

  const std::vector<std::string> capped = {"--knn-k", "10", "--knn-bank", "40", "--knn-test", "20", "--seed", "5"};
  REQUIRE(inspect_command(plus({run, "--out", d.out("insp_cap")}, capped)) == 0);
  const nlohmann::json j = read_json(d.out("insp_cap") + "/inspect.json");
  CHECK(j.at("knn_test") == 20);
  CHECK(j.at("knn_bank") == 40);
  CHECK(j.at("knn_top1").get<double>() == knn_json(d.args(plus({"--pretrained", run}, capped))));
  // Queries come from the capped test set, neighbours from the capped bank.
  for (auto& q : j.at("queries")) {
    CHECK(q.at("test_index").get<int64_t>() < 20);
    for (auto& n : q.at("neighbours")) CHECK(n.at("bank_index").get<int64_t>() < 40);
  }
}

TEST_CASE("inspect: v3 (no queue), a checkpoint without queue ages and one away from its run folder") {
  const auto& d = tiny();
  const std::string v3 = d.out("v3");
  REQUIRE(pretrain_command(d.args({"--moco-version", "v3", "--arch", "vit_tiny", "--vit-dim", "32", "--vit-depth", "2",
                                   "--vit-heads", "2", "--patch-size", "4", "--moco-mlp-dim", "64", "--batch-size", "16",
                                   "--epochs", "1", "--warmup-epochs", "0", "--knn-every", "0", "--out", v3})) == 0);
  REQUIRE(inspect_command({v3, "--knn-k", "10", "--queries", "3", "--neighbours", "5"}) == 0);
  const std::string md = slurp(v3 + "/inspect/inspect.md");
  CHECK(md.find("MoCo v3 has no queue") != std::string::npos);
  CHECK(md.find("Ages") == std::string::npos);
  const nlohmann::json j = read_json(v3 + "/inspect/inspect.json");
  CHECK_FALSE(j.contains("queue_k"));
  CHECK(j.at("logit_pos").at("n") == 2 * 16);       // both directions' diagonals
  CHECK(j.at("logit_neg").at("n") == 2 * 16 * 15);  // and the rest of the batch
  CHECK(j.at("queries").size() == 3);
  CHECK(j.at("queries")[0].at("neighbours").size() == 5);
  const data::Image sheet = data::load_image(v3 + "/inspect/retrieval.png");
  SheetLayout L;
  L.cell = 64;
  CHECK(sheet.w == L.width(6));
  CHECK(sheet.h == L.height(3));

  // A v2 checkpoint from before queue ages were saved, alone in a folder without config.json.
  nn::SafeTensors st = nn::load_safetensors(checkpoint_file(v2_run()));
  nn::NamedTensors kept;
  for (auto& [n, t] : st.tensors)
    if (n != "queue_age") kept.emplace_back(n, t);
  REQUIRE(kept.size() + 1 == st.tensors.size());
  fs::create_directories(d.out("alone"));
  nn::save_safetensors(d.out("alone/old.safetensors"), kept, st.metadata);
  REQUIRE(inspect_command({d.out("alone/old.safetensors"), "--knn-k", "10"}) == 0);
  const std::string old = slurp(d.out("alone/inspect/inspect.md"));
  CHECK(old.find("has no `queue_age`") != std::string::npos);
  CHECK(old.find("No config.json beside the checkpoint") != std::string::npos);
  CHECK(!read_json(d.out("alone/inspect/inspect.json")).contains("queue_age_mean"));
  // The data set came from the checkpoint's metadata: the same kNN as the run folder gives.
  CHECK(read_json(d.out("alone/inspect/inspect.json")).at("knn_top1").get<double>() ==
        knn_json(d.args({"--pretrained", v2_run(), "--knn-k", "10"})));
}

TEST_CASE("inspect: a supervised checkpoint, a text file, a missing path and bad flags are usage errors") {
  const auto& d = tiny();
  const std::string sup = d.out("sup");
  REQUIRE(supervised_command(SupervisedMode::train, d.args({"--arch", "resnet18", "--width", "4", "--batch-size", "16",
                                                            "--epochs", "1", "--out", sup})) == 0);
  CHECK_THROWS_AS(inspect_command({sup}), UsageError);
  CHECK_THROWS_CONTAINS(inspect_command({sup}), "is not a MoCo checkpoint: it was written by moco train");
  CHECK_FALSE(fs::exists(sup + "/inspect"));  // nothing written

  std::ofstream(d.out("notes.txt")) << "not a checkpoint\n";
  CHECK_THROWS_AS(inspect_command({d.out("notes.txt")}), UsageError);
  CHECK_THROWS_CONTAINS(inspect_command({d.out("notes.txt")}), "is not a checkpoint");

  CHECK_THROWS_AS(inspect_command({d.out("nowhere")}), UsageError);
  CHECK_THROWS_CONTAINS(inspect_command({d.out("nowhere")}), "no checkpoint at");
  CHECK_THROWS_CONTAINS(inspect_command({}), "needs one run folder or checkpoint, got 0");
  CHECK_THROWS_AS(inspect_command({v2_run(), "--queries", "0"}), UsageError);
  CHECK_THROWS_CONTAINS(inspect_command({v2_run(), "--batch-size", "24", "--out", d.out("bad_b")}),
                        "--batch-size 24 must divide the queue's 64 keys");
}
