// One fuzz target under libFuzzer (built with -DMOCO_FUZZ=ON and clang; the
// target's name is MOCO_FUZZ_TARGET). moco::Error is the expected answer to
// bad input; anything else — a crash, a sanitizer report, another exception
// escaping — is a finding.
#include <cstdint>

#include "fuzz/targets.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  static const moco::fuzz::Target& t = moco::fuzz::target(MOCO_FUZZ_TARGET);
  try {
    t.run(data, n);
  } catch (const moco::Error&) {
  }
  return 0;
}
