#!/usr/bin/env bash
# The CUDA plugin from the outside (CTest: cuda_plugin_errors, in builds with
# CUDA). The `moco` binary links no CUDA library, and `--device cuda` says
# which piece is missing: the plugin file, a CUDA library it needs, or (where
# no GPU is) the driver.
#   tests/cuda/plugin_errors.sh MOCO PLUGIN CC
set -uo pipefail
moco=$1 plugin=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# `moco bench --device cuda` checks the device before anything else is built.
run() { env -u MOCO_CUDA_PLUGIN "$@" bench --device cuda 2>&1 >/dev/null; }
expect() {  # expect NAME OUTPUT TEXT...: every TEXT in OUTPUT
  local name=$1 out=$2
  shift 2
  for t in "$@"; do
    if [[ $out != *"$t"* ]]; then
      fail "$name: no '$t' in: $out"
      return
    fi
  done
  echo "ok: $name"
}

# 1. No CUDA library among the binary's dependencies.
if deps=$(LC_ALL=C ldd "$moco" 2>&1); then
  if grep -E 'libcuda|libcublas|libcudnn|libnvrtc' <<<"$deps"; then fail "moco links CUDA libraries"; else echo "ok: no CUDA library in ldd"; fi
else
  fail "ldd $moco: $deps"
fi

# 2. A binary with no plugin beside it and MOCO_CUDA_PLUGIN unset.
cp "$moco" "$tmp/moco"
out=$(run "$tmp/moco")
expect "plugin missing" "$out" "device cuda:0: the CUDA plugin libmoco_cuda.so was not found" "MOCO_CUDA_PLUGIN" \
  "--device cpu"
out=$(env MOCO_CUDA_PLUGIN="$tmp/nowhere.so" "$tmp/moco" bench --device cuda 2>&1 >/dev/null)
expect "MOCO_CUDA_PLUGIN names no file" "$out" "MOCO_CUDA_PLUGIN=$tmp/nowhere.so, which is not a file"

# 3. The plugin named by MOCO_CUDA_PLUGIN loads; without a GPU the error is
#    about the driver or the GPU (skipped where a GPU is present).
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "skip: a GPU is present (test_cuda covers it)"
else
  out=$(env MOCO_CUDA_PLUGIN="$plugin" "$tmp/moco" bench --device cuda 2>&1 >/dev/null)
  expect "plugin loads, no GPU" "$out" "device cuda:0: no CUDA GPU is present" "--device cpu"
  # The binary built beside the plugin finds it there.
  out=$(run "$moco")
  expect "plugin beside the binary" "$out" "device cuda:0: no CUDA GPU is present"
fi

# 4. A file that is not a library.
echo "not a library" >"$tmp/libmoco_cuda.so"
out=$(run "$tmp/moco")
expect "not a library" "$out" "the CUDA plugin $tmp/libmoco_cuda.so cannot be loaded" "rebuild it"

# 5. A plugin whose CUDA library is missing: a stand-in that needs a library
#    that was deleted after the link.
echo 'int moco_missing_cuda_lib(void) { return 0; }' >"$tmp/stub.c"
echo 'int moco_missing_cuda_lib(void); int f(void) { return moco_missing_cuda_lib(); }' >"$tmp/plugin.c"
if "$cc" -shared -fPIC -o "$tmp/libcudart_gone.so" "$tmp/stub.c" &&
  "$cc" -shared -fPIC -o "$tmp/libmoco_cuda.so" "$tmp/plugin.c" -L"$tmp" -lcudart_gone; then
  rm "$tmp/libcudart_gone.so"
  out=$(run "$tmp/moco")
  expect "CUDA library missing" "$out" "the CUDA libraries are missing" "libcudart_gone.so" "LD_LIBRARY_PATH"
else
  fail "could not build the stand-in plugin with $cc"
fi

# 6. A library without the entry point.
if "$cc" -shared -fPIC -o "$tmp/libmoco_cuda.so" "$tmp/stub.c"; then
  out=$(run "$tmp/moco")
  expect "not a moco plugin" "$out" "is not a CUDA plugin of this moco.cpp"
fi

# 7. A moco plugin built from other interface headers.
cat >"$tmp/other.c" <<'EOF2'
struct api { int abi; const char* interface; unsigned long sizes[4]; void* functions[11]; };
static const struct api table = {1, "another interface", {0}, {0}};
const struct api* moco_cuda_plugin(void) { return &table; }
EOF2
if "$cc" -shared -fPIC -o "$tmp/libmoco_cuda.so" "$tmp/other.c"; then
  out=$(run "$tmp/moco")
  expect "other interface" "$out" "is not a CUDA plugin of this moco.cpp (another plugin interface version)"
fi

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
