"""The firmware on an emulated ESP32-S3 (docs/qemu.md).

Espressif's QEMU (``qemu-system-xtensa -M esp32s3``) boots the same flash
image a board gets from ``idf.py flash``: bootloader, partition table, app and
the default model in ``model_a``. Its UART0 is the console (the emulated
USB-Serial-JTAG is a dummy, hence ``firmware/configs/qemu.defaults``), served
on a pseudo-terminal, so pyserial and pytest-embedded open it like a board's
port. The flash image file is the chip's flash: model uploads land in it,
and a QEMU killed mid-upload and started again on the same file is a power
cut.

* :func:`find_qemu` — ``qemu-system-xtensa`` on PATH, else under
  ``$IDF_TOOLS_PATH/tools/qemu-xtensa`` (where Espressif's installer puts it).
* :func:`merge_image` — one flash image from an ESP-IDF build directory
  (``esptool merge-bin @flash_args``, what ``idf.py qemu`` does).
* :class:`QemuProcess` — a running emulator; ``.port`` is its console pty.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .errors import RuvError

_PTY_LINE = re.compile(rb"char device redirected to (\S+) \(label serial0\)")


def tools_dir() -> Path:
    return Path(os.environ.get("IDF_TOOLS_PATH") or Path.home() / ".espressif") / "tools"


def find_qemu() -> Path | None:
    """``qemu-system-xtensa`` on PATH, else the newest under
    ``<IDF_TOOLS_PATH>/tools/qemu-xtensa/*/qemu/bin``; None if neither."""
    found = shutil.which("qemu-system-xtensa")
    if found:
        return Path(found)
    candidates = sorted(tools_dir().glob("qemu-xtensa/*/qemu/bin/qemu-system-xtensa"))
    return candidates[-1] if candidates else None


def supports_esp32s3(qemu: Path) -> bool:
    try:
        out = subprocess.run([str(qemu), "-M", "help"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[:1] == ["esp32s3"] for line in out.splitlines())


def merge_image(build_dir: Path, output: Path, flash_size: str = "4MB") -> Path:
    """Merges what ``idf.py flash`` would write (``build_dir/flash_args``:
    bootloader, partition table, app, default model into ``model_a``) into
    one ``flash_size`` image, erased bytes 0xFF."""
    build_dir = Path(build_dir)
    args = build_dir / "flash_args"
    if not args.is_file():
        raise RuvError(f"{args}: no flash_args (not an ESP-IDF build directory, or not built)")
    output = Path(output).resolve()
    cmd = [sys.executable, "-m", "esptool", "--chip", "esp32s3", "merge-bin",
           "--fill-flash-size", flash_size, "-o", str(output), "@flash_args"]
    r = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuvError(f"esptool merge-bin failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return output


class QemuProcess:
    """``qemu-system-xtensa -M esp32s3`` on ``image`` (used in place: it is the
    chip's flash), console UART0 on a pty (``.port``). ``kill()`` is a power
    cut; start another QemuProcess on the same image to boot again."""

    def __init__(self, image: Path, qemu: Path | None = None, extra: tuple[str, ...] = (),
                 startup_timeout: float = 30.0) -> None:
        self.image = Path(image)
        exe = qemu or find_qemu()
        if exe is None:
            raise RuvError("qemu-system-xtensa not found "
                           "(PATH, or IDF_TOOLS_PATH/tools/qemu-xtensa)")
        if not self.image.is_file():
            raise RuvError(f"{self.image}: no flash image")
        self.args = [str(exe), "-M", "esp32s3", "-m", "4M", "-display", "none",
                     "-monitor", "none", "-nic", "none", "-serial", "pty",
                     "-drive", f"file={self.image},if=mtd,format=raw", *extra]
        # QEMU names the pty on stdout; the rest is kept in a file for errors.
        self._output = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.port = self._read_pty(startup_timeout)

    def _read_pty(self, timeout: float) -> str:
        box: list[str] = []
        assert self.proc.stdout is not None
        stream = self.proc.stdout

        def reader() -> None:
            for raw in stream:
                m = _PTY_LINE.search(raw)
                if m and not box:
                    box.append(m.group(1).decode())
                else:
                    self._output.write(raw)
                    self._output.flush()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not box and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        if not box:
            self.kill()
            self._output.seek(0)
            why = self._output.read().decode("utf-8", "replace").strip()[-400:]
            raise RuvError(f"QEMU did not open its console pty within {timeout:.0f} s"
                           f" (exit code {self.proc.poll()}){': ' + why if why else ''}")
        return box[0]

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Power cut: SIGKILL, whatever the emulated chip was doing."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> QemuProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
