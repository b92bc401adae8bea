"""Hardware-in-the-loop comparison engine: the device against the NumPy reference.

The engine streams seeded synthetic frames into a device (a board, the
ESP-IDF linux-target ELF or the virtual device ``ruv_vdev``) through a
:class:`~ruv_temporal.device.DeviceClient`, classifies every ``k`` frames,
reads the full logits (IEEE-754 bit patterns, docs/protocol.md) and compares
them with :class:`ruv_temporal.model.TemporalHead` run on exactly the same
frames in the same run mode (docs/spec.md §4, §10: logits within ``1e-4`` abs,
identical argmax).

On a mismatch it *localises*, llm.c style: it resets the device, replays the
frames with a classification after every frame to find the first frame whose
output diverges, then reads the per-stage residual states there with the
``layer <stage>`` command and prints one line per stage::

    layer 0 OK       maxdiff=0.000e+00   (normalised input)
    layer 1 OK       maxdiff=2.384e-07
    layer 2 MISMATCH maxdiff=3.125e-02
    logits  MISMATCH maxdiff=4.211e-02 argmax device=1 reference=3

Commands are pipelined (several requests in flight, replies matched by id),
which is what keeps a 100,000-frame soak fast over a 50 ms-polled serial
reader. On a platform that queues console frames (a board with the temporal
task, ``ruv_vdev --consume-delay-us``; ``stats`` ``depth > 0``) pushes are not
pipelined and the engine waits for ``pending=0`` before each classification,
so no frame is dropped by the comparison itself.

With ``exact=True`` the engine also runs the host build of the C core
(``libruv_temporal`` through :mod:`ruv_temporal.native`: same blob, same
frames, same mode and KV-cache format) and compares the device's logits and
every ``layer <stage>`` state at every classification with it bit for bit —
zero tolerance, differing values and bits counted per tensor, the first
differing frame/stage/index printed with both IEEE-754 bit patterns
(:class:`ExactTensor`, :class:`ExactResult`). The virtual device runs that
very C, so it must give 0 differing bits; a board or an emulated chip
proves the chip's compiler, libm and FPU give the same bits.

Used by ``tests/hil`` and ``ruv-temporal hil`` (docs/hil.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ruv_temporal import rvne
from ruv_temporal.device import (
    LINE_MAX,
    DeviceClient,
    LinkStats,
    Reply,
    SerialTransport,
    find_vdev,
    floats_to_hex,
    hex_to_floats,
)
from ruv_temporal.errors import DeviceError, RuvError

FloatArray = npt.NDArray[np.float32]

LOGIT_ATOL = 1e-4
"""docs/spec.md §10: model logits within 1e-4 abs of the NumPy reference."""
STATE_ATOL = 1e-4
"""Per-stage residual states: same absolute tolerance (plus STATE_RTOL·|ref|)."""
STATE_RTOL = 1e-5

STATUS_TIMEOUT = 0x107

__all__ = [
    "LOGIT_ATOL",
    "STATE_ATOL",
    "Check",
    "ExactReference",
    "ExactResult",
    "ExactTensor",
    "HilResult",
    "Localisation",
    "Pipeline",
    "Reference",
    "StageDiff",
    "VdevProcess",
    "compare",
    "memory_probe",
    "per_line",
    "proc_memory",
    "seeded_model",
    "stream_context_start",
    "synthetic_frames",
]


# --------------------------------------------------------------------------
# seeded inputs


def synthetic_frames(n: int, dim: int, seed: int = 1, source: str = "auto",
                     blob: bytes | None = None) -> FloatArray:
    """``n`` deterministic frames ``[n][dim]`` float32.

    ``source="csi"``: csi-stats v1 features (16 values) of synthetic CSI
    sessions (:mod:`ruv_temporal.synth`), the activities cycling, one room
    per session — what a CSI node feeds its temporal head. ``"random"``:
    seeded standard-normal frames — in the model's *normalised* space when
    ``blob`` has a NORM section (raw = mean + z / inv_std), so the residual
    stream stays O(1) and the 1e-4 abs tolerance keeps its meaning.
    ``"auto"``: CSI when ``dim == 16``."""
    if n < 0 or dim < 1:
        raise RuvError("need n >= 0 and dim >= 1")
    if source == "auto":
        source = "csi" if dim == 16 else "random"
    if source == "random":
        z = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
        norm = rvne.parse(blob).norm if blob is not None else None
        if norm is not None:
            mean, inv_std = (np.asarray(a, np.float32) for a in norm)
            safe = np.where(inv_std != 0, inv_std, np.float32(1.0))
            z = (mean + z / safe).astype(np.float32)
        return z
    if source != "csi":
        raise RuvError(f"unknown frame source {source!r} (csi, random, auto)")
    if dim != 16:
        raise RuvError("CSI frames have 16 features (csi-stats v1)")
    from ruv_temporal import synth

    parts: list[FloatArray] = []
    total = 0
    k = 0
    while total < n:
        act = synth.ACTIVITIES[k % len(synth.ACTIVITIES)]
        sess = synth.generate_session(act, room_seed=seed * 101 + k, seconds=60.0,
                                      rate_hz=10.0, rng=seed * 7919 + k)
        f = np.asarray(sess.features(), np.float32)
        parts.append(f)
        total += f.shape[0]
        k += 1
    if not parts:
        return np.zeros((0, dim), np.float32)
    return np.ascontiguousarray(np.concatenate(parts)[:n], dtype=np.float32)


def seeded_model(seed: int, input_dim: int = 16, n_classes: int = 4, *, n_q_heads: int = 4,
                 n_kv_heads: int = 2, head_dim: int = 8, n_layers: int = 2,
                 fp16_weights: bool = False, attn: tuple[int, int, Sequence[int]] | None = (16, 8,
                                                                                            (0, 5)),
                 feature_set: int | None = 1, norm_frames: FloatArray | None = None,
                 bias: bool = True, scale: float = 0.3, labels: Sequence[str] | None = None,
                 meta: str | None = None) -> bytes:
    """A deterministic RVNE blob exercising the optional sections.

    Weights ~ N(0, scale/sqrt(fan_in)) from ``seed``; BIAS (small), NORM
    (mean/inv_std of ``norm_frames``, else of seeded synthetic frames), ATTN
    ``(window, block, globals)`` (None: no section, the aether default),
    INPUT (``feature_set``; None: no section), LABELS, META."""
    rng = np.random.default_rng(seed)
    D, q, kv, d, L, C = input_dim, n_q_heads, n_kv_heads, head_dim, n_layers, n_classes  # noqa: N806

    def w(rows: int, cols: int) -> FloatArray:
        return (rng.standard_normal((rows, cols)) * (scale / np.sqrt(rows))).astype(np.float32)

    def b(n: int) -> FloatArray | None:
        return (rng.standard_normal(n) * 0.05).astype(np.float32) if bias else None

    layers = [rvne.LayerWeights(wq=w(D, q * d), wk=w(D, kv * d), wv=w(D, kv * d),
                                wo=w(q * d, D), bq=b(q * d), bk=b(kv * d), bv=b(kv * d),
                                bo=b(D))
              for _ in range(L)]
    wc = (rng.standard_normal((D, C)) * (1.0 / np.sqrt(D))).astype(np.float32)
    if norm_frames is None:
        norm_frames = synthetic_frames(600, D, seed=seed + 1000)
    mean = norm_frames.mean(axis=0).astype(np.float32)
    std = norm_frames.std(axis=0).astype(np.float32)
    inv_std = (1.0 / np.where(std > 1e-6, std, 1.0)).astype(np.float32)
    if labels is None:
        labels = [f"class{i}" for i in range(C)]
    blob = rvne.Blob(
        input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
        fp16=fp16_weights, layers=layers, wc=wc, bc=b(C), norm=(mean, inv_std),
        attn=None if attn is None else rvne.attn_config(int(attn[0]), int(attn[1]),
                                                        tuple(attn[2]), True, True, True),
        input=None if feature_set is None else rvne.InputSection(int(feature_set), 1000),
        labels=list(labels), meta=meta if meta is not None else f"hil seeded model {seed}")
    return rvne.build(blob)


def stream_context_start(t: int, window_len: int) -> int:
    """Index of the oldest frame in the stream-mode context after frame ``t``
    (0-based) was pushed: 0 before the first rebase; a rebase happens when a
    frame arrives with the caches full and keeps the ``N // 2`` newest frames,
    so the context restarts at ``t - N // 2`` for the rebasing frame ``t``.
    (docs/spec.md §4; docs/hil.md uses it for cheap stream checks in the soak.)"""
    n, keep = int(window_len), int(window_len) // 2
    if t < n:
        return 0
    # rebases happen at t = n, n + (n - keep), n + 2 (n - keep), ...
    period = n - keep
    last = n + ((t - n) // period) * period
    return last - keep


# --------------------------------------------------------------------------
# reference


class Reference:
    """The NumPy model in one run mode, mirroring what the device holds."""

    def __init__(self, blob: bytes, mode: str, window_len: int, kv_fp16: bool = False) -> None:
        from ruv_temporal.model import TemporalHead

        self.head = TemporalHead.from_blob(blob)
        self.mode = mode
        self.window_len = int(window_len)
        self.kv_fp16 = bool(kv_fp16) and mode == "stream"
        self.reset()

    def reset(self) -> None:
        if self.mode == "window":
            self.session: Any = self.head.window_session(self.window_len)
        elif self.mode == "stream":
            self.session = self.head.stream_session(self.window_len, kv_fp16=self.kv_fp16)
        else:
            raise RuvError(f"mode must be window or stream, not {self.mode!r}")
        self.frames_pushed = 0

    def push(self, frame: FloatArray) -> None:
        self.session.push(frame)
        self.frames_pushed += 1

    def classify(self) -> tuple[FloatArray, FloatArray]:
        """(logits [C], states [L+1][D]) of the newest frame."""
        logits = np.asarray(self.session.classify(), np.float32)
        return logits, np.asarray(self.session.states, np.float32)

    @property
    def rebases(self) -> int:
        return int(getattr(self.session, "rebases", 0))

    @property
    def context_len(self) -> int:
        if self.mode == "stream":
            return int(self.session.context_len)
        return int(self.session.filled)


class ExactReference:
    """The host build of the C core (:class:`ruv_temporal.native.NativeHead`)
    in one run mode: what a device must match bit for bit."""

    def __init__(self, blob: bytes, mode: str, window_len: int, kv_fp16: bool = False) -> None:
        from ruv_temporal import native

        self.head = native.NativeHead(blob, window_len, mode=mode,
                                      kv_fp16=bool(kv_fp16) and mode == "stream")
        self.mode = mode

    def reset(self) -> None:
        self.head.reset()

    def push(self, frame: FloatArray) -> None:
        self.head.push(frame)

    def classify(self) -> tuple[FloatArray, FloatArray]:
        """(logits [C], states [L+1][D]) of the newest frame, as the device's
        ``classify`` and ``layer 0..L`` replies give them."""
        logits = self.head.classify()
        return logits, self.head.layer_states()

    @property
    def rebases(self) -> int:
        return int(self.head.stats()["rebases"])

    def close(self) -> None:
        self.head.close()


# --------------------------------------------------------------------------
# pipelined commands


def per_line(dim: int) -> int:
    """Frames per ``push`` line for ``dim`` (the line limit of docs/protocol.md)."""
    return max(1, (LINE_MAX - 40) // (8 * dim))


class Pipeline:
    """Up to ``depth`` requests in flight on a DeviceClient.

    ``submit(line, tag)`` sends the request (``DeviceClient.submit``);
    replies arrive in order and are matched by id; ``results()`` drains and
    returns ``(tag, Reply or DeviceError)`` in submission order. Lost or
    garbled lines are resent by the client's link layer (its ``link_window``
    caps the depth). Log lines go to ``client.log_lines``.
    """

    def __init__(self, client: DeviceClient, depth: int = 16, timeout: float | None = None,
                 on_result: Callable[[Any, Reply | DeviceError], None] | None = None) -> None:
        self.client = client
        self.depth = max(1, min(int(depth), client.link_window))
        self.timeout = float(timeout if timeout is not None else max(client.timeout, 10.0))
        self.on_result = on_result
        self._outstanding: deque[tuple[str, Any]] = deque()
        self._done: list[tuple[Any, Reply | DeviceError]] = []

    def submit(self, line: str, tag: Any = None) -> None:
        while len(self._outstanding) >= self.depth:
            self._collect_one()
        self._outstanding.append((self.client.submit(line), tag))

    def _collect_one(self) -> None:
        rid, tag = self._outstanding[0]
        result = self.client.collect(rid, self.timeout)
        self._outstanding.popleft()
        if self.on_result is not None:
            self.on_result(tag, result)
        else:
            self._done.append((tag, result))

    def results(self) -> list[tuple[Any, Reply | DeviceError]]:
        while self._outstanding:
            self._collect_one()
        out, self._done = self._done, []
        return out

    def __len__(self) -> int:
        return len(self._outstanding)


def _ok(result: Reply | DeviceError) -> Reply:
    if isinstance(result, DeviceError):
        raise result
    return result


# --------------------------------------------------------------------------
# results


@dataclass
class StageDiff:
    """One line of the per-layer report."""

    name: str          # "layer k" or "logits"
    maxdiff: float
    ok: bool
    note: str = ""

    def line(self) -> str:
        verdict = "OK      " if self.ok else "MISMATCH"
        tail = f"   {self.note}" if self.note else ""
        return f"{self.name:<8} {verdict} maxdiff={self.maxdiff:.3e}{tail}"


@dataclass
class Check:
    """One classification compared."""

    frame: int                  # 0-based index of the newest frame
    maxdiff: float
    argmax_device: int
    argmax_ref: int
    ok: bool
    ref_gap: float = 0.0        # reference top1 - top2


@dataclass
class Localisation:
    first_frame: int
    stages: list[StageDiff]
    context_len: int
    rebases: int
    exhaustive: bool            # replayed from frame 0 with a classify per frame

    @property
    def first_stage(self) -> int | None:
        for i, s in enumerate(self.stages):
            if not s.ok and s.name.startswith("layer"):
                return i
        return None


def _bits(x: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    return np.ascontiguousarray(x, dtype=np.float32).reshape(-1).view(np.uint32)


def _popcount(x: npt.NDArray[np.uint32]) -> int:
    return int(np.unpackbits(np.ascontiguousarray(x).view(np.uint8)).sum())


@dataclass
class ExactTensor:
    """Zero-tolerance comparison of one tensor (``layer k`` or ``logits``)
    over every classification: float32 values compared as IEEE-754 bit
    patterns (so -0.0 != +0.0 and NaN payloads count)."""

    name: str
    values: int = 0            # values compared, over all classifications
    differing: int = 0         # values whose bit patterns differ
    bits: int = 0              # differing bits in total
    first: tuple[int, int, int, int] | None = None  # frame, index, device bits, host bits

    def add(self, frame: int, device: npt.ArrayLike, host: npt.ArrayLike) -> int:
        """Compares one classification's values; returns the differing count."""
        d, h = _bits(device), _bits(host)
        if d.shape != h.shape:  # a short reply: every value of the longer one differs
            n = max(d.size, h.size)
            self.values += n
            self.differing += n
            self.bits += 32 * n
            if self.first is None:
                self.first = (int(frame), -1, d.size, h.size)
            return n
        x = d ^ h
        nz = np.flatnonzero(x)
        self.values += int(d.size)
        self.differing += int(nz.size)
        self.bits += _popcount(x)
        if nz.size and self.first is None:
            i = int(nz[0])
            self.first = (int(frame), i, int(d[i]), int(h[i]))
        return int(nz.size)

    @property
    def ok(self) -> bool:
        return self.values > 0 and self.differing == 0

    def line(self) -> str:
        if self.ok:
            return f"{self.name:<8} OK, 0 differing values ({self.values} compared)"
        if self.values == 0:
            return f"{self.name:<8} MISMATCH, nothing compared"
        out = (f"{self.name:<8} MISMATCH, {self.differing} differing values of {self.values} "
               f"({self.bits} bits)")
        if self.first is not None:
            f, i, db, hb = self.first
            if i < 0:
                out += f"; frame {f}: device gave {db} values, host C {hb}"
            else:
                out += f"; first at frame {f} index {i}: device {db:08x} host C {hb:08x}"
        return out


