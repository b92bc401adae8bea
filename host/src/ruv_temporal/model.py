"""Model v1 — the NumPy reference of the on-device temporal head (docs/spec.md §4).

For frames ``X[T][D]`` (oldest first)::

    h = (X - mean) * inv_std                     # NORM section, if present
    for each layer l:
        Q = h·Wq (+bq) -> [T][q_heads][d]
        K = h·Wk (+bk), V = h·Wv (+bv) -> [T][kv_heads][d]
        A = sparse_attention(Q, K, V, attn_cfg)  # docs/spec.md §3, causal
        h = h + A·Wo (+bo)
    logits = h[T-1]·Wc (+bc)

``attn_cfg`` is the blob's ATTN section, else :meth:`SparseConfig.aether`.
Everything is float32.

Two run modes, matching the C core:

* :class:`WindowSession` — a ring of the last ``N`` frames; :meth:`~WindowSession.classify`
  runs :meth:`TemporalHead.forward` over the ``min(filled, N)`` newest frames,
  oldest first (positions renumbered from 0).
* :class:`StreamSession` — every pushed frame is decoded at once through all
  layers with per-layer :class:`~ruv_temporal.kernel.KvCache` of capacity
  ``N``. When the caches are full, the context is *rebased* before the new
  frame is decoded: the caches are cleared and refilled by a prefill (the
  forward, layer by layer) over the ``N // 2`` most recent frames before it.
  Hence the stream logits of frame ``t`` equal ``forward`` over the frames
  since the last rebase's prefill start (or since frame 0 before any rebase),
  and after a rebase ``context_len == N // 2 + 1``.

In stream mode with ``kv_fp16=True`` the caches store K/V as binary16; the
prefill's own attention (which only feeds the K/V of the next layer) runs in
float32 over the unrounded rows, like :meth:`TemporalHead.forward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from ruv_temporal import kernel, rvne
from ruv_temporal.errors import RuvError
from ruv_temporal.kernel import KvCache, SparseConfig

FloatArray = npt.NDArray[np.float32]

__all__ = ["StreamSession", "TemporalHead", "WindowSession"]


def _f32(name: str, a: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        arr = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise RuvError(f"{name}: not a float array ({e})") from None
    if arr.shape != shape:
        raise RuvError(f"{name} has shape {arr.shape}, expected {shape}")
    arr.setflags(write=False)
    return arr


def _opt_f32(name: str, a: Any, shape: tuple[int, ...]) -> FloatArray | None:
    return None if a is None else _f32(name, a, shape)


class _Layer:
    """One layer's weights as read-only float32 arrays (biases may be None)."""

    __slots__ = ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")

    def __init__(self, i: int, lw: rvne.LayerWeights, D: int, q: int, kv: int,  # noqa: N803
                 d: int) -> None:
        self.wq = _f32(f"layer {i} wq", lw.wq, (D, q * d))
        self.wk = _f32(f"layer {i} wk", lw.wk, (D, kv * d))
        self.wv = _f32(f"layer {i} wv", lw.wv, (D, kv * d))
        self.wo = _f32(f"layer {i} wo", lw.wo, (q * d, D))
        self.bq = _opt_f32(f"layer {i} bq", lw.bq, (q * d,))
        self.bk = _opt_f32(f"layer {i} bk", lw.bk, (kv * d,))
        self.bv = _opt_f32(f"layer {i} bv", lw.bv, (kv * d,))
        self.bo = _opt_f32(f"layer {i} bo", lw.bo, (D,))


def _affine(x: FloatArray, w: FloatArray, b: FloatArray | None) -> FloatArray:
    """``x·w (+b)`` in float32 (x is a row ``[in]`` or rows ``[T][in]``)."""
    y = x @ w
    if b is not None:
        y = y + b
    return y.astype(np.float32, copy=False)


