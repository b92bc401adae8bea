#!/usr/bin/env python3
"""Fleet load benchmark (docs/benchmarks.md, "Fleet over MQTT").

N virtual devices (ruv_vdev --mqtt: ruv_app's MQTT logic on libmosquitto)
and M UDP nodes through `ruv-temporal bridge` publish into one private
Mosquitto for DURATION seconds at the classify period; one subscriber
counts what arrives. Reports, side by side in one run:

- messages delivered vs sent (vdev: the app's own counters of messages
  handed to the client plus dropped ones; UDP: datagrams sent), seq gaps;
- end-to-end latency percentiles: vdev = from the node's timestamp in the
  state (taken right after the classification; `ruv_vdev --host-clock`
  puts it on the host's monotonic clock) to the subscriber's receipt;
  UDP = from the sender's timestamp in the packet, through the bridge;
- resident memory (VmRSS) of the broker, the vdevs, the bridge before the
  load and at its end.

    .venv/bin/python tools/bench_fleet.py --nodes 20 --udp-nodes 20 --duration 60 --period-ms 1000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ruv_temporal import broker as mb
from ruv_temporal import fleet, packets, rvne
from ruv_temporal.device import VirtualDevice


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=20, help="virtual devices (MQTT)")
    ap.add_argument("--udp-nodes", type=int, default=20, help="UDP nodes through the bridge")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--period-ms", type=int, default=1000)
    ap.add_argument("--json", dest="json_out", type=Path, default=None)
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ruv-fleet-bench-"))
    blob_path = work / "model.rvne"
    blob = rvne.parse(rvne.init_random(16, 4, 1, 32, 2, 4))
    blob.labels = ["empty", "walk", "sit", "fall"]
    blob_path.write_bytes(rvne.build(blob))
    brk = mb.Mosquitto(work / "broker", max_queued=10000).start()
    mem: dict[str, dict[str, int | None]] = {"before": {}, "after": {}}
    mem["before"]["broker_kib"] = brk.rss_kib()

    # subscriber: receipt time of every state
    lock = threading.Lock()
    got: dict[str, list[tuple[float, int, int]]] = {}

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        node = msg.topic.split("/")[1]
        s = json.loads(msg.payload)
        with lock:
            got.setdefault(node, []).append((now, s["seq"], s["ts_us"]))

    sub = fleet.connect(brk.url, on_message=on_message, subscribe=["ruv/+/state"])
    time.sleep(0.3)

    print(f"starting {a.nodes} virtual devices, a bridge and {a.udp_nodes} UDP nodes "
          f"(period {a.period_ms} ms, {a.duration:.0f} s)", file=sys.stderr)
    vdevs: list[VirtualDevice] = []
    frames = np.random.default_rng(0).normal(0, 1, (40, 16)).astype(np.float32)
    for i in range(a.nodes):
        v = VirtualDevice("--slots", str(work / f"slots{i}"), "--model", str(blob_path),
                          "--window-len", "64", "--period-ms", str(a.period_ms),
                          "--node-id", str(i + 1), "--mqtt", brk.url, "--log-stderr",
                          "--host-clock")
        v.client.push(frames)
        vdevs.append(v)
    # --host-clock: the vdevs' time_us is CLOCK_MONOTONIC, Python's monotonic clock
    offsets = {str(i + 1): 0.0 for i in range(a.nodes)}

    udp_port = mb.free_port()
    bridge = subprocess.Popen([sys.executable, "-m", "ruv_temporal", "bridge", "--udp",
                               str(udp_port), "--bind", "127.0.0.1", "--mqtt", brk.url,
                               "--model", str(blob_path), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert bridge.stderr is not None
    bridge.stderr.readline()  # banner: bound and connected
    mem["before"]["bridge_kib"] = mb.rss_kib(bridge.pid)
    mem["before"]["vdev_kib_total"] = sum(mb.rss_kib(v.proc.pid) or 0 for v in vdevs)
    mem["before"]["bench_kib"] = mb.rss_kib(os.getpid())

    # a node's state seq counts every classification (handed to the client or
    # dropped), so published + dropped is the seq of its latest state: the
    # window is (seq at start, seq at end]
    vdev_start = {str(i + 1): {k: int(x) for k, x in v.client.stats().items()
                               if k in ("mqtt_published", "mqtt_dropped")}
                   for i, v in enumerate(vdevs)}
    udp_sent: dict[str, int] = {}
    stop = threading.Event()

    def udp_sender() -> None:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        period = a.period_ms / 1000.0
        nxt = time.monotonic()
        seq = 0
        while not stop.is_set():
            seq += 1
            for k in range(a.udp_nodes):
                node = 101 + k
                ts = int(time.monotonic() * 1e6)
                tx.sendto(packets.encode_temporal_result(node, seq, ts, 4, seq % 4, 2.0, 0.5),
                          ("127.0.0.1", udp_port))
                udp_sent[str(node)] = udp_sent.get(str(node), 0) + 1
            nxt += period
            stop.wait(max(0.0, nxt - time.monotonic()))

    th = threading.Thread(target=udp_sender, daemon=True)
    t_start = time.monotonic()
    th.start()
    time.sleep(a.duration)
    stop.set()
    th.join()
    vdev_end = {str(i + 1): {k: int(x) for k, x in v.client.stats().items()
                             if k in ("mqtt_published", "mqtt_dropped")}
                for i, v in enumerate(vdevs)}
    time.sleep(1.0)  # in-flight messages
    elapsed = time.monotonic() - t_start
    mem["after"]["broker_kib"] = brk.rss_kib()
    mem["after"]["bridge_kib"] = mb.rss_kib(bridge.pid)
    mem["after"]["vdev_kib_total"] = sum(mb.rss_kib(v.proc.pid) or 0 for v in vdevs)
    mem["after"]["bench_kib"] = mb.rss_kib(os.getpid())

    with lock:
        snap = {k: list(v) for k, v in got.items()}
    # vdev: sent = handed to the client + dropped, between the two stats reads
    v_sent = v_pub = v_drop = v_recv = v_gaps = 0
    v_lat: list[float] = []
    for node, st in vdev_end.items():
        pub = st["mqtt_published"] - vdev_start[node]["mqtt_published"]
        drop = st["mqtt_dropped"] - vdev_start[node]["mqtt_dropped"]
        v_pub += pub
        v_drop += drop
        v_sent += pub + drop
        lo = vdev_start[node]["mqtt_published"] + vdev_start[node]["mqtt_dropped"]
        hi = st["mqtt_published"] + st["mqtt_dropped"]
        msgs = [m for m in snap.get(node, []) if lo < m[1] <= hi]
        v_recv += len(msgs)
        seqs = [m[1] for m in msgs]
        v_gaps += sum(b - a_ - 1 for a_, b in zip(seqs, seqs[1:], strict=False) if b > a_ + 1)
        v_lat += [(t - (offsets[node] + ts / 1e6)) * 1e3 for t, _, ts in msgs]
    u_recv = u_gaps = 0
    u_lat: list[float] = []
    for node, n in udp_sent.items():
        msgs = snap.get(node, [])
        u_recv += len(msgs)
        seqs = [m[1] for m in msgs]
        u_gaps += n - len(set(seqs))
        u_lat += [(t - ts / 1e6) * 1e3 for t, _, ts in msgs]
    u_sent = sum(udp_sent.values())

    for v in vdevs:
        v.close()
    bridge.terminate()
    bridge.communicate(timeout=20)
    sub.loop_stop()
    sub.disconnect()
    brk.stop()

    res = {
        "nodes": a.nodes, "udp_nodes": a.udp_nodes, "period_ms": a.period_ms,
        "duration_s": round(elapsed, 1),
        "vdev": {"sent": v_sent, "handed_to_client": v_pub, "dropped_by_node": v_drop,
                 "delivered": v_recv, "seq_gaps": v_gaps,
                 "latency_ms": {f"p{q}": round(pct(v_lat, q), 3) for q in (50, 90, 99, 100)}},
        "udp_via_bridge": {"sent": u_sent, "delivered": u_recv, "missing": u_gaps,
                           "latency_ms": {f"p{q}": round(pct(u_lat, q), 3)
                                          for q in (50, 90, 99, 100)}},
        "rate_msgs_per_s": round((v_recv + u_recv) / elapsed, 1),
        "memory_kib": mem,
    }
    print(json.dumps(res, indent=2))
    if a.json_out:
        a.json_out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