@dataclass
class ExactResult:
    """The device against the host build of the C core, bit for bit."""

    tensors: list[ExactTensor]
    classifications: int = 0
    device_rebases: int | None = None
    host_rebases: int | None = None
    first_frame: int | None = None      # first classification with any difference
    first_tensor: str | None = None
    replayed_frame: int | None = None   # per-frame replay: the first differing frame
    replayed: ExactResult | None = None  # ... and what differed there

    @classmethod
    def for_layers(cls, n_layers: int) -> ExactResult:
        return cls([ExactTensor(f"layer {s}") for s in range(n_layers + 1)]
                   + [ExactTensor("logits")])

    def add(self, frame: int, dev_logits: npt.ArrayLike, dev_states: Sequence[npt.ArrayLike],
            host_logits: npt.ArrayLike, host_states: Sequence[npt.ArrayLike]) -> int:
        """One classification: stages 0..L (a missing device stage counts as
        all values differing) then the logits. Returns the differing values."""
        self.classifications += 1
        n = 0
        for s, t in enumerate(self.tensors[:-1]):
            dev = dev_states[s] if s < len(dev_states) else np.zeros(0, np.float32)
            d = t.add(frame, dev, host_states[s])
            if d and self.first_frame is None:
                self.first_frame, self.first_tensor = int(frame), t.name
            n += d
        d = self.tensors[-1].add(frame, dev_logits, host_logits)
        if d and self.first_frame is None:
            self.first_frame, self.first_tensor = int(frame), "logits"
        return n + d

    @property
    def ok(self) -> bool:
        rebases_ok = self.device_rebases is None or self.device_rebases == self.host_rebases
        return all(t.ok for t in self.tensors) and rebases_ok

    def lines(self) -> list[str]:
        verdict = "0 differing bits" if self.ok else "MISMATCH"
        out = [f"exact vs host C core (libruv_temporal, zero tolerance): {verdict}, "
               f"{self.classifications} classifications"]
        if self.host_rebases is not None:
            out.append(f"  rebases: device {self.device_rebases}, host C {self.host_rebases}")
        if self.first_frame is not None:
            out.append(f"  first differing classification: after frame {self.first_frame}, "
                       f"{self.first_where()}")
        if self.replayed_frame is not None:
            where = self.replayed.first_where() if self.replayed is not None else "?"
            out.append(f"  first differing frame: {self.replayed_frame} (replayed, classify "
                       f"after every frame), {where}")
        out += ["  " + t.line() for t in self.tensors]
        return out

    def first_where(self) -> str:
        """``layer 1 index 7: device 3f800001 host C 3f800000`` of the first difference."""
        t = next((t for t in self.tensors if t.name == self.first_tensor), None)
        if t is None:
            return "-"
        if t.first is not None and t.first[1] >= 0:
            return f"{t.name} index {t.first[1]}: device {t.first[2]:08x} host C {t.first[3]:08x}"
        return t.name


