"""Host tools on bad input: one ``error:`` line, a documented exit code
(docs/cli.md), no traceback, nothing lost and nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ruv_temporal import recording, rvne, synth
from ruv_temporal.cli import main

REPO = Path(__file__).resolve().parents[2]
PARTITIONS_CSV = REPO / "partitions.csv"


def run(*args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(main, list(args))


def assert_one_error_line(res, code: int, *needles: str) -> None:  # noqa: ANN001
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()   # progress lines may come first
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert errors == lines[-1:] and errors[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output and "Aborted" not in res.output
    for n in needles:
        assert n in errors[0], errors[0]


def files_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


# ---- provision: sizes validated, nothing written on refusal -----------------------------


@pytest.mark.parametrize("value", ["banana", "64GB", "3MB", "1G", ""])
def test_provision_bad_flash_size(tmp_path: Path, value: str) -> None:
    image = tmp_path / "flash.bin"
    res = run("provision", "--via", "image", "--output", str(image), "--partition-table",
              str(PARTITIONS_CSV), "--flash-size", value, str(tmp_path / "model.rvne"))
    # the model path does not even exist: the size is refused first, by click
    assert_one_error_line(res, 2, "--flash-size")
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("value", ["1G", "banana", "4097", "4K", "64MB"])
def test_provision_bad_slot_size(tmp_path: Path, value: str) -> None:
    model = tmp_path / "model.rvne"
    model.write_bytes(rvne.init_random())
    res = run("provision", "--via", "slots", "--slots", str(tmp_path / "slots"), "--slot-size",
              value, str(model))
    assert_one_error_line(res, 2, "--slot-size")
    assert files_under(tmp_path) == [model]


def test_provision_sizes_accepted(tmp_path: Path) -> None:
    model = tmp_path / "model.rvne"
    model.write_bytes(rvne.init_random())
    res = run("provision", "--via", "slots", "--slots", str(tmp_path / "slots"), "--slot-size",
              "0x20000", "-q", str(model))
    assert res.exit_code == 0, res.output
    assert [p.stat().st_size for p in files_under(tmp_path / "slots")] == [0x20000] * 2
    res = run("provision", "--via", "image", "--output", str(tmp_path / "f.bin"),
              "--partition-table", str(PARTITIONS_CSV), "--flash-size", "8M", "-q", str(model))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "f.bin").stat().st_size == 8 << 20


def test_refused_image_run_leaves_no_image(tmp_path: Path) -> None:
    model = tmp_path / "model.rvne"
    model.write_bytes(rvne.init_random())
    no_slots = tmp_path / "no-slots.csv"   # a valid table, but without model_a / model_b
    no_slots.write_text("nvs, data, nvs, 0x9000, 0x6000\n"
                        "factory, app, factory, 0x10000, 0x180000\n")
    image = tmp_path / "flash.bin"
    res = run("provision", "--via", "image", "--output", str(image), "--partition-table",
              str(no_slots), str(model))
    assert_one_error_line(res, 2, "model_a")
    assert not image.exists()
    assert files_under(tmp_path) == sorted([model, no_slots])
    # an existing image is not touched by a refused run either
    ok = run("provision", "--via", "image", "--output", str(image), "--partition-table",
             str(PARTITIONS_CSV), "-q", str(model))
    assert ok.exit_code == 0, ok.output
    before = image.read_bytes()
    big = tmp_path / "big.rvne"   # 2.1 MB: larger than a 1 MB slot
    big.write_bytes(rvne.init_random(input_dim=256, n_q_heads=8, n_kv_heads=8, head_dim=32,
                                     n_layers=2, n_classes=4))
    res = run("provision", "--via", "image", "--output", str(image), str(big))
    assert_one_error_line(res, 2)
    assert image.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.rvne", "no-slots.csv", "flash.bin", "big.rvne"])


# ---- blob: bounded reads, real messages --------------------------------------------------


@pytest.mark.parametrize("cmd", [["inspect"], ["verify"], ["convert", "--fp16"]])
def test_blob_commands_read_at_most_the_limit(tmp_path: Path, cmd: list[str]) -> None:
    t0 = time.monotonic()
    args = ["blob", cmd[0], "/dev/zero", *cmd[1:]]
    if cmd[0] == "convert":
        args.insert(3, str(tmp_path / "out.rvne"))
    res = run(*args)
    assert_one_error_line(res, 2, "/dev/zero", str(rvne.MAX_BLOB_FILE_BYTES))
    assert time.monotonic() - t0 < 30
    assert files_under(tmp_path) == []


def test_read_blob_file_limit(tmp_path: Path) -> None:
    f = tmp_path / "b"
    f.write_bytes(b"x" * 101)
    assert rvne.read_blob_file(f, limit=101) == b"x" * 101
    with pytest.raises(rvne.BlobError) as e:
        rvne.read_blob_file(f, limit=100)
    assert e.value.reason == "file_too_large"


def test_blob_convert_add_norm_empty_file(tmp_path: Path) -> None:
    src = tmp_path / "m.rvne"
    src.write_bytes(rvne.init_random())
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    res = run("blob", "convert", "--add-norm", str(empty), str(src), str(tmp_path / "o.rvne"))
    assert_one_error_line(res, 2, "--add-norm", "empty file")
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy at all")
    res = run("blob", "convert", "--add-norm", str(garbage), str(src), str(tmp_path / "o.rvne"))
    assert_one_error_line(res, 2, "--add-norm", str(garbage))
    assert not (tmp_path / "o.rvne").exists()


def test_usage_errors_are_one_line() -> None:
    assert_one_error_line(run("blob", "nonsense"), 2, "nonsense", "--help")
    assert_one_error_line(run("blob", "inspect"), 2, "FILE")
    assert_one_error_line(run("provision", "--via", "floppy", "x"), 2, "--via")


# ---- record: --out checked first, SIGTERM/SIGHUP save -------------------------------------


def test_record_unwritable_out_refused_before_capture(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    t0 = time.monotonic()
    # without the check this would capture for 20 s and then fail to save
    res = run("record", "--udp", "5005", "--bind", "127.0.0.1", "--label", "still",
              "--out", str(blocker / "sessions"), "--duration", "20")
    assert_one_error_line(res, 2, "--out", "cannot write")
    assert time.monotonic() - t0 < 10
    assert files_under(tmp_path) == [blocker]


def test_record_creates_out_before_capture(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir"
    res = run("record", "--udp", "5005", "--bind", "127.0.0.1", "--label", "still",
              "--out", str(out), "--duration", "0.3")
    assert res.exit_code == 3 and "no frames received" in res.output  # nothing came
    assert out.is_dir() and list(out.iterdir()) == []


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_record_saves_on_termination_signal(tmp_path: Path, sig: str) -> None:
    port = _free_udp_port()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ruv_temporal", "record", "--udp", str(port), "--bind",
         "127.0.0.1", "--label", "still", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pkts = synth.generate_session("still", 0, 120.0, rng=3).to_packets(node_id=4)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            t0 = time.monotonic()
            for p in pkts:  # ~200 packets/s for up to 6 s: the recorder binds within that
                tx.sendto(p, ("127.0.0.1", port))
                time.sleep(0.005)
                if time.monotonic() - t0 > 6:
                    break
        time.sleep(0.3)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    (s,) = recording.load_dir(out)
    assert s.node == 4 and s.label == "still" and len(s) >= 10  # ~10 frames/s kept
    assert "wrote" in err and "Traceback" not in err
