"""Client of the device console protocol (docs/protocol.md).

``DeviceClient`` talks to a board, a pseudo-terminal or a virtual device
(``ruv_vdev``) through a line transport. Replies start with ``@R``, errors
with ``@E``; every other line (logs, the ``@B`` boot banner) is skipped.
Numbers that must compare exactly travel as IEEE-754 bit patterns in hex.
After ``open_link`` requests are framed (sequence number + CRC) and lost or
garbled lines are resent (docs/protocol.md, "Link layer").
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
STATUS_NOT_SUPPORTED = 0x106

__all__ = [
    "DeviceClient",
    "DeviceError",
    "LinkStats",
    "PipeTransport",
    "SerialTransport",
    "Transport",
    "VirtualDevice",
    "find_vdev",
    "floats_to_hex",
    "hex_to_floats",
    "parse_reply",
    "seal_request",
    "unseal_reply",
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


def parse_reply(line: str) -> tuple[str, Reply | DeviceError] | None:
    """``@R <id> <cmd> k=v ...`` / ``@E <id> 0x<status> <NAME> <msg>`` (its
    link trailer already removed) -> ``(id, Reply or DeviceError)``; None
    when the line is not a reply."""
    parts = line.split(" ")
    if len(parts) < 3 or parts[0] not in ("@R", "@E"):
        return None
    if parts[0] == "@E":
        try:
            status = int(parts[2], 16)
        except ValueError:
            status = 0
        return parts[1], DeviceError(status, " ".join(parts[4:]))
    kv, words = _parse_kv(parts[3:])
    return parts[1], Reply(parts[2], kv, words)


def seal_request(body: str, seq: int) -> str:
    """A framed request (docs/protocol.md, "Link layer"): ``body`` plus the
    trailer ``*<seq>:<crc>``, the CRC-32 of ``body *<seq>`` (the sequence
    number is covered too)."""
    head = f"{body} *{seq}"
    return f"{head}:{zlib.crc32(head.encode()) & 0xFFFFFFFF:08x}"


def unseal_reply(line: str) -> str | None:
    """The reply without its ``*<crc>`` trailer when the CRC matches, else None."""
    cut = line.rfind(" *")
    if cut < 0 or len(line) - cut != 10:
        return None
    try:
        crc = int(line[cut + 2:], 16)
    except ValueError:
        return None
    return line[:cut] if zlib.crc32(line[:cut].encode()) & 0xFFFFFFFF == crc else None


@dataclass
class LinkStats:
    """What the link layer met (``DeviceClient.link_stats``). Every recovery
    (one resend round) has one cause: a reply missing (``lost``: a later
    reply came first, or ``timeouts``: none came within the link timeout),
    a reply failing its checksum (``garbled``) or a request the device
    refused (``refused``: its checksum failed, or an earlier one was lost)."""

    requests: int = 0    # framed requests sent (first sends)
    resends: int = 0     # request lines written again
    recoveries: int = 0  # resend rounds = lost + garbled + refused
    lost: int = 0
    timeouts: int = 0    # the part of `lost` noticed by the link timeout
    garbled: int = 0
    refused: int = 0
    garbled_lines: int = 0  # every reply line that failed its checksum

    def line(self) -> str:
        if self.recoveries == 0:
            return (f"link: clean, {self.requests} framed requests, no resend")
        return (f"link: {self.recoveries} recoveries over {self.requests} framed requests "
                f"({self.lost} lost replies, {self.timeouts} of them by timeout; "
                f"{self.garbled} garbled replies; {self.refused} refused requests), "
                f"{self.resends} lines resent")

    def since(self, before: LinkStats) -> LinkStats:
        return LinkStats(**{k: getattr(self, k) - getattr(before, k)
                            for k in self.__dataclass_fields__})


@dataclass
class _Request:
    rid: str
    seq: int           # 0: plain (unframed) request
    text: str
    link_timeout: float = 2.0
    result: Reply | DeviceError | None = None
    tries: int = 0     # resends so far


class DeviceClient:
    """Console protocol client. Every request carries an id (``#<id>``);
    replies with another id (stale answers after a timeout) are skipped.

    ``submit`` / ``collect`` keep several requests in flight (replies come
    back in order and are matched by id); ``command`` is one round trip.
    After :meth:`open_link` (``ruv_temporal.hil.sync`` calls it) requests
    are framed (docs/protocol.md, "Link layer"): a reply that does not come
    within ``link_timeout``, fails its checksum, or is overtaken by a later
    one makes the client resend every unanswered request, same line and
    sequence number, at most ``max_resends`` times each; the device answers
    a resend of a request it already ran from its reply cache. Counted in
    ``link_stats``. ``recover=False`` keeps protocol v1 (no resends)."""

    _id_counter = itertools.count(1)  # ids unique in the process: stale replies never match
    _id_lock = threading.Lock()

    def __init__(self, transport: Transport, timeout: float = 5.0, *, recover: bool = True,
                 link_timeout: float = 2.0, max_resends: int = 5) -> None:
        self.t = transport
        self.timeout = timeout
        self.recover = recover
        self.link_timeout = float(link_timeout)
        self.max_resends = int(max_resends)
        self.log_lines: list[str] = []
        self.banner: str | None = None
        self._info: dict[str, str] | None = None
        self.link_stats = LinkStats()
        self.link_window = 1 << 30  # requests in flight the device can replay (link: its cache)
        self._link = False
        self._relink = False
        self._seq = 1
        self._pending: dict[str, _Request] = {}  # in submission order
        self._recovering = False
        self._broken: DeviceError | None = None  # the session cannot go on (reboot, eviction)

    @property
    def link(self) -> bool:
        """True while requests are framed (a link session is open)."""
        return self._link

    def _new_id(self) -> str:
        with DeviceClient._id_lock:
            return f"h{next(DeviceClient._id_counter)}"

    # ---- link session ------------------------------------------------------
    def open_link(self, attempts: int = 3) -> bool:
        """Starts a link session (``link <seq>``, protocol 2). Returns False
        (and stays on protocol v1) when the device does not know ``link`` or
        ``recover`` is off."""
        self._abandon()
        self._link = False
        self._relink = False
        self._broken = None
        if not self.recover:
            return False
        last: DeviceError | None = None
        for _ in range(max(1, attempts)):
            try:
                r = self.command(f"link {self._seq}", timeout=min(self.link_timeout, self.timeout))
            except DeviceError as e:
                if e.status == STATUS_NOT_SUPPORTED:
                    return False
                last = e
                continue
            self.link_window = max(1, int(r.fields.get("cache", "1")))
            self._link = True
            self._relink = False
            return True
        assert last is not None
        raise last

    def _abandon(self) -> None:
        """Forgets every request in flight (after a timeout the session is
        out of step: the next framed request first opens a new one)."""
        if self._pending and self._link:
            self._relink = True
        self._pending.clear()
        self._recovering = False

    # ---- low level -----------------------------------------------------
    def submit(self, line: str, link_timeout: float | None = None) -> str:
        """Sends one request without waiting; returns its id (``collect``).
        ``link_timeout``: for a request the device needs long for (flash
        erase, selftest), the wait before a resend (default ``link_timeout``)."""
        if self._relink or self._broken is not None:
            self.open_link()  # a new session after a timeout or a broken one
        rid = self._new_id()
        body = f"#{rid} {line}"
        lt = self.link_timeout if link_timeout is None else max(self.link_timeout, link_timeout)
        if self._link:
            req = _Request(rid, self._seq, seal_request(body, self._seq), lt)
            self._seq += 1
            self.link_stats.requests += 1
        else:
            req = _Request(rid, 0, body, lt)
        self._pending[rid] = req
        self.t.write_line(req.text)
        return rid

    def collect(self, rid: str, timeout: float | None = None) -> Reply | DeviceError:
        """Waits for the reply to request ``rid`` (replies to the requests
        before it are kept for their own ``collect``). Raises DeviceError
        (timeout) when none comes within ``timeout``."""
        timeout = self.timeout if timeout is None else timeout
        now = time.monotonic()
        deadline = now + timeout

        def link_wait() -> float:
            oldest = self._oldest_unanswered()
            return min(oldest.link_timeout if oldest is not None else self.link_timeout, timeout)

        link_deadline = now + link_wait()
        while True:
            req = self._pending.get(rid)
            if req is None:
                raise RuvError(f"request {rid} is not in flight")
            if req.result is not None:
                del self._pending[rid]
                return req.result
            if self._broken is not None:
                # Requests after the one the session broke on never run.
                self._abandon()
                raise self._broken
            now = time.monotonic()
            if now >= deadline:
                tries = f" ({req.tries} resends)" if req.tries else ""
                self._abandon()
                raise DeviceError(STATUS_TIMEOUT,
                                  f"no reply to request {rid} within {timeout:.1f} s{tries}")
            wait = deadline - now
            if self._link:
                wait = min(wait, max(0.0, link_deadline - now))
            line = self.t.read_line(wait)
            if line is not None:
                if self._on_line(line):
                    link_deadline = time.monotonic() + link_wait()
                continue
            if self._link and time.monotonic() >= link_deadline:
                # Nothing within the link timeout: the reply (or the request) is lost.
                self._resend("lost", by_timeout=True)
                link_deadline = time.monotonic() + link_wait()

    def _oldest_unanswered(self) -> _Request | None:
        return next((r for r in self._pending.values() if r.result is None), None)

    def _resend(self, cause: str, *, by_timeout: bool = False) -> bool:
        """One recovery round: every unanswered request again, in order
        (the device replays what it ran and runs what it never got)."""
        oldest = self._oldest_unanswered()
        if oldest is None or oldest.seq == 0 or oldest.tries >= self.max_resends:
            return False
        if self._recovering and not by_timeout:
            return False  # one round until the oldest is answered or the timeout passes
        st = self.link_stats
        st.recoveries += 1
        setattr(st, cause, getattr(st, cause) + 1)
        if by_timeout:
            st.timeouts += 1
        for r in self._pending.values():
            if r.result is None and r.seq:
                r.tries += 1
                st.resends += 1
                self.t.write_line(r.text)
        self._recovering = True
        return True

    def _on_line(self, line: str) -> bool:
        """Handles one received line; True when it answered the oldest
        unanswered request (progress)."""
        if line.startswith("@B "):
            self.banner = line
            return False
        if not line.startswith(("@R ", "@E ")):
            self.log_lines.append(line)
            del self.log_lines[:-1000]
            return False
        text: str | None = line
        if self._link:
            text = unseal_reply(line)
            if text is None:
                rid = line.split(" ", 2)[1] if line.count(" ") >= 2 else ""
                framed = line.rfind(" *") >= 0 and len(line) - line.rfind(" *") == 10
                if framed or rid in self._pending:
                    self.link_stats.garbled_lines += 1
                    self._resend("garbled")
                return False  # else: the answer to a plain line (not ours)
        parsed = parse_reply(text)
        if parsed is None:
            return False
        rid, result = parsed
        req = self._pending.get(rid)
        if req is None or req.result is not None:
            return False  # stale or a duplicate (the replay of a resend)
        oldest = self._oldest_unanswered()
        if req.seq and isinstance(result, DeviceError) and result.message.startswith("link: "):
            msg = result.message
            if "no session" in msg:
                req.result = DeviceError(STATUS_INVALID_STATE,
                                         f"{msg} (the device restarted during the session?)")
                self._broken = req.result
                self._relink = True
            elif "no longer cached" in msg:
                req.result = DeviceError(STATUS_INVALID_STATE, f"{msg}: request {rid} is behind "
                                         "the device's sequence (its reply left the cache: more "
                                         f"than {self.link_window} in flight? or another host "
                                         "opened a session)")
                self._broken = req.result
            else:  # checksum or sequence gap: the request (or one before it) never ran
                self._resend("refused")
                return False
        else:
            req.result = result
            if req is not oldest:
                self._resend("lost")  # the oldest's reply went missing
                return False
        if req is oldest:
            self._recovering = False
            return True
        return False

    def command(self, line: str, timeout: float | None = None, *, slow: bool = False) -> Reply:
        """Sends one command, returns its reply; raises DeviceError. A slow
        command (``slow``, or a ``timeout`` beyond the client's: a flash
        erase, selftest, bench) waits a third of its timeout before a resend."""
        t = self.timeout if timeout is None else timeout
        wait = t / 3 if slow or t > self.timeout else None
        result = self.collect(self.submit(line, wait), timeout)
        if isinstance(result, DeviceError):
            raise result
        return result

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

    def push(self, frames: np.ndarray, *, wait: bool = True,
             resend: bool = True) -> dict[str, int]:
        """Pushes frames [n][D] in batches that fit a line. Returns counts:
        ``accepted``, ``dropped`` (refused by a full frame queue) and
        ``resent``. A full queue refuses the rest of a batch once it refuses
        one frame (the accepted frames are a prefix, docs/protocol.md), so
        with ``resend`` the refused suffix is pushed again once the queue has
        drained: every frame arrives, in order, and ``dropped`` is 0. With
        ``wait`` it waits until the queue is empty, so a following classify
        sees every accepted frame."""
        arr = np.ascontiguousarray(frames, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        d = self.input_dim
        if arr.ndim != 2 or arr.shape[1] != d:
            raise RuvError(f"frames must be [n][{d}], got {arr.shape}")
        per_line = max(1, (LINE_MAX - 40) // (8 * d))
        accepted = dropped = 0
        resent = 0
        for i in range(0, arr.shape[0], per_line):
            batch = arr[i : i + per_line]
            while True:
                r = self.command(f"push {batch.shape[0]} {floats_to_hex(batch)}")
                a = int(r.fields["accepted"])
                accepted += a
                if a >= batch.shape[0] or not resend:
                    dropped += batch.shape[0] - a
                    break
                batch = batch[a:]
                resent += batch.shape[0]
                self.wait_idle()
        if wait:
            self.wait_idle()
        return {"accepted": accepted, "dropped": dropped, "resent": resent}

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
        return self.command("selftest", timeout=max(self.timeout, 30.0), slow=True).fields

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
        self.command(f"load begin {len(blob)} {total:08x}", timeout=max(self.timeout, 30.0),
                     slow=True)
        try:
            for off in range(0, len(blob), chunk_size):
                chunk = blob[off : off + chunk_size]
                crc = zlib.crc32(chunk) & 0xFFFFFFFF
                self.command(f"load chunk {off} {crc:08x} {chunk.hex()}")
                if progress is not None:
                    progress(off + len(chunk), len(blob))
            r = self.command("load commit", timeout=max(self.timeout, 30.0), slow=True)
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
