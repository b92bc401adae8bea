"""Synthetic CSI (ruv_temporal.synth) and the NumPy feature front-end."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ruv_temporal import features as F
from ruv_temporal import packets, synth
from ruv_temporal.errors import RuvError

ROOMS = range(8)


@pytest.fixture(scope="module")
def sessions() -> dict[str, list[synth.Session]]:
    return {a: [synth.generate_session(a, r, 30.0) for r in ROOMS] for a in synth.ACTIVITIES}


@pytest.fixture(scope="module")
def feats(sessions: dict[str, list[synth.Session]]) -> dict[str, list[np.ndarray]]:
    return {a: [s.features() for s in ss] for a, ss in sessions.items()}


def test_activities_fixed_order() -> None:
    assert synth.ACTIVITIES == ("absent", "still", "breathing", "walking", "gesturing", "falling")


def test_session_shapes_and_layout(sessions: dict[str, list[synth.Session]]) -> None:
    for activity, ss in sessions.items():
        for s in ss:
            n = len(s)
            assert 240 <= n <= 300  # 30 s at 10 Hz minus lost packets
            assert s.iq.shape == (n, synth.N_SUBCARRIERS, 2) and s.iq.dtype == np.int8
            assert s.rssi.shape == s.noise_floor.shape == (n,)
            assert s.rssi.dtype == s.noise_floor.dtype == np.int8
            assert s.labels.shape == (n,) and s.labels.dtype == np.int64
            assert np.all(np.diff(s.timestamps_us) > 0)
            assert np.all(np.diff(s.seq.astype(np.int64)) >= 1) and s.seq[0] == 1
            assert np.all(s.iq[:, synth.NULL_SUBCARRIERS] == 0)
            used = s.iq[:, ~synth.NULL_SUBCARRIERS].astype(np.int32)
            assert np.mean(np.any(used != 0, axis=2)) > 0.95  # (0, 0) only in deep fades
            assert np.all(s.rssi < s.noise_floor.astype(np.int32) + 100)
            assert np.all(s.rssi > s.noise_floor)
            if activity != "falling":
                assert np.all(s.labels == synth.ACTIVITIES.index(activity))
            f = s.features()
            assert f.shape == (n, F.DIM) and f.dtype == np.float32
            assert np.all(np.isfinite(f))
    # packet loss happens somewhere
    assert any(np.any(np.diff(s.seq) > 1) for ss in sessions.values() for s in ss)


def test_determinism_by_seed() -> None:
    a = synth.generate_session("walking", 3, 5.0, rng=7)
    b = synth.generate_session("walking", 3, 5.0, rng=np.random.default_rng(7))
    c = synth.generate_session("walking", 3, 5.0, rng=8)
    d = synth.generate_session("walking", 4, 5.0, rng=7)
    for name in ("iq", "rssi", "noise_floor", "labels", "timestamps_us", "seq"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.iq, c.iq)
    assert not np.array_equal(a.iq, d.iq)
    # rooms differ in their static channel
    h3, h4 = synth.Room.from_seed(3).static_channel(), synth.Room.from_seed(4).static_channel()
    assert not np.allclose(np.abs(h3), np.abs(h4))
    # the default rng is derived from (room, activity): reproducible
    e = synth.generate_session("still", 2, 3.0)
    f = synth.generate_session("still", 2, 3.0)
    assert np.array_equal(e.iq, f.iq)


def _mean_feature(feats: dict[str, list[np.ndarray]], activity: str, idx: int) -> float:
    return float(np.mean([f[:, idx].mean() for f in feats[activity]]))


def test_activities_ordered_by_motion_energy(feats: dict[str, list[np.ndarray]]) -> None:
    dev = {a: _mean_feature(feats, a, F.F_DEVIATION) for a in synth.ACTIVITIES}
    mot = {a: _mean_feature(feats, a, F.F_MOTION) for a in synth.ACTIVITIES}
    # slow motion energy (deviation from the reference profile)
    assert dev["absent"] < dev["still"] <= dev["breathing"] < dev["walking"]
    assert dev["still"] < dev["gesturing"]
    # frame-to-frame motion: large movements stand far above the quiet classes
    quiet = max(mot["absent"], mot["still"], mot["breathing"])
    assert 2 * quiet < mot["gesturing"] < mot["walking"]
    assert abs(mot["absent"] - mot["still"]) < 0.5 * mot["absent"]


def test_breathing_is_periodic(sessions: dict[str, list[synth.Session]],
                               feats: dict[str, list[np.ndarray]]) -> None:
    """The profile of a breathing session oscillates at 0.1-0.5 Hz."""
    hits = 0
    for f in feats["breathing"]:
        x = f[:, F.F_PROFILE0:F.F_PROFILE0 + F.PROFILE_GROUPS]
        x = x - x.mean(0)
        spec = np.abs(np.fft.rfft(x, axis=0)).sum(1)
        freqs = np.fft.rfftfreq(x.shape[0], d=0.1)
        band = (freqs >= 0.08) & (freqs <= 0.55)
        hits += int(spec[band].max() > 3 * np.median(spec[freqs > 1.0]))
    assert hits >= 6


def test_falling_burst_then_stillness(sessions: dict[str, list[synth.Session]],
                                      feats: dict[str, list[np.ndarray]]) -> None:
    fall = synth.ACTIVITIES.index("falling")
    for s, f in zip(sessions["falling"], feats["falling"], strict=True):
        ev = s.events
        onset, end, label_end = ev["fall_onset"], ev["fall_end"], ev["fall_label_end"]
        assert 0 < onset < end < label_end < len(s)
        assert np.all(s.labels[onset:label_end] == fall)
        assert not np.any(s.labels[:onset] == fall) and not np.any(s.labels[label_end:] == fall)
        m = f[:, F.F_MOTION]
        pre = float(np.mean(m[max(1, onset - 50):onset]))
        burst = float(np.max(m[onset:end + 3]))
        post = float(np.mean(m[end + 15:end + 60]))
        assert burst > 4 * pre
        assert post < 1.5 * pre + 0.01


def test_make_dataset_shapes_rooms_and_speed() -> None:
    t0 = time.perf_counter()
    ds = synth.make_dataset(8, synth.ACTIVITIES, sessions=1, seconds=60.0, seed=3)
    elapsed = time.perf_counter() - t0
    assert elapsed < 15.0, f"6 activities x 8 rooms x 60 s took {elapsed:.1f} s"
    n = len(ds)
    assert ds.x.shape == (n, 64, F.DIM) and ds.x.dtype == np.float32
    assert ds.y.shape == ds.room.shape == ds.session.shape == (n,)
    assert set(np.unique(ds.room)) == set(ROOMS)
    counts = np.bincount(ds.y, minlength=len(synth.ACTIVITIES))
    assert np.all(counts > 100), counts
    assert ds.class_names == synth.ACTIVITIES
    train, test = ds.split_rooms([6, 7])
    assert len(train) + len(test) == n
    assert set(np.unique(test.room)) == {6, 7} and not np.isin(train.room, [6, 7]).any()
    again = synth.make_dataset([0], ["falling"], sessions=1, seconds=30.0, seed=3)
    same = synth.make_dataset([0], ["falling"], sessions=1, seconds=30.0, seed=3)
    assert np.array_equal(again.x, same.x) and np.array_equal(again.y, same.y)
    # fall windows contain the whole fall
    assert np.any(again.y == synth.ACTIVITIES.index("falling"))


def _summaries(x: np.ndarray) -> np.ndarray:
    m, s = x.mean(1), x.std(1)
    mx = x[:, :, [F.F_MOTION, F.F_DEVIATION]].max(1)
    return np.concatenate([m[:, [1, 2, 3, 4, 12]], s[:, [0, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13]],
                           mx], 1)


def test_held_out_rooms_are_learnable() -> None:
    """A linear model on window summaries beats chance (1/6) on unseen rooms:
    the activity signatures generalise across rooms."""
    ds = synth.make_dataset(8, sessions=1, seconds=60.0, seed=1)
    train, test = ds.split_rooms([6, 7])
    xtr, xte = _summaries(train.x), _summaries(test.x)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-9
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    w = np.zeros((xtr.shape[1], 6))
    b = np.zeros(6)
    y1 = np.eye(6)[train.y]
    for _ in range(1500):
        z = xtr @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - y1) / len(y1)
        w -= 0.5 * (xtr.T @ g + 1e-3 * w)
        b -= 0.5 * g.sum(0)
    acc = float(np.mean((xte @ w + b).argmax(1) == test.y))
    assert acc > 0.45, acc


def test_bad_arguments() -> None:
    with pytest.raises(synth.SynthError):
        synth.generate_session("dancing", 0, 1.0)
    with pytest.raises(synth.SynthError):
        synth.generate_session("still", 0, 0.0)
    with pytest.raises(synth.SynthError):
        synth.make_dataset(1, ["nope"])
    with pytest.raises(synth.SynthError):
        synth.make_dataset(1, ["still"], seconds=1.0, window=64)
    assert issubclass(synth.SynthError, RuvError)


def test_packet_export_round_trip() -> None:

    s = synth.generate_session("gesturing", 5, 3.0, rng=1)
    pkts = s.to_packets(node_id=9)
    assert len(pkts) == len(s)
    for t, p in enumerate(pkts):
        assert int.from_bytes(p[:4], "little") == 0xC5110001
        assert len(p) == 20 + 2 * synth.N_SUBCARRIERS
        d = packets.decode_raw_csi(p)
        assert d.node_id == 9 and d.seq == s.seq[t] and d.n_subcarriers == 64
        assert d.rssi == s.rssi[t] and d.noise_floor == s.noise_floor[t]
        assert d.freq_mhz == synth.FREQ_MHZ
        # the payload is the driver's L-LTF buffer: (imag, real), order 0..31, -32..-1
        drv = np.asarray(d.iq, np.int8).reshape(64, 2)
        assert np.array_equal(drv[:, ::-1], np.concatenate([s.iq[t, 32:], s.iq[t, :32]]))
        assert np.array_equal(F.lltf_from_esp(d.iq.tobytes()), s.iq[t])


# ---------------------------------------------------------------- features (NumPy side)


def test_feature_names_and_constants() -> None:
    assert len(F.FEATURE_NAMES) == F.DIM == 16
    assert F.FEATURE_NAMES[F.F_MOTION] == "motion"
    assert F.FEATURE_NAMES[F.F_RSSI_DEV] == "rssi_dev"
    assert F.FEATURE_SET_STATS_V1 == 1


@pytest.mark.parametrize("n", [0, 257, 300])
def test_features_reject_bad_sizes(n: int) -> None:
    with pytest.raises(F.FeatureError) as ei:
        F.csi_stats(np.zeros((2, n, 2), np.int8), -50, -90)
    assert ei.value.status == 0x104


def test_features_reject_bad_input() -> None:
    with pytest.raises(F.FeatureError):
        F.csi_stats(np.zeros((2, 64, 2), np.float32), -50, -90)
    with pytest.raises(F.FeatureError):
        F.csi_stats(np.full((2, 64, 2), 200), -50, -90)
    with pytest.raises(F.FeatureError):
        F.csi_stats(np.zeros((2, 64, 3), np.int8), -50, -90)
    with pytest.raises(F.FeatureError):
        F.CsiStats().compute(np.zeros(5, np.int8), -50, -90)
    with pytest.raises(F.FeatureError):
        F.csi_stats(np.zeros((2, 64, 2), np.int8), [1, 2, 3], -90)


def test_features_state_carries_across_calls() -> None:
    """Frame by frame, chunked, and in one call: the same bits."""
    s = synth.generate_session("walking", 1, 4.0, rng=3)
    whole = s.features()
    one = F.CsiStats()
    by_frame = np.stack([one.compute(s.iq[t], int(s.rssi[t]), int(s.noise_floor[t]))
                         for t in range(len(s))])
    chunked = F.CsiStats()
    parts = [chunked.compute_many(s.iq[a:a + 7], s.rssi[a:a + 7], s.noise_floor[a:a + 7])
             for a in range(0, len(s), 7)]
    assert np.array_equal(whole, by_frame)
    assert np.array_equal(whole, np.concatenate(parts))


def test_features_known_values() -> None:
    iq = np.zeros((3, 64, 2), np.int8)
    iq[:, 6:59] = (3, 4)   # |z| = 5
    iq[:, 32] = 0          # DC null
    iq[2, 6:32] = (6, 8)   # half the band doubles
    f = F.csi_stats(iq, [-40, -40, -24], -92)
    assert f[0, F.F_AMP_MEAN] == pytest.approx(5.0)
    assert f[0, F.F_AMP_CV] == pytest.approx(0.0, abs=1e-7)
    assert f[1, F.F_MOTION] == 0.0 and f[1, F.F_DEVIATION] == 0.0
    assert f[2, F.F_MOTION] > 0.3
    assert f[2, F.F_MOTION_EMA] == pytest.approx(0.25 * f[2, F.F_MOTION])
    assert f[2, F.F_DEVIATION] == pytest.approx(f[2, F.F_MOTION])
    assert f[0, F.F_SNR] == 52.0 and f[2, F.F_RSSI_DEV] == 16.0
    assert np.allclose(f[0, F.F_PROFILE0:F.F_PROFILE0 + 6], 1.0)
    # all-null frame: zeros except the RSSI features
    z = F.csi_stats(np.zeros((1, 64, 2), np.int8), -70, -90)
    assert np.all(z[0, :F.F_RSSI] == 0) and z[0, F.F_SNR] == 20.0
