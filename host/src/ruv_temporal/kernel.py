"""Sparse grouped-query attention: the normative NumPy reference of docs/spec.md §3.

Everything here is float32 ``[seq][heads][dim]``. The functions follow docs/spec.md §3
to the letter, quirks included:

* the candidate set of query ``i`` is the tokens (window, then globals, then
  log-stride, duplicates dropped, first occurrence wins) followed by the
  landmark blocks (local, then log-stride, deduplicated separately);
  :func:`candidates` is a literal per-row transcription,
  :func:`candidate_sets` the vectorised equivalent for all rows, cached per
  ``(n, cfg)``;
* log-stride *blocks* are added only when ``cfg.log_stride`` is set (as the
  upstream kernel does: one flag drives both log-stride patterns);
* in causal mode the block that ends at ``i`` is a landmark candidate although
  its tokens are in the window (why a "saturated" run differs from dense);
* a block's landmark key/value is the float32 mean of its rows (prefill:
  sum, then divide by the row count; KV cache: running mean
  ``mean += (x - mean) * (1/n)``).

Softmax: docs/spec.md §3 describes the C core's one-pass online softmax. Here the
same function is computed as a max-subtracted softmax over the candidate set
(mathematically identical). Precision: inputs are float32, landmark means are
computed in float32 (as docs/spec.md §3 says), and scores, softmax and accumulation
run in float64; outputs are rounded to float32. So the reference is at least
as exact as any float32 implementation, and prefill and token-by-token
decode agree to float32 rounding whatever the magnitudes (their summation
orders differ).

Vectorisation: for a chunk of query rows the window part of every row lies
in one contiguous key range, so its scores come from one BLAS matmul over
that range with a band mask; the few remaining candidates (globals and
log-stride tokens outside the window, landmark blocks) are gathered with
fancy indexing from a ``[kv_heads][n + nb][dim]`` key/value table. The result
is the softmax over exactly the candidate set of docs/spec.md §3.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ruv_temporal.errors import RuvError

__all__ = [
    "SparseConfig",
    "CandidateSets",
    "candidates",
    "candidate_sets",
    "landmark_means",
    "sparse_attention",
    "dense_attention",
    "KvCache",
    "decode_step",
    "evict_h2o",
    "estimate_sparse_edges",
    "FastGRNNGate",
    "gated_sparse_attention",
    "keep_mask_top_k",
    "default_gate_weights",
    "DEFAULT_HIDDEN",
]

_F32 = np.float32
#: internal precision of scores, softmax and accumulation (inputs, landmark means and
#: outputs are float32)
_ACC = np.float64


# --------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class SparseConfig:
    """docs/spec.md §3 attention config. Hashable (``global_tokens`` is normalised to
    a tuple of ints), so it can key caches. Validated where it is used:
    ``block_size`` must be > 0, ``window`` and the globals >= 0."""

    window: int = 128
    block_size: int = 64
    global_tokens: tuple[int, ...] = (0,)
    causal: bool = True
    log_stride: bool = True
    landmarks: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "window", int(self.window))
            object.__setattr__(self, "block_size", int(self.block_size))
            gt = self.global_tokens
            if isinstance(gt, (int, np.integer)):
                gt = (gt,)
            object.__setattr__(self, "global_tokens", tuple(int(g) for g in gt))
        except (TypeError, ValueError) as e:
            raise RuvError(f"invalid SparseConfig field: {e}") from None
        object.__setattr__(self, "causal", bool(self.causal))
        object.__setattr__(self, "log_stride", bool(self.log_stride))
        object.__setattr__(self, "landmarks", bool(self.landmarks))

    @classmethod
    def aether(cls) -> SparseConfig:
        """The model's default without an ATTN section: W=32, B=16, globals (0,)."""
        return cls(window=32, block_size=16, global_tokens=(0,), causal=True,
                   log_stride=True, landmarks=True)

    def validate(self) -> SparseConfig:
        """Raise :class:`RuvError` unless the config is usable; return it."""
        if self.block_size <= 0:
            raise RuvError(f"block_size must be > 0, got {self.block_size}")
        if self.window < 0:
            raise RuvError(f"window must be >= 0, got {self.window}")
        for g in self.global_tokens:
            if g < 0:
                raise RuvError(f"global token positions must be >= 0, got {g}")
        return self


