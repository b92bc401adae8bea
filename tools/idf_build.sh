#!/usr/bin/env bash
# ESP-IDF builds of the repository root (docs/firmware.md).
#
#  - ESP-IDF is taken from $IDF_PATH, else ~/esp/esp-idf; with neither, one
#    SKIP line and exit 0. Its Python: $IDF_PYTHON_ENV_PATH, else the venv
#    install.sh made under ~/.espressif/python_env, else python3.
#  - linux target (console frame source), built the way a user builds it:
#    `idf.py --preview set-target linux && idf.py build` into ESP-IDF's own
#    build/, in a copy of the project at .build/idf-linux (the checkout's
#    build/ and sdkconfig stay untouched) that already holds a host build in
#    .build/host, as `make test` leaves one. The host build must survive
#    set-target, and `idf.py fullclean` at the end (docs/packaging.md). The
#    produced ELF runs a scripted console session (tools/idf_linux_session.py)
#    and the whole HIL suite (tests/hil --hil-exec; every classify compared
#    with the Python reference; RUV_IDF_HIL=0 skips it).
#  - esp32s3 (toolchain on PATH or under ~/.espressif/tools, else a SKIP
#    line): the CSI frame source build (board default; needs ESP-IDF's WiFi
#    submodules) and the console frame source build with the UART console
#    (firmware/configs/), own files -Werror, `idf.py size` of each; then, when
#    qemu-system-xtensa with esp32s3 is found, the whole HIL suite on that
#    image in QEMU with --hil-exact (docs/qemu.md).
#
# Expects an ESP-IDF set up by install.sh/export.sh or Espressif's
# installer; see "ESP-IDF set-up" in docs/firmware.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ -z "${IDF_PATH:-}" ] && [ -f "$HOME/esp/esp-idf/tools/idf.py" ]; then
  export IDF_PATH="$HOME/esp/esp-idf"
fi
if [ -z "${IDF_PATH:-}" ]; then
  echo "SKIP: ESP-IDF builds (IDF_PATH not set, no ~/esp/esp-idf)"
  exit 0
fi
if [ ! -f "$IDF_PATH/tools/idf.py" ]; then
  echo "IDF_PATH=$IDF_PATH has no tools/idf.py" >&2
  exit 1
fi
if [ -z "${IDF_PYTHON_ENV_PATH:-}" ]; then
  for env in "${IDF_TOOLS_PATH:-$HOME/.espressif}"/python_env/idf*_env; do
    if [ -x "$env/bin/python" ]; then export IDF_PYTHON_ENV_PATH="$env"; fi
  done
fi

# Python that has the IDF requirements: the IDF venv if known, else python3.
if [ -n "${IDF_PYTHON_ENV_PATH:-}" ] && [ -x "$IDF_PYTHON_ENV_PATH/bin/python" ]; then
  IDF_PY_BIN="$IDF_PYTHON_ENV_PATH/bin/python"
else
  IDF_PY_BIN=$(command -v python3)
fi
export PYTHON="$IDF_PY_BIN"
# No constraints file without install.sh; the project uses no managed
# components, so the component manager has nothing to fetch.
if ! ls "${IDF_TOOLS_PATH:-$HOME/.espressif}"/espidf.constraints.v*.txt >/dev/null 2>&1; then
  export IDF_PYTHON_CHECK_CONSTRAINTS=no
fi
export IDF_COMPONENT_MANAGER=${IDF_COMPONENT_MANAGER:-0}
# A checkout without submodules: do not let CMake try to clone them (the
# root CMakeLists.txt then lists the component dirs itself).
if [ ! -f "$IDF_PATH/components/mqtt/esp-mqtt/CMakeLists.txt" ]; then
  export IDF_SKIP_CHECK_SUBMODULES=1
fi
JOBS=${RUV_IDF_JOBS:-2}

idf() { "$IDF_PY_BIN" "$IDF_PATH/tools/idf.py" "$@"; }

failed=0