@dataclass
class HilResult:
    mode: str
    kv_fp16: bool
    window_len: int
    model_id: str
    frames: int
    classify_every: int
    checks: list[Check] = field(default_factory=list)
    final_stages: list[StageDiff] = field(default_factory=list)
    localisation: Localisation | None = None
    device_rebases: int | None = None
    ref_rebases: int = 0
    seconds: float = 0.0
    atol: float = LOGIT_ATOL
    exact: ExactResult | None = None
    link: LinkStats | None = None  # what the console link met during the run

    @property
    def tolerance_ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def ok(self) -> bool:
        return self.tolerance_ok and (self.exact is None or self.exact.ok)

    @property
    def max_logit_diff(self) -> float:
        return max((c.maxdiff for c in self.checks), default=float("nan"))

    @property
    def n_ok(self) -> int:
        return sum(1 for c in self.checks if c.ok)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    def report(self) -> str:
        fp = " fp16-kv" if self.kv_fp16 else ""
        lines = [
            f"HIL {'AGREE' if self.ok else 'MISMATCH'}: model {self.model_id}, mode "
            f"{self.mode}{fp}, N={self.window_len}, {self.frames} frames, classify every "
            f"{self.classify_every}, tolerance {self.atol:g} abs"
            + (" + exact vs host C" if self.exact is not None else ""),
            f"  classifications: {self.n_ok}/{len(self.checks)} agree "
            f"(logits max |diff| {self.max_logit_diff:.3e}; argmax identical in "
            f"{sum(c.argmax_device == c.argmax_ref for c in self.checks)}/{len(self.checks)})",
        ]
        if self.mode == "stream":
            lines.append(f"  rebases: device {self.device_rebases}, reference {self.ref_rebases}")
        bad = self.first_failure
        if bad is not None:
            tie = (" (reference top-2 gap below tolerance: a near tie)"
                   if bad.argmax_device != bad.argmax_ref and bad.ref_gap <= self.atol else "")
            lines.append(f"  first failing check: classification after frame {bad.frame} "
                         f"(maxdiff {bad.maxdiff:.3e}, argmax device={bad.argmax_device} "
                         f"reference={bad.argmax_ref}){tie}")
        loc = self.localisation
        if loc is not None:
            how = ("replayed from frame 0, classify after every frame" if loc.exhaustive
                   else "replayed the failing interval, classify after every frame")
            lines.append(f"  first diverging frame: {loc.first_frame} ({how}); context "
                         f"{loc.context_len} frames, rebases {loc.rebases}")
            fs = loc.first_stage
            if fs is not None:
                lines.append(f"  first diverging stage: layer {fs}"
                             + (" (normalised input)" if fs == 0 else ""))
            lines += ["  " + s.line() for s in loc.stages]
        elif self.final_stages:
            lines.append(f"  per-stage states at the last classification (frame "
                         f"{self.checks[-1].frame if self.checks else '-'}):")
            lines += ["  " + s.line() for s in self.final_stages]
        if self.exact is not None:
            lines += ["  " + x for x in self.exact.lines()]
        if self.link is not None:
            lines.append(f"  {self.link.line()}")
        lines.append(f"  time: {self.seconds:.1f} s")
        return "\n".join(lines)


