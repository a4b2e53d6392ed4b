#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <algorithm>

#include "nn/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors io assumes a little-endian host");

namespace moco::nn {

namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::f32;
  else if (s == "F64") out = DType::f64;
  else if (s == "I64") out = DType::i64;
  else return false;
  return true;
}

constexpr uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit

}  // namespace

std::vector<uint8_t> encode_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool f = true;
    for (auto& [k, v] : metadata) {
      header += (f ? "" : ",") + json_quote(k) + ":" + json_quote(v);
      f = false;
    }
    header += "}";
    first = false;
  }
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (auto& [name, t] : tensors) {
    MOCO_CHECK(t.defined(), "safetensors: tensor '{}' is undefined", name);
    MOCO_CHECK(name != "__metadata__" && !name.empty(), "safetensors: invalid tensor name '{}'", name);
    MOCO_CHECK(seen.insert(name).second, "safetensors: tensor name '{}' appears twice", name);
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    host.push_back(h);
    const uint64_t nbytes = uint64_t(h.numel()) * dtype_size(h.dtype());
    header += std::string(first ? "" : ",") + json_quote(name) + ":{\"dtype\":\"" + st_dtype(h.dtype()) +
              "\",\"shape\":[";
    for (size_t d = 0; d < h.shape().size(); ++d) header += (d ? "," : "") + std::to_string(h.shape()[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
    first = false;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';  // the data starts 8-byte aligned
  std::vector<uint8_t> out(8 + header.size() + offset);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  uint8_t* data = out.data() + 8 + header.size();
  for (auto& h : host) {
    const size_t nbytes = size_t(h.numel()) * dtype_size(h.dtype());
    if (nbytes) std::memcpy(data, h.raw_data(), nbytes);
    data += nbytes;
  }
  return out;
}

SafeTensors decode_safetensors(const std::vector<uint8_t>& bytes, const std::string& what) {
  MOCO_CHECK(bytes.size() >= 8, "{}: not a safetensors file ({} bytes, shorter than the 8-byte header length)", what,
             bytes.size());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  MOCO_CHECK(n <= kMaxHeader && n <= bytes.size() - 8,
             "{}: not a safetensors file or truncated (header length {} but {} bytes follow)", what, n,
             bytes.size() - 8);
  const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, size_t(n));
  Json root = parse_json(text, what + " (header)");
  MOCO_CHECK(root.kind == Json::Kind::object, "{}: header is a JSON {}, expected an object", what, root.kind_name());
  const uint64_t data_size = bytes.size() - 8 - n;
  const uint8_t* data = bytes.data() + 8 + n;
  SafeTensors out;
  std::set<std::string> seen;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto& [name, v] : root.members) {
    MOCO_CHECK(seen.insert(name).second, "{}: tensor '{}' appears twice in the header", what, name);
    if (name == "__metadata__") {
      MOCO_CHECK(v.kind == Json::Kind::object, "{}: __metadata__ must be an object of strings", what);
      for (auto& [k, s] : v.members) {
        MOCO_CHECK(s.kind == Json::Kind::string, "{}: __metadata__ entry '{}' is a {}, expected a string", what, k,
                   s.kind_name());
        out.metadata[k] = s.s;
      }
      continue;
    }
    MOCO_CHECK(v.kind == Json::Kind::object, "{}: tensor '{}': header entry is a {}, expected an object", what, name,
               v.kind_name());
    const Json* dt = v.find("dtype");
    const Json* sh = v.find("shape");
    const Json* off = v.find("data_offsets");
    MOCO_CHECK(dt && dt->kind == Json::Kind::string && sh && sh->kind == Json::Kind::array && off &&
                   off->kind == Json::Kind::array && off->items.size() == 2,
               "{}: tensor '{}': needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
               what, name);
    DType dtype;
    MOCO_CHECK(parse_dtype(dt->s, dtype), "{}: tensor '{}' has dtype {}; moco.cpp reads F32, F64 and I64", what,
               name, dt->s);
    Shape shape;
    for (auto& d : sh->items) {
      MOCO_CHECK(d.kind == Json::Kind::integer && d.i >= 0, "{}: tensor '{}': shape entries must be integers >= 0",
                 what, name);
      shape.push_back(d.i);
    }
    for (auto& o : off->items)
      MOCO_CHECK(o.kind == Json::Kind::integer && o.i >= 0, "{}: tensor '{}': data_offsets must be integers >= 0",
                 what, name);
    const uint64_t b = uint64_t(off->items[0].i), e = uint64_t(off->items[1].i);
    // The element count in checked arithmetic: a crafted shape must not wrap
    // around to a small (or negative) numel that passes the size checks.
    uint64_t need = dtype_size(dtype);
    for (int64_t d : shape)
      MOCO_CHECK(!__builtin_mul_overflow(need, uint64_t(d), &need) && need <= uint64_t(INT64_MAX),
                 "{}: tensor '{}': shape {} has more elements than a tensor can hold", what, name, shape_str(shape));
    MOCO_CHECK(b <= e && e <= data_size,
               "{}: tensor '{}': data_offsets [{}, {}] lie outside the {} data bytes (file truncated?)", what, name, b,
               e, data_size);
    MOCO_CHECK(e - b == need, "{}: tensor '{}': {} {} needs {} bytes but data_offsets span {}", what, name,
               dt->s, shape_str(shape), need, e - b);
    if (need) ranges.push_back({b, e, name});
    Tensor t = Tensor::empty(shape, dtype);
    if (need) std::memcpy(t.raw_data(), data + b, size_t(need));
    out.tensors.emplace_back(name, t);
  }
  // Two tensors may not share bytes: a file that aliases them was not written
  // by any safetensors writer, and loading it would tie weights silently.
  std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) { return x.begin < y.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    MOCO_CHECK(ranges[i].begin >= ranges[i - 1].end,
               "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data section", what, ranges[i - 1].name,
               ranges[i - 1].begin, ranges[i - 1].end, ranges[i].name, ranges[i].begin, ranges[i].end);
  return out;
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  namespace fs = std::filesystem;
  fs::path target(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  MOCO_CHECK(f, "cannot write {}: {}", tmp, std::strerror(errno));
  bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("cannot write {}: {}", path, std::strerror(err ? err : errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail("cannot rename {} to {}: {}", tmp, path, std::strerror(e));
  }
  // Make the rename itself durable.
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata));
}

