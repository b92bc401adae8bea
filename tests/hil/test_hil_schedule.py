"""The classify schedule of the virtual device is the board's: one
``ruv_app_temporal_turn`` loop (docs/firmware.md) with absolute deadlines.
Stopping the process (a debugger halt, a long flash erase) makes it miss
deadlines: they are counted in ``stats ticks_missed`` and skipped — one
classification on resume, not a burst — and the phase is kept.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from ruv_temporal import hil
from ruv_temporal.device import floats_to_hex

pytestmark = pytest.mark.hil

PERIOD_MS = 100


def counters(client) -> tuple[int, int]:
    st = client.stats()
    return int(st["classifications"]), int(st["ticks_missed"])


def test_missed_deadlines_are_counted_and_skipped(vdev_factory, tmp_path) -> None:
    blob = hil.seeded_model(401)
    (tmp_path / "m.rvne").write_bytes(blob)
    proc = vdev_factory("--model", str(tmp_path / "m.rvne"), "--period-ms", str(PERIOD_MS))
    client = proc.client()
    try:
        assert client.info()["sched"] == "1"
        frame = np.linspace(-1, 1, 16, dtype=np.float32)
        client.command(f"push 1 {floats_to_hex(frame)}")
        time.sleep(0.65)
        c0, m0 = counters(client)
        assert c0 >= 4 and m0 <= 1, (c0, m0)   # on schedule (a loaded CI host may slip one)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.75)                    # >= 6 deadlines pass while stopped
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.03)
        c1, m1 = counters(client)
        assert m1 - m0 >= 5, (m0, m1)
        assert c1 - c0 <= 3, (c0, c1)           # no burst of late classifications
        time.sleep(0.5)
        c2, m2 = counters(client)
        assert m2 - m1 <= 1                     # back on schedule
        assert 3 <= c2 - c1 <= 7, (c1, c2)
    finally:
        client.close()