def _maxdiff(a: FloatArray, b: FloatArray) -> float:
    if a.shape != b.shape:
        return float("inf")
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    if d.size == 0:
        return 0.0
    if not np.all(np.isfinite(d)):
        return float("inf")
    return float(d.max())


def _gap(logits: FloatArray) -> float:
    s = np.sort(logits.astype(np.float64))
    return float(s[-1] - s[-2]) if s.size >= 2 else float("inf")


def stage_diffs(dev_states: FloatArray, ref_states: FloatArray, dev_logits: FloatArray | None,
                ref_logits: FloatArray | None, atol: float = LOGIT_ATOL,
                state_atol: float = STATE_ATOL, state_rtol: float = STATE_RTOL) -> list[StageDiff]:
    """The llm.c-style per-stage lines (stage 0 = normalised input)."""
    out: list[StageDiff] = []
    for s in range(ref_states.shape[0]):
        dev = dev_states[s] if s < dev_states.shape[0] else np.zeros(0, np.float32)
        md = _maxdiff(dev, ref_states[s])
        tol = state_atol + state_rtol * float(np.abs(ref_states[s]).max(initial=0.0))
        note = "(normalised input)" if s == 0 else ""
        out.append(StageDiff(f"layer {s}", md, md <= tol, note))
    if dev_logits is not None and ref_logits is not None:
        md = _maxdiff(dev_logits, ref_logits)
        am_d, am_r = int(np.argmax(dev_logits)), int(np.argmax(ref_logits))
        ok = md <= atol and am_d == am_r
        out.append(StageDiff("logits", md, ok, f"argmax device={am_d} reference={am_r}"))
    return out


