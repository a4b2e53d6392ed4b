#include "data/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "data/image_format.h"
#include "tensor/error.h"

namespace moco::data {

void clear_stb_failure_reason();  // in stb_impl.cpp, where stb's state lives

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  MOCO_CHECK(::stat(path.c_str(), &st) == 0, "{}: cannot open: {}", printable(path), std::strerror(errno));
  MOCO_CHECK(!S_ISDIR(st.st_mode), "{}: is a directory, expected a file", printable(path));
  return uint64_t(st.st_size);
}

std::vector<uint8_t> read_file(const std::string& path) {
  uint64_t n = file_size(path);
  std::vector<uint8_t> buf(n);
  if (n) read_at(path, 0, buf.data(), n);
  return buf;
}

void read_at(const std::string& path, uint64_t offset, void* dst, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MOCO_CHECK(fd >= 0, "{}: cannot open: {}", printable(path), std::strerror(errno));
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(dst) + done, n - done, off_t(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = errno;
      ::close(fd);
      MOCO_CHECK(r == 0, "{}: read error at byte {}: {}", printable(path), offset + done, std::strerror(e));
      fail("{}: truncated: needed bytes {}..{} but the file ends at {}", printable(path), offset, offset + n,
           offset + done);
    }
    done += size_t(r);
  }
  ::close(fd);
}

std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes) {
  std::vector<uint8_t> raw = read_file(path);
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  MOCO_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, "{}: zlib init failed", printable(path));
  // zs.total_out restarts at each gzip member, so the output position is ours.
  uint64_t produced = 0;
  std::vector<uint8_t> out(size_t(std::min<uint64_t>(raw.size() * 4 + 1024, max_bytes + 1)));
  zs.next_in = raw.data();
  zs.avail_in = uInt(raw.size());
  int rc = Z_OK;
  while (true) {
    if (produced == out.size()) {
      if (produced > max_bytes) break;
      out.resize(size_t(std::min<uint64_t>(out.size() * 2, max_bytes + 1)));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = uInt(std::min<uint64_t>(out.size() - produced, UINT32_MAX));
    const uInt before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (as `cat a.gz b.gz` makes) continue the stream.
      if (zs.avail_in > 0) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended mid-stream
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
  }
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  MOCO_CHECK(produced <= max_bytes,
             "{}: the gzip stream inflates to more than {} bytes ({} compressed bytes); moco refuses it as a "
             "probable decompression bomb. Uncompress the file yourself (gunzip) if it is genuine",
             printable(path), max_bytes, raw.size());
  out.resize(size_t(produced));
  MOCO_CHECK(rc != Z_BUF_ERROR && rc != Z_OK, "{}: truncated gzip stream (ended after {} uncompressed bytes)",
             printable(path), out.size());
  MOCO_CHECK(rc == Z_STREAM_END, "{}: corrupt gzip data ({})", printable(path), msg.empty() ? "zlib error" : msg);
  return out;
}

namespace {

std::atomic<uint64_t> g_max_image_pixels{kDefaultMaxImagePixels};

// stb's reason for the last failure, safe to print.
std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r && *r ? "stb_image: " + printable(r) : std::string("the decoder gave no reason");
}

// The first bytes of a file, in hex and as text with everything but
// printable ASCII shown as '.', so that no byte of the file reaches a terminal.
std::string first_bytes(const uint8_t* b, size_t n) {
  std::string hex, text;
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    hex += fmt::format("{}{:02x}", i ? " " : "", b[i]);
    text += b[i] >= 0x20 && b[i] < 0x7f ? char(b[i]) : '.';
  }
  return fmt::format("the bytes {} (\"{}\")", hex, text);
}

}  // namespace

void set_max_image_pixels(uint64_t n) { g_max_image_pixels = n; }
uint64_t max_image_pixels() { return g_max_image_pixels; }

