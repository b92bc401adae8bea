"""Telemetry packet codecs (docs/spec.md §6) and a resynchronising stream decoder.

Three little-endian packets, each a ``construct`` struct:

- ``0xC5110007`` :class:`TemporalResult` — 40 bytes, CRC-32 over bytes 0..35.
- ``0xC5110001`` :class:`RawCsi` — 20-byte header, then ``2·n_antennas·n_subcarriers``
  int8: antenna-major, subcarrier by subcarrier, ``I`` then ``Q`` (no CRC).
- ``0xC5110006`` :class:`FeatureState` — 60 bytes, CRC-32 over bytes 0..55.

:class:`StreamDecoder` takes arbitrary byte chunks (serial) or whole datagrams
(UDP), finds packets by their magic, and reports — never raises on — garbage,
truncated, corrupt and unknown packets (docs/telemetry.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from construct import (
    Bytes,
    Checksum,
    ChecksumError,
    ConstructError,
    Float32l,
    Int8sl,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Padding,
    RawCopy,
    Struct,
    this,
)

from ruv_temporal.errors import PacketError

DEFAULT_UDP_PORT = 5005

MAGIC_RAW_CSI = 0xC5110001
MAGIC_FEATURE_STATE = 0xC5110006
MAGIC_TEMPORAL_RESULT = 0xC5110007
MAGICS = (MAGIC_RAW_CSI, MAGIC_FEATURE_STATE, MAGIC_TEMPORAL_RESULT)
MAGIC_FAMILY = 0xC5110000  # high bytes shared by every packet of the node

TEMPORAL_RESULT_LEN = 40
TEMPORAL_RESULT_VERSION = 1
FEATURE_STATE_LEN = 60
RAW_CSI_HEADER_LEN = 20
# A raw CSI header outside these bounds is treated as not-a-packet ("unknown").
RAW_CSI_MAX_ANTENNAS = 8
RAW_CSI_MAX_SUBCARRIERS = 1024

FEATURE_STATE_NAMES: tuple[str, ...] = (
    "motion", "presence", "resp_bpm", "resp_conf", "hb_bpm", "hb_conf", "anomaly",
    "env_shift", "coherence",
)


class PacketCrcError(PacketError):
    """A packet's CRC-32 does not match its bytes."""


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


TemporalResultBody = Struct(
    "magic" / Int32ul,
    "version" / Int16ul,
    "n_classes" / Int16ul,
    "node_id" / Int8ul,
    Padding(3),
    "ts_us" / Int64ul,
    "seq" / Int32ul,
    "argmax" / Int8ul,
    Padding(3),
    "top_logit" / Float32l,
    "top1_minus_top2" / Float32l,
)
TemporalResultStruct = Struct(
    "body" / RawCopy(TemporalResultBody),
    "crc32" / Checksum(Int32ul, _crc, this.body.data),
)

FeatureStateBody = Struct(
    "magic" / Int32ul,
    "node_id" / Int8ul,
    "mode" / Int8ul,
    "seq" / Int16ul,
    "ts_us" / Int64ul,
    *[name / Float32l for name in FEATURE_STATE_NAMES],
    "quality_flags" / Int16ul,
    "reserved" / Int16ul,
)
FeatureStateStruct = Struct(
    "body" / RawCopy(FeatureStateBody),
    "crc32" / Checksum(Int32ul, _crc, this.body.data),
)

RawCsiHeader = Struct(
    "magic" / Int32ul,
    "node_id" / Int8ul,
    "n_antennas" / Int8ul,
    "n_subcarriers" / Int16ul,
    "freq_mhz" / Int32ul,
    "seq" / Int32ul,
    "rssi" / Int8sl,
    "noise_floor" / Int8sl,
    "reserved" / Int16ul,
)
RawCsiStruct = Struct(
    "header" / RawCsiHeader,
    "iq" / Bytes(2 * this.header.n_antennas * this.header.n_subcarriers),
)

assert TemporalResultStruct.sizeof() == TEMPORAL_RESULT_LEN
assert FeatureStateStruct.sizeof() == FEATURE_STATE_LEN
assert RawCsiHeader.sizeof() == RAW_CSI_HEADER_LEN


# --------------------------------------------------------------------------
# packet classes