def _cfg(cfg: Any) -> SparseConfig:
    if cfg is None:
        return SparseConfig()
    if not isinstance(cfg, SparseConfig):
        try:
            cfg = SparseConfig(cfg.window, cfg.block_size, tuple(cfg.global_tokens),
                               cfg.causal, cfg.log_stride, cfg.landmarks)
        except AttributeError as e:
            raise RuvError(f"not a SparseConfig: {e}") from None
    return cfg.validate()


def _strides(limit: int) -> list[int]:
    """1, 2, 4, ... while < limit."""
    out = []
    s = 1
    while s < limit:
        out.append(s)
        s *= 2
    return out


# --------------------------------------------------------------------------
# candidate sets: the literal per-row reference


def candidates(i: int, n: int, cfg: SparseConfig | None = None) -> tuple[list[int], list[int]]:
    """Candidate set of query ``i`` in a sequence of ``n`` (docs/spec.md §3), as
    ``(tokens, blocks)`` in insertion order. A literal transcription of the
    spec, one row at a time; :func:`candidate_sets` is the vectorised form."""
    cfg = _cfg(cfg)
    i, n = int(i), int(n)
    if not 0 <= i < n:
        raise RuvError(f"query position {i} out of range for sequence length {n}")
    w, causal = cfg.window, cfg.causal

    tokens: list[int] = []
    seen: set[int] = set()

    def push(j: int) -> None:
        if j not in seen:
            seen.add(j)
            tokens.append(j)

    hi = i if causal else min(i + w, n - 1)
    for j in range(max(0, i - w), hi + 1):
        push(j)
    for g in cfg.global_tokens:
        if g < n and (not causal or g <= i):
            push(g)
    if cfg.log_stride:
        for s in _strides(n):
            if i >= s:
                push(i - s)
            if not causal and i + s < n:
                push(i + s)

    blocks: list[int] = []
    if cfg.landmarks:
        bseen: set[int] = set()

        def bpush(b: int) -> None:
            if b not in bseen:
                bseen.add(b)
                blocks.append(b)

        bs = cfg.block_size
        nb = -(-n // bs)
        cur = i // bs
        avail = (i + 1) // bs if causal else nb
        if avail > 0:
            pivot = avail - 1 if causal else min(cur, nb - 1)
            for b in range(max(0, pivot - 1), min(pivot + 1, avail - 1) + 1):
                if causal or b != cur:
                    bpush(b)
            if cfg.log_stride:
                for s in _strides(nb):
                    if pivot >= s and (causal or pivot - s != cur):
                        bpush(pivot - s)
                    if not causal and pivot + s < nb and pivot + s != cur:
                        bpush(pivot + s)
    return tokens, blocks


# --------------------------------------------------------------------------
# candidate sets: vectorised


def _dedup_compact(vals: np.ndarray, valid: np.ndarray, extra: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per row: drop entries equal to an earlier kept entry (first occurrence
    wins), then move the kept ones to the front in their original order.
    ``vals``/``valid`` ``[rows][cols]``; columns are few (globals, strides)."""
    rows, cols = vals.shape
    keep = valid.copy()
    for c in range(1, cols):
        dup = np.any(keep[:, :c] & (vals[:, :c] == vals[:, c:c + 1]), axis=1)
        keep[:, c] &= ~dup
    width = int(keep.sum(axis=1).max()) if rows and cols else 0
    order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
    v = np.take_along_axis(vals, order, axis=1)
    m = np.take_along_axis(keep, order, axis=1)
    v = np.where(m, v, 0)
    e = np.take_along_axis(extra, order, axis=1) & m if extra is not None else None
    return v.astype(np.int32), m, e


def _window_bounds(rows: np.ndarray, n: int, cfg: SparseConfig) -> tuple[np.ndarray, np.ndarray]:
    lo = np.maximum(rows - cfg.window, 0)
    hi = rows.copy() if cfg.causal else np.minimum(rows + cfg.window, n - 1)
    return lo, hi


def _token_extras(rows: np.ndarray, n: int, cfg: SparseConfig):
    """Globals and log-stride tokens outside the window, deduplicated:
    ``(idx [r][E] int32, mask [r][E], from_log_stride [r][E])``."""
    lo, hi = _window_bounds(rows, n, cfg)
    cols_v: list[np.ndarray] = []
    cols_ok: list[np.ndarray] = []
    cols_log: list[bool] = []
    for g in cfg.global_tokens:
        ok = np.full(rows.shape, g < n) if not cfg.causal else (g < n) & (g <= rows)
        cols_v.append(np.full(rows.shape, g, dtype=np.int64))
        cols_ok.append(ok)
        cols_log.append(False)
    if cfg.log_stride:
        for s in _strides(n):
            cols_v.append(rows - s)
            cols_ok.append(rows >= s)
            cols_log.append(True)
            if not cfg.causal:
                cols_v.append(rows + s)
                cols_ok.append(rows + s < n)
                cols_log.append(True)
    r = rows.shape[0]
    if not cols_v:
        z = np.zeros((r, 0), dtype=np.int32)
        return z, np.zeros((r, 0), dtype=bool), np.zeros((r, 0), dtype=bool)
    vals = np.stack(cols_v, axis=1)
    valid = np.stack(cols_ok, axis=1)
    in_window = (vals >= lo[:, None]) & (vals <= hi[:, None])
    from_log = np.broadcast_to(np.array(cols_log), vals.shape)
    return _dedup_compact(vals, valid & ~in_window, from_log)


def _block_candidates(rows: np.ndarray, n: int, cfg: SparseConfig):
    """Landmark blocks per row: ``(idx [r][K] int32, mask [r][K])``."""
    r = rows.shape[0]
    if not cfg.landmarks:
        return np.zeros((r, 0), dtype=np.int32), np.zeros((r, 0), dtype=bool)
    bs = cfg.block_size
    nb = -(-n // bs)
    cur = rows // bs
    if cfg.causal:
        avail = (rows + 1) // bs
        pivot = avail - 1
    else:
        avail = np.full(rows.shape, nb)
        pivot = np.minimum(cur, nb - 1)
    has = avail > 0
    cols_v: list[np.ndarray] = []
    cols_ok: list[np.ndarray] = []
    for off in (-1, 0, 1):
        b = pivot + off
        ok = has & (b >= 0) & (b <= np.minimum(pivot + 1, avail - 1))
        if not cfg.causal:
            ok &= b != cur
        cols_v.append(b)
        cols_ok.append(ok)
    if cfg.log_stride:
        for s in _strides(nb):
            b = pivot - s
            ok = has & (pivot >= s)
            if not cfg.causal:
                ok &= b != cur
            cols_v.append(b)
            cols_ok.append(ok)
            if not cfg.causal:
                b = pivot + s
                cols_v.append(b)
                cols_ok.append(has & (b < nb) & (b != cur))
    idx, mask, _ = _dedup_compact(np.stack(cols_v, axis=1), np.stack(cols_ok, axis=1))
    return idx, mask


@dataclass(frozen=True, eq=False)
class CandidateSets:
    """The candidate sets of every query row of a length-``n`` sequence.

    The window part of row ``i`` is the contiguous range
    ``window_lo[i] ..= window_hi[i]``; ``extra``/``extra_mask`` hold the
    remaining tokens (globals, then log-stride, outside the window, first
    occurrence kept) in insertion order, ``extra_log`` marks the log-stride
    ones; ``blocks``/``block_mask`` the landmark blocks in order. The padded
    full token arrays are :attr:`tokens` / :attr:`token_mask`. Arrays are
    read-only (the object is cached)."""

    n: int
    cfg: SparseConfig
    window_lo: np.ndarray
    window_hi: np.ndarray
    extra: np.ndarray
    extra_mask: np.ndarray
    extra_log: np.ndarray
    blocks: np.ndarray
    block_mask: np.ndarray

    @functools.cached_property
    def _full_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        wlen = self.window_hi - self.window_lo + 1
        width = int(wlen.max()) if self.n else 0
        win = self.window_lo[:, None] + np.arange(width)[None, :]
        wmask = np.arange(width)[None, :] < wlen[:, None]
        tok = np.concatenate([np.where(wmask, win, 0).astype(np.int32), self.extra], axis=1)
        msk = np.concatenate([wmask, self.extra_mask], axis=1)
        tok.setflags(write=False)
        msk.setflags(write=False)
        return tok, msk

    @property
    def tokens(self) -> np.ndarray:
        """int32 ``[n][T]``: every row's tokens in insertion order, padded with 0."""
        return self._full_tokens[0]

    @property
    def token_mask(self) -> np.ndarray:
        """bool ``[n][T]``: which entries of :attr:`tokens` are real."""
        return self._full_tokens[1]

    @property
    def token_counts(self) -> np.ndarray:
        return (self.window_hi - self.window_lo + 1) + self.extra_mask.sum(axis=1)

    @property
    def block_counts(self) -> np.ndarray:
        return self.block_mask.sum(axis=1)

    def row(self, i: int) -> tuple[list[int], list[int]]:
        """Row ``i`` as :func:`candidates` returns it."""
        win = list(range(int(self.window_lo[i]), int(self.window_hi[i]) + 1))
        return (win + self.extra[i][self.extra_mask[i]].tolist(),
                self.blocks[i][self.block_mask[i]].tolist())


@functools.lru_cache(maxsize=64)
def _candidate_sets_cached(n: int, cfg: SparseConfig) -> CandidateSets:
    rows = np.arange(n, dtype=np.int64)
    lo, hi = _window_bounds(rows, n, cfg)
    extra, extra_mask, extra_log = _token_extras(rows, n, cfg)
    blocks, block_mask = _block_candidates(rows, n, cfg)
    arrays = [lo, hi, extra, extra_mask, extra_log, blocks, block_mask]
    for a in arrays:
        a.setflags(write=False)
    return CandidateSets(n, cfg, *arrays)


def candidate_sets(n: int, cfg: SparseConfig | None = None) -> CandidateSets:
    """Vectorised :func:`candidates` for all ``i < n``; cached per ``(n, cfg)``."""
    cfg = _cfg(cfg)
    n = int(n)
    if n < 0:
        raise RuvError(f"sequence length must be >= 0, got {n}")
    return _candidate_sets_cached(n, cfg)


def estimate_sparse_edges(n: int, cfg: SparseConfig | None = None) -> int:
    """docs/spec.md §3: ``sum over i < n of |tokens_i| + |blocks_i|`` (one head).

    Counted with the vectorised candidate construction in chunks of rows, so
    memory stays bounded for any ``n`` (n = 8192 takes a few milliseconds)."""
    cfg = _cfg(cfg)
    n = int(n)
    if n < 0:
        raise RuvError(f"sequence length must be >= 0, got {n}")
    total = 0
    chunk = 1 << 15
    for r0 in range(0, n, chunk):
        rows = np.arange(r0, min(n, r0 + chunk), dtype=np.int64)
        lo, hi = _window_bounds(rows, n, cfg)
        total += int((hi - lo + 1).sum())
        total += int(_token_extras(rows, n, cfg)[1].sum())
        total += int(_block_candidates(rows, n, cfg)[1].sum())
    return total


# --------------------------------------------------------------------------
# shapes


def _as_f32(x: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=_F32)
    except (TypeError, ValueError) as e:
        raise RuvError(f"{name} is not a float array: {e}") from None
    return a


def _check_qkv(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, k, v = _as_f32(q, "q"), _as_f32(k, "k"), _as_f32(v, "v")
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim != 3:
            raise RuvError(f"{name} must be [seq][heads][dim], got shape {a.shape}")
    if k.shape != v.shape:
        raise RuvError(f"k and v shapes differ: {k.shape} vs {v.shape}")
    if q.shape[0] != k.shape[0]:
        raise RuvError(f"q has {q.shape[0]} rows, k/v have {k.shape[0]}")
    if q.shape[2] != k.shape[2]:
        raise RuvError(f"head dim differs: q {q.shape[2]}, k/v {k.shape[2]}")
    if q.shape[1] == 0 or k.shape[1] == 0 or q.shape[2] == 0:
        raise RuvError(f"head counts and dim must be > 0: q {q.shape}, k {k.shape}")
    if q.shape[1] % k.shape[1]:
        raise RuvError(f"q_heads ({q.shape[1]}) must be a multiple of kv_heads ({k.shape[1]})")
    return q, k, v


def _scale(dim: int) -> np.float32:
    return _F32(1.0) / np.sqrt(_F32(dim))


def landmark_means(x: Any, block_size: int) -> np.ndarray:
    """float32 ``[ceil(n/B)][heads][dim]``: mean of rows ``[b·B, min(n,(b+1)·B))``
    of ``x [n][heads][dim]`` per head (float32 sum, then divided by the count)."""
    x = _as_f32(x, "x")
    if x.ndim != 3:
        raise RuvError(f"x must be [seq][heads][dim], got shape {x.shape}")
    bs = int(block_size)
    if bs <= 0:
        raise RuvError(f"block_size must be > 0, got {bs}")
    n = x.shape[0]
    nb = -(-n // bs)
    full = n // bs
    out = np.empty((nb,) + x.shape[1:], dtype=_F32)
    if full:
        out[:full] = x[: full * bs].reshape((full, bs) + x.shape[1:]).sum(axis=1, dtype=_F32)
        out[:full] /= _F32(bs)
    if nb > full:
        rest = x[full * bs:]
        out[full] = rest.sum(axis=0, dtype=_F32) / _F32(rest.shape[0])
    return out


# --------------------------------------------------------------------------
# forward


def _softmax_rows(parts: list[tuple[np.ndarray, np.ndarray]]):
    """Max-subtracted softmax over the concatenation of score blocks (masked
    with -inf). Returns the probability blocks and the denominator."""
    m = None
    for s, _ in parts:
        if s.shape[-1]:
            ms = s.max(axis=-1)
            m = ms if m is None else np.maximum(m, ms)
    assert m is not None
    m = np.where(np.isfinite(m), m, 0.0)[..., None]
    probs = []
    den = np.zeros(m.shape[:-1], dtype=_ACC)
    for s, _ in parts:
        p = np.exp(s - m)
        den += p.sum(axis=-1)
        probs.append(p)
    return probs, den


def _chunk_rows(cfg: SparseConfig, n: int) -> int:
    return int(min(max(n, 1), max(64, min(256, cfg.window))))


def _sparse_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, cfg: SparseConfig,
                    keep: np.ndarray | None) -> np.ndarray:
    n, qh, d = q.shape
    kvh = k.shape[1]
    grp = qh // kvh
    out = np.zeros((n, qh, d), dtype=_F32)
    if n == 0:
        return out
    cs = candidate_sets(n, cfg)
    scale = _ACC(_scale(d))

    kt = k.transpose(1, 0, 2).astype(_ACC)  # [kv][n][d]
    vt = v.transpose(1, 0, 2).astype(_ACC)
    xidx, xmask = cs.extra, cs.extra_mask
    if keep is not None and xidx.shape[1]:
        xmask = xmask & (~cs.extra_log | keep[xidx])
    if cfg.landmarks:
        lk = landmark_means(k, cfg.block_size).transpose(1, 0, 2).astype(_ACC)
        lv = landmark_means(v, cfg.block_size).transpose(1, 0, 2).astype(_ACC)
        tk = np.concatenate([kt, lk], axis=1)
        tv = np.concatenate([vt, lv], axis=1)
        xidx = np.concatenate([xidx, cs.blocks + n], axis=1)
        xmask = np.concatenate([xmask, cs.block_mask], axis=1)
    else:
        tk, tv = kt, vt
    qg = q.reshape(n, kvh, grp, d).astype(_ACC)
    neg = _ACC(-np.inf)
    step = _chunk_rows(cfg, n)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        rr = r1 - r0
        lo, hi = cs.window_lo[r0:r1], cs.window_hi[r0:r1]
        a, b = int(lo[0]), int(hi[-1]) + 1  # window bounds are non-decreasing in i
        qc = np.ascontiguousarray(qg[r0:r1].transpose(1, 0, 2, 3))  # [kv][R][grp][d]
        # window band: one matmul over the chunk's contiguous key range
        sb = np.matmul(qc.reshape(kvh, rr * grp, d), kt[:, a:b].transpose(0, 2, 1))
        sb *= scale
        sb = sb.reshape(kvh, rr, grp, b - a)
        jj = np.arange(a, b)
        band = (jj[None, :] >= lo[:, None]) & (jj[None, :] <= hi[:, None])
        sb = np.where(band[None, :, None, :], sb, neg)
        parts = [(sb, band)]
        x = xidx[r0:r1]
        nx = x.shape[1]
        if nx:
            kx = tk[:, x]  # [kv][R][X][d]
            vx = tv[:, x]
            sx = np.matmul(qc, kx.transpose(0, 1, 3, 2)) * scale  # [kv][R][grp][X]
            sx = np.where(xmask[r0:r1][None, :, None, :], sx, neg)
            parts.append((sx, xmask[r0:r1]))
        probs, den = _softmax_rows(parts)
        acc = np.matmul(probs[0].reshape(kvh, rr * grp, b - a), vt[:, a:b])
        acc = acc.reshape(kvh, rr, grp, d)
        if nx:
            acc += np.matmul(probs[1], vx)
        with np.errstate(divide="ignore", invalid="ignore"):
            o = np.where((den > 0)[..., None], acc / den[..., None], 0.0)
        out[r0:r1] = o.transpose(1, 0, 2, 3).reshape(rr, qh, d)
    return out


def sparse_attention(q: Any, k: Any, v: Any, cfg: SparseConfig | None = None) -> np.ndarray:
    """docs/spec.md §3 sparse attention. ``q [n][q_heads][dim]``, ``k``/``v
    [n][kv_heads][dim]`` (MHA when the head counts are equal, GQA otherwise;
    query head ``h`` reads kv head ``h // (q_heads // kv_heads)``).
    Returns float32 ``[n][q_heads][dim]``."""
    cfg = _cfg(cfg)
    q, k, v = _check_qkv(q, k, v)
    return _sparse_forward(q, k, v, cfg, None)


# --------------------------------------------------------------------------
# KV cache and streaming decode


class KvCache:
    """Streaming KV cache (docs/spec.md §3): rows ``[capacity][kv_heads][dim]`` —
    float32, or IEEE binary16 (``fp16=True``, round-to-nearest-even) — and
    float32 running landmark means per block (``n += 1; mean += (x-mean)*(1/n)``)
    computed from the unrounded rows."""

    def __init__(self, capacity: int, kv_heads: int, dim: int, block_size: int,
                 fp16: bool = False) -> None:
        for name, val in (("capacity", capacity), ("kv_heads", kv_heads), ("dim", dim),
                          ("block_size", block_size)):
            if int(val) <= 0:
                raise RuvError(f"KvCache {name} must be > 0, got {val}")
        self.capacity = int(capacity)
        self.kv_heads = int(kv_heads)
        self.dim = int(dim)
        self.block_size = int(block_size)
        self.fp16 = bool(fp16)
        dt = np.float16 if self.fp16 else _F32
        shape = (self.capacity, self.kv_heads, self.dim)
        self._k = np.zeros(shape, dtype=dt)
        self._v = np.zeros(shape, dtype=dt)
        nbc = -(-self.capacity // self.block_size)
        self._k_mean = np.zeros((nbc, self.kv_heads, self.dim), dtype=_F32)
        self._v_mean = np.zeros((nbc, self.kv_heads, self.dim), dtype=_F32)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return (f"KvCache(len={self._len}, capacity={self.capacity}, kv_heads={self.kv_heads}, "
                f"dim={self.dim}, block_size={self.block_size}, fp16={self.fp16})")

    @property
    def full(self) -> bool:
        return self._len >= self.capacity

    def _row(self, x: Any, name: str) -> np.ndarray:
        a = _as_f32(x, name)
        if a.shape != (self.kv_heads, self.dim):
            if a.size == self.kv_heads * self.dim and a.ndim == 1:
                return a.reshape(self.kv_heads, self.dim)
            raise RuvError(f"{name} must be [{self.kv_heads}][{self.dim}], got shape {a.shape}")
        return a

    def append(self, k_row: Any, v_row: Any) -> None:
        """Append one row (``[kv_heads][dim]``, or flat ``kv_heads*dim``).
        Raises :class:`RuvError` when the cache is full."""
        k = self._row(k_row, "k_row")
        v = self._row(v_row, "v_row")
        if self.full:
            raise RuvError(f"KV cache full ({self.capacity} rows); clear or evict first")
        t = self._len
        b = t // self.block_size
        inv = _F32(1.0) / _F32(t - b * self.block_size + 1)
        self._k_mean[b] += (k - self._k_mean[b]) * inv
        self._v_mean[b] += (v - self._v_mean[b]) * inv
        self._k[t] = k  # binary16 cast rounds to nearest even
        self._v[t] = v
        self._len = t + 1

    def extend(self, k_rows: Any, v_rows: Any) -> None:
        """Append rows ``[m][kv_heads][dim]`` in order (same as m appends)."""
        k = _as_f32(k_rows, "k_rows")
        v = _as_f32(v_rows, "v_rows")
        if k.shape != v.shape or k.ndim != 3:
            raise RuvError(f"k_rows/v_rows must be equal [m][kv][dim], got {k.shape}, {v.shape}")
        if self._len + k.shape[0] > self.capacity:
            raise RuvError(f"KV cache full: {self._len} + {k.shape[0]} rows > {self.capacity}")
        for t in range(k.shape[0]):
            self.append(k[t], v[t])

    def clear(self) -> None:
        self._len = 0
        self._k_mean.fill(0.0)
        self._v_mean.fill(0.0)

    def keys(self) -> np.ndarray:
        """float32 ``[len][kv_heads][dim]`` (fp16 rows converted)."""
        return self._k[: self._len].astype(_F32, copy=False)

    def values(self) -> np.ndarray:
        return self._v[: self._len].astype(_F32, copy=False)

    def block_means(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``(k_mean, v_mean)`` ``[ceil(len/B)][kv_heads][dim]`` (the last
        block possibly partial)."""
        nb = -(-self._len // self.block_size)
        return self._k_mean[:nb], self._v_mean[:nb]

    def _rebuild_means(self) -> None:
        """Running means recomputed from the stored rows (after eviction)."""
        self._k_mean.fill(0.0)
        self._v_mean.fill(0.0)
        bs = self.block_size
        for t in range(self._len):
            b = t // bs
            inv = _F32(1.0) / _F32(t - b * bs + 1)
            self._k_mean[b] += (self._k[t].astype(_F32) - self._k_mean[b]) * inv
            self._v_mean[b] += (self._v[t].astype(_F32) - self._v_mean[b]) * inv


@functools.lru_cache(maxsize=16384)
def _decode_pattern(t: int, cfg: SparseConfig) -> tuple[int, np.ndarray, np.ndarray]:
    """Causal candidate set of ``i = t, n = t+1``: window start, extra tokens
    beyond the window, blocks."""
    tokens, blocks = candidates(t, t + 1, cfg)
    lo = max(0, t - cfg.window)
    nwin = t - lo + 1
    extra = np.array(tokens[nwin:], dtype=np.intp)
    blk = np.array(blocks, dtype=np.intp)
    extra.setflags(write=False)
    blk.setflags(write=False)
    return lo, extra, blk


def decode_step(q_row: Any, cache: KvCache, cfg: SparseConfig | None = None) -> np.ndarray:
    """Attention of the newest query (``[q_heads][dim]``, row ``t = len-1``)
    over the cache with the causal candidate set of ``i = t, n = t+1``
    (``cfg.causal`` is ignored: decode is causal). Returns ``[q_heads][dim]``."""
    cfg = _cfg(cfg)
    if not isinstance(cache, KvCache):
        raise RuvError("cache must be a KvCache")
    if cfg.block_size != cache.block_size:
        raise RuvError(f"cfg.block_size ({cfg.block_size}) != cache.block_size "
                       f"({cache.block_size})")
    n = len(cache)
    if n == 0:
        raise RuvError("decode_step on an empty KV cache")
    q = _as_f32(q_row, "q_row")
    kvh, d = cache.kv_heads, cache.dim
    if q.ndim != 2 or q.shape[1] != d or q.shape[0] == 0 or q.shape[0] % kvh:
        raise RuvError(f"q_row must be [q_heads][{d}] with q_heads a multiple of {kvh}, "
                       f"got shape {q.shape}")
    qh = q.shape[0]
    if not cfg.causal:
        cfg = dataclasses.replace(cfg, causal=True)
    t = n - 1
    lo, extra, blk = _decode_pattern(t, cfg)
    keys = [cache._k[lo:n], cache._k[extra]]
    vals = [cache._v[lo:n], cache._v[extra]]
    if blk.size:
        keys.append(cache._k_mean[blk])
        vals.append(cache._v_mean[blk])
    kk = np.concatenate([a.astype(_ACC) for a in keys])  # [C][kv][d]
    vv = np.concatenate([a.astype(_ACC) for a in vals])
    qg = q.reshape(kvh, qh // kvh, d).astype(_ACC)
    s = np.matmul(qg, kk.transpose(1, 2, 0)) * _ACC(_scale(d))  # [kv][grp][C]
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    den = p.sum(axis=-1, keepdims=True)
    acc = np.matmul(p, vv.transpose(1, 0, 2))  # [kv][grp][d]
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(den > 0, acc / den, 0.0)
    return o.reshape(qh, d).astype(_F32)


# --------------------------------------------------------------------------
# optional upstream APIs: their own module, re-exported here (imported last:
# kernel_extras builds on the definitions above)

from ruv_temporal.kernel_extras import (  # noqa: E402
    DEFAULT_HIDDEN,
    FastGRNNGate,
    default_gate_weights,
    dense_attention,
    evict_h2o,
    gated_sparse_attention,
    keep_mask_top_k,
)
