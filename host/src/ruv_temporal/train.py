"""Training of model v1 (docs/spec.md §4) in PyTorch, with the kernel's exact sparse pattern.

PyTorch is an optional extra (``pip install 'ruv-temporal[train]'``); this
module and :mod:`ruv_temporal.gate` are the only ones that import it.
Importing this module without torch raises :class:`TrainExtraMissing`, whose
message names the install command.

The torch forward is the same function as :class:`ruv_temporal.model.TemporalHead`
(window mode) on the exported blob:

* attention per layer over the candidate tokens of docs/spec.md §3 (a boolean
  ``[T][T]`` mask built from :func:`ruv_temporal.kernel.candidates`) plus
  landmark blocks (block means of K and V per kv head, appended as extra keys
  and values, with a per-query ``[T][nb]`` mask of the candidate blocks —
  including the causal quirk that the block ending at ``i`` is a candidate
  although its tokens are in the window);
* grouped-query attention (query head ``h`` reads kv head ``h // (q/kv)``);
* NORM (mean / inv_std computed from the training frames), BIAS, residual
  width ``D``, readout of the newest frame, linear classifier.

A masked softmax over the candidate set equals the kernel's one-pass online
softmax up to float32 rounding, so the exported blob reproduces the torch
logits in the NumPy reference and in the C core within 1e-4 (checked by
:func:`check_export` and in ``tests/host/test_train.py``).

The "dense" variant (``sparse=False``, used by the sparse-vs-dense gate) is
plain causal attention. It is exported with an ATTN section that makes the
sparse kernel dense: ``window = N`` (the deployed window length), no globals,
no log-stride, no landmarks, so the candidate set of every ``i < N`` is
exactly ``0..=i``.

See docs/training.md for the data, the defaults and the measured figures.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ruv_temporal import kernel, rvne
from ruv_temporal.errors import RuvError

TRAIN_EXTRA_HINT = "pip install 'ruv-temporal[train]'"


class TrainExtraMissing(RuvError, ImportError):
    """The optional training extra (PyTorch, matplotlib) is not installed."""


def _import_torch() -> Any:
    try:
        import torch as _torch
    except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
        raise TrainExtraMissing(
            "ruv-temporal training needs PyTorch, which is an optional extra; "
            f"install it with:  {TRAIN_EXTRA_HINT}"
        ) from exc
    return _torch


torch = _import_torch()
nn = torch.nn
F = torch.nn.functional

#: csi-stats v1 features (ruv_temporal.features) the default recipe switches
#: off through NORM: amp_mean (the AGC's target level), phase_slope (the
#: per-packet timing offset, random), rssi and snr (absolute room levels;
#: their changes are in rssi_dev)
CSI_STATS_V1_DROP: tuple[int, ...] = (0, 11, 13, 14)
#: csi-stats v1 features whose level is a property of the room (multipath
#: shape): amp_cv, profile_0..5, phase_resid -> room jitter
CSI_STATS_V1_LEVEL: tuple[int, ...] = (1, 5, 6, 7, 8, 9, 10, 12)
#: csi-stats v1 features that scale with the room's noise floor: motion,
#: motion_ema, deviation -> noise-floor gain augmentation
CSI_STATS_V1_NOISE: tuple[int, ...] = (2, 3, 4)

#: the synthetic data of the default training run (``ruv-temporal train --synth``)
DEFAULT_SYNTH: dict[str, Any] = {
    "rooms": 72,
    "seconds": 90.0,
    "sessions_per_activity": 1,
    "heldout_rooms": 8,
}

#: label of a row that is not trained on (cross-entropy ``ignore_index``)
IGNORE = -100

#: docs/spec.md §5 INPUT section values of the csi-stats v1 feature set at 10 frames/s.
FEATURE_SET_CSI_STATS_V1 = 1
FRAME_RATE_X100 = 1000


# --------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class ModelDims:
    """Shapes of model v1 (the blob header)."""

    input_dim: int = 16
    q_heads: int = 4
    kv_heads: int = 1
    head_dim: int = 32
    n_layers: int = 2
    n_classes: int = 6

    def validate(self) -> None:
        for name in ("input_dim", "q_heads", "kv_heads", "head_dim", "n_layers"):
            if getattr(self, name) < 1:
                raise RuvError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.q_heads % self.kv_heads:
            raise RuvError(
                f"q_heads ({self.q_heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )
        if self.n_classes < 2:
            raise RuvError(f"n_classes must be >= 2, got {self.n_classes}")


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the data and the seed)."""

    dims: ModelDims = field(default_factory=ModelDims)
    #: attention pattern of the sparse model (docs/spec.md §4 default: the "aether" config)
    attn: kernel.SparseConfig = field(default_factory=kernel.SparseConfig.aether)
    #: False: plain causal (dense) attention — the baseline of the gate
    sparse: bool = True
    #: training window length T (frames)
    window: int = 128
    #: deployed window length N: evaluation, export and the parity checks use it
    eval_window: int = 256
    #: hop between consecutive training windows of a session (frames)
    stride: int = 16
    #: hop between consecutive evaluation windows
    eval_stride: int = 16
    epochs: int = 8
    #: the per-epoch held-out evaluation (the curves) uses at most this many
    #: windows spread evenly over the held-out set (0 = all); the final figures
    #: always use every held-out window
    curve_windows: int = 512
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    #: rows of each training window whose logits are trained (1 = the newest
    #: frame only). With k > 1 (deep supervision) the windows are cut every
    #: ``stride`` frames and rows ``T-k .. T-1`` each count as the readout of
    #: the window up to that row (see :meth:`TorchTemporalHead.forward`)
    supervise_rows: int = 1
    #: scale of the initial query weights (small: attention starts close to
    #: uniform pooling over the candidates)
    q_init_gain: float = 1.0
    #: NORM section statistics: "std" (mean, 1/std) or "robust" (median,
    #: 1/(IQR/1.349)); robust keeps the heavy tail of the motion features
    #: (walking) from squeezing the quiet activities together
    norm: str = "robust"
    #: features switched off through the NORM section (mean 0, inv_std 0: they
    #: reach the model as 0 and their residual channels are free). None =
    #: automatic: :data:`CSI_STATS_V1_DROP` for csi-stats v1 (feature set 1,
    #: 16 features), none otherwise
    drop_features: tuple[int, ...] | None = None
    #: Gaussian noise (in normalised units) added to every training frame
    input_noise: float = 0.0
    #: room augmentation: each training window gets a constant per-feature
    #: offset ~ N(0, (room_jitter * sigma_room)^2), sigma_room = the spread of
    #: the per-room mean feature vectors of the training data (0 = off)
    room_jitter: float = 0.5
    #: features the room jitter applies to. None = automatic: the room-level
    #: features :data:`CSI_STATS_V1_LEVEL` for csi-stats v1, every feature otherwise
    jitter_features: tuple[int, ...] | None = None
    #: noise-floor augmentation: the ``gain_features`` of a training window are
    #: multiplied (raw units) by one common factor exp(N(0, gain_jitter^2)),
    #: like a room with another noise level (ratios between them are kept)
    gain_jitter: float = 0.3
    #: None = automatic: :data:`CSI_STATS_V1_NOISE` for csi-stats v1, none otherwise
    gain_features: tuple[int, ...] | None = None
    #: the NORM inv_std of the ``gain_features`` is multiplied by this
    gain_features_scale: float = 1.0
    #: cross-entropy label smoothing (0 = off; 0.1 cost 5 pp, docs/training.md)
    label_smoothing: float = 0.0
    #: after training the classifier (Wc, bc) is scaled by
    #: ``min(1, logit_budget / max|logit|)`` over (up to 2048) training windows:
    #: a temperature that keeps the logits within about +-logit_budget, so the
    #: float32 rounding differences of the C core (~1e-6 relative) stay well
    #: inside the 1e-4 absolute parity tolerance. The argmax, and so every
    #: accuracy figure, is unchanged; 0 = off
    logit_budget: float = 64.0
    #: weight the loss by inverse class frequency of the training windows
    #: (False: the natural frequencies, which the held-out windows share)
    balance_classes: bool = False
    seed: int = 0
    #: torch intra-op threads (more gain little on these small matmuls)
    threads: int = 2
    #: INPUT section: feature-set id and frame rate x100 of the data
    feature_set: int = FEATURE_SET_CSI_STATS_V1
    frame_rate_x100: int = FRAME_RATE_X100

    def _csi_stats_v1(self) -> bool:
        return self.feature_set == FEATURE_SET_CSI_STATS_V1 and self.dims.input_dim == 16

    def resolved_drop(self) -> tuple[int, ...]:
        if self.drop_features is not None:
            return tuple(self.drop_features)
        return CSI_STATS_V1_DROP if self._csi_stats_v1() else ()

    def resolved_jitter(self) -> tuple[int, ...]:
        if self.jitter_features is not None:
            return tuple(self.jitter_features)
        if self._csi_stats_v1():
            return CSI_STATS_V1_LEVEL
        return tuple(range(self.dims.input_dim))

    def resolved_gain(self) -> tuple[int, ...]:
        if self.gain_features is not None:
            return tuple(self.gain_features)
        return CSI_STATS_V1_NOISE if self._csi_stats_v1() else ()

    def validate(self) -> None:
        self.dims.validate()
        for name, idx in (("drop_features", self.resolved_drop()),
                          ("jitter_features", self.resolved_jitter()),
                          ("gain_features", self.resolved_gain())):
            if any(not 0 <= i < self.dims.input_dim for i in idx):
                raise RuvError(f"{name} {idx} outside 0..{self.dims.input_dim - 1}")
        if self.window < 1 or self.eval_window < 1:
            raise RuvError("window lengths must be >= 1")
        if self.stride < 1 or self.eval_stride < 1:
            raise RuvError("strides must be >= 1")
        if self.supervise_rows < 1 or self.supervise_rows > self.window:
            raise RuvError("supervise_rows must be 1..window")
        if self.epochs < 1 or self.batch_size < 1:
            raise RuvError("epochs and batch_size must be >= 1")
        if self.eval_window > 0xFFFF:
            raise RuvError("eval_window must fit the ATTN section (u16)")
        if self.lr <= 0:
            raise RuvError("lr must be > 0")

    def export_attn(self) -> kernel.SparseConfig:
        """The ATTN section written into the blob."""
        if self.sparse:
            return self.attn
        return dense_equivalent_config(self.eval_window)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["attn"] = _cfg_json(self.attn)
        d["drop_features"] = list(self.resolved_drop())
        d["jitter_features"] = list(self.resolved_jitter())
        d["gain_features"] = list(self.resolved_gain())
        return d


