// What an image file's own bytes say before it is decoded: the format its
// signature names, and whether it holds every byte its header promises.
//
// stb_image trusts a file's length where it should not: a cut binary PNM or
// uncompressed TGA decodes into uninitialised memory, and a cut JPEG may be
// padded with gray. decode_image (data/io.cpp) runs these checks first, so a
// short file is an error naming the numbers and never a different image on
// every read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace moco::data {

enum class ImageFormat { unknown, png, jpeg, gif, bmp, psd, pic, pnm, plain_pnm, tga };

// "PNG", "JPEG", ..., "PPM" / "PGM" for binary PNM (by its type byte).
std::string format_name(ImageFormat f, const uint8_t* bytes = nullptr, size_t n = 0);

// The format the first bytes name. TGA has no signature: it is assumed only
// for a `name` ending in .tga (case-insensitively), so that stb's loose TGA
// test never turns an arbitrary file into an image. plain_pnm: the text and
// bitmap PNM types P1..P4 and P7, which stb_image does not read.
ImageFormat sniff_image_format(const uint8_t* bytes, size_t n, const std::string& name);

// Throws moco::Error naming `name` when the file ends before the data its
// header announces (PNM, TGA: the pixel bytes; PNG: the IEND chunk; JPEG: the
// end-of-image marker), when a PNM header is malformed, or when a JPEG
// Huffman table lists more than 256 codes (which overflows stb_image 2.27's
// tables). Formats stb reads safely byte by byte (BMP, GIF, PSD, PIC) are
// left to the decoder.
void check_complete(ImageFormat f, const uint8_t* bytes, size_t n, const std::string& name);

}  // namespace moco::data
