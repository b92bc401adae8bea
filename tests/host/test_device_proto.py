"""The console protocol end to end: ruv_vdev driven through device.py."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from ruv_temporal import native
from ruv_temporal.device import DeviceClient, VirtualDevice, find_vdev
from ruv_temporal.errors import DeviceError

D, Q, KV, HD, L, C = 16, 2, 1, 8, 2, 4


def make_blob(seed: int, d: int = D) -> bytes:
    """A valid RVNE v1 blob (docs/spec.md §5, FP32, no sections) with random weights."""
    n = L * (d * Q * HD + 2 * d * KV * HD + Q * HD * d) + d * C
    w = (np.random.default_rng(seed).standard_normal(n) * 0.1).astype("<f4").tobytes()
    head = struct.pack("<IHBB6HI", 0x52564E45, 1, 0, 0, d, Q, KV, HD, L, C, len(w))
    body = head + w
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def vdev_exe() -> Path:
    return find_vdev()


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "m1.bin"
    p.write_bytes(make_blob(1))
    return p


def model_id(blob: bytes) -> str:
    return f"{struct.unpack('<I', blob[-4:])[0]:08x}"


def test_info_and_banner(vdev_exe: Path, model_file: Path) -> None:
    with VirtualDevice(
        "--model", str(model_file), "--window-len", "64", exe=vdev_exe
    ) as dev:
        assert dev.banner is not None and dev.banner.startswith("@B ruv-temporal")
        info = dev.info()
        assert info["D"] == str(D) and info["C"] == str(C) and info["N"] == "64"
        assert info["model"] == model_id(model_file.read_bytes())
        assert info["slot"] == "0" and info["gen"] == "1" and info["layers"] == str(L)


def test_no_model_reports_not_found(vdev_exe: Path) -> None:
    with VirtualDevice(exe=vdev_exe) as dev:
        assert dev.info()["model"] == "none"
        with pytest.raises(DeviceError) as e:
            dev.classify()
        assert e.value.status == 0x105
        assert dev.selftest()["core"] == "ok"


@pytest.mark.parametrize(
    ("mode", "fp16"), [("window", False), ("stream", False), ("stream", True)]
)
def test_push_classify_matches_native(
    vdev_exe: Path, model_file: Path, mode: str, fp16: bool
) -> None:
    """Device logits and layer states equal the C core via ruv_temporal.native
    bit for bit, on randomized frames (more frames than the window)."""

    blob = model_file.read_bytes()
    frames = np.random.default_rng(7).standard_normal((40, D)).astype(np.float32)
    args = ["--model", str(model_file), "--window-len", "32", "--mode", mode]
    with VirtualDevice(*args, *(["--fp16"] if fp16 else []), exe=vdev_exe) as dev:
        dev.push(frames)
        logits = dev.classify()
        states = dev.layer_states()
    head = native.NativeHead(blob, window_len=32, mode=mode, kv_fp16=fp16)
    for f in frames:
        head.push(f)
    ref = np.asarray(head.classify(), dtype=np.float32)
    assert logits.view(np.uint32).tolist() == ref.view(np.uint32).tolist()
    for s in range(L + 1):
        r = np.asarray(head.layer_state(s), dtype=np.float32)
        assert states[s].view(np.uint32).tolist() == r.view(np.uint32).tolist()


def test_push_classify_roundtrip(vdev_exe: Path, model_file: Path) -> None:
    frames = np.random.default_rng(3).standard_normal((70, D)).astype(np.float32)
    with VirtualDevice("--model", str(model_file), exe=vdev_exe) as dev:
        got = dev.push(frames)
        assert got == {"accepted": 70, "dropped": 0, "resent": 0}
        a = dev.classify()
        assert a.dtype == np.float32 and a.shape == (C,)
        assert dev.last_argmax == int(np.argmax(a))
        assert dev.stats()["frames"] == "70"
        dev.reset()
        assert dev.stats()["frames"] == "0"
        with pytest.raises(DeviceError) as e:
            dev.classify()
        assert e.value.status == 0x103
        dev.push(frames)
        b = dev.classify()
        assert a.view(np.uint32).tolist() == b.view(np.uint32).tolist()  # deterministic


def test_upload_lifecycle(vdev_exe: Path, model_file: Path, tmp_path: Path) -> None:
    slots = tmp_path / "slots"
    new = make_blob(2)
    with VirtualDevice(
        "--slots", str(slots), "--model", str(model_file), exe=vdev_exe
    ) as dev:
        old_id = dev.info()["model"]
        seen: list[int] = []
        r = dev.load_blob(
            new, chunk_size=100, progress=lambda done, total: seen.append(done)
        )
        assert seen[-1] == len(new)
        assert (
            r["model"] == model_id(new) != old_id
            and r["slot"] == "1"
            and r["gen"] == "2"
        )
        assert dev.info()["model"] == model_id(new)
        # bad chunk CRC: rejected, upload aborted by the client, model unchanged
        bad = make_blob(3)
        dev.command(f"load begin {len(bad)} {zlib.crc32(bad):08x}")
        with pytest.raises(DeviceError) as e:
            dev.command(f"load chunk 0 00000000 {bad[:64].hex()}")
        assert e.value.status == 0x109
        with pytest.raises(DeviceError) as e:
            dev.command(
                f"load chunk 64 {zlib.crc32(bad[64:128]):08x} {bad[64:128].hex()}"
            )
        assert e.value.status == 0x103  # out of order
        dev.command("load abort")
        # wrong shape: refused at commit
        with pytest.raises(DeviceError) as e:
            dev.load_blob(make_blob(4, d=8))
        assert e.value.status == 0x104
        # corrupted total CRC
        corrupt = bytearray(make_blob(5))
        corrupt[40] ^= 1
        with pytest.raises(DeviceError) as e:
            dev.load_blob(bytes(corrupt))
        assert e.value.status == 0x109
        assert dev.info()["model"] == model_id(new)
    # restart: newest generation persists
    with VirtualDevice(
        "--slots", str(slots), "--model", str(model_file), exe=vdev_exe
    ) as dev:
        info = dev.info()
        assert info["model"] == model_id(new) and info["gen"] == "2"
        # interrupted upload then power cut
        third = make_blob(6)
        dev.command(f"load begin {len(third)} {zlib.crc32(third):08x}")
        dev.command(f"load chunk 0 {zlib.crc32(third[:200]):08x} {third[:200].hex()}")
    vd = VirtualDevice("--slots", str(slots), exe=vdev_exe)
    vd.kill()
    with VirtualDevice("--slots", str(slots), exe=vdev_exe) as dev:
        info = dev.info()
        assert info["model"] == model_id(new) and info["gen"] == "2"
        assert dev.load_blob(third)["gen"] == "3"


MALFORMED = [
    ("bogus", 0x106),
    ("push", 0x102),
    ("push 1", 0x102),
    ("push 0 ", 0x102),
    ("push 1 3f80", 0x104),
    ("push 2 " + "3f800000" * D, 0x104),
    ("push 1 " + "3f80000g" + "3f800000" * (D - 1), 0x102),
    ("push x " + "3f800000" * D, 0x102),
    ("layer", 0x102),
    ("layer 99", 0x102),
    ("layer -1", 0x102),
    ("mode fast", 0x102),
    ("mode stream fp16=2", 0x102),
    ("tx maybe", 0x102),
    ("load", 0x102),
    ("load chunk 0 00000000 00", 0x103),
    ("load commit", 0x103),
    ("load begin 99999999 00000000", 0x104),
    ("load begin 10 xyz", 0x102),
    ("classify now", 0x102),
    ("info " + "x " * 10, 0x104),
    ("#bad!id info", 0x102),
]


def test_malformed_commands(vdev_exe: Path, model_file: Path) -> None:
    with VirtualDevice("--model", str(model_file), exe=vdev_exe) as dev:
        for line, status in MALFORMED:
            reply = dev.raw_exchange(line)
            assert reply.startswith("@E "), (line, reply)
            assert int(reply.split()[2], 16) == status, (line, reply)
            assert dev.command("ping").cmd == "ping"
        # oversized line: discarded with an error, then the device answers
        reply = dev.raw_exchange("push 1 " + "0" * 5000)
        assert reply.startswith("@E - 0x104"), reply
        assert dev.info()["model"] == model_id(model_file.read_bytes())
        assert int(dev.stats()["rejected"]) == len(MALFORMED) + 1


def test_flood_drops_counted(vdev_exe: Path, model_file: Path) -> None:
    frames = np.zeros((300, D), dtype=np.float32)
    with VirtualDevice(
        "--model", str(model_file), "--consume-delay-us", "2000", exe=vdev_exe
    ) as dev:
        t0 = time.monotonic()
        got = dev.push(frames, wait=True, resend=False)
        assert time.monotonic() - t0 < 20
        st = dev.stats()
        assert got["dropped"] > 0 and int(st["dropped"]) == got["dropped"]
        assert int(st["frames"]) == got["accepted"] and st["depth"] == "32"
        assert any("queue full" in line for line in dev.log_lines)
        # With resend (the default) the refused suffixes are pushed again:
        # every frame arrives although the device dropped some on the way.
        dev.reset()
        st0 = dev.stats()
        got = dev.push(frames, wait=True)
        st = dev.stats()
        assert got["accepted"] == len(frames) == int(st["frames"]) and got["dropped"] == 0
        assert got["resent"] > 0
        assert int(st["dropped"]) - int(st0["dropped"]) == got["resent"]


def test_client_over_pipe_transport_reuses_ids(
    vdev_exe: Path, model_file: Path
) -> None:
    with VirtualDevice("--model", str(model_file), exe=vdev_exe) as dev:
        assert isinstance(dev, DeviceClient)
        for _ in range(3):
            assert dev.command("ping").cmd == "ping"


def test_telemetry_udp(vdev_exe: Path, model_file: Path) -> None:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3.0)
    port = sock.getsockname()[1]
    frames = np.random.default_rng(11).standard_normal((10, D)).astype(np.float32)
    try:
        with VirtualDevice(
            "--model",
            str(model_file),
            "--udp",
            f"127.0.0.1:{port}",
            "--node-id",
            "7",
            "--period-ms",
            "100",  # the Kconfig minimum
            exe=vdev_exe,
        ) as dev:
            dev.push(frames)
            logits = dev.classify()
            pkts = [sock.recv(100) for _ in range(3)]
            dev.set_telemetry(False)
            sent = int(dev.stats()["telemetry_sent"])
            time.sleep(0.2)
            assert int(dev.stats()["telemetry_sent"]) == sent
    finally:
        sock.close()
    seqs = []
    for p in pkts:
        assert len(p) == 40
        magic, ver, ncls, node = struct.unpack_from("<IHHB", p, 0)
        assert (magic, ver, ncls, node) == (0xC5110007, 1, C, 7)
        (seq,) = struct.unpack_from("<I", p, 20)
        seqs.append(seq)
        assert struct.unpack_from("<I", p, 36)[0] == zlib.crc32(p[:36]) & 0xFFFFFFFF
        assert p[24] == int(np.argmax(logits))
        top, gap = struct.unpack_from("<ff", p, 28)
        srt = np.sort(logits)
        assert np.float32(top) == srt[-1] and np.float32(gap) == np.float32(
            srt[-1] - srt[-2]
        )
    assert seqs == list(range(1, 4))
