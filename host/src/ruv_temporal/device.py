"""Client of the device console protocol (docs/protocol.md).

``DeviceClient`` talks to a board, a pseudo-terminal or a virtual device
(``ruv_vdev``) through a line transport. Replies start with ``@R``, errors
with ``@E``; every other line (logs, the ``@B`` boot banner) is skipped.
Numbers that must compare exactly travel as IEEE-754 bit patterns in hex.
"""

from __future__ import annotations

import itertools
import queue
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from . import locate
from .errors import DeviceError, RuvError

LINE_MAX = 4096
STATUS_TIMEOUT = 0x107
STATUS_INVALID_STATE = 0x103

__all__ = [
    "DeviceClient",
    "DeviceError",
    "PipeTransport",
    "SerialTransport",
    "Transport",
    "VirtualDevice",
    "find_vdev",
    "floats_to_hex",
    "hex_to_floats",
]


def floats_to_hex(values: np.ndarray) -> str:
    """float32 values -> concatenated 8-digit hex of their bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32)
    return "".join(f"{int(b):08x}" for b in bits)


def hex_to_floats(text: str) -> np.ndarray:
    """Inverse of :func:`floats_to_hex` (bit-exact, NaN payloads kept)."""
    if len(text) % 8:
        raise RuvError(f"hex float field has {len(text)} digits, not a multiple of 8")
    bits = np.array([int(text[i : i + 8], 16) for i in range(0, len(text), 8)], dtype=np.uint32)
    return bits.view(np.float32)


class Transport(Protocol):
    def write_line(self, line: str) -> None: ...
    def read_line(self, timeout: float) -> str | None: ...
    def close(self) -> None: ...


class PipeTransport:
    """Lines over a subprocess' stdin/stdout (a reader thread queues lines)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._reader, daemon=True)
        self._t.start()

    def _reader(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._q.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self._q.put(None)

    def write_line(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise DeviceError(STATUS_INVALID_STATE, f"device console closed: {exc}") from exc

    def write_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_line(self, timeout: float) -> str | None:
        try:
            line = self._q.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if line is None:
            self._q.put(None)
            raise DeviceError(STATUS_INVALID_STATE, "device console closed (process exited)")
        return line

    def close(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


class SerialTransport:
    """Lines over a serial port (pyserial): a board or a vdev pty."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        import serial  # optional dependency

        self.ser = serial.Serial(port, baudrate=baudrate, timeout=0.05)
        self._buf = b""

    def write_line(self, line: str) -> None:
        self.ser.write(line.encode() + b"\n")
        self.ser.flush()

    def write_raw(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def read_line(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
                return line.decode("utf-8", "replace").rstrip("\r")
            if time.monotonic() >= deadline:
                return None
            self._buf += self.ser.read(self.ser.in_waiting or 1)

    def close(self) -> None:
        self.ser.close()


@dataclass
class Reply:
    cmd: str
    fields: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)


def _parse_kv(tokens: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    kv: dict[str, str] = {}
    words: list[str] = []
    for t in tokens:
        if "=" in t:
            k, v = t.split("=", 1)
            kv[k] = v
        else:
            words.append(t)
    return kv, words


class DeviceClient:
    """Console protocol client. Every request carries an id (``#<n>``);
    replies with another id (stale answers after a timeout) are skipped."""

    def __init__(self, transport: Transport, timeout: float = 5.0) -> None:
        self.t = transport
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.log_lines: list[str] = []
        self.banner: str | None = None
        self._info: dict[str, str] | None = None

    # ---- low level -----------------------------------------------------
    def command(self, line: str, timeout: float | None = None) -> Reply:
        """Sends one command, returns its reply; raises DeviceError."""
        rid = f"h{next(self._ids)}"
        self.t.write_line(f"#{rid} {line}")
        return self._wait(rid, timeout if timeout is not None else self.timeout)

    def _wait(self, rid: str | None, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            line = self.t.read_line(left) if left > 0 else None
            if line is None:
                raise DeviceError(
                    STATUS_TIMEOUT, f"no reply to request {rid} within {timeout:.1f} s"
                )
            if line.startswith("@B "):
                self.banner = line
                continue
            if not line.startswith(("@R ", "@E ")):
                self.log_lines.append(line)
                del self.log_lines[:-1000]
                continue
            parts = line.split(" ")
            if len(parts) < 3 or (rid is not None and parts[1] != rid):
                continue
            if parts[0] == "@E":
                status = int(parts[2], 16) if len(parts) > 2 else 0
                message = " ".join(parts[4:]) if len(parts) > 4 else ""
                raise DeviceError(status, message)
            kv, words = _parse_kv(parts[3:])
            return Reply(parts[2], kv, words)

    def raw_exchange(self, line: str, timeout: float | None = None) -> str:
        """Sends a raw line (no id) and returns the next @R/@E line verbatim."""
        self.t.write_line(line)
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            left = deadline - time.monotonic()
            got = self.t.read_line(left) if left > 0 else None
            if got is None:
                raise DeviceError(STATUS_TIMEOUT, f"no reply to raw line {line[:40]!r}")
            if got.startswith(("@R ", "@E ")):
                return got
            if got.startswith("@B "):
                self.banner = got
            else:
                self.log_lines.append(got)

    def wait_banner(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while self.banner is None:
            left = deadline - time.monotonic()
            line = self.t.read_line(left) if left > 0 else None
            if line is None:
                raise DeviceError(STATUS_TIMEOUT, "no boot banner")
            if line.startswith("@B "):
                self.banner = line
            else:
                self.log_lines.append(line)
        return self.banner

    # ---- commands ------------------------------------------------------
    def info(self) -> dict[str, str]:
        r = self.command("info")
        self._info = r.fields
        return r.fields

    @property
    def input_dim(self) -> int:
        return int((self._info or self.info())["D"])

    @property
    def n_classes(self) -> int:
        return int((self._info or self.info())["C"])

    def push(self, frames: np.ndarray, *, wait: bool = True) -> dict[str, int]:
        """Pushes frames [n][D] in batches that fit a line. Returns counts
        (accepted/dropped). With ``wait`` it waits until the device's frame
        queue is empty, so a following classify sees every accepted frame."""
        arr = np.ascontiguousarray(frames, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        d = self.input_dim
        if arr.ndim != 2 or arr.shape[1] != d:
            raise RuvError(f"frames must be [n][{d}], got {arr.shape}")
        per_line = max(1, (LINE_MAX - 40) // (8 * d))
        accepted = dropped = 0
        for i in range(0, arr.shape[0], per_line):
            batch = arr[i : i + per_line]
            r = self.command(f"push {batch.shape[0]} {floats_to_hex(batch)}")
            accepted += int(r.fields["accepted"])
            dropped += int(r.fields["dropped"])
        if wait:
            self.wait_idle()
        return {"accepted": accepted, "dropped": dropped}

    def wait_idle(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while int(self.stats().get("pending", "0")) > 0:
            if time.monotonic() > deadline:
                raise DeviceError(STATUS_TIMEOUT, "frame queue did not drain")
            time.sleep(0.005)

    def classify(self) -> np.ndarray:
        """Full logits (bit-exact float32); ``last_argmax`` keeps the argmax."""
        r = self.command("classify")
        logits = hex_to_floats(r.fields["logits"])
        if logits.shape[0] != int(r.fields["n"]):
            raise RuvError("classify reply: logits length differs from n")
        self.last_argmax = int(r.fields["argmax"])
        return logits

    def layer_state(self, stage: int) -> np.ndarray:
        return hex_to_floats(self.command(f"layer {stage}").fields["state"])

    def layer_states(self) -> np.ndarray:
        """[n_layers+1][D]: newest-row residual states, stage 0 = normalised input."""
        first = self.command("layer 0")
        n_layers = int(first.fields["layers"])
        rows = [hex_to_floats(first.fields["state"])]
        rows += [self.layer_state(s) for s in range(1, n_layers + 1)]
        return np.stack(rows)

    def stats(self) -> dict[str, str]:
        return self.command("stats").fields

    def reset(self) -> None:
        self.command("reset")

    def selftest(self) -> dict[str, str]:
        return self.command("selftest", timeout=max(self.timeout, 30.0)).fields

    def set_mode(self, mode: str, kv_fp16: bool | None = None) -> dict[str, str]:
        if mode not in ("window", "stream"):
            raise RuvError("mode must be 'window' or 'stream'")
        extra = "" if kv_fp16 is None else f" fp16={int(kv_fp16)}"
        r = self.command(f"mode {mode}{extra}")
        self._info = None
        return r.fields

    def set_telemetry(self, on: bool) -> None:
        self.command(f"tx {'on' if on else 'off'}")

    def load_blob(
        self,
        blob: bytes,
        chunk_size: int = 1024,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, str]:
        """Chunked upload; returns the commit reply (model, slot, gen)."""
        if not 1 <= chunk_size <= (LINE_MAX - 64) // 2:
            raise RuvError(f"chunk_size must be 1..{(LINE_MAX - 64) // 2}")
        total = zlib.crc32(blob) & 0xFFFFFFFF
        self.command(f"load begin {len(blob)} {total:08x}", timeout=max(self.timeout, 30.0))
        try:
            for off in range(0, len(blob), chunk_size):
                chunk = blob[off : off + chunk_size]
                crc = zlib.crc32(chunk) & 0xFFFFFFFF
                self.command(f"load chunk {off} {crc:08x} {chunk.hex()}")
                if progress is not None:
                    progress(off + len(chunk), len(blob))
            r = self.command("load commit", timeout=max(self.timeout, 30.0))
        except DeviceError:
            try:
                self.command("load abort")
            except DeviceError:
                pass
            raise
        self._info = None
        return r.fields

    def close(self) -> None:
        self.t.close()


# ---- virtual device ----------------------------------------------------------


def find_vdev() -> Path:
    """Path of the ``ruv_vdev`` executable: ``$RUV_VDEV``, else
    ``$RUV_BUILD_DIR``, else the copy installed with the package
    (:func:`ruv_temporal.locate.vdev_path`). Raises NativeBuildError."""
    return locate.vdev_path()


class VirtualDevice:
    """Spawns ruv_vdev on pipes and gives a DeviceClient (context manager)."""

    def __init__(self, *args: str, exe: Path | None = None, timeout: float = 5.0) -> None:
        import tempfile

        self.exe = exe or find_vdev()
        # stderr to a file: it holds the one error line of a refused start.
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(self.exe), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.transport = PipeTransport(self.proc)
        self.client = DeviceClient(self.transport, timeout=timeout)
        try:
            self.client.wait_banner(timeout=timeout)
        except DeviceError:
            self.close()
            self._stderr.seek(0)
            why = self._stderr.read().decode("utf-8", "replace").strip()
            if why:
                raise RuvError(f"ruv_vdev did not start: {why}") from None
            raise

    def kill(self) -> None:
        """Hard kill (power-cut emulation)."""
        self.proc.kill()
        self.proc.wait()

    def close(self) -> int:
        self.transport.close()
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def __enter__(self) -> DeviceClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.close()
