"""A fault-injecting serial link for the HIL suite: a pty that sits between a
DeviceClient and a device's serial port and drops or corrupts chosen (or
seeded-random) request and reply lines, the way a UART loses or garbles a
line (docs/protocol.md, "Link layer"; tests/hil/test_hil_link.py).

Counting starts at :meth:`FaultyLink.arm`; request lines are those starting
with ``#`` (host -> device), reply lines those starting with ``@R ``/``@E ``
(device -> host). Everything else (log lines, the banner) passes untouched.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Injected:
    """What the link did, in order: (direction, index, kind, line head)."""

    events: list[tuple[str, int, str, str]] = field(default_factory=list)

    def count(self, direction: str | None = None, kind: str | None = None) -> int:
        return sum(1 for d, _, k, _ in self.events
                   if (direction is None or d == direction) and (kind is None or k == kind))


def _corrupt(line: bytes, rng: random.Random | None, how: str) -> bytes:
    """One printable byte changed in the middle (``flip``) or the second half
    cut off (``cut``); the terminator stays, so the line still arrives."""
    body = line[:-1]
    if how == "cut":
        return body[: max(4, len(body) // 2)] + b"\n"
    pos = rng.randrange(3, len(body)) if rng is not None and len(body) > 4 else len(body) // 2
    c = body[pos:pos + 1]
    repl = b"1" if c == b"0" else b"0"
    return body[:pos] + repl + body[pos + 1:] + b"\n"


class FaultyLink:
    """``FaultyLink(device_port, drop_replies={...}, ...)``: ``.port`` is the
    pty path to hand to the client. Indices are 0-based counts of request
    (or reply) lines since :meth:`arm`. ``rate`` > 0 adds seeded random
    faults (drop or corrupt, either direction) with that probability per line."""

    def __init__(self, device_port: str, *, drop_replies: Iterable[int] = (),
                 corrupt_replies: Iterable[int] = (), cut_replies: Iterable[int] = (),
                 drop_requests: Iterable[int] = (), corrupt_requests: Iterable[int] = (),
                 rate: float = 0.0, seed: int = 0) -> None:
        self.plan = {
            ("reply", "drop"): set(drop_replies),
            ("reply", "corrupt"): set(corrupt_replies),
            ("reply", "cut"): set(cut_replies),
            ("request", "drop"): set(drop_requests),
            ("request", "corrupt"): set(corrupt_requests),
        }
        self.rate = float(rate)
        self.rng = random.Random(seed)
        self.injected = Injected()
        self.counts = {"request": 0, "reply": 0}
        self.armed = False
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._dev = os.open(device_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._dev)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def arm(self) -> None:
        """Starts counting lines (and injecting) from here."""
        with self._lock:
            self.counts = {"request": 0, "reply": 0}
            self.injected = Injected()
            self.armed = True

    def disarm(self) -> None:
        with self._lock:
            self.armed = False

    def _fault(self, direction: str, line: bytes) -> bytes | None:
        is_line = line.startswith(b"#") if direction == "request" else line.startswith(
            (b"@R ", b"@E "))
        with self._lock:
            if not self.armed or not is_line:
                return line
            i = self.counts[direction]
            self.counts[direction] += 1
            kind = next((k for (d, k), idx in self.plan.items() if d == direction and i in idx),
                        None)
            if kind is None and self.rate > 0 and self.rng.random() < self.rate:
                kind = self.rng.choice(("drop", "corrupt"))
            if kind is None:
                return line
            self.injected.events.append((direction, i, kind, line[:24].decode("ascii", "replace")))
        if kind == "drop":
            return None
        return _corrupt(line, self.rng if self.rate > 0 else None,
                        "cut" if kind == "cut" else "flip")

    def _run(self) -> None:
        # Non-blocking both ways with output buffers: the proxy never blocks
        # on one side while the other side waits for it.
        for fd in (self._master, self._dev):
            os.set_blocking(fd, False)
        inbuf = {self._master: b"", self._dev: b""}
        outbuf = {self._master: b"", self._dev: b""}
        route = {self._master: (self._dev, "request"), self._dev: (self._master, "reply")}
        while not self._stop.is_set():
            try:
                ready, writable, _ = select.select(list(inbuf), [f for f in outbuf if outbuf[f]],
                                                   [], 0.1)
            except (OSError, ValueError):
                return
            for fd in writable:
                try:
                    n = os.write(fd, outbuf[fd])
                except BlockingIOError:
                    continue
                except OSError:
                    return
                outbuf[fd] = outbuf[fd][n:]
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    continue
                inbuf[fd] += data
                out_fd, direction = route[fd]
                while True:
                    nl = inbuf[fd].find(b"\n")
                    if nl < 0:
                        break
                    line, inbuf[fd] = inbuf[fd][:nl + 1], inbuf[fd][nl + 1:]
                    sent = self._fault(direction, line)
                    if sent is not None:
                        outbuf[out_fd] += sent

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave, self._dev):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> FaultyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
