#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"
#include "tools/args.h"
#include "tools/plot.h"
#include "tools/progress.h"
#include "train/run_config.h"
#include "train/run_dir.h"

using namespace moco;
using namespace moco::cli;
using namespace moco::train;
namespace fs = std::filesystem;

static Args make_args() {
  Args a("test", "a test command");
  a.opt("lr", "0.03", "learning rate").opt("epochs", "10", "epochs").opt("classes", "", "class list").flag("cos", "cosine");
  return a;
}

TEST_CASE("flags: forms, types, defaults") {
  Args a = make_args();
  REQUIRE(a.parse({"--lr", "0.5", "--epochs=3", "--cos", "--classes", "0,2,4"}));
  CHECK(a.real("lr") == 0.5);
  CHECK(a.integer("epochs") == 3);
  CHECK(a.on("cos"));
  CHECK(a.given("lr"));
  CHECK(a.int_list("classes") == std::vector<int64_t>{0, 2, 4});
  Args b = make_args();
  REQUIRE(b.parse({}));
  CHECK(b.real("lr") == 0.03);
  CHECK_FALSE(b.on("cos"));
  CHECK_FALSE(b.given("lr"));
}

TEST_CASE("flags: clear errors") {
  Args a = make_args();
  CHECK_THROWS_CONTAINS(a.parse({"--learning-rate", "1"}), "unknown option --learning-rate");
  Args b = make_args();
  CHECK_THROWS_CONTAINS(b.parse({"--lr"}), "needs a value");
  Args c = make_args();
  REQUIRE(c.parse({"--epochs", "ten", "--lr", "-1"}));
  CHECK_THROWS_CONTAINS(c.integer("epochs"), "expects an integer, got 'ten'");
  CHECK_THROWS_CONTAINS(c.real("lr", 0, 10), "out of range");
  Args d = make_args();
  CHECK_THROWS_CONTAINS(d.parse({"stray"}), "unexpected argument 'stray'");
  Args e = make_args();
  CHECK_FALSE(e.parse({"--help"}));  // prints help, tells the caller to stop
}

