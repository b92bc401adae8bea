"""Telemetry packet codecs (docs/spec.md §6) and a resynchronising stream decoder.

Three little-endian packets, each a ``construct`` struct:

- ``0xC5110007`` :class:`TemporalResult` — 40 bytes, CRC-32 over bytes 0..35.
- ``0xC5110001`` :class:`RawCsi` — 20-byte header, then the ESP-IDF CSI buffer as
  the WiFi driver delivers it (``wifi_csi_info_t.buf``: (imaginary, real) int8 per
  entry, driver order and LTF layout; ``2·n_antennas·n_subcarriers`` bytes, no CRC).
  :func:`ruv_temporal.features.lltf_from_esp` maps it.
- ``0xC5110006`` :class:`FeatureState` — 60 bytes, CRC-32 over bytes 0..55.

:class:`StreamDecoder` takes arbitrary byte chunks (serial) or whole datagrams
(UDP), finds packets by their magic, and reports — never raises on — garbage,
truncated, corrupt, unknown and foreign packets (docs/telemetry.md). Its cost
is O(1) amortised per byte, also on input made of packet magics
(``ruv-temporal bench decode``).
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from construct import (
    Bytes,
    Checksum,
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

from ruv_temporal import crcwin
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
FOREIGN_V7_LEN = 60
"""RuView's proposed feature-state v7 (its ADR-086) reuses 0xC5110007 with a
60-byte layout, CRC-32 over bytes 0..55: reported as ``foreign``, skipped whole."""
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

# Valid packets are parsed by the construct structs, compiled (construct
# generates a parser once; ~7x faster than interpreting the struct). The CRC
# is checked first with zlib alone, so a corrupt packet costs no parse; the
# stream decoder finds and rejects non-packets in bulk without either.
_COMPILED: dict[str, Any] = {}


def _parser(name: str) -> Any:
    if name not in _COMPILED:
        _COMPILED[name] = {"result": TemporalResultBody, "state": FeatureStateBody,
                           "raw": RawCsiHeader}[name].compile()
    return _COMPILED[name]


_U32 = struct.Struct("<I")


def _crc_ok(data: bytes | memoryview, length: int) -> bool:
    """CRC-32 over ``data[:length-4]`` equals the u32 at ``length-4``."""
    return zlib.crc32(data[:length - 4]) == _U32.unpack_from(data, length - 4)[0]


def is_foreign_v7(data: bytes | memoryview) -> bool:
    """A 60-byte 0xC5110007 packet with a valid CRC over bytes 0..55 that is not
    our 40-byte temporal result: RuView's feature-state v7 (ADR-086)."""
    return (len(data) >= FOREIGN_V7_LEN
            and _U32.unpack_from(data, 0)[0] == MAGIC_TEMPORAL_RESULT
            and _crc_ok(data, FOREIGN_V7_LEN))


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
    if not _crc_ok(data, TEMPORAL_RESULT_LEN):
        raise PacketCrcError("temporal result: CRC mismatch")
    v = _parser("result").parse(data)
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
    if not _crc_ok(data, FEATURE_STATE_LEN):
        raise PacketCrcError("feature state: CRC mismatch")
    v = _parser("state").parse(data)
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
    h = _parser("raw").parse(data)
    node_id, n_ant, n_sc, freq, seq = h.node_id, h.n_antennas, h.n_subcarriers, h.freq_mhz, h.seq
    rssi, noise, reserved = h.rssi, h.noise_floor, h.reserved
    if not _raw_plausible(n_ant, n_sc):
        raise PacketError(f"raw CSI: implausible header ({n_ant} antennas, "
                          f"{n_sc} subcarriers)")
    total = _raw_total(n_ant, n_sc)
    if len(data) < total:
        raise PacketError(f"raw CSI: {len(data)} bytes, {total} needed")
    iq = np.frombuffer(data[RAW_CSI_HEADER_LEN:total], np.int8).reshape(n_ant, n_sc, 2).copy()
    return RawCsi(node_id=node_id, n_antennas=n_ant, n_subcarriers=n_sc, freq_mhz=freq,
                  seq=seq, rssi=rssi, noise_floor=noise, iq=iq, reserved=reserved)


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
    ``garbage`` (bytes outside any packet, also a run of packet magics none of
    which starts a packet), ``bad_crc``, ``truncated``, ``unknown`` (a
    0xC511xxxx magic of an unknown type, an unsupported version, or an
    implausible raw CSI header) or ``foreign`` (a known packet of another
    protocol under one of our magics: RuView's 60-byte feature-state v7 under
    0xC5110007). ``offset`` counts bytes since the decoder was made."""

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
_FIXED_LEN = {MAGIC_TEMPORAL_RESULT & 0xFF: TEMPORAL_RESULT_LEN,
              MAGIC_FEATURE_STATE & 0xFF: FEATURE_STATE_LEN}
FLOOD_MIN_MAGICS = 4
"""A run of at least this many packet magics in a row none of which starts a
packet is reported as one ``flood`` issue; ``counts`` still counts each of
them by kind (truncated, unknown) and the bytes between them as garbage."""
FLOOD_BATCH = 1 << 16
"""In a stream (``feed``), bytes holding at least one packet magic per
FLOOD_DENSITY bytes are decided once this many are buffered (or the stream
is flushed): NumPy's cost per call would dominate on small serial reads.
Real traffic (packets of 40 bytes and more) is never that dense. The same
holds after a read whose magics (analysed in bulk) started no packet, until a
packet is decoded again: a flood of foreign or corrupt packets is as sparse
as real traffic. Packets inside or right after such a flood therefore come
out up to FLOOD_BATCH bytes late; none is lost."""
FLOOD_DENSITY = 32
_WINDOW = 1 << 16   # bytes analysed at once (NumPy) once magics come close together
_LOOKAHEAD = 128    # bytes past the window the analysis reads (a 60-byte packet + 3, ...)
_NEAR = 64          # another magic this close after one starts the analysis
_DIRECT_CRC = 48    # fewer CRC windows than one per this many bytes: zlib one by one

_NAMES = {MAGIC_TEMPORAL_RESULT: "temporal result", MAGIC_FEATURE_STATE: "feature state",
          MAGIC_RAW_CSI: "raw CSI"}
_FOREIGN_DETAIL = ("60-byte 0xC5110007 packet: RuView feature-state v7 (ADR-086), "
                   "not a temporal result")

# verdicts of the bulk analysis, per magic
_DEFER, _STEP, _CUT, _BAD_CRC, _BAD_VERSION, _FOREIGN = range(6)
_KIND = {_STEP: "unknown", _CUT: "truncated", _BAD_CRC: "bad_crc", _BAD_VERSION: "unknown",
         _FOREIGN: "foreign"}
_BIG = 1 << 62
_WALK_JUMPS = 48


def _crc_ok_many(seg: bytes, regs: list[Any], starts: Any, *lengths: int) -> list[Any]:
    """For each length: whether the packet of that many bytes at each of
    ``starts`` in ``seg`` carries the CRC-32 of its first ``length - 4`` bytes in
    its last 4."""
    if starts.size * _DIRECT_CRC < len(seg):  # few: zlib on each
        sl, crc32, out = starts.tolist(), zlib.crc32, []
        for n in lengths:
            ok = [crc32(seg[p:p + n]) == crcwin.RESIDUE for p in sl]
            out.append(np.array(ok, bool))
        return out
    if not regs:
        regs.append(crcwin.Registers(seg))
    res: list[Any] = regs[0].crc_ok(starts, *lengths)
    return res


@dataclass
class _Region:
    """What ``_decode_at`` would decide at each packet magic of ``buf[start:end]``
    (see _analyse); positions are relative to ``start``."""

    start: int
    decided_end: int  # magics at or after this (relative) position are not decided here
    seg: bytes        # buf[start:start + len(seg)], the bytes analysed
    pos: Any          # magic positions, ascending
    verdict: Any
    end: Any          # where the decoder continues after a decided magic
    nxt: Any          # index of the next magic the decoder visits after a decided one
    brk: list[int]    # indices i where nxt[i] != i + 1 (the walk's jumps), ascending
    brk_nxt: list[int]
    hint: int = 0


def _analyse(buf: bytearray, start: int, final: bool, datagram: bool) -> _Region:
    """What ``_decode_at`` would decide at each magic in ``buf[start:start+_WINDOW]``,
    in bulk, for the magics it decides without more data and without decoding a
    packet: an unknown type or an implausible raw CSI header (``_STEP``, 4 bytes
    on); a failed packet with a known magic inside its extent, or a raw CSI header
    with one (raw CSI has no CRC) (``_CUT``, truncated there); a failed CRC or
    version (``_BAD_CRC``, ``_BAD_VERSION``, the whole extent); a foreign v7
    packet (60 bytes). Everything else (valid packets, what needs more data) is
    ``_DEFER``: decoded one by one."""
    n = len(buf)
    end = min(n, start + _WINDOW)
    with memoryview(buf) as mv:
        seg = bytes(mv[start:min(n, end + _LOOKAHEAD)])
    m = len(seg)
    dend = end - start if end < n else m
    a = np.frombuffer(seg, np.uint8)
    c5 = np.flatnonzero(a[3:] == 0xC5)
    pos = c5[(a[c5 + 1] == 0x00) & (a[c5 + 2] == 0x11)]  # intp
    k = pos.size
    t = a[pos]
    known = (t == 0x01) | (t == 0x06) | (t == 0x07)
    assert _KNOWN_FIRST == {0x01, 0x06, 0x07}
    # position of the next known magic after each one (_BIG: none in seg)
    nk = np.minimum.accumulate(np.where(known, pos, _BIG)[::-1])[::-1]
    nk = np.concatenate([nk[1:], [_BIG]])
    verdict = np.zeros(k, np.int8)
    end_at = pos + 4
    zone = pos < dend
    verdict[zone & ~known] = _STEP
    # verified[i]: a packet that checks out starts at magic i (None-able: see below)
    verified = np.zeros(k, bool)
    have = np.zeros(k, bool)  # enough bytes to tell

    raw = np.flatnonzero((t == (MAGIC_RAW_CSI & 0xFF)) & (pos + RAW_CSI_HEADER_LEN <= m))
    raw_tot = np.zeros(0, np.int64)
    if raw.size:
        rp = pos[raw]
        n_ant = a[rp + 5].astype(np.int64)
        n_sc = a[rp + 6].astype(np.int64) | (a[rp + 7].astype(np.int64) << 8)
        ok = ((n_ant >= 1) & (n_ant <= RAW_CSI_MAX_ANTENNAS) & (n_sc >= 1)
              & (n_sc <= RAW_CSI_MAX_SUBCARRIERS))
        raw_tot = RAW_CSI_HEADER_LEN + 2 * n_ant * n_sc
        verified[raw] = ok
        have[raw] = True
        verdict[raw[~ok & zone[raw]]] = _STEP

    fixed = []
    for first, tot in ((MAGIC_TEMPORAL_RESULT & 0xFF, TEMPORAL_RESULT_LEN),
                       (MAGIC_FEATURE_STATE & 0xFF, FEATURE_STATE_LEN)):
        ci = np.flatnonzero((t == first) & (pos + FOREIGN_V7_LEN + 3 <= m))
        fixed.append((first, tot, ci))
    regs: list[Any] = []
    for first, tot, ci in fixed:
        if not ci.size:
            continue
        cp = pos[ci]
        inner = nk[ci] <= cp + tot - 1
        if first == MAGIC_TEMPORAL_RESULT & 0xFF:
            v1 = (a[cp + 4] == TEMPORAL_RESULT_VERSION) & (a[cp + 5] == 0)
            # its own CRC matters for version 1 (a packet?) or with no magic
            # inside (bad CRC or bad version?); else it is cut either way
            need = np.flatnonzero(v1 | ~inner)
            if need.size == ci.size:
                crc, crc60 = _crc_ok_many(seg, regs, cp, tot, FOREIGN_V7_LEN)
            else:
                crc60, = _crc_ok_many(seg, regs, cp, FOREIGN_V7_LEN)
                crc = np.zeros(ci.size, bool)
                if need.size:
                    crc[need], = _crc_ok_many(seg, regs, cp[need], tot)
            ours = crc & v1
            foreign = ~ours & crc60
            bad_version = crc & ~v1
        else:
            crc, = _crc_ok_many(seg, regs, cp, tot)
            ours = crc
            foreign = np.zeros(ci.size, bool)
            bad_version = np.zeros(ci.size, bool)
        verified[ci] = ours
        have[ci] = True
        z = zone[ci]
        fail = ~ours & ~foreign
        c = z & fail & inner
        verdict[ci[c]] = _CUT
        end_at[ci[c]] = nk[ci[c]]
        b = z & fail & ~inner
        verdict[ci[b & ~bad_version]] = _BAD_CRC
        verdict[ci[b & bad_version]] = _BAD_VERSION
        end_at[ci[b]] = cp[b] + tot
        f = z & foreign
        if datagram:  # _decode_at's whole-60-byte-datagram rule: leave it to it
            f &= ~((cp + start == 0) & (n == FOREIGN_V7_LEN))
        verdict[ci[f]] = _FOREIGN
        end_at[ci[f]] = cp[f] + FOREIGN_V7_LEN

    if raw.size:
        # a raw CSI header with a known magic inside its extent is cut there (no
        # CRC: the only sign); one straddling its end only if a packet that
        # checks out starts there (else the raw packet is decoded one by one)
        rp = pos[raw]
        rnk = nk[raw]
        plaus = verified[raw]
        cut = plaus & zone[raw] & (rnk <= rp + raw_tot - 4)
        straddle = plaus & zone[raw] & ~cut & (rnk <= rp + raw_tot - 1)
        if straddle.any():
            j = np.searchsorted(pos, rnk[straddle])
            cut[straddle] = have[j] & verified[j]
        verdict[raw[cut]] = _CUT
        end_at[raw[cut]] = rnk[cut]

    nxt = np.searchsorted(pos, end_at)
    idx = np.arange(k)
    deferred = verdict == _DEFER
    nxt[deferred] = idx[deferred]
    brk = np.flatnonzero(nxt != idx + 1)
    if not k or (brk.size == 0 or brk[-1] != k - 1):
        brk = np.concatenate([brk, [k - 1]]) if k else brk
    return _Region(start, dend, seg, pos, verdict, end_at, nxt, brk.tolist(),
                   nxt[brk].tolist() if k else [])


_CONST_DETAIL = {(_BAD_CRC, MAGIC_TEMPORAL_RESULT & 0xFF): "temporal result: CRC mismatch",
                 (_BAD_CRC, MAGIC_FEATURE_STATE & 0xFF): "feature state: CRC mismatch",
                 (_FOREIGN, MAGIC_TEMPORAL_RESULT & 0xFF): _FOREIGN_DETAIL}


def _new_issue(kind: str, offset: int, nbytes: int, detail: str) -> DecodeIssue:
    """DecodeIssue(kind, offset, nbytes, detail) at half the cost of the frozen
    dataclass's __init__ (a flood of corrupt packets makes one per packet)."""
    issue = object.__new__(DecodeIssue)
    d = issue.__dict__
    d["kind"], d["offset"], d["nbytes"], d["detail"] = kind, offset, nbytes, detail
    return issue


