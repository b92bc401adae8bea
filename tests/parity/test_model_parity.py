"""Model v1 and the blob view: the C core (ruv_temporal.native) vs the NumPy reference.

- window mode: logits <= 1e-4 abs with identical argmax, and every layer
  state <= 1e-4, for the docs/spec.md §5 random blob and for random blobs with
  NORM/BIAS/ATTN sections, FP32 and FP16 weights;
- stream mode: >= 10,000 frames (N=64, D=16) with many rebases, FP32 and
  FP16 KV cache: every frame's logits and layer states <= 1e-4, identical
  argmax, identical rebase counts and context lengths;
- blob_info: the C verdict (status and reason) equals rvne.parse's
  BlobError on valid, truncated and mutated blobs (hypothesis).

Near-ties: where the reference's two top logits are within 2e-4 either
class is accepted (the tolerance cannot order them).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruv_temporal import native, rvne
from ruv_temporal.errors import BlobError, RuvError
from ruv_temporal.kernel import SparseConfig
from ruv_temporal.model import TemporalHead

pytestmark = [pytest.mark.native, pytest.mark.usefixtures("native_lib")]

TOL = 1e-4
STAGE_AXES = ("frame", "value")


# --------------------------------------------------------------------------
# blobs


def random_blob(seed: int, D: int = 16, q: int = 4, kv: int = 2, d: int = 8,  # noqa: N803
                L: int = 2, C: int = 5, fp16: bool = False, norm: bool = True,  # noqa: N803
                bias: bool = True, attn: SparseConfig | None = None, extras: bool = False,
                scale: float = 0.1) -> bytes:
    """A random RVNE blob built by the reference codec (weights ~ N(0, scale²))."""
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    layers = []
    for _ in range(L):
        lw = rvne.LayerWeights(wq=w(D, q * d), wk=w(D, kv * d), wv=w(D, kv * d), wo=w(q * d, D))
        if bias:
            lw.bq, lw.bk, lw.bv, lw.bo = w(q * d), w(kv * d), w(kv * d), w(D)
        layers.append(lw)
    blob = rvne.Blob(input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L,
                     n_classes=C, fp16=fp16, layers=layers, wc=w(D, C),
                     bc=w(C) if bias else None)
    if norm:
        blob.norm = (rng.standard_normal(D).astype(np.float32),
                     rng.uniform(0.5, 2.0, D).astype(np.float32))
    blob.attn = attn
    if extras:
        blob.input = rvne.InputSection(feature_set=1, frame_rate_x100=2000)
        blob.labels = [f"class{j}" for j in range(C)]
        blob.meta = "parity test blob"
        blob.unknown_sections = [(77, b"\x01\x02\x03")]
    return rvne.build(blob)


INIT_BLOB = rvne.init_random()

MODEL_CASES: list[tuple[str, bytes]] = [
    ("spec-init", INIT_BLOB),
    ("spec-init-fp16", rvne.build(
        rvne.Blob(**{**rvne.parse(INIT_BLOB).__dict__, "fp16": True}))),
    ("norm-bias-attn-fp32", random_blob(1, attn=SparseConfig(window=8, block_size=5,
                                                              global_tokens=(0, 3)))),
    ("norm-bias-attn-fp16", random_blob(2, fp16=True, attn=SparseConfig(
        window=12, block_size=4, global_tokens=(1,)), extras=True)),
    ("bias-only-mha", random_blob(3, q=2, kv=2, d=16, L=1, C=3, norm=False)),
    ("norm-only-gqa41-L3", random_blob(4, D=8, q=4, kv=1, d=8, L=3, C=2, bias=False)),
    ("attn-w0-nolog", random_blob(5, D=12, q=2, kv=1, d=4, attn=SparseConfig(
        window=0, block_size=3, global_tokens=(), log_stride=False))),
    ("attn-nolandmarks-fp16", random_blob(6, D=7, q=6, kv=3, d=5, C=4, fp16=True,
                                          attn=SparseConfig(window=6, block_size=7,
                                                            landmarks=False))),
    ("attn-default-W128", random_blob(7, D=16, q=4, kv=4, d=4, L=1,
                                      attn=SparseConfig())),
    ("odd-dims-fp16", random_blob(8, D=5, q=3, kv=1, d=3, L=2, C=7, fp16=True, bias=True,
                                  norm=True)),
]


# --------------------------------------------------------------------------
# window mode


def _check_logits(px: Any, got: np.ndarray, ref: np.ndarray, what: str, family: str) -> None:
    px.assert_close(got, ref, TOL, what, family=family, axes=("frame", "class")
                    if np.ndim(got) == 2 else ("class",))
    px.assert_argmax(got, ref, TOL, what)


@pytest.mark.parametrize(("name", "blob"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_window_mode(px: Any, name: str, blob: bytes) -> None:
    ref_head = TemporalHead.from_blob(blob)
    D, L = ref_head.input_dim, ref_head.n_layers  # noqa: N806
    n_win = 40
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    frames = (rng.standard_normal((3 * n_win + 5, D)) * 1.5).astype(np.float32)
    session = ref_head.window_session(n_win)
    checkpoints = {1, 2, 3, 7, 16, 17, n_win - 1, n_win, n_win + 1, 2 * n_win + 3,
                   3 * n_win + 5}
    with native.NativeHead(blob, window_len=n_win, mode="window") as head:
        for t, f in enumerate(frames, start=1):
            head.push(f)
            session.push(f)
            if t not in checkpoints:
                continue
            got = head.classify()
            ref = session.classify()
            _check_logits(px, got, ref, f"{name}: window logits after {t} frames",
                          "model_window_logits")
            for s in range(L + 1):
                px.assert_close(head.layer_state(s), session.states[s], TOL,
                                f"{name}: window layer_state stage {s} after {t} frames",
                                family="model_window_layer_state", axes=("value",))
            stats = head.stats()
            assert stats["frames_pushed"] == t
            assert stats["frames_in_ring"] == min(t, n_win)
        # direct forward over the ring equals the session (renumbered positions)
        ref2 = ref_head.forward(frames[-n_win:])
        px.assert_close(head.classify(), ref2, TOL, f"{name}: forward over the last N frames",
                        family="model_window_logits", axes=("class",))


def test_window_mode_bigger_ring(px: Any) -> None:
    """A ring of 256 (firmware default) over the init blob (spec §5.5), three classify points."""
    blob = INIT_BLOB
    ref_head = TemporalHead.from_blob(blob)
    n_win = px.sized(256, 128)
    rng = np.random.default_rng(99)
    frames = rng.standard_normal((n_win + 50, 16)).astype(np.float32)
    head = native.NativeHead(blob, window_len=n_win)
    for t, f in enumerate(frames, start=1):
        head.push(f)
        if t in (n_win // 2, n_win, n_win + 50):
            ref = ref_head.forward(frames[max(0, t - n_win):t])
            _check_logits(px, head.classify(), ref, f"ring {n_win}, {t} frames",
                          "model_window_logits")
    head.close()


# --------------------------------------------------------------------------
# stream mode


def _run_stream(px: Any, blob: bytes, n_win: int, n_frames: int, kv_fp16: bool, seed: int,
                what: str, states_every: int = 1) -> dict[str, Any]:
    ref_head = TemporalHead.from_blob(blob)
    D, L, C = ref_head.input_dim, ref_head.n_layers, ref_head.n_classes  # noqa: N806
    rng = np.random.default_rng(seed)
    # noisy frames with a slow drift and bursts (so the logits move)
    t = np.arange(n_frames, dtype=np.float64)[:, None]
    drift = np.sin(t / 97.0 + np.arange(D)) * 0.8
    frames = (rng.standard_normal((n_frames, D)) + drift).astype(np.float32)
    frames[rng.random(n_frames) < 0.02] *= 4
    session = ref_head.stream_session(n_win, kv_fp16=kv_fp16)
    got = np.zeros((n_frames, C), np.float32)
    ref = np.zeros((n_frames, C), np.float32)
    state_diff = np.zeros((n_frames, L + 1), np.float64)
    with native.NativeHead(blob, window_len=n_win, mode="stream", kv_fp16=kv_fp16) as head:
        for i, f in enumerate(frames):
            ref[i] = session.push(f)
            head.push(f)
            got[i] = head.classify()
            if i % states_every == 0:
                for s in range(L + 1):
                    state_diff[i, s] = np.max(np.abs(head.layer_state(s).astype(np.float64)
                                                     - session.states[s]))
            if i % 1000 == 999 or i == n_frames - 1:
                stats = head.stats()
                assert stats["rebases"] == session.rebases, (
                    f"{what}: after {i + 1} frames C rebased {stats['rebases']} times, "
                    f"NumPy {session.rebases}")
                assert stats["context_len"] == session.context_len, (
                    f"{what}: after {i + 1} frames C context_len {stats['context_len']}, "
                    f"NumPy {session.context_len}")
                assert stats["frames_pushed"] == i + 1
        final = head.stats()
    fam = f"model_stream_{'fp16' if kv_fp16 else 'fp32'}"
    _check_logits(px, got, ref, f"{what}: stream logits", fam + "_logits")
    worst = float(state_diff.max())
    px.record(fam + "_layer_state", worst)
    if worst > TOL:
        i, s = np.unravel_index(int(state_diff.argmax()), state_diff.shape)
        pytest.fail(f"{what}: stream layer_state stage {s} at frame {i} differs by "
                    f"{worst:.3g} > {TOL}", pytrace=False)
    return final


@pytest.mark.parametrize("kv_fp16", [False, True], ids=["fp32-cache", "fp16-cache"])
def test_stream_mode_long(px: Any, kv_fp16: bool) -> None:
    """Init blob, N=64, >= 10,000 frames: a rebase every 32 frames."""
    n_frames = px.sized(10_000, 3_000)
    n_win = 64
    stats = _run_stream(px, INIT_BLOB, n_win, n_frames, kv_fp16, seed=64 + kv_fp16,
                        what=f"init blob stream N={n_win} {'fp16' if kv_fp16 else 'fp32'}",
                        states_every=7)
    assert stats["rebases"] == (n_frames - n_win - 1) // (n_win // 2) + 1


STREAM_CASES = [c for c in MODEL_CASES if c[0] not in ("spec-init",)]


@pytest.mark.parametrize("kv_fp16", [False, True], ids=["fp32-cache", "fp16-cache"])
@pytest.mark.parametrize(("name", "blob"), STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
def test_stream_mode_blobs(px: Any, name: str, blob: bytes, kv_fp16: bool) -> None:
    n_frames = px.sized(700, 300)
    for n_win in (2, 3, 33):
        _run_stream(px, blob, n_win, n_frames if n_win == 33 else 120, kv_fp16,
                    seed=zlib.crc32(name.encode()) + n_win,
                    what=f"{name} stream N={n_win} {'fp16' if kv_fp16 else 'fp32'}")


def test_stream_reset_restarts(px: Any) -> None:
    blob = MODEL_CASES[2][1]
    ref_head = TemporalHead.from_blob(blob)
    rng = np.random.default_rng(3)
    frames = rng.standard_normal((50, ref_head.input_dim)).astype(np.float32)
    head = native.NativeHead(blob, window_len=16, mode="stream")
    for f in frames:
        head.push(f)
    head.reset()
    assert head.stats()["frames_pushed"] == 0 and head.stats()["context_len"] == 0
    with pytest.raises(native.NativeError) as e:
        head.classify()
    assert e.value.status == 0x103
    session = ref_head.stream_session(16)
    for f in frames[:20]:
        head.push(f)
        ref = session.push(f)
    _check_logits(px, head.classify(), ref, "stream after reset", "model_stream_fp32_logits")


def test_duplicate_and_far_globals(px: Any) -> None:
    """ATTN globals with duplicates and positions beyond the window: the C
    core reduces them (first occurrence kept, >= N dropped), which must not
    change a single logit."""
    blob = random_blob(21, attn=SparseConfig(window=4, block_size=3,
                                             global_tokens=(0, 0, 3, 3, 200, 0, 5, 9, 9, 1000)))
    ref_head = TemporalHead.from_blob(blob)
    rng = np.random.default_rng(21)
    frames = rng.standard_normal((70, ref_head.input_dim)).astype(np.float32)
    for mode in ("window", "stream"):
        head = native.NativeHead(blob, window_len=16, mode=mode)
        ws, ss = ref_head.window_session(16), ref_head.stream_session(16)
        for t, f in enumerate(frames):
            head.push(f)
            ws.push(f)
            ref = ss.push(f)
            if mode == "window" and t % 5 == 4:
                _check_logits(px, head.classify(), ws.classify(), f"window frame {t}",
                              "model_window_logits")
            elif mode == "stream":
                _check_logits(px, head.classify(), ref, f"stream frame {t}",
                              "model_stream_fp32_logits")
        head.close()


def test_too_many_globals_is_refused_cleanly(px: Any) -> None:
    """The C config holds RUV_MAX_GLOBALS (8) globals. A blob whose ATTN
    lists 9 distinct globals is valid (both parsers accept it); init refuses
    it with NOT_SUPPORTED when more than 8 of them can be < N, and runs it
    (matching NumPy) when the ring is short enough that the 9th never counts."""
    blob = random_blob(22, attn=SparseConfig(window=4, block_size=3,
                                             global_tokens=tuple(range(9))))
    assert native.blob_info(blob)[0] == 0
    with pytest.raises(native.NativeError) as e:
        native.NativeHead(blob, window_len=64)
    assert e.value.status == 0x106
    ref_head = TemporalHead.from_blob(blob)
    frames = np.random.default_rng(22).standard_normal((20, 16)).astype(np.float32)
    with native.NativeHead(blob, window_len=8) as head:
        for f in frames:
            head.push(f)
        _check_logits(px, head.classify(), ref_head.forward(frames[-8:]), "9 globals, N=8",
                      "model_window_logits")


# --------------------------------------------------------------------------
# the binding's model API


def test_self_test() -> None:
    assert native.self_test() == 0


def test_info_matches_parse() -> None:
    for name, blob in MODEL_CASES:
        ref = rvne.parse(blob)
        st_, reason, info = native.blob_info(blob)
        assert st_ == 0 and reason == "" and info is not None, name
        with native.NativeHead(blob, window_len=8) as head:
            hinfo = head.info()
        for inf in (info, hinfo):
            assert (inf["input_dim"], inf["n_q_heads"], inf["n_kv_heads"], inf["head_dim"],
                    inf["n_layers"], inf["n_classes"]) == ref.dims, name
            assert inf["fp16_weights"] == ref.fp16
            assert inf["crc32"] == ref.crc32
            assert inf["blob_len"] == len(blob)
            assert inf["has_norm"] == (ref.norm is not None)
            assert inf["has_bias"] == ref.has_bias
            assert inf["has_attn"] == (ref.attn is not None)
            assert inf["has_input"] == (ref.input is not None)
            assert inf["has_labels"] == (ref.labels is not None)
            want_attn = ref.attn if ref.attn is not None else SparseConfig.aether()
            assert rvne._attn_tuple(inf["attn"]) == rvne._attn_tuple(want_attn), name
            if ref.input is not None:
                assert inf["feature_set"] == ref.input.feature_set
                assert inf["frame_rate_x100"] == ref.input.frame_rate_x100
            assert inf["labels"] == ref.labels
            assert inf["meta"] == ref.meta
        assert hinfo["window_len"] == 8 and hinfo["mode"] == "window" and not hinfo["kv_fp16"]


@pytest.mark.parametrize("mode", ["window", "stream"])
@pytest.mark.parametrize("kv_fp16", [False, True])
def test_required_bytes_is_arena(mode: str, kv_fp16: bool) -> None:
    for _, blob in MODEL_CASES[:4]:
        need = native.required_bytes(blob, 64, mode, kv_fp16)
        with native.NativeHead(blob, window_len=64, mode=mode, kv_fp16=kv_fp16) as head:
            assert head.stats()["arena_bytes"] == need
        assert need > 0


def test_lifecycle_and_errors() -> None:
    blob = INIT_BLOB
    head = native.NativeHead(blob, window_len=8)
    with pytest.raises(native.NativeError) as e:
        head.classify()  # nothing pushed
    assert e.value.status == 0x103
    with pytest.raises(native.NativeError):
        head.push(np.zeros(15, np.float32))
    with pytest.raises(native.NativeError):
        head.layer_state(head.n_layers + 1)
    head.push(np.ones(16, np.float32))
    assert head.classify().shape == (4,)
    head.close()
    head.close()  # idempotent
    assert head.closed
    with pytest.raises(RuvError):
        head.push(np.ones(16, np.float32))
    with pytest.raises(native.NativeError):
        native.NativeHead(blob, window_len=8, input_dim=15)  # config != blob
    with pytest.raises(native.NativeError):
        native.NativeHead(blob, window_len=8, n_classes=3)
    with pytest.raises(native.NativeError):
        native.NativeHead(blob, window_len=8, mode="batch")
    with pytest.raises(native.NativeError):
        native.NativeHead(blob, window_len=0)
    with pytest.raises(BlobError) as be:
        native.NativeHead(blob[:-1] + bytes([blob[-1] ^ 1]), window_len=8)
    assert be.value.reason == "crc_mismatch" and be.value.status == 0x109
    # the original entry point's defaults: window mode, fp32
    with native.NativeHead(blob, window_len=8) as h2:
        assert h2.info()["mode"] == "window"
    h3 = native.NativeHead(blob, window_len=8)
    del h3  # __del__ destroys the context


def test_blob_buffer_is_owned() -> None:
    """The context keeps its own aligned copy: mutating the caller's bytes
    after init changes nothing."""
    data = bytearray(INIT_BLOB)
    frames = np.random.default_rng(1).standard_normal((10, 16)).astype(np.float32)
    head = native.NativeHead(data, window_len=16)
    data[100:200] = bytes(100)
    for f in frames:
        head.push(f)
    ref = TemporalHead.from_blob(INIT_BLOB).forward(frames)
    assert np.max(np.abs(head.classify() - ref)) <= TOL


# --------------------------------------------------------------------------
# blob_info verdicts vs rvne.parse


def _verdict_ref(data: bytes) -> tuple[int, str]:
    try:
        rvne.parse(data)
    except BlobError as e:
        return int(e.status), e.reason
    return 0, ""


def _assert_same_verdict(data: bytes, what: str) -> tuple[int, str]:
    want = _verdict_ref(data)
    st_, reason, info = native.blob_info(data)
    assert (st_, reason) == want, (
        f"{what}: C blob_info says ({native.status_name(st_)} 0x{st_:x}, {reason!r}), "
        f"rvne.parse says ({native.status_name(want[0])} 0x{want[0]:x}, {want[1]!r}) "
        f"[{len(data)} bytes, header {data[:24].hex(' ')}]")
    assert (info is None) == (st_ != 0)
    return want


def _fix_crc(data: bytearray) -> bytearray:
    if len(data) >= 28:
        data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    return data


def _fix_len(data: bytearray) -> bytearray:
    if len(data) >= 28:
        data[20:24] = struct.pack("<I", len(data) - 28)
    return data


def _blob_bytes(h: dict[str, int], weights: bytes) -> bytes:
    hdr = struct.pack("<IHBBHHHHHHI", h.get("magic", rvne.MAGIC), h.get("version", 1),
                      h.get("flags", 0), h.get("reserved", 0), h.get("D", 2), h.get("q", 1),
                      h.get("kv", 1), h.get("d", 1), h.get("L", 1), h.get("C", 2),
                      h.get("wlen", len(weights)))
    body = hdr + weights
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _section(tag: int, payload: bytes, reserved: int = 0, length: int | None = None,
             pad: bytes | None = None) -> bytes:
    n = len(payload) if length is None else length
    p = (-len(payload)) % 4
    return struct.pack("<HHI", tag, reserved, n) + payload + (pad if pad is not None else b"\0" * p)


def _small_base(D: int = 2, q: int = 1, kv: int = 1, d: int = 1, L: int = 1, C: int = 2,  # noqa: N803
                esize: int = 4) -> bytes:
    return bytes(rvne.base_weight_count(D, q, kv, d, L, C) * esize)


def _attn_payload(window: int = 4, block: int = 2, causal: int = 1, log: int = 1, lm: int = 1,
                  globals_: tuple[int, ...] = (0,)) -> bytes:
    return struct.pack(f"<HHBBBB{len(globals_)}H", window, block, causal, log, lm,
                       len(globals_), *globals_)


def _handmade_cases() -> list[tuple[str, bytes]]:
    base = _small_base()  # 2*1 + 2*2*1 + 1*2 + 2*2 = 12 floats
    S = rvne.FLAG_SECTIONS  # noqa: N806
    F16 = rvne.FLAG_FP16  # noqa: N806
    b16 = _small_base(esize=2)  # 24 bytes: aligned
    b16_odd = _small_base(D=3, C=3, esize=2)  # odd element count -> 2 pad bytes
    norm = _section(1, bytes(8 * 2))
    cases = [
        ("valid minimal", _blob_bytes({}, base)),
        ("valid fp16", _blob_bytes({"flags": F16}, b16)),
        ("valid sections", _blob_bytes({"flags": S}, base + norm)),
        ("valid flag bit1 without sections", _blob_bytes({"flags": S}, base)),
        ("valid fp16 odd + pad + norm", _blob_bytes({"flags": S | F16, "D": 3, "C": 3},
                                                    b16_odd + b"\0\0" + _section(1, bytes(24)))),
        ("bad magic", _blob_bytes({"magic": 0x52564E46}, base)),
        ("bad version 0", _blob_bytes({"version": 0}, base)),
        ("bad version 2", _blob_bytes({"version": 2}, base)),
        ("length mismatch", _blob_bytes({"wlen": len(base) + 4}, base)),
        ("crc mismatch", _blob_bytes({}, base)[:-1] + b"\x00"),
        ("crc mismatch, bad dims too", _blob_bytes({"D": 0}, base)[:-4] + b"\0\0\0\0"),
        ("bad flags", _blob_bytes({"flags": 0x04}, base)),
        ("bad flags high", _blob_bytes({"flags": 0x80 | S}, base)),
        ("bad reserved", _blob_bytes({"reserved": 1}, base)),
        ("zero input_dim", _blob_bytes({"D": 0}, base)),
        ("zero q heads", _blob_bytes({"q": 0}, base)),
        ("zero kv heads", _blob_bytes({"kv": 0}, base)),
        ("zero head_dim", _blob_bytes({"d": 0}, base)),
        ("zero layers", _blob_bytes({"L": 0}, base)),
        ("zero classes", _blob_bytes({"C": 0}, base)),
        ("one class", _blob_bytes({"C": 1}, base)),
        ("bad gqa", _blob_bytes({"q": 3, "kv": 2}, base)),
        ("weights overrun", _blob_bytes({"D": 3}, base)),
        ("huge dims (overflow)", _blob_bytes({"D": 65535, "q": 65535, "kv": 65535, "d": 65535,
                                              "L": 65535, "C": 65535}, base)),
        ("huge dims with sections", _blob_bytes({"flags": S, "D": 65535, "q": 65534,
                                                 "kv": 65534, "d": 65535, "L": 65535,
                                                 "C": 65535}, base)),
        ("trailing bytes", _blob_bytes({}, base + bytes(4))),
        ("bad padding before sections", _blob_bytes(
            {"flags": S | F16, "D": 3, "C": 3}, b16_odd + b"\0\1" + _section(1, bytes(24)))),
        ("fp16 odd, region ends in padding", _blob_bytes(
            {"flags": S | F16, "D": 3, "C": 3}, b16_odd)),
        ("section header overrun", _blob_bytes({"flags": S}, base + b"\1\0\0\0")),
        ("section payload overrun", _blob_bytes({"flags": S}, base + _section(
            1, bytes(8), length=64))),
        ("section padding overrun", _blob_bytes({"flags": S}, base + _section(
            6, b"abc", pad=b""))),
        ("section bad padding", _blob_bytes({"flags": S}, base + _section(6, b"abc", pad=b"x"))),
        ("section reserved", _blob_bytes({"flags": S}, base + _section(1, bytes(16),
                                                                        reserved=1))),
        ("unknown tag reserved", _blob_bytes({"flags": S}, base + _section(99, b"", reserved=2))),
        ("unknown tag ok", _blob_bytes({"flags": S}, base + _section(99, b"hello") + norm)),
        ("unknown tag 0", _blob_bytes({"flags": S}, base + _section(0, bytes(8)))),
        ("norm size", _blob_bytes({"flags": S}, base + _section(1, bytes(12)))),
        ("bias size", _blob_bytes({"flags": S}, base + _section(2, bytes(4)))),
        ("bias ok", _blob_bytes({"flags": S}, base + _section(
            2, bytes(4 * rvne.bias_count(2, 1, 1, 1, 1, 2))))),
        ("input size", _blob_bytes({"flags": S}, base + _section(4, bytes(8)))),
        ("input ok", _blob_bytes({"flags": S}, base + _section(4, bytes(4)))),
        ("attn ok", _blob_bytes({"flags": S}, base + _section(3, _attn_payload()))),
        ("attn no globals", _blob_bytes({"flags": S}, base + _section(
            3, _attn_payload(globals_=())))),
        ("attn 8 globals", _blob_bytes({"flags": S}, base + _section(
            3, _attn_payload(globals_=tuple(range(8)))))),
        ("attn 9 globals", _blob_bytes({"flags": S}, base + _section(
            3, _attn_payload(globals_=tuple(range(9)))))),
        ("attn 255 globals", _blob_bytes({"flags": S}, base + _section(
            3, _attn_payload(globals_=tuple(range(255)))))),
        ("attn size", _blob_bytes({"flags": S}, base + _section(3, _attn_payload() + b"\0\0"))),
        ("attn short", _blob_bytes({"flags": S}, base + _section(3, b"\4\0\2\0"))),
        ("attn block 0", _blob_bytes({"flags": S}, base + _section(3, _attn_payload(block=0)))),
        ("attn causal 2", _blob_bytes({"flags": S}, base + _section(3, _attn_payload(causal=2)))),
        ("attn log 2", _blob_bytes({"flags": S}, base + _section(3, _attn_payload(log=2)))),
        ("attn landmarks 7", _blob_bytes({"flags": S}, base + _section(3, _attn_payload(lm=7)))),
        ("attn non-causal", _blob_bytes({"flags": S}, base + _section(3, _attn_payload(causal=0)))),
        ("duplicate norm", _blob_bytes({"flags": S}, base + norm + norm)),
        ("labels ok", _blob_bytes({"flags": S}, base + _section(5, b"a\0b"))),
        ("labels trailing nul", _blob_bytes({"flags": S}, base + _section(5, b"a\0b\0"))),
        ("labels count", _blob_bytes({"flags": S}, base + _section(5, b"a\0b\0c"))),
        ("labels one", _blob_bytes({"flags": S}, base + _section(5, b"ab"))),
        ("labels utf8", _blob_bytes({"flags": S}, base + _section(5, b"\xff\0b"))),
        ("meta ok", _blob_bytes({"flags": S}, base + _section(6, "h\u00e9".encode()))),
        ("meta empty", _blob_bytes({"flags": S}, base + _section(6, b""))),
        ("meta utf8", _blob_bytes({"flags": S}, base + _section(6, b"\xc3("))),
        ("meta overlong utf8", _blob_bytes({"flags": S}, base + _section(6, b"\xc0\xaf"))),
        ("meta surrogate utf8", _blob_bytes({"flags": S}, base + _section(6, b"\xed\xa0\x80"))),
        ("meta 4-byte utf8", _blob_bytes({"flags": S}, base + _section(6, "\U0001f600".encode()))),
    ]
    for n in (0, 1, 4, 23, 24, 27):
        cases.append((f"too short {n}", INIT_BLOB[:n]))
    return cases


HANDMADE = _handmade_cases()


@pytest.mark.parametrize(("what", "data"), HANDMADE, ids=[c[0] for c in HANDMADE])
def test_blob_info_handmade(what: str, data: bytes) -> None:
    _assert_same_verdict(data, what)


def test_blob_info_every_reason_covered() -> None:
    """The hand-made cases reach every reason parse can raise."""
    seen = {_verdict_ref(d)[1] for _, d in HANDMADE}
    parse_reasons = set(rvne.REASON_STATUS) - {"bad_shape", "fp16_overflow"}
    assert parse_reasons <= seen | {""}, f"not covered: {sorted(parse_reasons - seen)}"


def test_blob_info_model_blobs() -> None:
    for name, blob in MODEL_CASES:
        assert _assert_same_verdict(blob, name) == (0, "")


def test_blob_info_truncations() -> None:
    blob = MODEL_CASES[3][1]  # sections + fp16
    for n in list(range(0, 64)) + list(range(len(blob) - 64, len(blob))):
        _assert_same_verdict(blob[:n], f"truncated to {n}")
        _assert_same_verdict(bytes(_fix_crc(_fix_len(bytearray(blob[:n])))),
                             f"truncated to {n}, length and CRC fixed")


BASES = [MODEL_CASES[3][1], MODEL_CASES[7][1], random_blob(
    11, D=3, q=2, kv=1, d=2, L=1, C=2, fp16=True, attn=SparseConfig(
        window=3, block_size=2, global_tokens=(0, 1)), extras=True), _blob_bytes(
    {"flags": rvne.FLAG_SECTIONS}, _small_base() + _section(3, _attn_payload()) + _section(
        5, b"x\0y"))]
HEADER_FIELDS = [(4, 2), (6, 1), (7, 1), (8, 2), (10, 2), (12, 2), (14, 2), (16, 2), (18, 2),
                 (20, 4)]
INTERESTING = [0, 1, 2, 3, 4, 7, 8, 9, 16, 255, 256, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF]


@st.composite
def mutated_blobs(draw: st.DrawFn) -> tuple[str, bytes]:
    bi = draw(st.integers(0, len(BASES) - 1))
    data = bytearray(BASES[bi])
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "header", "tail", "truncate", "extend", "set"]))
        n = len(data)
        if kind == "flip" and n:
            pos = draw(st.integers(0, n - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
            ops.append(f"flip@{pos}")
        elif kind == "header" and n >= 24:
            off, size = draw(st.sampled_from(HEADER_FIELDS))
            val = draw(st.sampled_from(INTERESTING) | st.integers(0, 2 ** (8 * size) - 1))
            val &= (1 << (8 * size)) - 1
            data[off:off + size] = val.to_bytes(size, "little")
            ops.append(f"hdr{off}={val}")
        elif kind == "tail" and n > 40:
            # inside the sections area (after the base weights): headers, lengths
            pos = draw(st.integers(max(24, n - 80), n - 5))
            data[pos] = draw(st.integers(0, 255))
            ops.append(f"tail@{pos}")
        elif kind == "truncate" and n:
            cut = draw(st.integers(0, n))
            del data[cut:]
            ops.append(f"trunc{cut}")
        elif kind == "extend":
            extra = draw(st.binary(min_size=1, max_size=12))
            data[max(0, len(data) - 4):max(0, len(data) - 4)] = extra
            ops.append(f"ext{len(extra)}")
        elif kind == "set" and n:
            pos = draw(st.integers(0, n - 1))
            data[pos] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0xFF]))
            ops.append(f"set@{pos}")
    if draw(st.booleans()):
        _fix_len(data)
        ops.append("fixlen")
    if draw(st.integers(0, 9)) < 8:  # mostly: past the CRC check
        _fix_crc(data)
        ops.append("fixcrc")
    return f"base{bi} {' '.join(ops)}", bytes(data)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_blobs())
def test_blob_info_mutations(case: tuple[str, bytes]) -> None:
    what, data = case
    _assert_same_verdict(data, what)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.binary(min_size=0, max_size=200), st.booleans())
def test_blob_info_random_bytes(raw: bytes, with_header: bool) -> None:
    data = bytearray(raw)
    if with_header and len(data) >= 28:
        data[0:6] = struct.pack("<IH", rvne.MAGIC, 1)
        _fix_crc(_fix_len(data))
    _assert_same_verdict(bytes(data), f"random {len(data)} bytes")
