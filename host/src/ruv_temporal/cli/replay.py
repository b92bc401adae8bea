"""``ruv-temporal replay``: send a session's raw CSI frames as 0xC5110001
packets to a UDP port, at their recorded pace (or ``--speed`` times it), so
``monitor``/``record`` (or a virtual device) can be driven with real data
without a node (docs/recording.md).

The session must hold its raw frames (``record --raw``, ``import --raw``).
Each frame is sent as a node would send it: the driver's L-LTF buffer of
its channel (``features.esp_from_lltf``), the recorded node id, sequence
number, RSSI and noise floor. Tip: import with ``--rate 0`` to replay every
frame a node sent; the receiver then applies the feature rate itself.

Exit codes: 0 ok, 2 usage or bad input, 3 I/O error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

EXIT_IO = 3


def session_packets(session: object) -> list[bytes]:
    """The 0xC5110001 packets of a session's raw frames."""
    from ruv_temporal import features, packets, recording

    s = session
    assert isinstance(s, recording.RecordedSession)
    if s.iq is None or s.rssi is None or s.noise_floor is None:
        raise recording.RecordingError("the session holds no raw frames (record or import it "
                                       "with --raw)")
    sec = (s.meta.get("csi_layout") or {}).get("secondary_channel", "none")
    seq = s.seq if s.seq is not None else np.arange(1, len(s) + 1, dtype=np.uint32)
    freq = int(s.meta.get("freq_mhz") or 0)
    out = []
    for t in range(len(s)):
        buf = features.esp_from_lltf(s.iq[t, :features.LLTF_SUBCARRIERS], sec)
        out.append(packets.encode_raw_csi(int(s.node), int(seq[t]),
                                          np.frombuffer(buf, np.int8), int(s.rssi[t]),
                                          int(s.noise_floor[t]), freq_mhz=freq))
    return out


def send_paced(pkts: list[bytes], times_us: np.ndarray, send: Callable[[bytes], None],
               speed: float, on_sent: Callable[[int], None] | None = None) -> float:
    """Send ``pkts[i]`` at ``(times_us[i] - times_us[0]) / speed`` after the start
    (``speed`` 0: as fast as possible); returns the seconds it took."""
    t0 = time.monotonic()
    base = int(times_us[0]) if len(times_us) else 0
    for i, p in enumerate(pkts):
        if speed > 0:
            due = (int(times_us[i]) - base) / 1e6 / speed
            wait = due - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
        send(p)
        if on_sent is not None:
            on_sent(i)
    return time.monotonic() - t0


@click.command()
@click.argument("sessions", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--udp", "udp_port", type=click.IntRange(1, 65535), default=5005,
              show_default=True, help="Destination UDP port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Destination address.")
@click.option("--speed", type=click.FloatRange(0, None), default=1.0, show_default=True,
              help="Pace relative to the recording (2 = twice as fast, 0 = no pauses).")
def replay(sessions: tuple[Path, ...], udp_port: int, host: str, speed: float) -> None:
    """Send sessions' raw CSI frames as 0xC5110001 packets over UDP."""
    from rich.console import Console
    from rich.progress import Progress

    from ruv_temporal import recording

    console = Console(stderr=True)
    loaded = []
    for path in sessions:
        try:
            s = recording.load_session(path)
            loaded.append((path, s, session_packets(s)))
        except recording.RecordingError as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="SESSIONS") from exc
    # several sessions (e.g. the nodes of one recording) interleave by timestamp
    pkts = [p for _, _, ps in loaded for p in ps]
    times = np.concatenate([s.timestamps_us for _, s, _ in loaded])
    order = np.argsort(times, kind="stable")
    pkts = [pkts[i] for i in order]
    times = times[order]
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot open a UDP socket: {exc}")
        raise SystemExit(EXIT_IO) from exc
    with sock, Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"replay -> udp {host}:{udp_port}", total=len(pkts))
        try:
            took = send_paced(pkts, times, lambda p: sock.sendto(p, (host, udp_port)), speed,
                              lambda i: progress.update(task, completed=i + 1))
        except OSError as exc:
            console.print(f"[red]error:[/red] send to {host}:{udp_port} failed: {exc}")
            raise SystemExit(EXIT_IO) from exc
    span = (times[-1] - times[0]) / 1e6 if len(times) > 1 else 0.0
    console.print(f"sent {len(pkts)} packets from {len(loaded)} session(s) to udp "
                  f"{host}:{udp_port} in {took:.2f} s (recording spans {span:.2f} s)")
