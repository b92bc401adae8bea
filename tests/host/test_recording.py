"""Recording: the session file format, the packet-stream recorder (UDP
loopback, serial via a pyserial socket:// URL) and the CLI commands.

Packets are built here with struct straight from docs/spec.md §6, independently of
ruv_temporal.packets, which the recorder uses to decode them.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import features as F
from ruv_temporal import recording, synth
from ruv_temporal.cli import main as cli_main


def raw_csi_packet(node: int, seq: int, iq: np.ndarray, rssi: int, noise: int,
                   freq: int = 2437) -> bytes:
    """``iq``: 64 ascending (I, Q) pairs -> the packet a node sends: the driver's
    L-LTF buffer of a 20 MHz channel, (imag, real) in the order 0..31, -32..-1."""
    iq = np.asarray(iq, np.int8).reshape(64, 2)
    driver = np.concatenate([iq[32:], iq[:32]])[:, ::-1]
    hdr = struct.pack("<IBBHIIbbH", 0xC5110001, node, 1, 64, freq, seq, rssi, noise, 0)
    return hdr + np.ascontiguousarray(driver).tobytes()


def state_packet(node: int, seq: int, ts_us: int, values: list[float]) -> bytes:
    body = struct.pack("<IBBHQ9fHH", 0xC5110006, node, 1, seq, ts_us, *values, 0, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def result_packet(node: int, seq: int) -> bytes:
    body = struct.pack("<IHHB3xQIB3xff", 0xC5110007, 1, 4, node, 123, seq, 2, 1.5, 0.5)
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(scope="module")
def session() -> synth.Session:
    return synth.generate_session("walking", 4, 6.0, rng=11)


def session_packets(s: synth.Session, node: int = 3) -> list[bytes]:
    return [raw_csi_packet(node, int(s.seq[t]), s.iq[t], int(s.rssi[t]), int(s.noise_floor[t]))
            for t in range(len(s))]


def test_spec_packet_layout_matches_synth_export(session: synth.Session) -> None:

    assert session.to_packets(node_id=3) == session_packets(session)


def test_save_load_round_trip(tmp_path: Path, session: synth.Session) -> None:
    rec = recording.session_from_synth(session, raw=True)
    path = recording.save_session(tmp_path / "a", rec)
    assert path.name == "a.npz" and not list(tmp_path.glob("*.part"))
    back = recording.load_session(path)
    assert np.array_equal(back.features, session.features())
    assert back.features.dtype == np.float32 and back.features.shape == (len(session), F.DIM)
    assert np.array_equal(back.labels, session.labels)
    assert np.array_equal(back.timestamps_us, session.timestamps_us)
    assert np.array_equal(back.seq, session.seq)
    assert np.array_equal(back.iq, session.iq)
    assert np.array_equal(back.rssi, session.rssi)
    assert back.label == "walking" and back.label_names == list(synth.ACTIVITIES)
    assert back.room == 4 and back.feature_set == F.FEATURE_SET_STATS_V1
    assert back.meta["format"] == "ruv-session" and back.meta["version"] == 1
    assert back.meta["feature_names"] == list(F.FEATURE_NAMES)
    # without --raw no I/Q is stored
    lean = recording.load_session(recording.save_session(tmp_path / "b.npz",
                                                         recording.session_from_synth(session)))
    assert lean.iq is None and lean.n_subcarriers is None
    assert [s.label for s in recording.load_dir(tmp_path)] == ["walking", "walking"]
    # plain NumPy can read it without pickle
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["meta"]))["label"] == "walking"


def test_load_rejects_bad_files(tmp_path: Path, session: synth.Session) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(recording.RecordingError):
        recording.load_session(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(recording.RecordingError, match="missing"):
        recording.load_session(tmp_path / "other.npz")
    rec = recording.session_from_synth(session)
    rec.meta["version"] = 99
    p = tmp_path / "future.npz"
    arrays = {"features": rec.features, "timestamps_us": rec.timestamps_us, "labels": rec.labels,
              "meta": np.array(json.dumps({**rec.meta, "format": "ruv-session"}))}
    np.savez(p, **arrays)
    with pytest.raises(recording.RecordingError, match="newer"):
        recording.load_session(p)
    rec.labels = rec.labels[:-1]
    with pytest.raises(recording.RecordingError):
        recording.save_session(tmp_path / "bad.npz", rec)
    with pytest.raises(recording.RecordingError):
        recording.load_dir(tmp_path / "nope")


def test_recorder_decodes_raw_csi_and_counts_problems(session: synth.Session) -> None:
    pkts = session_packets(session, node=3)
    rec = recording.Recorder("walking", raw=True, rate_hz=None)
    stream: list[bytes] = []
    for t, p in enumerate(pkts):
        stream.append(p)
        if t == 5:
            stream.append(b"\x00garbage\xff" * 3)         # garbage datagram
            stream.append(p[:15])                          # truncated packet
            stream.append(result_packet(3, 1))             # another packet kind
            stream.append(state_packet(3, 1, 10, [0.0] * 9))  # state from the raw node
    for d in stream:
        rec.feed(d, rx_time_us=1000)
    (s,) = rec.sessions()
    assert s.node == 3 and len(s) == len(session)
    assert np.array_equal(s.features, session.features())
    assert np.array_equal(s.seq, session.seq)
    assert np.array_equal(s.iq, session.iq)
    assert np.all(s.labels == synth.ACTIVITIES.index("walking"))
    assert rec.stats.frames == len(session)
    assert rec.stats.lost == int(session.seq[-1]) - len(session)
    assert rec.stats.bad >= 2 and rec.stats.ignored == 2


def test_recorder_feature_state_packets() -> None:
    rec = recording.Recorder("still", node=7)
    vals = [[0.1 * i + k for i in range(9)] for k in range(5)]
    for k, v in enumerate(vals):
        rec.feed(state_packet(7, 100 + k + (k >= 3), 5_000_000 + 100_000 * k, v))
        rec.feed(state_packet(8, k, 0, v))  # other node: ignored with --node 7
    bad = bytearray(state_packet(7, 200, 0, vals[0]))
    bad[20] ^= 0xFF  # CRC mismatch
    rec.feed(bytes(bad))
    (s,) = rec.sessions()
    assert s.features.shape == (5, 9)
    assert rec.stats.lost == 1  # seq 103
    assert s.meta["feature_set"] == recording.FEATURE_SET_STATE_V1
    assert np.allclose(s.features[0], np.float32(vals[0]))
    assert s.timestamps_us[0] == 5_000_000
    assert rec.stats.ignored == 5 and rec.stats.bad >= 1


def test_record_udp_loopback(session: synth.Session) -> None:
    pkts = session_packets(session, node=1)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for p in pkts:
                if stop.is_set():
                    return
                tx.sendto(p, ("127.0.0.1", port))
                time.sleep(0.0005)

    th = threading.Thread(target=send, daemon=True)
    ticks: list[float] = []
    rec = recording.Recorder("walking", rate_hz=None)
    try:
        th.start()
        recording.record_udp(rec, port, sock=rx, duration=10.0, max_frames=len(pkts),
                             on_tick=lambda r, e: ticks.append(e))
    finally:
        stop.set()
        th.join(5)
        rx.close()
    (s,) = rec.sessions()
    assert len(s) == len(session)
    assert np.array_equal(s.features, session.features())
    assert ticks and np.all(np.diff(s.timestamps_us) >= 0)


def test_record_serial_stream_with_log_text(session: synth.Session, monkeypatch) -> None:
    """The serial path: one byte stream, log lines between packets, odd chunking."""
    pytest.importorskip("serial")
    blob = b"".join(b"I (123) csi: log line\r\n" + p for p in session_packets(session, 2))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    # pyserial's socket:// open() discards what is already buffered
    # (reset_input_buffer), like opening a real port: send only once open()
    # has returned (a fixed sleep loses the first packets on a loaded host).
    import serial

    opened = threading.Event()
    real_open = serial.serial_for_url

    def open_and_signal(*args, **kwargs):
        ser = real_open(*args, **kwargs)
        opened.set()
        return ser

    monkeypatch.setattr(serial, "serial_for_url", open_and_signal)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            opened.wait(10)
            for i in range(0, len(blob), 37):
                conn.sendall(blob[i:i + 37])
            # Keep the link up until the recorder has its frames and closes
            # (pyserial's socket read drops the bytes of a read() that meets
            # a peer close, so closing first would race the reader).
            conn.settimeout(10)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    rec = recording.Recorder("walking", rate_hz=None)
    try:
        recording.record_serial(rec, f"socket://127.0.0.1:{port}", duration=10.0,
                                max_frames=len(session))
    finally:
        th.join(5)
        srv.close()
    (s,) = rec.sessions()
    assert np.array_equal(s.features, session.features())


def test_cli_synth_writes_loadable_sessions(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli_main, ["synth", "--out", str(tmp_path), "--rooms", "2",
                                        "--seconds", "5", "--activities", "still,falling"])
    assert res.exit_code == 0, res.output
    got = recording.load_dir(tmp_path)
    assert len(got) == 4
    assert {(s.room, s.meta["activity"]) for s in got} == {
        (r, a) for r in (0, 1) for a in ("still", "falling")}
    assert all(s.features.shape == (len(s), F.DIM) for s in got)
    again = tmp_path / "again"
    res = CliRunner().invoke(cli_main, ["synth", "--out", str(again), "--rooms", "2",
                                        "--seconds", "5", "--activities", "still,falling"])
    assert res.exit_code == 0
    for a, b in zip(got, recording.load_dir(again), strict=True):
        assert np.array_equal(a.features, b.features)  # deterministic by --seed
    res = CliRunner().invoke(cli_main, ["synth", "--out", str(tmp_path), "--activities", "x"])
    assert res.exit_code == 2


def test_cli_record_udp(tmp_path: Path, session: synth.Session) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    pkts = session_packets(session, node=5)
    stop = threading.Event()

    def send() -> None:  # resend until the recorder has bound the port and stopped
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            while not stop.is_set():
                for p in pkts:
                    tx.sendto(p, ("127.0.0.1", port))
                    time.sleep(0.001)

    th = threading.Thread(target=send, daemon=True)
    th.start()
    try:
        res = CliRunner().invoke(cli_main, [
            "record", "--udp", str(port), "--bind", "127.0.0.1", "--label", "walking",
            "--out", str(tmp_path), "--duration", "10", "--max-frames", "20", "--raw",
            "--rate", "0"])
    finally:
        stop.set()
        th.join(5)
    assert res.exit_code == 0, res.output
    (s,) = recording.load_dir(tmp_path)
    assert s.node == 5 and len(s) >= 20 and s.label == "walking"
    assert s.iq is not None and s.iq.shape[1:] == (64, 2)
    assert s.meta["source"] == f"udp:127.0.0.1:{port}"


def test_cli_record_usage_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli_main, ["record", "--label", "x", "--out", str(tmp_path)])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli_main, ["record", "--udp", "5005", "--port", "/dev/null",
                                      "--label", "x", "--out", str(tmp_path)])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli_main, ["record", "--udp", "5005", "--label", "bad name!",
                                      "--out", str(tmp_path)])
    assert r.exit_code == 2