Image decode_image(const uint8_t* bytes, size_t n, const std::string& name, int channels) {
  const std::string who = printable(name);
  MOCO_CHECK(n > 0, "{}: empty file, not an image", who);
  MOCO_CHECK(channels >= 0 && channels <= 4, "{}: decode_image: channels must be 0..4, got {}", who, channels);
  MOCO_CHECK(n <= size_t(INT_MAX), "{}: {} bytes; stb_image reads images of at most {} bytes", who, n, INT_MAX);
  // Everything that can be known without decoding is checked first, so the
  // decoder never sees a file shorter than its header promises, nor one whose
  // size would take the machine's memory.
  const ImageFormat format = sniff_image_format(bytes, n, name);
  MOCO_CHECK(format != ImageFormat::unknown,
             "{}: not a readable image: it starts with {}, the signature of no format read here (PNG, JPEG, GIF, "
             "BMP, PSD, PIC, binary PGM/PPM; TGA, which has none, when the file is named .tga)",
             who, first_bytes(bytes, n));
  const std::string kind = format_name(format, bytes, n);
  MOCO_CHECK(format != ImageFormat::plain_pnm,
             "{}: {} (plain-text or bitmap PNM) is not supported; expected binary P5 (PGM) or P6 (PPM)", who, kind);
  check_complete(format, bytes, n, name);
  int w = 0, h = 0, c = 0;
  clear_stb_failure_reason();
  MOCO_CHECK(stbi_info_from_memory(bytes, int(n), &w, &h, &c) != 0, "{}: truncated or corrupt {} header ({} bytes; {})",
             who, kind, n, stb_reason());
  MOCO_CHECK(w > 0 && h > 0, "{}: the {} header says {}x{} pixels; expected at least 1x1", who, kind, w, h);
  const uint64_t pixels = uint64_t(w) * uint64_t(h), limit = max_image_pixels();
  MOCO_CHECK(limit == 0 || pixels <= limit,
             "{}: the {} header says {}x{} = {} pixels, over the limit of {} (a decompression bomb?); if the image "
             "is genuine, raise the limit with --max-image-pixels {} or more (0: no limit)",
             who, kind, w, h, pixels, limit, pixels);

  int dw = 0, dh = 0, dc = 0;
  clear_stb_failure_reason();
  stbi_uc* p = stbi_load_from_memory(bytes, int(n), &dw, &dh, &dc, 0);
  MOCO_CHECK(p != nullptr, "{}: corrupt {} data ({}); the header says {}x{} pixels, {} channel{}", who, kind,
             stb_reason(), w, h, c, c == 1 ? "" : "s");
  std::unique_ptr<stbi_uc, void (*)(void*)> owned(p, stbi_image_free);
  MOCO_CHECK(dw > 0 && dh > 0 && dc >= 1 && dc <= 4, "{}: the {} decoder gave {}x{}x{} pixels (the header says {}x{}x{})",
             who, kind, dw, dh, dc, w, h, c);
  Image img;
  img.h = dh, img.w = dw, img.c = dc;
  img.px.assign(p, p + size_t(dw) * size_t(dh) * size_t(dc));
  if (channels != 0 && channels != dc) img = convert_channels(img, channels);
  return img;
}

Image load_image(const std::string& path, int channels) {
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

bool probe_image(const std::string& path, int* w, int* h, int* c) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  int ok = stbi_info_from_file(f, w, h, c);
  std::fclose(f);
  return ok != 0;
}

namespace {
void check_writable(const Image& img, const std::string& path) {
  MOCO_CHECK(img.w > 0 && img.h > 0 && img.c >= 1 && img.c <= 4 && img.px.size() == size_t(img.w) * img.h * img.c,
             "{}: cannot write an image of {}x{}x{} ({} bytes)", path, img.h, img.w, img.c, img.px.size());
}
}  // namespace

void write_png(const std::string& path, const Image& img) {
  check_writable(img, path);
  MOCO_CHECK(stbi_write_png(path.c_str(), img.w, img.h, img.c, img.px.data(), img.w * img.c) != 0,
             "{}: cannot write PNG: {}", path, std::strerror(errno));
}

void write_jpg(const std::string& path, const Image& img, int quality) {
  check_writable(img, path);
  MOCO_CHECK(stbi_write_jpg(path.c_str(), img.w, img.h, img.c, img.px.data(), quality) != 0,
             "{}: cannot write JPEG: {}", path, std::strerror(errno));
}

void write_bmp(const std::string& path, const Image& img) {
  check_writable(img, path);
  MOCO_CHECK(stbi_write_bmp(path.c_str(), img.w, img.h, img.c, img.px.data()) != 0,
             "{}: cannot write BMP: {}", path, std::strerror(errno));
}

}  // namespace moco::data
