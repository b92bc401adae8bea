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


# ---- exact comparison (host C core, zero tolerance) --------------------------------------


def _flip(a: np.ndarray, index: int, bit: int) -> np.ndarray:
    out = np.array(a, np.float32).reshape(-1).copy()
    out.view(np.uint32)[index] ^= np.uint32(1 << bit)
    return out.reshape(np.shape(a))


def test_exact_reports_one_flipped_bit() -> None:
    """One flipped mantissa LSB in one value of one stage of one
    classification: counted (1 value, 1 bit), located (frame, stage, index)
    with both hex patterns, and the result fails; identical inputs pass."""
    rng = np.random.default_rng(4)
    states = rng.standard_normal((3, 16)).astype(np.float32)
    logits = rng.standard_normal(4).astype(np.float32)
    ex = hil.ExactResult.for_layers(2)
    assert ex.add(49, logits, list(states), logits, states) == 0
    bad = _flip(states, 1 * 16 + 7, 0)        # stage 1, index 7, bit 0
    assert ex.add(99, logits, list(bad), logits, states) == 1
    assert ex.add(149, logits, list(states), logits, states) == 0
    assert not ex.ok
    assert ex.first_frame == 99 and ex.first_tensor == "layer 1"
    t = ex.tensors[1]
    assert (t.values, t.differing, t.bits) == (48, 1, 1)
    assert t.first == (99, 7, int(bad[1].view(np.uint32)[7]), int(states[1].view(np.uint32)[7]))
    assert all(x.ok for i, x in enumerate(ex.tensors) if i != 1)
    text = "\n".join(ex.lines())
    dev_hex = f"{int(bad[1].view(np.uint32)[7]):08x}"
    ref_hex = f"{int(states[1].view(np.uint32)[7]):08x}"
    assert "layer 0  OK, 0 differing values (48 compared)" in text
    assert (f"layer 1  MISMATCH, 1 differing values of 48 (1 bits); first at frame 99 index 7: "
            f"device {dev_hex} host C {ref_hex}") in text
    assert "first differing classification: after frame 99, layer 1 index 7" in text
    assert "logits   OK, 0 differing values (12 compared)" in text


def test_exact_is_bitwise_not_numeric() -> None:
    """-0.0 vs +0.0 and two NaN payloads compare equal as numbers (or never
    equal), yet differ in bits: exact counts them; a missing stage (short
    reply) counts every value of it; a sign flip counts one bit."""
    t = hil.ExactTensor("logits")
    assert t.add(0, np.array([-0.0, 1.0], np.float32), np.array([0.0, 1.0], np.float32)) == 1
    nan_a = np.array([0x7FC00001], np.uint32).view(np.float32)
    nan_b = np.array([0x7FC00002], np.uint32).view(np.float32)
    assert t.add(1, nan_a, nan_b) == 1
    assert t.add(2, nan_a, nan_a) == 0
    assert t.bits == 1 + 2
    assert t.first == (0, 0, 0x80000000, 0x00000000)
    short = hil.ExactTensor("layer 2")
    assert short.add(5, np.zeros(0, np.float32), np.zeros(16, np.float32)) == 16
    assert not short.ok and "device gave 0 values, host C 16" in short.line()
    assert not hil.ExactTensor("layer 0").ok  # nothing compared is not a pass


@pytest.mark.hil
@pytest.mark.parametrize("mode", ["window", "stream"])
def test_exact_catches_a_one_ulp_input_change(device, hil_target, hil_exact, mode) -> None:
    """The references see frame 137 with one feature one ulp off. The NumPy
    tolerance cannot see that; the exact comparison with the host C core
    must: it fails, names the first differing classification (after frame
    149) and the replay finds frame 137. (Needs a device whose bits equal
    the host C's, so it runs where exact comparison is on.)"""
    if not hil_exact:
        pytest.skip("exact comparison off for this target (--hil-exact turns it on)")
    frames = hil.synthetic_frames(400, device.input_dim, seed=24)
    ref_frames = frames.copy()
    ref_frames[137, 3] = np.nextafter(ref_frames[137, 3], np.float32(np.inf))
    res = hil.compare(device, hil_target.blob, frames, mode=mode, reference_frames=ref_frames,
                      classify_every=50, exact=True)
    text = res.report()
    print("\n" + text)
    assert res.tolerance_ok            # NumPy, 1e-4: no difference visible
    assert res.exact is not None and not res.exact.ok and not res.ok
    assert res.exact.first_frame == 149
    # frame 149's own input row is untouched: attention over frame 137 first
    assert res.exact.first_tensor == "layer 1"
    assert res.exact.replayed_frame == 137
    # at frame 137 itself the normalised input (stage 0) differs, at index 3
    assert res.exact.replayed is not None and res.exact.replayed.first_tensor == "layer 0"
    assert res.exact.replayed.tensors[0].first[:2] == (137, 3)
    assert "HIL MISMATCH" in text
    assert "first differing frame: 137 (replayed, classify after every frame), layer 0 index 3" \
        in text
    assert "layer 1  MISMATCH" in text


@pytest.mark.hil
def test_exact_device_equals_host_c_in_every_mode(device, hil_target, hil_exact) -> None:
    """A compact exact run (window, stream FP32, stream FP16 with rebases):
    0 differing bits. Runs where exact comparison is on (the virtual device;
    --hil-exact elsewhere); test_logits_match_reference does the 5,000-frame
    runs per mode."""
    if not hil_exact:
        pytest.skip("exact comparison off for this target (--hil-exact turns it on)")
    frames = hil.synthetic_frames(700, device.input_dim, seed=25)
    for mode, fp16 in (("window", False), ("stream", False), ("stream", True)):
        res = hil.compare(device, hil_target.blob, frames, mode=mode, kv_fp16=fp16,
                          classify_every=25, exact=True)
        assert res.ok and res.exact is not None and res.exact.ok, res.report()
        assert res.exact.classifications == 28
        if mode == "stream" and res.window_len <= 256:
            assert res.exact.host_rebases == res.exact.device_rebases
