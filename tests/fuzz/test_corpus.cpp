// The fuzz corpus replayed: every file of fuzz/corpus/TARGET/ (the seeds, and
// the inputs libFuzzer found that reach new code or once crashed a reader)
// through the target's function, as tools/fuzz.sh runs it. Each must be read
// or refused with a moco::Error; any other exception fails the test, and a
// crash or sanitizer report (make test-sanitize) fails the suite.
#include <doctest/doctest.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz/targets.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

TEST_CASE("every fuzz target's corpus is read or refused with a clear error") {
  for (const auto& t : moco::fuzz::targets()) {
    const fs::path dir = fs::path(MOCO_FUZZ_CORPUS) / t.name;
    REQUIRE_MESSAGE(fs::is_directory(dir), "no corpus for fuzz target " << t.name << " at " << dir);
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    CHECK_MESSAGE(files.size() >= 2, "fuzz target " << t.name << ": fewer than 2 seeds");
    int read = 0, refused = 0;
    for (auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
      INFO("fuzz target " << t.name << ", input " << f.filename().string());
      try {
        t.run(bytes.data(), bytes.size());
        ++read;
      } catch (const moco::Error&) {
        ++refused;
      } catch (const std::exception& e) {
        FAIL_CHECK("not a moco::Error: " << e.what());
      }
    }
    // The seeds hold good inputs as well as bad ones: a reader that refused
    // everything would pass the loop above.
    CHECK_MESSAGE(read >= 1, "fuzz target " << t.name << ": no input of its corpus was read");
    MESSAGE("fuzz target " << t.name << ": " << files.size() << " inputs, " << read << " read, " << refused
                           << " refused");
  }
}
