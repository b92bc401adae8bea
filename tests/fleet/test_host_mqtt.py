"""Host side of the fleet against a real Mosquitto: broker auth on the TLS
listener, the UDP->MQTT bridge (ours and RuView's packets), retained
discovery and availability, `monitor --mqtt` and `provision --mqtt`."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ruv_temporal import fleet, packets, rvne, signing
from ruv_temporal.model import TemporalHead

CLI = [sys.executable, "-m", "ruv_temporal"]
LABELS = ["empty", "walk", "sit", "fall"]


def labelled_blob() -> bytes:
    b = rvne.parse(rvne.init_random(16, 4, 1, 32, 2, 4))
    b.labels = LABELS
    return rvne.build(b)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ payloads


def test_state_payload_and_discovery():
    logits = np.array([0.5, 2.0, -1.0, 2.0], np.float32)
    p = fleet.state_payload(logits, 7, 123, 0xDC807956, LABELS)
    assert (p["label"], p["index"], p["seq"], p["ts_us"]) == ("walk", 1, 7, 123)
    ex = np.exp(logits.astype(np.float64) - 2.0)
    assert p["confidence"] == pytest.approx(1.0 / ex.sum(), rel=1e-12)
    assert p["model_crc"] == "0xDC807956" and p["logits"] == [0.5, 2.0, -1.0, 2.0]
    cfgs = dict(fleet.discovery_configs("ruv", 3, LABELS))
    act = cfgs["homeassistant/sensor/ruv_ruv_3/activity/config"]
    conf = cfgs["homeassistant/sensor/ruv_ruv_3/confidence/config"]
    assert act["options"] == LABELS and act["device_class"] == "enum"
    assert act["state_topic"] == conf["state_topic"] == "ruv/3/state"
    assert act["device"]["identifiers"] == conf["device"]["identifiers"] == ["ruv_ruv_3"]
    assert act["availability_topic"] == "ruv/3/availability"
    assert conf["unit_of_measurement"] == "%"


def test_broker_url():
    u = fleet.parse_url("mqtts://us%40r:p%3Aw@h.lan")
    assert (u.host, u.port, u.tls, u.username, u.password) == ("h.lan", 8883, True, "us@r", "p:w")
    assert fleet.parse_url("mqtt://10.0.0.2:1884").port == 1884
    with pytest.raises(fleet.FleetError):
        fleet.parse_url("http://x")


# ------------------------------------------------------------------ broker


def test_tls_listener_requires_password(tls_broker):
    ca = str(tls_broker.tls_files.ca_cert)
    [(TLS_USER, TLS_PASSWORD)] = tls_broker.users.items()
    good = fleet.connect(tls_broker.tls_url(TLS_USER, TLS_PASSWORD), ca_file=ca)
    good.loop_stop()
    good.disconnect()
    with pytest.raises(fleet.FleetError, match="refused"):
        fleet.connect(tls_broker.tls_url(TLS_USER, "wrong"), ca_file=ca)
    with pytest.raises(fleet.FleetError, match="refused"):
        fleet.connect(tls_broker.tls_url(), ca_file=ca)  # anonymous
    # the server certificate is checked against the CA made for this broker
    with pytest.raises(fleet.FleetError):
        fleet.connect(tls_broker.tls_url(TLS_USER, TLS_PASSWORD))
    # the plain listener of the same broker still takes anonymous clients
    plain = fleet.connect(tls_broker.url)
    plain.loop_stop()
    plain.disconnect()


# ------------------------------------------------------------------ bridge


def test_bridge_republishes_udp(broker, recorder, tmp_path):
    blob = labelled_blob()
    model = tmp_path / "m.rvne"
    model.write_bytes(blob)
    port = free_udp_port()
    rec = recorder(broker.url, ["ruv/#"])
    proc = subprocess.Popen(CLI + ["bridge", "--udp", str(port), "--bind", "127.0.0.1",
                                   "--mqtt", broker.url, "--model", str(model), "--period", "0.2",
                                   "--window-len", "32", "--duration", "8", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # the bridge prints its banner once bound and connected
        assert proc.stderr is not None and "bridge: udp" in proc.stderr.readline()
        # ours: five results, one garbage datagram between
        for seq in range(1, 6):
            tx.sendto(packets.encode_temporal_result(3, seq, seq * 1000, 4, seq % 4, 2.5, 0.75),
                      ("127.0.0.1", port))
            if seq == 2:
                tx.sendto(b"\xc5\x11garbage", ("127.0.0.1", port))
        # RuView feature state
        tx.sendto(packets.encode_feature_state(7, 11, 5000, 1, motion=0.1, presence=0.9,
                                               resp_bpm=14.0),
                  ("127.0.0.1", port))
        # RuView raw CSI, classified by the bridge with the model
        rng = np.random.default_rng(1)
        for seq in range(1, 41):
            iq = rng.integers(-40, 40, size=(1, 64, 2), dtype=np.int8)
            tx.sendto(packets.encode_raw_csi(9, seq, iq, rssi=-50, noise_floor=-92),
                      ("127.0.0.1", port))
            time.sleep(0.02)
        rec.wait(lambda t, p, r: t == "ruv/9/state", timeout=10)
        rec.wait(lambda t, p, r: t == "ruv/3/state" and json.loads(p)["seq"] == 5)
        rec.wait(lambda t, p, r: t == "ruv/7/features")
    finally:
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["results"] == 5 and summary["feature_states"] == 1
    assert summary["raw_frames"] == 40 and summary["bad"] >= 1

    states = rec.json_on("ruv/3/state")
    assert [s["seq"] for s in states] == [1, 2, 3, 4, 5]
    for s in states:
        assert s["label"] == LABELS[s["index"]] and s["logits"] == []
        assert s["confidence"] == pytest.approx(1 / (1 + math.exp(-0.75)), rel=1e-6)
        assert s["model_crc"] == f"0x{rvne.parse(blob).crc32:08X}"
    feat = rec.json_on("ruv/7/features")[0]
    assert feat["presence"] == pytest.approx(0.9) and feat["seq"] == 11
    raw_states = rec.json_on("ruv/9/state")
    assert raw_states and all(len(s["logits"]) == 4 for s in raw_states)
    assert [s["seq"] for s in raw_states] == list(range(1, len(raw_states) + 1))
    s = raw_states[0]
    assert s["label"] == LABELS[int(np.argmax(s["logits"]))]
    assert s["confidence"] == pytest.approx(fleet.softmax_confidence(s["logits"]))
    # availability: online while running, offline (retained) after the bridge stops
    av = [p for t, p, _ in rec.snapshot() if t == "ruv/3/availability"]
    assert av[0] == b"online" and av[-1] == b"offline"

    # a late subscriber gets the retained discovery configs and availability
    late = recorder(broker.url, ["homeassistant/#", "ruv/+/availability"])
    late.wait(lambda t, p, r: t == "homeassistant/sensor/ruv_ruv_9/confidence/config")
    retained = {t: p for t, p, r in late.snapshot() if r}
    act = json.loads(retained["homeassistant/sensor/ruv_ruv_3/activity/config"])
    assert act["options"] == LABELS and act["state_topic"] == "ruv/3/state"
    assert retained["ruv/3/availability"] == b"offline"


def test_bridge_raw_csi_matches_reference(broker, recorder):
    """The bridge's classification of a raw-CSI sender equals the NumPy model
    run on the same frames' csi-stats features (window of the last N)."""
    from ruv_temporal.bridge import Bridge
    from ruv_temporal.features import CsiStats

    blob = labelled_blob()
    client = fleet.connect(broker.url)
    rec = recorder(broker.url, ["ruv/4/state"])
    clock = [0.0]
    br = Bridge(client, labels=None, model_blob=blob, window_len=16, period_s=1.0,
                clock=lambda: clock[0])
    rng = np.random.default_rng(4)
    frames = [rng.integers(-60, 60, size=(1, 64, 2), dtype=np.int8) for _ in range(30)]
    for i, iq in enumerate(frames):
        clock[0] = 0.125 * (i + 1)  # exact in binary
        br.feed_datagram(packets.encode_raw_csi(4, i + 1, iq, rssi=-40, noise_floor=-90))
    rec.wait(lambda t, p, r: len(rec.json_on("ruv/4/state")) >= 2)
    got = rec.json_on("ruv/4/state")
    head = TemporalHead.from_blob(blob)
    stats = CsiStats()
    feats = np.stack([stats.compute_esp(f.tobytes(), -40, -90) for f in frames])
    # first frame at t=0.125 starts the schedule: classify at 1.125 (frame 9), 2.125 (frame 17)
    for s, upto in zip(got[:2], (9, 17), strict=True):
        ref = head.forward(feats[max(0, upto - 16):upto])
        np.testing.assert_allclose(s["logits"], ref, atol=1e-6)
    client.loop_stop()
    client.disconnect()