def _cfg_json(cfg: kernel.SparseConfig) -> dict[str, Any]:
    return {
        "window": cfg.window,
        "block_size": cfg.block_size,
        "global_tokens": list(cfg.global_tokens),
        "causal": cfg.causal,
        "log_stride": cfg.log_stride,
        "landmarks": cfg.landmarks,
    }


def dense_equivalent_config(n: int) -> kernel.SparseConfig:
    """A docs/spec.md §3 config whose causal candidate set is ``0..=i`` for all ``i < n``.

    ``block_size`` is irrelevant without landmarks but must be > 0.
    """
    return kernel.SparseConfig(
        window=n,
        block_size=16,
        global_tokens=(),
        causal=True,
        log_stride=False,
        landmarks=False,
    )


# --------------------------------------------------------------------------
# attention masks


@dataclass(frozen=True, eq=False)  # hashed by identity (the masks are cached)
class AttnMasks:
    """Which keys each query row attends to, for a sequence of ``n`` frames.

    ``tokens[i, j]``: token ``j`` is a candidate of query ``i``;
    ``blocks[i, b]``: landmark block ``b`` is a candidate of query ``i``
    (shape ``[n][0]`` without landmarks).
    """

    n: int
    block_size: int
    tokens: np.ndarray
    blocks: np.ndarray

    @functools.cached_property
    def combined(self) -> Any:
        """torch bool ``[n][n+nb]``: token columns, then block columns."""
        return torch.from_numpy(np.concatenate([self.tokens, self.blocks], axis=1))