# --------------------------------------------------------------------------
# the engine


def _device_setup(client: DeviceClient, mode: str, kv_fp16: bool) -> dict[str, str]:
    client.set_mode(mode, kv_fp16)
    client.reset()
    return client.info()


def _queue_depth(client: DeviceClient) -> int:
    try:
        return int(client.stats().get("depth", "0"))
    except (DeviceError, ValueError):
        return 0


class _Driver:
    """Pushes frames / classifies. Without a platform queue (``qdepth`` 0)
    everything is pipelined. With one, pushes are sent one line at a time and
    never more frames than the queue has room for (``depth - pending`` from
    the previous push reply), so the comparison itself never drops a frame;
    before a classification the queue is drained (``stats`` pending=0)."""

    def __init__(self, client: DeviceClient, dim: int, depth: int, qdepth: int,
                 timeout: float) -> None:
        self.client = client
        self.dim = dim
        self.qdepth = int(qdepth)
        self.queued = self.qdepth > 0
        self.pipe = Pipeline(client, depth=1 if self.queued else depth, timeout=timeout)
        self.per_line = per_line(dim)
        self.pending = 0
        self.accepted = 0
        self.dropped = 0
        self._results: list[tuple[Any, Reply | DeviceError]] = []

    def start(self) -> None:
        self._results = []

    def push(self, frames: FloatArray) -> None:
        if not self.queued:
            for i in range(0, frames.shape[0], self.per_line):
                batch = frames[i:i + self.per_line]
                self.pipe.submit(f"push {batch.shape[0]} {floats_to_hex(batch)}",
                                 ("push", batch.shape[0]))
            return
        i = 0
        while i < frames.shape[0]:
            room = self.qdepth - self.pending
            if room <= 0:
                self.pending = self._poll_pending()
                if self.pending >= self.qdepth:
                    time.sleep(0.002)
                continue
            batch = frames[i:i + min(self.per_line, room)]
            self.pipe.submit(f"push {batch.shape[0]} {floats_to_hex(batch)}",
                             ("push", batch.shape[0]))
            for tag, r in self.pipe.results():
                self._results.append((tag, r))
                if tag[0] == "push" and isinstance(r, Reply):
                    self.pending = int(r.fields.get("pending", "0"))
            i += batch.shape[0]

    def _poll_pending(self) -> int:
        for t, r in self.pipe.results():
            self._results.append((t, r))
        return int(self.client.stats().get("pending", "0"))

    def classify(self, tag: Any) -> None:
        if self.queued:
            self.settle()
        self.pipe.submit("classify", ("classify", tag))

    def layers(self, n_layers: int, tag: Any) -> None:
        for s in range(n_layers + 1):
            self.pipe.submit(f"layer {s}", ("layer", (tag, s)))

    def settle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.pending = self._poll_pending()
            if self.pending == 0:
                return
            if time.monotonic() > deadline:
                raise DeviceError(STATUS_TIMEOUT, "frame queue did not drain")
            time.sleep(0.002)

    def results(self) -> list[tuple[Any, Reply | DeviceError]]:
        self._results += self.pipe.results()
        out, self._results = self._results, []
        for tag, r in out:
            if tag[0] == "push":
                rep = _ok(r)
                self.accepted += int(rep.fields.get("accepted", "0"))
                self.dropped += int(rep.fields.get("dropped", "0"))
        return out


def _classification_points(n: int, every: int) -> list[int]:
    pts = list(range(every - 1, n, every))
    if n > 0 and (not pts or pts[-1] != n - 1):
        pts.append(n - 1)
    return pts


def compare(client: DeviceClient, blob: bytes, frames: FloatArray, *, mode: str = "window",
            kv_fp16: bool = False, classify_every: int = 50, atol: float = LOGIT_ATOL,
            reference_blob: bytes | None = None, reference_frames: FloatArray | None = None,
            localise: bool = True, exhaustive_limit: int = 20000, depth: int = 16,
            timeout: float = 30.0, progress: Callable[[int, int], None] | None = None,
            setup: bool = True, exact: bool = False) -> HilResult:
    """Runs ``frames`` through the device (which must run ``blob``) and the
    reference, classifying every ``classify_every`` frames and after the last.

    ``reference_blob`` / ``reference_frames`` let a self-check feed the
    reference something else than the device (the engine must then report a
    mismatch). With ``setup`` the device is switched to ``mode``/``kv_fp16``
    and reset first; its model id must be ``blob``'s CRC.

    ``exact``: also run the host build of the C core (:class:`ExactReference`,
    on ``reference_blob``/``reference_frames`` when given) and compare the
    logits and every stage's state at every classification bit for bit
    (``result.exact``); any difference makes the result fail."""
    t0 = time.monotonic()
    link0 = replace(client.link_stats)
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    ref_frames = frames if reference_frames is None else np.ascontiguousarray(
        reference_frames, dtype=np.float32)
    if ref_frames.shape != frames.shape:
        raise RuvError("reference_frames must have the shape of frames")
    if classify_every < 1:
        raise RuvError("classify_every must be >= 1")
    info = _device_setup(client, mode, kv_fp16) if setup else client.info()
    model_id = f"{rvne.parse(blob).crc32:08x}"
    if info.get("model") != model_id:
        raise RuvError(f"device runs model {info.get('model')}, expected {model_id} "
                       "(load the blob first: ruv-temporal provision)")
    dim, window_len, n_layers = int(info["D"]), int(info["N"]), int(info["layers"])
    if frames.ndim != 2 or frames.shape[1] != dim:
        raise RuvError(f"frames must be [n][{dim}] for this device, got {frames.shape}")
    ref_blob = reference_blob if reference_blob is not None else blob
    ref = Reference(ref_blob, mode, window_len, kv_fp16)
    host = ExactReference(ref_blob, mode, window_len, kv_fp16) if exact else None
    queued = _queue_depth(client)
    result = HilResult(mode=mode, kv_fp16=kv_fp16, window_len=window_len, model_id=model_id,
                       frames=frames.shape[0], classify_every=classify_every, atol=atol)
    try:
        _run_checks(client, result, ref, host, frames, ref_frames, n_layers, dim, depth,
                    timeout, queued, classify_every, atol, localise, exhaustive_limit, mode,
                    progress)
    finally:
        if host is not None:
            host.close()
    result.seconds = time.monotonic() - t0
    if client.link:
        result.link = client.link_stats.since(link0)
    return result