class TemporalHead:
    """Model v1 over a parsed RVNE blob (docs/spec.md §4). Immutable; sessions hold the state."""

    def __init__(self, blob: rvne.Blob) -> None:
        D, q, kv, d, L, C = (int(v) for v in blob.dims)  # noqa: N806
        if min(D, q, kv, d, L, C) <= 0:
            raise RuvError(f"every model dimension must be > 0, got {blob.dims}")
        if q % kv != 0:
            raise RuvError(f"n_q_heads {q} is not a multiple of n_kv_heads {kv}")
        if len(blob.layers) != L:
            raise RuvError(f"{len(blob.layers)} layers given, n_layers is {L}")
        self.blob = blob
        self.input_dim = D
        self.n_q_heads = q
        self.n_kv_heads = kv
        self.head_dim = d
        self.n_layers = L
        self.n_classes = C
        self.layers = [_Layer(i, lw, D, q, kv, d) for i, lw in enumerate(blob.layers)]
        self.wc = _f32("wc", blob.wc, (D, C))
        self.bc = _opt_f32("bc", blob.bc, (C,))
        if blob.norm is not None:
            if len(blob.norm) != 2:
                raise RuvError("norm must be (mean, inv_std)")
            self.mean: FloatArray | None = _f32("norm mean", blob.norm[0], (D,))
            self.inv_std: FloatArray | None = _f32("norm inv_std", blob.norm[1], (D,))
        else:
            self.mean = self.inv_std = None
        cfg = blob.attn if blob.attn is not None else SparseConfig.aether()
        if not isinstance(cfg, SparseConfig):  # a duck-typed config (e.g. hand-built blob)
            try:
                cfg = SparseConfig(window=cfg.window, block_size=cfg.block_size,
                                   global_tokens=tuple(cfg.global_tokens), causal=cfg.causal,
                                   log_stride=cfg.log_stride, landmarks=cfg.landmarks)
            except AttributeError as e:
                raise RuvError(f"blob.attn is not a SparseConfig: {e}") from None
        self.attn_cfg: SparseConfig = cfg.validate()
        if not cfg.causal:
            raise RuvError("the temporal head's attention must be causal")

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_blob(cls, data: bytes | bytearray | memoryview) -> TemporalHead:
        """Parse an RVNE blob (raises :class:`~ruv_temporal.errors.BlobError`) and load it."""
        return cls(rvne.parse(data))

    @classmethod
    def from_parsed(cls, blob: rvne.Blob) -> TemporalHead:
        """Load an already parsed (or hand-built) :class:`~ruv_temporal.rvne.Blob`."""
        return cls(blob)

    def __repr__(self) -> str:
        c = self.attn_cfg
        return (f"TemporalHead(D={self.input_dim}, q={self.n_q_heads}, kv={self.n_kv_heads}, "
                f"d={self.head_dim}, L={self.n_layers}, C={self.n_classes}, "
                f"attn=W{c.window}/B{c.block_size}, norm={self.mean is not None}, "
                f"bias={self.blob.has_bias})")

    # ---------------------------------------------------------------- helpers

    def _frames(self, frames: Any) -> FloatArray:
        try:
            x = np.asarray(frames, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise RuvError(f"frames: not a float array ({e})") from None
        if x.ndim != 2 or x.shape[1] != self.input_dim or x.shape[0] == 0:
            raise RuvError(f"frames must be [T][{self.input_dim}] with T >= 1, got {x.shape}")
        return x

    def _frame(self, frame: Any) -> FloatArray:
        try:
            x = np.asarray(frame, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise RuvError(f"frame: not a float array ({e})") from None
        if x.shape != (self.input_dim,):
            raise RuvError(f"a frame has {self.input_dim} values, got shape {x.shape}")
        return x

    def normalise(self, x: FloatArray) -> FloatArray:
        """``(x - mean) * inv_std`` if the blob has a NORM section, else a float32 copy."""
        x = np.array(x, dtype=np.float32)
        if self.mean is not None and self.inv_std is not None:
            x = ((x - self.mean) * self.inv_std).astype(np.float32, copy=False)
        return x

    def _qkv(self, lw: _Layer, h: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        t = h.shape[0]
        q = _affine(h, lw.wq, lw.bq).reshape(t, self.n_q_heads, self.head_dim)
        k = _affine(h, lw.wk, lw.bk).reshape(t, self.n_kv_heads, self.head_dim)
        v = _affine(h, lw.wv, lw.bv).reshape(t, self.n_kv_heads, self.head_dim)
        return q, k, v

    def _residual(self, lw: _Layer, h: FloatArray, a: FloatArray) -> FloatArray:
        """``h + a·Wo (+bo)`` with ``a`` ``[..][q_heads][d]`` flattened per row."""
        a2 = a.reshape(*h.shape[:-1], self.n_q_heads * self.head_dim)
        return (h + _affine(a2, lw.wo, lw.bo)).astype(np.float32, copy=False)

    def _readout(self, row: FloatArray) -> FloatArray:
        return _affine(row, self.wc, self.bc)

    # ---------------------------------------------------------------- forward

    @overload
    def forward(self, frames: Any, return_states: Literal[False] = ...) -> FloatArray: ...

    @overload
    def forward(
        self, frames: Any, return_states: Literal[True]
    ) -> tuple[FloatArray, FloatArray]: ...

    def forward(
        self, frames: Any, return_states: bool = False
    ) -> FloatArray | tuple[FloatArray, FloatArray]:
        """Frames ``[T][D]`` (oldest first) -> logits ``[C]`` of the newest frame.

        With ``return_states`` also ``states [n_layers+1][D]``: the newest row of
        the residual stream per stage (stage 0 = normalised input, stage l =
        after layer l)."""
        h = self.normalise(self._frames(frames))
        states = np.empty((self.n_layers + 1, self.input_dim), np.float32)
        states[0] = h[-1]
        for li, lw in enumerate(self.layers):
            q, k, v = self._qkv(lw, h)
            a = kernel.sparse_attention(q, k, v, self.attn_cfg)
            h = self._residual(lw, h, np.asarray(a, np.float32))
            states[li + 1] = h[-1]
        logits = self._readout(h[-1])
        if return_states:
            return logits, states
        return logits

    def _prefill_kv(self, h: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
        """K, V ``[T][kv][d]`` of every layer for normalised rows ``h`` (the
        forward, layer by layer; the last layer's attention is not needed)."""
        out = []
        for li, lw in enumerate(self.layers):
            q, k, v = self._qkv(lw, h)
            out.append((k, v))
            if li + 1 < self.n_layers:
                a = kernel.sparse_attention(q, k, v, self.attn_cfg)
                h = self._residual(lw, h, np.asarray(a, np.float32))
        return out

    # --------------------------------------------------------------- sessions

    def window_session(self, window_len: int) -> WindowSession:
        """A window-mode session: a ring of the last ``window_len`` frames."""
        return WindowSession(self, window_len)

    def stream_session(self, window_len: int, kv_fp16: bool = False) -> StreamSession:
        """A stream-mode session: KV caches of capacity ``window_len`` (>= 2)."""
        return StreamSession(self, window_len, kv_fp16)


def _check_window_len(window_len: Any, minimum: int) -> int:
    try:
        n = int(window_len)
    except (TypeError, ValueError):
        raise RuvError(f"window_len must be an integer, got {window_len!r}") from None
    if n != window_len or n < minimum:
        raise RuvError(f"window_len must be an integer >= {minimum}, got {window_len!r}")
    return n


class _FrameRing:
    """The last ``n`` raw frames, oldest first on read."""

    def __init__(self, n: int, dim: int) -> None:
        self.buf = np.zeros((n, dim), np.float32)
        self.n = n
        self.head = 0  # next slot to write
        self.filled = 0

    def push(self, x: FloatArray) -> None:
        self.buf[self.head] = x
        self.head = (self.head + 1) % self.n
        self.filled = min(self.filled + 1, self.n)

    def newest(self, count: int) -> FloatArray:
        """The ``count`` (<= filled) newest frames, oldest first."""
        if count > self.filled:
            raise ValueError("not that many frames in the ring")
        idx = (self.head - count + np.arange(count)) % self.n
        return self.buf[idx]

    def clear(self) -> None:
        self.head = 0
        self.filled = 0


class WindowSession:
    """Window mode (docs/spec.md §4.2): ``push`` frames; ``classify`` runs the ring's forward."""

    def __init__(self, head: TemporalHead, window_len: int) -> None:
        self.head = head
        self.window_len = _check_window_len(window_len, 1)
        self._ring = _FrameRing(self.window_len, head.input_dim)
        self.frames_pushed = 0
        self.states: FloatArray | None = None  #: stages of the newest row, as of the last classify
        self.logits: FloatArray | None = None  #: logits of the last classify

    @property
    def filled(self) -> int:
        """Frames in the ring (``min(pushed, window_len)``)."""
        return self._ring.filled

    def __len__(self) -> int:
        return self._ring.filled

    def push(self, frame: Sequence[float] | FloatArray) -> None:
        """Add one raw frame ``[D]`` (the oldest one drops out once the ring is full)."""
        self._ring.push(self.head._frame(frame))
        self.frames_pushed += 1

    def frames(self) -> FloatArray:
        """The frames in the ring, oldest first (a copy)."""
        return self._ring.newest(self._ring.filled)

    def classify(self) -> FloatArray:
        """Logits ``[C]`` of the forward over the ``min(filled, N)`` newest frames."""
        if self._ring.filled == 0:
            raise RuvError("classify before any frame was pushed")
        logits, states = self.head.forward(self.frames(), return_states=True)
        self.logits, self.states = logits, states
        return logits

    def reset(self) -> None:
        self._ring.clear()
        self.frames_pushed = 0
        self.states = self.logits = None


class StreamSession:
    """Stream mode (docs/spec.md §4): ``push(frame) -> logits`` through per-layer KV caches.

    ``states`` is ``[n_layers+1][D]`` of the last pushed frame, ``rebases`` counts
    context rebases and ``context_len`` is the number of rows in the caches."""

    def __init__(self, head: TemporalHead, window_len: int, kv_fp16: bool = False) -> None:
        self.head = head
        self.window_len = _check_window_len(window_len, 2)
        self.kv_fp16 = bool(kv_fp16)
        cfg = head.attn_cfg
        self.caches = [
            KvCache(self.window_len, head.n_kv_heads, head.head_dim, int(cfg.block_size),
                    fp16=self.kv_fp16)
            for _ in range(head.n_layers)
        ]
        self._ring = _FrameRing(self.window_len, head.input_dim)
        self.rebases = 0
        self.frames_pushed = 0
        self.states: FloatArray | None = None
        self.logits: FloatArray | None = None

    @property
    def context_len(self) -> int:
        """Rows in the KV caches (the frames since the last rebase's prefill start)."""
        return len(self.caches[0])

    def _rebase(self) -> None:
        head = self.head
        keep = self.window_len // 2
        for c in self.caches:
            c.clear()
        h = head.normalise(self._ring.newest(keep))
        for cache, (k, v) in zip(self.caches, head._prefill_kv(h), strict=True):
            for t in range(keep):
                cache.append(k[t], v[t])
        self.rebases += 1

    def push(self, frame: Sequence[float] | FloatArray) -> FloatArray:
        """Decode one raw frame ``[D]`` (rebasing first if the caches are full) -> logits."""
        head = self.head
        x = head._frame(frame)
        if self.context_len >= self.window_len:
            self._rebase()
        cfg = head.attn_cfg
        states = np.empty((head.n_layers + 1, head.input_dim), np.float32)
        h = head.normalise(x)
        states[0] = h
        q_shape = (head.n_q_heads, head.head_dim)
        kv_shape = (head.n_kv_heads, head.head_dim)
        for li, (lw, cache) in enumerate(zip(head.layers, self.caches, strict=True)):
            q = _affine(h, lw.wq, lw.bq).reshape(q_shape)
            k = _affine(h, lw.wk, lw.bk).reshape(kv_shape)
            v = _affine(h, lw.wv, lw.bv).reshape(kv_shape)
            cache.append(k, v)
            a = np.asarray(kernel.decode_step(q, cache, cfg), np.float32)
            h = head._residual(lw, h, a)
            states[li + 1] = h
        self._ring.push(x)
        self.frames_pushed += 1
        logits = head._readout(h)
        self.states, self.logits = states, logits
        return logits

    def classify(self) -> FloatArray:
        """The logits of the last push (the newest logits are always ready)."""
        if self.logits is None:
            raise RuvError("classify before any frame was pushed")
        return self.logits

    def context_frames(self) -> FloatArray:
        """The raw frames of the current context (what ``forward`` would see), oldest first."""
        return self._ring.newest(self.context_len)

    def reset(self) -> None:
        for c in self.caches:
            c.clear()
        self._ring.clear()
        self.rebases = 0
        self.frames_pushed = 0
        self.states = self.logits = None
