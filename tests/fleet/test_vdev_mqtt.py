"""The node's MQTT side — ruv_app's fleet logic, run by the virtual device
(libmosquitto client, mbedtls verifier: the code the board runs over
esp-mqtt) — against a real Mosquitto: state stream equal to the NumPy
reference, retained discovery and availability, signed updates committed
through the A/B slots, every kind of bad upload refused with the old model
running bit for bit, broker credentials, broker restart, locked console."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ruv_temporal import fleet, rvne, signing
from ruv_temporal.device import VirtualDevice, find_vdev
from ruv_temporal.errors import DeviceError
from ruv_temporal.model import TemporalHead

CLI = [sys.executable, "-m", "ruv_temporal"]
LABELS = ["empty", "walk", "sit", "fall"]
WINDOW = 64
PERIOD_MS = 100


def make_blob(seed: int, labels: list[str] = LABELS) -> bytes:
    b = rvne.parse(rvne.init_random(16, 4, 1, 32, 2, 4, seed=seed))
    b.labels = labels
    return rvne.build(b)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("keys")
    key, other = signing.generate_private_key(), signing.generate_private_key()
    (d / "fleet.pem").write_bytes(signing.private_pem(key))
    (d / "fleet.pub.pem").write_bytes(signing.public_pem(key))
    return {"key": key, "other": other, "pub": d / "fleet.pub.pem", "priv": d / "fleet.pem"}


@pytest.fixture
def node(tmp_path: Path, keys: dict[str, Any]) -> Any:
    exe = find_vdev()
    if "--mqtt" not in subprocess.run([str(exe), "--help"], capture_output=True,
                                      text=True).stderr:
        pytest.fail("ruv_vdev built without MQTT: install libmosquitto-dev and libmbedtls-dev "
                    "(tools/setup.sh) and rebuild")
    made: list[VirtualDevice] = []

    def start(url: str, *extra: str, node_id: int = 3, pubkey: bool = True,
              blob: bytes | None = None) -> VirtualDevice:
        model = tmp_path / f"seed{node_id}.rvne"
        model.write_bytes(blob or make_blob(1))
        args = ["--slots", str(tmp_path / f"slots{node_id}"), "--model", str(model),
                "--window-len", str(WINDOW), "--period-ms", str(PERIOD_MS),
                "--node-id", str(node_id), "--mqtt", url, *extra]
        if pubkey:
            args += ["--pubkey", str(keys["pub"])]
        v = VirtualDevice(*args)
        made.append(v)
        return v

    yield start
    for v in made:
        v.close()


def wait_for(pred: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def frames(seed: int, n: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 16)).astype(np.float32)


def fresh_states(rec: Any, topic: str, count: int, timeout: float = 10.0) -> list[dict]:
    """`count` state messages published after this call."""
    start = len(rec.snapshot())
    rec.wait(lambda *_: sum(1 for t, _, _ in rec.snapshot()[start:] if t == topic) >= count,
             timeout)
    return [json.loads(p) for t, p, _ in rec.snapshot()[start:] if t == topic]


def model_status(rec: Any, topic: str, start: int, timeout: float = 15.0) -> dict:
    rec.wait(lambda *_: any(t == topic for t, _, _ in rec.snapshot()[start:]), timeout)
    return next(json.loads(p) for t, p, _ in rec.snapshot()[start:] if t == topic)


def test_state_stream_matches_reference(broker, recorder, node):
    rec = recorder(broker.url, ["ruv/3/#"])
    v = node(broker.url)
    c = v.client
    x = frames(7)
    c.push(x)
    device_logits = c.classify()
    states = fresh_states(rec, "ruv/3/state", 8)
    ref = TemporalHead.from_blob(make_blob(1)).forward(x[-WINDOW:])
    seqs = [s["seq"] for s in states]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # consecutive
    for s in states:
        got = np.array(s["logits"], np.float32)
        np.testing.assert_array_equal(got, device_logits)  # JSON carries the exact float32
        np.testing.assert_allclose(got, ref, atol=1e-4)
        assert s["index"] == int(np.argmax(ref)) and s["label"] == LABELS[s["index"]]
        assert s["confidence"] == pytest.approx(fleet.softmax_confidence(got), rel=1e-8)
        assert s["model_crc"] == f"0x{rvne.parse(make_blob(1)).crc32:08X}"
    ts = [s["ts_us"] for s in states]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    st = c.stats()
    assert st["mqtt"] == "up" and int(st["mqtt_published"]) >= len(states)
    assert int(st["mqtt_dropped"]) == 0


def test_discovery_and_availability_retained(broker, recorder, node):
    v = node(broker.url, node_id=8)
    wait_for(lambda: v.client.stats()["mqtt"] == "up", what="connection")
    time.sleep(0.3)
    late = recorder(broker.url, ["homeassistant/#", "ruv/8/availability"])
    late.wait(lambda t, p, r: t.endswith("confidence/config") and "ruv_ruv_8" in t)
    late.wait(lambda t, p, r: t == "ruv/8/availability")
    retained = {t: json.loads(p) if t.startswith("home") else p
                for t, p, r in late.snapshot() if r}
    assert retained["ruv/8/availability"] == b"online"
    banner = v.client.info()
    want = dict(fleet.discovery_configs("ruv", 8, LABELS, sw_version=banner["app"],
                                        model=banner["platform"]))
    got = {t: p for t, p in retained.items() if t.startswith("homeassistant/")}
    # the same JSON as the Python reference (device model = platform name)
    assert got == want
    # killing the node: the broker publishes its last will, retained
    v.kill()
    late.wait(lambda t, p, r: t == "ruv/8/availability" and p == b"offline", timeout=20)


def publish_model(broker_url: str, node_id: int, payload: bytes) -> None:
    c = fleet.connect(broker_url)
    c.publish(f"ruv/{node_id}/model/set", payload, qos=1).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def test_signed_update_and_refusals(broker, recorder, node, keys, tmp_path):
    rec = recorder(broker.url, ["ruv/3/#"])
    v = node(broker.url)
    c = v.client
    x = frames(11)
    old_blob, new_blob = make_blob(1), make_blob(2, ["a", "b", "c", "d"])
    c.push(x)
    before = c.classify()

    def refused(payload: bytes, reason: str) -> None:
        start = len(rec.snapshot())
        publish_model(broker.url, 3, payload)
        st = model_status(rec, "ruv/3/model/status", start)
        assert st["ok"] is False and st["reason"] == reason, st
        # the old model runs on, bit for bit, with its frames
        np.testing.assert_array_equal(c.classify(), before)
        s = fresh_states(rec, "ruv/3/state", 1)[-1]
        np.testing.assert_array_equal(np.array(s["logits"], np.float32), before)
        assert st["model_crc"] == s["model_crc"] == f"0x{rvne.parse(old_blob).crc32:08X}"

    env2 = signing.sign(new_blob, keys["key"], 2)
    refused(new_blob, "unsigned")
    refused(signing.sign(new_blob, keys["other"], 2), "key_mismatch")
    refused(env2[:-10], "truncated")
    refused(env2[:5000], "truncated")
    tampered = bytearray(env2)
    tampered[40 + 1000] ^= 4
    refused(bytes(tampered), "bad_signature")
    refused(b"\x00" * 200, "bad_magic")
    refused(signing.sign(make_blob(3)[:-1] + b"\x00", keys["key"], 2), "crc_mismatch")
    assert int(c.stats()["models_refused"]) == 7

    # the signed update through provision --mqtt: commits, changes the logits
    env_file = tmp_path / "m2.rvsg"
    env_file.write_bytes(env2)
    r = subprocess.run(CLI + ["provision", "--mqtt", broker.url, "--node", "3", "--timeout", "15",
                              str(env_file)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    new_crc = rvne.parse(new_blob).crc32
    assert json.loads(r.stdout.splitlines()[0])["generation"] == 2
    c.push(x)
    after = c.classify()
    ref_new = TemporalHead.from_blob(new_blob).forward(x[-WINDOW:])
    np.testing.assert_allclose(after, ref_new, atol=1e-4)
    assert np.abs(after - before).max() > 1e-3
    s = fresh_states(rec, "ruv/3/state", 2)[-1]
    assert s["model_crc"] == f"0x{new_crc:08X}" and s["label"] in ["a", "b", "c", "d"]
    np.testing.assert_array_equal(np.array(s["logits"], np.float32), after)
    # discovery follows the new labels
    late = recorder(broker.url, ["homeassistant/sensor/ruv_ruv_3/activity/config"])
    late.wait(lambda t, p, r: json.loads(p)["options"] == ["a", "b", "c", "d"])

    # replaying the older generation (1, validly signed) and the same one: refused
    before = after
    old_blob = new_blob
    refused(signing.sign(make_blob(4), keys["key"], 1), "old_generation")
    refused(env2, "old_generation")
    # the replay floor survives a restart of the node (slot header)
    st = c.stats()
    assert st["signed_gen"] == "2" and st["models_ok"] == "1"


def test_no_key_takes_no_network_model(broker, recorder, node, keys):
    rec = recorder(broker.url, ["ruv/5/model/status"])
    v = node(broker.url, node_id=5, pubkey=False)
    wait_for(lambda: v.client.stats()["mqtt"] == "up", what="connection")
    v.client.push(frames(3))
    before = v.client.classify()
    publish_model(broker.url, 5, signing.sign(make_blob(2), keys["key"], 9))
    st = model_status(rec, "ruv/5/model/status", 0)
    assert st == {"ok": False, "reason": "no_key",
                  "model_crc": f"0x{rvne.parse(make_blob(1)).crc32:08X}", "generation": 0}
    np.testing.assert_array_equal(v.client.classify(), before)


def test_locked_console_takes_signed_only(broker, node, keys):
    v = node(broker.url, "--locked", node_id=6)
    c = v.client
    with pytest.raises(DeviceError) as e:
        c.load_blob(make_blob(2))
    assert "unsigned" in str(e.value) or "RVNE" in str(e.value)
    r = c.load_blob(signing.sign(make_blob(2), keys["key"], 5))
    assert r["model"] == f"{rvne.parse(make_blob(2)).crc32:08x}"
    with pytest.raises(DeviceError) as e:
        c.load_blob(signing.sign(make_blob(3), keys["key"], 5))
    assert "generation" in str(e.value)
    assert c.stats()["locked"] == "1" and c.stats()["signed_gen"] == "5"


def test_wrong_credentials_refused_and_reported(tls_broker, node):
    [(user, password)] = tls_broker.users.items()
    ca = str(tls_broker.tls_files.ca_cert)
    bad = node(tls_broker.tls_url(user, "not-the-password"), "--mqtt-ca", ca, node_id=10)
    wait_for(lambda: bad.client.stats()["mqtt"] == "refused", what="refusal report")
    st = bad.client.stats()
    assert int(st["mqtt_refusals"]) >= 1 and int(st["mqtt_connects"]) == 0
    good = node(tls_broker.tls_url(user, password), "--mqtt-ca", ca, node_id=11)
    wait_for(lambda: good.client.stats()["mqtt"] == "up", what="TLS connection")
    good.client.push(frames(5))
    wait_for(lambda: int(good.client.stats()["mqtt_published"]) >= 3, what="publishing over TLS")


def test_broker_restart_node_reconnects(broker, recorder, node):
    v = node(broker.url, node_id=12)
    c = v.client
    c.push(frames(9))
    wait_for(lambda: int(c.stats()["mqtt_published"]) >= 3, what="first states")
    broker.stop()
    wait_for(lambda: c.stats()["mqtt"] == "down", what="disconnect noticed")
    n0 = int(c.stats()["classifications"])
    time.sleep(1.0)
    st = c.stats()
    # classification goes on while the broker is away; the states are dropped, counted
    assert int(st["classifications"]) >= n0 + 5
    assert int(st["mqtt_dropped"]) >= 5
    broker.start()
    rec = recorder(broker.url, ["ruv/12/#"])
    states = fresh_states(rec, "ruv/12/state", 3, timeout=30)
    assert states[-1]["seq"] > states[0]["seq"]
    st = c.stats()
    assert st["mqtt"] == "up" and int(st["mqtt_connects"]) >= 2
    rec.wait(lambda t, p, r: t == "ruv/12/availability" and p == b"online")


def test_replay_floor_survives_reboot_and_host_provisioning(broker, recorder, node, keys,
                                                            tmp_path):
    """The floor lives in the slot headers: after a reboot, and after a
    host-side `provision --via slots` of an unsigned blob (which must carry
    the floor forward), a replayed older generation is still refused."""
    rec = recorder(broker.url, ["ruv/14/model/status"])
    v = node(broker.url, node_id=14)
    wait_for(lambda: v.client.stats()["mqtt"] == "up", what="connection")
    publish_model(broker.url, 14, signing.sign(make_blob(2), keys["key"], 5))
    assert model_status(rec, "ruv/14/model/status", 0)["ok"] is True
    v.close()
    slots = tmp_path / "slots14"
    other = tmp_path / "other.rvne"
    other.write_bytes(make_blob(6))
    r = subprocess.run(CLI + ["provision", "--via", "slots", "--slots", str(slots), str(other)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    v2 = node(broker.url, node_id=14)  # same slot directory: a reboot
    st = v2.client.stats()
    assert st["signed_gen"] == "5"
    assert v2.client.info()["model"] == f"{rvne.parse(make_blob(6)).crc32:08x}"
    wait_for(lambda: v2.client.stats()["mqtt"] == "up", what="reconnection")
    start = len(rec.snapshot())
    publish_model(broker.url, 14, signing.sign(make_blob(3), keys["key"], 4))
    assert model_status(rec, "ruv/14/model/status", start)["reason"] == "old_generation"