@dataclass(frozen=True)
class TemporalResult:
    """``0xC5110007``: one classification of the temporal head."""

    node_id: int
    seq: int
    ts_us: int
    n_classes: int
    argmax: int
    top_logit: float
    top1_minus_top2: float
    version: int = TEMPORAL_RESULT_VERSION

    MAGIC = MAGIC_TEMPORAL_RESULT

    @property
    def margin(self) -> float:
        return self.top1_minus_top2


@dataclass(frozen=True)
class FeatureState:
    """``0xC5110006``: the node's own 9-value feature state."""

    node_id: int
    mode: int
    seq: int
    ts_us: int
    motion: float
    presence: float
    resp_bpm: float
    resp_conf: float
    hb_bpm: float
    hb_conf: float
    anomaly: float
    env_shift: float
    coherence: float
    quality_flags: int = 0
    reserved: int = 0

    MAGIC = MAGIC_FEATURE_STATE

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(getattr(self, n) for n in FEATURE_STATE_NAMES)


@dataclass(frozen=True, eq=False)
class RawCsi:
    """``0xC5110001``: one CSI frame. ``iq`` is int8 ``[n_antennas][n_subcarriers][2]``
    (I, Q), exactly the packet's payload order."""

    node_id: int
    n_antennas: int
    n_subcarriers: int
    freq_mhz: int
    seq: int
    rssi: int
    noise_floor: int
    iq: npt.NDArray[np.int8]
    reserved: int = 0

    MAGIC = MAGIC_RAW_CSI

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawCsi):
            return NotImplemented
        return (
            (self.node_id, self.n_antennas, self.n_subcarriers, self.freq_mhz, self.seq,
             self.rssi, self.noise_floor, self.reserved)
            == (other.node_id, other.n_antennas, other.n_subcarriers, other.freq_mhz,
                other.seq, other.rssi, other.noise_floor, other.reserved)
            and np.array_equal(np.asarray(self.iq), np.asarray(other.iq))
        )

    __hash__ = None  # type: ignore[assignment]


Packet = Union[TemporalResult, FeatureState, RawCsi]  # noqa: UP007


# --------------------------------------------------------------------------
# encode / decode of single packets


def _f32(v: float) -> float:
    return float(np.float32(v))


def encode_temporal_result(node_id: int, seq: int, ts_us: int, n_classes: int, argmax: int,
                           top_logit: float, top1_minus_top2: float,
                           version: int = TEMPORAL_RESULT_VERSION) -> bytes:
    """The 40-byte ``0xC5110007`` packet."""
    try:
        return TemporalResultStruct.build(dict(body=dict(value=dict(
            magic=MAGIC_TEMPORAL_RESULT, version=version, n_classes=n_classes, node_id=node_id,
            ts_us=ts_us, seq=seq, argmax=argmax, top_logit=top_logit,
            top1_minus_top2=top1_minus_top2))))
    except (ConstructError, ValueError, TypeError, OverflowError) as e:
        raise PacketError(f"cannot encode temporal result: {e}") from None


def encode_temporal_result_from_logits(logits: Iterable[float], node_id: int, seq: int,
                                       ts_us: int) -> bytes:
    """Encode like the firmware: argmax (first maximum), top logit and top-1 minus the
    best other logit (float32), 0 margin with a single class."""
    lg = np.asarray(list(logits), np.float32)
    if lg.ndim != 1 or lg.size == 0:
        raise PacketError("logits must be a non-empty vector")
    am = int(np.argmax(lg))
    top = lg[am]
    others = np.delete(lg, am)
    margin = np.float32(top - others.max()) if others.size else np.float32(0.0)
    return encode_temporal_result(node_id, seq, ts_us, lg.size, am, float(top), float(margin))


def _check_magic(data: bytes, magic: int, name: str, need: int) -> None:
    if len(data) < need:
        raise PacketError(f"{name}: {len(data)} bytes, {need} needed")
    got = int.from_bytes(data[:4], "little")
    if got != magic:
        raise PacketError(f"{name}: magic 0x{got:08X}, expected 0x{magic:08X}")


