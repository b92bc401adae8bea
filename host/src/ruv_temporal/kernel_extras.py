"""Optional upstream APIs of the kernel (docs/spec.md §3), beside the hot path in
:mod:`ruv_temporal.kernel`: the FastGRNN-gated sparse forward, dense
attention (the reference the sparse kernel is measured against), H2O eviction
from a :class:`~ruv_temporal.kernel.KvCache`, the FastGRNN salience gate with
upstream's deterministic default weights, and top-K keep masks. The C core
mirrors the split (``ruv_kernel_extras.c``). Everything here is re-exported
by :mod:`ruv_temporal.kernel`, so ``kernel.dense_attention`` and friends keep
working.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ruv_temporal.errors import RuvError
from ruv_temporal.kernel import (
    _ACC,
    _F32,
    KvCache,
    SparseConfig,
    _as_f32,
    _cfg,
    _check_qkv,
    _scale,
    _sparse_forward,
)

__all__ = [
    "DEFAULT_HIDDEN",
    "FastGRNNGate",
    "default_gate_weights",
    "dense_attention",
    "evict_h2o",
    "gated_sparse_attention",
    "keep_mask_top_k",
]

#: hidden size of upstream's default gate
DEFAULT_HIDDEN = 32


# --------------------------------------------------------------------------
# gated and dense attention


def gated_sparse_attention(q: Any, k: Any, v: Any, cfg: SparseConfig | None,
                           keep_mask: Any) -> np.ndarray:
    """:func:`sparse_attention` where a log-stride token ``j`` is used only if
    ``keep_mask[j]`` (window, globals, self and landmark blocks are always
    used). ``keep_mask``: ``n`` booleans (e.g. from :class:`FastGRNNGate`)."""
    cfg = _cfg(cfg)
    q, k, v = _check_qkv(q, k, v)
    keep = np.asarray(keep_mask).astype(bool).reshape(-1)
    if keep.shape[0] != q.shape[0]:
        raise RuvError(f"keep_mask has {keep.shape[0]} entries, sequence has {q.shape[0]}")
    return _sparse_forward(q, k, v, cfg, keep)


def dense_attention(q: Any, k: Any, v: Any, causal: bool = True) -> np.ndarray:
    """Plain softmax attention over ``j <= i`` (causal) or all ``j``, scale
    ``1/sqrt(dim)``, MHA or GQA by shape. float32, rows processed in chunks."""
    q, k, v = _check_qkv(q, k, v)
    n, qh, d = q.shape
    kvh = k.shape[1]
    grp = qh // kvh
    out = np.zeros((n, qh, d), dtype=_F32)
    if n == 0:
        return out
    scale = _ACC(_scale(d))
    kt = k.transpose(1, 0, 2).astype(_ACC)
    vt = v.transpose(1, 0, 2).astype(_ACC)
    qg = q.reshape(n, kvh, grp, d).astype(_ACC)
    step = 256
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        rr = r1 - r0
        b = r1 if causal else n
        qc = np.ascontiguousarray(qg[r0:r1].transpose(1, 0, 2, 3)).reshape(kvh, rr * grp, d)
        s = np.matmul(qc, kt[:, :b].transpose(0, 2, 1))
        s *= scale
        s = s.reshape(kvh, rr, grp, b)
        if causal:
            mask = np.arange(b)[None, :] <= np.arange(r0, r1)[:, None]
            s = np.where(mask[None, :, None, :], s, -np.inf)
        m = s.max(axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        p = np.exp(s - m)
        den = p.sum(axis=-1)
        acc = np.matmul(p.reshape(kvh, rr * grp, b), vt[:, :b]).reshape(kvh, rr, grp, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            o = np.where((den > 0)[..., None], acc / den[..., None], 0.0)
        out[r0:r1] = o.transpose(1, 0, 2, 3).reshape(rr, qh, d)
    return out


# --------------------------------------------------------------------------
# H2O eviction


def evict_h2o(cache: KvCache, scores: Any, cfg: SparseConfig | None = None) -> int:
    """H2O eviction (docs/spec.md §3): positions ``>= len - window`` and the global
    positions are protected; the unprotected position with the lowest
    ``scores`` entry (first on ties) is removed, later rows move up one and
    the landmark means are rebuilt from the (stored) rows. When every
    position is protected, upstream's rule: the first non-global position
    below ``len - window``, else position 0 — always 0 under this protection
    rule. Returns the evicted position. The caller then appends the new row."""
    cfg = _cfg(cfg)
    if not isinstance(cache, KvCache):
        raise RuvError("cache must be a KvCache")
    n = len(cache)
    if n == 0:
        raise RuvError("evict_h2o on an empty KV cache")
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if sc.shape[0] != n:
        raise RuvError(f"scores has {sc.shape[0]} entries, cache holds {n} rows")
    protected = np.zeros(n, dtype=bool)
    protected[max(0, n - cfg.window):] = True
    for g in cfg.global_tokens:
        if g < n:
            protected[g] = True
    free = np.flatnonzero(~protected)
    if free.size == 0:
        # upstream: the first non-global position below len - window, else 0.
        # Below len - window only globals are protected, so none exists: 0.
        pos = 0
    else:
        pos = int(free[int(np.argmin(sc[free]))])
    cache._k[pos:n - 1] = cache._k[pos + 1:n]
    cache._v[pos:n - 1] = cache._v[pos + 1:n]
    cache._len = n - 1
    cache._rebuild_means()
    return pos


# --------------------------------------------------------------------------
# FastGRNN salience gate


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return _F32(1.0) / (_F32(1.0) + np.exp(-z))


class FastGRNNGate:
    """FastGRNN cell (docs/spec.md §3, optional): ``g = σ(x·Wg + h·Ug + bg)``,
    ``c = tanh(x·Wu + h·Uu + bu)``, ``h' = g·h + (1-g)·c``. Weights row-major
    ``[in][out]``: ``wg, wu [dim][hidden]``, ``ug, uu [hidden][hidden]``,
    ``bg, bu [hidden]``."""

    def __init__(self, wg: Any, ug: Any, bg: Any, wu: Any, uu: Any, bu: Any) -> None:
        self.wg, self.ug, self.bg = (_as_f32(a, n) for a, n in ((wg, "wg"), (ug, "ug"),
                                                                 (bg, "bg")))
        self.wu, self.uu, self.bu = (_as_f32(a, n) for a, n in ((wu, "wu"), (uu, "uu"),
                                                                 (bu, "bu")))
        if self.wg.ndim != 2:
            raise RuvError(f"wg must be [dim][hidden], got shape {self.wg.shape}")
        dim, hidden = self.wg.shape
        want = {"wg": (dim, hidden), "wu": (dim, hidden), "ug": (hidden, hidden),
                "uu": (hidden, hidden), "bg": (hidden,), "bu": (hidden,)}
        for name, shape in want.items():
            got = getattr(self, name).shape
            if got != shape:
                raise RuvError(f"FastGRNN {name} must have shape {shape}, got {got}")
        if dim == 0 or hidden == 0:
            raise RuvError("FastGRNN dim and hidden must be > 0")
        self.dim, self.hidden = int(dim), int(hidden)

    @classmethod
    def default(cls, dim: int, hidden: int = DEFAULT_HIDDEN) -> FastGRNNGate:
        """Upstream's deterministic default gate (:func:`default_gate_weights`)."""
        wg, ug, wu, uu = default_gate_weights(dim, hidden)
        zero = np.zeros(hidden, _F32)
        return cls(wg, ug, zero, wu, uu, zero)

    @classmethod
    def random(cls, dim: int, hidden: int, seed: int = 0, scale: float = 0.5) -> FastGRNNGate:
        rng = np.random.default_rng(seed)

        def w(*shape: int) -> np.ndarray:
            return (rng.standard_normal(shape) * scale / math.sqrt(shape[0])).astype(_F32)

        return cls(w(dim, hidden), w(hidden, hidden), np.zeros(hidden, _F32),
                   w(dim, hidden), w(hidden, hidden), np.zeros(hidden, _F32))

    def step(self, x: Any, h: Any) -> np.ndarray:
        """One cell step: ``h' [hidden]`` from ``x [dim]`` and ``h [hidden]``."""
        x = _as_f32(x, "x").reshape(-1)
        h = _as_f32(h, "h").reshape(-1)
        if x.shape[0] != self.dim or h.shape[0] != self.hidden:
            raise RuvError(f"x must have {self.dim} and h {self.hidden} entries, "
                           f"got {x.shape[0]} and {h.shape[0]}")
        g = _sigmoid(x @ self.wg + h @ self.ug + self.bg)
        c = np.tanh(x @ self.wu + h @ self.uu + self.bu)
        return (g * h + (_F32(1.0) - g) * c).astype(_F32, copy=False)

    def salience(self, k: Any) -> np.ndarray:
        """float32 ``[n]``: ``‖h_t‖`` over ``x_t`` = mean over kv heads of
        ``k[t]`` (``k [n][kv_heads][dim]``), ``h`` starting at 0."""
        k = _as_f32(k, "k")
        if k.ndim != 3 or k.shape[2] != self.dim or k.shape[1] == 0:
            raise RuvError(f"k must be [n][kv_heads][{self.dim}], got shape {k.shape}")
        xs = k.sum(axis=1, dtype=_F32) * (_F32(1.0) / _F32(k.shape[1]))
        h = np.zeros(self.hidden, dtype=_F32)
        out = np.empty(k.shape[0], dtype=_F32)
        for t in range(k.shape[0]):
            h = self.step(xs[t], h)
            out[t] = np.sqrt(np.dot(h, h))
        return out

    def keep_mask(self, k: Any, threshold: float) -> np.ndarray:
        """bool ``[n]``: salience >= threshold (for :func:`gated_sparse_attention`)."""
        return self.salience(k) >= _F32(threshold)

    def keep_mask_top_k(self, k: Any, top_k: int) -> np.ndarray:
        """bool ``[n]``: the ``top_k`` most salient positions (:func:`keep_mask_top_k`)."""
        return keep_mask_top_k(self.salience(k), top_k)


