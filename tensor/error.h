// The one exception type of moco.cpp. Every message names the op (or file),
// what it got and what it expected, so a user can fix the call.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>
#include <string>

namespace moco {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `s` fit to quote in a message: control characters (a terminal escape
// sequence in a file's bytes or name) become '?', so an error never replays
// them on the user's terminal.
inline std::string printable(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) s[i] = '?';
    // C1 controls (U+0080-U+009F, CSI among them) in UTF-8: C2 80 - C2 9F.
    if (c == 0xc2 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xe0) == 0x80) s[i] = s[i + 1] = '?';
  }
  return s;
}

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// A configuration the user must change: a flag or setting that does not
// parse, is out of range or does not fit the data. The `moco` command exits
// with status 2 on it (1 on every other error), as command-line programs do
// for usage errors.
struct UsageError : Error {
  using Error::Error;
};

template <class... Args>
[[noreturn]] void usage_fail(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace moco

#define MOCO_USAGE_CHECK(cond, ...)              \
  do {                                           \
    if (!(cond)) ::moco::usage_fail(__VA_ARGS__); \
  } while (0)

// MOCO_CHECK(cond, "op: got {} expected {}", a, b)
#define MOCO_CHECK(cond, ...)          \
  do {                                 \
    if (!(cond)) ::moco::fail(__VA_ARGS__); \
  } while (0)
