"""The sparse-vs-dense gate (docs/spec.md §11).

Trains the sparse model v1 and a dense twin (plain causal attention, same
dims, data, budget and seed) and checks that sparsity costs nothing that
matters while it saves time on the device:

=================  ====================================================  ==========
gate               measured                                              passes if
=================  ====================================================  ==========
val_loss           held-out cross-entropy at N, before logit budget      ``|Ls-Ld|/Ld <= 1%``
accuracy           held-out accuracy at N                                ``|As-Ad| <= 1 pp``
nn_rank            mean Spearman rho of nearest-neighbour orderings      ``>= 0.95``
latency            C core attention time at N, sparse / dense            ``< 1.0``
=================  ====================================================  ==========

*Embeddings* are the final residual state of the newest frame (the input of
the classifier) for a fixed set of held-out windows. For each anchor window,
the other windows are ordered by Euclidean distance to the anchor in each
model's embedding space; the Spearman correlation of the two orderings
(average ranks for ties) is averaged over anchors.

*Latency* is the C core's attention alone (``native.sparse_attention`` with
the model's ATTN config vs ``native.dense_attention``, causal) at ``N`` rows
with the model's head shapes (q_heads, kv_heads, head_dim), median of
repeated calls; a full model forward of both exported blobs through
``native.NativeHead`` (window mode, ring of ``N``) is reported alongside for
information (the dense blob runs the sparse kernel configured as dense).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ruv_temporal import train as tr
from ruv_temporal.errors import RuvError

torch = tr.torch


@dataclass(frozen=True)
class GateThresholds:
    max_loss_rel: float = 0.01
    max_acc_diff: float = 0.01
    min_spearman: float = 0.95
    max_latency_ratio: float = 1.0


@dataclass
class GateCheck:
    name: str
    sparse: float | None
    dense: float | None
    value: float | None
    threshold: str
    passed: bool
    note: str = ""
    #: the same measure between the sparse model and a sparse twin trained with
    #: another seed (``--control``): the run-to-run noise floor, information only
    control: float | None = None


@dataclass
class GateReport:
    checks: list[GateCheck]
    sparse_metrics: dict[str, Any]
    dense_metrics: dict[str, Any]
    spearman_per_anchor: np.ndarray
    latency: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    control_metrics: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [c.__dict__ for c in self.checks],
            "sparse": self.sparse_metrics,
            "dense": self.dense_metrics,
            "spearman": {
                "mean": float(self.spearman_per_anchor.mean()),
                "min": float(self.spearman_per_anchor.min()),
                "n_anchors": int(self.spearman_per_anchor.size),
            },
            "latency": self.latency,
            "config": self.config,
            "control": self.control_metrics,
        }


# --------------------------------------------------------------------------
# rank statistics (NumPy only; scipy is not a dependency)


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of a 1-D array, ties sharing their mean rank."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise RuvError("rankdata expects a 1-D array")
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = x.size
    ranks = np.empty(n, np.float64)
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1..end
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho = Pearson correlation of the average ranks."""
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    if den == 0:
        return 1.0 if np.array_equal(ra, rb) else 0.0
    return float((ra * rb).sum() / den)


def pairwise_distances(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, np.float64)
    sq = (e * e).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * e @ e.T
    return np.sqrt(np.maximum(d2, 0.0))