def decode_temporal_result(data: bytes) -> TemporalResult:
    """Decode one 40-byte packet (extra bytes after it are ignored). Raises PacketError."""
    data = bytes(data)
    _check_magic(data, MAGIC_TEMPORAL_RESULT, "temporal result", TEMPORAL_RESULT_LEN)
    try:
        p = TemporalResultStruct.parse(data[:TEMPORAL_RESULT_LEN])
    except ChecksumError:
        raise PacketCrcError("temporal result: CRC mismatch") from None
    v = p.body.value
    if v.version != TEMPORAL_RESULT_VERSION:
        raise PacketError(f"temporal result: unsupported version {v.version}")
    return TemporalResult(node_id=v.node_id, seq=v.seq, ts_us=v.ts_us, n_classes=v.n_classes,
                          argmax=v.argmax, top_logit=v.top_logit,
                          top1_minus_top2=v.top1_minus_top2, version=v.version)


def encode_feature_state(node_id: int, seq: int, ts_us: int, mode: int = 0,
                         quality_flags: int = 0, reserved: int = 0,
                         **values: float) -> bytes:
    """The 60-byte ``0xC5110006`` packet; the 9 values by name (missing ones are 0)."""
    unknown = set(values) - set(FEATURE_STATE_NAMES)
    if unknown:
        raise PacketError(f"unknown feature-state values: {sorted(unknown)}")
    body = dict(magic=MAGIC_FEATURE_STATE, node_id=node_id, mode=mode, seq=seq, ts_us=ts_us,
                quality_flags=quality_flags, reserved=reserved)
    body.update({n: float(values.get(n, 0.0)) for n in FEATURE_STATE_NAMES})
    try:
        return FeatureStateStruct.build(dict(body=dict(value=body)))
    except (ConstructError, ValueError, TypeError, OverflowError) as e:
        raise PacketError(f"cannot encode feature state: {e}") from None


def decode_feature_state(data: bytes) -> FeatureState:
    data = bytes(data)
    _check_magic(data, MAGIC_FEATURE_STATE, "feature state", FEATURE_STATE_LEN)
    try:
        p = FeatureStateStruct.parse(data[:FEATURE_STATE_LEN])
    except ChecksumError:
        raise PacketCrcError("feature state: CRC mismatch") from None
    v = p.body.value
    return FeatureState(node_id=v.node_id, mode=v.mode, seq=v.seq, ts_us=v.ts_us,
                        quality_flags=v.quality_flags, reserved=v.reserved,
                        **{n: v[n] for n in FEATURE_STATE_NAMES})


def encode_raw_csi(node_id: int, seq: int, iq: Any, rssi: int = 0, noise_floor: int = 0,
                   freq_mhz: int = 2412, n_antennas: int = 1, n_subcarriers: int | None = None,
                   reserved: int = 0) -> bytes:
    """A ``0xC5110001`` packet. ``iq`` is int8 of any shape with
    ``2·n_antennas·n_subcarriers`` elements in payload order (antenna, subcarrier,
    I/Q); ``n_subcarriers`` defaults to ``iq.size // (2·n_antennas)``."""
    arr = np.asarray(iq)
    if arr.dtype != np.int8:
        if arr.size and (arr.min() < -128 or arr.max() > 127):
            raise PacketError("raw CSI I/Q values must fit in int8")
        arr = arr.astype(np.int8)
    if n_antennas < 1:
        raise PacketError("n_antennas must be >= 1")
    if n_subcarriers is None:
        n_subcarriers = arr.size // (2 * n_antennas)
    if arr.size != 2 * n_antennas * n_subcarriers or n_subcarriers < 1:
        raise PacketError(f"raw CSI: {arr.size} I/Q values for {n_antennas} antennas x "
                          f"{n_subcarriers} subcarriers")
    try:
        return RawCsiStruct.build(dict(
            header=dict(magic=MAGIC_RAW_CSI, node_id=node_id, n_antennas=n_antennas,
                        n_subcarriers=n_subcarriers, freq_mhz=freq_mhz, seq=seq, rssi=rssi,
                        noise_floor=noise_floor, reserved=reserved),
            iq=np.ascontiguousarray(arr).tobytes()))
    except (ConstructError, ValueError, TypeError, OverflowError) as e:
        raise PacketError(f"cannot encode raw CSI: {e}") from None


def _raw_total(n_antennas: int, n_subcarriers: int) -> int:
    return RAW_CSI_HEADER_LEN + 2 * n_antennas * n_subcarriers


