"""The comparison engine can fail, and says where.

Fed a reference that deliberately differs from the device (another weight
in one layer, or one altered frame), the engine must report a mismatch and
localise it: the first diverging frame and the first diverging layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from ruv_temporal import hil, rvne
from ruv_temporal.model import TemporalHead


def perturbed(blob: bytes, layer: int, delta: float = 0.25) -> bytes:
    b = rvne.parse(blob)
    wo = np.array(b.layers[layer].wo, np.float32)
    wo[0, 0] += delta
    b.layers[layer].wo = wo
    return rvne.build(b)


@pytest.mark.hil
@pytest.mark.parametrize("mode", ["window", "stream"])
def test_engine_reports_a_different_model(device, hil_target, mode) -> None:
    """Layer 2's output projection differs: stages 0 and 1 agree, stage 2 and
    the logits do not; the very first classification already diverges."""
    layers = int(device.info()["layers"])
    wrong = perturbed(hil_target.blob, layers - 1)
    frames = hil.synthetic_frames(400, device.input_dim, seed=21)
    res = hil.compare(device, hil_target.blob, frames, mode=mode, reference_blob=wrong,
                      classify_every=50)
    text = res.report()
    print("\n" + text)
    assert not res.ok
    assert res.localisation is not None
    assert res.localisation.first_frame == 0
    assert res.localisation.first_stage == layers
    for s in range(layers):
        assert f"layer {s}  OK" in text
    assert f"layer {layers}  MISMATCH" in text
    assert "logits   MISMATCH" in text
    assert "first diverging frame: 0" in text


@pytest.mark.hil
@pytest.mark.parametrize("mode", ["window", "stream"])
def test_engine_finds_the_first_diverging_frame(device, hil_target, mode) -> None:
    """The reference sees one altered frame (index 137): the engine replays,
    finds frame 137 and stage 0 (the normalised input) as the first divergence."""
    frames = hil.synthetic_frames(400, device.input_dim, seed=22)
    ref_frames = frames.copy()
    ref_frames[137, 3] += 1.0
    res = hil.compare(device, hil_target.blob, frames, mode=mode, reference_frames=ref_frames,
                      classify_every=50)
    print("\n" + res.report())
    assert not res.ok
    assert res.first_failure is not None and res.first_failure.frame == 149
    assert res.localisation is not None and res.localisation.first_frame == 137
    assert res.localisation.first_stage == 0
    assert all(c.ok for c in res.checks if c.frame < 137)


@pytest.mark.hil
def test_engine_tolerance_is_not_vacuous(device, hil_target) -> None:
    """A tiny weight change (well above float rounding, below nothing) is
    caught once it moves the logits by more than 1e-4."""
    wrong = perturbed(hil_target.blob, 0, delta=0.01)
    frames = hil.synthetic_frames(200, device.input_dim, seed=23)
    res = hil.compare(device, hil_target.blob, frames, mode="window", reference_blob=wrong,
                      classify_every=50, localise=False)
    assert not res.ok and res.max_logit_diff > 1e-4


# ---- no device needed ------------------------------------------------------------------


def test_stream_context_start_matches_the_reference_session() -> None:
    """The closed form used by the soak for cheap stream checks equals what
    StreamSession does (context length and rebases), and the stream logits
    equal a window forward over that context (FP32 cache)."""
    blob = hil.seeded_model(3)
    head = TemporalHead.from_blob(blob)
    for n in (16, 17, 64):
        ss = head.stream_session(n)
        frames = hil.synthetic_frames(5 * n + 3, 16, seed=n, source="random")
        for t, f in enumerate(frames):
            logits = ss.push(f)
            start = hil.stream_context_start(t, n)
            assert ss.context_len == t - start + 1, (n, t)
            if t % 7 == 0:
                ref = head.forward(frames[start:t + 1])
                # Same maths, different summation order (one BLAS matmul over
                # the window vs one row at a time), hidden states up to ~200:
                # the model-logit tolerance of the numerics contract (1e-4).
                # Seen: 4.5e-5 with OpenBLAS 0.3.31; a wrong context is O(1).
                assert np.max(np.abs(ref - logits)) <= 1e-4, (n, t)


def test_report_format() -> None:
    st = hil.stage_diffs(np.zeros((3, 4), np.float32), np.array([[0, 0, 0, 0], [0, 0, 0, 1e-3],
                                                                 [0, 1, 0, 0]], np.float32),
                         np.array([1, 2], np.float32), np.array([2, 1], np.float32))
    lines = [s.line() for s in st]
    assert lines[0].startswith("layer 0  OK       maxdiff=0.000e+00")
    assert lines[1].startswith("layer 1  MISMATCH maxdiff=1.000e-03")
    assert lines[3].startswith("logits   MISMATCH maxdiff=1.000e+00")
    assert "argmax device=1 reference=0" in lines[3]
    # NaN on the device is a mismatch, never "within tolerance"
    nan = hil.stage_diffs(np.full((1, 2), np.nan, np.float32), np.zeros((1, 2), np.float32),
                          None, None)
    assert not nan[0].ok
