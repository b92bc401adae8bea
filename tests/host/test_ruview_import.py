"""RuView recordings in (``ruv-temporal import``), raw frames out
(``ruv-temporal replay``), the recorder's feature-rate limiter and its
agreement with the firmware's Kconfig default. Runs on real CSI: the full
recording when present, else the committed excerpt (tests/real_csi.py)."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import features as F
from ruv_temporal import recording, ruview
from ruv_temporal.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from real_csi import REPO, recording_files  # noqa: E402

FILES, WHAT = recording_files()


def test_kconfig_default_rate_is_the_recorders() -> None:
    text = (REPO / "firmware" / "main" / "Kconfig.projbuild").read_text()
    m = re.search(r"config TEMPORAL_CSI_FEATURE_RATE_HZ\b.*?\n\s*default (\d+)", text, re.S)
    assert m, "TEMPORAL_CSI_FEATURE_RATE_HZ not found in Kconfig.projbuild"
    assert int(m.group(1)) == recording.DEFAULT_FEATURE_RATE_HZ


def test_rate_limiter_is_the_firmwares() -> None:
    lim = recording.RateLimiter(10)
    # firmware: accept when now >= next, then next = now + 1000000 / 10
    got = [t for t in (0, 50_000, 99_999, 100_000, 150_000, 199_999, 230_000, 330_000)
           if lim.accept(t)]
    assert got == [0, 100_000, 230_000, 330_000] and lim.skipped == 4
    lim3 = recording.RateLimiter(3)
    assert lim3.period_us == 333_333  # integer division, as in C
    assert all(recording.RateLimiter(None).accept(0) for _ in range(5))
    with pytest.raises(recording.RecordingError):
        recording.RateLimiter(2.5)  # type: ignore[arg-type]


def _expected_kept(times_us: list[int], rate: int) -> int:
    kept, nxt = 0, None
    for t in times_us:
        if nxt is None or t >= nxt:
            kept, nxt = kept + 1, t + 1_000_000 // rate
    return kept


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_import_real_recording(tmp_path: Path, path: Path) -> None:
    frames, rep = ruview.read_jsonl(path)
    nodes = sorted({f.node for f in frames})
    assert nodes == [1, 2] and not rep.bad
    assert {"vitals", "feature"} <= set(rep.skipped)
    res = CliRunner().invoke(cli_main, ["import", str(path), "--label", "mixed", "--out",
                                        str(tmp_path), "--raw", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("["):])
    assert report[0]["skipped"]["vitals"] == rep.skipped["vitals"]
    got = recording.load_dir(tmp_path)
    assert [s.node for s in got] == nodes
    for s in got:
        times = [f.t_us for f in frames if f.node == s.node]
        assert len(s) == _expected_kept(times, recording.DEFAULT_FEATURE_RATE_HZ)
        assert s.label == "mixed" and "mixed" in s.label_names
        assert s.features.shape == (len(s), F.DIM) and np.all(np.isfinite(s.features))
        assert np.all(np.diff(s.timestamps_us) >= 100_000)  # never above 10 frames/s
        # ~24 raw frames/s in, at most 10 feature frames/s out (the node's limiter)
        assert 5.0 < s.meta["rate_hz"] <= 10.0
        assert s.meta["feature_rate_limit_hz"] == 10
        lay = s.meta["csi_layout"]
        assert lay["secondary_channel"] == "none" and lay["rejected_unknown_layout"] == 0
        assert set(lay["buffer_bytes"]) >= {"128", "256"}
        assert s.meta["rate_skipped"] == len(times) - len(s)
        assert s.iq is not None and s.iq.shape == (len(s), 64, 2)
        assert np.array_equal(F.csi_stats(s.iq, s.rssi, s.noise_floor), s.features)
        assert np.count_nonzero(s.features[1:, F.F_MOTION] == 0) < 0.02 * len(s)


def test_import_meta_label_skips_and_errors(tmp_path: Path) -> None:
    src = FILES[0]
    lines = src.read_text().splitlines()[:200]
    lines += ['{"timestamp": 1.0, "node_id": 1, "magic": "0xC5110005", "size": 104, "rssi": 0}',
              "not json", '{"type": "raw_csi", "node_id": 1}',
              '{"type": "raw_csi", "timestamp": 9e9, "node_id": 1, "rssi": 0, "iq_hex": "00ff"}']
    rec = tmp_path / "walk-1.csi.jsonl"
    rec.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    # no --label and no meta file: a usage error
    res = CliRunner().invoke(cli_main, ["import", str(rec), "--out", str(out)])
    assert res.exit_code == 2 and "label" in res.output
    (tmp_path / "walk-1.csi.meta.json").write_text(json.dumps({"label": "walking", "id": "w"}))
    res = CliRunner().invoke(cli_main, ["import", str(rec), "--out", str(out), "--rate", "0",
                                        "--json"])
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout[res.stdout.index("["):])
    assert r["skipped"]["0xC5110005"] == 1
    assert r["bad"] == {"not JSON": 1, "raw_csi with missing or malformed fields": 1}
    got = recording.load_dir(out)
    assert {s.label for s in got} == {"walking"}
    assert all(s.meta["ruview_meta"]["id"] == "w" for s in got)
    # --rate 0 keeps every raw frame; the 2-byte buffer is an unknown layout
    frames, _ = ruview.read_jsonl(rec)
    for s in got:
        n_raw = sum(f.node == s.node for f in frames)
        bad_layout = s.meta["csi_layout"]["rejected_unknown_layout"]
        assert len(s) + bad_layout == n_raw
    assert sum(s.meta["csi_layout"]["rejected_unknown_layout"] for s in got) == 1


def test_replay_drives_a_recorder(tmp_path: Path) -> None:
    """import --raw --rate 0, replay over UDP loopback, record: same features."""
    res = CliRunner().invoke(cli_main, ["import", str(FILES[0]), "--label", "mixed",
                                        "--out", str(tmp_path), "--raw", "--rate", "0"])
    assert res.exit_code == 0, res.output
    sessions = recording.load_dir(tmp_path)
    s = sessions[0]
    n = min(len(s), 120)
    s.features, s.timestamps_us, s.labels = s.features[:n], s.timestamps_us[:n], s.labels[:n]
    s.seq, s.iq, s.rssi, s.noise_floor = s.seq[:n], s.iq[:n], s.rssi[:n], s.noise_floor[:n]
    s.n_subcarriers = None
    short = recording.save_session(tmp_path / "short" / "s.npz", s)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    rec = recording.Recorder("mixed", rate_hz=None, raw=True)
    th = threading.Thread(target=recording.record_udp, args=(rec, port),
                          kwargs=dict(sock=rx, duration=30.0, max_frames=n), daemon=True)
    th.start()
    span = (s.timestamps_us[-1] - s.timestamps_us[0]) / 1e6
    speed = 4.0
    res = CliRunner().invoke(cli_main, ["replay", str(short), "--udp", str(port),
                                        "--speed", str(speed)])
    th.join(30)
    rx.close()
    assert res.exit_code == 0, res.output
    took = float(re.search(r"in ([0-9.]+) s", res.output).group(1))
    assert took >= 0.9 * span / speed  # paced, not burst
    (got,) = rec.sessions()
    assert got.node == s.node and len(got) == n
    assert np.array_equal(got.features, s.features)
    assert rec.stats.lost == 0


def test_replay_needs_raw_frames(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli_main, ["import", str(FILES[0]), "--label", "mixed",
                                        "--out", str(tmp_path)])
    assert res.exit_code == 0
    p = sorted(tmp_path.glob("*.npz"))[0]
    res = CliRunner().invoke(cli_main, ["replay", str(p), "--udp", "9"])
    assert res.exit_code == 2 and "--raw" in res.output
