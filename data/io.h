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
// is an error naming the file.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);
// Reads `n` bytes at `offset` (thread-safe, for on-demand access to large
// files such as STL-10's unlabeled split).
void read_at(const std::string& path, uint64_t offset, void* dst, size_t n);
uint64_t file_size(const std::string& path);

// Decodes PNG, JPEG, BMP, TGA, GIF (first frame), PSD, PNM from memory into
// 8-bit HWC with `channels` channels (0 = as stored). `name` appears in errors.
Image decode_image(const uint8_t* bytes, size_t n, const std::string& name, int channels = 0);
Image load_image(const std::string& path, int channels = 0);
// Reads only the header: true and the size when stb can decode this format.
bool probe_image(const std::string& path, int* w, int* h, int* c);

// Writes PNG / JPEG (quality 1..100) / BMP. Throws naming the file on failure.
void write_png(const std::string& path, const Image& img);
void write_jpg(const std::string& path, const Image& img, int quality = 90);
void write_bmp(const std::string& path, const Image& img);

}  // namespace moco::data
