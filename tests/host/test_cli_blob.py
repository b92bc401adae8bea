"""``ruv-temporal blob`` and ``ruv-temporal monitor`` through click's CliRunner."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import packets as P
from ruv_temporal import rvne
from ruv_temporal.cli import main


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.output


def test_init_inspect_convert_verify(tmp_path: Path) -> None:
    a = tmp_path / "a.rvne"
    code, out = run("blob", "init", "--out", str(a))
    assert code == 0, out
    assert "41244 bytes" in out and "0xDC807956" in out
    assert a.read_bytes() == rvne.init_random()

    code, out = run("blob", "inspect", str(a))
    assert code == 0, out
    assert "0xDC807956" in out and "layer1.wo" in out and "41,244" in out
    assert "default: no ATTN section" in out

    code, out = run("blob", "inspect", "--json", str(a))
    info = json.loads(out)
    assert info["dims"] == {"input_dim": 16, "n_q_heads": 4, "n_kv_heads": 1, "head_dim": 32,
                            "n_layers": 2, "n_classes": 4}
    assert info["crc32"] == "0xDC807956" and info["sections"] == [] and not info["fp16"]
    assert sum(r["size"] for r in info["layout"]) == 41_244

    norm = tmp_path / "norm.npz"
    mean = np.arange(16, dtype=np.float32)
    np.savez(norm, mean=mean, std=np.full(16, 4.0))
    b = tmp_path / "sub" / "b.rvne"
    code, out = run("blob", "convert", str(a), str(b), "--fp16", "--labels", "still,walk,fall,x",
                    "--attn", "64,16,0,5,nolog", "--add-norm", str(norm),
                    "--input-feature-set", "1", "--frame-rate", "20", "--meta", "hello")
    assert code == 0, out
    p = rvne.parse(b.read_bytes())
    assert p.fp16 and p.labels == ["still", "walk", "fall", "x"] and p.meta == "hello"
    assert (p.attn.window, p.attn.block_size, tuple(p.attn.global_tokens), p.attn.log_stride,
            p.attn.landmarks) == (64, 16, (0, 5), False, True)
    assert p.input == rvne.InputSection(1, 2000)
    assert np.array_equal(p.norm[0], mean) and np.allclose(p.norm[1], 0.25)
    src = rvne.parse(a.read_bytes())
    assert np.array_equal(p.wc, src.wc.astype(np.float16).astype(np.float32))

    code, out = run("blob", "verify", str(b))
    assert code == 0 and out.startswith("OK") and "FP16" in out
    code, out = run("blob", "inspect", str(b))
    assert code == 0 and "0=still" in out and "W=64" in out and "section LABELS" in out

    # back to FP32 and strip sections
    c = tmp_path / "c.rvne"
    code, out = run("blob", "convert", str(b), str(c), "--fp32", "--strip", "labels",
                    "--strip", "norm", "--strip", "meta")
    assert code == 0, out
    q = rvne.parse(c.read_bytes())
    assert not q.fp16 and q.labels is None and q.norm is None and q.attn is not None


def test_init_options_and_fp16(tmp_path: Path) -> None:
    out_path = tmp_path / "x.rvne"
    code, out = run("blob", "init", "-D", "8", "--q-heads", "4", "--kv-heads", "2",
                    "--head-dim", "4", "--layers", "1", "--classes", "3", "--seed", "0x1234",
                    "--fp16", "-o", str(out_path))
    assert code == 0, out
    p = rvne.parse(out_path.read_bytes())
    assert p.fp16 and p.dims == (8, 4, 2, 4, 1, 3)
    ref = rvne.parse(rvne.init_random(8, 4, 2, 4, 1, 3, seed=0x1234))
    assert np.array_equal(p.wc, ref.wc.astype(np.float16).astype(np.float32))
    code, out = run("blob", "init", "--q-heads", "3", "--kv-heads", "2", "-o", str(out_path))
    assert code == 2 and "multiple" in out
    code, out = run("blob", "init", "--seed", "banana", "-o", str(out_path))
    assert code == 2


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d[:20], "too_short"),
        (lambda d: b"X" + d[1:], "bad_magic"),
        (lambda d: d[:-1], "length_mismatch"),
        (lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], "crc_mismatch"),
        (lambda d: d[:4] + b"\x02\x00" + d[6:], "bad_version"),
    ],
)
def test_verify_rejects_with_reason(tmp_path: Path, mutate, reason: str) -> None:
    f = tmp_path / "bad.rvne"
    f.write_bytes(mutate(rvne.init_random()))
    code, out = run("blob", "verify", str(f))
    assert code == 1
    assert out.startswith("REJECTED") and reason in out
    code, out = run("blob", "verify", "--json", str(f))
    assert code == 1 and json.loads(out)["reason"] == reason
    # inspect/convert of a bad blob: bad input (2), reason printed, no traceback
    code, out = run("blob", "inspect", str(f))
    assert code == 2 and reason in out and "Traceback" not in out
    code, out = run("blob", "convert", str(f), str(tmp_path / "o.rvne"))
    assert code == 2 and reason in out


def test_verify_shape_rejection_after_crc(tmp_path: Path) -> None:
    d = bytearray(rvne.init_random())
    d[10:12] = (3).to_bytes(2, "little")  # q_heads 3 with kv_heads 1 -> size mismatch
    d[12:14] = (2).to_bytes(2, "little")  # kv 2: 3 % 2 != 0
    d[-4:] = (zlib.crc32(bytes(d[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
    f = tmp_path / "g.rvne"
    f.write_bytes(bytes(d))
    code, out = run("blob", "verify", str(f))
    assert code == 1 and "bad_gqa" in out and "0x102" in out


def test_cli_usage_errors(tmp_path: Path) -> None:
    a = tmp_path / "a.rvne"
    a.write_bytes(rvne.init_random())
    code, out = run("blob", "verify", str(tmp_path / "missing.rvne"))
    assert code == 2
    code, out = run("blob", "convert", str(a), str(tmp_path / "b"), "--labels", "a,b")
    assert code == 2 and "2 labels for 4 classes" in out
    code, out = run("blob", "convert", str(a), str(tmp_path / "b"), "--attn", "x")
    assert code == 2
    bad_norm = tmp_path / "n.npy"
    np.save(bad_norm, np.zeros((2, 3), np.float32))
    code, out = run("blob", "convert", str(a), str(tmp_path / "b"), "--add-norm", str(bad_norm))
    assert code == 2 and "shape" in out
    good_norm = tmp_path / "g.npy"
    np.save(good_norm, np.ones((2, 16), np.float32))
    code, out = run("blob", "convert", str(a), str(tmp_path / "b"), "--add-norm", str(good_norm))
    assert code == 0, out


# ----------------------------------------------------------------------------- monitor


def _capture(tmp_path: Path) -> Path:
    out = bytearray(b"\xff\xfe boot log line\n")
    for s in range(1, 11):
        out += P.encode_temporal_result_from_logits([0.0, 1.0, 0.25, 0.5], node_id=1, seq=s,
                                                    ts_us=s * 500_000)
        if s != 5:  # node 2 loses one result
            out += P.encode_temporal_result_from_logits([3.0, 1.0, 0.5, 0.0], node_id=2, seq=s,
                                                        ts_us=s * 1_000_000)
        out += b"noise"
    out += P.encode_feature_state(1, 1, 123, motion=0.5)
    bad = bytearray(P.encode_temporal_result(3, 1, 0, 4, 0, 1.0, 0.5))
    bad[30] ^= 0x40
    out += bad
    out += P.encode_raw_csi(4, 1, np.zeros(16, np.int8))
    out += P.encode_temporal_result(1, 11, 0, 4, 0, 1.0, 0.5)[:20]  # cut at the end
    f = tmp_path / "cap.bin"
    f.write_bytes(bytes(out))
    return f


def test_monitor_file_json(tmp_path: Path) -> None:
    f = _capture(tmp_path)
    code, out = run("monitor", "--file", str(f), "--json", "--labels", "a,b,c,d")
    assert code == 0, out
    st = json.loads(out)
    nodes = {n["node"]: n for n in st["nodes"]}
    assert set(nodes) == {1, 2, 4}
    n1, n2 = nodes[1], nodes[2]
    assert (n1["seq"], n1["argmax"], n1["label"], n1["results"], n1["lost"]) == (10, 1, "b", 10, 0)
    assert n1["top_logit"] == 1.0 and n1["margin"] == 0.5
    assert n1["rate_hz"] == pytest.approx(2.0) and n1["feature_states"] == 1
    assert (n2["seq"], n2["argmax"], n2["results"], n2["lost"]) == (10, 0, 9, 1)
    # 9 results over 9 s (one lost): 8 intervals
    assert n2["margin"] == 2.0 and n2["rate_hz"] == pytest.approx(8 / 9)
    assert nodes[4]["raw_csi"] == 1 and nodes[4]["seq"] is None
    c = st["counts"]
    assert c["packets"] == 19 + 1 + 1 and c["bad_crc"] == 1 and c["truncated"] == 1
    assert c["garbage_bytes"] == len(b"\xff\xfe boot log line\n") + 10 * len(b"noise")


def test_monitor_file_table(tmp_path: Path) -> None:
    f = _capture(tmp_path)
    blob = tmp_path / "m.rvne"
    b = rvne.parse(rvne.init_random())
    b.labels = ["still", "walk", "fall", "other"]
    blob.write_bytes(rvne.build(b))
    code, out = run("monitor", "--file", str(f), "--blob", str(blob))
    assert code == 0, out
    assert "1 walk" in out and "0 still" in out and "bad_crc 1" in out and "truncated 1" in out


def test_monitor_errors(tmp_path: Path) -> None:
    code, out = run("monitor")
    assert code == 2 and "exactly one" in out
    code, out = run("monitor", "--file", "a", "--udp", "5005")
    assert code == 2
    code, out = run("monitor", "--file", str(tmp_path / "missing.bin"))
    assert code == 3 and "cannot read" in out and "Traceback" not in out
    code, out = run("monitor", "--port", str(tmp_path / "no-such-tty"), "--once")
    assert code == 3 and "cannot open" in out
    bad_blob = tmp_path / "bad.rvne"
    bad_blob.write_bytes(b"nope")
    code, out = run("monitor", "--file", str(bad_blob), "--blob", str(bad_blob))
    assert code == 2 and "too_short" in out


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_monitor_udp_loopback(tmp_path: Path) -> None:
    port = _free_udp_port()
    stop = threading.Event()

    def sender() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        seq = 0
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            seq += 1
            s.sendto(b"garbage!", ("127.0.0.1", port))
            s.sendto(P.encode_temporal_result(7, seq, seq * 1000, 4, 3, 2.5, 1.5),
                     ("127.0.0.1", port))
            time.sleep(0.05)
        s.close()

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        code, out = run("monitor", "--udp", str(port), "--bind", "127.0.0.1", "--once",
                        "--duration", "8", "--json")
    finally:
        stop.set()
        t.join()
    assert code == 0, out
    st = json.loads(out)
    node = st["nodes"][0]
    assert node["node"] == 7 and node["argmax"] == 3 and node["top_logit"] == 2.5
    assert st["counts"]["packets"] >= 1
