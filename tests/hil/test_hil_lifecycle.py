"""Model blob lifecycle over the console protocol (docs/model-slots.md).

* a new model uploaded with ``load begin/chunk/commit`` becomes active:
  ``info`` reports its id, the slot flips, the generation grows, and the
  logits follow the new model (compared with its NumPy reference);
* an upload cut off by killing the device process (power-cut emulation,
  ``ruv_vdev --slots DIR`` persists the slots) leaves the old model active
  after the restart, with bit-identical logits;
* bad blobs (CRC, version, magic, flags, shape, input dim, n_classes,
  feature set, truncated, incomplete upload) are refused with the documented
  status codes (docs/blob-format.md, docs/protocol.md) and the old model is
  kept, again with bit-identical logits.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from ruv_temporal import hil, provision, rvne
from ruv_temporal.errors import BlobError, DeviceError
from ruv_temporal.status import Status

pytestmark = pytest.mark.hil


def probe_bits(device, frames) -> list[int]:
    """Logits (bit patterns) after a reset and these frames, window mode."""
    return hil.run_frames(device, frames, "window").view(np.uint32).tolist()


def test_info_selftest_and_stats_are_sane(device, hil_target) -> None:
    info = device.info()
    blob = rvne.parse(hil_target.blob)
    assert info["proto"] == "2"
    assert info["model"] == provision.model_id(hil_target.blob)
    assert int(info["D"]) == blob.input_dim and int(info["C"]) == blob.n_classes
    assert int(info["N"]) >= 2 and info["mode"] in ("window", "stream")
    assert info["fp16"] in ("0", "1") and info["tx"] in ("0", "1")
    assert int(info["slots"]) == 2 and int(info["line_max"]) == 4096
    assert info["slot"] in ("0", "1") and int(info["gen"]) >= 1
    assert int(info["blob_len"]) == len(hil_target.blob)
    assert int(info["layers"]) == blob.n_layers and int(info["q_heads"]) == blob.n_q_heads
    assert int(info["kv_heads"]) == blob.n_kv_heads and int(info["head_dim"]) == blob.head_dim
    assert info["fp16_weights"] == ("1" if blob.fp16 else "0")
    assert info["labels"].split(",") == blob.labels
    assert int(info["feature_set"]) == (blob.input.feature_set if blob.input else 0)
    assert int(info["period_ms"]) > 0
    st = device.selftest()
    assert st == {"core": "ok", "proto": "ok", "model": "loaded"}
    stats = device.stats()
    for key in ("frames", "push_errors", "classifications", "rebases", "ring", "context",
                "queued", "dropped", "pending", "depth", "telemetry_seq", "telemetry_sent",
                "telemetry_failed", "ticks_missed", "commands", "rejected", "arena",
                "heap_free", "heap_min_free", "heap_largest", "temporal_stack_free",
                "console_stack_free", "uptime_us"):
        assert key in stats and stats[key].isdigit(), key
    assert int(stats["arena"]) > 0
    assert int(stats["depth"]) in (0, 32)
    assert int(stats["pending"]) <= int(stats["depth"])
    if hil_target.is_vdev:
        assert info["platform"] == "vdev" and int(stats["depth"]) == 0
    # uptime advances
    assert int(device.stats()["uptime_us"]) > int(stats["uptime_us"])


def test_upload_new_model_changes_id_and_logits(device, hil_target) -> None:
    dim, ncls = device.input_dim, device.n_classes
    old_id = device.info()["model"]
    info0 = device.info()
    new = hil.seeded_model(77, dim, ncls, n_q_heads=2, n_kv_heads=1, head_dim=16,
                           fp16_weights=True, attn=None, feature_set=1)
    frames = hil.synthetic_frames(600, dim, seed=31)
    before = probe_bits(device, frames)
    try:
        seen: list[int] = []
        r = device.load_blob(new, chunk_size=1000, progress=lambda d, _t: seen.append(d))
        assert seen[-1] == len(new) and len(seen) == -(-len(new) // 1000)
        info = device.info()
        assert info["model"] == r["model"] == provision.model_id(new) != old_id
        assert info["slot"] == r["slot"] != info0["slot"]
        assert int(info["gen"]) == int(r["gen"]) == int(info0["gen"]) + 1
        assert info["fp16_weights"] == "1" and info["kv_heads"] == "1"
        # the logits follow the new model ...
        res = hil.compare(device, new, frames, mode="window", classify_every=50)
        assert res.ok, res.report()
        assert probe_bits(device, frames) != before
        # ... and no longer the old one
        res_old = hil.compare(device, new, frames, mode="window", classify_every=50,
                              reference_blob=hil_target.blob, localise=False)
        assert not res_old.ok
    finally:
        device.load_blob(hil_target.blob, chunk_size=1984)
    info = device.info()
    assert info["model"] == old_id and int(info["gen"]) == int(info0["gen"]) + 2
    assert probe_bits(device, frames) == before


# ---- bad blobs ----------------------------------------------------------------------------


def _recrc(b: bytearray) -> bytes:
    struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
    return bytes(b)


def _bad_crc(blob: bytes) -> bytes:
    b = bytearray(blob)
    b[100] ^= 0x40
    return bytes(b)


def _header(field_off: int, fmt: str, value: int):
    def make(blob: bytes) -> bytes:
        b = bytearray(blob)
        struct.pack_into(fmt, b, field_off, value)
        return _recrc(b)
    return make


def _truncated(blob: bytes) -> bytes:
    return blob[:-100]


def _seeded(**kw):
    def make(blob: bytes) -> bytes:
        b = rvne.parse(blob)
        args = dict(input_dim=b.input_dim, n_classes=b.n_classes, feature_set=1)
        args.update(kw)
        return hil.seeded_model(5, args.pop("input_dim"), args.pop("n_classes"), **args)
    return make


# name, builder, expected status, host reason (None: a valid blob the device refuses)
BAD = [
    ("bad-crc", _bad_crc, Status.INVALID_CRC, "crc_mismatch"),
    ("bad-version", _header(4, "<H", 2), Status.INVALID_VERSION, "bad_version"),
    ("bad-magic", _header(0, "<I", 0x12345678), Status.INVALID_ARG, "bad_magic"),
    ("bad-flags", _header(6, "<B", 0x06), Status.NOT_SUPPORTED, "bad_flags"),
    ("bad-shape-gqa", _header(12, "<H", 3), Status.INVALID_ARG, "bad_gqa"),
    ("bad-shape-zero-layers", _header(16, "<H", 0), Status.INVALID_ARG, "zero_dim"),
    ("bad-shape-one-class", _header(18, "<H", 1), Status.INVALID_ARG, "bad_classes"),
    ("bad-shape-weights", _header(14, "<H", 64), Status.INVALID_SIZE, "weights_overrun"),
    ("truncated", _truncated, Status.INVALID_SIZE, "length_mismatch"),
    ("wrong-input-dim", _seeded(input_dim=8, feature_set=1), Status.INVALID_SIZE, None),
    ("wrong-n-classes", _seeded(n_classes=3), Status.INVALID_SIZE, None),
    ("wrong-feature-set", _seeded(feature_set=2), Status.NOT_SUPPORTED, None),
    ("no-feature-set", _seeded(feature_set=None), Status.NOT_SUPPORTED, None),
]


@pytest.mark.parametrize(("name", "make", "status", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_blob_rejected_old_model_kept(device, hil_target, name, make, status,
                                         reason) -> None:
    if "feature-set" in name:
        expect_fs = int(device.info().get("expect_fs", "0"))
        if expect_fs != 1:  # the cases below are built around csi-stats v1 (id 1)
            pytest.skip(f"the device expects feature set {expect_fs} (`info` expect_fs; "
                        "0 = any), these cases need 1 (csi-stats v1)")
    frames = hil.synthetic_frames(150, device.input_dim, seed=41)
    info0 = device.info()
    before = probe_bits(device, frames)
    bad = make(hil_target.blob)
    if reason is not None:  # the host parser agrees on the reason and the status
        with pytest.raises(BlobError) as he:
            rvne.parse(bad)
        assert he.value.reason == reason and he.value.status == status
    rejected0 = int(device.stats()["rejected"])
    with pytest.raises(DeviceError) as e:
        device.load_blob(bad, chunk_size=1984)
    assert e.value.status == status, f"{name}: {e.value}"
    assert "old model kept" in e.value.message or e.value.status == Status.INVALID_CRC
    info = device.info()
    assert (info["model"], info["slot"], info["gen"]) == (info0["model"], info0["slot"],
                                                         info0["gen"])
    assert int(device.stats()["rejected"]) >= rejected0 + 1
    assert probe_bits(device, frames) == before


def test_incomplete_upload_and_bad_chunks_keep_old_model(device, hil_target) -> None:
    frames = hil.synthetic_frames(150, device.input_dim, seed=42)
    info0 = device.info()
    before = probe_bits(device, frames)
    new = hil.seeded_model(78, device.input_dim, device.n_classes)
    crc = zlib.crc32(new) & 0xFFFFFFFF
    device.command(f"load begin {len(new)} {crc:08x}")
    half = new[:1000]
    device.command(f"load chunk 0 {zlib.crc32(half):08x} {half.hex()}")
    with pytest.raises(DeviceError) as e:   # commit before the last byte
        device.command("load commit")
    assert e.value.status == Status.INVALID_SIZE
    # an early commit does not end the session: the upload can go on ...
    r = device.command(f"load chunk 1000 {zlib.crc32(new[1000:2000]):08x} "
                       f"{new[1000:2000].hex()}")
    assert r.fields["next"] == "2000"
    # ... until it is aborted; then chunks are refused
    assert device.command("load abort").fields["was_active"] == "1"
    with pytest.raises(DeviceError) as e:
        device.command(f"load chunk 2000 {zlib.crc32(new[2000:3000]):08x} "
                       f"{new[2000:3000].hex()}")
    assert e.value.status == Status.INVALID_STATE
    # announced CRC differs from the bytes sent
    device.command(f"load begin {len(new)} {crc ^ 1:08x}")
    for off in range(0, len(new), 1984):
        c = new[off:off + 1984]
        device.command(f"load chunk {off} {zlib.crc32(c):08x} {c.hex()}")
    with pytest.raises(DeviceError) as e:
        device.command("load commit")
    assert e.value.status == Status.INVALID_CRC
    # chunk beyond the announced length
    device.command(f"load begin 100 {zlib.crc32(new[:100]):08x}")
    with pytest.raises(DeviceError) as e:
        device.command(f"load chunk 0 {zlib.crc32(new[:200]):08x} {new[:200].hex()}")
    assert e.value.status == Status.INVALID_SIZE
    assert device.command("load abort").fields["was_active"] == "1"
    info = device.info()
    assert (info["model"], info["gen"]) == (info0["model"], info0["gen"])
    assert probe_bits(device, frames) == before


# ---- power cut during an upload (virtual device) ------------------------------------------

KILL_POINTS = ["after-begin", "half-the-chunks", "all-chunks-no-commit"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_upload_killed_midway_keeps_old_model(vdev_factory, tmp_path, point) -> None:
    slots = tmp_path / "slots"
    a = hil.seeded_model(101)
    b = hil.seeded_model(102)
    c = hil.seeded_model(103)
    (tmp_path / "a.rvne").write_bytes(a)
    frames = hil.synthetic_frames(300, 16, seed=51)
    args = ("--slots", str(slots), "--model", str(tmp_path / "a.rvne"), "--window-len", "64")
    dev1 = vdev_factory(*args)
    cl = dev1.client()
    assert cl.info()["gen"] == "1"
    cl.load_blob(b)        # slot 1, generation 2: both slots now valid
    info_b = cl.info()
    assert info_b["model"] == provision.model_id(b) and info_b["gen"] == "2"
    before = probe_bits(cl, frames)
    stream_before = hil.compare(cl, b, frames, mode="stream", classify_every=50)
    assert stream_before.ok
    # upload C: it must go to slot 0 (generation 1, the inactive one) ...
    r = cl.command(f"load begin {len(c)} {zlib.crc32(c):08x}")
    assert r.fields["slot"] == "0"
    chunks = [(off, c[off:off + 1984]) for off in range(0, len(c), 1984)]
    n = {"after-begin": 0, "half-the-chunks": len(chunks) // 2,
         "all-chunks-no-commit": len(chunks)}[point]
    for off, ch in chunks[:n]:
        cl.command(f"load chunk {off} {zlib.crc32(ch):08x} {ch.hex()}")
    cl.close()
    dev1.kill()            # ... and the power goes
    assert dev1.proc.returncode != 0
    dev2 = vdev_factory(*args)
    cl2 = dev2.client()
    info = cl2.info()
    assert (info["model"], info["slot"], info["gen"]) == (info_b["model"], info_b["slot"], "2")
    assert probe_bits(cl2, frames) == before
    res = hil.compare(cl2, b, frames, mode="stream", classify_every=50)
    assert res.ok and [x.maxdiff for x in res.checks] == [x.maxdiff
                                                          for x in stream_before.checks]
    # slot 0 holds no valid model any more (erased by `load begin`), slot 1 untouched
    s0, s1 = ((slots / f).read_bytes() for f in ("slot_a.bin", "slot_b.bin"))
    assert not provision.check_slot(s0)[0].valid
    st1, blob1 = provision.check_slot(s1)
    assert st1.valid and st1.generation == 2 and blob1 == b
    # and the next upload works: generation 3 in slot 0
    r = cl2.load_blob(c)
    assert (r["slot"], r["gen"], r["model"]) == ("0", "3", provision.model_id(c))
    cl2.close()


def test_corrupted_active_slot_falls_back(vdev_factory, tmp_path) -> None:
    """A slot whose blob bytes rot on flash is refused at boot (CRC) and the
    other valid slot runs, with a log line naming the reason."""
    slots = tmp_path / "slots"
    a, b = hil.seeded_model(111), hil.seeded_model(112)
    (tmp_path / "a.rvne").write_bytes(a)
    args = ("--slots", str(slots), "--model", str(tmp_path / "a.rvne"))
    d1 = vdev_factory(*args)
    c1 = d1.client()
    c1.load_blob(b)
    c1.close()
    d1.close()
    raw = bytearray((slots / "slot_b.bin").read_bytes())
    raw[4096 + 500] ^= 0x01
    (slots / "slot_b.bin").write_bytes(bytes(raw))
    d2 = vdev_factory(*args, "--log-stderr")
    c2 = d2.client()
    info = c2.info()
    assert info["model"] == provision.model_id(a) and info["gen"] == "1"
