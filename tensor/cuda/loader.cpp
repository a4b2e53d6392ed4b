// The core's side of the CUDA plugin (tensor/cuda/plugin.h): finds
// libmoco_cuda.so, loads it on the first use of a CUDA device, and forwards
// the functions of tensor/cuda/cuda_api.h to it. Plain C++ that links no CUDA
// library; compiled into the core of builds that build the plugin.
//
// Where the plugin is looked for: next to the executable (the directory of
// /proc/self/exe, where the build puts it), then the file that the
// environment variable MOCO_CUDA_PLUGIN names.
//
// When CUDA cannot be used, the error says which piece is missing and what to
// do: the plugin file, the CUDA libraries it needs (libcudart, libcublas,
// libcudnn), or the NVIDIA driver (told by the plugin, which asks the CUDA
// runtime).
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "tensor/cuda/cuda_api.h"
#include "tensor/cuda/plugin.h"
#include "tensor/error.h"

namespace moco::cuda {

namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string exe_dir() {
  std::string buf(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size());
  if (n <= 0 || size_t(n) >= buf.size()) return "";
  buf.resize(size_t(n));
  const size_t slash = buf.rfind('/');
  return slash == std::string::npos ? "." : buf.substr(0, slash == 0 ? 1 : slash);
}

// The plugin, loaded once (or the reason it could not be).
struct Loaded {
  const PluginApi* api = nullptr;
  std::string error;  // why api is null: a whole sentence, without the device prefix
};

std::string find_plugin(std::string& looked) {
  const std::string dir = exe_dir();
  if (!dir.empty()) {
    const std::string beside = dir + "/" + kPluginFile;
    if (is_file(beside)) return beside;
    looked = fmt::format("next to the executable ({})", printable(dir));
  } else {
    looked = "next to the executable (/proc/self/exe unreadable)";
  }
  const char* env = std::getenv(kPluginEnv);
  if (env == nullptr || env[0] == '\0') {
    looked += fmt::format(" and in {}, which is not set", kPluginEnv);
    return "";
  }
  if (is_file(env)) return env;
  looked += fmt::format(" and at {}={}, which is not a file", kPluginEnv, printable(env));
  return "";
}

Loaded load() {
  Loaded r;
  std::string looked;
  const std::string path = find_plugin(looked);
  if (path.empty()) {
    r.error = fmt::format(
        "the CUDA plugin {} was not found (looked {}). It is built beside the moco binary where CMake finds a CUDA "
        "toolkit (target moco_cuda); put it next to the binary or set {}=/path/to/{}, or use --device cpu",
        kPluginFile, looked, kPluginEnv, kPluginFile);
    return r;
  }
  // RTLD_NOW: a plugin that does not fit this binary fails here, not later.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    const std::string why = printable(e ? e : "unknown error");
    if (why.find("undefined symbol") != std::string::npos) {
      r.error = fmt::format("the CUDA plugin {} does not fit this binary ({}): it was built from other sources; "
                            "rebuild the two together, or use --device cpu",
                            printable(path), why);
    } else if (why.rfind(path + ":", 0) == 0) {
      // dlerror names the plugin itself: not a loadable library (or not readable).
      r.error = fmt::format("the CUDA plugin {} cannot be loaded ({}); rebuild it, or use --device cpu",
                            printable(path), why);
    } else if (const std::string lib = why.substr(0, why.find(':'));
               lib.find("cuda") != std::string::npos || lib.find("cublas") != std::string::npos ||
               lib.find("cudnn") != std::string::npos) {
      // A CUDA library the plugin needs is missing: dlerror names it first.
      r.error = fmt::format(
          "the CUDA libraries are missing: the CUDA plugin {} needs them ({}). Install the CUDA runtime, "
          "cuBLAS and cuDNN 9 of the toolkit it was built with (or add their directory to LD_LIBRARY_PATH), or "
          "use --device cpu",
          printable(path), why);
    } else {
      r.error = fmt::format("a library that the CUDA plugin {} needs cannot be loaded ({}); install it (or add its "
                            "directory to LD_LIBRARY_PATH), or use --device cpu",
                            printable(path), why);
    }
    return r;
  }
  using Entry = const PluginApi* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(h, kPluginEntry));
  const PluginApi* api = entry ? entry() : nullptr;
  if (api == nullptr || !plugin_fits(*api)) {
    r.error = fmt::format("{} is not a CUDA plugin of this moco.cpp ({}); rebuild it with this binary, or use "
                          "--device cpu",
                          printable(path), api == nullptr ? fmt::format("no {}()", kPluginEntry)
                                                          : std::string("another plugin interface version"));
    dlclose(h);
    return r;
  }
  r.api = api;  // never unloaded: backends and their memory live until exit
  return r;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

// The plugin's table, or the clear error for `device`.
const PluginApi& api_for(int device) {
  const Loaded& l = loaded();
  if (l.api == nullptr) fail("device cuda:{}: {}", device, l.error);
  return *l.api;
}

}  // namespace

// Called by backend_for() (tensor/backend.cpp).
Backend& loaded_backend(int device) { return api_for(device).backend(device); }

// ---- cuda_api.h ----

int device_count() {
  const Loaded& l = loaded();
  return l.api ? l.api->device_count(nullptr) : 0;
}

std::string unavailable_reason() {
  const Loaded& l = loaded();
  if (l.api == nullptr) return l.error;
  std::string why;
  return l.api->device_count(&why) > 0 ? std::string() : why;
}

std::string device_name(int device) { return api_for(device).device_name(device); }
std::string library_versions() { return api_for(0).library_versions(); }
MemoryStats memory_stats(int device) { return api_for(device).memory_stats(device); }
void reset_peak_memory(int device) { api_for(device).reset_peak_memory(device); }
void empty_cache(int device) { api_for(device).empty_cache(device); }
void synchronize(int device) { api_for(device).synchronize(device); }
void set_allow_tf32(bool on) { api_for(0).set_allow_tf32(on); }
bool allow_tf32() { return api_for(0).allow_tf32(); }
std::unique_ptr<ProcessGroup> nccl_process_group(std::unique_ptr<ProcessGroup>& host, int device) {
  std::string why;
  ProcessGroup* g = api_for(device).nccl_group(host.get(), device, &why);
  if (g == nullptr) fail("--dist-backend nccl: {}", why);
  host.release();  // the NCCL group owns it now
  return std::unique_ptr<ProcessGroup>(g);
}

std::vector<uint32_t> philox_words(uint64_t seed, uint64_t offset, int64_t n, int device) {
  return api_for(device).philox_words(seed, offset, n, device);
}

}  // namespace moco::cuda
