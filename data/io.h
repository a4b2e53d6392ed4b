// File access for the data pipeline: whole files (plain or gzip) and image
// decoding/encoding through stb_image. Every error names the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace moco::data {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);

// Reads a whole file. Throws moco::Error naming the file when it is missing
// or cannot be read.
std::vector<uint8_t> read_file(const std::string& path);
// Reads a file that may be gzip-compressed (detected by its magic bytes, not
// its name) and returns the uncompressed bytes; a truncated or corrupt stream
// is an error naming the file. At most `max_bytes` are inflated, so that a
// small file cannot claim gigabytes (deflate reaches ~1000:1; a 1 MB "bomb"
// inflates to 1 GB); the largest IDX file moco reads (Fashion-MNIST train
// images) is 47 MB.
constexpr uint64_t kMaxGzipBytes = uint64_t(2) << 30;
std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes = kMaxGzipBytes);
// Reads `n` bytes at `offset` (thread-safe, for on-demand access to large
// files such as STL-10's unlabeled split).
void read_at(const std::string& path, uint64_t offset, void* dst, size_t n);
uint64_t file_size(const std::string& path);

// Decodes PNG, JPEG, BMP, GIF (first frame), PSD, PIC, binary PGM/PPM and
// (named .tga) TGA from memory into 8-bit HWC with `channels` channels (0 = as
// stored). The format comes from the file's signature, and before decoding
// the file must hold all its header promises (data/image_format.h), be at
// least 1x1 and within max_image_pixels(). Every error names `name` (control
// characters shown as '?') and what was expected.
Image decode_image(const uint8_t* bytes, size_t n, const std::string& name, int channels = 0);
Image load_image(const std::string& path, int channels = 0);
// The most pixels (width x height, from the header) an image may have, so a
// small file cannot claim gigabytes (a decompression bomb); PIL's
// MAX_IMAGE_PIXELS by default. 0: no limit. Process-wide, as PIL's is.
constexpr uint64_t kDefaultMaxImagePixels = 89478485;
void set_max_image_pixels(uint64_t n);
uint64_t max_image_pixels();
// Reads only the header: true and the size when stb can decode this format.
bool probe_image(const std::string& path, int* w, int* h, int* c);

// Writes PNG / JPEG (quality 1..100) / BMP. Throws naming the file on failure.
void write_png(const std::string& path, const Image& img);
void write_jpg(const std::string& path, const Image& img, int quality = 90);
void write_bmp(const std::string& path, const Image& img);

}  // namespace moco::data
