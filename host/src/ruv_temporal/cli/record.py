"""``ruv-temporal record``: record labelled sessions from a CSI node.

Reads 0xC5110001 raw CSI packets (turned into csi-stats v1 features by the
NumPy mirror of the firmware's front-end, at the firmware's feature rate) or
0xC5110006 feature-state packets from UDP or a serial port and writes one
``.npz`` per node (docs/recording.md). Ctrl-C, SIGTERM and SIGHUP stop early
and still save; --out is created and checked for writing before the capture.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

EXIT_DEVICE = 3


def _writable_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and prove a file can be written there, before any capture."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".ruv-record-probe-"):
            pass
    except OSError as exc:
        raise click.BadParameter(f"cannot write to {out_dir}: {exc.strerror or exc}",
                                 param_hint="--out") from None


@contextlib.contextmanager
def _stop_on_termination() -> Iterator[None]:
    """SIGTERM / SIGHUP end the capture like Ctrl-C (the recorder stops on
    KeyboardInterrupt and what was received is saved)."""
    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    sigs = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    old = {s: signal.signal(s, stop) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@click.command()
@click.option("--udp", "udp_port", type=click.IntRange(1, 65535), default=None,
              help="Listen for packets on this UDP port (nodes send to 5005 by default).")
@click.option("--port", "serial_port", default=None, help="Read packets from this serial port.")
@click.option("--label", required=True, help="Class name of everything recorded in this session.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Output directory (created if missing).")
@click.option("--duration", type=click.FloatRange(0.1, None), default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--raw", is_flag=True, help="Also store the raw int8 I/Q frames.")
@click.option("--classes", default=None,
              help="Comma-separated class names stored as label_names (must contain --label); "
                   "default: the synthetic activities, plus the label if it is not one.")
@click.option("--node", type=click.IntRange(0, 255), default=None, help="Record this node only.")
@click.option("--kind", type=click.Choice(["auto", "raw", "state"]), default="auto",
              show_default=True,
              help="Packets to record: raw CSI (0xC5110001), feature state (0xC5110006), "
                   "or the first kind each node sends.")
@click.option("--bind", default="0.0.0.0", show_default=True, help="--udp: address to bind.")
@click.option("--baud", type=int, default=115200, show_default=True, help="--port: baud rate.")
@click.option("--max-frames", type=click.IntRange(1, None), default=None,
              help="Stop after this many frames.")
@click.option("--rate", "rate_hz", type=click.IntRange(0, 1000), default=None,
              help="Raw CSI: feature frames per second, limited like the firmware does "
                   "(default: its TEMPORAL_CSI_FEATURE_RATE_HZ default, 10); 0 keeps every frame.")
@click.option("--secondary-channel", type=click.Choice(["none", "above", "below"]),
              default="none", show_default=True,
              help="Raw CSI: the channel's secondary channel (HT40), which decides the "
                   "driver's buffer layout (docs/features.md).")
def record(udp_port: int | None, serial_port: str | None, label: str, out_dir: Path,
           duration: float | None, raw: bool, classes: str | None, node: int | None,
           kind: str, bind: str, baud: int, max_frames: int | None, rate_hz: int | None,
           secondary_channel: str) -> None:
    """Record a labelled session from a node (UDP or serial)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from ruv_temporal import recording

    if (udp_port is None) == (serial_port is None):
        raise click.UsageError("give exactly one of --udp PORT or --port SERIAL")
    source = f"udp:{bind}:{udp_port}" if udp_port is not None else f"serial:{serial_port}"
    try:
        names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
        rec = recording.Recorder(
            label, raw=raw, node=node, kind=kind, source=source, label_names=names,
            rate_hz=recording.DEFAULT_FEATURE_RATE_HZ if rate_hz is None else rate_hz,
            secondary=secondary_channel)
    except recording.RecordingError as exc:
        raise click.BadParameter(str(exc), param_hint="--label") from exc
    _writable_dir(out_dir)
    console = Console(stderr=True)

    def view(r: recording.Recorder, elapsed: float) -> Table:
        t = Table(title=f"recording '{label}' from {source}", title_justify="left")
        for col in ("elapsed", "frames", "packets", "over rate", "lost", "resets", "bad",
                    "layout?", "ignored", "nodes"):
            t.add_column(col, justify="right")
        total = f"{elapsed:6.1f}s" + (f" / {duration:.0f}s" if duration else "")
        s = r.stats
        t.add_row(total, str(s.frames), str(s.packets), str(s.rate_skipped), str(s.lost),
                  str(s.seq_resets), str(s.bad), str(s.rejected), str(s.ignored),
                  ",".join(map(str, r.nodes)) or "-")
        return t

    try:
        with _stop_on_termination(), Live(view(rec, 0.0), console=console,
                                          refresh_per_second=5, transient=False) as live:
            def tick(r: recording.Recorder, elapsed: float) -> None:
                live.update(view(r, elapsed))

            if udp_port is not None:
                recording.record_udp(rec, udp_port, host=bind, duration=duration,
                                     max_frames=max_frames, on_tick=tick)
            else:
                recording.record_serial(rec, str(serial_port), baud=baud, duration=duration,
                                        max_frames=max_frames, on_tick=tick)
    except KeyboardInterrupt:  # a stop that landed outside the receive loop: save all the same
        pass
    except recording.RecordingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(EXIT_DEVICE) from exc
    if rec.frames() == 0:
        console.print("[red]error:[/red] no frames received; nothing written")
        raise SystemExit(EXIT_DEVICE)
    try:
        paths = rec.save(out_dir)
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot write sessions: {exc}")
        raise SystemExit(EXIT_DEVICE) from exc
    for p in paths:
        console.print(f"wrote {p}")