def _raw_plausible(n_antennas: int, n_subcarriers: int) -> bool:
    return (1 <= n_antennas <= RAW_CSI_MAX_ANTENNAS
            and 1 <= n_subcarriers <= RAW_CSI_MAX_SUBCARRIERS)


def decode_raw_csi(data: bytes) -> RawCsi:
    data = bytes(data)
    _check_magic(data, MAGIC_RAW_CSI, "raw CSI", RAW_CSI_HEADER_LEN)
    h = RawCsiHeader.parse(data[:RAW_CSI_HEADER_LEN])
    if not _raw_plausible(h.n_antennas, h.n_subcarriers):
        raise PacketError(f"raw CSI: implausible header ({h.n_antennas} antennas, "
                          f"{h.n_subcarriers} subcarriers)")
    total = _raw_total(h.n_antennas, h.n_subcarriers)
    if len(data) < total:
        raise PacketError(f"raw CSI: {len(data)} bytes, {total} needed")
    iq = np.frombuffer(data[RAW_CSI_HEADER_LEN:total], np.int8).reshape(
        h.n_antennas, h.n_subcarriers, 2).copy()
    return RawCsi(node_id=h.node_id, n_antennas=h.n_antennas, n_subcarriers=h.n_subcarriers,
                  freq_mhz=h.freq_mhz, seq=h.seq, rssi=h.rssi, noise_floor=h.noise_floor,
                  iq=iq, reserved=h.reserved)


def encode(pkt: Packet) -> bytes:
    """Encode any packet object."""
    if isinstance(pkt, TemporalResult):
        return encode_temporal_result(pkt.node_id, pkt.seq, pkt.ts_us, pkt.n_classes,
                                      pkt.argmax, pkt.top_logit, pkt.top1_minus_top2,
                                      pkt.version)
    if isinstance(pkt, FeatureState):
        return encode_feature_state(pkt.node_id, pkt.seq, pkt.ts_us, pkt.mode,
                                    pkt.quality_flags, pkt.reserved,
                                    **dict(zip(FEATURE_STATE_NAMES, pkt.values, strict=True)))
    if isinstance(pkt, RawCsi):
        return encode_raw_csi(pkt.node_id, pkt.seq, pkt.iq, pkt.rssi, pkt.noise_floor,
                              pkt.freq_mhz, pkt.n_antennas, pkt.n_subcarriers, pkt.reserved)
    raise PacketError(f"not a packet: {type(pkt).__name__}")


def decode(data: bytes) -> Packet:
    """Decode one packet at the start of ``data`` by its magic. Raises PacketError."""
    data = bytes(data)
    if len(data) < 4:
        raise PacketError(f"{len(data)} bytes: too short for a packet")
    magic = int.from_bytes(data[:4], "little")
    if magic == MAGIC_TEMPORAL_RESULT:
        return decode_temporal_result(data)
    if magic == MAGIC_FEATURE_STATE:
        return decode_feature_state(data)
    if magic == MAGIC_RAW_CSI:
        return decode_raw_csi(data)
    raise PacketError(f"unknown magic 0x{magic:08X}")


# --------------------------------------------------------------------------
# stream decoder


@dataclass(frozen=True)
class DecodeIssue:
    """A problem the stream decoder skipped over. ``kind`` is one of
    ``garbage`` (bytes outside any packet), ``bad_crc``, ``truncated``, ``unknown``
    (a 0xC511xxxx magic of an unknown type, an unsupported version, or an
    implausible raw CSI header). ``offset`` counts bytes since the decoder was made."""

    kind: str
    offset: int
    nbytes: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail} ({self.nbytes} bytes at offset {self.offset})"


Item = Union[TemporalResult, FeatureState, RawCsi, DecodeIssue]  # noqa: UP007

_NEED_MORE = object()
_SYNC = b"\x00\x11\xc5"  # bytes 1..3 of every 0xC51100xx magic
_KNOWN_FIRST = {m & 0xFF for m in MAGICS}


