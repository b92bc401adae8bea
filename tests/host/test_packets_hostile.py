"""The stream decoder on hostile input: RuView's 60-byte feature-state v7
under our 0xC5110007 magic, floods of packet magics (decided in bulk, counted
exactly as the one-by-one path counts them), forged sequence numbers.
Throughput is measured by ``ruv-temporal bench decode`` (docs/benchmarks.md)."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest

from ruv_temporal import packets as P
from ruv_temporal import recording
from ruv_temporal.cli.bench import DECODE_WORKLOADS, decode_workload
from ruv_temporal.cli.monitor import MonitorState


def v7_packet(node: int = 1, seq: int = 1) -> bytes:
    """RuView's proposed feature state v7: the 0xC5110006 layout under 0xC5110007."""
    body = struct.pack("<IBBHQ9fHbB", 0xC5110007, node, 2, seq, 123456, *([0.25] * 9), 3, -40, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def test_foreign_v7_is_reported_and_skipped_whole() -> None:
    res = P.encode_temporal_result(1, 5, 10, 4, 2, 1.0, 0.5)
    v7 = v7_packet()
    assert len(v7) == 60 and P.is_foreign_v7(v7) and not P.is_foreign_v7(res + bytes(20))
    dec = P.StreamDecoder()
    out = dec.feed_datagram(v7)
    assert [(i.kind, i.nbytes) for i in out] == [("foreign", 60)]
    assert dec.counts["bad_crc"] == 0 and dec.counts["garbage_bytes"] == 0
    # inside a stream, split anywhere, between our packets
    stream = res + v7 + res + v7 + v7 + res
    for split in range(len(stream) + 1):
        d = P.StreamDecoder()
        items = d.feed(stream[:split]) + d.feed(stream[split:]) + d.flush()
        assert [type(i).__name__ if not isinstance(i, P.DecodeIssue) else i.kind
                for i in items] == ["TemporalResult", "foreign", "TemporalResult", "foreign",
                                    "foreign", "TemporalResult"], split
        assert d.counts["foreign"] == 3 and d.counts["bad_crc"] == 0
    # a whole 60-byte datagram under the magic is foreign even with another CRC
    odd = bytearray(v7)
    odd[-1] ^= 0xFF
    out = P.StreamDecoder().feed_datagram(bytes(odd))
    assert [i.kind for i in out] == ["foreign"]
    # our own 40-byte packet with a bad CRC stays "bad_crc"
    bad = bytearray(res)
    bad[10] ^= 1
    assert [i.kind for i in P.StreamDecoder().feed_datagram(bytes(bad))] == ["bad_crc"]


def _hostile_stream(seed: int) -> bytes:
    r = random.Random(seed)
    magics = [struct.pack("<I", m) for m in (0xC5110001, 0xC5110006, 0xC5110007, 0xC51100AA)]
    out = bytearray()
    for _ in range(300):
        k = r.random()
        if k < 0.5:  # a burst of magics, tightly packed, some filler
            for _ in range(r.randrange(1, 12)):
                out += r.choice(magics) + bytes(r.randrange(256) for _ in range(r.choice(
                    [0, 0, 1, 2, 5])))
        elif k < 0.6:
            out += v7_packet(r.randrange(256), r.randrange(65536))
        elif k < 0.75:
            out += P.encode_temporal_result(r.randrange(256), r.randrange(1, 99), 1, 4, 1,
                                            0.5, 0.25)
        elif k < 0.85:
            out += P.encode_feature_state(r.randrange(256), r.randrange(65536), 5, motion=0.5)
        elif k < 0.9:
            out += P.encode_raw_csi(1, 1, np.arange(2 * r.randrange(1, 40), dtype=np.int8))
        else:
            out += bytes(r.randrange(256) for _ in range(r.randrange(1, 30)))
    return bytes(out)


class _OneByOne(P.StreamDecoder):
    """The reference: every magic decided by _decode_at, no bulk analysis."""

    def _decided(self, pos: int, final: bool, out: list) -> int:  # type: ignore[override]
        return 0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("mode", ["stream", "datagram"])
def test_bulk_decisions_equal_the_one_by_one_path(seed: int, mode: str) -> None:
    data = _hostile_stream(seed)
    fast, ref = P.StreamDecoder(), _OneByOne()
    r = random.Random(seed)
    chunks, i = [], 0
    while i < len(data):
        k = r.choice([1, 7, 64, 500, 4096]) if mode == "stream" else r.choice([60, 1500, 60000])
        chunks.append(data[i:i + k])
        i += k
    if mode == "stream":
        a = [x for c in chunks for x in fast.feed(c)] + fast.flush()
        b = [x for c in chunks for x in ref.feed(c)] + ref.flush()
    else:
        a = [x for c in chunks for x in fast.feed_datagram(c)]
        b = [x for c in chunks for x in ref.feed_datagram(c)]
    pk_a = [P.encode(x) for x in a if not isinstance(x, P.DecodeIssue)]
    pk_b = [P.encode(x) for x in b if not isinstance(x, P.DecodeIssue)]
    assert pk_a == pk_b and len(pk_a) > 20
    assert fast.counts == ref.counts
    assert fast.by_type == ref.by_type
    assert sum(x.nbytes for x in a if isinstance(x, P.DecodeIssue)) + sum(map(len, pk_a)) \
        == len(data)
    assert any(isinstance(x, P.DecodeIssue) and x.kind == "flood" for x in a)
    assert fast.counts["foreign"] > 0


@pytest.mark.parametrize("name", DECODE_WORKLOADS)
def test_bench_workloads_decode_consistently(name: str) -> None:
    data = decode_workload(name, 20_000)
    fast, ref = P.StreamDecoder(), _OneByOne()
    a = fast.feed_datagram(data)
    b = ref.feed_datagram(data)
    assert fast.counts == ref.counts
    assert len(a) <= len(b)
    if name not in ("random", "valid packets", "tiny raw CSI packets", "foreign v7",
                    "bad-CRC results", "bad-CRC feature states", "mixed magics, filler"):
        assert len(a) <= 20  # a flood is one issue (plus its last magics), not thousands
    if name == "foreign v7":
        assert fast.counts["foreign"] == 20_000 // 60
    if name.startswith("bad-CRC"):
        assert fast.counts["bad_crc"] == 20_000 // (40 if "results" in name else 60)


def test_forged_sequence_number_is_not_lost() -> None:
    st = MonitorState()
    for seq in (1, 2, 5, 0xFFFFFFFF, 0xFFFFFFFF):
        st.feed_datagram(P.encode_temporal_result(3, seq, seq * 1000, 4, 1, 1.0, 0.5))
    n = st.to_json()["nodes"][0]
    assert n["lost"] == 2 and n["seq_jumps"] == 1 and n["results"] == 5
    rec = recording.Recorder("still", node=7)
    for seq in (10, 11, 13, 60_000, 60_001):
        rec.feed(struct.pack("<IBBHQ9fHH", 0xC5110006, 7, 1, seq, seq, *([0.0] * 9), 0, 0)
                 + b"\0\0\0\0")  # CRC filled below
    assert rec.stats.bad == 5  # no CRC: nothing recorded; now with CRCs
    rec = recording.Recorder("still", node=7)
    for seq in (10, 11, 13, 60_000, 60_001):
        body = struct.pack("<IBBHQ9fHH", 0xC5110006, 7, 1, seq, seq, *([0.0] * 9), 0, 0)
        rec.feed(body + struct.pack("<I", zlib.crc32(body)))
    assert rec.stats.lost == 1 and rec.stats.seq_resets == 1 and rec.stats.frames == 5


def test_bench_decode_cli_reports_every_workload_against_the_goal() -> None:
    import json

    from click.testing import CliRunner

    from ruv_temporal.cli.bench import DECODE_GOAL_MB_S, DECODE_HOSTILE, bench

    res = CliRunner().invoke(bench, ["decode", "--mbytes", "0.02", "--rounds", "1",
                                     "--json", "-"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    rows = {(r["workload"], r["mode"]): r for r in out["rows"]}
    assert set(rows) == {(w, m) for w in DECODE_WORKLOADS for m in ("stream", "datagram")}
    for r in rows.values():
        assert r["complete"] and r["bytes"] == 20_000 and r["mb_per_s"] > 0
        assert abs(r["goal_ratio"] - r["mb_per_s"] / DECODE_GOAL_MB_S) < 1e-9
    worst = min((r for r in out["rows"] if r["workload"] in DECODE_HOSTILE),
                key=lambda r: r["mb_per_s"])
    assert out["worst_hostile_mb_per_s"] == worst["mb_per_s"]
    assert out["worst_hostile"] == f"{worst['workload']} ({worst['mode']})"
    for w in ("result magics", "foreign v7", "bad-CRC results", "overlapping syncs"):
        for m in ("stream", "datagram"):  # garbage: no packet, every magic counted
            c = rows[(w, m)]["counts"]
            assert c["packets"] == 0 and sum(c.values()) > 20_000 // 64
