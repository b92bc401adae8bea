"""``ruv-temporal demo``: the main job, end to end on the host (no board needed).

1. generate labelled synthetic CSI sessions (``ruv_temporal.synth``) in
   several rooms and turn them into csi-stats v1 feature frames;
2. train model v1 on all rooms but the held-out ones (``ruv_temporal.train``),
   export the RVNE blob and check that the NumPy reference and the C core
   reproduce the trained logits;
3. start the virtual device (``ruv_vdev``, the firmware's app logic built for
   the host) with file-backed model slots and provision the blob through the
   real console upload path (``DeviceClient.load_blob``: load begin / chunk /
   commit, CRC-checked, A/B slots);
4. stream the sessions of a held-out room (never trained on) to the device
   frame by frame over the console, classify periodically, and compare every
   device classification with the NumPy reference run on the same frames;
5. print a summary: accuracy, frames, largest logit difference device vs
   reference, argmax agreement. Exit 1 if the device disagrees with the
   reference (|diff| > 1e-4 or a different argmax), 3 on a device error.

Outputs in ``--out`` (default ``runs/demo``): ``model/`` (model.rvne,
metrics.json, curves.png, confusion.png), ``slots/`` (the device's slot
files), ``stream.jsonl`` (one line per classification) and ``summary.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ruv_temporal.errors import DeviceError, RuvError

EXIT_CHECK_FAILED = 1
EXIT_DEVICE = 3
TOL = 1e-4


@dataclass(frozen=True)
class Preset:
    """Sizes of a demo run (data, training budget, streamed session)."""

    rooms: int
    heldout_rooms: int
    seconds: float
    epochs: int
    window: int
    eval_window: int
    stride: int
    check_windows: int


def full_preset(tr: Any) -> Preset:
    """The default training run of ``ruv-temporal train --synth`` (docs/training.md)."""
    d = tr.DEFAULT_SYNTH
    c = tr.TrainConfig()
    return Preset(rooms=d["rooms"], heldout_rooms=d["heldout_rooms"], seconds=d["seconds"],
                  epochs=c.epochs, window=c.window, eval_window=c.eval_window, stride=c.stride,
                  check_windows=8)


QUICK = Preset(rooms=5, heldout_rooms=1, seconds=24.0, epochs=1, window=32,
               eval_window=64, stride=16, check_windows=3)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x.astype(np.float64) - float(np.max(x)))
    return z / z.sum()


class _Plain:
    """Stand-in for rich progress when the output is not live."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def __enter__(self) -> _Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def update(self, *a: Any, **k: Any) -> None:
        return None


def _progress(console: Any, live: bool) -> Any:
    if not live:
        return _Plain(console)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


@contextmanager
def _step(console: Any, title: str) -> Iterator[None]:
    t0 = time.perf_counter()
    console.rule(f"[bold]{title}")
    yield
    console.print(f"[dim]{title}: {time.perf_counter() - t0:.1f} s[/dim]")


@dataclass
class StreamRecord:
    session: str
    activity: str
    frame: int
    t_s: float
    filled: int
    true: str
    pred: str
    ref_pred: str
    confidence: float
    max_abs_diff: float
    argmax_agree: bool
    scored: bool


def _view(records: deque[StreamRecord], totals: dict[str, Any], header: str) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    t = Table(expand=True, title="device (ruv_vdev) vs NumPy reference, per classify")
    for col, just in (("session", "left"), ("t s", "right"), ("window", "right"),
                      ("true", "left"), ("device says", "left"), ("conf", "right"),
                      ("|dev - ref|", "right"), ("argmax", "center")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in records:
        hit = r.pred == r.true
        pred = f"[green]{r.pred}[/green]" if hit else f"[red]{r.pred}[/red]"
        if not r.scored:
            pred = f"[dim]{r.pred} (filling)[/dim]"
        t.add_row(r.session, f"{r.t_s:6.1f}", str(r.filled), r.true, pred,
                  f"{r.confidence:.2f}", f"{r.max_abs_diff:.1e}",
                  "[green]=[/green]" if r.argmax_agree else "[red]![/red]")
    n = totals["scored"]
    acc = totals["correct"] / n if n else float("nan")
    agree = totals["agree"] / totals["classifications"] if totals["classifications"] else 1.0
    foot = (f"frames {totals['frames']}  classifications {totals['classifications']}  "
            f"accuracy (full window) {acc:.3f} over {n}  max |dev-ref| "
            f"{totals['max_abs_diff']:.2e}  argmax agreement {agree * 100:.1f}%")
    return Group(Panel(header, title="ruv-temporal demo"), t, Panel(foot))


def _line(r: StreamRecord) -> str:
    mark = "ok" if r.argmax_agree and r.max_abs_diff <= TOL else "MISMATCH"
    state = "" if r.scored else " (filling)"
    return (f"{r.session:<22} t={r.t_s:6.1f}s window={r.filled:<4} true={r.true:<9} "
            f"device={r.pred:<9}{state} conf={r.confidence:.2f} "
            f"|dev-ref|={r.max_abs_diff:.1e} {mark}")


@click.command()
@click.option("--quick", is_flag=True, help="Small run (seconds, for tests and CI).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/demo"), show_default=True, help="Output directory.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data and of the training.")
@click.option("--live/--no-live", default=None,
              help="Live view (rich) or plain log lines [default: live on a terminal].")
