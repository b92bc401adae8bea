"""UDP telemetry -> MQTT, for nodes that have no MQTT client of their own
(``ruv-temporal bridge``, docs/fleet.md "Bridging UDP nodes").

- ``0xC5110007`` (our temporal result): ``p/<node>/state``. The packet
  carries argmax, the top logit and the top1-top2 margin only, so the
  bridged state has ``logits: []`` and ``confidence`` = softmax over the two
  leading classes, ``1 / (1 + exp(-margin))`` (an upper bound of the full
  softmax top probability). ``model_crc`` is the ``--model`` blob's, else 0.
- ``0xC5110001`` (raw CSI, e.g. RuView's nodes): with ``--model`` the bridge
  runs the node's classification on the host — the driver's CSI buffer
  mapped to the L-LTF and csi-stats features per node (``features``),
  a window of the last ``window_len`` frames, the NumPy reference model every
  ``period_s`` — and publishes a full state (all logits). Without a model
  the frames are counted only.
- ``0xC5110006`` (RuView's feature state): JSON of its nine values on
  ``p/<node>/features``.

Every node heard gets ``availability`` ``online`` (retained) and Home
Assistant discovery (retained) on first sight, ``offline`` after
``offline_after_s`` of silence and when the bridge stops. Malformed
datagrams are counted and skipped (``packets.StreamDecoder``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruv_temporal import fleet, packets


@dataclass
class BridgedNode:
    node_id: int
    last_seen: float = 0.0
    online: bool = False
    announced: bool = False
    published: int = 0
    # raw CSI path
    stats: Any = None
    session: Any = None
    next_classify: float = 0.0
    seq: int = 0
    frames: int = 0


@dataclass
class BridgeCounters:
    datagrams: int = 0
    results: int = 0
    feature_states: int = 0
    raw_frames: int = 0
    bad: int = 0
    published: int = 0
    issues: list[str] = field(default_factory=list)


class Bridge:
    def __init__(self, client: Any, prefix: str = fleet.DEFAULT_PREFIX,
                 labels: Sequence[str] | None = None, model_blob: bytes | None = None,
                 window_len: int = 256, period_s: float = 1.0, offline_after_s: float = 10.0,
                 clock: Any = time.monotonic) -> None:
        self.client = client
        self.prefix = prefix
        self.model_crc = 0
        self.head = None
        self.labels = list(labels) if labels else None
        if model_blob is not None:
            from ruv_temporal import rvne
            from ruv_temporal.model import TemporalHead

            b = rvne.parse(model_blob)
            self.model_crc = b.crc32
            self.labels = self.labels or b.labels
            self.head = TemporalHead.from_blob(model_blob)
        self.window_len = window_len
        self.period_s = period_s
        self.offline_after_s = offline_after_s
        self.clock = clock
        self.decoder = packets.StreamDecoder()
        self.nodes: dict[int, BridgedNode] = {}
        self.counters = BridgeCounters()

    # ------------------------------------------------------------ publishing
    def _pub(self, topic: str, payload: bytes | str, retain: bool = False, qos: int = 0) -> None:
        fleet.publish(self.client, topic, payload, retain=retain, qos=qos)
        self.counters.published += 1

    def _seen(self, node_id: int, n_classes: int | None) -> BridgedNode:
        n = self.nodes.get(node_id)
        if n is None:
            n = self.nodes[node_id] = BridgedNode(node_id)
        n.last_seen = self.clock()
        if not n.announced and n_classes is not None:
            names = fleet.label_names(self.labels, n_classes)
            for topic, cfg in fleet.discovery_configs(self.prefix, node_id, names,
                                                      model="UDP node via ruv-temporal bridge"):
                self._pub(topic, fleet.dumps(cfg), retain=True, qos=1)
            n.announced = True
        if not n.online:
            self._pub(fleet.availability_topic(self.prefix, node_id), fleet.ONLINE, retain=True,
                      qos=1)
            n.online = True
        return n

    # ------------------------------------------------------------ input
    def feed_datagram(self, data: bytes) -> None:
        self.counters.datagrams += 1
        for item in self.decoder.feed_datagram(data):
            if isinstance(item, packets.DecodeIssue):
                self.counters.bad += 1
                if len(self.counters.issues) < 20:
                    self.counters.issues.append(str(item))
            elif isinstance(item, packets.TemporalResult):
                self._result(item)
            elif isinstance(item, packets.FeatureState):
                self._feature_state(item)
            elif isinstance(item, packets.RawCsi):
                self._raw(item)

    def _result(self, r: Any) -> None:
        self.counters.results += 1
        node = self._seen(r.node_id, r.n_classes)
        names = fleet.label_names(self.labels, r.n_classes)
        margin = float(r.top1_minus_top2)
        conf = 1.0 / (1.0 + math.exp(-margin)) if margin > -700 else 0.0
        payload = {"label": names[r.argmax] if r.argmax < len(names) else str(r.argmax),
                   "index": int(r.argmax), "confidence": conf, "logits": [],
                   "seq": int(r.seq), "ts_us": int(r.ts_us),
                   "model_crc": f"0x{self.model_crc:08X}"}
        self._pub(fleet.state_topic(self.prefix, r.node_id), fleet.dumps(payload))
        node.published += 1

    def _feature_state(self, s: Any) -> None:
        self.counters.feature_states += 1
        self._seen(s.node_id, None)
        payload = {name: float(v) for name, v in zip(packets.FEATURE_STATE_NAMES, s.values,
                                                      strict=True)}
        payload.update(seq=int(s.seq), ts_us=int(s.ts_us), mode=int(s.mode),
                       quality_flags=int(s.quality_flags))
        self._pub(fleet.features_topic(self.prefix, s.node_id), fleet.dumps(payload))

    def _raw(self, r: Any) -> None:
        import numpy as np

        from ruv_temporal.features import CsiLayoutError, CsiStats

        self.counters.raw_frames += 1
        if self.head is None:
            self._seen(r.node_id, None)
            return
        node = self._seen(r.node_id, self.head.n_classes)
        if node.stats is None:
            node.stats = CsiStats()
            node.session = self.head.window_session(self.window_len)
            node.next_classify = self.clock() + self.period_s
        # the payload is the driver's CSI buffer; the front-end maps its layout
        try:
            frame = node.stats.compute_esp(np.asarray(r.iq, np.int8).tobytes(), r.rssi,
                                           r.noise_floor)
        except CsiLayoutError as e:
            self.counters.bad += 1
            if len(self.counters.issues) < 20:
                self.counters.issues.append(f"node {r.node_id} seq {r.seq}: {e}")
            return
        node.session.push(frame)
        node.frames += 1
        now = self.clock()
        if now >= node.next_classify:
            # absolute schedule: skip whole missed periods, never drift
            missed = int((now - node.next_classify) // self.period_s)
            node.next_classify += (missed + 1) * self.period_s
            node.seq += 1
            logits = node.session.classify()
            payload = fleet.state_payload(logits, node.seq, int(now * 1e6), self.model_crc,
                                          self.labels)
            self._pub(fleet.state_topic(self.prefix, r.node_id), fleet.dumps(payload))
            node.published += 1

    # ------------------------------------------------------------ housekeeping
    def tick(self) -> None:
        """Marks silent nodes offline (call periodically)."""
        now = self.clock()
        for n in self.nodes.values():
            if n.online and now - n.last_seen > self.offline_after_s:
                self._pub(fleet.availability_topic(self.prefix, n.node_id), fleet.OFFLINE,
                          retain=True, qos=1)
                n.online = False

    def close(self) -> None:
        for n in self.nodes.values():
            if n.online:
                info = self.client.publish(fleet.availability_topic(self.prefix, n.node_id),
                                           fleet.OFFLINE, qos=1, retain=True)
                info.wait_for_publish(timeout=2)
                n.online = False
