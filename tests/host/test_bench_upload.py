"""tools/bench_upload.py runs end to end: both readers upload the default
model to the virtual device over a pty and the report has both rows and the
ratios. No timing threshold (timing belongs in the benchmark)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruv_temporal.device import find_vdev

REPO = Path(__file__).resolve().parents[2]


def test_bench_upload_reports_both_readers() -> None:
    find_vdev()  # builds it when missing
    r = subprocess.run([sys.executable, str(REPO / "tools" / "bench_upload.py"), "--reps", "1",
                        "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {m.group(1): float(m.group(2)) for m in
            re.finditer(r"^(bytewise|whole)\s+\d+\s+([0-9.]+)", r.stdout, re.M)}
    assert set(rows) == {"bytewise", "whole"} and all(v > 0 for v in rows.values()), r.stdout
    assert re.search(r"ratio bytewise/whole: wall median [0-9.]+x", r.stdout), r.stdout