def _walk(reg: _Region, i: int) -> Any:
    """Indices of the magics the decoder visits and decides from magic ``i`` on,
    in order: runs i..b where each magic leads to the next are taken whole;
    after _WALK_JUMPS jumps the rest of the path is found by pointer doubling."""
    brk, brk_nxt, k = reg.brk, reg.brk_nxt, reg.pos.size
    starts: list[int] = []
    ends: list[int] = []
    tail = None
    j = i
    for _ in range(_WALK_JUMPS):
        bi = bisect.bisect_left(brk, j)
        b = brk[bi]
        nx = brk_nxt[bi]
        if nx == b:  # b is left to _decode_at
            if b > j:
                starts.append(j)
                ends.append(b - 1)
            break
        starts.append(j)
        ends.append(b)
        if nx >= k:
            break
        j = nx
    else:
        # J[x] = the magic visited after x; fixed points: left to _decode_at (nxt[x]
        # == x) or past the window (k). path[:2^t] doubles each round.
        jump = np.append(reg.nxt, k)
        path = np.array([j], np.int64)
        while jump[path[-1]] != path[-1]:
            path = np.concatenate([path, jump[path]])
            jump = jump[jump]
        stop = int(np.argmax(np.append(reg.nxt, k)[path] == path))
        tail = path[:stop]
    visited: Any = np.zeros(0, np.int64)
    if starts:
        s_a = np.array(starts, np.int64)
        lens = np.array(ends, np.int64) - s_a + 1
        csum = np.cumsum(lens)
        visited = np.arange(int(csum[-1])) + np.repeat(s_a - (csum - lens), lens)
    if tail is not None:
        visited = np.concatenate([visited, tail])
    return visited