@functools.lru_cache(maxsize=32)
def sparse_masks(n: int, cfg: kernel.SparseConfig) -> AttnMasks:
    """Masks equal to :func:`ruv_temporal.kernel.candidates` for every row."""
    if n < 1:
        raise RuvError(f"sequence length must be >= 1, got {n}")
    if cfg.block_size <= 0:
        raise RuvError("block_size must be > 0")
    nb = -(-n // cfg.block_size) if cfg.landmarks else 0
    tok = np.zeros((n, n), dtype=bool)
    blk = np.zeros((n, nb), dtype=bool)
    for i in range(n):
        tokens, blocks = kernel.candidates(i, n, cfg)
        tok[i, list(tokens)] = True
        if blocks:
            blk[i, list(blocks)] = True
    tok.setflags(write=False)
    blk.setflags(write=False)
    return AttnMasks(n=n, block_size=cfg.block_size, tokens=tok, blocks=blk)


@functools.lru_cache(maxsize=32)
def dense_masks(n: int) -> AttnMasks:
    """Plain causal attention: row ``i`` attends to ``0..=i``."""
    tok = np.tril(np.ones((n, n), dtype=bool))
    tok.setflags(write=False)
    blk = np.zeros((n, 0), dtype=bool)
    blk.setflags(write=False)
    return AttnMasks(n=n, block_size=1, tokens=tok, blocks=blk)


@functools.lru_cache(maxsize=64)
def query_rows(masks: AttnMasks, n_layers: int, out_rows: int = 1) -> tuple[np.ndarray, ...]:
    """Rows whose output each layer must compute for the logits of the
    ``out_rows`` newest rows.

    The readout reads rows ``n-out_rows .. n-1`` of the last layer. Layer ``l`` needs its
    input at its query rows (the residual), at their candidate tokens and at
    every row of their candidate blocks (a landmark is the mean of a whole
    block); those input rows are the query rows of layer ``l-1``. Rows outside
    a layer's set are never read by a candidate — only by the means of blocks
    that no needed query attends to, which are masked out — so computing only
    these rows gives the same logits (and newest-row states) as computing all.
    Returns one sorted int64 array per layer.
    """
    n, bs = masks.n, masks.block_size
    if not 1 <= out_rows <= n:
        raise RuvError(f"out_rows must be 1..{n}, got {out_rows}")
    rows: list[np.ndarray] = [np.arange(n - out_rows, n, dtype=np.int64)]
    for _ in range(n_layers - 1):
        q = rows[0]
        need = np.zeros(n, bool)
        need[q] = True
        need |= masks.tokens[q].any(axis=0)
        for b in np.flatnonzero(masks.blocks[q].any(axis=0)):
            need[b * bs : min(n, (b + 1) * bs)] = True
        rows.insert(0, np.flatnonzero(need).astype(np.int64))
    for r in rows:
        r.setflags(write=False)
    return tuple(rows)


# --------------------------------------------------------------------------
# the model


def block_means(x: Any, block_size: int, nb: int) -> Any:
    """Float32 means of rows ``[b*B, min(n, (b+1)*B))`` per head: ``[Bt][nb][G][d]``."""
    bt, n, g, d = x.shape
    pad = nb * block_size - n
    if pad:
        x = torch.cat([x, x.new_zeros(bt, pad, g, d)], dim=1)
    sums = x.reshape(bt, nb, block_size, g, d).sum(dim=2)
    counts = torch.clamp(
        n - torch.arange(nb, dtype=torch.float32) * block_size, max=float(block_size)
    )
    return sums / counts.reshape(1, nb, 1, 1)


def masked_attention(q: Any, k: Any, v: Any, masks: AttnMasks, rows: Any) -> Any:
    """Attention of query rows ``rows`` (a slice or an index array; q holds
    only those rows) over all keys.

    q ``[Bt][Tq][H][d]``, k/v ``[Bt][T][G][d]`` -> ``[Bt][Tq][H*d]``.
    """
    bt, tq, h, d = q.shape
    g = k.shape[2]
    mask = masks.combined[rows]
    nb = masks.blocks.shape[1]
    if nb:
        k = torch.cat([k, block_means(k, masks.block_size, nb)], dim=1)
        v = torch.cat([v, block_means(v, masks.block_size, nb)], dim=1)
    scale = 1.0 / math.sqrt(d)
    qg = q.reshape(bt, tq, g, h // g, d)
    scores = torch.einsum("btgrd,bsgd->bgrts", qg, k) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    out = torch.einsum("bgrts,bsgd->btgrd", p, v)
    return out.reshape(bt, tq, h * d)


class TorchTemporalHead(nn.Module):
    """Model v1 in torch. Weights are stored row-major ``[in][out]`` like the blob."""

    def __init__(
        self,
        dims: ModelDims,
        attn: kernel.SparseConfig | None,
        mean: np.ndarray | None = None,
        inv_std: np.ndarray | None = None,
        generator: Any = None,
        q_init_gain: float = 1.0,
    ) -> None:
        super().__init__()
        dims.validate()
        self.dims = dims
        #: None = dense causal attention
        self.attn = attn
        D, H, G, d, C = (
            dims.input_dim,
            dims.q_heads,
            dims.kv_heads,
            dims.head_dim,
            dims.n_classes,
        )

        def w(fan_in: int, fan_out: int, gain: float = 1.0) -> Any:
            t = torch.randn(fan_in, fan_out, generator=generator) * (gain / math.sqrt(fan_in))
            return nn.Parameter(t)

        self.wq = nn.ParameterList([w(D, H * d, q_init_gain) for _ in range(dims.n_layers)])
        self.wk = nn.ParameterList([w(D, G * d) for _ in range(dims.n_layers)])
        self.wv = nn.ParameterList([w(D, G * d) for _ in range(dims.n_layers)])
        self.wo = nn.ParameterList([w(H * d, D, 0.5) for _ in range(dims.n_layers)])
        self.bq = nn.ParameterList([nn.Parameter(torch.zeros(H * d)) for _ in range(dims.n_layers)])
        self.bk = nn.ParameterList([nn.Parameter(torch.zeros(G * d)) for _ in range(dims.n_layers)])
        self.bv = nn.ParameterList([nn.Parameter(torch.zeros(G * d)) for _ in range(dims.n_layers)])
        self.bo = nn.ParameterList([nn.Parameter(torch.zeros(D)) for _ in range(dims.n_layers)])
        self.wc = w(D, C)
        self.bc = nn.Parameter(torch.zeros(C))
        m = np.zeros(D, np.float32) if mean is None else np.asarray(mean, np.float32)
        s = np.ones(D, np.float32) if inv_std is None else np.asarray(inv_std, np.float32)
        if m.shape != (D,) or s.shape != (D,):
            raise RuvError(f"norm vectors must have shape ({D},)")
        self.register_buffer("mean", torch.from_numpy(m.copy()))
        self.register_buffer("inv_std", torch.from_numpy(s.copy()))

    def masks(self, n: int) -> AttnMasks:
        return dense_masks(n) if self.attn is None else sparse_masks(n, self.attn)

    def normalise(self, x: Any) -> Any:
        return (x - self.mean) * self.inv_std

    def forward(
        self, x: Any, *, normalised: bool = False, return_states: bool = False,
        out_rows: int = 1,
    ) -> Any:
        """x ``[Bt][T][D]`` (oldest first) -> logits ``[Bt][C]`` of the newest frame.

        With ``return_states`` also the newest row of the residual stream per
        stage, ``[Bt][n_layers+1][D]`` (stage 0 = normalised input), like
        :meth:`ruv_temporal.model.TemporalHead.forward`.

        ``out_rows > 1`` returns the logits of the ``out_rows`` newest rows,
        ``[Bt][out_rows][C]`` (oldest first). The model is causal and its
        candidate sets do not depend on what follows a row, so row ``i`` is the
        newest-frame readout of the window ``x[:, :i+1]`` (deep supervision).
        """
        if x.dim() != 3 or x.shape[2] != self.dims.input_dim:
            raise RuvError(
                f"frames must be [batch][T][{self.dims.input_dim}], got {tuple(x.shape)}"
            )
        dims = self.dims
        n = x.shape[1]
        masks = self.masks(n)
        h = x if normalised else self.normalise(x)
        states = [h[:, -1]]
        bt = h.shape[0]
        # only the rows the newest row's logits depend on (query_rows); the
        # other rows of h keep stale (finite) values that no candidate reads
        plan = query_rows(masks, dims.n_layers, out_rows)
        for layer in range(dims.n_layers):
            idx = plan[layer]
            full = idx.size == n
            rows: Any = slice(0, n) if full else torch.tensor(idx)
            hq = h if full else h[:, rows]
            q = (hq @ self.wq[layer] + self.bq[layer]).reshape(
                bt, hq.shape[1], dims.q_heads, dims.head_dim
            )
            k = (h @ self.wk[layer] + self.bk[layer]).reshape(
                bt, n, dims.kv_heads, dims.head_dim
            )
            v = (h @ self.wv[layer] + self.bv[layer]).reshape(
                bt, n, dims.kv_heads, dims.head_dim
            )
            a = masked_attention(q, k, v, masks, rows)
            out = hq + a @ self.wo[layer] + self.bo[layer]
            if layer == dims.n_layers - 1:
                h = out[:, hq.shape[1] - out_rows :]
            elif full:
                h = out
            else:
                h = h.index_copy(1, rows, out)
            states.append(h[:, -1])
        if out_rows > 1:
            logits = h @ self.wc + self.bc
        else:
            logits = h[:, -1] @ self.wc + self.bc
        if return_states:
            return logits, torch.stack(states, dim=1)
        return logits

    # ---------------------------------------------------------------- export

    def to_blob(
        self,
        attn: kernel.SparseConfig,
        labels: Sequence[str] | None = None,
        meta: str | None = None,
        feature_set: int = FEATURE_SET_CSI_STATS_V1,
        frame_rate_x100: int = FRAME_RATE_X100,
    ) -> rvne.Blob:
        """The model as an :class:`ruv_temporal.rvne.Blob` (FP32, all sections)."""
        dims = self.dims
        if labels is not None and len(labels) != dims.n_classes:
            raise RuvError(f"{len(labels)} labels for {dims.n_classes} classes")

        def a(t: Any) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))

        layers = [
            rvne.LayerWeights(
                wq=a(self.wq[i]),
                wk=a(self.wk[i]),
                wv=a(self.wv[i]),
                wo=a(self.wo[i]),
                bq=a(self.bq[i]),
                bk=a(self.bk[i]),
                bv=a(self.bv[i]),
                bo=a(self.bo[i]),
            )
            for i in range(dims.n_layers)
        ]
        return rvne.Blob(
            input_dim=dims.input_dim,
            n_q_heads=dims.q_heads,
            n_kv_heads=dims.kv_heads,
            head_dim=dims.head_dim,
            n_layers=dims.n_layers,
            n_classes=dims.n_classes,
            fp16=False,
            layers=layers,
            wc=a(self.wc),
            bc=a(self.bc),
            norm=(a(self.mean), a(self.inv_std)),
            attn=attn,
            input=rvne.InputSection(feature_set=feature_set, frame_rate_x100=frame_rate_x100),
            labels=list(labels) if labels is not None else None,
            meta=meta,
            unknown_sections=[],
            crc32=0,
        )

    @classmethod
    def from_blob(cls, blob: rvne.Blob, sparse: bool = True) -> TorchTemporalHead:
        """Load an exported blob back into torch (used by the parity tests)."""
        dims = ModelDims(
            blob.input_dim,
            blob.n_q_heads,
            blob.n_kv_heads,
            blob.head_dim,
            blob.n_layers,
            blob.n_classes,
        )
        attn = blob.attn if blob.attn is not None else kernel.SparseConfig.aether()
        mean, inv_std = blob.norm if blob.norm is not None else (None, None)
        m = cls(dims, attn if sparse else None, mean, inv_std)
        with torch.no_grad():
            for i, lw in enumerate(blob.layers):
                for name in ("wq", "wk", "wv", "wo"):
                    getattr(m, name)[i].copy_(torch.from_numpy(np.asarray(getattr(lw, name))))
                for name in ("bq", "bk", "bv", "bo"):
                    b = getattr(lw, name)
                    getattr(m, name)[i].copy_(
                        torch.zeros_like(getattr(m, name)[i]) if b is None
                        else torch.from_numpy(np.asarray(b))
                    )
            m.wc.copy_(torch.from_numpy(np.asarray(blob.wc)))
            if blob.bc is not None:
                m.bc.copy_(torch.from_numpy(np.asarray(blob.bc)))
        return m


