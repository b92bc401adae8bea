"""Fixtures of the fleet suite: a private Mosquitto on loopback (plain
listener; and TLS + password listener with allow_anonymous false and a CA
made at test time), and an MQTT recorder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ruv_temporal import broker as mb
from ruv_temporal import fleet

TLS_USER, TLS_PASSWORD = "node", "node-secret"


def _need_mosquitto() -> None:
    if mb.find_mosquitto() is None:
        pytest.fail("mosquitto is not installed (tools/setup.sh installs it)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[mb.Mosquitto]:
    _need_mosquitto()
    b = mb.Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mb.Mosquitto]:
    _need_mosquitto()
    b = mb.Mosquitto(tmp_path_factory.mktemp("tlsbroker"), tls=True,
                     users={TLS_USER: TLS_PASSWORD}).start()
    yield b
    b.stop()


class Recorder:
    """Subscribes to topics and keeps every message (topic, payload, retain)."""

    def __init__(self, url: str, topics: list[str], **kw: Any) -> None:
        self.msgs: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = fleet.connect(url, on_message=self._on, subscribe=topics, **kw)
        time.sleep(0.2)  # SUBACK

    def _on(self, client: Any, userdata: Any, msg: Any) -> None:
        item = (msg.topic, bytes(msg.payload), bool(msg.retain))
        with self.lock:
            self.msgs.append(item)

    def wait(self, pred: Any, timeout: float = 10.0) -> tuple[str, bytes, bool]:
        """First message so far (or arriving within timeout) matching pred."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.snapshot():
                if pred(*item):
                    return item
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching message within {timeout} s; got "
                                     f"{[(t, p[:60]) for t, p, _ in self.snapshot()][-10:]}")
            time.sleep(0.02)

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.msgs)

    def json_on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.snapshot() if t == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def recorder() -> Iterator[Any]:
    made: list[Recorder] = []

    def make(url: str, topics: list[str], **kw: Any) -> Recorder:
        r = Recorder(url, topics, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