SafeTensors load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MOCO_CHECK(in, "cannot open {}: {}", path, std::strerror(errno));
  const std::streamsize size = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(size_t(std::max<std::streamsize>(size, 0)));
  MOCO_CHECK(size >= 0 && in.read(reinterpret_cast<char*>(bytes.data()), size), "cannot read {}", path);
  return decode_safetensors(bytes, path);
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOCO_CHECK(in, "cannot open {}: {}", path, std::strerror(errno));
  uint64_t n = 0;
  MOCO_CHECK(in.read(reinterpret_cast<char*>(&n), 8), "{}: not a safetensors file (shorter than 8 bytes)", path);
  MOCO_CHECK(n <= kMaxHeader, "{}: not a safetensors file (header length {})", path, n);
  std::string text(size_t(n), '\0');
  MOCO_CHECK(in.read(text.data(), std::streamsize(n)), "{}: not a safetensors file or truncated (header length {})",
             path, n);
  Json root = parse_json(text, path + " (header)");
  MOCO_CHECK(root.kind == Json::Kind::object, "{}: header is a JSON {}, expected an object", path, root.kind_name());
  std::map<std::string, std::string> out;
  if (const Json* m = root.find("__metadata__")) {
    MOCO_CHECK(m->kind == Json::Kind::object, "{}: __metadata__ must be an object of strings", path);
    for (auto& [k, s] : m->members) {
      MOCO_CHECK(s.kind == Json::Kind::string, "{}: __metadata__ entry '{}' is a {}, expected a string", path, k,
                 s.kind_name());
      out[k] = s.s;
    }
  }
  return out;
}

}  // namespace moco::nn
