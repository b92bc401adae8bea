"""Labelled CSI sessions on disk (docs/recording.md).

A session is one ``.npz`` file (NumPy's zip of arrays, loadable without
pickle) holding feature frames, timestamps, per-frame labels and a JSON
metadata record; the raw I/Q can be kept too. Sessions come from a live node
(:class:`Recorder`, fed with UDP datagrams or a serial byte stream of
0xC5110001 raw CSI or 0xC5110006 feature-state packets) or from the
synthetic generator (:func:`session_from_synth`).
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ruv_temporal import features
from ruv_temporal.errors import RuvError

FORMAT = "ruv-session"
FORMAT_VERSION = 1
FEATURE_SET_STATE_V1 = 6
"""Feature-set id of sessions recorded from 0xC5110006 feature-state packets
(the node's own 9 features, in packet order)."""
STATE_FEATURE_NAMES: tuple[str, ...] = (
    "motion", "presence", "resp_bpm", "resp_conf", "hb_bpm", "hb_conf", "anomaly",
    "env_shift", "coherence",
)
MAGIC_RAW_CSI = 0xC5110001
MAGIC_FEATURE_STATE = 0xC5110006
DEFAULT_UDP_PORT = 5005
DEFAULT_FEATURE_RATE_HZ = 10
"""Feature frames per second the firmware makes of raw CSI: the default of
``TEMPORAL_CSI_FEATURE_RATE_HZ`` in firmware/main/Kconfig.projbuild (a test
keeps the two equal). Sessions recorded from raw packets use the same limit."""
SEQ_PLAUSIBLE_GAP = 1000
"""A sequence jump larger than this is a node reset (or a forged packet):
counted in ``seq_resets``, not added to ``lost``."""

_REQUIRED = ("features", "timestamps_us", "labels", "meta")


class RecordingError(RuvError):
    """A session file is malformed, or a recording could not be made."""


@dataclass
class RecordedSession:
    """One labelled session. ``features`` float32 [T][D]; ``timestamps_us``
    int64 [T]; ``labels`` int64 [T] indices into ``label_names``; ``seq``
    uint32 [T] (packet sequence numbers; gaps = lost packets). The raw CSI
    (``iq`` int8 [T][n][2] zero-padded, ``n_subcarriers`` uint16 [T],
    ``rssi``/``noise_floor`` int8 [T]) is optional."""

    features: npt.NDArray[np.float32]
    timestamps_us: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    label_names: list[str]
    label: str
    node: int
    meta: dict[str, Any] = field(default_factory=dict)
    seq: npt.NDArray[np.uint32] | None = None
    iq: npt.NDArray[np.int8] | None = None
    n_subcarriers: npt.NDArray[np.uint16] | None = None
    rssi: npt.NDArray[np.int8] | None = None
    noise_floor: npt.NDArray[np.int8] | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def room(self) -> int | None:
        r = self.meta.get("room")
        return None if r is None else int(r)

    @property
    def feature_set(self) -> int:
        return int(self.meta.get("feature_set", features.FEATURE_SET_STATS_V1))

    def validate(self) -> None:
        t = self.features.shape[0] if self.features.ndim == 2 else -1
        if t < 0:
            raise RecordingError(f"features must be [T][D], got shape {self.features.shape}")
        for name in ("timestamps_us", "labels", "seq", "n_subcarriers", "rssi", "noise_floor"):
            a = getattr(self, name)
            if a is not None and a.shape != (t,):
                raise RecordingError(f"{name} must have shape ({t},), got {a.shape}")
        if self.iq is not None and (self.iq.ndim != 3 or self.iq.shape[0] != t
                                    or self.iq.shape[2] != 2):
            raise RecordingError(f"iq must be [T][n][2], got shape {self.iq.shape}")
        if t and (self.labels.min() < 0 or self.labels.max() >= len(self.label_names)):
            raise RecordingError("labels must index label_names")
        if self.label not in self.label_names:
            raise RecordingError(f"session label {self.label!r} is not in label_names")


def default_label_names(label: str) -> list[str]:
    """The synthetic activity names, plus ``label`` if it is not one of them,
    so recorded and synthetic sessions share class ids where they can."""
    from ruv_temporal.synth import ACTIVITIES

    return list(ACTIVITIES) if label in ACTIVITIES else [*ACTIVITIES, label]


def save_session(path: str | Path, session: RecordedSession) -> Path:
    """Write ``session`` to ``path`` (``.npz`` appended if missing)."""
    session.validate()
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    p.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(session.meta)
    meta.update({
        "format": FORMAT, "version": FORMAT_VERSION, "label": session.label,
        "label_names": list(session.label_names), "node": int(session.node),
        "n_frames": len(session), "dim": int(session.features.shape[1]),
    })
    meta.setdefault("feature_set", features.FEATURE_SET_STATS_V1)
    meta.setdefault("feature_names", list(features.FEATURE_NAMES)
                    if meta["feature_set"] == features.FEATURE_SET_STATS_V1 else [])
    arrays: dict[str, Any] = {
        "features": np.ascontiguousarray(session.features, np.float32),
        "timestamps_us": np.asarray(session.timestamps_us, np.int64),
        "labels": np.asarray(session.labels, np.int64),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    for name, dt in (("seq", np.uint32), ("iq", np.int8), ("n_subcarriers", np.uint16),
                     ("rssi", np.int8), ("noise_floor", np.int8)):
        a = getattr(session, name)
        if a is not None:
            arrays[name] = np.asarray(a, dt)
    tmp = p.with_name(p.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    tmp.replace(p)
    return p


def load_session(path: str | Path) -> RecordedSession:
    """Read a session file written by :func:`save_session`."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in _REQUIRED if k not in z.files]
            if missing:
                raise RecordingError(f"{p}: not a {FORMAT} file (missing {', '.join(missing)})")
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{p}: cannot read session: {exc}") from exc
    try:
        meta = json.loads(str(data["meta"]))
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{p}: bad metadata JSON: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise RecordingError(f"{p}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise RecordingError(f"{p}: format version {meta.get('version')} is newer than "
                             f"this reader ({FORMAT_VERSION})")
    s = RecordedSession(
        features=data["features"].astype(np.float32, copy=False),
        timestamps_us=data["timestamps_us"].astype(np.int64, copy=False),
        labels=data["labels"].astype(np.int64, copy=False),
        label_names=[str(x) for x in meta.get("label_names", [])],
        label=str(meta.get("label", "")), node=int(meta.get("node", 0)), meta=meta,
        seq=data.get("seq"), iq=data.get("iq"), n_subcarriers=data.get("n_subcarriers"),
        rssi=data.get("rssi"), noise_floor=data.get("noise_floor"))
    s.validate()
    return s


def load_dir(directory: str | Path) -> list[RecordedSession]:
    """Every ``*.npz`` session in ``directory`` (sorted by name)."""
    d = Path(directory)
    if not d.is_dir():
        raise RecordingError(f"{d}: not a directory")
    return [load_session(p) for p in sorted(d.glob("*.npz"))]


def session_from_synth(sess: Any, raw: bool = False, node: int = 0) -> RecordedSession:
    """A :class:`ruv_temporal.synth.Session` as a :class:`RecordedSession`
    (features computed by the NumPy mirror of the C front-end)."""
    from ruv_temporal.synth import ACTIVITIES

    n = len(sess)
    meta = {
        "source": "synth", "room": int(sess.room_seed), "activity": sess.activity,
        "rate_hz": float(sess.rate_hz), "freq_mhz": int(sess.freq_mhz),
        "events": {k: int(v) for k, v in sess.events.items()}, "kind": "raw_csi",
        "created_utc": _now_iso(), "n_subcarriers": int(sess.iq.shape[1]),
    }
    return RecordedSession(
        features=sess.features(), timestamps_us=np.asarray(sess.timestamps_us, np.int64),
        labels=np.asarray(sess.labels, np.int64), label_names=list(ACTIVITIES),
        label=sess.activity, node=node, meta=meta, seq=np.asarray(sess.seq, np.uint32),
        iq=sess.iq if raw else None,
        n_subcarriers=np.full(n, sess.iq.shape[1], np.uint16) if raw else None,
        rssi=np.asarray(sess.rssi, np.int8), noise_floor=np.asarray(sess.noise_floor, np.int8))


class RateLimiter:
    """The firmware's feature-rate limiter (csi_source.c): a frame at time
    ``t`` becomes a feature frame when ``t >= next``, which then moves to
    ``t + 1_000_000 // rate_hz`` (integer microseconds). ``rate_hz`` None or
    0 keeps every frame."""

    def __init__(self, rate_hz: int | None = DEFAULT_FEATURE_RATE_HZ) -> None:
        if rate_hz is not None and (int(rate_hz) != rate_hz or not 0 <= rate_hz <= 1_000_000):
            raise RecordingError(f"feature rate must be a whole number of frames/s, got {rate_hz}")
        self.rate_hz = int(rate_hz) if rate_hz else None
        self.period_us = 1_000_000 // self.rate_hz if self.rate_hz else 0
        self.next_us: int | None = None
        self.skipped = 0

    def accept(self, t_us: int) -> bool:
        if self.rate_hz is None:
            return True
        if self.next_us is not None and t_us < self.next_us:
            self.skipped += 1
            return False
        self.next_us = int(t_us) + self.period_us
        return True


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# live recording


@dataclass
class _Stream:
    """Frames of one (node, packet kind)."""

    kind: str
    limiter: RateLimiter
    stats: features.CsiStats = field(default_factory=features.CsiStats)
    feats: list[npt.NDArray[np.float32]] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    iq: list[npt.NDArray[np.int8]] = field(default_factory=list)
    rssi: list[int] = field(default_factory=list)
    noise: list[int] = field(default_factory=list)
    freq_mhz: int = 0
    lost: int = 0
    seq_resets: int = 0
    last_seq: int | None = None
    rejected: int = 0  # raw CSI buffers of an unknown layout
    buffer_bytes: dict[int, int] = field(default_factory=dict)  # payload length -> frames


@dataclass
class RecorderStats:
    packets: int = 0     # packets decoded (any kind)
    frames: int = 0      # frames added to sessions
    bad: int = 0         # corrupt / short / garbage / foreign reports
    ignored: int = 0     # other packet kinds, other nodes
    lost: int = 0        # sequence gaps (within SEQ_PLAUSIBLE_GAP)
    seq_resets: int = 0  # sequence jumps beyond it (node reset, forgery)
    rate_skipped: int = 0  # raw frames over the feature rate (the firmware skips them too)
    rejected: int = 0    # raw CSI of an unknown buffer layout


class Recorder:
    """Turns a packet stream into labelled sessions, one per node.

    ``kind``: ``"raw"`` (0xC5110001 -> csi-stats v1 features), ``"state"``
    (0xC5110006 -> its 9 features) or ``"auto"`` (the first of the two kinds
    seen per node wins; the other is counted as ignored). ``node`` keeps one
    node only. ``raw`` keeps the L-LTF I/Q the features were computed from.

    Raw CSI becomes feature frames as on the node: at most ``rate_hz`` per
    second (:class:`RateLimiter`, the firmware's limiter on the receive
    time; None or 0 keeps every frame), the payload mapped from the driver's
    layout with ``secondary`` as the channel's secondary channel
    (:func:`ruv_temporal.features.lltf_from_esp`)."""

    def __init__(self, label: str, *, raw: bool = False, node: int | None = None,
                 kind: str = "auto", label_names: Sequence[str] | None = None,
                 source: str = "", rate_hz: int | None = DEFAULT_FEATURE_RATE_HZ,
                 secondary: int | str = features.SECOND_NONE) -> None:
        if not label or not re.fullmatch(r"[A-Za-z0-9_.\-]+", label):
            raise RecordingError(f"label must be a non-empty name of [A-Za-z0-9_.-], got {label!r}")
        if kind not in ("auto", "raw", "state"):
            raise RecordingError(f"kind must be auto, raw or state, got {kind!r}")
        self.label = label
        self.label_names = list(label_names) if label_names else default_label_names(label)
        if label not in self.label_names:
            raise RecordingError(f"label {label!r} is not in label_names")
        self.raw, self.node, self.kind, self.source = raw, node, kind, source
        RateLimiter(rate_hz)  # validates
        self.rate_hz = int(rate_hz) if rate_hz else None
        try:
            self.secondary = features.secondary_channel(secondary)
        except features.FeatureError as exc:
            raise RecordingError(str(exc)) from exc
        self.stats = RecorderStats()
        self.started_utc = _now_iso()
        self._streams: dict[int, _Stream] = {}
        self._decoder = _packet_stream_decoder()

    @property
    def nodes(self) -> list[int]:
        return sorted(self._streams)

    def frames(self, node: int | None = None) -> int:
        if node is None:
            return sum(len(s.ts) for s in self._streams.values())
        return len(self._streams[node].ts) if node in self._streams else 0

    def feed(self, data: bytes, rx_time_us: int | None = None) -> int:
        """Feed a datagram or a chunk of a byte stream; returns frames added."""
        rx = time.time_ns() // 1000 if rx_time_us is None else int(rx_time_us)
        added = 0
        for item in self._decoder(data):
            if isinstance(item, _Bad):
                self.stats.bad += 1
                continue
            self.stats.packets += 1
            added += self._add(item, rx)
        self.stats.frames += added
        return added

    def add_raw_csi(self, node: int, seq: int, payload: bytes, rssi: int, noise_floor: int,
                    rx_time_us: int, freq_mhz: int = 0) -> int:
        """One raw CSI frame given by its fields (importers): ``payload`` is the
        driver's CSI buffer. Returns frames added (0 or 1)."""
        self.stats.packets += 1
        added = self._add(_Packet("raw", int(node), int(seq), iq=bytes(payload), rssi=int(rssi),
                                  noise_floor=int(noise_floor), freq_mhz=int(freq_mhz)),
                          int(rx_time_us))
        self.stats.frames += added
        return added

    def _add(self, pkt: _Packet, rx_us: int) -> int:
        if pkt.kind not in ("raw", "state") or (self.node is not None and pkt.node != self.node):
            self.stats.ignored += 1
            return 0
        want = {"raw": "raw", "state": "state"}.get(self.kind)
        st = self._streams.get(pkt.node)
        if (want is not None and pkt.kind != want) or (st is not None and st.kind != pkt.kind):
            self.stats.ignored += 1
            return 0
        if st is None:
            st = self._streams[pkt.node] = _Stream(kind=pkt.kind,
                                                   limiter=RateLimiter(self.rate_hz))
        self._count_seq(st, pkt)
        if pkt.kind == "raw":
            if not st.limiter.accept(rx_us):
                self.stats.rate_skipped += 1
                return 0
            buf = bytes(pkt.iq)
            try:
                iq = features.lltf_from_esp(buf, self.secondary)
            except features.CsiLayoutError:
                st.rejected += 1
                self.stats.rejected += 1
                return 0
            f = st.stats.compute(iq, pkt.rssi, pkt.noise_floor)
            st.buffer_bytes[len(buf)] = st.buffer_bytes.get(len(buf), 0) + 1
            st.freq_mhz = pkt.freq_mhz
            if self.raw:
                st.iq.append(iq)
            st.rssi.append(pkt.rssi)
            st.noise.append(pkt.noise_floor)
            ts = rx_us
        else:
            f = np.asarray(pkt.values, np.float32)
            ts = pkt.ts_us
        st.feats.append(f)
        st.ts.append(int(ts))
        st.seq.append(int(pkt.seq))
        return 1

    def _count_seq(self, st: _Stream, pkt: _Packet) -> None:
        """Lost packets from sequence gaps (every packet of the node counts, also
        those the rate limiter skips); a jump beyond SEQ_PLAUSIBLE_GAP (either
        way) is a reset or a forgery, reported in ``seq_resets``, not lost."""
        if st.last_seq is not None:
            gap = (pkt.seq - st.last_seq) % (1 << (32 if pkt.kind == "raw" else 16))
            if 1 < gap <= SEQ_PLAUSIBLE_GAP + 1:
                st.lost += gap - 1
                self.stats.lost += gap - 1
            elif gap > SEQ_PLAUSIBLE_GAP + 1:
                st.seq_resets += 1
                self.stats.seq_resets += 1
        st.last_seq = int(pkt.seq)

    def sessions(self) -> list[RecordedSession]:
        out = []
        lab = self.label_names.index(self.label)
        for node, st in sorted(self._streams.items()):
            n = len(st.ts)
            if n == 0:
                continue
            ts = np.asarray(st.ts, np.int64)
            dur = (ts[-1] - ts[0]) / 1e6 if n > 1 else 0.0
            is_raw = st.kind == "raw"
            meta: dict[str, Any] = {
                "source": self.source, "kind": "raw_csi" if is_raw else "feature_state",
                "feature_set": features.FEATURE_SET_STATS_V1 if is_raw else FEATURE_SET_STATE_V1,
                "feature_names": list(features.FEATURE_NAMES if is_raw else STATE_FEATURE_NAMES),
                "created_utc": self.started_utc, "room": None,
                "rate_hz": round((n - 1) / dur, 3) if dur > 0 else None,
                "lost_packets": st.lost, "seq_resets": st.seq_resets,
                "timestamps": "host receive time (us since epoch)" if is_raw
                              else "node ts_us from the packet",
            }
            iq = nsc = None
            if is_raw:
                meta["freq_mhz"] = st.freq_mhz
                meta.update(raw_csi_meta(self.rate_hz, self.secondary, st.buffer_bytes,
                                         st.rejected, st.limiter.skipped))
                if self.raw and st.iq:
                    iq = np.stack(st.iq).astype(np.int8)
                    nsc = np.full(n, features.LLTF_SUBCARRIERS, np.uint16)
            out.append(RecordedSession(
                features=np.stack(st.feats).astype(np.float32), timestamps_us=ts,
                labels=np.full(n, lab, np.int64), label_names=list(self.label_names),
                label=self.label, node=node, meta=meta, seq=np.asarray(st.seq, np.uint32),
                iq=iq, n_subcarriers=nsc,
                rssi=np.asarray(st.rssi, np.int8) if is_raw else None,
                noise_floor=np.asarray(st.noise, np.int8) if is_raw else None))
        return out

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write one file per node: ``<label>_node<N>_<UTC time>.npz``."""
        stamp = self.started_utc.replace("-", "").replace(":", "")
        return [save_session(Path(out_dir) / f"{s.label}_node{s.node}_{stamp}.npz", s)
                for s in self.sessions()]


def raw_csi_meta(rate_hz: int | None, secondary: int, buffer_bytes: dict[int, int],
                 rejected: int, rate_skipped: int) -> dict[str, Any]:
    """Session metadata of features made from raw CSI: the feature rate limit
    and the buffer layouts seen (docs/recording.md)."""
    sec_name = {v: k for k, v in features.SECONDARY_CHANNELS.items()}[secondary]
    return {
        "feature_rate_limit_hz": rate_hz,
        "rate_skipped": int(rate_skipped),
        "csi_layout": {
            "payload": "ESP-IDF wifi_csi_info_t.buf ((imag, real) int8 per entry, driver order)",
            "secondary_channel": sec_name,
            "features_from": f"L-LTF, {features.LLTF_SUBCARRIERS} subcarriers, ascending",
            "buffer_bytes": {str(k): int(v) for k, v in sorted(buffer_bytes.items())},
            "layouts": sorted({str(features.esp_layout(k, secondary)) for k in buffer_bytes}),
            "rejected_unknown_layout": int(rejected),
        },
    }


def record_udp(recorder: Recorder, port: int, *, host: str = "0.0.0.0",
               duration: float | None = None, max_frames: int | None = None,
               on_tick: Callable[[Recorder, float], None] | None = None,
               sock: socket.socket | None = None) -> Recorder:
    """Receive datagrams on ``host:port`` until ``duration`` seconds passed or
    ``max_frames`` frames were recorded (or Ctrl-C). ``on_tick(recorder,
    elapsed)`` is called about five times a second."""
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise RecordingError(f"cannot bind UDP {host}:{port}: {exc}") from exc
    sock.settimeout(0.2)
    try:
        _loop(recorder, lambda: _recv(sock), duration, max_frames, on_tick)
    finally:
        if own:
            sock.close()
    return recorder


def _recv(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(65535)
    except TimeoutError:
        return None


def record_serial(recorder: Recorder, port: str, *, baud: int = 115200,
                  duration: float | None = None, max_frames: int | None = None,
                  on_tick: Callable[[Recorder, float], None] | None = None) -> Recorder:
    """Read the binary packet stream of a node's serial port (resynchronising
    on the packet magics, log text in between is skipped as garbage).
    ``port`` is a device or any pyserial URL (``socket://host:port``, ...)."""
    import serial  # pyserial

    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=0.2)
    except (serial.SerialException, OSError) as exc:
        raise RecordingError(f"cannot open serial port {port}: {exc}") from exc
    def read() -> bytes | None:
        try:
            return ser.read(4096) or None
        except serial.SerialException as exc:  # unplugged / peer closed: end of stream
            raise EOFError(str(exc)) from exc

    try:
        _loop(recorder, read, duration, max_frames, on_tick)
    finally:
        ser.close()
    return recorder


def record_iter(recorder: Recorder, chunks: Iterable[bytes]) -> Recorder:
    """Feed an iterable of datagrams/chunks (files, tests)."""
    for c in chunks:
        recorder.feed(c)
    return recorder


def _loop(recorder: Recorder, read: Callable[[], bytes | None], duration: float | None,
          max_frames: int | None, on_tick: Callable[[Recorder, float], None] | None) -> None:
    t0 = time.monotonic()
    last_tick = -1.0
    try:
        while True:
            elapsed = time.monotonic() - t0
            if duration is not None and elapsed >= duration:
                break
            if max_frames is not None and recorder.frames() >= max_frames:
                break
            data = read()
            if data:
                recorder.feed(data)
            if on_tick is not None and elapsed - last_tick >= 0.2:
                on_tick(recorder, elapsed)
                last_tick = elapsed
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, or the source closed: keep what we have
        pass
    if on_tick is not None:
        on_tick(recorder, time.monotonic() - t0)


# ---------------------------------------------------------------------------
# packet decoding (ruv_temporal.packets)


@dataclass
class _Packet:
    kind: str  # "raw" | "state" | other
    node: int
    seq: int
    iq: Any = None
    rssi: int = 0
    noise_floor: int = 0
    freq_mhz: int = 0
    ts_us: int = 0
    values: Any = None


@dataclass
class _Bad:
    reason: str


def _packet_stream_decoder() -> Callable[[bytes], list[_Packet | _Bad]]:
    """A function bytes -> packets of interest, backed by ruv_temporal.packets."""
    from ruv_temporal import packets

    dec = packets.StreamDecoder()

    def feed(data: bytes) -> list[_Packet | _Bad]:
        out: list[_Packet | _Bad] = []
        for item in dec.feed(data):
            if isinstance(item, packets.DecodeIssue):
                out.append(_Bad(str(item)))
            elif isinstance(item, packets.RawCsi):
                # the payload: the driver's CSI buffer, mapped by the front-end
                out.append(_Packet("raw", item.node_id, item.seq,
                                   iq=np.asarray(item.iq, np.int8).tobytes(),
                                   rssi=item.rssi, noise_floor=item.noise_floor,
                                   freq_mhz=item.freq_mhz))
            elif isinstance(item, packets.FeatureState):
                vals = [getattr(item, name) for name in STATE_FEATURE_NAMES]
                out.append(_Packet("state", item.node_id, item.seq, ts_us=item.ts_us,
                                   values=vals))
            else:
                out.append(_Packet("other", getattr(item, "node_id", -1), 0))
        return out

    return feed