def _run_checks(client: DeviceClient, result: HilResult, ref: Reference,
                host: ExactReference | None, frames: FloatArray, ref_frames: FloatArray,
                n_layers: int, dim: int, depth: int, timeout: float, queued: int,
                classify_every: int, atol: float, localise: bool, exhaustive_limit: int,
                mode: str, progress: Callable[[int, int], None] | None) -> None:

    drv = _Driver(client, dim, depth, queued, timeout)
    drv.start()
    points = _classification_points(frames.shape[0], classify_every)
    ref_out: dict[int, tuple[FloatArray, FloatArray]] = {}
    host_out: dict[int, tuple[FloatArray, FloatArray]] = {}
    pos = 0
    for k, end in enumerate(points):
        drv.push(frames[pos:end + 1])
        for t in range(pos, end + 1):
            ref.push(ref_frames[t])
            if host is not None:
                host.push(ref_frames[t])
        pos = end + 1
        drv.classify(end)
        ref_out[end] = ref.classify()
        if host is not None:
            host_out[end] = host.classify()
        if host is not None or k == len(points) - 1:
            drv.layers(n_layers, end)
        if progress is not None:
            progress(pos, frames.shape[0])
    dev_logits: dict[int, FloatArray] = {}
    dev_argmax: dict[int, int] = {}
    dev_states: dict[int, dict[int, FloatArray]] = {}
    for tag, r in drv.results():
        if tag[0] == "classify":
            rep = _ok(r)
            dev_logits[tag[1]] = hex_to_floats(rep.fields["logits"])
            dev_argmax[tag[1]] = int(rep.fields["argmax"])
        elif tag[0] == "layer":
            rep = _ok(r)
            end, s = tag[1]
            dev_states.setdefault(end, {})[s] = hex_to_floats(rep.fields["state"])
    if drv.dropped:
        raise DeviceError(0x103, f"the device dropped {drv.dropped} frames during the "
                          "comparison; the results would not be comparable")
    for end in points:
        lg, rl = dev_logits[end], ref_out[end][0]
        md = _maxdiff(lg, rl)
        am_d = int(np.argmax(lg)) if lg.size else -1
        am_r = int(np.argmax(rl))
        ok = md <= atol and am_d == am_r and dev_argmax[end] == am_d
        result.checks.append(Check(end, md, am_d, am_r, ok, _gap(rl)))
    last = points[-1] if points else None
    if last is not None and last in dev_states:
        st = dev_states[last]
        ds = np.stack([st[s] for s in range(n_layers + 1)])
        result.final_stages = stage_diffs(ds, ref_out[last][1], dev_logits[last],
                                          ref_out[last][0], atol)
    if mode == "stream":
        try:
            result.device_rebases = int(client.stats().get("rebases", "-1"))
        except DeviceError:
            result.device_rebases = None
        result.ref_rebases = ref.rebases
    if host is not None:
        ex = ExactResult.for_layers(n_layers)
        for end in points:
            st = dev_states.get(end, {})
            ds = [st.get(s, np.zeros(0, np.float32)) for s in range(n_layers + 1)]
            ex.add(end, dev_logits[end], ds, *host_out[end])
        if mode == "stream":
            ex.device_rebases, ex.host_rebases = result.device_rebases, host.rebases
        result.exact = ex
    bad = result.first_failure
    if bad is not None and localise:
        idx = points.index(bad.frame)
        lo = points[idx - 1] + 1 if idx > 0 else 0
        result.localisation = _localise(client, ref, frames, ref_frames, lo, bad.frame,
                                        n_layers, atol, exhaustive_limit, depth, timeout, queued)
    elif (host is not None and result.exact is not None and result.exact.first_frame is not None
          and localise):
        idx = points.index(result.exact.first_frame)
        lo = points[idx - 1] + 1 if idx > 0 else 0
        result.exact.replayed_frame, result.exact.replayed = _localise_exact(
            client, host, frames, ref_frames, lo, result.exact.first_frame, n_layers, depth,
            timeout, queued)


def _replay_to(client: DeviceClient, ref: Reference | ExactReference, frames: FloatArray,
               ref_frames: FloatArray, start: int, depth: int, queued: int,
               timeout: float) -> _Driver:
    """Resets device and reference and pushes frames ``0..start-1`` into
    both (the device's in bulk); returns the driver for the rest."""
    client.reset()
    ref.reset()
    drv = _Driver(client, frames.shape[1], depth, queued, timeout)
    drv.start()
    if start > 0:
        drv.push(frames[:start])
        for t in range(start):
            ref.push(ref_frames[t])
    return drv


