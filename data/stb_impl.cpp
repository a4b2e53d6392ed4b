// The one translation unit holding stb_image's and stb_image_write's code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STBI_NO_HDR      // 8-bit images only
#define STBI_NO_LINEAR
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace moco::data {
// stb keeps the last failure reason per thread, and some decoders fail
// without setting one: clearing it before each call keeps an earlier file's
// reason (say "bad png sig" from probing another file) out of this file's error.
void clear_stb_failure_reason() { stbi__g_failure_reason = nullptr; }
}  // namespace moco::data
