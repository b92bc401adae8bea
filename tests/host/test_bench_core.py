"""tools/bench_core.py runs end to end and reports its ratios and callgrind counts.

No timing thresholds: timing belongs in the benchmark, not in the tests. This
only checks that a tiny --quick run produces every table's ratio line, an
instruction count > 0 for the streamed frame and the classify, and a memory
table whose parts add up to the arena.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.native

REPO = Path(__file__).resolve().parents[2]


def test_bench_core_quick(tmp_path: Path) -> None:
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
    assert cg["stream frame (context 192)"]["ir"] > 0
    assert cg["window classify (full ring of 256)"]["ir"] > 0
    assert cg["stream amortised over 40 frames"]["driver"]["rebases"] >= 1
    for m in data["mem"]:
        assert m["required_bytes"] == m["arena_bytes"] > 0
        assert m["parts"] < m["arena_bytes"]
    assert {f["n"] for f in data["fwd"]} == {64, 128}
