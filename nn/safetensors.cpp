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

#include <nlohmann/json.hpp>

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
constexpr int kMaxDepth = 64;  // a header is 3 levels deep; deeper is an attack on memory, not a checkpoint

using json = nlohmann::json;  // objects as std::map: a header of a million keys reads in n log n

std::string type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

struct Header {
  json root;
  std::vector<std::string> order;  // the top-level keys in file order: the tensors' order
};

// The header as JSON. A key twice in one object is refused, where the
// library would keep the last value silently: the header is ambiguous.
Header parse_header(const std::string& text, const std::string& what) {
  Header h;
  std::vector<std::set<std::string>> keys;  // of each object being read, innermost last
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        MOCO_CHECK(depth < kMaxDepth, "{}: invalid header: nested deeper than {} levels", what, kMaxDepth);
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end: keys.pop_back(); break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (depth == 1) {
          MOCO_CHECK(keys.back().insert(k).second, "{}: tensor '{}' appears twice in the header", what, printable(k));
          h.order.push_back(k);
        } else {
          MOCO_CHECK(keys.back().insert(k).second, "{}: invalid header: key '{}' appears twice in one object", what,
                     printable(k));
        }
        break;
      }
      default: break;
    }
    return true;
  };
  try {
    h.root = json::parse(text, check);
  } catch (const json::exception& e) {
    fail("{}: invalid JSON in the header ({})", what, printable(e.what()));
  }
  MOCO_CHECK(h.root.is_object(), "{}: header is of type {}, expected an object", what, type_name(h.root));
  return h;
}

// The __metadata__ strings of a parsed header.
std::map<std::string, std::string> read_metadata(const json& m, const std::string& what) {
  MOCO_CHECK(m.is_object(), "{}: __metadata__ must be an object of strings", what);
  std::map<std::string, std::string> out;
  for (auto& [k, s] : m.items()) {
    MOCO_CHECK(s.is_string(), "{}: __metadata__ entry '{}' is of type {}, expected a string", what, printable(k),
               type_name(s));
    out[k] = s.get<std::string>();
  }
  return out;
}

// JSON strings are UTF-8: a name that is not would make a header no reader takes.
void check_utf8(const std::string& s, const char* what) {
  try {
    (void)json(s).dump();
  } catch (const json::exception&) {
    fail("safetensors: {} '{}' is not valid UTF-8", what, printable(s));
  }
}

// A shape entry or data offset: an integer from 0 to 2^63 - 1.
bool non_negative_int(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(INT64_MAX);
  return v.is_number_integer() && v.get<int64_t>() >= 0;
}

}  // namespace

std::vector<uint8_t> encode_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();  // the tensors in their order
  for (auto& [k, v] : metadata) {
    check_utf8(k, "metadata key");
    check_utf8(v, "metadata value");
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (auto& [name, t] : tensors) {
    MOCO_CHECK(t.defined(), "safetensors: tensor '{}' is undefined", name);
    MOCO_CHECK(name != "__metadata__" && !name.empty(), "safetensors: invalid tensor name '{}'", name);
    MOCO_CHECK(seen.insert(name).second, "safetensors: tensor name '{}' appears twice", name);
    check_utf8(name, "tensor name");
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    host.push_back(h);
    const uint64_t nbytes = uint64_t(h.numel()) * dtype_size(h.dtype());
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = st_dtype(h.dtype());
    entry["shape"] = h.shape();
    entry["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(entry);
    offset += nbytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';  // the data starts 8-byte aligned
  std::vector<uint8_t> out(8 + text.size() + offset);
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* data = out.data() + 8 + text.size();
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
  const Header header = parse_header(text, what);
  const uint64_t data_size = bytes.size() - 8 - n;
  const uint8_t* data = bytes.data() + 8 + n;
  SafeTensors out;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (const std::string& key : header.order) {
    const json& v = header.root.at(key);
    const std::string name = printable(key);
    if (key == "__metadata__") {
      out.metadata = read_metadata(v, what);
      continue;
    }
    MOCO_CHECK(v.is_object(), "{}: tensor '{}': header entry is of type {}, expected an object", what, name,
               type_name(v));
    auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
    MOCO_CHECK(dt != v.end() && dt->is_string() && sh != v.end() && sh->is_array() && off != v.end() &&
                   off->is_array() && off->size() == 2,
               "{}: tensor '{}': needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
               what, name);
    const std::string& dtype_name = dt->get_ref<const std::string&>();
    DType dtype;
    MOCO_CHECK(parse_dtype(dtype_name, dtype), "{}: tensor '{}' has dtype {}; moco.cpp reads F32, F64 and I64", what,
               name, printable(dtype_name));
    Shape shape;
    for (auto& d : *sh) {
      MOCO_CHECK(non_negative_int(d), "{}: tensor '{}': shape entries must be integers >= 0 (below 2^63)", what, name);
      shape.push_back(d.get<int64_t>());
    }
    for (auto& o : *off)
      MOCO_CHECK(non_negative_int(o), "{}: tensor '{}': data_offsets must be integers >= 0 (below 2^63)", what, name);
    const uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
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
               dtype_name, shape_str(shape), need, e - b);
    if (need) ranges.push_back({b, e, name});
    Tensor t = Tensor::empty(shape, dtype);
    if (need) std::memcpy(t.raw_data(), data + b, size_t(need));
    out.tensors.emplace_back(key, t);
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
  const json root = parse_header(text, path).root;
  auto m = root.find("__metadata__");
  return m == root.end() ? std::map<std::string, std::string>() : read_metadata(*m, path);
}

}  // namespace moco::nn