def default_gate_weights(dim: int, hidden: int = DEFAULT_HIDDEN
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upstream's default FastGRNN weights (docs/spec.md §3) in the cell's ``[in][out]``
    layout: ``(wg [dim][hidden], ug [hidden][hidden], wu [dim][hidden], uu
    [hidden][hidden])``. Upstream stores ``[H][in]`` / ``[H][H]`` row-major
    and element ``i`` of Wg, Ug, Wu, Uu is ``(f32(u32(j*2654435761 +
    0x9E3779B9)) / 2^32 - 0.5) * 2 * sqrt(2/(in+H)) * 0.1`` with ``j = i +
    0, 1000, 2000, 3000`` (u32 wrap-around); float32, left to right, as the C
    core computes it (``ruv_fastgrnn_default``)."""
    dim, hidden = int(dim), int(hidden)
    if dim <= 0 or hidden <= 0:
        raise RuvError(f"default gate needs dim > 0 and hidden > 0, got {dim}, {hidden}")
    scale = np.sqrt(_F32(2.0) / _F32(dim + hidden), dtype=_F32)

    def mat(rows: int, cols: int, which: int) -> np.ndarray:
        i = np.arange(rows * cols, dtype=np.uint64)
        j = (i + np.uint64(1000 * which)) & np.uint64(0xFFFFFFFF)
        h = ((j * np.uint64(2654435761) + np.uint64(0x9E3779B9))
             & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        u = h.astype(_F32) * _F32(2.0 ** -32)  # / 2^32, exact
        w = ((u - _F32(0.5)) * _F32(2.0)) * scale * _F32(0.1)
        return np.ascontiguousarray(w.astype(_F32).reshape(rows, cols).T)

    return mat(hidden, dim, 0), mat(hidden, hidden, 1), mat(hidden, dim, 2), mat(hidden, hidden, 3)


def keep_mask_top_k(salience: Any, k: int) -> np.ndarray:
    """bool ``[n]`` keeping the ``k`` highest salience values (docs/spec.md §3):
    ``k = 0`` keeps none, ``k >= n`` all, ties go to the lower index; a NaN
    salience ranks below every number (``ruv_keep_mask_top_k``)."""
    s = np.asarray(salience, dtype=_F32).reshape(-1)
    k = int(k)
    if k < 0:
        raise RuvError(f"keep_mask_top_k: k must be >= 0, got {k}")
    n = s.shape[0]
    keep = np.zeros(n, dtype=bool)
    if k >= n:
        keep[:] = True
        return keep
    nan = np.isnan(s)
    # lexsort: last key primary — numbers before NaN, then salience
    # descending, then index ascending
    order = np.lexsort((np.arange(n), np.where(nan, _F32(0.0), -s), nan))
    keep[order[:k]] = True
    return keep
