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

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace moco

// MOCO_CHECK(cond, "op: got {} expected {}", a, b)
#define MOCO_CHECK(cond, ...)          \
  do {                                 \
    if (!(cond)) ::moco::fail(__VA_ARGS__); \
  } while (0)
