"""Real CSI from real ESP32 nodes (RuView's recording): every raw frame goes
through the NumPy front-end and the C front-end (libruv_csi via ctypes),
driver buffer in, features out, one state per node on each side.

Tolerance: |C - NumPy| <= 1e-5 * (1 + |NumPy|) per feature. On the same
recording fewer than 2 % of the frames after a node's first have motion = 0
(the chain no longer breaks when a frame carries HT-LTF).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ruv_temporal import features as F
from ruv_temporal import ruview

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from real_csi import recording_files  # noqa: E402

pytestmark = pytest.mark.native
REAL_TOL = 1e-5


def test_real_recording_c_equals_numpy(px, capsys) -> None:
    files, what = recording_files()
    assert files, "no real CSI recording and no committed excerpt"
    native = F.load_native()
    frames_total = 0
    for path in files:
        frames, rep = ruview.read_jsonl(path)
        assert frames and not rep.bad, rep.to_json()
        py: dict[int, F.CsiStats] = {}
        cn: dict[int, F.NativeCsiStats] = {}
        ref_rows: dict[int, list[np.ndarray]] = {}
        c_rows: dict[int, list[np.ndarray]] = {}
        lengths: set[int] = set()
        for f in frames:
            if f.node not in py:
                py[f.node], cn[f.node] = F.CsiStats(), native()
                ref_rows[f.node], c_rows[f.node] = [], []
            lengths.add(len(f.payload))
            ref_rows[f.node].append(py[f.node].compute_esp(f.payload, f.rssi, 0))
            c_rows[f.node].append(cn[f.node].compute_esp(f.payload, f.rssi, 0))
        assert {128, 256} <= lengths, lengths  # L-LTF only and L-LTF + HT-LTF frames
        worst = 0.0
        zero_motion = after_first = 0
        for node in sorted(py):
            ref, c = np.stack(ref_rows[node]), np.stack(c_rows[node])
            assert np.all(np.isfinite(ref)) and np.all(np.isfinite(c))
            err = np.abs(c.astype(np.float64) - ref) / (1.0 + np.abs(ref.astype(np.float64)))
            t, k = np.unravel_index(int(err.argmax()), err.shape)
            assert err.max() <= REAL_TOL, (
                f"{path.name} node {node} frame {t} {F.FEATURE_NAMES[k]}: "
                f"C {c[t, k]!r} vs NumPy {ref[t, k]!r}")
            worst = max(worst, float(err.max()))
            zero_motion += int(np.count_nonzero(ref[1:, F.F_MOTION] == 0))
            after_first += len(ref) - 1
            # not vacuous: the stateful features move on real data
            assert np.count_nonzero(ref[:, F.F_DEVIATION]) > 0.9 * len(ref)
        frames_total += len(frames)
        frac = zero_motion / after_first
        px.record("real CSI features (rel)", worst)
        with capsys.disabled():
            print(f"\n{path.name} ({what}): {len(frames)} frames, nodes {sorted(py)}, "
                  f"buffer bytes {sorted(lengths)}, max rel |C - NumPy| {worst:.2e}, "
                  f"motion = 0 in {zero_motion}/{after_first} ({100 * frac:.2f} %)")
        assert frac < 0.02, f"{path.name}: motion = 0 in {100 * frac:.1f} % of frames"
    assert frames_total > 0


def _random_buffers(rng: np.random.Generator) -> list[bytes]:
    lengths = sorted({n for (_, n) in F.ESP_LAYOUTS} | {0, 2, 4, 64, 106, 114, 126, 130, 254,
                                                         382, 490, 610, 614, 1024})
    return [rng.integers(-128, 128, n, dtype=np.int8).tobytes() for n in lengths]


def test_layout_mapping_c_equals_numpy() -> None:
    """ruv_csi_lltf_from_esp vs lltf_from_esp on every length the driver sends
    and on lengths it does not, every secondary channel value, both
    first_word_invalid values: the same status and the same 64 (I, Q) pairs."""
    cn = F.load_native()()
    rng = np.random.default_rng(11)
    known = 0
    for buf in _random_buffers(rng):
        for sec in (0, 1, 2, 3):
            for fwi in (False, True):
                status, c_iq = cn.lltf_from_esp(buf, sec, fwi)
                layout = cn.esp_layout(len(buf), sec)
                try:
                    ref = F.lltf_from_esp(buf, sec, fwi) if sec <= 2 else None
                except F.CsiLayoutError:
                    ref = None
                if ref is None:
                    assert status == 0x106 and layout == 0, (len(buf), sec, status)
                    continue
                known += 1
                assert status == 0 and layout != 0, (len(buf), sec, status)
                assert np.array_equal(c_iq, ref), (len(buf), sec, fwi)
    assert known == 2 * len(F.ESP_LAYOUTS)


def test_features_independent_of_the_other_ltfs() -> None:
    """The same L-LTF in a 128-, 256- and 384-byte buffer (random HT-LTF after
    it) gives the same features, in C and in NumPy."""
    rng = np.random.default_rng(5)
    native = F.load_native()
    lltf = rng.integers(-60, 61, (40, 64, 2)).astype(np.int8)
    lltf[:, [0, *range(27, 38)]] = 0  # DC and guards in ascending order: -32..-27, 0, 27..31
    out = {}
    for n in (128, 256, 384):
        py, c = F.CsiStats(), native()
        rows_py, rows_c = [], []
        for t in range(len(lltf)):
            buf = bytearray(F.esp_from_lltf(lltf[t], 0, n))
            buf[128:] = rng.integers(-128, 128, n - 128, dtype=np.int8).tobytes()
            rows_py.append(py.compute_esp(bytes(buf), -50, -90))
            rows_c.append(c.compute_esp(bytes(buf), -50, -90))
        out[n] = np.stack(rows_py)
        assert np.array_equal(out[n], np.stack(rows_c))
    assert np.array_equal(out[128], out[256]) and np.array_equal(out[128], out[384])
    assert np.count_nonzero(out[128][1:, F.F_MOTION] == 0) == 0


def test_unknown_layout_leaves_state_alone() -> None:
    rng = np.random.default_rng(9)
    native = F.load_native()
    good = [rng.integers(-50, 51, 128, dtype=np.int8).tobytes() for _ in range(6)]
    py, c = F.CsiStats(), native()
    a_py = [py.compute_esp(good[0], -40, -90)]
    a_c = [c.compute_esp(good[0], -40, -90)]
    for bad in (b"\x01" * 106, b"\x02" * 380, b""):
        with pytest.raises(F.CsiLayoutError):
            py.compute_esp(bad, -40, -90)
        status, _ = c.compute_esp_raw(bad, -40, -90)
        assert status == 0x106  # unknown layout
    a_py += [py.compute_esp(b, -40, -90) for b in good[1:]]
    a_c += [c.compute_esp(b, -40, -90) for b in good[1:]]
    ref = F.CsiStats()
    expect = np.stack([ref.compute_esp(b, -40, -90) for b in good])
    assert np.array_equal(np.stack(a_py), expect)
    assert np.array_equal(np.stack(a_c), expect)
