#!/usr/bin/env bash
# Runs every test suite. Called by `make test` (after setup) and by .ci/run.
#  1. host C build (Release) + C unit tests (ctest)
#  2. pytest: host reference, C-vs-reference parity, HIL against the virtual device
#  3. ASan+UBSan build; C tests and the parity suite again under the sanitizers
#  4. libFuzzer on the blob parser, bounded time, committed corpus
#  5. ESP-IDF builds (linux target, esp32s3) when IDF_PATH is set, else SKIP
#  6. ruff
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
FUZZ_SECONDS=${RUV_FUZZ_SECONDS:-60}
failed=()

stage() { printf '\n=== %s ===\n' "$*"; }
# cmake configure; the generator only for a new build dir (an existing one
# keeps whatever generator configured it, e.g. ruv_temporal.native's build).
configure() {
  local dir=$1; shift
  if [ -f "$dir/CMakeCache.txt" ]; then cmake -S firmware/host -B "$dir" "$@" >/dev/null
  else cmake -S firmware/host -B "$dir" -G Ninja "$@" >/dev/null; fi
}
run() { "$@" || failed+=("$*"); }

stage "host C build"
run configure build/host -DCMAKE_BUILD_TYPE=Release
run cmake --build build/host
stage "C unit tests"
run ctest --test-dir build/host --output-on-failure

stage "pytest (host reference, parity, HIL on the virtual device)"
export RUV_BUILD_DIR="$PWD/build/host"
$BIN/python -m pytest -q
rc=$?  # exit 5 = no tests collected: a failure, every suite here has tests
if [ $rc -ne 0 ]; then failed+=("pytest (exit $rc)"); fi

stage "sanitizers (ASan + UBSan)"
run configure build/asan -DCMAKE_BUILD_TYPE=Debug -DRUV_SANITIZE=ON
run cmake --build build/asan
run ctest --test-dir build/asan --output-on-failure
libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
RUV_BUILD_DIR="$PWD/build/asan" RUV_NATIVE_NO_REBUILD=1 RUV_SANITIZED=1 \
  LD_PRELOAD="$libasan:$libubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  $BIN/python -m pytest -q -p no:cacheprovider tests/parity
rc=$?
if [ $rc -ne 0 ]; then failed+=("parity under sanitizers (exit $rc)"); fi

stage "fuzz the blob parser (${FUZZ_SECONDS}s)"
if command -v clang >/dev/null; then
  run configure build/fuzz -DCMAKE_C_COMPILER=clang -DRUV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  run cmake --build build/fuzz --target fuzz_blob
  mkdir -p build/fuzz/corpus
  run build/fuzz/fuzz_blob -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 \
    build/fuzz/corpus tests/fuzz/corpus/blob
else
  echo "SKIP fuzz: clang not installed"
fi

stage "ESP-IDF builds"
run bash tools/idf_build.sh

stage "ruff"
run $BIN/ruff check host tests tools

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages:"; printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed"
