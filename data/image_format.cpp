#include "data/image_format.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "tensor/error.h"

namespace moco::data {

namespace {

bool starts_with(const uint8_t* b, size_t n, const char* sig, size_t len) {
  return n >= len && std::memcmp(b, sig, len) == 0;
}

bool ends_with_tga(const std::string& name) {
  if (name.size() < 4) return false;
  std::string ext = name.substr(name.size() - 4);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".tga";
}

uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }

// ---- binary PNM (P5 / P6): the header as Netpbm defines it --------------

bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Skips whitespace and '#' comments (to the end of their line).
void pnm_skip(const uint8_t* b, size_t n, size_t& pos) {
  while (pos < n) {
    if (pnm_space(b[pos])) {
      ++pos;
    } else if (b[pos] == '#') {
      while (pos < n && b[pos] != '\n' && b[pos] != '\r') ++pos;
    } else {
      break;
    }
  }
}

// A decimal field; capped so that no header can overflow the arithmetic
// (stb's own parser would overflow an int on the same digits).
bool pnm_number(const uint8_t* b, size_t n, size_t& pos, uint64_t& v) {
  constexpr uint64_t kCap = uint64_t(1) << 40;
  if (pos >= n || !std::isdigit(b[pos])) return false;
  v = 0;
  while (pos < n && std::isdigit(b[pos])) {
    if (v < kCap) v = v * 10 + uint64_t(b[pos] - '0');
    ++pos;
  }
  return true;
}

void check_pnm(const uint8_t* b, size_t n, const std::string& name) {
  const std::string kind = b[1] == '5' ? "PGM" : "PPM";
  const uint64_t channels = b[1] == '5' ? 1 : 3;
  size_t pos = 2;
  uint64_t w = 0, h = 0, maxval = 0;
  const char* field = "width";
  bool ok = (pnm_skip(b, n, pos), pnm_number(b, n, pos, w));
  if (ok) field = "height", ok = (pnm_skip(b, n, pos), pnm_number(b, n, pos, h));
  if (ok) field = "maxval", ok = (pnm_skip(b, n, pos), pnm_number(b, n, pos, maxval));
  if (!ok) {
    MOCO_CHECK(pos < n, "{}: truncated {}: the file ends ({} bytes) before the header's {}", printable(name), kind, n,
               field);
    fail("{}: malformed {} header: expected the {} as a decimal number at byte {}, found 0x{:02x}", printable(name),
         kind, field, pos, b[pos]);
  }
  constexpr uint64_t kMaxSide = uint64_t(1) << 24;  // stb_image's STBI_MAX_DIMENSIONS
  MOCO_CHECK(w <= kMaxSide && h <= kMaxSide, "{}: the {} header says {}x{} pixels; expected at most {} a side",
             printable(name), kind, w, h, kMaxSide);
  MOCO_CHECK(maxval >= 1 && maxval <= 65535, "{}: the {} header says maxval {}; expected 1..65535", printable(name),
             kind, maxval);
  MOCO_CHECK(pos < n, "{}: truncated {}: the file ends ({} bytes) right after the header's maxval", printable(name),
             kind, n);
  MOCO_CHECK(pnm_space(b[pos]), "{}: malformed {} header: expected one whitespace byte after maxval {} at byte {}, "
             "found 0x{:02x}", printable(name), kind, maxval, pos, b[pos]);
  ++pos;  // the pixels start right after that one byte
  const uint64_t bytes_per_sample = maxval > 255 ? 2 : 1;
  const uint64_t need = w * h * channels * bytes_per_sample;
  const uint64_t have = n - pos;
  MOCO_CHECK(have >= need,
             "{}: truncated {}: the header says {}x{}x{} at {} bits ({} bytes of pixels) but only {} bytes follow "
             "the {}-byte header",
             printable(name), kind, w, h, channels, 8 * bytes_per_sample, need, have, pos);
}

// ---- TGA: uncompressed images are read with one unchecked copy ----------

void check_tga(const uint8_t* b, size_t n, const std::string& name) {
  MOCO_CHECK(n >= 18, "{}: truncated TGA: {} bytes, the header alone is 18", printable(name), n);
  const uint32_t id_len = b[0], cmap_type = b[1], type = b[2];
  if (type != 1 && type != 2 && type != 3) return;  // RLE (9..11) is read byte by byte, and other types fail
  const uint64_t cmap = cmap_type == 1 ? uint64_t(le16(b + 5)) * ((b[7] + 7u) / 8) : 0;
  const uint64_t w = le16(b + 12), h = le16(b + 14), bpp = b[16];
  const uint64_t need = cmap + w * h * ((bpp + 7) / 8);
  const uint64_t have = n - 18 - std::min<uint64_t>(id_len, n - 18);
  MOCO_CHECK(have >= need,
             "{}: truncated TGA: the header says {}x{} at {} bits per pixel, uncompressed ({} bytes of palette and "
             "pixels) but only {} bytes follow the header",
             printable(name), w, h, bpp, need, have);
}

// ---- PNG: chunks up to IEND ---------------------------------------------

void check_png(const uint8_t* b, size_t n, const std::string& name) {
  size_t pos = 8;
  while (true) {
    MOCO_CHECK(pos + 8 <= n, "{}: truncated PNG: its {} bytes end before the IEND chunk (at byte {}, where a chunk "
               "header should start)", printable(name), n, pos);
    const uint64_t len = be32(b + pos);
    const std::string type = printable(std::string(reinterpret_cast<const char*>(b + pos + 4), 4));
    if (len > 0x7fffffffu) return;  // corrupt rather than short: the decoder says so
    MOCO_CHECK(pos + 12 + len <= n, "{}: truncated PNG: chunk '{}' at byte {} needs {} bytes but the file ends at {}",
               printable(name), type, pos, 12 + len, n);
    if (type == "IEND") return;
    pos += size_t(12 + len);
  }
}

// ---- JPEG: markers and entropy-coded data up to EOI ---------------------

// A DHT segment read as stb_image 2.27 reads it: table after table while its
// length lasts, each 1 + 16 count bytes and then that many symbols, reading on
// past the segment's end if the counts say so. More than 256 symbols in one
// table overflow stb's arrays (fixed in stb 2.28), so they are refused here.
void check_dht(const uint8_t* b, size_t n, size_t start, size_t len, const std::string& name) {
  auto byte = [&](size_t i) { return i < n ? b[i] : uint8_t(0); };  // stb reads 0 past the end
  size_t p = start;
  int64_t left = int64_t(len);
  while (left > 0) {
    const uint8_t q = byte(p);
    if ((q >> 4) > 1 || (q & 15) > 3) return;  // stb refuses the table itself
    size_t count = 0;
    for (size_t i = 1; i <= 16; ++i) count += byte(p + i);
    MOCO_CHECK(count <= 256,
               "{}: corrupt JPEG: the Huffman table at byte {} lists {} codes, more than the 256 a table holds",
               printable(name), p, count);
    p += 17 + count;
    left -= int64_t(17 + count);
  }
}

void check_jpeg(const uint8_t* b, size_t n, const std::string& name) {
  auto truncated = [&](const char* where) {
    fail("{}: truncated JPEG: its {} bytes end inside the {}, before the end-of-image marker (FF D9)",
         printable(name), n, where);
  };
  size_t pos = 2;  // after SOI
  while (true) {
    // Bytes that are no marker are skipped, as stb_image skips them, so that
    // every table it could reach is checked.
    while (pos < n && b[pos] != 0xFF) ++pos;
    if (pos >= n) truncated("headers");
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) truncated("headers");
    const uint8_t m = b[pos++];
    if (m == 0xD9) return;                                // EOI
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // markers without a length
    if (m == 0xD8 || m == 0x00) return;                   // corrupt: the decoder stops here too
    if (pos + 2 > n) truncated("headers");
    const size_t len = be16(b + pos);
    if (len < 2) return;  // corrupt: the decoder stops here too
    if (m == 0xC4) check_dht(b, n, pos + 2, len - 2, name);
    if (pos + len > n) truncated("headers");
    pos += len;
    if (m != 0xDA) continue;
    // After a start-of-scan header: entropy-coded data, in which FF is
    // followed by 00 (a stuffed byte) or a restart marker; anything else is
    // the next marker.
    while (true) {
      const void* ff = pos < n ? std::memchr(b + pos, 0xFF, n - pos) : nullptr;
      if (!ff) truncated("image data");
      const size_t q = size_t(static_cast<const uint8_t*>(ff) - b);
      size_t r = q + 1;
      while (r < n && b[r] == 0xFF) ++r;
      if (r >= n) truncated("image data");
      if (b[r] == 0x00 || (b[r] >= 0xD0 && b[r] <= 0xD7)) {
        pos = r + 1;
        continue;
      }
      pos = r - 1;  // the marker's last FF
      break;
    }
  }
}

}  // namespace

