"""``ruv-temporal demo --quick --no-live``: the main job, end to end, small.

Generates scenarios, trains a tiny model, provisions it into the virtual
device through the console upload path, streams a held-out room and checks
every device classification against the NumPy reference.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")


def test_demo_quick_no_live(tmp_path) -> None:
    from ruv_temporal.cli import main
    from ruv_temporal.device import find_vdev
    from ruv_temporal.errors import RuvError

    try:
        find_vdev()
    except (RuvError, OSError) as exc:
        pytest.skip(f"virtual device unavailable: {exc}")
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--quick", "--no-live", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "DEVICE AGREES WITH THE REFERENCE" in res.output
    assert "argmax agreement" in res.output and "100.0%" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True
    assert summary["argmax_agreement_pct"] == 100.0
    assert summary["max_abs_diff"] <= 1e-4
    assert summary["classifications"] > 0 and summary["frames"] > 0
    assert summary["streamed_room"] in summary["heldout_rooms"]
    assert summary["device_stats"]["frames"] is not None
    # the streamed room was never trained on
    metrics = json.loads((out / "model" / "metrics.json").read_text())
    assert summary["streamed_room"] not in metrics["train_rooms"]
    assert metrics["parity"]["ok"]
    lines = (out / "stream.jsonl").read_text().splitlines()
    assert len(lines) == summary["classifications"]
    for name in ("model.rvne", "curves.png", "confusion.png"):
        assert (out / "model" / name).stat().st_size > 0