# ---- linux target --------------------------------------------------------------
LINUX_PROJ="$ROOT/.build/idf-linux"
LINUX_DIR="$LINUX_PROJ/build"
HOST_IN_COPY="$LINUX_PROJ/.build/host"
echo "idf: linux target: idf.py set-target linux && idf.py build in $LINUX_PROJ (beside .build/host)"
rm -rf "$LINUX_PROJ"
mkdir -p "$LINUX_PROJ"
log="$ROOT/.build/idf-linux.log"
host_build_intact() {
  [ -f "$HOST_IN_COPY/CMakeCache.txt" ] && [ -f "$HOST_IN_COPY/libruv_temporal.so" ]
}
# The project's files (tracked or new, nothing ignored) and a host build.
if git ls-files -z --cached --others --exclude-standard -- CMakeLists.txt partitions.csv \
      'sdkconfig.defaults*' firmware \
    | tar --null --ignore-failed-read -T - -cf - | tar -C "$LINUX_PROJ" -xf - \
   && cmake -S "$LINUX_PROJ/firmware/host" -B "$HOST_IN_COPY" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 \
   && cmake --build "$HOST_IN_COPY" --target ruv_temporal_shared >>"$log" 2>&1 \
   && idf --preview -C "$LINUX_PROJ" set-target linux >>"$log" 2>&1 \
   && CMAKE_BUILD_PARALLEL_LEVEL=$JOBS idf --preview -C "$LINUX_PROJ" build >>"$log" 2>&1; then
  elf="$LINUX_DIR/ruv_temporal_node.elf"
  echo "idf: linux build OK ($(du -k "$elf" | cut -f1) KB ELF); warnings: $(grep -c 'warning:' "$log" || true)"
  # One version: the app's PROJECT_VER is the C core's (root CMakeLists.txt).
  core_ver=$(sed -n 's/^#define RUV_TEMPORAL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
    firmware/components/ruv_temporal/include/ruv_temporal.h | paste -sd.)
  app_ver=$(sed -n 's/.*"project_version": *"\([^"]*\)".*/\1/p' "$LINUX_DIR/project_description.json")
  if [ -n "$core_ver" ] && [ "$app_ver" = "$core_ver" ]; then
    echo "idf: app version $app_ver = RUV_TEMPORAL_VERSION"
  else
    echo "idf: app version '$app_ver' is not RUV_TEMPORAL_VERSION '$core_ver': FAILED"
    failed=1
  fi
  if host_build_intact; then
    echo "idf: host build in .build/host intact after set-target and build"
  else
    echo "idf: set-target/build removed the host build in .build/host: FAILED"
    failed=1
  fi
  session_py="$ROOT/.venv/bin/python"
  [ -x "$session_py" ] || session_py=$(command -v python3)
  if "$session_py" tools/idf_linux_session.py --elf "$elf" --build-dir "$LINUX_DIR"; then
    echo "idf: linux console session OK"
  else
    echo "idf: linux console session FAILED"
    failed=1
  fi
  # The HIL suite against the ELF (docs/hil.md): the same tests as on the
  # virtual device and on a board, through a pty bridge; flash image with
  # the default model in model_a, like `idf.py flash` leaves a chip.
  if [ -x "$ROOT/.venv/bin/pytest" ] && [ "${RUV_IDF_HIL:-1}" = 1 ]; then
    image="$LINUX_PROJ/flash.bin"
    if "$ROOT/.venv/bin/ruv-temporal" provision --via image --output "$image" \
         --partition-table "$LINUX_DIR/partition_table/partition-table.bin" \
         "$ROOT/firmware/models/default.rvne" >/dev/null \
       && "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider tests/hil \
         --hil-soak-frames "${RUV_IDF_HIL_SOAK:-20000}" \
         --hil-exec "RUV_LINUX_FLASH_IMAGE=$image $elf"; then
      echo "idf: HIL suite on the linux-target ELF OK"
    else
      echo "idf: HIL suite on the linux-target ELF FAILED"
      failed=1
    fi
  else
    echo "SKIP: HIL suite on the linux-target ELF (no .venv, or RUV_IDF_HIL=0)"
  fi
  # The other order: ESP-IDF's fullclean must not take the host build along.
  if idf --preview -C "$LINUX_PROJ" fullclean >>"$log" 2>&1 \
     && [ ! -e "$LINUX_DIR/CMakeCache.txt" ] && host_build_intact; then
    echo "idf: idf.py fullclean emptied build/ and left .build/host intact"
  else
    echo "idf: idf.py fullclean failed or removed the host build (see $log): FAILED"
    failed=1
  fi
else
  echo "idf: linux build FAILED (last lines of $log):"
  tail -n 40 "$log"
  failed=1
fi

# ---- esp32s3 -------------------------------------------------------------------
# Toolchain and QEMU: on PATH, else where Espressif's installer puts them
# (IDF_TOOLS_PATH, default ~/.espressif/tools/<tool>/<version>/...).
TOOLS_DIR="${IDF_TOOLS_PATH:-$HOME/.espressif}/tools"
if ! command -v xtensa-esp32s3-elf-gcc >/dev/null 2>&1; then
  for d in "$TOOLS_DIR"/xtensa-esp-elf/*/xtensa-esp-elf/bin "$TOOLS_DIR"/xtensa-esp32s3-elf/*/xtensa-esp32s3-elf/bin; do
    if [ -x "$d/xtensa-esp32s3-elf-gcc" ]; then export PATH="$d:$PATH"; break; fi
  done