def _detail(verdict: int, seg: bytes, p: int, nb: int) -> str:
    """The detail ``_decode_at`` gives for a decision of the bulk analysis."""
    if verdict == _FOREIGN:
        return _FOREIGN_DETAIL
    magic = int.from_bytes(seg[p:p + 4], "little")
    if verdict == _STEP:
        if magic == MAGIC_RAW_CSI:
            return (f"raw CSI header with {seg[p + 5]} antennas, "
                    f"{int.from_bytes(seg[p + 6:p + 8], 'little')} subcarriers")
        return f"unknown packet magic 0x{magic:08X}"
    if verdict == _CUT:
        return f"{_NAMES[magic]}: cut off after {nb} bytes by the next packet"
    if verdict == _BAD_CRC:
        return f"{_NAMES[magic]}: CRC mismatch"
    return ("temporal result: unsupported version "
            f"{int.from_bytes(seg[p + 4:p + 6], 'little')}")


@dataclass
class StreamDecoder:
    """Incremental decoder for serial byte streams and UDP datagrams.

    ``feed(chunk)`` (stream: a packet may be split over chunks) and
    ``feed_datagram(d)`` (each datagram stands alone) return the decoded
    packets and :class:`DecodeIssue` items in stream order; ``flush()`` ends a
    stream (a partial packet left in the buffer becomes ``truncated``).
    Nothing here raises on bad input. ``counts`` has ``packets``,
    ``bad_crc``, ``truncated``, ``unknown``, ``foreign`` and
    ``garbage_bytes``; ``by_type`` counts decoded packets per class name.

    Cost: O(1) amortised per byte. Packets are found by their magic with
    ``bytes.find``; where magics come close together (a flood, e.g. one
    datagram of repeated magics) up to 64 KB are decided in bulk with NumPy
    (CRC-32 of every candidate from prefix registers, ``crcwin``) and a run of
    magics that start no packet is reported as one ``flood`` issue. In a
    stream, floods are decided FLOOD_BATCH bytes at a time."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("packets", "bad_crc", "truncated", "unknown", "foreign", "garbage_bytes"), 0))
    by_type: dict[str, int] = field(default_factory=dict)
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _base: int = 0  # stream offset of _buf[0]
    _region: _Region | None = field(default=None, repr=False)
    _hostile: bool = field(default=False, repr=False)  # see FLOOD_BATCH
    _datagram: bool = field(default=False, repr=False)

    @property
    def pending(self) -> int:
        """Bytes buffered, waiting for the rest of a packet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Item]:
        self._buf += data
        return self._run(final=False)

    def feed_datagram(self, data: bytes | bytearray | memoryview) -> list[Item]:
        """Decode one datagram; anything still buffered from ``feed`` is flushed first."""
        out = self.flush()
        self._buf += data
        self._datagram = True
        try:
            out += self._run(final=True)
        finally:
            self._datagram = False
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
            n_ant, n_sc = buf[j + 5], int.from_bytes(buf[j + 6:j + 8], "little")
            return _raw_plausible(n_ant, n_sc)
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

    def _decided(self, pos: int, final: bool, out: list[Item]) -> object:
        """Bytes consumed from the magic at ``pos`` by the bulk analysis (0: not
        decided there, ``_decode_at`` decides; _NEED_MORE: a stream's flood
        waits for FLOOD_BATCH bytes). The decoder's walk from magic to magic is
        followed over the analysed window, jumping over runs of magics each of
        which leads to the next, so Python work is per jump, not per magic. A
        run of FLOOD_MIN_MAGICS or more magics that are stepped over or cut
        becomes one ``flood`` issue (each still counted by kind); other
        decisions are reported as ``_decode_at`` reports them."""
        buf = self._buf
        n = len(buf)
        reg = self._region
        i = -1
        if reg is not None:
            rel = pos - reg.start
            if rel < reg.decided_end:
                i = reg.hint
                if i >= reg.pos.size or reg.pos[i] != rel:
                    i = int(np.searchsorted(reg.pos, rel))
                    if i >= reg.pos.size or reg.pos[i] != rel:
                        i = -1
        if i < 0:
            if buf.find(_SYNC, pos + 4, pos + _NEAR) < 0:
                return 0  # an isolated magic: no analysis needed
            if (not final and not self._datagram and n - pos < FLOOD_BATCH
                    and (self._hostile
                         or buf.count(_SYNC, pos, n) * FLOOD_DENSITY >= n - pos)):
                return _NEED_MORE
            reg = self._region = _analyse(buf, pos, final, self._datagram)
            i = 0
        if reg.verdict[i] == _DEFER:
            reg.hint = i
            return 0
        visited = _walk(reg, i)
        vd = reg.verdict[visited]
        pv = reg.pos[visited]
        ev = reg.end[visited]
        gaps = pv[1:] - ev[:-1]
        steps = vd == _STEP
        cuts = vd == _CUT
        c = self.counts
        n_steps, n_cuts = int(np.count_nonzero(steps)), int(np.count_nonzero(cuts))
        n_badv = int(np.count_nonzero(vd == _BAD_VERSION))
        c["unknown"] += n_steps + n_badv
        c["truncated"] += n_cuts
        c["bad_crc"] += int(np.count_nonzero(vd == _BAD_CRC))
        c["foreign"] += int(np.count_nonzero(vd == _FOREIGN))
        c["garbage_bytes"] += int(gaps.sum())
        # items, in stream order: each run of FLOOD_MIN_MAGICS or more steps/cuts
        # is one flood issue (an event t..fe), every other magic its own (t..t)
        nv = vd.size
        sc = np.concatenate([[0], (steps | cuts).view(np.int8), [0]])
        edges = np.flatnonzero(np.diff(sc))
        run_s, run_e = edges[0::2], edges[1::2] - 1
        long_ = run_e - run_s + 1 >= FLOOD_MIN_MAGICS
        fs, fe = run_s[long_], run_e[long_]
        if fs.size:
            cover = np.zeros(nv + 1, np.int64)
            cover[fs] += 1
            cover[fe + 1] -= 1
            single = np.flatnonzero(np.cumsum(cover[:-1]) == 0)
            ev_s = np.concatenate([fs, single])
            order = np.argsort(ev_s, kind="stable")
            ev_s = ev_s[order]
            ev_e = np.concatenate([fe, single])[order]
            is_flood = (np.arange(ev_s.size) < fs.size)[order]
            ccut = np.concatenate([[0], np.cumsum(cuts)])
            cstep = np.concatenate([[0], np.cumsum(steps)])
            n_cut = (ccut[ev_e + 1] - ccut[ev_s]).tolist()
            n_step = (cstep[ev_e + 1] - cstep[ev_s]).tolist()
        else:
            ev_s = ev_e = np.arange(nv)
            is_flood = np.zeros(nv, bool)
            n_cut = n_step = [0] * nv
        gap_after = np.append(gaps, 0)[ev_e]
        gap_after[-1] = 0  # the gap after the last one is _run's
        base = self._base + reg.start
        seg = reg.seg
        p_l = pv[ev_s].tolist()
        e_l = ev[ev_e].tolist()
        v_l = vd[ev_s].tolist()
        t_l = np.frombuffer(seg, np.uint8)[pv[ev_s]].tolist()
        mk, kinds, const = _new_issue, _KIND, _CONST_DETAIL
        if not is_flood.any() and not gap_after.any():  # e.g. back-to-back corrupt packets
            v0, t0, nb0 = v_l[0], t_l[0], e_l[0] - p_l[0]
            d0 = const.get((v0, t0))
            if (d0 is not None and v_l.count(v0) == len(v_l) and t_l.count(t0) == len(t_l)
                    and nb0 * len(p_l) == e_l[-1] - p_l[0]):  # all alike, back to back
                k0 = kinds[v0]
                out += [mk(k0, base + p, nb0, d0) for p in p_l]
            else:
                out += [mk(kinds[v], base + p, e - p,
                           const.get((v, t)) or _detail(v, seg, p, e - p))
                        for v, p, e, t in zip(v_l, p_l, e_l, t_l, strict=True)]
        else:
            for p, e, v, t, fl, g, nc, ns in zip(p_l, e_l, v_l, t_l, is_flood.tolist(),
                                                 gap_after.tolist(), n_cut, n_step,
                                                 strict=True):
                if fl:
                    out.append(mk("flood", base + p, e - p,
                                  f"{nc + ns} packet magics in a row, none starting a "
                                  f"packet ({nc} cut off, {ns} unknown)"))
                else:
                    out.append(mk(kinds[v], base + p, e - p,
                                  const.get((v, t)) or _detail(v, seg, p, e - p)))
                if g:
                    out.append(mk("garbage", base + e, g, "bytes before a packet magic"))
        nxt_last = int(reg.nxt[visited[-1]])
        reg.hint = nxt_last if nxt_last < reg.pos.size else 0
        return e_l[-1] + reg.start - pos

    def _run(self, final: bool) -> list[Item]:
        out: list[Item] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        self._region = None
        packets_before = self.counts["packets"]
        bulk = 0
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
            r = self._decided(pos, final, out)
            if r is _NEED_MORE:
                break
            if r:
                assert isinstance(r, int)
                bulk += r
                pos += r
                continue
            r = self._decode_at(pos, final, out)
            if r is _NEED_MORE:
                break
            assert isinstance(r, int)
            pos += r
        self._region = None
        if self.counts["packets"] > packets_before:
            self._hostile = False
        elif not final and bulk >= 1024:
            self._hostile = True
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
                n_ant, n_sc = buf[pos + 5], int.from_bytes(buf[pos + 6:pos + 8], "little")
                if not _raw_plausible(n_ant, n_sc):
                    self._issue(out, "unknown", pos, 4,
                                f"raw CSI header with {n_ant} antennas, {n_sc} subcarriers")
                    return 4
                total = _raw_total(n_ant, n_sc)
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
        pkt: Packet | None = None
        err: PacketError | None = None
        if magic != MAGIC_RAW_CSI and not _crc_ok(data, total):
            err = PacketCrcError(f"{name}: CRC mismatch")  # cheap: no decode attempt
        else:
            try:
                pkt = decode(data)
            except PacketError as e:
                err = e
        if pkt is None and magic == MAGIC_TEMPORAL_RESULT:
            # not ours: RuView's 60-byte feature-state v7 under the same magic?
            if avail < FOREIGN_V7_LEN and not final:
                return _NEED_MORE
            foreign = is_foreign_v7(bytes(buf[pos:pos + FOREIGN_V7_LEN]))
            if not foreign and self._datagram and pos == 0 and avail == FOREIGN_V7_LEN:
                foreign = True  # a whole 60-byte datagram under this magic
            if foreign:
                self._issue(out, "foreign", pos, FOREIGN_V7_LEN, _FOREIGN_DETAIL)
                return FOREIGN_V7_LEN
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
    "FOREIGN_V7_LEN",
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
    "is_foreign_v7",
]
