"""``ruv-temporal hil``: exit codes and the per-layer report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import hil, provision, rvne
from ruv_temporal.cli import main

pytestmark = pytest.mark.hil


def run(*args: str):
    return CliRunner().invoke(main, ["hil", *args])


def test_vdev_agrees(hil_target) -> None:
    if not hil_target.is_vdev:
        pytest.skip("starts its own virtual device")
    r = run("--vdev", "--frames", "800", "--mode", "stream", "--fp16")
    assert r.exit_code == 0, r.output
    assert "HIL AGREE" in r.output and "layer 2  OK" in r.output
    assert "rebases: device" in r.output
    assert "link: clean, " in r.output and "no resend" in r.output


def test_no_recover_is_protocol_1(hil_target) -> None:
    if not hil_target.is_vdev:
        pytest.skip("starts its own virtual device")
    r = run("--vdev", "--frames", "200", "--no-recover")
    assert r.exit_code == 0, r.output
    assert "HIL AGREE" in r.output and "link:" not in r.output


def test_port_uploads_model_then_agrees(vdev_factory, tmp_path: Path) -> None:
    a, b = hil.seeded_model(401), hil.seeded_model(402, attn=(8, 4, (0,)))
    (tmp_path / "a.rvne").write_bytes(a)
    (tmp_path / "b.rvne").write_bytes(b)
    d = vdev_factory("--model", str(tmp_path / "a.rvne"), "--window-len", "48")
    r = run("--port", d.port, "--model", str(tmp_path / "b.rvne"), "--frames", "600",
            "--no-upload")
    assert r.exit_code == 3 and "--no-upload" in r.output
    r = run("--port", d.port, "--model", str(tmp_path / "b.rvne"), "--frames", "600")
    assert r.exit_code == 0, r.output
    assert f"uploading model {provision.model_id(b)}" in r.output
    assert "N=48" in r.output


def test_mismatch_exit_1_with_layer_report(vdev_factory, tmp_path: Path) -> None:
    a = hil.seeded_model(411)
    p = rvne.parse(a)
    wo = np.array(p.layers[0].wo)
    wo[3, 2] -= 0.5
    p.layers[0].wo = wo
    other = rvne.build(p)   # differs in layer 1's output projection only
    (tmp_path / "a.rvne").write_bytes(a)
    (tmp_path / "o.rvne").write_bytes(other)
    d = vdev_factory("--model", str(tmp_path / "a.rvne"))
    r = run("--port", d.port, "--model", str(tmp_path / "a.rvne"), "--frames", "200",
            "--reference-model", str(tmp_path / "o.rvne"))
    assert r.exit_code == 1, r.output
    assert "HIL MISMATCH" in r.output and "first diverging frame: 0" in r.output
    assert "layer 1  MISMATCH" in r.output and "layer 0  OK" in r.output


def test_usage_and_device_errors(tmp_path: Path) -> None:
    assert run().exit_code == 2
    assert run("--port", "x", "--vdev").exit_code == 2
    r = run("--port", str(tmp_path / "no-such-tty"), "--frames", "10")
    assert r.exit_code == 3 and "error:" in r.output
    bad = tmp_path / "bad.rvne"
    bad.write_bytes(b"RVNE but not really")
    r = run("--port", str(tmp_path / "no-such-tty"), "--model", str(bad))
    # 19 bytes: shorter than the 28-byte minimum, refused before any port is opened
    assert r.exit_code == 2, r.output
    assert "too_short" in r.output, r.output


def test_exact_agrees_on_the_vdev(hil_target) -> None:
    if not hil_target.is_vdev:
        pytest.skip("starts its own virtual device")
    r = run("--vdev", "--exact", "--frames", "700", "--mode", "stream", "--fp16")
    assert r.exit_code == 0, r.output
    assert "exact vs host C core (libruv_temporal, zero tolerance): 0 differing bits" in r.output
    for name in ("layer 0 ", "layer 1 ", "layer 2 ", "logits  "):
        assert f"{name} OK, 0 differing values" in r.output


def test_exact_few_ulp_weights_exit_1(vdev_factory, tmp_path: Path) -> None:
    """The reference model's last output projection is scaled by 1 + 2^-20
    (a few ulps per weight): far inside the NumPy tolerance, yet --exact
    reports it at the last stage and exits 1."""
    a = hil.seeded_model(421)
    p = rvne.parse(a)
    p.layers[1].wo = np.array(p.layers[1].wo, np.float32) * np.float32(1 + 2**-20)
    other = rvne.build(p)
    (tmp_path / "a.rvne").write_bytes(a)
    (tmp_path / "o.rvne").write_bytes(other)
    d = vdev_factory("--model", str(tmp_path / "a.rvne"))
    common = ("--port", d.port, "--model", str(tmp_path / "a.rvne"), "--frames", "200",
              "--reference-model", str(tmp_path / "o.rvne"))
    r = run(*common)
    assert r.exit_code == 0, r.output          # tolerance alone cannot see one ulp
    r = run(*common, "--exact")
    assert r.exit_code == 1, r.output
    assert "HIL MISMATCH" in r.output and "zero tolerance): MISMATCH" in r.output
    assert "layer 0  OK, 0 differing values" in r.output
    assert "layer 1  OK, 0 differing values" in r.output
    assert "layer 2  MISMATCH" in r.output
    assert "first differing frame: 0 (replayed" in r.output