fi
if ! command -v qemu-system-xtensa >/dev/null 2>&1; then
  for d in "$TOOLS_DIR"/qemu-xtensa/*/qemu/bin; do
    if [ -x "$d/qemu-system-xtensa" ]; then export PATH="$d:$PATH"; break; fi
  done
fi

# Builds the project for esp32s3 into $1 with the sdkconfig defaults in $2
# (';'-separated), own files -Werror (RUV_WERROR in firmware/*/CMakeLists.txt);
# prints the warnings in the project's files and `idf.py size`.
s3_build() {
  local dir=$1 defaults=$2 name=$3 log="$1.log"
  rm -rf "$dir"
  if idf -B "$dir" -DSDKCONFIG="$dir/sdkconfig" -DSDKCONFIG_DEFAULTS="$defaults" -DRUV_WERROR=ON \
         set-target esp32s3 >"$log" 2>&1 \
     && CMAKE_BUILD_PARALLEL_LEVEL=$JOBS idf -B "$dir" -DSDKCONFIG="$dir/sdkconfig" build >>"$log" 2>&1; then
    local own
    own=$(grep -c "firmware/.*warning:" "$log" || true)
    echo "idf: esp32s3 $name build OK ($(du -k "$dir/ruv_temporal_node.bin" | cut -f1) KB app image; warnings in the project's files: $own)"
    [ "$own" = 0 ] || { grep "firmware/.*warning:" "$log"; failed=1; }
    idf -B "$dir" -DSDKCONFIG="$dir/sdkconfig" size 2>/dev/null \
      | grep -E "Flash Code|Flash Data|DIRAM|IRAM |Total image size" | sed "s/^/idf:   /" || true
    return 0
  fi
  echo "idf: esp32s3 $name build FAILED (last lines of $log):"
  tail -n 40 "$log"
  failed=1
  return 1
}

if command -v xtensa-esp32s3-elf-gcc >/dev/null 2>&1; then
  # A toolchain whose default C library is picolibc (ESP-IDF v6 defaults to
  # picolibc; v5.5 offers it as CONFIG_LIBC_PICOLIBC).
  LIBC_DEFAULTS=""
  if printf '#include <stdio.h>\n#ifdef __PICOLIBC__\nRUV_PICOLIBC\n#endif\n' \
       | xtensa-esp32s3-elf-gcc -E -x c - 2>/dev/null | grep -q RUV_PICOLIBC; then
    LIBC_DEFAULTS="$ROOT/.build/picolibc.defaults"
    mkdir -p "$ROOT/.build"
    echo "CONFIG_LIBC_PICOLIBC=y" >"$LIBC_DEFAULTS"
    echo "idf: the esp32s3 toolchain's C library is picolibc: building with CONFIG_LIBC_PICOLIBC"
  fi
  base="$ROOT/sdkconfig.defaults${LIBC_DEFAULTS:+;$LIBC_DEFAULTS}"
  # 1. The board default: CSI frame source, USB-Serial-JTAG console. Needs the
  #    WiFi stack, i.e. an ESP-IDF checkout with its submodules.
  if [ -d "$IDF_PATH/components/esp_wifi/lib/esp32s3" ] && [ -f "$IDF_PATH/components/lwip/lwip/src/include/lwip/opt.h" ]; then
    s3_build "$ROOT/.build/idf-esp32s3-csi" "$base" "CSI frame source" || true
  else
    echo "SKIP: esp32s3 CSI frame source build (ESP-IDF at $IDF_PATH has no WiFi libraries or lwip: git submodule update --init)"
  fi
  # 2. Console frame source, UART console, DIO flash: the image the HIL suite
  #    runs in QEMU (firmware/configs/qemu.defaults, docs/qemu.md).
  S3_CONSOLE="$ROOT/.build/idf-esp32s3-console"
  if s3_build "$S3_CONSOLE" "$base;$ROOT/firmware/configs/console.defaults;$ROOT/firmware/configs/qemu.defaults" \
       "console frame source (UART)"; then
    if [ "${RUV_IDF_QEMU:-1}" = 1 ] && command -v qemu-system-xtensa >/dev/null 2>&1 \
       && qemu-system-xtensa -M help 2>/dev/null | grep -q esp32s3; then
      image="$S3_CONSOLE/flash.bin"
      if "$ROOT/.venv/bin/ruv-temporal" qemu image --build-dir "$S3_CONSOLE" --output "$image" >/dev/null; then
        if "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider tests/hil \
             --hil-soak-frames "${RUV_QEMU_HIL_SOAK:-20000}" --hil-exact \
             --hil-qemu "$image"; then
          echo "idf: HIL suite on the emulated ESP32-S3 (QEMU) OK"
        else
          echo "idf: HIL suite on the emulated ESP32-S3 (QEMU) FAILED"
          failed=1
        fi
      else
        echo "idf: QEMU flash image FAILED"
        failed=1
      fi
    else
      echo "SKIP: HIL suite in QEMU (no qemu-system-xtensa with esp32s3 on PATH or in $TOOLS_DIR/qemu-xtensa, or RUV_IDF_QEMU=0)"
    fi
  fi
else
  echo "SKIP: ESP-IDF esp32s3 builds (no xtensa-esp32s3-elf-gcc on PATH or in $TOOLS_DIR)"
fi

exit $failed
