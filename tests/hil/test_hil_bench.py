"""The console `bench` command (docs/protocol.md, "Bench") and `ruv-temporal
bench device`: the figures are consistent with the stream schedule of
docs/spec.md §4, and benching leaves the live model's state untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import hil, provision
from ruv_temporal.cli import main
from ruv_temporal.cli.bench import parse_bench_reply

pytestmark = pytest.mark.hil


def expected_rebases(frames: int, n: int) -> int:
    """Rebasing pushes among ``frames`` pushes that follow ``n`` fill pushes
    (caches full: the first one rebases, then every ``n - n // 2``)."""
    return 1 + (frames - 1) // (n - n // 2)


def test_bench_figures_and_live_state_untouched(device, hil_target) -> None:
    frames = hil.synthetic_frames(150, device.input_dim, seed=31)
    device.set_mode("stream", False)
    device.reset()
    device.push(frames)
    before = (device.classify().view(np.uint32).tolist(),
              device.layer_states().view(np.uint32).tolist(), device.stats())
    n = int(device.info()["N"])
    for fp16 in (0, 1):
        r = parse_bench_reply(device.command(f"bench stream 300 fp16={fp16}", timeout=600).fields)
        assert (r["what"], r["N"], r["fp16"], r["frames"]) == ("stream", n, fp16, 300)
        assert r["unit"] in ("cycles", "cpu_ns", "ns")
        assert r["rebases"] == expected_rebases(300, n)
        assert r["steady_n"] + r["rebases"] == 300
        assert 0 < r["steady_min"] <= r["steady"] < r["rebase"] <= r["rebase_max"]
        # amortised is the mean of all measured pushes: between its parts
        total = r["steady"] * r["steady_n"] + r["rebase"] * r["rebases"]
        assert abs(r["amortised"] * 300 - total) <= 300 + r["steady_n"] + r["rebases"]
        assert r["model"] == device.info()["model"] and r["arena"] > 0
    w = parse_bench_reply(device.command("bench window 2", timeout=600).fields)
    assert (w["what"], w["N"], w["reps"]) == ("window", n, 2)
    assert 0 < w["classify_min"] <= w["classify"] <= w["classify_max"]
    after = (device.classify().view(np.uint32).tolist(),
             device.layer_states().view(np.uint32).tolist(), device.stats())
    assert after[0] == before[0] and after[1] == before[1]
    for key in ("frames", "rebases", "context", "ring", "push_errors"):
        assert after[2][key] == before[2][key], key
    if device.info().get("sched") != "1":  # a running classify schedule adds its own
        assert int(after[2]["classifications"]) == int(before[2]["classifications"]) + 1


def test_bench_refuses_bad_requests(device) -> None:
    from ruv_temporal.errors import DeviceError

    for line in ("bench", "bench stream 0", "bench stream 100001", "bench window 0",
                 "bench stream 10 fp16=2", "bench walk"):
        with pytest.raises(DeviceError) as e:
            device.command(line)
        assert e.value.status == 0x102 and "usage: bench" in str(e.value)


def test_cli_bench_device_on_the_vdev(hil_target) -> None:
    if not hil_target.is_vdev:
        pytest.skip("starts its own virtual device")
    r = CliRunner().invoke(main, ["bench", "device", "--vdev", "--frames", "200",
                                  "--window-len", "64", "--reps", "1", "--json", "-"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output[r.output.index("{"):])
    assert res["default_model"] is True
    assert res["device"]["model"] == provision.model_id(provision.default_model())
    assert res["device"]["N"] == "64"
    assert set(res["runs"]) == {"window", "stream", "stream_fp16"}
    assert res["runs"]["stream"]["rebases"] == expected_rebases(200, 64)
    assert res["runs"]["stream_fp16"]["fp16"] == 1
    r = CliRunner().invoke(main, ["bench", "device", "--vdev", "--frames", "100",
                                  "--window-len", "64", "--reps", "1", "--no-fp16"])
    assert r.exit_code == 0, r.output
    assert "window: one classify, full ring of 64" in r.output
    assert "stream (FP32 KV): amortised over 100 frames" in r.output
    assert "FP16" not in r.output


def test_cli_bench_device_needs_one_target() -> None:
    r = CliRunner().invoke(main, ["bench", "device"])
    assert r.exit_code == 2 and "exactly one of --port PORT or --vdev" in r.output
