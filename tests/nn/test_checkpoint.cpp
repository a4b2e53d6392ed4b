// Checkpoints: safetensors round trips, a state dict written by PyTorch
// loading into our ResNet, our file holding PyTorch's exact tensors, atomic
// writes, and errors that name the file and the tensor.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "nn_fixture.h"

using namespace moco;
using namespace moco::nn;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("moco_nn_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::shared_ptr<ResNet> resnet18_w4() {
  ResNetConfig cfg;
  cfg.width = 4;
  cfg.num_classes = 10;
  return std::make_shared<ResNet>(cfg);
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A file with a hand-written header and `data_bytes` zero bytes of data.
std::vector<uint8_t> raw_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, scalars, metadata, order") {
  Generator g(1);
  NamedTensors in{{"b.weight", randn({3, 4}, g)},
                  {"a.x64", randn({2, 2}, g, DType::f64)},
                  {"count", Tensor::full({}, 42, DType::i64)},
                  {"idx", Tensor::from_vector(std::vector<int64_t>{1, -2, 3}, {3})},
                  {"empty", Tensor::zeros({0, 5})},
                  {"view", randn({4, 6}, g).t()}};  // non-contiguous: written contiguous
  TempDir tmp;
  save_safetensors(tmp.file("t.safetensors"), in, {{"epoch", "7"}, {"arch", "resnet18"}});
  SafeTensors out = load_safetensors(tmp.file("t.safetensors"));
  REQUIRE(out.tensors.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(in[i].first);
    CHECK(out.tensors[i].first == in[i].first);  // header order is kept
    CHECK(out.tensors[i].second.shape() == in[i].second.shape());
    CHECK(out.tensors[i].second.dtype() == in[i].second.dtype());
    CHECK(allclose(out.tensors[i].second, in[i].second, 0, 0).ok);
  }
  CHECK(out.metadata.at("epoch") == "7");
  CHECK(out.metadata.at("arch") == "resnet18");
  // No temporary file is left behind.
  int files = 0;
  for (auto& e : fs::directory_iterator(tmp.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("checkpoint: a state dict written by PyTorch loads into our ResNet-18 and computes the same") {
  auto m = resnet18_w4();
  load_state_dict(*m, testing::fixture_path("nn/resnet18_w4_torch.safetensors"));
  CHECK(find_tensor(m->state_dict(), "bn1.num_batches_tracked").item() == 1);
  m->eval();
  NoGradGuard ng;
  Tensor y = (*m)(testing::fx("nn/resnet18_w4_io.safetensors", "x"));
  testing::check_close_scaled(y, testing::fx("nn/resnet18_w4_io.safetensors", "y_eval"), 1e-4, "eval output");
}

TEST_CASE("checkpoint: the file we write holds PyTorch's tensors, byte for byte, in valid safetensors layout") {
  const std::string torch_file = testing::fixture_path("nn/resnet18_w4_torch.safetensors");
  auto m = resnet18_w4();
  load_state_dict(*m, torch_file);
  TempDir tmp;
  const std::string ours = tmp.file("ours.safetensors");
  save_state_dict(*m, ours, {{"format", "pt"}});
  SafeTensors a = load_safetensors(ours), b = load_safetensors(torch_file);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [name, t] = a.tensors[i];
    const Tensor& want = find_tensor(b.tensors, name, torch_file);
    CAPTURE(name);
    CHECK(t.dtype() == want.dtype());
    CHECK(t.shape() == want.shape());
    CHECK(std::memcmp(t.raw_data(), want.raw_data(), size_t(t.numel()) * dtype_size(t.dtype())) == 0);
  }
  // Layout: 8-byte header length, JSON header padded to 8 bytes, tensors
  // packed back to back from offset 0 to the end of the file.
  std::vector<uint8_t> bytes = read_bytes(ours);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  const auto header = nlohmann::ordered_json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  int64_t expect_begin = 0;
  for (auto& [name, e] : header.items()) {
    if (name == "__metadata__") continue;
    REQUIRE(e.contains("data_offsets"));
    CHECK(e.at("data_offsets").at(0) == expect_begin);
    expect_begin = e.at("data_offsets").at(1);
    CHECK((e.at("dtype") == "F32" || e.at("dtype") == "I64"));
  }
  CHECK(uint64_t(expect_begin) == bytes.size() - 8 - n);
  // (tests/parity/gen_nn.py --check FILE loads such a file into PyTorch, strict.)
}

TEST_CASE("checkpoint: loading names every missing, unexpected, mis-shaped and mis-typed tensor") {
  auto m = resnet18_w4();
  NamedTensors sd;
  for (auto& [n, t] : m->state_dict()) {
    if (n == "layer1.0.conv1.weight") continue;                                    // missing
    if (n == "fc.weight") sd.emplace_back(n, Tensor::zeros({10, 16}));            // wrong shape
    else if (n == "conv1.weight") sd.emplace_back(n, Tensor::zeros(t.shape()));  // fine, but must not be copied
    else if (n == "bn1.num_batches_tracked") sd.emplace_back(n, Tensor::zeros({}));  // float, not int64
    else sd.emplace_back(n, t.clone());
  }
  sd.emplace_back("head.weight", Tensor::zeros({3}));  // unexpected
  try {
    m->load_state_dict(sd);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("4 problems") != std::string::npos);
    CHECK(msg.find("missing: layer1.0.conv1.weight [4, 4, 3, 3] float32") != std::string::npos);
    CHECK(msg.find("unexpected: head.weight [3] float32") != std::string::npos);
    CHECK(msg.find("shape mismatch: fc.weight: checkpoint [10, 16], model [10, 32]") != std::string::npos);
    CHECK(msg.find("dtype mismatch: bn1.num_batches_tracked: checkpoint float32, model int64") != std::string::npos);
  }
  // Nothing was copied when loading failed.
  CHECK(sum(abs(find_tensor(m->state_dict(), "conv1.weight"))).item() > 0);
  auto fresh = resnet18_w4();
  // strict = false ignores missing and unexpected names, never wrong shapes.
  NamedTensors partial{{"fc.bias", Tensor::ones({10})}, {"projector.0.weight", Tensor::ones({2})}};
  m->load_state_dict(partial, false);
  CHECK(sum(find_tensor(m->named_parameters(), "fc.bias")).item() == 10);
  CHECK_THROWS_WITH_AS(m->load_state_dict({{"fc.bias", Tensor::ones({11})}}, false),
                       doctest::Contains("shape mismatch: fc.bias"), Error);
  // A file error names the file.
  TempDir tmp;
  save_safetensors(tmp.file("bad.safetensors"), sd);
  CHECK_THROWS_WITH_AS(load_state_dict(*fresh, tmp.file("bad.safetensors")), doctest::Contains("bad.safetensors"),
                       Error);
}

TEST_CASE("checkpoint: MoCo-style prefixes (module.encoder_q.) are stripped and added") {
  auto q = resnet18_w4();
  NamedTensors ckpt = add_prefix(q->state_dict(), "module.encoder_q.");
  ckpt.emplace_back("module.queue", Tensor::zeros({128, 16}));
  CHECK(ckpt.front().first == "module.encoder_q.conv1.weight");
  auto m = resnet18_w4();
  m->load_state_dict(strip_prefix(ckpt, "module.encoder_q."));
  CHECK(allclose(find_tensor(m->state_dict(), "conv1.weight"), find_tensor(q->state_dict(), "conv1.weight"), 0, 0).ok);
}

TEST_CASE("safetensors: corrupt and unsupported files are errors that say what is wrong") {
  TempDir tmp;
  const std::string p = tmp.file("x.safetensors");
  auto expect_error = [&](const std::vector<uint8_t>& bytes, const char* what) {
    write_bytes(p, bytes);
    CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains(what), Error);
  };
  expect_error({1, 2, 3}, "shorter than the 8-byte header length");
  expect_error({200, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, "truncated");
  expect_error(raw_file("{\"a\": ", 0), "invalid JSON");
  expect_error(raw_file("[1, 2]", 0), "expected an object");
  expect_error(raw_file(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4), "dtype BF16");
  expect_error(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "outside the 4 data bytes");
  expect_error(raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes");
  expect_error(raw_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), "shape entries");
  expect_error(raw_file(R"({"w":{"dtype":"F32"}})", 0), "data_offsets");
  expect_error(raw_file(R"({"__metadata__":{"a":1}})", 0), "expected a string");
  CHECK_THROWS_WITH_AS(load_safetensors(tmp.file("missing.safetensors")), doctest::Contains("cannot open"), Error);
  // Writing into a folder that does not exist fails cleanly, naming the path.
  CHECK_THROWS_WITH_AS(save_safetensors(tmp.file("no/such/dir/x.safetensors"), {{"a", Tensor::zeros({1})}}),
                       doctest::Contains("no/such/dir"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(p, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}),
                       doctest::Contains("appears twice"), Error);
}

TEST_CASE("safetensors: the header is strict JSON: one value per key, bounded nesting, UTF-8, whole numbers") {
  TempDir tmp;
  const std::string p = tmp.file("x.safetensors");
  auto expect_error = [&](const std::string& header, size_t data_bytes, const char* what) {
    write_bytes(p, raw_file(header, data_bytes));
    CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains(what), Error);
    CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains("x.safetensors"), Error);
  };
  const std::string w = R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  expect_error("{" + w + "," + w + "}", 4, "tensor 'w' appears twice in the header");
  expect_error(R"({"w":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", 4,
               "key 'dtype' appears twice in one object");
  expect_error(R"({"__metadata__":{"a":"1","a":"2"}})", 0, "key 'a' appears twice");
  expect_error(R"({"__metadata__":)" + std::string(100, '[') + std::string(100, ']') + "}", 0,
               "nested deeper than 64 levels");
  expect_error("{\"w\xff\":{}}", 0, "invalid JSON");
  expect_error("{" + w + "} x", 4, "invalid JSON");
  expect_error(R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4, "shape entries");
  expect_error(R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})", 4, "shape entries");
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})", 4, "data_offsets");
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4, "data_offsets");
  expect_error(R"({"w":[]})", 0, "header entry is of type array");
  // The metadata-only reader checks the header the same way.
  write_bytes(p, raw_file(R"({"__metadata__":{"a":"1","a":"2"}})", 0));
  CHECK_THROWS_WITH_AS(load_safetensors_metadata(p), doctest::Contains("appears twice"), Error);
  // What the writer writes reads back: escapes in names and metadata.
  save_safetensors(p, {{"a\"b\\c\n\xc3\xa9", Tensor::ones({1})}}, {{"k\t", "v\"\x01"}});
  SafeTensors back = load_safetensors(p);
  CHECK(back.tensors.at(0).first == "a\"b\\c\n\xc3\xa9");
  CHECK(back.metadata.at("k\t") == "v\"\x01");
  CHECK(load_safetensors_metadata(p) == back.metadata);
  CHECK_THROWS_WITH_AS(save_safetensors(p, {{"w\xff", Tensor::ones({1})}}), doctest::Contains("not valid UTF-8"),
                       Error);
}
