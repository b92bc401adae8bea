"""``ruv-temporal import``: RuView recordings (``*.csi.jsonl``, with or
without the ``.csi.meta.json`` beside them) -> this project's sessions, one
per node and file (docs/recording.md).

Raw CSI becomes csi-stats v1 feature frames as on the node: the driver's
buffer layout mapped to the L-LTF, at most ``--rate`` frames per second (the
firmware's limiter, default its Kconfig default). Non-CSI lines (vitals,
feature, other packets) are counted and skipped.

Exit codes: 0 ok, 2 usage or bad input, 3 I/O error.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

EXIT_IO = 3


@click.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Output directory (created if missing).")
@click.option("--label", default=None,
              help="Class name of everything in the files (default: the label of each "
                   "file's .csi.meta.json).")
@click.option("--classes", default=None,
              help="Comma-separated class names stored as label_names (must contain the "
                   "label); default: the synthetic activities, plus the label.")
@click.option("--rate", "rate_hz", type=click.IntRange(0, 1000), default=None,
              help="Feature frames per second, limited like the firmware does (default: its "
                   "TEMPORAL_CSI_FEATURE_RATE_HZ default, 10); 0 keeps every frame.")
@click.option("--secondary-channel", type=click.Choice(["none", "above", "below"]),
              default="none", show_default=True,
              help="The recording channel's secondary channel (decides the buffer layout).")
@click.option("--raw", is_flag=True,
              help="Also store the L-LTF I/Q of every frame (needed by `replay`).")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
def import_cmd(files: tuple[Path, ...], out_dir: Path, label: str | None, classes: str | None,
               rate_hz: int | None, secondary_channel: str, raw: bool, as_json: bool) -> None:
    """Import RuView CSI recordings (*.csi.jsonl) as labelled sessions."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ruv_temporal import recording, ruview

    names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    rate = recording.DEFAULT_FEATURE_RATE_HZ if rate_hz is None else rate_hz
    console = Console(stderr=True)
    table = Table(title=f"import -> {out_dir} (feature rate {rate or 'unlimited'}"
                        f"{'/s' if rate else ''}, secondary channel {secondary_channel})",
                  title_justify="left")
    for col in ("file", "node", "raw frames", "frames", "rate/s", "over rate", "layout?",
                "buffer bytes", "skipped lines", "bad lines"):
        table.add_column(col, justify="left" if col in ("file", "buffer bytes",
                                                         "skipped lines") else "right")
    report = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("importing", total=len(files))
        for path in files:
            progress.update(task, description=f"importing {path.name}")
            try:
                res = ruview.import_recording(path, label, rate_hz=rate, raw=raw,
                                              secondary=secondary_channel, label_names=names)
            except recording.RecordingError as exc:
                msg = str(exc)
                if "cannot read" in msg:
                    console.print(f"[red]error:[/red] {msg}")
                    raise SystemExit(EXIT_IO) from exc
                raise click.BadParameter(msg, param_hint="FILES/--label") from exc
            rep = res.report
            skipped = ", ".join(f"{k} {v}" for k, v in sorted(rep.skipped.items())) or "-"
            if not res.sessions:
                table.add_row(path.name, "-", "0", "0", "-", "-", "-", "-", skipped,
                              str(sum(rep.bad.values())))
            written = []
            for s in res.sessions:
                try:
                    p = recording.save_session(out_dir / ruview.session_file_name(path, s), s)
                except OSError as exc:
                    console.print(f"[red]error:[/red] cannot write sessions: {exc}")
                    raise SystemExit(EXIT_IO) from exc
                lay = s.meta["csi_layout"]
                table.add_row(path.name, str(s.node), str(rep.raw_csi[s.node]), str(len(s)),
                              f"{s.meta['rate_hz']:.2f}" if s.meta.get("rate_hz") else "-",
                              str(s.meta["rate_skipped"]), str(lay["rejected_unknown_layout"]),
                              ", ".join(f"{k}: {v}" for k, v in lay["buffer_bytes"].items()),
                              skipped, str(sum(rep.bad.values())))
                written.append({"path": str(p), "node": s.node, "frames": len(s),
                                "rate_hz": s.meta.get("rate_hz"), "label": s.label})
            report.append({**rep.to_json(), "sessions": written})
            progress.advance(task)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        Console(width=max(140, Console().width)).print(table)
    if not any(r["sessions"] for r in report):
        console.print("[red]error:[/red] no raw CSI frames in the files; nothing written")
        raise SystemExit(2)
