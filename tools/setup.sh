#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine:
# system packages (compilers, CMake, Ninja, clang for libFuzzer) and a venv
# with the host package (editable, native parts built by its build backend)
# and its dev/train extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v clang >/dev/null || need_apt+=(clang)
# libFuzzer and the sanitizer runtimes for clang
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 \
  || ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-aarch64.a >/dev/null 2>&1 \
  || need_apt+=(libclang-rt-dev)
command -v valgrind >/dev/null || need_apt+=(valgrind)
# Fleet (docs/fleet.md): the MQTT broker the tests start, libmosquitto for the
# virtual device's MQTT client, mbedtls for the signed-model verifier (the
# same library ESP-IDF builds for the chip).
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need_apt+=(mosquitto)
[ -f /usr/include/mosquitto.h ] || need_apt+=(libmosquitto-dev)
[ -f /usr/include/mbedtls/pk.h ] || need_apt+=(libmbedtls-dev)
# the 32-bit (-m32) build of the portable C: size_t is 32 bits on the ESP32-S3
if [ "$(uname -m)" = x86_64 ] && ! echo 'int main(void){return 0;}' \
    | cc -m32 -x c - -o /dev/null >/dev/null 2>&1; then
  need_apt+=(gcc-multilib)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (needs root)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
extras="dev"
pins=()
# The train extra allows any torch 2; the project is tested with the 2.13.0
# CPU build, named exactly here so pip takes it rather than a newer CUDA one.
if [ "${RUV_NO_TRAIN:-0}" != 1 ]; then extras="dev,train"; pins=(torch==2.13.0); fi
# Editable install: scikit-build-core builds the native parts (libruv_temporal,
# libruv_csi, ruv_vdev) from firmware/ into the venv (docs/packaging.md).
.venv/bin/pip install -q -e "host[$extras]" "${pins[@]}"
echo "setup: done ($(.venv/bin/python --version), extras: $extras)"
