"""``ruv-temporal gate``: the sparse-vs-dense gate (docs/spec.md §11).

Exit code 0 when every gate passes, 1 when any fails.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from ruv_temporal.cli.train import build_config, data_options, load_split
from ruv_temporal.errors import RuvError

EXIT_CHECK_FAILED = 1


@click.command()
@data_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write sparse.rvne, dense.rvne and gate.json here.")
@click.option("--max-loss-rel", type=float, default=0.01, show_default=True)
@click.option("--max-acc-diff", type=float, default=0.01, show_default=True)
@click.option("--min-spearman", type=float, default=0.95, show_default=True)
@click.option("--max-latency-ratio", type=float, default=1.0, show_default=True)
@click.option("--embed-windows", type=click.IntRange(3, 5000), default=200, show_default=True,
              help="Held-out windows embedded for the nearest-neighbour rank gate.")
@click.option("--control", is_flag=True,
              help="Also train a sparse twin with seed+1 and show the same measures between "
                   "the two sparse models (the run-to-run noise floor; information only).")
def gate(
    out_dir: Path | None,
    max_loss_rel: float,
    max_acc_diff: float,
    min_spearman: float,
    max_latency_ratio: float,
    embed_windows: int,
    control: bool,
    **kw: Any,
) -> None:
    """Train a sparse and a dense model with the same budget and seed; compare.

    Gates: held-out loss within 1% (relative), accuracy within 1 percentage
    point, mean Spearman rho of nearest-neighbour orderings of window
    embeddings >= 0.95, and C-core attention latency at N: sparse < dense.
    """
    from rich.console import Console

    from ruv_temporal.cli.train import _load_train_module

    tr = _load_train_module()
    gt = importlib.import_module("ruv_temporal.gate")

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the tables
        console = Console(width=120)
    train_s, held_s, labels, info = load_split(tr, kw)
    cfg = build_config(tr, kw, len(labels), info)
    console.print(
        f"[bold]gate[/bold]: {len(train_s)} training sessions, {len(held_s)} held-out; "
        f"T={cfg.window}, N={cfg.eval_window}, epochs={cfg.epochs}, seed={cfg.seed}"
    )
    th = gt.GateThresholds(max_loss_rel, max_acc_diff, min_spearman, max_latency_ratio)
    try:
        report = gt.run_gate(
            train_s, held_s, cfg, labels, thresholds=th, n_embed=embed_windows,
            progress=not kw["quiet"], out_dir=out_dir, control=control,
        )
    except RuvError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(gt.report_table(report))
    lat = report.latency
    if "model_forward_ratio" in lat:
        console.print(
            f"full model forward at N={cfg.eval_window} (C core, window mode): sparse "
            f"{lat['model_forward_sparse_s'] * 1e3:.3f} ms, dense-configured "
            f"{lat['model_forward_dense_s'] * 1e3:.3f} ms, ratio "
            f"{lat['model_forward_ratio']:.3f} (information)"
        )
    for c in report.checks:
        console.print(f"{c.name}: {'PASS' if c.passed else 'FAIL'} ({_numbers(c)})")
    console.print("[green]gate PASSED[/green]" if report.passed else "[red]gate FAILED[/red]")
    if not report.passed:
        sys.exit(EXIT_CHECK_FAILED)


def _numbers(c: Any) -> str:
    """The measured figures of one gate as plain text (for logs and pipes)."""
    if c.value is None:
        return c.note or "not measured"
    if c.name == "val_loss":
        txt = f"sparse {c.sparse:.4f}, dense {c.dense:.4f}, rel diff {c.value:.2%}"
    elif c.name == "accuracy":
        txt = (f"sparse {c.sparse * 100:.2f}%, dense {c.dense * 100:.2f}%, "
               f"diff {c.value * 100:.2f} pp")
    elif c.name == "latency":
        txt = (f"sparse {c.sparse * 1e3:.3f} ms, dense {c.dense * 1e3:.3f} ms, "
               f"ratio {c.value:.3f}")
    else:
        txt = f"mean rho {c.value:.4f}"
    if c.control is not None:
        txt += f"; seed control {c.control:.4g}"
    return f"{txt}; needs {c.threshold}"