def _localise(client: DeviceClient, ref: Reference, frames: FloatArray, ref_frames: FloatArray,
              lo: int, hi: int, n_layers: int, atol: float, exhaustive_limit: int, depth: int,
              timeout: float, queued: int) -> Localisation:
    """Replays from a reset and classifies after every frame to find the first
    diverging output, then reads the per-stage states there."""
    exhaustive = hi + 1 <= exhaustive_limit
    start = 0 if exhaustive else lo
    drv = _replay_to(client, ref, frames, ref_frames, start, depth, queued, timeout)
    refs: dict[int, tuple[FloatArray, FloatArray, int, int]] = {}
    # Chunked so a mismatch early in a long range stops the replay soon.
    first: int | None = None
    dev_l: dict[int, FloatArray] = {}
    t = start
    chunk = 256
    while t <= hi and first is None:
        stop = min(hi, t + chunk - 1)
        for u in range(t, stop + 1):
            drv.push(frames[u:u + 1])
            ref.push(ref_frames[u])
            drv.classify(u)
            lg, st = ref.classify()
            refs[u] = (lg, st, ref.context_len, ref.rebases)
        for tag, r in drv.results():
            if tag[0] == "classify":
                dev_l[tag[1]] = hex_to_floats(_ok(r).fields["logits"])
        for u in range(t, stop + 1):
            lg = dev_l[u]
            if not (_maxdiff(lg, refs[u][0]) <= atol and np.argmax(lg) == np.argmax(refs[u][0])):
                first = u
                break
        t = stop + 1
    if first is None:  # not reproducible: report the originally failing frame
        first = hi
    # Bring device and reference to exactly `first` and read the stages there.
    client.reset()
    ref.reset()
    drv = _Driver(client, frames.shape[1], depth, queued, timeout)
    drv.start()
    drv.push(frames[:first + 1])
    for u in range(first + 1):
        ref.push(ref_frames[u])
    drv.classify(first)
    drv.layers(n_layers, first)
    dev_logits: FloatArray | None = None
    states: dict[int, FloatArray] = {}
    for tag, r in drv.results():
        if tag[0] == "classify":
            dev_logits = hex_to_floats(_ok(r).fields["logits"])
        elif tag[0] == "layer":
            states[tag[1][1]] = hex_to_floats(_ok(r).fields["state"])
    ref_logits, ref_states = ref.classify()
    ds = np.stack([states[s] for s in range(n_layers + 1)])
    stages = stage_diffs(ds, ref_states, dev_logits, ref_logits, atol)
    return Localisation(first, stages, ref.context_len, ref.rebases, exhaustive)


def _localise_exact(client: DeviceClient, host: ExactReference, frames: FloatArray,
                    ref_frames: FloatArray, lo: int, hi: int, n_layers: int, depth: int,
                    timeout: float, queued: int) -> tuple[int, ExactResult | None]:
    """Replays frames ``0..hi`` from a reset (``0..lo-1`` in bulk), classifying
    and reading every stage after each frame of ``lo..hi``, and returns the
    first frame whose logits or states differ from the host C core in any
    bit with the comparison there (``(hi, None)`` when the replay does not
    reproduce the difference)."""
    drv = _replay_to(client, host, frames, ref_frames, lo, depth, queued, timeout)
    t = lo
    chunk = 64
    while t <= hi:
        stop = min(hi, t + chunk - 1)
        want: dict[int, tuple[FloatArray, FloatArray]] = {}
        for u in range(t, stop + 1):
            drv.push(frames[u:u + 1])
            drv.classify(u)
            drv.layers(n_layers, u)
            host.push(ref_frames[u])
            want[u] = host.classify()
        got_l: dict[int, FloatArray] = {}
        got_s: dict[int, dict[int, FloatArray]] = {}
        for tag, r in drv.results():
            if tag[0] == "classify":
                got_l[tag[1]] = hex_to_floats(_ok(r).fields["logits"])
            elif tag[0] == "layer":
                got_s.setdefault(tag[1][0], {})[tag[1][1]] = hex_to_floats(
                    _ok(r).fields["state"])
        for u in range(t, stop + 1):
            probe = ExactResult.for_layers(n_layers)
            st = got_s.get(u, {})
            if probe.add(u, got_l.get(u, np.zeros(0, np.float32)),
                         [st.get(s, np.zeros(0, np.float32)) for s in range(n_layers + 1)],
                         *want[u]):
                return u, probe
        t = stop + 1
    return hi, None


# --------------------------------------------------------------------------
# memory


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize (bytes) of a local process (Linux /proc)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for key in ("VmRSS", "VmHWM", "VmSize", "VmData"):
        m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.M)
        if m:
            out[key] = int(m.group(1)) * 1024
    return out


MEMORY_STATS = ("arena", "heap_free", "heap_min_free", "heap_largest", "temporal_stack_free",
                "console_stack_free")


def memory_probe(client: DeviceClient, pid: int | None = None) -> dict[str, int]:
    """High-water figures: the ``stats`` memory fields (0 = not measured on
    this platform) plus, for a local process, VmRSS/VmHWM from /proc."""
    st = client.stats()
    out = {k: int(st.get(k, "0")) for k in MEMORY_STATS}
    if pid is not None:
        out.update(proc_memory(pid))
    return out


# --------------------------------------------------------------------------
# local consoles: ruv_vdev on a pty, any command through a pty bridge