@click.option("--classify-every", type=click.IntRange(1, 10000), default=10, show_default=True,
              help="Frames between classifications (10 = once a second at 10 frames/s).")
@click.option("--threads", type=click.IntRange(1, 256), default=2, show_default=True,
              help="torch threads for training.")
@click.option("--speed", type=click.FloatRange(0), default=None,
              help="Stream at this multiple of real time (10 frames/s x speed); 0 = as fast "
                   "as possible [default: 20 with the live view, 0 without].")
def demo(quick: bool, out_dir: Path, seed: int, live: bool | None, classify_every: int,
         threads: int, speed: float | None) -> None:
    """Generate scenarios, train a model, provision it into the virtual device
    and stream a held-out room to it, checking every classification against
    the NumPy reference."""
    from rich.console import Console

    from ruv_temporal.cli.train import _load_train_module

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the tables
        console = Console(width=120)
    if live is None:
        live = console.is_terminal
    if speed is None:
        speed = 20.0 if live and not quick else 0.0
    tr = _load_train_module()
    preset = QUICK if quick else full_preset(tr)
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slots = out_dir / "slots"
    if slots.exists():  # a fresh device every run: the demo provisions it itself
        shutil.rmtree(slots)

    # 1. data ----------------------------------------------------------------
    with _step(console, f"1/5 scenarios: {preset.rooms} rooms x 6 activities x "
                        f"{preset.seconds:g} s (synthetic CSI -> csi-stats v1)"):
        with _progress(console, live) as prog:
            task = prog.add_task("generating sessions", total=preset.rooms * 6)
            sessions, labels, info = tr.synth_sessions(
                preset.rooms, preset.seconds, 1, seed,
                progress=lambda done, total: prog.update(task, completed=done),
            )
        train_s, held_s = tr.split_heldout(sessions, preset.heldout_rooms)
        held_rooms = sorted({s.room for s in held_s})
        console.print(f"{len(train_s)} training sessions (rooms 0-{held_rooms[0] - 1}), "
                      f"{len(held_s)} held-out sessions (rooms {held_rooms}), "
                      f"{sum(len(s.frames) for s in sessions)} frames")

    # 2. training --------------------------------------------------------------
    cfg = tr.TrainConfig(
        dims=tr.ModelDims(n_classes=len(labels)), window=preset.window,
        eval_window=preset.eval_window, stride=preset.stride, epochs=preset.epochs,
        seed=seed, threads=threads,
    )
    if quick:
        cfg.curve_windows = 64
    with _step(console, f"2/5 training model v1 (T={cfg.window}, N={cfg.eval_window}, "
                        f"{cfg.epochs} epochs, seed {seed})"):
        try:
            metrics = tr.run_training(
                train_s, held_s, cfg, labels, out_dir / "model", progress=live,
                log=None if live else console.print, n_check=preset.check_windows,
                data_info=info,
            )
        except RuvError as exc:
            raise click.ClickException(str(exc)) from exc
        res = metrics["_result"]
        par = metrics["parity"]
        console.print(
            f"held-out rooms {held_rooms}: accuracy {res.heldout.accuracy:.3f} on "
            f"{res.heldout.n_windows} windows of N={cfg.eval_window} frames "
            f"(training took {res.train_seconds:.0f} s)")
        native_txt = (f"C core {par['native_max_abs']:.1e}" if par["native_max_abs"] is not None
                      else f"C core skipped ({par['native_error']})")
        console.print(f"export check on {par['n_windows']} windows: NumPy "
                      f"{par['numpy_max_abs']:.1e}, {native_txt} -> "
                      f"{'OK' if par['ok'] else 'FAIL'}")
    blob_path = out_dir / "model" / "model.rvne"
    blob = blob_path.read_bytes()

    # 3-5. device --------------------------------------------------------------
    from ruv_temporal import device as dev
    from ruv_temporal import model as reference
    from ruv_temporal import rvne

    crc = rvne.parse(blob).crc32
    try:
        vd = dev.VirtualDevice(
            "--slots", str(slots), "--input-dim", str(cfg.dims.input_dim),
            "--window-len", str(cfg.eval_window), "--n-classes", str(cfg.dims.n_classes),
            "--feature-set", str(cfg.feature_set), "--mode", "window", timeout=10.0,
        )
    except (RuvError, OSError) as exc:
        console.print(f"[red]cannot start the virtual device: {exc}[/red]")
        sys.exit(EXIT_DEVICE)
    try:
        client = vd.client
        with _step(console, f"3/5 provisioning {blob_path} ({len(blob)} bytes) over the "
                            "console (load begin/chunk/commit)"):
            with _progress(console, live) as prog:
                task = prog.add_task("uploading", total=len(blob))
                reply = client.load_blob(
                    blob, progress=lambda done, total: prog.update(task, completed=done))
            inf = client.info()
            console.print(f"device: {vd.exe.name} model={inf.get('model')} "
                          f"slot={reply.get('slot')} gen={reply.get('gen')} "
                          f"D={inf.get('D')} N={inf.get('N')} "
                          f"C={inf.get('C')} mode={inf.get('mode')} labels={inf.get('labels')}")
            if inf.get("model", "").lower() != f"{crc:08x}":
                raise DeviceError(0x103, f"device runs model {inf.get('model')}, "
                                         f"uploaded {crc:08x}")
        head = reference.TemporalHead.from_blob(blob)
        streamed = [s for s in held_s if s.room == held_rooms[0]]
        with _step(console, f"4/5 streaming held-out room {held_rooms[0]} "
                            f"({len(streamed)} sessions) frame by frame"):
            records, totals = _stream(console, client, head, streamed, labels, cfg,
                                      classify_every, live, out_dir / "stream.jsonl", speed)
        stats = client.stats()
    except DeviceError as exc:
        console.print(f"[red]device error: {exc}[/red]")
        vd.close()
        sys.exit(EXIT_DEVICE)
    finally:
        if vd.proc.poll() is None:
            vd.close()

    # 5. summary ----------------------------------------------------------------
    n = totals["scored"]
    agree_pct = 100.0 * totals["agree"] / max(1, totals["classifications"])
    ok = (totals["max_abs_diff"] <= TOL and totals["agree"] == totals["classifications"]
          and par["ok"])
    summary = {
        "ok": bool(ok),
        "out": str(out_dir),
        "seed": seed,
        "preset": asdict(preset),
        "heldout_rooms": held_rooms,
        "streamed_room": held_rooms[0],
        "heldout_window_accuracy": res.heldout.accuracy,
        "heldout_windows": res.heldout.n_windows,
        "stream_accuracy": totals["correct"] / n if n else None,
        "stream_scored": n,
        "frames": totals["frames"],
        "classifications": totals["classifications"],
        "max_abs_diff": totals["max_abs_diff"],
        "argmax_agreement_pct": agree_pct,
        "export_parity": {k: par[k] for k in ("numpy_max_abs", "native_max_abs", "ok")},
        "model_crc32": f"0x{crc:08X}",
        "model_bytes": len(blob),
        "device_stats": {k: stats.get(k) for k in ("frames", "classifications", "rejected")},
        "train_seconds": res.train_seconds,
        "total_seconds": time.perf_counter() - t_start,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.rule("[bold]5/5 summary")
    _print_summary(console, summary)
    if not ok:
        sys.exit(EXIT_CHECK_FAILED)


def _stream(console: Any, client: Any, head: Any, sessions: list[Any], labels: list[str],
            cfg: Any, every: int, live: bool, log_path: Path,
            speed: float = 0.0) -> tuple[list[StreamRecord], dict[str, Any]]:
    totals: dict[str, Any] = {"frames": 0, "classifications": 0, "scored": 0, "correct": 0,
                              "agree": 0, "max_abs_diff": 0.0}
    recent: deque[StreamRecord] = deque(maxlen=14)
    records: list[StreamRecord] = []
    n_total = sum(len(s.frames) for s in sessions)
    rate = cfg.frame_rate_x100 / 100.0
    period = 1.0 / (rate * speed) if speed > 0 else 0.0
    next_t = time.perf_counter()
    live_ctx: Any = None
    if live:
        from rich.live import Live

        live_ctx = Live(console=console, refresh_per_second=8, transient=False)
        live_ctx.start()
    try:
        with log_path.open("w") as log:
            for si, s in enumerate(sessions):
                client.reset()
                ref = head.window_session(cfg.eval_window)
                name = s.name
                act = name.split("-")[1] if "-" in name else name
                for t, frame in enumerate(s.frames):
                    if period:  # absolute schedule, like the device's frame source
                        next_t += period
                        delay = next_t - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                    got = client.push(frame[None, :], wait=False)
                    if got["accepted"] != 1:
                        raise DeviceError(0x103, f"device did not accept frame {t} of {s.name}: "
                                                 f"{got}")
                    ref.push(frame)
                    totals["frames"] += 1
                    if (t + 1) % every and t + 1 != len(s.frames):
                        continue
                    client.wait_idle()
                    dl = client.classify()
                    rl = ref.classify()
                    diff = float(np.max(np.abs(dl.astype(np.float64) - rl.astype(np.float64))))
                    agree = int(np.argmax(dl)) == int(np.argmax(rl)) == client.last_argmax
                    p = _softmax(dl)
                    filled = min(t + 1, cfg.eval_window)
                    rec = StreamRecord(
                        session=name, activity=act, frame=t, t_s=t / rate, filled=filled,
                        true=labels[int(s.labels[t])], pred=labels[int(np.argmax(dl))],
                        ref_pred=labels[int(np.argmax(rl))], confidence=float(p.max()),
                        max_abs_diff=diff, argmax_agree=bool(agree),
                        scored=filled == cfg.eval_window,
                    )
                    totals["classifications"] += 1
                    totals["agree"] += int(rec.argmax_agree)
                    totals["max_abs_diff"] = max(totals["max_abs_diff"], diff)
                    if rec.scored:
                        totals["scored"] += 1
                        totals["correct"] += int(rec.pred == rec.true)
                    records.append(rec)
                    recent.append(rec)
                    log.write(json.dumps(asdict(rec)) + "\n")
                    if live_ctx is not None:
                        header = (f"session {si + 1}/{len(sessions)}: [bold]{name}[/bold] "
                                  f"(held-out room {s.room})  frame {t + 1}/{len(s.frames)}  "
                                  f"streamed {totals['frames']}/{n_total}")
                        live_ctx.update(_view(recent, totals, header))
                    else:
                        console.print(_line(rec), highlight=False, soft_wrap=True)
    finally:
        if live_ctx is not None:
            live_ctx.stop()
    return records, totals


def _print_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="demo summary", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    sa = s["stream_accuracy"]
    ep = s["export_parity"]
    rows = [
        ("held-out rooms (never trained on)", str(s["heldout_rooms"])),
        ("held-out window accuracy (trainer, N frames)",
         f"{s['heldout_window_accuracy']:.3f} on {s['heldout_windows']} windows"),
        (f"streamed room {s['streamed_room']}: accuracy (full window)",
         "-" if sa is None else f"{sa:.3f} on {s['stream_scored']} classifications"),
        ("frames streamed", str(s["frames"])),
        ("classifications (device and reference)", str(s["classifications"])),
        ("max |device - reference| logit", f"{s['max_abs_diff']:.2e}  (tolerance {TOL:g})"),
        ("argmax agreement", f"{s['argmax_agreement_pct']:.1f}%"),
        ("export check torch vs NumPy / C core",
         f"{ep['numpy_max_abs']:.1e} / "
         + ("-" if ep["native_max_abs"] is None else f"{ep['native_max_abs']:.1e}")),
        ("model", f"{s['model_crc32']} ({s['model_bytes']} bytes)"),
        ("time", f"training {s['train_seconds']:.0f} s, total {s['total_seconds']:.0f} s"),
    ]
    for a, b in rows:
        t.add_row(a, b)
    console.print(t)
    verdict = ("[green]DEVICE AGREES WITH THE REFERENCE[/green]" if s["ok"]
               else "[red]DEVICE DISAGREES WITH THE REFERENCE[/red]")
    console.print(f"demo: {verdict}; outputs in {s['out']}")