@dataclass
class StreamDecoder:
    """Incremental decoder for serial byte streams and UDP datagrams.

    ``feed(chunk)`` (stream: a packet may be split over chunks) and
    ``feed_datagram(d)`` (each datagram stands alone) return the decoded
    packets and :class:`DecodeIssue` items in stream order; ``flush()`` ends a
    stream (a partial packet left in the buffer becomes ``truncated``).
    Nothing here raises on bad input. ``counts`` has ``packets``,
    ``bad_crc``, ``truncated``, ``unknown`` and ``garbage_bytes``;
    ``by_type`` counts decoded packets per class name."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("packets", "bad_crc", "truncated", "unknown", "garbage_bytes"), 0))
    by_type: dict[str, int] = field(default_factory=dict)
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _base: int = 0  # stream offset of _buf[0]

    @property
    def pending(self) -> int:
        """Bytes buffered, waiting for the rest of a packet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Item]:
        self._buf += bytes(data)
        return self._run(final=False)

    def feed_datagram(self, data: bytes | bytearray | memoryview) -> list[Item]:
        """Decode one datagram; anything still buffered from ``feed`` is flushed first."""
        out = self.flush()
        self._buf += bytes(data)
        out += self._run(final=True)
        return out

    def flush(self) -> list[Item]:
        return self._run(final=True) if self._buf else []

    def iter_decode(self, chunks: Iterable[bytes]) -> Iterator[Item]:
        """Stream-decode an iterable of chunks, flushing at the end."""
        for c in chunks:
            yield from self.feed(c)
        yield from self.flush()

    # ---- internals

    def _issue(self, out: list[Item], kind: str, pos: int, n: int, detail: str) -> None:
        if kind == "garbage":
            self.counts["garbage_bytes"] += n
        else:
            self.counts[kind] += 1
        out.append(DecodeIssue(kind, self._base + pos, n, detail))

    def _find_magic(self, start: int) -> int:
        """Index of the next 0xC51100xx magic at or after ``start``, or -1."""
        buf = self._buf
        i = buf.find(_SYNC, start + 1)
        return -1 if i < 0 else i - 1

    def _find_known(self, start: int, end: int) -> int:
        """Index of a known packet magic in ``buf[start:end]`` (4 bytes within), or -1."""
        buf = self._buf
        i = start
        while True:
            j = buf.find(_SYNC, i + 1, end)
            if j < 0 or j + 3 > end:
                return -1
            if buf[j - 1] in _KNOWN_FIRST:
                return j - 1
            i = j

    def _verifies_at(self, j: int) -> bool | None:
        """Whether a CRC-checked packet (or a raw CSI header that looks sane) starts
        at ``buf[j]``; None when the buffer does not hold enough of it yet."""
        buf = self._buf
        magic = int.from_bytes(buf[j:j + 4], "little")
        if magic == MAGIC_RAW_CSI:
            if len(buf) - j < RAW_CSI_HEADER_LEN:
                return None
            h = RawCsiHeader.parse(bytes(buf[j:j + RAW_CSI_HEADER_LEN]))
            return _raw_plausible(h.n_antennas, h.n_subcarriers)
        total = {MAGIC_TEMPORAL_RESULT: TEMPORAL_RESULT_LEN,
                 MAGIC_FEATURE_STATE: FEATURE_STATE_LEN}.get(magic)
        if total is None:
            return False
        if len(buf) - j < total:
            return None
        try:
            decode(bytes(buf[j:j + total]))
        except PacketError:
            return False
        return True

    def _partial_magic_before(self, lo: int, end: int) -> bool:
        """Whether a packet magic may start in ``buf[max(lo, end-3):end]`` and run past
        the end of the buffer (its first bytes are there, the rest is not yet)."""
        n = len(self._buf)
        for start in range(max(lo, end - 3), end):
            frag = bytes(self._buf[start:n])
            if len(frag) < 4 and any(m.to_bytes(4, "little").startswith(frag) for m in MAGICS):
                return True
        return False

    def _run(self, final: bool) -> list[Item]:
        out: list[Item] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while pos < n:
            m = self._find_magic(pos)
            if m < 0:
                keep = 0 if final else min(3, n - pos)  # a magic may straddle chunks
                if n - keep > pos:
                    self._issue(out, "garbage", pos, n - keep - pos, "no packet magic")
                pos = n - keep
                break
            if m > pos:
                self._issue(out, "garbage", pos, m - pos, "bytes before a packet magic")
                pos = m
            r = self._decode_at(pos, final, out)
            if r is _NEED_MORE:
                break
            assert isinstance(r, int)
            pos += r
        del buf[:pos]
        self._base += pos
        return out

    def _decode_at(self, pos: int, final: bool, out: list[Item]) -> object:
        """Decode at a magic; returns bytes consumed or _NEED_MORE."""
        buf = self._buf
        avail = len(buf) - pos
        if avail < 4:
            if not final:
                return _NEED_MORE
            self._issue(out, "truncated", pos, avail, "partial magic at end of data")
            return avail
        magic = int.from_bytes(buf[pos:pos + 4], "little")
        if magic == MAGIC_TEMPORAL_RESULT:
            total, name = TEMPORAL_RESULT_LEN, "temporal result"
        elif magic == MAGIC_FEATURE_STATE:
            total, name = FEATURE_STATE_LEN, "feature state"
        elif magic == MAGIC_RAW_CSI:
            name = "raw CSI"
            if avail < RAW_CSI_HEADER_LEN:
                total = RAW_CSI_HEADER_LEN
            else:
                h = RawCsiHeader.parse(bytes(buf[pos:pos + RAW_CSI_HEADER_LEN]))
                if not _raw_plausible(h.n_antennas, h.n_subcarriers):
                    self._issue(out, "unknown", pos, 4,
                                f"raw CSI header with {h.n_antennas} antennas, "
                                f"{h.n_subcarriers} subcarriers")
                    return 4
                total = _raw_total(h.n_antennas, h.n_subcarriers)
        else:
            self._issue(out, "unknown", pos, 4, f"unknown packet magic 0x{magic:08X}")
            return 4
        # Another packet's magic starting inside this one's extent marks a cut-off
        # packet (for raw CSI, which has no CRC, it is the only sign).
        inner = self._find_known(pos + 4, pos + min(total + 3, avail))
        if magic == MAGIC_RAW_CSI and inner > pos + total - 4:
            # Raw CSI has no CRC: a magic straddling its end that does not begin a
            # packet which checks out is a coincidence of bytes, not a cut.
            verdict = self._verifies_at(inner)
            if verdict is None and not final:
                return _NEED_MORE
            if not verdict:
                inner = -1
        if avail < total:
            if not final:
                return _NEED_MORE
            cut = inner - pos if inner >= 0 else avail
            self._issue(out, "truncated", pos, cut, f"{name}: {cut} of {total} bytes")
            return cut
        data = bytes(buf[pos:pos + total])
        try:
            pkt: Packet | None = decode(data)
            err: PacketError | None = None
        except PacketError as e:
            pkt, err = None, e
        if pkt is None or isinstance(pkt, RawCsi):
            # Not proven intact (no CRC, or it failed): a packet magic starting inside
            # the extent means this one was cut off there. One that straddles the end
            # of the buffered data needs the next bytes to be seen.
            if (inner < 0 and not final and avail < total + 3
                    and self._partial_magic_before(pos + 4, pos + total)):
                return _NEED_MORE
            if inner >= 0:
                cut = inner - pos
                self._issue(out, "truncated", pos, cut,
                            f"{name}: cut off after {cut} bytes by the next packet")
                return cut
            if err is not None:
                kind = "bad_crc" if isinstance(err, PacketCrcError) else "unknown"
                self._issue(out, kind, pos, total, str(err))
                return total
        assert pkt is not None
        self.counts["packets"] += 1
        tname = type(pkt).__name__
        self.by_type[tname] = self.by_type.get(tname, 0) + 1
        out.append(pkt)
        return total


def decode_stream(data: bytes) -> tuple[list[Packet], StreamDecoder]:
    """Decode a whole byte capture; returns the packets and the decoder (for counts)."""
    dec = StreamDecoder()
    items = dec.feed(data) + dec.flush()
    return [i for i in items if not isinstance(i, DecodeIssue)], dec


__all__ = [
    "DEFAULT_UDP_PORT",
    "DecodeIssue",
    "FEATURE_STATE_NAMES",
    "FeatureState",
    "MAGIC_FEATURE_STATE",
    "MAGIC_RAW_CSI",
    "MAGIC_TEMPORAL_RESULT",
    "Packet",
    "PacketCrcError",
    "RawCsi",
    "StreamDecoder",
    "TemporalResult",
    "decode",
    "decode_feature_state",
    "decode_raw_csi",
    "decode_stream",
    "decode_temporal_result",
    "encode",
    "encode_feature_state",
    "encode_raw_csi",
    "encode_temporal_result",
    "encode_temporal_result_from_logits",
]