# --------------------------------------------------------------------------
# data


@dataclass
class Session:
    """One recording: feature frames (oldest first), per-frame class ids, room id.

    ``events`` holds scripted frame indices (``fall_onset``, ``fall_end``,
    ``fall_label_end``) of synthetic or annotated falls, used by
    :func:`ruv_temporal.synth.session_windows` to cut "falling" windows.
    """

    frames: np.ndarray  # [n][D] float32
    labels: np.ndarray  # [n] int64 class ids
    room: int
    name: str = ""
    events: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frames = np.ascontiguousarray(self.frames, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.frames.ndim != 2:
            raise RuvError(f"session {self.name!r}: frames must be [n][D]")
        if self.labels.shape != (self.frames.shape[0],):
            raise RuvError(f"session {self.name!r}: one label per frame expected")
        if not np.all(np.isfinite(self.frames)):
            raise RuvError(f"session {self.name!r}: non-finite feature values")


class WindowSet:
    """Windows of ``length`` frames cut from sessions, labelled by their newest frame.

    Window ends follow :func:`ruv_temporal.synth.session_windows`: every
    ``stride`` frames, except that in a session with a fall the "falling"
    windows are taken at every frame and only when they contain the whole
    fall. Sessions shorter than ``length`` contribute no window.
    """

    def __init__(
        self, sessions: Sequence[Session], length: int, stride: int, regular: bool = False
    ) -> None:
        from ruv_temporal import synth

        self.sessions = list(sessions)
        self.length = length
        parts: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        for si, s in enumerate(self.sessions):
            if regular:  # plain windows every ``stride`` frames (deep supervision)
                n = s.frames.shape[0]
                ends = np.arange(length - 1, n, stride, dtype=np.int64)
                labels = s.labels[ends]
            else:
                ends, labels = synth.session_windows(s.frames, s, length, stride)  # type: ignore[arg-type]
            parts.append(np.stack([np.full(ends.size, si), ends], axis=1))
            targets.append(labels)
        self.index = (
            np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)
        )
        self.targets = (
            np.concatenate(targets).astype(np.int64) if targets else np.zeros(0, np.int64)
        )

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def frames(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """``[len(rows)][length][D]`` float32 windows."""
        out = []
        for r in np.asarray(rows, dtype=np.int64):
            si, end = self.index[r]
            out.append(self.sessions[si].frames[end - self.length + 1 : end + 1])
        return np.stack(out).astype(np.float32, copy=False)

    def row_targets(self, k: int) -> np.ndarray:
        """``[len][k]`` labels of the ``k`` newest rows of every window.

        Row ``j`` of a window starting at frame ``s0`` stands for the window
        ``s0 .. s0+j`` (the model is causal); its label is that frame's.
        Like :func:`ruv_temporal.synth.session_windows`, a row labelled
        "falling" counts only if its window contains the whole fall (onset to
        end); other falling rows get :data:`IGNORE`.
        """
        from ruv_temporal import synth

        fall_cls = synth.ACTIVITIES.index("falling")
        out = np.full((len(self), k), IGNORE, np.int64)
        for r in range(len(self)):
            si, end = self.index[r]
            s = self.sessions[si]
            f = np.arange(end - k + 1, end + 1)
            lab = s.labels[f].copy()
            ev = s.events
            if "fall_onset" in ev:
                start = end - self.length + 1
                whole = (start <= ev["fall_onset"]) & (f >= ev["fall_end"])
                lab[(lab == fall_cls) & ~whole] = IGNORE
            out[r] = lab
        return out

    def subset(self, rows: np.ndarray | Sequence[int]) -> WindowSet:
        """The windows ``rows`` of this set (same sessions and length)."""
        out = WindowSet.__new__(WindowSet)
        out.sessions = self.sessions
        out.length = self.length
        r = np.asarray(rows, dtype=np.int64)
        out.index = self.index[r]
        out.targets = self.targets[r]
        return out

    def class_counts(self, n_classes: int) -> np.ndarray:
        return np.bincount(self.targets, minlength=n_classes)


def synth_sessions(
    rooms: int, seconds: float, sessions_per_activity: int = 2, seed: int = 0,
    rate_hz: float = 10.0, progress: Callable[[int, int], None] | None = None,
    first_room: int = 0,
) -> tuple[list[Session], list[str], dict[str, Any]]:
    """Synthetic sessions of every activity in rooms ``first_room .. first_room+rooms-1``.

    The seeding follows :func:`ruv_temporal.synth.make_dataset`: session
    ``s`` of activity ``a`` in room ``r`` uses ``default_rng([seed, r, a, s])``.
    ``progress(done, total)`` is called after each session.
    """
    from ruv_temporal import synth

    if rooms < 1 or sessions_per_activity < 1 or seconds <= 0:
        raise RuvError("need rooms >= 1, sessions_per_activity >= 1, seconds > 0")
    out: list[Session] = []
    total = rooms * len(synth.ACTIVITIES) * sessions_per_activity
    for room in range(first_room, first_room + rooms):
        for ai, act in enumerate(synth.ACTIVITIES):
            for k in range(sessions_per_activity):
                rng = np.random.default_rng([int(seed), room, ai, k])
                sess = synth.generate_session(act, room, seconds, rate_hz, rng)
                out.append(
                    Session(
                        frames=sess.features(),
                        labels=sess.labels,
                        room=room,
                        name=f"room{room}-{act}-{k}",
                        events=dict(sess.events),
                    )
                )
                if progress is not None:
                    progress(len(out), total)
    info = {
        "source": "synth",
        "rooms": rooms,
        "first_room": first_room,
        "seconds": seconds,
        "sessions_per_activity": sessions_per_activity,
        "seed": seed,
        "rate_hz": rate_hz,
    }
    return out, list(synth.ACTIVITIES), info


def load_sessions(directory: str | Path) -> tuple[list[Session], list[str], dict[str, Any]]:
    """Sessions recorded on disk (:mod:`ruv_temporal.recording` ``*.npz`` files).

    All files must share the label names, the feature set and the feature
    width. The room id comes from each file's metadata (``meta["room"]``);
    files without one are each treated as a room of their own, numbered
    after the largest known room id in file-name order, so a held-out split
    still never shares a session between training and evaluation.
    """
    from ruv_temporal import recording

    recs = recording.load_dir(directory)
    if not recs:
        raise RuvError(f"{directory}: no session files (*.npz)")
    names = recs[0].label_names
    fset = recs[0].feature_set
    dim = recs[0].features.shape[1]
    known = [r.room for r in recs if r.room is not None]
    next_room = (max(known) + 1) if known else 0
    rates = []
    out: list[Session] = []
    for i, r in enumerate(recs):
        if r.label_names != names:
            raise RuvError(f"session {i} has label names {r.label_names}, expected {names}")
        if r.feature_set != fset or r.features.shape[1] != dim:
            raise RuvError(f"session {i}: feature set {r.feature_set} / width "
                           f"{r.features.shape[1]}, expected {fset} / {dim}")
        room = r.room
        if room is None:
            room = next_room
            next_room += 1
        if r.meta.get("rate_hz"):
            rates.append(float(r.meta["rate_hz"]))
        ev = r.meta.get("events") or {}
        out.append(Session(frames=r.features, labels=r.labels, room=int(room),
                           name=str(r.meta.get("activity", r.label)) + f"#{i}",
                           events={str(k): int(v) for k, v in ev.items()}))
    rate = float(np.median(rates)) if rates else 10.0
    info = {"source": str(directory), "sessions": len(out), "feature_set": int(fset),
            "rate_hz": rate}
    return out, list(names), info


def split_heldout(
    sessions: Sequence[Session], n_heldout_rooms: int
) -> tuple[list[Session], list[Session]]:
    """Hold out the ``n_heldout_rooms`` highest room ids."""
    rooms = sorted({s.room for s in sessions})
    if n_heldout_rooms < 1 or n_heldout_rooms >= len(rooms):
        raise RuvError(
            f"cannot hold out {n_heldout_rooms} of {len(rooms)} rooms (need at least one "
            "room for training and one for evaluation)"
        )
    return split_by_room(sessions, rooms[-n_heldout_rooms:])


def norm_stats(
    sessions: Sequence[Session], eps: float = 1e-6, method: str = "std"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature centre and 1/scale over every training frame (the NORM section).

    ``method="std"``: mean and population std. ``"robust"``: median and
    IQR / 1.349 (the std of a normal distribution with that IQR; falls back
    to the std where the IQR is 0), which does not let the heavy tail of the
    motion features (walking) squeeze the quiet activities together.
    """
    x = np.concatenate([s.frames for s in sessions]).astype(np.float64)
    if method == "std":
        centre = x.mean(axis=0)
        scale = x.std(axis=0)
    elif method == "robust":
        q1, centre, q3 = np.percentile(x, [25.0, 50.0, 75.0], axis=0)
        scale = (q3 - q1) / 1.349
        scale = np.where(scale > eps, scale, x.std(axis=0))
    else:
        raise RuvError(f"unknown normalisation {method!r} (std, robust)")
    inv = 1.0 / np.maximum(scale, eps)
    return centre.astype(np.float32), inv.astype(np.float32)


def room_spread(sessions: Sequence[Session]) -> np.ndarray:
    """Std over rooms of each room's mean feature vector (float32 ``[D]``).

    The training data's measure of how much a feature's level moves from
    room to room; it scales the room-jitter augmentation.
    """
    by_room: dict[int, list[np.ndarray]] = {}
    for s in sessions:
        by_room.setdefault(s.room, []).append(s.frames)
    if len(by_room) < 2:
        return np.zeros(sessions[0].frames.shape[1], np.float32)
    means = np.stack([np.concatenate(v).astype(np.float64).mean(0) for v in by_room.values()])
    return means.std(axis=0).astype(np.float32)


def split_by_room(
    sessions: Sequence[Session], heldout_rooms: Sequence[int]
) -> tuple[list[Session], list[Session]]:
    held = set(int(r) for r in heldout_rooms)
    train = [s for s in sessions if s.room not in held]
    test = [s for s in sessions if s.room in held]
    if not train or not test:
        raise RuvError(
            f"room split leaves {len(train)} training and {len(test)} held-out sessions"
        )
    return train, test


# --------------------------------------------------------------------------
# training and evaluation


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    confusion: np.ndarray  # [true][pred] counts
    n_windows: int
    logits: np.ndarray
    targets: np.ndarray

    def summary(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "n_windows": self.n_windows,
            "confusion": self.confusion.tolist(),
        }


@dataclass
class TrainResult:
    model: TorchTemporalHead
    config: TrainConfig
    labels: list[str]
    history: list[dict[str, float]]
    heldout: EvalResult  # at the deployed window length
    heldout_train_window: EvalResult  # at the training window length
    train_seconds: float
    #: factor applied to Wc and bc after training (TrainConfig.logit_budget)
    logit_scale: float = 1.0


def seed_everything(seed: int, threads: int) -> Any:
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@torch.no_grad()
def evaluate(
    model: TorchTemporalHead, windows: WindowSet, batch_size: int = 64
) -> EvalResult:
    model.eval()
    c = model.dims.n_classes
    logits = np.zeros((len(windows), c), np.float32)
    for start in range(0, len(windows), batch_size):
        rows = np.arange(start, min(start + batch_size, len(windows)))
        x = torch.from_numpy(windows.frames(rows))
        logits[rows] = model(x).numpy()
    tgt = windows.targets
    if len(windows) == 0:
        raise RuvError("no evaluation windows (sessions shorter than the window?)")
    lt = torch.from_numpy(logits)
    loss = float(F.cross_entropy(lt, torch.from_numpy(tgt)).item())
    pred = logits.argmax(axis=1)
    conf = np.zeros((c, c), np.int64)
    np.add.at(conf, (tgt, pred), 1)
    return EvalResult(
        loss=loss,
        accuracy=float((pred == tgt).mean()),
        confusion=conf,
        n_windows=len(windows),
        logits=logits,
        targets=tgt,
    )


ProgressFactory = Callable[[], Any]


def train_model(
    train_sessions: Sequence[Session],
    heldout_sessions: Sequence[Session],
    cfg: TrainConfig,
    labels: Sequence[str],
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    description: str = "train",
) -> TrainResult:
    """Train model v1 on windows of ``cfg.window`` frames; evaluate on held-out rooms.

    Held-out windows are evaluated at the deployed length ``cfg.eval_window``
    after every epoch (for the curves); they are never used to pick a model —
    the result is the model after the last epoch.
    """
    cfg.validate()
    labels = list(labels)
    if len(labels) != cfg.dims.n_classes:
        raise RuvError(f"{len(labels)} labels but n_classes = {cfg.dims.n_classes}")
    dims_d = cfg.dims.input_dim
    for s in list(train_sessions) + list(heldout_sessions):
        if s.frames.shape[1] != dims_d:
            raise RuvError(
                f"session {s.name!r} has {s.frames.shape[1]} features, model input_dim={dims_d}"
            )
        if s.labels.size and (s.labels.min() < 0 or s.labels.max() >= cfg.dims.n_classes):
            raise RuvError(f"session {s.name!r} has labels outside 0..{cfg.dims.n_classes - 1}")
    gen = seed_everything(cfg.seed, cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    mean, inv_std = norm_stats(train_sessions, method=cfg.norm)
    drop, jit_f, gain_f = cfg.resolved_drop(), cfg.resolved_jitter(), cfg.resolved_gain()
    if gain_f and cfg.gain_features_scale != 1.0:
        inv_std[list(gain_f)] *= np.float32(cfg.gain_features_scale)
    if drop:
        # NORM inv_std = 0: the feature reaches the model as 0 (its channel of
        # the residual stream is free for what the attention layers compute)
        mean[list(drop)] = 0.0
        inv_std[list(drop)] = 0.0
    model = TorchTemporalHead(
        cfg.dims, cfg.attn if cfg.sparse else None, mean, inv_std, generator=gen,
        q_init_gain=cfg.q_init_gain,
    )
    deep = cfg.supervise_rows > 1
    if cfg.supervise_rows > cfg.window:
        raise RuvError(f"supervise_rows ({cfg.supervise_rows}) > window ({cfg.window})")
    train_w = WindowSet(train_sessions, cfg.window, cfg.stride, regular=deep)
    row_y = train_w.row_targets(cfg.supervise_rows) if deep else train_w.targets[:, None]
    eval_w = WindowSet(heldout_sessions, cfg.eval_window, cfg.eval_stride)
    if len(train_w) == 0:
        raise RuvError(f"no training windows of {cfg.window} frames")
    if len(eval_w) == 0:
        raise RuvError(f"no held-out windows of {cfg.eval_window} frames")
    curve_w = eval_w
    if 0 < cfg.curve_windows < len(eval_w):
        curve_w = eval_w.subset(
            np.linspace(0, len(eval_w) - 1, num=cfg.curve_windows).astype(np.int64)
        )
    # room jitter in normalised units
    spread = room_spread(train_sessions) * inv_std * cfg.room_jitter
    keep = np.zeros(dims_d, bool)
    keep[list(jit_f)] = True
    spread = np.where(keep, spread, 0.0).astype(np.float32)
    jitter = torch.from_numpy(spread)
    gain_mask = np.zeros(dims_d, np.float32)
    gain_mask[list(gain_f)] = 1.0
    gain_mask_t = torch.from_numpy(gain_mask)
    valid_y = row_y[row_y != IGNORE]
    counts = np.bincount(valid_y, minlength=cfg.dims.n_classes).astype(np.float64)
    if cfg.balance_classes:
        wts = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / cfg.dims.n_classes, 0.0)
        class_w = torch.from_numpy(wts.astype(np.float32))
    else:
        class_w = None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(train_w) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total, pct_start=0.15
    )
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    prog = _progress(progress)
    with prog:
        ep_task = prog.add_task(f"{description}: epochs", total=cfg.epochs)
        b_task = prog.add_task("batches", total=steps_per_epoch)
        for epoch in range(cfg.epochs):
            model.train()
            perm = rng.permutation(len(train_w))
            prog.reset(b_task, total=steps_per_epoch)
            losses = []
            correct = 0
            counted = 0
            for b in range(steps_per_epoch):
                rows = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                raw = torch.from_numpy(train_w.frames(rows))
                if cfg.gain_jitter > 0 and gain_f:
                    g = torch.exp(cfg.gain_jitter * torch.randn(raw.shape[0], 1, 1, generator=gen))
                    raw = raw * (1.0 + (g - 1.0) * gain_mask_t)
                x = model.normalise(raw)
                if cfg.room_jitter > 0:
                    x = x + jitter * torch.randn(x.shape[0], 1, x.shape[2], generator=gen)
                if cfg.input_noise > 0:
                    x = x + cfg.input_noise * torch.randn(x.shape, generator=gen)
                y = torch.from_numpy(row_y[rows].reshape(-1))
                logits = model(x, normalised=True, out_rows=cfg.supervise_rows)
                logits = logits.reshape(-1, cfg.dims.n_classes)
                n_valid = int((y != IGNORE).sum().item())
                if n_valid == 0:  # every row of the batch ignored (short falling windows)
                    sched.step()
                    prog.advance(b_task)
                    continue
                loss = F.cross_entropy(logits, y, weight=class_w, ignore_index=IGNORE,
                                       label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.item()) * n_valid)
                counted += n_valid
                correct += int((logits.argmax(1) == y).sum().item())
                prog.advance(b_task)
            ev = evaluate(model, curve_w)
            rec = {
                "epoch": epoch + 1,
                "train_loss": sum(losses) / max(1, counted),
                "train_accuracy": correct / max(1, counted),
                "heldout_loss": ev.loss,
                "heldout_accuracy": ev.accuracy,
                "seconds": time.perf_counter() - t0,
            }
            history.append(rec)
            prog.update(
                ep_task,
                advance=1,
                description=(
                    f"{description}: epoch {epoch + 1}/{cfg.epochs} "
                    f"loss {rec['train_loss']:.3f} held-out acc {ev.accuracy:.3f}"
                ),
            )
            if log is not None:
                log(
                    f"epoch {epoch + 1}: train loss {rec['train_loss']:.4f} "
                    f"acc {rec['train_accuracy']:.3f} | held-out loss {ev.loss:.4f} "
                    f"acc {ev.accuracy:.3f}"
                )
    logit_scale = 1.0
    if cfg.logit_budget > 0:
        probe = train_w.subset(
            np.unique(np.linspace(0, len(train_w) - 1, num=min(2048, len(train_w))).astype(int))
        )
        peak = float(np.abs(evaluate(model, probe).logits).max())
        if peak > cfg.logit_budget:
            logit_scale = cfg.logit_budget / peak
            with torch.no_grad():
                model.wc.mul_(logit_scale)
                model.bc.mul_(logit_scale)
        if log is not None:
            log(f"logit budget {cfg.logit_budget:g}: peak |logit| {peak:.1f} on "
                f"{len(probe)} training windows, classifier scaled by {logit_scale:.4f}")
    train_seconds = time.perf_counter() - t0
    final = evaluate(model, eval_w)
    at_train_len = evaluate(model, WindowSet(heldout_sessions, cfg.window, cfg.eval_stride))
    return TrainResult(
        model=model,
        config=cfg,
        labels=labels,
        history=history,
        heldout=final,
        heldout_train_window=at_train_len,
        train_seconds=train_seconds,
        logit_scale=logit_scale,
    )


class _NullProgress:
    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def reset(self, *a: Any, **k: Any) -> None:
        return None

    def advance(self, *a: Any, **k: Any) -> None:
        return None

    def update(self, *a: Any, **k: Any) -> None:
        return None


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NullProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


# --------------------------------------------------------------------------
# export and the three-way parity check


def export_blob(result: TrainResult, meta: dict[str, Any] | None = None) -> bytes:
    """Build the RVNE blob: FP32 weights, NORM, BIAS, ATTN, INPUT, LABELS, META."""
    cfg = result.config
    info = {
        "trainer": "ruv_temporal.train",
        "variant": "sparse" if cfg.sparse else "dense",
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "train_window": cfg.window,
        "deployed_window": cfg.eval_window,
        "heldout_accuracy": round(result.heldout.accuracy, 4),
        "logit_scale": round(result.logit_scale, 6),
    }
    if meta:
        info.update(meta)
    blob = result.model.to_blob(
        cfg.export_attn(),
        labels=result.labels,
        meta=json.dumps(info, sort_keys=True),
        feature_set=cfg.feature_set,
        frame_rate_x100=cfg.frame_rate_x100,
    )
    return rvne.build(blob)


@torch.no_grad()
def torch_logits(model: TorchTemporalHead, windows: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.from_numpy(np.asarray(windows, np.float32))).numpy()


def check_export(
    data: bytes, model: TorchTemporalHead, windows: np.ndarray, window_len: int
) -> dict[str, Any]:
    """Compare torch logits with the NumPy reference and the C core on ``windows``.

    ``windows`` is ``[k][window_len][D]``. The C core runs in window mode with
    a ring of ``window_len`` frames; pushing a whole window refills the ring.
    Returns max abs differences and argmax agreement; if the C core cannot be
    built or loaded, ``native_error`` says why and the native figures are None.
    """
    from ruv_temporal import model as reference

    windows = np.asarray(windows, np.float32)
    ref = torch_logits(model, windows)
    head = reference.TemporalHead.from_blob(data)
    np_logits = np.stack([np.asarray(head.forward(w), np.float32) for w in windows])
    out: dict[str, Any] = {
        "n_windows": int(windows.shape[0]),
        "window_len": int(window_len),
        "numpy_max_abs": float(np.max(np.abs(np_logits - ref))),
        "numpy_argmax_agree": bool(np.all(np_logits.argmax(1) == ref.argmax(1))),
        "native_max_abs": None,
        "native_argmax_agree": None,
        "native_error": None,
    }
    try:
        from ruv_temporal import native

        nh = native.NativeHead(data, window_len=window_len, mode="window")
        c_logits = []
        for w in windows:
            for frame in w:
                nh.push(frame)
            c_logits.append(np.asarray(nh.classify(), np.float32))
        c = np.stack(c_logits)
        out["native_max_abs"] = float(np.max(np.abs(c - ref)))
        out["native_argmax_agree"] = bool(np.all(c.argmax(1) == ref.argmax(1)))
    except (RuvError, OSError, ImportError) as exc:
        out["native_error"] = f"{type(exc).__name__}: {exc}"
    return out


PARITY_TOL = 1e-4


def parity_ok(check: dict[str, Any], require_native: bool = False) -> bool:
    ok = check["numpy_max_abs"] <= PARITY_TOL and check["numpy_argmax_agree"]
    if check["native_max_abs"] is not None:
        ok = ok and check["native_max_abs"] <= PARITY_TOL and check["native_argmax_agree"]
    elif require_native:
        ok = False
    return bool(ok)


# --------------------------------------------------------------------------
# reports


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover
        raise TrainExtraMissing(
            f"plots need matplotlib (part of the training extra): {TRAIN_EXTRA_HINT}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict[str, float]], path: Path, title: str = "") -> None:
    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, [h["train_loss"] for h in history], "o-",
             label="train (T-frame windows, augmented)")
    ax1.plot(ep, [h["heldout_loss"] for h in history], "s-",
             label="held-out rooms (N frames, curve subset)")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(ep, [h["train_accuracy"] for h in history], "o-", label="train")
    ax2.plot(ep, [h["heldout_accuracy"] for h in history], "s-", label="held-out rooms")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.legend()
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(confusion: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    plt = _pyplot()
    c = np.asarray(confusion)
    rows = c.sum(axis=1, keepdims=True)
    frac = np.divide(c, np.maximum(rows, 1))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            ax.text(
                j, i, str(c[i, j]), ha="center", va="center",
                color="white" if frac[i, j] > 0.5 else "black", fontsize=8,
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_table(
    confusion: np.ndarray, labels: Sequence[str],
    title: str = "held-out confusion (rows true, columns predicted)",
) -> Any:
    from rich.table import Table

    t = Table(title=title)
    t.add_column("true \\ pred")
    for name in labels:
        t.add_column(name[:9], justify="right")
    t.add_column("recall", justify="right")
    for i, name in enumerate(labels):
        row = confusion[i]
        rec = row[i] / row.sum() if row.sum() else float("nan")
        t.add_row(name, *[str(int(v)) for v in row], f"{rec:.3f}")
    return t


def run_training(
    train_sessions: Sequence[Session],
    heldout_sessions: Sequence[Session],
    cfg: TrainConfig,
    labels: Sequence[str],
    out_dir: Path,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    n_check: int = 16,
    data_info: dict[str, Any] | None = None,
    test_sessions: Sequence[Session] | None = None,
) -> dict[str, Any]:
    """Train, export ``model.rvne``, check parity, write metrics.json and plots.

    ``test_sessions`` (rooms neither trained on nor used for the curves) are
    evaluated once, after training, with the final model: ``metrics["test"]``
    and ``test_confusion.png``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = train_model(
        train_sessions, heldout_sessions, cfg, labels, progress=progress, log=log
    )
    data = export_blob(result)
    blob_path = out_dir / "model.rvne"
    blob_path.write_bytes(data)
    parsed = rvne.parse(data)
    windows = WindowSet(heldout_sessions, cfg.eval_window, cfg.eval_stride)
    pick = np.linspace(0, len(windows) - 1, num=min(n_check, len(windows))).astype(int)
    check = check_export(data, result.model, windows.frames(pick), cfg.eval_window)
    check["ok"] = parity_ok(check)
    plot_curves(result.history, out_dir / "curves.png", "model v1 training")
    plot_confusion(
        result.heldout.confusion,
        result.labels,
        out_dir / "confusion.png",
        f"held-out rooms, N={cfg.eval_window}: acc {result.heldout.accuracy:.3f}",
    )
    test: EvalResult | None = None
    if test_sessions:
        test = evaluate(result.model, WindowSet(test_sessions, cfg.eval_window, cfg.eval_stride))
        plot_confusion(
            test.confusion, result.labels, out_dir / "test_confusion.png",
            f"test rooms, N={cfg.eval_window}: acc {test.accuracy:.3f}",
        )
    metrics = {
        "config": cfg.to_json(),
        "labels": result.labels,
        "data": data_info or {},
        "n_train_sessions": len(train_sessions),
        "n_heldout_sessions": len(heldout_sessions),
        "train_rooms": sorted({s.room for s in train_sessions}),
        "heldout_rooms": sorted({s.room for s in heldout_sessions}),
        "train_seconds": result.train_seconds,
        "logit_scale": result.logit_scale,
        "history": result.history,
        "heldout": result.heldout.summary(),
        "heldout_at_train_window": result.heldout_train_window.summary(),
        "test_rooms": sorted({s.room for s in test_sessions}) if test_sessions else [],
        "test": test.summary() if test is not None else None,
        "blob": {
            "path": str(blob_path),
            "bytes": len(data),
            "crc32": f"0x{parsed.crc32:08X}",
            "sections": blob_sections(parsed),
        },
        "parity": check,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    metrics["_result"] = result
    metrics["_test"] = test
    return metrics


def blob_sections(blob: rvne.Blob) -> list[str]:
    names = []
    for name in ("norm", "attn", "input", "labels", "meta"):
        if getattr(blob, name) is not None:
            names.append(name.upper())
    if blob.bc is not None or any(lw.bq is not None for lw in blob.layers):
        names.insert(1 if blob.norm is not None else 0, "BIAS")
    return names


__all__ = [
    "AttnMasks",
    "EvalResult",
    "ModelDims",
    "Session",
    "TRAIN_EXTRA_HINT",
    "TorchTemporalHead",
    "TrainConfig",
    "TrainExtraMissing",
    "TrainResult",
    "WindowSet",
    "check_export",
    "dense_equivalent_config",
    "dense_masks",
    "evaluate",
    "export_blob",
    "norm_stats",
    "run_training",
    "sparse_masks",
    "split_by_room",
    "train_model",
]
