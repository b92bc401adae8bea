"""Soak: >= 100,000 frames in batched pushes, memory high-water marks flat.

Stream mode (every frame decodes through all layers; a rebase every N/2
frames once full), classifications on the way checked against the reference
(a window forward over the current stream context, which stream mode
reproduces with an FP32 cache, docs/spec.md §4). Memory figures after a warm-up of
10,000 frames must not grow:

* ``stats`` ``arena`` (bytes the core allocated at init): constant;
* on a board, ``heap_min_free`` (heap low-water mark) and the two tasks'
  stack high-water marks (``temporal_stack_free``, ``console_stack_free``)
  must not drop; the virtual device reports 0 there ("not measured");
* on the virtual device, VmRSS and VmHWM of the ruv_vdev process
  (/proc/<pid>/status) must not grow by more than 64 KiB.
"""

from __future__ import annotations

import numpy as np
import pytest

from ruv_temporal import hil
from ruv_temporal.device import floats_to_hex, hex_to_floats
from ruv_temporal.model import TemporalHead

pytestmark = [pytest.mark.hil, pytest.mark.slow]

WARMUP = 10_000
PROBE_EVERY = 10_000
CHECK_EVERY = 5_000
RSS_SLACK = 64 * 1024


def test_soak_memory_flat(device, hil_target, hil_soak_frames) -> None:
    n_total = hil_soak_frames
    dim = device.input_dim
    head = TemporalHead.from_blob(hil_target.blob)
    device.set_mode("stream", False)
    device.reset()
    window_len = int(device.info()["N"])
    queued = int(device.stats()["depth"]) > 0
    per = min(hil.per_line(dim), 16 if queued else 10**9)
    # 20,000 distinct frames, cycled (the reference needs only the context)
    pool = hil.synthetic_frames(20_000, dim, seed=71)

    def frame_block(start: int, stop: int) -> np.ndarray:
        idx = np.arange(start, stop) % pool.shape[0]
        return pool[idx]

    probes: list[tuple[int, dict[str, int]]] = []
    checks: list[float] = []

    def handle(tag: tuple[str, int], r) -> None:
        if tag[0] == "classify":
            t = tag[1]
            start = hil.stream_context_start(t, window_len)
            ref = head.forward(frame_block(start, t + 1))
            dev = hex_to_floats(r.fields["logits"])
            checks.append(float(np.max(np.abs(dev - ref))))
            assert int(np.argmax(dev)) == int(np.argmax(ref)), t
        else:
            assert int(r.fields["dropped"]) == 0

    pushed = 0
    pipe = hil.Pipeline(device, depth=1 if queued else 32)
    while pushed < n_total:
        stop = min(n_total, pushed + per)
        pipe.submit(f"push {stop - pushed} {floats_to_hex(frame_block(pushed, stop))}",
                    ("push", stop - pushed))
        if queued:
            for tag, r in pipe.results():
                handle(tag, r)
            device.wait_idle(timeout=30)
        pushed = stop
        if pushed % CHECK_EVERY < per or pushed == n_total:
            pipe.submit("classify", ("classify", pushed - 1))
        if pushed % PROBE_EVERY < per or pushed == n_total:
            for tag, r in pipe.results():
                handle(tag, r)
            probes.append((pushed, hil.memory_probe(device, hil_target.pid)))
    pipe.results()
    st = device.stats()
    assert int(st["frames"]) == n_total and st["push_errors"] == "0"
    n, keep = window_len, window_len // 2
    assert int(st["rebases"]) == 1 + (n_total - 1 - n) // (n - keep)
    assert len(checks) >= n_total // CHECK_EVERY
    assert max(checks) <= hil.LOGIT_ATOL, max(checks)
    warm = [m for at, m in probes if at >= WARMUP]
    assert len(warm) >= 2
    first, last = warm[0], warm[-1]
    lines = [f"{at:>7} frames: " + " ".join(f"{k}={v}" for k, v in sorted(m.items()))
             for at, m in probes]
    print("\nsoak memory probes:\n" + "\n".join(lines))
    assert len({m["arena"] for _at, m in probes}) == 1 and first["arena"] > 0
    if first["heap_min_free"] > 0:   # a board: the low-water marks must hold
        assert last["heap_min_free"] >= first["heap_min_free"]
    for key in ("temporal_stack_free", "console_stack_free"):
        if first[key] > 0:
            assert last[key] >= first[key], key
    if hil_target.pid is not None:
        for key in ("VmRSS", "VmHWM"):
            growth = last[key] - first[key]
            assert growth <= RSS_SLACK, f"{key} grew by {growth} bytes after warm-up"
