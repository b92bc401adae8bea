#!/usr/bin/env bash
# Runs every test suite. Called by `make test` (after setup) and by .ci/run.
#  1. host C build (Release) + C unit tests (ctest)
#  2. pytest: host reference, C-vs-reference parity, HIL against the virtual device
#  3. 32-bit (-m32) build: C tests, ESP-IDF warning check, HIL on the 32-bit vdev
#  4. ASan+UBSan build; C tests and the parity suite again under the sanitizers
#  5. libFuzzer on the blob parser and on the console protocol, bounded time
#     (45 s each), committed seed corpora
#  6. ESP-IDF builds (linux target, esp32s3) with ESP-IDF at IDF_PATH or ~/esp/esp-idf, else SKIP
#  7. ruff
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
FUZZ_SECONDS=${RUV_FUZZ_SECONDS:-45}
failed=()

# each stage header shows the seconds since the start (time per stage)
stage() { printf '\n=== %s (t=%ds) ===\n' "$*" "$SECONDS"; }
# cmake configure; the generator only for a new build dir (an existing one
# keeps whatever generator configured it).
configure() {
  local dir=$1; shift
  if [ -f "$dir/CMakeCache.txt" ]; then cmake -S firmware/host -B "$dir" "$@" >/dev/null
  else cmake -S firmware/host -B "$dir" -G Ninja "$@" >/dev/null; fi
}
run() { "$@" || failed+=("$*"); }

stage "host C build"
run configure .build/host -DCMAKE_BUILD_TYPE=Release
run cmake --build .build/host
stage "C unit tests"
run ctest --test-dir .build/host --output-on-failure

stage "pytest (host reference, parity, HIL on the virtual device)"
export RUV_BUILD_DIR="$PWD/.build/host"
$BIN/python -m pytest -q
rc=$?  # exit 5 = no tests collected: a failure, every suite here has tests
if [ $rc -ne 0 ]; then failed+=("pytest (exit $rc)"); fi

stage "32-bit build (-m32: size_t as on the ESP32-S3), C unit tests, HIL on the 32-bit vdev"
# The chip's size_t is 32 bits; the 64-bit builds above cannot see a size
# computation that wraps there. This build also compiles the portable C with
# ESP-IDF's warning flags (ruv_idf_warnings). The HIL suite then runs against
# the 32-bit virtual device, compared with the 64-bit host build of the core.
if echo 'int main(void){return 0;}' | cc -m32 -x c - -o /dev/null >/dev/null 2>&1; then
  run configure .build/m32 -DCMAKE_BUILD_TYPE=Release -DRUV_M32=ON
  run cmake --build .build/m32
  run ctest --test-dir .build/m32 --output-on-failure
  RUV_VDEV="$PWD/.build/m32/ruv_vdev" $BIN/python -m pytest -q -p no:cacheprovider tests/hil
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then failed+=("HIL on the 32-bit vdev ($rc)"); fi
else
  echo "SKIP 32-bit build: cc -m32 cannot link (install gcc-multilib)"
fi

stage "sanitizers (ASan + UBSan)"
run configure .build/asan -DCMAKE_BUILD_TYPE=Debug -DRUV_SANITIZE=ON
run cmake --build .build/asan
run ctest --test-dir .build/asan --output-on-failure
libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
RUV_BUILD_DIR="$PWD/.build/asan" RUV_SANITIZED=1 \
  LD_PRELOAD="$libasan:$libubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  $BIN/python -m pytest -q -p no:cacheprovider tests/parity
rc=$?
if [ $rc -ne 0 ]; then failed+=("parity under sanitizers (exit $rc)"); fi

stage "fuzz the blob parser and the console protocol (${FUZZ_SECONDS}s each)"
if command -v clang >/dev/null; then
  run configure .build/fuzz -DCMAKE_C_COMPILER=clang -DRUV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  run cmake --build .build/fuzz --target fuzz_blob fuzz_console
  for target in blob console; do
    # new inputs go to .build/fuzz/corpus*/, the committed seeds stay as they are
    dir=.build/fuzz/corpus; [ $target = console ] && dir=.build/fuzz/corpus_console
    mkdir -p "$dir"
    run .build/fuzz/fuzz_$target -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 \
      -print_final_stats=1 "$dir" tests/fuzz/corpus/$target
  done
else
  echo "SKIP fuzz: clang not installed"
fi

stage "ESP-IDF builds"
run bash tools/idf_build.sh

stage "ruff"
run $BIN/ruff check host tests tools

echo
echo "total ${SECONDS}s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages:"; printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed"