TEST_CASE("run folder: config, metrics jsonl + csv, read back, truncate") {
  const std::string dir = (fs::temp_directory_path() / "moco_test_rundir").string();
  fs::remove_all(dir);
  RunDir run(dir + "/nested/run");
  RunConfig c;
  c.kind = "pretrain";
  c.command = "moco pretrain --lr 0.03";
  c.flags = {{"lr", "0.03"}, {"note", "a \"quoted\" value"}, {"moco-k", "4096"}, {"mlp", "0"}, {"classes", "007"},
             {"schedule", "120,160"}, {"wd", "1e-4"}};
  c.switches = {"mlp"};
  c.machine = {{"threads", "2"}, {"device", "cpu"}};
  write_run_config(run.file("config.json"), c);
  std::ifstream cfg(run.file("config.json"));
  std::string text((std::istreambuf_iterator<char>(cfg)), {});
  // Typed: numbers as numbers, switches as booleans, the rest as strings.
  CHECK(text.find("\"lr\": 0.03") != std::string::npos);
  CHECK(text.find("\"moco-k\": 4096") != std::string::npos);
  CHECK(text.find("\"mlp\": false") != std::string::npos);
  CHECK(text.find("\"classes\": \"007\"") != std::string::npos);
  CHECK(text.find("\"schedule\": \"120,160\"") != std::string::npos);
  CHECK(text.find("a \\\"quoted\\\" value") != std::string::npos);
  CHECK(text.find("\"commit\": ") != std::string::npos);
  CHECK(text.find("\"started\": \"20") != std::string::npos);
  // ... and read back as the command line spells the values.
  RunConfig back = read_run_config(run.file("config.json"));
  CHECK(back.kind == "pretrain");
  CHECK(back.command == c.command);
  CHECK(back.flags.at("lr") == "0.03");
  CHECK(back.flags.at("wd") == "0.0001");
  CHECK(back.flags.at("moco-k") == "4096");
  CHECK(back.flags.at("mlp") == "0");
  CHECK(back.flags.at("classes") == "007");
  CHECK(back.flags.at("note") == "a \"quoted\" value");
  CHECK(back.switches == std::set<std::string>{"mlp"});
  CHECK(back.machine.at("threads") == "2");
  // A config.json of an older version (every value a string, at the top level) still reads.
  write_file_atomic(run.file("old.json"), "{\"command\": \"moco train\", \"lr\": \"0.1\", \"cos\": \"1\"}");
  RunConfig old = read_run_config(run.file("old.json"));
  CHECK(old.command == "moco train");
  CHECK(old.flags.at("lr") == "0.1");
  CHECK(old.flags.at("cos") == "1");
  write_file_atomic(run.file("bad.json"), "{\"flags\": [1, 2]}");
  CHECK_THROWS_CONTAINS(read_run_config(run.file("bad.json")), "\"flags\" must be an object");
  write_file_atomic(run.file("broken.json"), "{\"flags\": ");
  CHECK_THROWS_CONTAINS(read_run_config(run.file("broken.json")), "not a JSON run configuration");
  run.append_metrics({{"epoch", 1}, {"loss", 4.5}});
  run.append_metrics({{"epoch", 2}, {"loss", 3.25}});
  auto rows = run.read_metrics();
  REQUIRE(rows.size() == 2);
  CHECK(rows[1][1].first == "loss");
  CHECK(rows[1][1].second == 3.25);
  std::ifstream csv(run.file("metrics.csv"));
  std::string header;
  std::getline(csv, header);
  CHECK(header == "epoch,loss");
  run.truncate_metrics(1);
  CHECK(run.read_metrics().size() == 1);
  // A line that is not a row of numbers is an error naming the file and the line.
  RunDir bad(dir + "/bad");
  auto expect_error = [&](const std::string& jsonl, const char* what) {
    write_file_atomic(bad.file("metrics.jsonl"), jsonl);
    CHECK_THROWS_CONTAINS(bad.read_metrics(), bad.file("metrics.jsonl") + " line 2");
    CHECK_THROWS_CONTAINS(bad.read_metrics(), what);
  };
  expect_error("{\"epoch\": 1}\n{\"epoch\": 2, \"loss\": 1.5\n", "column 25: not a JSON row");
  expect_error("{\"epoch\": 1}\n{\"epoch\": 2, \"loss\": \"x\"}\n", "\"loss\" is a JSON string, expected a number");
  expect_error("{\"epoch\": 1}\n[1, 2]\n", "a row is a JSON object of numbers, not a JSON array");
  expect_error("{\"epoch\": 1}\n{\"loss\": 1e999}\n", "number overflow");
  write_file_atomic(bad.file("metrics.jsonl"), "\n{\"epoch\": 1}\n  \n{}\n");  // blank lines and {} hold no row
  CHECK(bad.read_metrics().size() == 1);
  fs::remove_all(dir);
}

TEST_CASE("atomic write replaces the file and leaves no temporary") {
  const std::string path = (fs::temp_directory_path() / "moco_atomic.txt").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  CHECK(s == "second");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK_THROWS_CONTAINS(write_file_atomic("/nonexistent-dir/x.txt", "x"), "cannot write");
  fs::remove(path);
}

TEST_CASE("progress bar counts steps and reports a rate") {
  Progress p("test", 3, 8);
  for (int i = 0; i < 3; ++i) p.step({{"loss", 1.0 / (i + 1)}});
  CHECK(p.done() >= 0);
  CHECK(p.items_per_second() > 0);
}

TEST_CASE("plot writes a PNG through gnuplot") {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    MESSAGE("gnuplot not installed: plot test skipped (make deps installs gnuplot-nox)");
    return;
  }
  const std::string png = (fs::temp_directory_path() / "moco_plot_test.png").string();
  fs::remove(png);
  plot_png(png, {Panel{"loss", "epoch", "loss", {Series{"a", {1, 2, 3}, {3, 2, 1}}, Series{"b", {1, 2, 3}, {2, 2, 1}}}},
                 Panel{"acc", "epoch", "%", {Series{"a", {1, 2}, {50, 60}}}}});
  REQUIRE(fs::exists(png));
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
}

TEST_CASE("flags: aliases as the official scripts spell them") {
  Args a("test", "a test command");
  a.opt("batch-size", "256", "batch").opt("lr", "0.03", "lr").alias("-b", "batch-size").alias("--learning-rate", "lr");
  REQUIRE(a.parse({"-b", "64", "--learning-rate=0.5"}));
  CHECK(a.integer("batch-size") == 64);
  CHECK(a.real("lr") == 0.5);
  CHECK(a.given("lr"));
  Args b("test", "a test command");
  b.opt("lr", "0.03", "lr");
  CHECK_THROWS_CONTAINS(b.alias("-x", "nothing"), "undeclared option");
}