def nn_rank_correlation(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """Per-anchor Spearman rho between two models' neighbour orderings."""
    if emb_a.shape[0] != emb_b.shape[0] or emb_a.shape[0] < 3:
        raise RuvError("need the same >= 3 windows embedded by both models")
    da, db = pairwise_distances(emb_a), pairwise_distances(emb_b)
    n = da.shape[0]
    rho = np.empty(n)
    for i in range(n):
        others = np.r_[0:i, i + 1 : n]
        rho[i] = spearman(da[i, others], db[i, others])
    return rho


# --------------------------------------------------------------------------
# embeddings and latency


@torch.no_grad()
def embeddings(model: tr.TorchTemporalHead, windows: np.ndarray, batch: int = 64) -> np.ndarray:
    """Final residual state of the newest frame, ``[k][D]``."""
    model.eval()
    out = []
    for s in range(0, len(windows), batch):
        x = torch.from_numpy(np.asarray(windows[s : s + batch], np.float32))
        _, states = model(x, return_states=True)
        out.append(states[:, -1].numpy())
    return np.concatenate(out)


def _median_time(fn: Callable[[], Any], repeats: int, min_seconds: float = 0.2) -> float:
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + min_seconds
    while len(times) < repeats or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 50 * repeats:
            break
    return float(np.median(times))


def measure_latency(
    n: int,
    dims: tr.ModelDims,
    attn: Any,
    sparse_blob: bytes | None = None,
    dense_blob: bytes | None = None,
    repeats: int = 30,
    seed: int = 0,
) -> dict[str, Any]:
    """C core timings at ``n`` rows. Raises NativeBuildError if the core is missing."""
    from ruv_temporal import native

    rng = np.random.default_rng(seed)
    h, g, d = dims.q_heads, dims.kv_heads, dims.head_dim
    q = rng.standard_normal((n, h, d)).astype(np.float32)
    k = rng.standard_normal((n, g, d)).astype(np.float32)
    v = rng.standard_normal((n, g, d)).astype(np.float32)
    t_sparse = _median_time(lambda: native.sparse_attention(q, k, v, attn), repeats)
    t_dense = _median_time(lambda: native.dense_attention(q, k, v, causal=True), repeats)
    out: dict[str, Any] = {
        "what": "C core attention alone (one layer), median per call",
        "n": n,
        "q_heads": h,
        "kv_heads": g,
        "head_dim": d,
        "sparse_attention_s": t_sparse,
        "dense_attention_s": t_dense,
        "ratio": t_sparse / t_dense,
    }
    if sparse_blob is not None and dense_blob is not None:
        frames = rng.standard_normal((n, dims.input_dim)).astype(np.float32)
        timings = {}
        for name, blob in (("sparse", sparse_blob), ("dense", dense_blob)):
            head = native.NativeHead(blob, window_len=n, mode="window")
            for f in frames:
                head.push(f)
            timings[name] = _median_time(head.classify, max(5, repeats // 3))
        out["model_forward_sparse_s"] = timings["sparse"]
        out["model_forward_dense_s"] = timings["dense"]
        out["model_forward_ratio"] = timings["sparse"] / timings["dense"]
    return out


# --------------------------------------------------------------------------
# the gate


def run_gate(
    train_sessions: Sequence[tr.Session],
    heldout_sessions: Sequence[tr.Session],
    cfg: tr.TrainConfig,
    labels: Sequence[str],
    *,
    thresholds: GateThresholds | None = None,
    n_embed: int = 200,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    out_dir: Path | None = None,
    control: bool = False,
) -> GateReport:
    """Train both variants with the same budget and seed; evaluate the four gates.

    With ``control`` a third model — sparse again, seed + 1 — is trained and
    the loss, accuracy and neighbour-rank measures are also reported between
    the two sparse models: how much two runs differ without any change of
    attention (information; it does not affect pass/fail).
    """
    th = thresholds or GateThresholds()
    sparse_cfg = replace(cfg, sparse=True)
    dense_cfg = replace(cfg, sparse=False)
    rs = tr.train_model(
        train_sessions, heldout_sessions, sparse_cfg, labels,
        progress=progress, log=log, description="sparse",
    )
    rd = tr.train_model(
        train_sessions, heldout_sessions, dense_cfg, labels,
        progress=progress, log=log, description="dense",
    )
    rc = None
    if control:
        rc = tr.train_model(
            train_sessions, heldout_sessions, replace(sparse_cfg, seed=cfg.seed + 1), labels,
            progress=progress, log=log, description=f"sparse seed {cfg.seed + 1} (control)",
        )
    blob_s, blob_d = tr.export_blob(rs), tr.export_blob(rd)
    windows = tr.WindowSet(heldout_sessions, cfg.eval_window, cfg.eval_stride)
    pick = np.unique(np.linspace(0, len(windows) - 1, num=min(n_embed, len(windows))).astype(int))
    w = windows.frames(pick)
    emb_s = embeddings(rs.model, w)
    rho = nn_rank_correlation(emb_s, embeddings(rd.model, w))
    rho_c = nn_rank_correlation(emb_s, embeddings(rc.model, w)) if rc is not None else None

    def raw_loss(r: tr.TrainResult) -> float:
        # held-out cross-entropy of the trained model, before the logit budget
        # (a deployment temperature that differs per model; logits scale linearly)
        lg = torch.from_numpy(r.heldout.logits / np.float32(r.logit_scale))
        return float(tr.F.cross_entropy(lg, torch.from_numpy(r.heldout.targets)).item())

    def loss_rel(a: tr.TrainResult, b: tr.TrainResult) -> float:
        la, lb = raw_loss(a), raw_loss(b)
        return abs(la - lb) / max(lb, 1e-12)

    def acc_diff(a: tr.TrainResult, b: tr.TrainResult) -> float:
        return abs(a.heldout.accuracy - b.heldout.accuracy)

    checks: list[GateCheck] = []
    ls, ld = raw_loss(rs), raw_loss(rd)
    rel = loss_rel(rs, rd)
    checks.append(GateCheck(
        "val_loss", ls, ld, rel, f"rel diff <= {th.max_loss_rel:.1%}", rel <= th.max_loss_rel,
        note=(f"before the logit budget; exported models {rs.heldout.loss:.4f} vs "
              f"{rd.heldout.loss:.4f}"),
        control=loss_rel(rs, rc) if rc is not None else None,
    ))
    a_s, a_d = rs.heldout.accuracy, rd.heldout.accuracy
    diff = acc_diff(rs, rd)
    checks.append(GateCheck(
        "accuracy", a_s, a_d, diff, f"diff <= {th.max_acc_diff * 100:.1f} pp",
        diff <= th.max_acc_diff, control=acc_diff(rs, rc) if rc is not None else None,
    ))
    mean_rho = float(rho.mean())
    checks.append(GateCheck(
        "nn_rank", None, None, mean_rho, f"mean rho >= {th.min_spearman}",
        mean_rho >= th.min_spearman, note=f"{rho.size} anchors, min {rho.min():.3f}",
        control=float(rho_c.mean()) if rho_c is not None else None,
    ))
    try:
        lat = measure_latency(
            cfg.eval_window, cfg.dims, cfg.attn, blob_s, blob_d, seed=cfg.seed
        )
        checks.append(GateCheck(
            "latency", lat["sparse_attention_s"], lat["dense_attention_s"], lat["ratio"],
            f"sparse/dense < {th.max_latency_ratio}", lat["ratio"] < th.max_latency_ratio,
            note=f"C attention at N={cfg.eval_window}",
        ))
    except (RuvError, OSError, ImportError) as exc:
        lat = {"error": f"{type(exc).__name__}: {exc}"}
        checks.append(GateCheck(
            "latency", None, None, None, f"sparse/dense < {th.max_latency_ratio}", False,
            note=f"C core unavailable: {exc}",
        ))

    def summary(r: tr.TrainResult) -> dict[str, Any]:
        return {
            "heldout_loss_before_logit_budget": raw_loss(r),
            "logit_scale": r.logit_scale,
            "heldout": r.heldout.summary(),
            "heldout_at_train_window": r.heldout_train_window.summary(),
            "history": r.history,
            "train_seconds": r.train_seconds,
        }

    report = GateReport(
        checks=checks,
        sparse_metrics=summary(rs),
        dense_metrics=summary(rd),
        spearman_per_anchor=rho,
        latency=lat,
        config=cfg.to_json(),
        control_metrics=summary(rc) if rc is not None else None,
    )
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "sparse.rvne").write_bytes(blob_s)
        (out_dir / "dense.rvne").write_bytes(blob_d)
        (out_dir / "gate.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def report_table(report: GateReport) -> Any:
    from rich.table import Table

    t = Table(title="sparse vs dense gate (docs/spec.md §11)")
    has_control = report.control_metrics is not None
    cols = [("gate", "left"), ("sparse", "right"), ("dense", "right"), ("measured", "right")]
    if has_control:
        cols.append(("seed control", "right"))
    cols += [("passes if", "left"), ("result", "center")]
    for col, just in cols:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]

    def meas_txt(name: str, v: float | None) -> str:
        if v is None:
            return "-"
        if name == "val_loss":
            return f"{v:.2%}"
        if name == "accuracy":
            return f"{v * 100:.2f} pp"
        if name == "latency":
            return f"{v:.3f}x"
        return f"{v:.4f}"

    def fmt(name: str, x: float | None) -> str:
        if x is None:
            return "-"
        if name == "accuracy":
            return f"{x * 100:.2f}%"
        if name == "latency":
            return f"{x * 1e3:.3f} ms"
        return f"{x:.4f}"

    for c in report.checks:
        row = [c.name, fmt(c.name, c.sparse), fmt(c.name, c.dense), meas_txt(c.name, c.value)]
        if has_control:
            row.append(meas_txt(c.name, c.control))
        row += [c.threshold, "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]"]
        t.add_row(*row)
    notes = [f"{c.name}: {c.note}" for c in report.checks if c.note]
    if has_control:
        notes.append("seed control: the same measure between the sparse model and a sparse "
                     "twin trained with seed + 1 (run-to-run noise; information only)")
    if notes:
        t.caption = "; ".join(notes)
    return t
