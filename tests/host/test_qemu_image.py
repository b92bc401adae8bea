"""ruv_temporal.qemu without QEMU: the flash image a board gets from
`idf.py flash` (merge of flash_args), slot extraction from it, and where
QEMU is looked for (docs/qemu.md). The emulator itself runs in the HIL
suite (`--hil-qemu`, tools/idf_build.sh)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ruv_temporal import provision, qemu
from ruv_temporal.errors import RuvError

ROOT = Path(__file__).resolve().parents[2]


def fake_build(tmp_path: Path, model: bytes) -> Path:
    build = tmp_path / "build"
    (build / "bootloader").mkdir(parents=True)
    (build / "partition_table").mkdir()
    # esptool merge-bin takes the files as they are; an app image's header is not checked
    (build / "bootloader" / "bootloader.bin").write_bytes(b"\xe9" + b"B" * 255)
    (build / "app.bin").write_bytes(b"\xe9" + b"A" * 4095)
    table = provision.build_partition_table(
        provision.parse_partitions_csv((ROOT / "partitions.csv").read_text()))
    (build / "partition_table" / "partition-table.bin").write_bytes(table)
    parts = {p.label: p for p in provision.parse_partition_table(table)}
    (build / "model.rvne").write_bytes(model)
    (build / "flash_args").write_text(
        "--flash_mode dio --flash_freq 80m --flash_size 4MB\n"
        "0x0 bootloader/bootloader.bin\n"
        f"0x{parts['factory'].offset:x} app.bin\n"
        "0x8000 partition_table/partition-table.bin\n"
        f"0x{parts['model_a'].offset:x} model.rvne\n")
    return build


def test_merge_image_is_what_idf_py_flash_writes(tmp_path: Path) -> None:
    model = provision.default_model()
    build = fake_build(tmp_path, model)
    out = qemu.merge_image(build, tmp_path / "flash.bin")
    image = out.read_bytes()
    assert len(image) == 4 * 1024 * 1024
    table = (build / "partition_table" / "partition-table.bin").read_bytes()
    assert image[0x8000:0x8000 + 32] == table[:32]
    slot_a, slot_b = provision.image_slots(image)
    assert slot_a[:len(model)] == model and set(slot_a[len(model):]) == {0xFF}
    assert set(slot_b) == {0xFF}


def test_merge_image_refuses_a_directory_without_flash_args(tmp_path: Path) -> None:
    with pytest.raises(RuvError, match="flash_args"):
        qemu.merge_image(tmp_path, tmp_path / "flash.bin")


def test_image_slots_names_a_missing_partition() -> None:
    table = provision.build_partition_table(
        [provision.Partition("factory", 0, 0, 0x10000, 0x100000)])
    image = bytearray(b"\xff" * 0x200000)
    image[0x8000:0x8000 + len(table)] = table
    with pytest.raises(RuvError, match="model_a"):
        provision.image_slots(bytes(image))


def test_find_qemu_looks_where_the_installer_puts_it(tmp_path: Path, monkeypatch) -> None:
    exe = tmp_path / "tools" / "qemu-xtensa" / "esp_develop_9.2.2_20250817" / "qemu" / "bin" / \
        "qemu-system-xtensa"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("IDF_TOOLS_PATH", str(tmp_path))
    assert qemu.find_qemu() == exe
    monkeypatch.setenv("IDF_TOOLS_PATH", str(tmp_path / "nothing"))
    assert qemu.find_qemu() is None


def test_cli_image_error_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "ruv_temporal", "qemu", "image", "--build-dir",
                        str(tmp_path), "-o", str(tmp_path / "f.bin")],
                       capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 2, r  # bad input (docs/cli.md)
    assert r.stderr.strip().startswith("error:") and "flash_args" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