# ------------------------------------------------------------------ monitor / provision


def test_monitor_mqtt_table(broker):
    pub = fleet.connect(broker.url)
    stop = threading.Event()

    def publish() -> None:
        seq = 0
        while not stop.is_set():
            seq += 2 if seq % 10 == 8 else 1  # every seq ending in 9 is lost
            pub.publish("ruv/12/state", fleet.dumps(fleet.state_payload([0.1, 0.9], seq, 0, 1,
                                                                        ["a", "b"])))
            time.sleep(0.1)

    pub.publish("ruv/12/availability", b"online", retain=True)
    th = threading.Thread(target=publish, daemon=True)
    th.start()
    try:
        r = subprocess.run(CLI + ["monitor", "--mqtt", broker.url, "--duration", "3", "--json"],
                           capture_output=True, text=True, timeout=30)
    finally:
        stop.set()
        th.join()
        pub.loop_stop()
        pub.disconnect()
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    n = js["nodes"]["12"]
    assert n["availability"] == "online" and n["results"] >= 5
    assert n["state"]["label"] == "b"
    # one seq in ten is never sent: one lost per nine received (+1 at the edges)
    assert 1 <= n["lost"] <= n["results"] // 9 + 1


def test_provision_mqtt_exit_codes(broker, tmp_path):
    """provision --mqtt: exit code from the node's model/status (a stand-in
    node here; the real node is tests/fleet/test_vdev_mqtt.py)."""
    key = signing.generate_private_key()
    blob = labelled_blob()
    crc = rvne.parse(blob).crc32
    env = tmp_path / "m.rvsg"
    env.write_bytes(signing.sign(blob, key, 2))
    answers = iter([fleet.status_payload(True, "ok", crc, 2),
                    fleet.status_payload(False, "old_generation", 0x1234, 1)])

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        e = signing.verify(bytes(msg.payload), key.public_key())
        assert e.blob == blob
        client.publish("ruv/5/model/status", fleet.dumps(next(answers)))

    node = fleet.connect(broker.url, on_message=on_message, subscribe=["ruv/5/model/set"])
    try:
        time.sleep(0.2)
        base = CLI + ["provision", "--mqtt", broker.url, "--node", "5", "--timeout", "5"]
        r = subprocess.run(base + [str(env)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert f"provisioned model 0x{crc:08X} generation 2" in r.stdout
        r = subprocess.run(base + [str(env)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "old_generation" in r.stderr
        # a bare blob needs --key/--generation
        bare = tmp_path / "m.rvne"
        bare.write_bytes(blob)
        r = subprocess.run(base + [str(bare)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "not signed" in r.stderr
        # nobody listening on another node: timeout, exit 3
        r = subprocess.run(CLI + ["provision", "--mqtt", broker.url, "--node", "99",
                                  "--timeout", "1", str(env)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 3 and "no model/status" in r.stderr
    finally:
        node.loop_stop()
        node.disconnect()
