"""``ruv-temporal train``: train model v1, export an RVNE blob, check parity.

PyTorch is imported only when the command runs (``pip install
'ruv-temporal[train]'``), so ``ruv-temporal --help`` works without it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from ruv_temporal.errors import RuvError

EXIT_CHECK_FAILED = 1

# the defaults of ruv_temporal.train.DEFAULT_SYNTH, repeated here so that
# `--help` works without torch (tests/host/test_train.py checks they agree)
_SYNTH = {"rooms": 72, "seconds": 90.0, "sessions_per_activity": 1, "heldout_rooms": 8}


def _load_train_module() -> Any:
    """Import ruv_temporal.train, turning a missing extra into a usage error."""
    try:
        return importlib.import_module("ruv_temporal.train")
    except ImportError as exc:  # TrainExtraMissing is an ImportError
        raise click.ClickException(str(exc)) from exc


def data_options(f: Any) -> Any:
    """Options shared by ``train`` and ``gate``: where the sessions come from."""
    opts = [
        click.option(
            "--data",
            "data_dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Directory of recorded sessions (ruv_temporal.recording format).",
        ),
        click.option("--synth", is_flag=True, help="Generate synthetic CSI sessions on the fly."),
        click.option("--rooms", type=click.IntRange(2, 1000), default=_SYNTH["rooms"],
                     show_default=True,
                     help="--synth: number of rooms."),
        click.option("--seconds", type=click.FloatRange(1, 36000), default=_SYNTH["seconds"],
                     show_default=True, help="--synth: seconds per session."),
        click.option("--sessions-per-activity", type=click.IntRange(1, 100),
                     default=_SYNTH["sessions_per_activity"],
                     show_default=True, help="--synth: sessions per activity and room."),
        click.option("--data-seed", type=int, default=None,
                     help="--synth: seed of the generated data (default: --seed)."),
        click.option("--heldout-rooms", type=click.IntRange(1, 999),
                     default=_SYNTH["heldout_rooms"],
                     show_default=True,
                     help="How many rooms (the highest room ids) are held out for evaluation."),
        click.option("--epochs", type=click.IntRange(1, 10000), default=None,
                     help="Training epochs [default: TrainConfig.epochs]."),
        click.option("--window", type=click.IntRange(1, 65535), default=None,
                     help="Training window T in frames [default: TrainConfig.window]."),
        click.option("--eval-window", type=click.IntRange(1, 65535), default=256,
                     show_default=True, help="Deployed window length N (evaluation, export)."),
        click.option("--stride", type=click.IntRange(1, 100000), default=None,
                     help="Hop between training windows (frames)."),
        click.option("--batch-size", type=click.IntRange(1, 100000), default=None),
        click.option("--lr", type=click.FloatRange(0, min_open=True), default=None),
        click.option("--room-jitter", type=click.FloatRange(0), default=None,
                     help="Room augmentation strength [default: TrainConfig.room_jitter]."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--threads", type=click.IntRange(1, 256), default=2, show_default=True,
                     help="torch intra-op threads."),
        click.option("--dims", default="16,4,1,32,2", show_default=True,
                     help="input_dim,q_heads,kv_heads,head_dim,n_layers."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_config(
    tr: Any, kw: dict[str, Any], n_classes: int, info: dict[str, Any] | None = None
) -> Any:
    try:
        parts = [int(p) for p in kw["dims"].split(",")]
    except ValueError as exc:
        raise click.BadParameter("expected five integers", param_hint="--dims") from exc
    if len(parts) != 5:
        raise click.BadParameter("expected five integers", param_hint="--dims")
    dims = tr.ModelDims(*parts, n_classes=n_classes)
    cfg = tr.TrainConfig(dims=dims, seed=kw["seed"], threads=kw["threads"],
                         eval_window=kw["eval_window"])
    for key in ("epochs", "window", "stride", "batch_size", "lr", "room_jitter"):
        if kw.get(key) is not None:
            setattr(cfg, key, kw[key])
    info = info or {}
    if "feature_set" in info:
        cfg.feature_set = int(info["feature_set"])
    if info.get("rate_hz"):
        cfg.frame_rate_x100 = int(round(float(info["rate_hz"]) * 100))
    try:
        cfg.validate()
    except RuvError as exc:
        raise click.UsageError(str(exc)) from exc
    return cfg


def load_split(
    tr: Any, kw: dict[str, Any]
) -> tuple[list[Any], list[Any], list[str], dict[str, Any]]:
    """Sessions, split by room, and the label names."""
    if bool(kw["data_dir"]) == bool(kw["synth"]):
        raise click.UsageError("give exactly one of --data DIR or --synth")
    try:
        if kw["synth"]:
            seed = kw["data_seed"] if kw["data_seed"] is not None else kw["seed"]
            sessions, labels, info = tr.synth_sessions(
                rooms=kw["rooms"], seconds=kw["seconds"],
                sessions_per_activity=kw["sessions_per_activity"], seed=seed,
            )
        else:
            sessions, labels, info = tr.load_sessions(kw["data_dir"])
        train_s, held_s = tr.split_heldout(sessions, kw["heldout_rooms"])
    except RuvError as exc:
        raise click.UsageError(str(exc)) from exc
    return train_s, held_s, labels, info


def history_table(history: list[dict[str, float]], title: str = "training curve") -> Any:
    from rich.table import Table

    t = Table(title=title)
    for col in ("epoch", "train loss", "train acc", "held-out loss", "held-out acc", "time s"):
        t.add_column(col, justify="right")
    for h in history:
        t.add_row(
            str(int(h["epoch"])), f"{h['train_loss']:.4f}", f"{h['train_accuracy']:.3f}",
            f"{h['heldout_loss']:.4f}", f"{h['heldout_accuracy']:.3f}", f"{h['seconds']:.1f}",
        )
    return t


@click.command()
@data_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Output directory (model.rvne, metrics.json, plots).")
@click.option("--check-windows", type=click.IntRange(1, 10000), default=16, show_default=True,
              help="Held-out windows on which NumPy and the C core must reproduce torch.")
@click.option("--require-native", is_flag=True,
              help="Fail if the C core is unavailable for the parity check.")
@click.option("--test-rooms", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="--synth: also generate this many further rooms (ids after --rooms), "
                   "never trained on nor used for the curves, and evaluate the final model "
                   "on them once (a fresh test set).")
def train(out_dir: Path, check_windows: int, require_native: bool, test_rooms: int,
          **kw: Any) -> None:
    """Train model v1 (sparse GQA temporal head) and export an RVNE blob.

    Held-out rooms are never trained on; their windows at the deployed length
    N give the reported accuracy and confusion matrix. The exported blob is
    then run through the NumPy reference and the C core, which must reproduce
    the torch logits within 1e-4.
    """
    from rich.console import Console

    tr = _load_train_module()
    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the tables
        console = Console(width=120)
    train_s, held_s, labels, info = load_split(tr, kw)
    cfg = build_config(tr, kw, len(labels), info)
    console.print(
        f"[bold]train[/bold]: {len(train_s)} sessions (rooms "
        f"{sorted({s.room for s in train_s})}), held out {len(held_s)} sessions (rooms "
        f"{sorted({s.room for s in held_s})}); T={cfg.window}, N={cfg.eval_window}, "
        f"epochs={cfg.epochs}, seed={cfg.seed}"
    )
    test_s = None
    if test_rooms:
        if not kw["synth"]:
            raise click.UsageError("--test-rooms needs --synth")
        seed = kw["data_seed"] if kw["data_seed"] is not None else kw["seed"]
        test_s, _, _ = tr.synth_sessions(
            rooms=test_rooms, seconds=kw["seconds"],
            sessions_per_activity=kw["sessions_per_activity"], seed=seed,
            first_room=kw["rooms"],
        )
        info = dict(info, test_rooms=test_rooms)
    try:
        metrics = tr.run_training(
            train_s, held_s, cfg, labels, out_dir,
            progress=not kw["quiet"], n_check=check_windows, data_info=info,
            test_sessions=test_s,
        )
    except RuvError as exc:
        raise click.ClickException(str(exc)) from exc
    res = metrics["_result"]
    console.print(history_table(res.history))
    console.print(tr.confusion_table(res.heldout.confusion, labels))
    console.print(
        f"held-out accuracy at N={cfg.eval_window}: [bold]{res.heldout.accuracy:.4f}[/bold] "
        f"({res.heldout.n_windows} windows, loss {res.heldout.loss:.4f}); at T={cfg.window}: "
        f"{res.heldout_train_window.accuracy:.4f}; training took {res.train_seconds:.1f} s"
    )
    test = metrics["_test"]
    if test is not None:
        console.print(tr.confusion_table(
            test.confusion, labels,
            title=f"test rooms {metrics['test_rooms']} (rows true, columns predicted)"))
        console.print(
            f"test-room accuracy at N={cfg.eval_window}: [bold]{test.accuracy:.4f}[/bold] "
            f"({test.n_windows} windows, loss {test.loss:.4f})")
    p = metrics["parity"]
    line = (
        f"parity on {p['n_windows']} held-out windows (N={p['window_len']}): "
        f"NumPy max |dlogit| {p['numpy_max_abs']:.2e}"
    )
    if p["native_max_abs"] is not None:
        line += f", C core max |dlogit| {p['native_max_abs']:.2e}"
    else:
        line += f", C core skipped ({p['native_error']})"
    ok = p["ok"] and not (require_native and p["native_max_abs"] is None)
    console.print(line + (" [green]OK[/green]" if ok else " [red]FAIL[/red]"))
    blob = metrics["blob"]
    console.print(
        f"wrote {blob['path']} ({blob['bytes']} bytes, crc {blob['crc32']}, sections "
        f"{'+'.join(blob['sections'])}), metrics.json, curves.png, confusion.png in {out_dir}"
    )
    if not ok:
        sys.exit(EXIT_CHECK_FAILED)