class VdevProcess:
    """``ruv_vdev --pty ...`` (or any command whose stdio is a console, through
    a pty bridge): ``.port`` is a serial path that pyserial/pytest-embedded
    open like a board's; ``.pid`` the process for /proc memory figures."""

    def __init__(self, *args: str, exe: Path | None = None, command: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, startup_timeout: float = 20.0) -> None:
        self.child_pid: int | None = None
        if command is not None:
            import sys

            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ruv_temporal.hil", "--pty-bridge", "--", *command],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env={**os.environ, **(env or {})})
            self.port = self._read_pty_line(startup_timeout)
        else:
            import tempfile

            self.exe = exe or find_vdev()
            # stderr to a file, not a pipe nobody reads: it holds the one
            # error line of a refused start (and --log-stderr logs).
            self._stderr = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                [str(self.exe), "--pty", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env=env)
            assert self.proc.stdout is not None
            try:
                self.port = self._read_pty_line(startup_timeout)
            except RuvError as e:
                self._stderr.seek(0)
                why = self._stderr.read().decode("utf-8", "replace").strip()
                raise RuvError(f"{e}: {why}" if why else str(e)) from None
        self.args = args

    def _read_pty_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        box: list[str] = []

        def reader() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                text = raw.decode("utf-8", "replace").strip()
                if text.startswith("PTY "):
                    box.append(text[4:].strip())
                    if "ruv_temporal.hil" not in " ".join(map(str, self.proc.args)):
                        return
                elif text.startswith("PID ") and box:
                    self.child_pid = int(text[4:])
                    return

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        th.join(timeout)
        if not box:
            self.kill()
            raise RuvError(f"ruv_vdev did not print its pty within {timeout:.0f} s "
                           f"(exit code {self.proc.poll()})")
        return box[0]

    @property
    def pid(self) -> int:
        """The device process (the bridged command's, not the bridge's)."""
        return int(self.child_pid if self.child_pid is not None else self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def client(self, timeout: float = 10.0) -> DeviceClient:
        """A DeviceClient over pyserial on the pty, synchronised (ping)."""
        dev = DeviceClient(SerialTransport(self.port), timeout=timeout)
        sync(dev)
        return dev

    def kill(self) -> None:
        """Hard kill (the power-cut emulation)."""
        if self.child_pid is not None:
            import signal

            try:
                os.kill(self.child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> int | None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> VdevProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bridge_main(command: list[str]) -> int:
    """``python -m ruv_temporal.hil --pty-bridge -- CMD ...``: runs CMD with
    its stdin/stdout on pipes, opens a raw pty, prints ``PTY <slave path>``
    and ``PID <child pid>`` and copies bytes both ways until CMD exits. A
    separate process, so the test process forks no helper threads."""
    import pty
    import select
    import signal
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    assert child.stdin is not None and child.stdout is not None

    def stop(_sig: int, _frm: object) -> None:
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    print(f"PTY {os.ttyname(slave)}\nPID {child.pid}", flush=True)
    out_fd, in_fd = child.stdout.fileno(), child.stdin.fileno()
    try:
        while child.poll() is None:
            try:
                ready, _, _ = select.select([master, out_fd], [], [], 0.2)
            except InterruptedError:
                continue
            if master in ready:
                data = os.read(master, 65536)
                try:
                    os.write(in_fd, data)
                except OSError:
                    break
            if out_fd in ready:
                data = os.read(out_fd, 65536)
                if not data:
                    break
                os.write(master, data)
    finally:
        if child.poll() is None:
            child.terminate()
        child.wait()
    return 0


def sync(client: DeviceClient, attempts: int = 20, timeout: float = 0.5) -> None:
    """Waits until the console answers (``ping``), discarding stale input,
    then opens the link session (framed requests, resends: docs/protocol.md)
    when the client recovers (``recover``) and the device speaks protocol 2."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            client.command("ping", timeout=timeout)
            break
        except DeviceError as e:
            last = e
    else:
        raise DeviceError(STATUS_TIMEOUT, f"device does not answer ping: {last}")
    client.open_link()


def iter_batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(n, i + size)


class DutTransport:
    """A :class:`~ruv_temporal.device.DeviceClient` transport over a
    pytest-embedded ``dut`` (``dut.write`` / ``dut.expect``), so the protocol
    runs over exactly the serial path pytest-embedded uses for a board."""

    _LINE = re.compile(rb"([^\n]*)\n")

    def __init__(self, dut: Any) -> None:
        self.dut = dut

    def write_line(self, line: str) -> None:
        self.dut.write(line)  # SerialDut.write appends "\n"

    def read_line(self, timeout: float) -> str | None:
        import pexpect

        try:
            m = self.dut.expect(self._LINE, timeout=max(timeout, 0.01))
        except (pexpect.TIMEOUT, pexpect.EOF):
            return None
        return m.group(1).decode("utf-8", "replace").rstrip("\r")

    def close(self) -> None:  # the dut fixture owns the port
        pass


def run_frames(client: DeviceClient, frames: FloatArray, mode: str = "window",
               kv_fp16: bool = False, depth: int = 16) -> FloatArray:
    """``mode``, ``reset``, push ``frames``, ``classify`` — pipelined (one
    round trip on a non-queued platform). Returns the logits (bit-exact)."""
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    queued = _queue_depth(client)
    drv = _Driver(client, frames.shape[1], depth, queued, max(client.timeout, 10.0))
    drv.start()
    drv.pipe.submit(f"mode {mode} fp16={int(kv_fp16)}", ("mode", None))
    drv.pipe.submit("reset", ("reset", None))
    drv.push(frames)
    drv.classify(None)
    logits = None
    for tag, r in drv.results():
        rep = _ok(r)
        if tag[0] == "classify":
            logits = hex_to_floats(rep.fields["logits"])
    client._info = None  # noqa: SLF001 - the mode changed under the client
    if drv.dropped:
        raise DeviceError(0x103, f"{drv.dropped} frames dropped")
    assert logits is not None
    return logits


if __name__ == "__main__":  # pragma: no cover - the pty bridge process
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--pty-bridge" and sys.argv[2] == "--":
        sys.exit(_bridge_main(sys.argv[3:]))
    sys.exit("usage: python -m ruv_temporal.hil --pty-bridge -- CMD [ARGS...]")
