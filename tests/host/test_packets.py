"""Telemetry packet codecs and the stream decoder (docs/spec.md §6, docs/telemetry.md).

Reference packets are packed here with ``struct``/``zlib`` (independently of
the construct codecs under test)."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ruv_temporal import packets as P
from ruv_temporal.errors import PacketError, RuvError

f32 = st.floats(width=32, allow_nan=False)
u8, u16, u32 = st.integers(0, 255), st.integers(0, 65535), st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i8 = st.integers(-128, 127)


def ref_temporal(node: int, seq: int, ts: int, n_classes: int, argmax: int, top: float,
                 margin: float) -> bytes:
    body = struct.pack("<IHHB3xQIB3xff", 0xC5110007, 1, n_classes, node, ts, seq, argmax,
                       top, margin)
    assert len(body) == 36
    return body + struct.pack("<I", zlib.crc32(body))


def ref_state(node: int, mode: int, seq: int, ts: int, vals: list[float], quality: int) -> bytes:
    body = struct.pack("<IBBHQ9fHH", 0xC5110006, node, mode, seq, ts, *vals, quality, 0)
    assert len(body) == 56
    return body + struct.pack("<I", zlib.crc32(body))


def ref_raw(node: int, n_ant: int, n_sc: int, freq: int, seq: int, rssi: int, noise: int,
            iq: bytes) -> bytes:
    return struct.pack("<IBBHIIbbH", 0xC5110001, node, n_ant, n_sc, freq, seq, rssi, noise,
                       0) + iq


# ----------------------------------------------------------------------------- codecs


def test_port_and_magics() -> None:
    assert P.DEFAULT_UDP_PORT == 5005
    assert (P.MAGIC_RAW_CSI, P.MAGIC_FEATURE_STATE, P.MAGIC_TEMPORAL_RESULT) == (
        0xC5110001, 0xC5110006, 0xC5110007)


@settings(max_examples=200, deadline=None)
@given(u8, u32, u64, u16, u8, f32, f32)
def test_temporal_result_round_trip(node: int, seq: int, ts: int, nc: int, am: int, top: float,
                                    margin: float) -> None:
    data = P.encode_temporal_result(node, seq, ts, nc, am, top, margin)
    assert data == ref_temporal(node, seq, ts, nc, am, top, margin)
    assert len(data) == 40
    p = P.decode_temporal_result(data)
    assert p == P.TemporalResult(node, seq, ts, nc, am, top, margin)
    assert P.decode(data) == p and P.encode(p) == data
    assert p.margin == margin


def test_temporal_result_from_logits_like_firmware() -> None:
    data = P.encode_temporal_result_from_logits([0.5, 2.0, 2.0, -1.0], node_id=3, seq=1,
                                                ts_us=77)
    p = P.decode_temporal_result(data)
    assert (p.argmax, p.top_logit, p.top1_minus_top2, p.n_classes) == (1, 2.0, 0.0, 4)
    p = P.decode(P.encode_temporal_result_from_logits([0.1, 0.7], 1, 2, 3))
    assert p.top1_minus_top2 == np.float32(np.float32(0.7) - np.float32(0.1))


@settings(max_examples=200, deadline=None)
@given(u8, u8, u16, u64, st.lists(f32, min_size=9, max_size=9), u16)
def test_feature_state_round_trip(node: int, mode: int, seq: int, ts: int, vals: list[float],
                                  quality: int) -> None:
    kw = dict(zip(P.FEATURE_STATE_NAMES, vals, strict=True))
    data = P.encode_feature_state(node, seq, ts, mode=mode, quality_flags=quality, **kw)
    assert data == ref_state(node, mode, seq, ts, vals, quality)
    p = P.decode_feature_state(data)
    assert p.values == tuple(vals) and p.quality_flags == quality and p.mode == mode
    assert P.decode(data) == p and P.encode(p) == data


@settings(max_examples=100, deadline=None)
@given(u8, st.integers(1, 3), st.integers(1, 70), u32, u32, i8, i8, st.data())
def test_raw_csi_round_trip(node: int, n_ant: int, n_sc: int, freq: int, seq: int, rssi: int,
                            noise: int, data: st.DataObject) -> None:
    iq = data.draw(st.binary(min_size=2 * n_ant * n_sc, max_size=2 * n_ant * n_sc))
    arr = np.frombuffer(iq, np.int8).reshape(n_ant, n_sc, 2)
    enc = P.encode_raw_csi(node, seq, arr, rssi, noise, freq, n_antennas=n_ant)
    assert enc == ref_raw(node, n_ant, n_sc, freq, seq, rssi, noise, iq)
    p = P.decode_raw_csi(enc)
    assert p.iq.shape == (n_ant, n_sc, 2) and p.iq.dtype == np.int8
    assert np.array_equal(p.iq, arr)
    assert (p.node_id, p.seq, p.freq_mhz, p.rssi, p.noise_floor) == (node, seq, freq, rssi, noise)
    assert P.encode(p) == enc and P.decode(enc) == p


def test_decode_errors_are_packet_errors() -> None:
    good = P.encode_temporal_result(1, 1, 0, 2, 0, 1.0, 0.5)
    cases = [b"", good[:39], b"\0" * 40, good[:-1] + bytes([good[-1] ^ 1]),
             P.encode_temporal_result(1, 1, 0, 2, 0, 1.0, 0.5, version=2),
             P.encode_feature_state(1, 1, 0)[:-1] + b"\0",
             ref_raw(1, 0, 4, 2412, 1, 0, 0, b""), ref_raw(1, 1, 4, 2412, 1, 0, 0, b"\0" * 7)]
    for c in cases:
        with pytest.raises(PacketError):
            P.decode(c)
    assert issubclass(PacketError, RuvError)
    with pytest.raises(PacketCrcError := P.PacketCrcError):
        P.decode_temporal_result(cases[3])
    assert issubclass(PacketCrcError, PacketError)
    with pytest.raises(PacketError):
        P.encode_raw_csi(1, 1, np.zeros(7, np.int8))
    with pytest.raises(PacketError):
        P.encode_raw_csi(1, 1, np.full(4, 300))
    with pytest.raises(PacketError):
        P.encode_temporal_result(256, 1, 0, 2, 0, 0.0, 0.0)


# ----------------------------------------------------------------------------- stream


def _random_packet(r: random.Random) -> bytes:
    k = r.randrange(3)
    if k == 0:
        return P.encode_temporal_result(r.randrange(256), r.randrange(1, 1000), r.randrange(2**40),
                                        4, r.randrange(4), r.uniform(-5, 5), r.uniform(0, 2))
    if k == 1:
        return P.encode_feature_state(r.randrange(256), r.randrange(65536), r.randrange(2**40),
                                      motion=r.random(), coherence=r.random())
    n_sc = r.randrange(1, 80)
    iq = np.array([r.randrange(-128, 128) for _ in range(2 * n_sc)], np.int8)
    return P.encode_raw_csi(r.randrange(256), r.randrange(2**32), iq, -50, -90, 2412)


def _has_inner_magic(b: bytes) -> bool:
    return any(b.find(bytes([m & 0xFF, 0x00, 0x11, 0xC5]), 1) >= 0 for m in P.MAGICS)


def _garbage(r: random.Random, n: int) -> bytes:
    g = bytes(r.randrange(256) for _ in range(n))
    return g.replace(b"\x00\x11\xc5", b"\x01\x11\xc5")  # keep the counts exact


def _decoded(items: list) -> list[bytes]:
    return [P.encode(i) for i in items if not isinstance(i, P.DecodeIssue)]


def _build_stream(seed: int, n: int) -> tuple[bytes, list[bytes], int, int]:
    """Packets with garbage, cut and corrupted packets. Returns stream, intact packets,
    garbage byte count, damaged packet count."""
    r = random.Random(seed)
    out, intact, garbage, damaged = bytearray(), [], 0, 0
    prev_damaged = False
    for _ in range(n):
        if not prev_damaged and r.random() < 0.4:
            g = _garbage(r, r.randrange(1, 30))
            out += g
            garbage += len(g)
        p = _random_packet(r)
        if _has_inner_magic(p):
            continue
        kind = r.random()
        if kind < 0.15:  # cut off (and directly followed by the next packet or the end)
            out += p[:r.randrange(4, len(p))]
            damaged += 1
            prev_damaged = True
            continue
        if kind < 0.3 and p[:4] != b"\x01\x00\x11\xc5":  # bit flip after the magic
            b = bytearray(p)
            b[r.randrange(4, len(b))] ^= 1 << r.randrange(8)
            if not _has_inner_magic(bytes(b)):
                out += b
                damaged += 1
                prev_damaged = True
                continue
        out += p
        intact.append(p)
        prev_damaged = False
    return bytes(out), intact, garbage, damaged


@pytest.mark.parametrize("seed", range(12))
def test_stream_recovers_every_intact_packet(seed: int) -> None:
    stream, intact, garbage, damaged = _build_stream(seed, 60)
    r = random.Random(seed + 100)
    dec = P.StreamDecoder()
    items: list = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking, including 1-byte chunks
        k = r.choice([1, 2, 3, 7, 40, 500])
        items += dec.feed(stream[pos:pos + k])
        pos += k
    items += dec.flush()
    assert _decoded(items) == intact
    c = dec.counts
    assert c["packets"] == len(intact)
    assert c["garbage_bytes"] == garbage
    assert c["bad_crc"] + c["truncated"] == damaged
    assert c["unknown"] == 0
    assert sum(dec.by_type.values()) == len(intact)
    # issues cover exactly the non-packet bytes, in stream order
    issue_bytes = sum(i.nbytes for i in items if isinstance(i, P.DecodeIssue))
    assert issue_bytes + sum(len(p) for p in intact) == len(stream)
    # one-shot decoding gives the same
    pk, d2 = P.decode_stream(stream)
    assert [P.encode(p) for p in pk] == intact and d2.counts == c


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_stream_never_raises_on_garbage(chunks: list[bytes]) -> None:
    dec = P.StreamDecoder()
    items = list(dec.iter_decode(chunks))
    total = sum(len(c) for c in chunks)
    assert sum(i.nbytes for i in items if isinstance(i, P.DecodeIssue)) + sum(
        len(P.encode(i)) for i in items if not isinstance(i, P.DecodeIssue)) == total
    for c in chunks:  # datagram mode too
        dec.feed_datagram(c)
    assert dec.pending == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=12), st.integers(0, 5)), max_size=8),
       st.integers(0, 2**32 - 1))
def test_adversarial_garbage_with_magics(parts: list[tuple[bytes, int]], seed: int) -> None:
    """Garbage that contains (fragments of) packet magics: intact packets still come through."""
    r = random.Random(seed)
    frags = [b"\x07\x00\x11\xc5", b"\x06\x00\x11\xc5", b"\x01\x00\x11\xc5", b"\x02\x00\x11\xc5",
             b"\x00\x11\xc5", b"\x11\xc5"]
    stream, intact = bytearray(), []
    for g, k in parts:
        stream += g + frags[k] + g[:r.randrange(len(g) + 1)]
        p = _random_packet(r)
        if _has_inner_magic(p):
            continue
        stream += p
        intact.append(p)
    got, _ = P.decode_stream(bytes(stream))
    enc = [P.encode(p) for p in got]
    it = iter(enc)
    assert all(any(e == p for e in it) for p in intact)  # intact is a subsequence


def test_datagrams() -> None:
    dec = P.StreamDecoder()
    a = P.encode_temporal_result(1, 1, 10, 4, 2, 1.0, 0.5)
    b = P.encode_feature_state(2, 5, 20, motion=0.5)
    c = P.encode_raw_csi(3, 9, np.arange(8, dtype=np.int8))
    out = dec.feed_datagram(a + b)  # two packets in one datagram
    assert _decoded(out) == [a, b]
    out = dec.feed_datagram(c[:-1])  # short datagram -> truncated, nothing carried over
    assert [i.kind for i in out] == ["truncated"]
    out = dec.feed_datagram(c)
    assert _decoded(out) == [c]
    out = dec.feed_datagram(b"hello")
    assert [i.kind for i in out] == ["garbage"]
    out = dec.feed_datagram(a[:-1] + b"\0")
    assert [i.kind for i in out] == ["bad_crc"]
    out = dec.feed_datagram(b"\x03\x00\x11\xc5" + b"x" * 36)
    assert [i.kind for i in out] == ["unknown", "garbage"]
    out = dec.feed_datagram(P.encode_temporal_result(1, 2, 0, 2, 0, 0.0, 0.0, version=9))
    assert [i.kind for i in out] == ["unknown"]
    out = dec.feed_datagram(ref_raw(1, 0, 5, 2412, 1, 0, 0, b""))
    assert out[0].kind == "unknown"
    assert dec.counts["packets"] == 3 and dec.counts["bad_crc"] == 1
    assert dec.counts["truncated"] == 1 and dec.counts["unknown"] == 3
    assert "bad_crc" in str(P.DecodeIssue("bad_crc", 0, 40, "x"))


def test_cut_raw_csi_followed_by_packet_is_truncated() -> None:
    raw = P.encode_raw_csi(3, 9, np.arange(100, dtype=np.int8) % 50)
    res = P.encode_temporal_result(1, 1, 10, 4, 2, 1.0, 0.5)
    dec = P.StreamDecoder()
    items = dec.feed(raw[:50] + res + raw) + dec.flush()
    assert _decoded(items) == [res, raw]
    assert dec.counts["truncated"] == 1
    assert isinstance(items[0], P.DecodeIssue) and items[0].nbytes == 50
    assert items[0].offset == 0 and items[1:] and isinstance(items[1], P.TemporalResult)


def test_partial_packet_waits_for_more_data() -> None:
    res = P.encode_temporal_result(1, 1, 10, 4, 2, 1.0, 0.5)
    dec = P.StreamDecoder()
    assert dec.feed(res[:25]) == []
    assert dec.pending == 25
    assert _decoded(dec.feed(res[25:])) == [res]
    assert dec.pending == 0
    assert dec.feed(res[:10]) == []
    out = dec.flush()
    assert [i.kind for i in out] == ["truncated"] and out[0].offset == 40


@pytest.mark.parametrize("first", ["temporal", "state", "raw"])
def test_cut_packet_every_cut_and_split_point(first: str) -> None:
    """A packet cut at any length, followed by an intact one, the stream split at any
    point: the intact packet always comes through and the cut one is reported."""
    nxt = P.encode_temporal_result(1, 7, 10, 4, 2, 1.0, 0.5)
    p = {"temporal": P.encode_temporal_result(2, 1, 5, 3, 1, 0.25, 0.125),
         "state": P.encode_feature_state(2, 1, 5, motion=0.5),
         "raw": P.encode_raw_csi(2, 1, (np.arange(40) % 20).astype(np.int8))}[first]
    for cut in range(4, len(p)):
        stream = p[:cut] + nxt
        for split in range(0, len(stream) + 1, 3 if cut % 2 else 1):
            dec = P.StreamDecoder()
            items = dec.feed(stream[:split]) + dec.feed(stream[split:]) + dec.flush()
            assert _decoded(items) == [nxt], (cut, split)
            c = dec.counts
            # a raw CSI cut inside its header may read an implausible header: "unknown"
            assert c["truncated"] + c["bad_crc"] + c["unknown"] == 1, (cut, split, c)


def test_raw_csi_end_byte_forming_a_magic_with_following_garbage() -> None:
    """Regression (found by hypothesis): a raw CSI packet whose last byte is 0x07,
    followed by garbage "00 11 c5", looks as if a temporal-result magic started
    inside it. Raw CSI has no CRC; the straddling magic begins no valid packet,
    so the raw packet is intact and the packet after the garbage comes through."""
    iq = np.zeros(40, np.int8)
    iq[-1] = 7
    raw = P.encode_raw_csi(3, 1, iq)
    assert raw[-1] == 7
    nxt = P.encode_feature_state(3, 1, 9, motion=0.25)
    got, dec = P.decode_stream(raw + b"\x00\x11\xc5" + nxt)
    assert [P.encode(p) for p in got] == [raw, nxt]
    assert dec.counts["garbage_bytes"] == 3 and dec.counts["truncated"] == 0
