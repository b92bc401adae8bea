"""``ruv-temporal bridge``: republish UDP telemetry of nodes without MQTT
(ours 0xC5110007, RuView's 0xC5110001 raw CSI and 0xC5110006 feature state)
into the fleet's MQTT topics (docs/fleet.md).

Exit codes: 0 ok, 2 usage, 3 socket or broker error.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import click

from ruv_temporal.cli.mqttopts import EXIT_IO, connect_or_exit, mqtt_options


@click.command()
@click.option("--udp", "udp_port", type=click.IntRange(1, 65535), default=5005, show_default=True,
              help="UDP port the nodes send to.")
@click.option("--bind", default="0.0.0.0", show_default=True, help="Address to bind.")
@click.option("--mqtt", "url", required=True, help="Broker: mqtt://[user:pw@]HOST[:PORT] or mqtts://…")
@mqtt_options
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The nodes' model: label names and CRC in the state, and the "
                                 "model the bridge runs for raw-CSI (0xC5110001) senders.")
@click.option("--labels", default=None, help="Class names, comma-separated (overrides --model's).")
@click.option("--window-len", type=click.IntRange(1, 4096), default=256, show_default=True,
              help="Raw CSI: frames in the classification window.")
@click.option("--period", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
              help="Raw CSI: seconds between classifications per node.")
@click.option("--offline-after", type=click.FloatRange(0.5, None), default=10.0,
              show_default=True, help="Seconds of silence before a node is marked offline.")
@click.option("--duration", type=click.FloatRange(0, None, min_open=True), default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="Print the counters as JSON at the end.")
def bridge(udp_port: int, bind: str, url: str, mqtt_prefix: str, ca_file: Path | None,
           model_path: Path | None, labels: str | None, window_len: int, period: float,
           offline_after: float, duration: float | None, as_json: bool) -> None:
    """Listen for UDP telemetry and publish it to MQTT (state, availability, discovery)."""
    from ruv_temporal import rvne
    from ruv_temporal.bridge import Bridge
    from ruv_temporal.errors import BlobError

    blob = None
    if model_path is not None:
        blob = model_path.read_bytes()
        try:
            rvne.parse(blob)
        except BlobError as e:
            raise click.BadParameter(f"{model_path}: {e.reason}: {e}",
                                     param_hint="--model") from None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind((bind, udp_port))
    except OSError as e:
        click.echo(f"error: cannot listen on udp {bind}:{udp_port}: {e.strerror or e}", err=True)
        raise SystemExit(EXIT_IO) from None
    client = connect_or_exit(url, ca_file, client_id=f"ruv-bridge-{udp_port}")
    names = [s.strip() for s in labels.split(",")] if labels else None
    br = Bridge(client, mqtt_prefix, names, blob, window_len, period, offline_after)
    click.echo(f"bridge: udp {bind}:{udp_port} -> {url} prefix {mqtt_prefix!r}", err=True)
    t0 = time.monotonic()
    last_tick = t0
    sock.settimeout(0.2)
    try:
        while duration is None or time.monotonic() - t0 < duration:
            try:
                data, _ = sock.recvfrom(65535)
                br.feed_datagram(data)
            except TimeoutError:
                pass
            if time.monotonic() - last_tick >= 0.5:
                br.tick()
                last_tick = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        br.close()
        client.loop_stop()
        client.disconnect()
        sock.close()
    c = br.counters
    summary = {"datagrams": c.datagrams, "results": c.results, "feature_states": c.feature_states,
               "raw_frames": c.raw_frames, "bad": c.bad, "published": c.published,
               "nodes": sorted(br.nodes)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in summary.items()), err=True)
