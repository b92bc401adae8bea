"""``ruv-temporal monitor``: live view of the telemetry of CSI nodes (docs/telemetry.md).

Reads UDP datagrams, a serial port or a raw byte capture, decodes them with
:class:`ruv_temporal.packets.StreamDecoder` and shows the latest temporal
result per node plus the counts of bad packets.

Exit codes: 0 ok, 2 usage, 3 I/O error (file, serial port or socket).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

EXIT_USAGE = 2
EXIT_IO = 3
RATE_WINDOW = 10  # results per node used for the rate estimate
CHUNK = 65536
SEQ_PLAUSIBLE_GAP = 1000
"""A sequence number more than this ahead of the last one is a node reset or a
forged packet: counted in ``seq_jumps``, not added to ``lost``."""


@dataclass
class NodeView:
    node_id: int
    last: Any = None  # packets.TemporalResult
    results: int = 0
    lost: int = 0
    restarts: int = 0
    seq_jumps: int = 0
    states: int = 0
    raw: int = 0
    ts: deque[int] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))

    @property
    def rate_hz(self) -> float | None:
        if len(self.ts) < 2 or self.ts[-1] <= self.ts[0]:
            return None
        return (len(self.ts) - 1) * 1e6 / (self.ts[-1] - self.ts[0])


class MonitorState:
    """Everything the monitor shows, updated packet by packet."""

    def __init__(self, labels: list[str] | None = None) -> None:
        from ruv_temporal import packets

        self.packets = packets
        self.decoder = packets.StreamDecoder()
        self.labels = labels
        self.nodes: dict[int, NodeView] = {}
        self.results = 0

    def _node(self, node_id: int) -> NodeView:
        if node_id not in self.nodes:
            self.nodes[node_id] = NodeView(node_id)
        return self.nodes[node_id]

    def handle(self, items: list[Any]) -> None:
        P = self.packets  # noqa: N806
        for it in items:
            if isinstance(it, P.TemporalResult):
                n = self._node(it.node_id)
                if n.last is not None:
                    gap = it.seq - n.last.seq
                    if 0 < gap <= SEQ_PLAUSIBLE_GAP + 1:
                        n.lost += gap - 1
                    elif gap > 0:  # a reset we did not see, or a forged seq: not "lost"
                        n.seq_jumps += 1
                        n.ts.clear()
                    else:  # node rebooted (seq restarts at 1) or reordered
                        n.restarts += 1
                        n.ts.clear()
                n.last = it
                n.results += 1
                n.ts.append(it.ts_us)
                self.results += 1
            elif isinstance(it, P.FeatureState):
                self._node(it.node_id).states += 1
            elif isinstance(it, P.RawCsi):
                self._node(it.node_id).raw += 1

    def feed(self, chunk: bytes) -> None:
        self.handle(self.decoder.feed(chunk))

    def feed_datagram(self, d: bytes) -> None:
        self.handle(self.decoder.feed_datagram(d))

    def flush(self) -> None:
        self.handle(self.decoder.flush())

    def label(self, idx: int) -> str:
        if self.labels is not None and 0 <= idx < len(self.labels):
            return f"{idx} {self.labels[idx]}"
        return str(idx)

    def to_json(self) -> dict[str, Any]:
        nodes = []
        for nid in sorted(self.nodes):
            n = self.nodes[nid]
            r = n.last
            nodes.append({
                "node": nid,
                "seq": r.seq if r else None,
                "argmax": r.argmax if r else None,
                "label": (self.labels[r.argmax] if r and self.labels
                          and r.argmax < len(self.labels) else None),
                "top_logit": r.top_logit if r else None,
                "margin": r.top1_minus_top2 if r else None,
                "n_classes": r.n_classes if r else None,
                "rate_hz": n.rate_hz,
                "results": n.results,
                "lost": n.lost,
                "restarts": n.restarts,
                "seq_jumps": n.seq_jumps,
                "feature_states": n.states,
                "raw_csi": n.raw,
            })
        return {"nodes": nodes, "counts": dict(self.decoder.counts),
                "by_type": dict(self.decoder.by_type)}

    def table(self, title: str) -> Any:
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for col in ("node", "seq", "argmax", "logit", "margin", "rate/s", "n", "lost",
                    "state", "raw"):
            t.add_column(col, justify="left" if col == "argmax" else "right",
                         no_wrap=col == "argmax")
        for nid in sorted(self.nodes):
            n = self.nodes[nid]
            r = n.last
            rate = n.rate_hz
            t.add_row(
                str(nid),
                str(r.seq) if r else "-",
                self.label(r.argmax) if r else "-",
                f"{r.top_logit:.4f}" if r else "-",
                f"{r.top1_minus_top2:.4f}" if r else "-",
                f"{rate:.2f}" if rate is not None else "-",
                str(n.results), str(n.lost), str(n.states), str(n.raw),
            )
        c = self.decoder.counts
        t.caption = (f"packets {c['packets']}  bad_crc {c['bad_crc']}  truncated "
                     f"{c['truncated']}  unknown {c['unknown']}  foreign {c['foreign']}  "
                     f"garbage_bytes {c['garbage_bytes']}")
        t.caption_justify = "left"
        return t


class MqttMonitorState:
    """The fleet as seen on a broker: per node the last state, availability,
    seq gaps and the last model/status (fed from paho's network thread)."""

    def __init__(self, prefix: str) -> None:
        import threading

        self.prefix = prefix
        self.lock = threading.Lock()
        self.nodes: dict[str, dict[str, Any]] = {}
        self.results = 0
        self.malformed = 0
        self.client: Any = None  # keeps the paho client (and its thread) alive

    def on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 3 or parts[0] != self.prefix:
            return
        node, kind = parts[1], "/".join(parts[2:])
        with self.lock:
            n = self.nodes.setdefault(node, {"availability": "?", "results": 0, "lost": 0,
                                             "ts": deque(maxlen=RATE_WINDOW)})
            if kind == "availability":
                n["availability"] = msg.payload.decode(errors="replace")
                return
            try:
                body = json.loads(msg.payload)
            except ValueError:
                self.malformed += 1
                return
            if kind == "state":
                last = n.get("state")
                if last is not None and body.get("seq", 0) > last.get("seq", 0) + 1:
                    n["lost"] += body["seq"] - last["seq"] - 1
                n["state"] = body
                n["results"] += 1
                n["ts"].append(time.monotonic())
                self.results += 1
            elif kind == "model/status":
                n["status"] = body

    def flush(self) -> None:
        pass

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"results": self.results, "malformed": self.malformed,
                    "nodes": {k: {"availability": v["availability"], "results": v["results"],
                                  "lost": v["lost"], "state": v.get("state"),
                                  "model_status": v.get("status")}
                              for k, v in sorted(self.nodes.items())}}

    def table(self, title: str) -> Any:
        from rich.table import Table

        t = Table(title=title)
        for col in ("node", "avail", "label", "conf", "seq", "lost", "rate Hz", "model",
                    "last update"):
            t.add_column(col)
        with self.lock:
            for name, n in sorted(self.nodes.items()):
                s = n.get("state") or {}
                ts = n["ts"]
                rate = (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else None
                st = n.get("status")
                upd = "" if st is None else (f"ok gen {st.get('generation')}" if st.get("ok")
                                             else f"refused: {st.get('reason')}")
                conf = s.get("confidence")
                t.add_row(name, n["availability"], str(s.get("label", "")),
                          "" if conf is None else f"{conf:.2f}", str(s.get("seq", "")),
                          str(n["lost"]), "" if rate is None else f"{rate:.2f}",
                          str(s.get("model_crc", "")), upd)
        t.caption = f"results {self.results}  malformed {self.malformed}"
        t.caption_justify = "left"
        return t


# ---------------------------------------------------------------------------- sources


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk


def _fail(msg: str, code: int) -> None:
    click.echo(f"error: {msg}", err=True)
    raise SystemExit(code)


def _labels_from(labels: str | None, blob_path: Path | None) -> list[str] | None:
    if labels is not None:
        return [s.strip() for s in labels.split(",")]
    if blob_path is None:
        return None
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    try:
        b = rvne.parse(rvne.read_blob_file(blob_path))
    except OSError as e:
        _fail(f"cannot read {blob_path}: {e.strerror or e}", EXIT_IO)
    except BlobError as e:
        raise click.BadParameter(f"{blob_path}: {e.reason}: {e}", param_hint="--blob") from None
    return b.labels


@click.command()
@click.option("--udp", "udp_port", type=click.IntRange(1, 65535), default=None,
              help="Listen for telemetry on this UDP port (nodes send to 5005 by default).")
@click.option("--bind", default="0.0.0.0", show_default=True, help="--udp: address to bind.")
@click.option("--port", "serial_port", default=None, help="Read telemetry from a serial port.")
@click.option("--baud", type=click.IntRange(1, None), default=115200, show_default=True,
              help="--port: baud rate.")
@click.option("--file", "capture", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Decode a raw byte capture (e.g. a saved serial stream).")
@click.option("--labels", default=None, help="Class names (comma-separated) for argmax.")
@click.option("--blob", "blob_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Take the class names from this blob's LABELS section.")
@click.option("--duration", type=click.FloatRange(0, None, min_open=True), default=None,
              help="Stop after this many seconds (UDP/serial).")
@click.option("--once", is_flag=True,
              help="Print one table and exit: after the file, or after the first result.")
@click.option("--json", "as_json", is_flag=True, help="Print the final state as JSON.")
@click.option("--mqtt", "mqtt_url", default=None,
              help="Watch a fleet on an MQTT broker: mqtt://[user:pw@]HOST[:PORT] or mqtts://…")
@click.option("--mqtt-prefix", default="ruv", show_default=True, help="--mqtt: topic prefix.")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="--mqtt: CA certificate of an mqtts:// broker.")
def monitor(udp_port: int | None, bind: str, serial_port: str | None, baud: int,
            capture: Path | None, labels: str | None, blob_path: Path | None,
            duration: float | None, once: bool, as_json: bool, mqtt_url: str | None,
            mqtt_prefix: str, ca_file: Path | None) -> None:
    """Show the latest temporal result per node and the bad-packet counts."""
    from rich.console import Console

    chosen = [s for s in (udp_port, serial_port, capture, mqtt_url) if s is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --udp PORT, --port SERIAL, --file CAPTURE "
                               "or --mqtt URL")
    state: Any
    if mqtt_url is not None:
        from ruv_temporal.cli.mqttopts import connect_or_exit

        state = MqttMonitorState(mqtt_prefix)
        title = f"fleet on {mqtt_url} prefix {mqtt_prefix!r}"
        state.client = connect_or_exit(mqtt_url, ca_file, on_message=state.on_message,
                                       subscribe=[f"{mqtt_prefix}/+/state",
                                                  f"{mqtt_prefix}/+/availability",
                                                  f"{mqtt_prefix}/+/model/status"])

        def reader(timeout: float) -> None:
            time.sleep(timeout)
    else:
        state = MonitorState(_labels_from(labels, blob_path))
    console = Console()

    def finish() -> None:
        state.flush()
        if as_json:
            click.echo(json.dumps(state.to_json(), indent=2))
        else:
            console.print(state.table(title))

    if capture is not None:
        title = f"telemetry from {capture}"
        try:
            for chunk in _file_chunks(capture):
                state.feed(chunk)
        except OSError as e:
            _fail(f"cannot read {capture}: {e.strerror or e}", EXIT_IO)
        finish()
        return

    if mqtt_url is not None:
        pass
    elif udp_port is not None:
        title = f"telemetry on udp {bind}:{udp_port}"
        reader = _udp_reader(bind, udp_port, state)
    else:
        title = f"telemetry on {serial_port} @ {baud}"
        reader = _serial_reader(str(serial_port), baud, state)

    t0 = time.monotonic()

    def done() -> bool:
        if duration is not None and time.monotonic() - t0 >= duration:
            return True
        return once and state.results > 0

    live_ok = console.is_terminal and not once and not as_json
    try:
        if live_ok:
            from rich.live import Live

            with Live(state.table(title), console=console, refresh_per_second=4) as live:
                while not done():
                    reader(0.2)
                    live.update(state.table(title))
            state.flush()
            if as_json:
                click.echo(json.dumps(state.to_json(), indent=2))
            return
        while not done():
            reader(0.2)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        _fail(f"read error: {e.strerror or e}", EXIT_IO)
    finish()


def _udp_reader(bind: str, port: int, state: MonitorState) -> Callable[[float], None]:
    import socket

    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
    except OSError as e:
        _fail(f"cannot listen on udp {bind}:{port}: {e.strerror or e}", EXIT_IO)

    def read(timeout: float) -> None:
        sock.settimeout(timeout)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return
        state.feed_datagram(data)
        sock.settimeout(0.0)  # drain what else is queued before the next redraw
        for _ in range(1000):
            try:
                data, _ = sock.recvfrom(65535)
            except (BlockingIOError, TimeoutError):
                return
            state.feed_datagram(data)

    return read


def _serial_reader(port: str, baud: int, state: MonitorState) -> Callable[[float], None]:
    try:
        import serial
    except ImportError:  # pragma: no cover - pyserial is a dependency
        _fail("pyserial is not installed", EXIT_IO)
    try:
        ser = serial.Serial(port, baud, timeout=0.2)
    except (serial.SerialException, OSError, ValueError) as e:
        _fail(f"cannot open {port}: {e}", EXIT_IO)

    def read(timeout: float) -> None:
        ser.timeout = timeout
        try:
            data = ser.read(max(1, ser.in_waiting or 1))
        except serial.SerialException as e:
            raise OSError(str(e)) from e
        if data:
            state.feed(data)

    return read
