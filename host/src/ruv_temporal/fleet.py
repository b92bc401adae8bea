"""The fleet over MQTT (docs/fleet.md): topics, payloads, Home Assistant
discovery, broker URLs and a paho-mqtt client factory.

This module is the reference for what a node publishes; the C app logic
(``ruv_app_mqtt.c``) formats the same JSON and a test compares them.

Topics (``p`` = prefix, default ``ruv``; ``n`` = node id, decimal):

- ``p/n/state`` — one JSON per classification: ``label, index, confidence,
  logits, seq, ts_us, model_crc``.
- ``p/n/availability`` — ``online``/``offline``, retained; ``offline`` is
  the last will.
- ``homeassistant/sensor/ruv_<p>_<n>/{activity,confidence}/config`` —
  discovery, retained.
- ``p/n/model/set`` — a signed envelope (``ruv_temporal.signing``); the node
  answers on ``p/n/model/status`` with ``ok, reason, model_crc, generation``.
"""

from __future__ import annotations

import json
import math
import ssl
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruv_temporal.errors import RuvError

DEFAULT_PREFIX = "ruv"
DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = "online", "offline"


class FleetError(RuvError):
    """Bad broker URL, or the broker refused or dropped the connection."""


# ---------------------------------------------------------------- topics


def state_topic(prefix: str, node: str | int) -> str:
    return f"{prefix}/{node}/state"


def availability_topic(prefix: str, node: str | int) -> str:
    return f"{prefix}/{node}/availability"


def model_set_topic(prefix: str, node: str | int) -> str:
    return f"{prefix}/{node}/model/set"


def model_status_topic(prefix: str, node: str | int) -> str:
    return f"{prefix}/{node}/model/status"


def features_topic(prefix: str, node: str | int) -> str:
    """RuView feature-state packets (0xC5110006) republished by the bridge."""
    return f"{prefix}/{node}/features"


def device_key(prefix: str, node: str | int) -> str:
    """Home Assistant object id of a node: unique per prefix and node."""
    return f"ruv_{prefix}_{node}".replace("/", "_")


def discovery_topic(prefix: str, node: str | int, entity: str) -> str:
    return f"{DISCOVERY_PREFIX}/sensor/{device_key(prefix, node)}/{entity}/config"


# ---------------------------------------------------------------- payloads


def softmax_confidence(logits: Sequence[float]) -> float:
    """Softmax probability of the top class (float64, max-subtracted)."""
    m = max(logits)
    den = sum(math.exp(float(x) - m) for x in logits)
    return 1.0 / den


def label_names(labels: Sequence[str] | None, n_classes: int) -> list[str]:
    """The model's LABELS, or ``class0..`` when it has none."""
    if labels and len(labels) == n_classes:
        return list(labels)
    return [f"class{i}" for i in range(n_classes)]


def state_payload(logits: Sequence[float], seq: int, ts_us: int, model_crc: int,
                  labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``state`` message of one classification (argmax: first maximum)."""
    vals = [float(x) for x in logits]
    index = max(range(len(vals)), key=lambda i: (vals[i], -i))
    return {
        "label": label_names(labels, len(vals))[index],
        "index": index,
        "confidence": softmax_confidence(vals),
        "logits": vals,
        "seq": int(seq),
        "ts_us": int(ts_us),
        "model_crc": f"0x{model_crc:08X}",
    }


def status_payload(ok: bool, reason: str, model_crc: int, generation: int) -> dict[str, Any]:
    return {"ok": bool(ok), "reason": reason, "model_crc": f"0x{model_crc:08X}",
            "generation": int(generation)}


def discovery_configs(prefix: str, node: str | int, labels: Sequence[str],
                      sw_version: str = "", model: str = "ESP32-S3 CSI temporal head"
                      ) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery: an enum sensor for the activity label
    (the model's label names as options) and a confidence sensor (%), one
    device per node. Publish retained."""
    key = device_key(prefix, node)
    device = {"identifiers": [key], "name": f"ruv-temporal {node}",
              "model": model, "manufacturer": "ruv-temporal"}
    if sw_version:
        device["sw_version"] = sw_version
    common = {"state_topic": state_topic(prefix, node),
              "availability_topic": availability_topic(prefix, node),
              "payload_available": ONLINE, "payload_not_available": OFFLINE,
              "device": device}
    activity = {"name": "Activity", "unique_id": f"{key}_activity",
                "value_template": "{{ value_json.label }}", "device_class": "enum",
                "options": list(labels), "icon": "mdi:motion-sensor", **common}
    confidence = {"name": "Confidence", "unique_id": f"{key}_confidence",
                  "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
                  "unit_of_measurement": "%", "state_class": "measurement", **common}
    return [(discovery_topic(prefix, node, "activity"), activity),
            (discovery_topic(prefix, node, "confidence"), confidence)]


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# ---------------------------------------------------------------- broker URL


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_url(url: str) -> BrokerUrl:
    """``mqtt://[user[:password]@]host[:port]`` (1883) or ``mqtts://…`` (8883, TLS)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        raise FleetError(f"broker URL {url!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = u.scheme in ("mqtts", "ssl")
    try:
        port = u.port or (8883 if tls else 1883)
    except ValueError:
        raise FleetError(f"broker URL {url!r}: bad port") from None
    user = urllib.parse.unquote(u.username) if u.username else None
    pw = urllib.parse.unquote(u.password) if u.password else None
    return BrokerUrl(u.hostname, port, tls, user, pw)


def connect(url: str | BrokerUrl, client_id: str | None = None, *, ca_file: str | None = None,
            username: str | None = None, password: str | None = None,
            will: tuple[str, bytes, bool] | None = None, timeout: float = 10.0,
            on_message: Any = None, subscribe: Sequence[str] = ()) -> Any:
    """A connected paho-mqtt client with its network loop running in a
    thread. Raises FleetError when the broker refuses (bad credentials) or
    cannot be reached within ``timeout``. Subscriptions are renewed on
    every reconnect."""
    import threading

    import paho.mqtt.client as mqtt

    b = parse_url(url) if isinstance(url, str) else url
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                    client_id=client_id or f"ruv-host-{uuid.uuid4().hex[:8]}")
    user, pw = username or b.username, password or b.password
    if user:
        c.username_pw_set(user, pw)
    if b.tls:
        ctx = ssl.create_default_context(cafile=ca_file)
        c.tls_set_context(ctx)
    if will:
        c.will_set(will[0], will[1], qos=1, retain=will[2])
    c.reconnect_delay_set(1, 8)
    ready = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        result["rc"] = reason_code
        if not reason_code.is_failure:
            for t in subscribe:
                client.subscribe(t, qos=1)
        ready.set()

    c.on_connect = on_connect
    if on_message is not None:
        c.on_message = on_message
    try:
        c.connect(b.host, b.port, keepalive=30)
    except (OSError, ssl.SSLError) as e:
        raise FleetError(f"cannot connect to {b}: {e}") from None
    c.loop_start()
    if not ready.wait(timeout):
        c.loop_stop()
        raise FleetError(f"no answer from {b} within {timeout:.0f} s")
    rc = result["rc"]
    if rc.is_failure:
        c.loop_stop()
        c.disconnect()
        raise FleetError(f"broker {b} refused the connection: {rc}")
    return c


def publish(client: Any, topic: str, payload: bytes | str, retain: bool = False,
            qos: int = 0) -> None:
    client.publish(topic, payload, qos=qos, retain=retain)
