"""The stream decoder (bulk NumPy path, batching, chunking) against a plain
byte-by-byte reference scanner written from docs/telemetry.md's rules.

The reference looks at one byte at a time: no ``bytes.find``, no NumPy, no
window, the whole input at once. Mixed streams of valid packets, foreign
packets, corrupt and cut-off packets, floods of magics (also overlapping
``00 11 C5`` syncs) and random bytes are decoded by both — the decoder fed in
random chunks (stream) or as datagrams — and must give the same packets, the
same counts and issues that cover every byte exactly once."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruv_temporal import packets as P

SYNC = b"\x00\x11\xc5"
KNOWN = (0x01, 0x06, 0x07)


def reference(data: bytes, datagram: bool = False) -> tuple[list[P.Packet], dict[str, int]]:
    """Decode ``data`` as one whole capture (or one datagram), byte by byte."""
    counts = dict.fromkeys(("packets", "bad_crc", "truncated", "unknown", "foreign",
                            "garbage_bytes"), 0)
    packets: list[P.Packet] = []
    n = len(data)

    def magic_at(j: int) -> bool:
        return j + 4 <= n and data[j + 1:j + 4] == SYNC

    def known_at(j: int) -> bool:
        return magic_at(j) and data[j] in KNOWN

    def crc_ok(j: int, length: int) -> bool:
        return j + length <= n and zlib.crc32(data[j:j + length - 4]) == int.from_bytes(
            data[j + length - 4:j + length], "little")

    def raw_plausible(j: int) -> bool:
        return (j + 20 <= n and 1 <= data[j + 5] <= 8
                and 1 <= int.from_bytes(data[j + 6:j + 8], "little") <= 1024)

    def checks_out(j: int) -> bool:  # a whole packet that checks out starts at j
        t = data[j]
        if t == 0x01:
            return raw_plausible(j)
        if t == 0x07:
            return crc_ok(j, 40) and data[j + 4:j + 6] == b"\x01\x00"
        return t == 0x06 and crc_ok(j, 60)

    i = 0
    while i < n:
        if not magic_at(i):
            counts["garbage_bytes"] += 1
            i += 1
            continue
        t, avail = data[i], n - i
        if t not in KNOWN:
            counts["unknown"] += 1
            i += 4
            continue
        if t == 0x01:
            if avail >= 20 and not raw_plausible(i):
                counts["unknown"] += 1
                i += 4
                continue
            total = (20 + 2 * data[i + 5] * int.from_bytes(data[i + 6:i + 8], "little")
                     if avail >= 20 else 20)
        else:
            total = 40 if t == 0x07 else 60
        # the first known magic inside the extent (4 bytes of it in the data)
        inner = next((j for j in range(i + 4, min(i + total, n - 3)) if known_at(j)), None)
        if t == 0x01 and inner is not None and inner > i + total - 4 and not checks_out(inner):
            inner = None  # straddles the end and starts nothing: raw CSI's own bytes
        if avail < total:
            cut = inner - i if inner is not None else avail
            counts["truncated"] += 1
            i += cut
            continue
        ok = t == 0x01 or checks_out(i)
        if not ok and t == 0x07 and (crc_ok(i, 60) or (datagram and i == 0 and n == 60)):
            counts["foreign"] += 1
            i += 60
            continue
        if inner is not None and (not ok or t == 0x01):
            counts["truncated"] += 1
            i = inner
            continue
        if not ok:
            bad_version = t == 0x07 and crc_ok(i, 40)
            counts["unknown" if bad_version else "bad_crc"] += 1
            i += total
            continue
        packets.append(P.decode(data[i:i + total]))
        counts["packets"] += 1
        i += total
    return packets, counts


# ---- building blocks of hostile streams

def _result(r: random.Random, version: int = 1) -> bytes:
    return P.encode_temporal_result(r.randrange(256), r.randrange(1 << 32), r.randrange(1 << 40),
                                    4, r.randrange(4), r.random(), r.random(), version=version)


def _feature(r: random.Random) -> bytes:
    return P.encode_feature_state(r.randrange(256), r.randrange(65536), r.randrange(1 << 40),
                                  motion=r.random(), presence=r.random())


def _raw(r: random.Random) -> bytes:
    ant, sc = r.choice([1, 1, 2]), r.choice([1, 2, 3, 26, 64])
    iq = np.frombuffer(r.randbytes(2 * ant * sc), np.int8)
    return P.encode_raw_csi(r.randrange(256), r.randrange(1 << 32), iq, n_antennas=ant,
                            n_subcarriers=sc)


def _v7(r: random.Random) -> bytes:
    body = struct.pack("<IBBHQ9fHbB", 0xC5110007, r.randrange(256), 2, r.randrange(65536),
                       r.randrange(1 << 40), *([r.random()] * 9), 3, -40, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def _corrupt(r: random.Random, pkt: bytes) -> bytes:
    b = bytearray(pkt)
    b[r.randrange(4, len(b))] ^= 1 << r.randrange(8)
    return bytes(b)


def _flood(r: random.Random) -> bytes:
    magics = [struct.pack("<I", m) for m in (0xC5110001, 0xC5110006, 0xC5110007, 0xC51100AA)]
    out = bytearray()
    for _ in range(r.randrange(1, 40)):
        out += r.choice(magics) + r.randbytes(r.choice([0, 0, 0, 1, 2, 3]))
    return bytes(out)


def _piece(r: random.Random) -> bytes:
    k = r.randrange(14)
    if k == 0:
        return _result(r)
    if k == 1:
        return _feature(r)
    if k == 2:
        return _raw(r)
    if k == 3:
        return _v7(r)
    if k == 4:
        return _corrupt(r, r.choice([_result, _feature, _v7])(r))
    if k == 5:  # cut off
        p = r.choice([_result, _feature, _raw, _v7])(r)
        return p[:r.randrange(4, len(p))]
    if k == 6:
        return _result(r, version=2)
    if k in (7, 8):
        return _flood(r)
    if k == 9:  # overlapping syncs
        return bytes([r.choice([0x01, 0x06, 0x07, 0xC5])]) + SYNC * r.randrange(1, 30)
    if k == 10:  # a plausible raw CSI header claiming more than follows
        return struct.pack("<IBBHIIbbH", 0xC5110001, 1, r.randrange(1, 9), r.randrange(1, 1025),
                           2437, 1, -50, -90, 0)
    if k == 11:  # a magic whose last byte is a packet's last byte (straddling)
        return _raw(r)[:-1] + b"\x07"
    return r.randbytes(r.randrange(1, 80))


def _stream(seed: int, pieces: int) -> bytes:
    r = random.Random(seed)
    return b"".join(_piece(r) for _ in range(pieces))


def _check(items: list[P.Item], dec: P.StreamDecoder, data: bytes,
           want: tuple[list[P.Packet], dict[str, int]]) -> None:
    pk = [x for x in items if not isinstance(x, P.DecodeIssue)]
    assert pk == want[0]
    assert dec.counts == want[1]
    covered = sum(x.nbytes for x in items if isinstance(x, P.DecodeIssue))
    assert covered + sum(len(P.encode(x)) for x in pk) == len(data)


def _decode_stream(data: bytes, cuts: list[int]) -> tuple[list[P.Item], P.StreamDecoder]:
    dec = P.StreamDecoder()
    items: list[P.Item] = []
    prev = 0
    for c in sorted(set(cuts)) + [len(data)]:
        items += dec.feed(data[prev:c])
        prev = c
    return items + dec.flush(), dec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1 << 30), pieces=st.integers(1, 60),
       cuts=st.lists(st.floats(0, 1), max_size=12))
def test_stream_equals_reference(seed: int, pieces: int, cuts: list[float]) -> None:
    data = _stream(seed, pieces)
    items, dec = _decode_stream(data, [int(c * len(data)) for c in cuts])
    _check(items, dec, data, reference(data))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1 << 30), pieces=st.integers(1, 30),
       sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8))
def test_datagrams_equal_reference(seed: int, pieces: int, sizes: list[int]) -> None:
    data = _stream(seed, pieces)
    dec = P.StreamDecoder()
    want_packets: list[P.Packet] = []
    want_counts = dict.fromkeys(dec.counts, 0)
    i = k = 0
    items: list[P.Item] = []
    while i < len(data):
        d = data[i:i + sizes[k % len(sizes)]]
        items += dec.feed_datagram(d)
        pk, counts = reference(d, datagram=True)
        want_packets += pk
        for name, v in counts.items():
            want_counts[name] += v
        i += len(d)
        k += 1
    _check(items, dec, data, (want_packets, want_counts))


@pytest.mark.parametrize(("seed", "walk_jumps"), [(0, P._WALK_JUMPS), (1, 1)])
def test_large_streams_equal_reference(seed: int, walk_jumps: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Long inputs: analysis windows (64 KB) end inside floods and packets,
    streams batch floods (FLOOD_BATCH), 60 KB datagrams; with walk_jumps=1 the
    decoder's walk is found by pointer doubling nearly everywhere."""
    monkeypatch.setattr(P, "_WALK_JUMPS", walk_jumps)
    r = random.Random(seed)
    data = b"".join(_flood(r) * r.randrange(1, 60) if r.random() < 0.3 else _piece(r)
                    for _ in range(2500))
    assert len(data) > 2 * (1 << 16)
    cuts = []
    c = 0
    while c < len(data):
        c += r.choice([1, 100, 4096, 4096, 20_000])
        cuts.append(c)
    items, dec = _decode_stream(data, cuts)
    _check(items, dec, data, reference(data))
    dec = P.StreamDecoder()
    items = []
    want_packets: list[P.Packet] = []
    want = dict.fromkeys(dec.counts, 0)
    for i in range(0, len(data), 60_000):
        items += dec.feed_datagram(data[i:i + 60_000])
        pk, counts = reference(data[i:i + 60_000], datagram=True)
        want_packets += pk
        for name, v in counts.items():
            want[name] += v
    _check(items, dec, data, (want_packets, want))
    assert any(isinstance(x, P.DecodeIssue) and x.kind == "flood" for x in items)
