"""tools/bench_core.py runs end to end and its instruction counts obey the design.

No timing thresholds: timing belongs in the benchmark, not in the tests.
Instruction counts (callgrind) are deterministic, so a tiny --quick run can
check relations that must hold whatever the machine: sparse attention
executes fewer instructions than dense at the same n, the two-pass dense more
than the one-pass one, a sparse decode step barely grows with the context
(a dense one would double), a full window forward costs far more than one
streamed frame, and re-running a recorded measurement gives the same count.
The memory table's parts add up to the arena.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.native

REPO = Path(__file__).resolve().parents[2]


def test_bench_core_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed: the benchmark targets cannot be built")
    if shutil.which("cc") is None and shutil.which("gcc") is None and shutil.which("clang") is None:
        pytest.skip("no C compiler installed: the benchmark targets cannot be built")
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed (tools/setup.sh installs it): "
                    "no callgrind counts to check")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench_core.py"), "--quick", "--sizes", "64,128",
         "--contexts", "256,512", "--frames", "40", "--reps", "1", "--min-ms", "1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    text = proc.stdout
    for needle in ("ratio dense/sparse at n=128", "ratio dense/sparse in instructions",
                   "ratio NumPy/C at n=128", "ratio growth orig", "ratio growth device",
                   "ratio amortised/steady frame", "ratio FP16 KV / FP32 KV"):
        assert needle in text, f"{needle!r} missing from the report:\n{text}"

    data = json.loads(out.read_text())
    cg = {r["label"]: r for r in data["callgrind"]}
    ir = {label: r["ir"] for label, r in cg.items()}
    # attention at n = 128 (the largest size of this run), same inputs for all three
    assert cg["sparse"]["driver"]["n"] == cg["dense"]["driver"]["n"] == 128
    assert ir["sparse"] < ir["dense1"] < ir["dense"], ir
    assert data["ratios"]["fwd_ir"]["dense_over_sparse"] == ir["dense"] / ir["sparse"]
    # a decode step sees a candidate set that barely grows with the context
    for conf in ("orig", "device"):
        for fp16 in ("", " FP16"):
            small, large = ir[f"decode {conf} ctx 256{fp16}"], ir[f"decode {conf} ctx 512{fp16}"]
            assert small < large < 1.5 * small, (conf, fp16, small, large)
    # one streamed frame is one decode step; the window classify a 256-row forward
    assert 0 < 10 * ir["stream frame (context 192)"] < ir["window classify (full ring of 256)"]
    assert ir["empty region"] < 1000  # the toggled region holds only the measured call
    assert cg["stream amortised over 40 frames"]["driver"]["rebases"] >= 1
    # deterministic: the same measurement again gives the same count
    spec = importlib.util.spec_from_file_location("bench_core", REPO / "tools" / "bench_core.py")
    bench_core = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_core", bench_core)  # dataclasses look it up
    spec.loader.exec_module(bench_core)
    driver = Path(data["bins"]["callgrind_driver"])
    for label in ("sparse", "stream frame (context 192)"):
        again = bench_core.callgrind_one(
            driver, bench_core.CgRun(label, cg[label]["args"]), tmp_path).result
        assert again["ir"] == ir[label], (label, again["ir"], ir[label])
    for m in data["mem"]:
        assert m["required_bytes"] == m["arena_bytes"] > 0
        assert m["parts"] < m["arena_bytes"]
    assert {f["n"] for f in data["fwd"]} == {64, 128}