std::string format_name(ImageFormat f, const uint8_t* bytes, size_t n) {
  switch (f) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::gif: return "GIF";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::psd: return "PSD";
    case ImageFormat::pic: return "PIC";
    case ImageFormat::pnm: return n >= 2 && bytes && bytes[1] == '5' ? "PGM" : "PPM";
    case ImageFormat::plain_pnm:
      return n >= 2 && bytes ? fmt::format("PNM type P{}", char(bytes[1])) : std::string("PNM");
    case ImageFormat::tga: return "TGA";
    case ImageFormat::unknown: break;
  }
  return "unknown format";
}

ImageFormat sniff_image_format(const uint8_t* b, size_t n, const std::string& name) {
  if (starts_with(b, n, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::png;
  if (starts_with(b, n, "\xFF\xD8\xFF", 3)) return ImageFormat::jpeg;
  if (starts_with(b, n, "GIF87a", 6) || starts_with(b, n, "GIF89a", 6)) return ImageFormat::gif;
  if (starts_with(b, n, "BM", 2)) return ImageFormat::bmp;
  if (starts_with(b, n, "8BPS", 4)) return ImageFormat::psd;
  if (starts_with(b, n, "\x53\x80\xF6\x34", 4)) return ImageFormat::pic;
  if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return ImageFormat::pnm;
  if (n >= 2 && b[0] == 'P' && ((b[1] >= '1' && b[1] <= '4') || b[1] == '7')) return ImageFormat::plain_pnm;
  if (ends_with_tga(name)) return ImageFormat::tga;
  return ImageFormat::unknown;
}

void check_complete(ImageFormat f, const uint8_t* b, size_t n, const std::string& name) {
  switch (f) {
    case ImageFormat::pnm: return check_pnm(b, n, name);
    case ImageFormat::tga: return check_tga(b, n, name);
    case ImageFormat::png: return check_png(b, n, name);
    case ImageFormat::jpeg: return check_jpeg(b, n, name);
    default: return;
  }
}

}  // namespace moco::data
