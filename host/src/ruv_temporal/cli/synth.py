"""``ruv-temporal synth``: write synthetic labelled sessions (recording format).

One ``.npz`` per (room, activity, session), the format of
``ruv-temporal record`` (docs/recording.md, docs/synthetic-data.md).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Output directory (created if missing).")
@click.option("--rooms", type=click.IntRange(1, 10000), default=8, show_default=True,
              help="Number of rooms (room seeds FIRST-ROOM .. FIRST-ROOM+N-1).")
@click.option("--first-room", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--seconds", type=click.FloatRange(1.0, 86400.0), default=60.0, show_default=True,
              help="Length of each session.")
@click.option("--sessions", "sessions_per", type=click.IntRange(1, 1000), default=1,
              show_default=True, help="Sessions per room and activity.")
@click.option("--activities", default="all", show_default=True,
              help="Comma-separated activity names, or 'all'.")
@click.option("--rate", "rate_hz", type=click.FloatRange(1.0, 1000.0), default=10.0,
              show_default=True, help="Frames per second.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sessions.")
@click.option("--raw", is_flag=True, help="Also store the raw int8 I/Q frames.")
def synth(out_dir: Path, rooms: int, first_room: int, seconds: float, sessions_per: int,
          activities: str, rate_hz: float, seed: int, raw: bool) -> None:
    """Generate synthetic CSI sessions (multipath channel, six activities) and
    write them with their csi-stats v1 features."""
    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ruv_temporal import recording
    from ruv_temporal import synth as sy

    names = list(sy.ACTIVITIES) if activities == "all" else [
        a.strip() for a in activities.split(",") if a.strip()]
    bad = [a for a in names if a not in sy.ACTIVITIES]
    if bad or not names:
        raise click.BadParameter(f"unknown activity {', '.join(bad) or '(none)'}; "
                                 f"choose from {', '.join(sy.ACTIVITIES)}",
                                 param_hint="--activities")
    jobs = [(r, a, k) for r in range(first_room, first_room + rooms) for a in names
            for k in range(sessions_per)]
    console = Console(stderr=True)
    frames = 0
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=False) as progress:
            task = progress.add_task("synth", total=len(jobs))
            for room, activity, k in jobs:
                progress.update(task, description=f"room {room} {activity}")
                rng = np.random.default_rng([seed, room, sy.ACTIVITIES.index(activity), k])
                sess = sy.generate_session(activity, room, seconds, rate_hz, rng)
                rec = recording.session_from_synth(sess, raw=raw)
                rec.meta["seed"] = seed
                rec.meta["session_index"] = k
                recording.save_session(out_dir / f"synth_r{room:03d}_{activity}_{k:02d}.npz", rec)
                frames += len(sess)
                progress.advance(task)
    except OSError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(3) from exc
    console.print(f"wrote {len(jobs)} sessions, {frames} frames to {out_dir}")
