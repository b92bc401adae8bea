"""csi-stats v1: the C front-end (libruv_csi.so) vs the NumPy mirror.

Tolerance per feature: |c - ref| <= PARITY_TOL * (1 + |ref|), PARITY_TOL =
1e-4 (docs/features.md). State is carried across many frames on both sides.
"""

from __future__ import annotations

import numpy as np
import pytest

from ruv_temporal import features as F
from ruv_temporal import synth

pytestmark = pytest.mark.native


@pytest.fixture(scope="module")
def native() -> type[F.NativeCsiStats]:
    return F.load_native()


def _assert_parity(c: np.ndarray, ref: np.ndarray, what: str) -> float:
    assert c.shape == ref.shape
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(ref))
    err = np.abs(c.astype(np.float64) - ref.astype(np.float64)) / (1.0 + np.abs(ref))
    worst = float(err.max()) if err.size else 0.0
    if worst > F.PARITY_TOL:
        t, k = np.unravel_index(int(err.argmax()), err.shape)
        pytest.fail(f"{what}: frame {t} feature {F.FEATURE_NAMES[k]}: C {c[t, k]!r} vs "
                    f"NumPy {ref[t, k]!r} (rel {worst:.3g} > {F.PARITY_TOL})")
    return worst


def _random_stream(rng: np.random.Generator, t: int, n: int) -> tuple[np.ndarray, ...]:
    iq = rng.integers(-128, 128, (t, n, 2)).astype(np.int8)
    # null subcarriers: fixed guard/DC-like columns, sporadic zeros, all-null frames
    iq[:, rng.random(n) < 0.15] = 0
    iq[rng.random((t, n)) < 0.03] = 0
    iq[rng.random(t) < 0.04] = 0
    # weak subcarriers (|z| of 1), and a slowly varying channel so motion is small too
    weak = rng.random((t, n)) < 0.05
    iq[weak] = rng.integers(-1, 2, (int(weak.sum()), 2))
    calm = rng.random(t) < 0.3
    iq[1:][calm[1:]] = iq[:-1][calm[1:]]
    rssi = rng.integers(-100, -10, t)
    noise = rng.integers(-100, -80, t)
    return iq, rssi, noise


@pytest.mark.parametrize("n", [1, 2, 3, 7, 52, 64, 100, 128, 255, 256])
def test_random_frames(native: type[F.NativeCsiStats], n: int) -> None:
    rng = np.random.default_rng(1000 + n)
    iq, rssi, noise = _random_stream(rng, 300, n)
    ref = F.CsiStats().compute_many(iq, rssi, noise)
    c = native().compute_many(iq, rssi, noise)
    _assert_parity(c, ref, f"random n={n}")
    # the comparison is not vacuous: the stateful features are exercised
    assert np.count_nonzero(ref[:, F.F_MOTION]) > 100 or n < 3
    assert np.count_nonzero(ref[:, F.F_DEVIATION]) > 100 or n < 3


@pytest.mark.parametrize("activity", synth.ACTIVITIES)
def test_synthetic_sessions(native: type[F.NativeCsiStats], activity: str) -> None:
    for room in (0, 5):
        s = synth.generate_session(activity, room, 20.0)
        ref = s.features()
        c = native().compute_many(s.iq, s.rssi, s.noise_floor)
        _assert_parity(c, ref, f"synth {activity} room {room}")


def test_128_subcarriers_from_two_channels(native: type[F.NativeCsiStats]) -> None:
    """128 subcarriers (e.g. LLTF + HT-LTF) with null guards: two sessions side by side."""
    a = synth.generate_session("walking", 2, 15.0, rng=1)
    b = synth.generate_session("walking", 2, 15.0, rng=2)
    t = min(len(a), len(b))
    iq = np.concatenate([a.iq[:t], b.iq[:t]], axis=1)
    ref = F.csi_stats(iq, a.rssi[:t], a.noise_floor[:t])
    c = native().compute_many(iq, a.rssi[:t], a.noise_floor[:t])
    _assert_parity(c, ref, "n=128")


def test_subcarrier_count_changes_and_state(native: type[F.NativeCsiStats]) -> None:
    """One state across streams of 64, 128 and 64 subcarriers (motion restarts)."""
    rng = np.random.default_rng(7)
    py, cn = F.CsiStats(), native()
    for n in (64, 128, 64, 52, 52):
        iq, rssi, noise = _random_stream(rng, 60, n)
        ref = py.compute_many(iq, rssi, noise)
        c = cn.compute_many(iq, rssi, noise)
        _assert_parity(c, ref, f"chunk n={n}")
        assert ref[0, F.F_MOTION] == 0.0 or n == 52  # a new count breaks the chain


def test_extreme_frames(native: type[F.NativeCsiStats]) -> None:
    frames = []
    for fill in ((-128, -128), (127, 127), (-128, 127), (0, 1), (1, 0)):
        frames.append(np.tile(np.asarray(fill, np.int8), (64, 1)))
    one = np.zeros((64, 2), np.int8)
    one[10] = (5, -7)  # a single non-null subcarrier
    frames.append(one)
    alt = np.zeros((64, 2), np.int8)
    alt[::2] = (127, -128)
    alt[1::2] = (-128, 127)
    frames.append(alt)
    iq = np.stack(frames * 3)
    rssi = np.array([-128, 127, -1, 0, -60, -90, -30] * 3)
    noise = np.array([127, -128, -95, 0, -91, -92, -93] * 3)
    ref = F.csi_stats(iq, rssi, noise)
    c = native().compute_many(iq, rssi, noise)
    _assert_parity(c, ref, "extremes")


def test_bad_sizes_rejected_on_both_sides(native: type[F.NativeCsiStats]) -> None:
    cn, py = native(), F.CsiStats()
    rng = np.random.default_rng(3)
    iq, rssi, noise = _random_stream(rng, 4, 64)
    first_c = cn.compute(iq[0], int(rssi[0]), int(noise[0]))
    first_py = py.compute(iq[0], int(rssi[0]), int(noise[0]))
    big = np.zeros(2 * 257, np.int8)
    for n in (0, 257, 65535):
        status, _out = cn.compute_raw(big if n else b"", n, -50, -90)
        assert status == 0x104, (n, status)
        with pytest.raises(F.FeatureError) as ei:
            py.compute_many(np.zeros((1, n, 2), np.int8), -50, -90)
        assert ei.value.status == 0x104
    with pytest.raises(F.FeatureError):
        cn.compute(np.zeros(2 * 300, np.int8), -50, -90)
    # the rejected calls left both states alone
    rest_c = cn.compute_many(iq[1:], rssi[1:], noise[1:])
    rest_py = py.compute_many(iq[1:], rssi[1:], noise[1:])
    _assert_parity(np.vstack([first_c, rest_c]), np.vstack([first_py, rest_py]), "after errors")
