"""Model v1 reference (ruv_temporal.model, docs/spec.md §4).

The forward is checked against a deliberately simple per-row, per-head loop
written here (float64, plain softmax over the kernel's candidate sets) and
against dense attention when the ATTN config covers every position; the
window and stream sessions are checked against the forward over the frames
they are documented to see.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ruv_temporal import kernel, rvne
from ruv_temporal.errors import BlobError, RuvError
from ruv_temporal.kernel import SparseConfig
from ruv_temporal.model import StreamSession, TemporalHead, WindowSession

# --------------------------------------------------------------------------
# blobs


def _random_blob(
    D: int,  # noqa: N803
    q: int,
    kv: int,
    d: int,
    L: int,  # noqa: N803
    C: int,  # noqa: N803
    *,
    seed: int,
    norm: bool = True,
    bias: bool = True,
    attn: SparseConfig | None = None,
    fp16: bool = False,
) -> rvne.Blob:
    """A blob with random weights (scaled so attention is far from uniform)."""
    rng = np.random.default_rng(seed)

    def w(r: int, c: int, gain: float = 1.0) -> np.ndarray:
        return (rng.normal(0.0, gain / math.sqrt(r), (r, c))).astype(np.float32)

    def b(n: int) -> np.ndarray | None:
        return rng.normal(0.0, 0.3, n).astype(np.float32) if bias else None

    layers = [
        rvne.LayerWeights(
            wq=w(D, q * d, 1.5), wk=w(D, kv * d, 1.5), wv=w(D, kv * d), wo=w(q * d, D, 0.5),
            bq=b(q * d), bk=b(kv * d), bv=b(kv * d), bo=b(D),
        )
        for _ in range(L)
    ]
    nrm = None
    if norm:
        nrm = (rng.normal(0.5, 1.0, D).astype(np.float32),
               rng.uniform(0.3, 1.5, D).astype(np.float32))
    return rvne.Blob(
        input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
        fp16=fp16, layers=layers, wc=w(D, C, 0.5), bc=b(C), norm=nrm, attn=attn,
    )


def _blob_bytes(case: str) -> bytes:
    if case == "spec_random":
        return rvne.init_random()
    if case == "norm_bias_attn":  # GQA 4/2, 3 layers, landmarks + log-stride + 2 globals
        cfg = SparseConfig(window=5, block_size=4, global_tokens=(0, 3), causal=True,
                           log_stride=True, landmarks=True)
        return rvne.build(_random_blob(8, 4, 2, 8, 3, 3, seed=1, attn=cfg))
    if case == "mha_w0":  # MHA, W = 0, odd block, no globals
        cfg = SparseConfig(window=0, block_size=3, global_tokens=(), causal=True,
                           log_stride=True, landmarks=True)
        return rvne.build(_random_blob(6, 2, 2, 4, 1, 2, seed=2, attn=cfg))
    if case == "norm_only":  # no BIAS, default (aether) attention
        return rvne.build(_random_blob(5, 3, 1, 6, 2, 4, seed=3, bias=False))
    raise AssertionError(case)


CASES = ["spec_random", "norm_bias_attn", "mha_w0", "norm_only"]


@pytest.fixture(scope="module", params=CASES)
def head(request: pytest.FixtureRequest) -> TemporalHead:
    return TemporalHead.from_blob(_blob_bytes(request.param))


def _frames(hd: TemporalHead, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.0, (n, hd.input_dim)).astype(np.float32)


# --------------------------------------------------------------------------
# the independent reference: one row, one head at a time, float64


def _loop_forward(blob: rvne.Blob, x: np.ndarray, dense: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    cfg = blob.attn if blob.attn is not None else SparseConfig.aether()
    D, q, kv, d, L, C = blob.dims  # noqa: N806
    group = q // kv
    bs = int(cfg.block_size)

    def bias(v: Any, n: int) -> np.ndarray:
        return np.zeros(n) if v is None else np.asarray(v, np.float64)

    h = np.asarray(x, np.float64).copy()
    if blob.norm is not None:
        h = (h - blob.norm[0]) * blob.norm[1]
    n = h.shape[0]
    states = [h[-1].copy()]
    for lw in blob.layers:
        Q = (h @ lw.wq + bias(lw.bq, q * d)).reshape(n, q, d)  # noqa: N806
        K = (h @ lw.wk + bias(lw.bk, kv * d)).reshape(n, kv, d)  # noqa: N806
        V = (h @ lw.wv + bias(lw.bv, kv * d)).reshape(n, kv, d)  # noqa: N806
        A = np.zeros((n, q, d))  # noqa: N806
        for i in range(n):
            if dense:
                toks, blks = list(range(i + 1)), []
            else:
                toks, blks = kernel.candidates(i, n, cfg)
                assert i in toks
            for hh in range(q):
                g = hh // group
                keys = [K[j, g] for j in toks]
                vals = [V[j, g] for j in toks]
                for blk in blks:
                    rows = slice(blk * bs, min(n, (blk + 1) * bs))
                    keys.append(K[rows, g].mean(axis=0))
                    vals.append(V[rows, g].mean(axis=0))
                s = np.array([float(np.dot(Q[i, hh], kk)) for kk in keys]) / math.sqrt(d)
                p = np.exp(s - s.max())
                p /= p.sum()
                A[i, hh] = sum(pi * vv for pi, vv in zip(p, vals, strict=True))
        h = h + A.reshape(n, q * d) @ lw.wo + bias(lw.bo, D)
        states.append(h[-1].copy())
    logits = h[-1] @ blob.wc + bias(blob.bc, C)
    return logits, np.array(states)


# --------------------------------------------------------------------------
# forward


def test_forward_shapes_dtype_and_determinism(head: TemporalHead) -> None:
    x = _frames(head, 21)
    logits = head.forward(x)
    assert logits.shape == (head.n_classes,) and logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    logits2, states = head.forward(x, return_states=True)
    assert states.shape == (head.n_layers + 1, head.input_dim) and states.dtype == np.float32
    np.testing.assert_array_equal(logits, logits2)
    again = TemporalHead.from_blob(rvne.build(head.blob)).forward(x.tolist())
    np.testing.assert_array_equal(logits, again)
    # the input is not modified, a single frame works, the newest frame matters
    x0 = x.copy()
    head.forward(x)
    np.testing.assert_array_equal(x, x0)
    assert head.forward(x[:1]).shape == (head.n_classes,)
    y = x.copy()
    y[-1] += 1.0
    assert not np.allclose(head.forward(y), logits)


def test_properties() -> None:
    hd = TemporalHead.from_blob(rvne.init_random())
    assert (hd.input_dim, hd.n_classes, hd.n_layers) == (16, 4, 2)
    assert (hd.n_q_heads, hd.n_kv_heads, hd.head_dim) == (4, 1, 32)
    assert hd.attn_cfg == SparseConfig.aether()
    assert (hd.attn_cfg.window, hd.attn_cfg.block_size, tuple(hd.attn_cfg.global_tokens)) == (
        32, 16, (0,))
    hd2 = TemporalHead.from_blob(_blob_bytes("norm_bias_attn"))
    assert hd2.attn_cfg.window == 5 and hd2.attn_cfg.block_size == 4
    assert tuple(hd2.attn_cfg.global_tokens) == (0, 3)
    hd3 = TemporalHead.from_parsed(rvne.parse(_blob_bytes("norm_bias_attn")))
    x = _frames(hd2, 9)
    np.testing.assert_array_equal(hd2.forward(x), hd3.forward(x))


@pytest.mark.parametrize("n", [1, 2, 7, 16, 17, 40])
def test_forward_equals_loop_reference(head: TemporalHead, n: int) -> None:
    x = _frames(head, n, seed=n)
    logits, states = head.forward(x, return_states=True)
    ref_logits, ref_states = _loop_forward(head.blob, x)
    np.testing.assert_allclose(logits, ref_logits, atol=2e-5, rtol=0)
    np.testing.assert_allclose(states, ref_states, atol=2e-5, rtol=0)


def test_forward_dense_config_equals_dense_math() -> None:
    """An ATTN config whose candidate set is exactly 0..=i (W >= n, nothing else)."""
    n = 24
    cfg = SparseConfig(window=n, block_size=8, global_tokens=(), causal=True,
                       log_stride=False, landmarks=False)
    blob = rvne.parse(rvne.build(_random_blob(8, 4, 2, 8, 2, 3, seed=7, attn=cfg)))
    hd = TemporalHead.from_parsed(blob)
    for t in (1, 5, n):
        x = _frames(hd, t, seed=t)
        logits, states = hd.forward(x, return_states=True)
        ref_logits, ref_states = _loop_forward(blob, x, dense=True)
        np.testing.assert_allclose(logits, ref_logits, atol=2e-5, rtol=0)
        np.testing.assert_allclose(states, ref_states, atol=2e-5, rtol=0)
    # ... and the aether default is *not* dense at that length (the test can tell)
    blob_sparse = rvne.parse(rvne.build(_random_blob(8, 4, 2, 8, 2, 3, seed=7, attn=None)))
    x = _frames(hd, 60, seed=1)
    far = np.abs(TemporalHead.from_parsed(blob_sparse).forward(x)
                 - _loop_forward(blob_sparse, x, dense=True)[0]).max()
    assert far > 1e-4


def test_states(head: TemporalHead) -> None:
    x = _frames(head, 13)
    logits, states = head.forward(x, return_states=True)
    blob = head.blob
    norm0 = x[-1] if blob.norm is None else (x[-1] - blob.norm[0]) * blob.norm[1]
    np.testing.assert_allclose(states[0], norm0, atol=1e-6, rtol=0)
    bc = 0 if blob.bc is None else blob.bc
    np.testing.assert_allclose(states[-1] @ blob.wc + bc, logits, atol=1e-5, rtol=0)
    # every layer moves the residual stream
    assert all(not np.allclose(states[i], states[i + 1]) for i in range(head.n_layers))


def test_fp16_weight_blob() -> None:
    b32 = _random_blob(8, 4, 1, 8, 2, 3, seed=11)
    b16 = _random_blob(8, 4, 1, 8, 2, 3, seed=11, fp16=True)
    data16 = rvne.build(b16)
    assert len(data16) < len(rvne.build(b32))
    parsed = rvne.parse(data16)
    assert parsed.fp16
    hd = TemporalHead.from_blob(data16)
    x = _frames(hd, 30)
    logits = hd.forward(x)
    assert np.all(np.isfinite(logits))
    # the same as an FP32 model whose weights were rounded to binary16 ...
    for lw in b32.layers:
        for name in ("wq", "wk", "wv", "wo"):
            setattr(lw, name, getattr(lw, name).astype(np.float16).astype(np.float32))
    b32.wc = b32.wc.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(logits, TemporalHead.from_parsed(b32).forward(x), atol=1e-6)
    # ... and the loop reference on the parsed blob; sessions run on it too
    np.testing.assert_allclose(logits, _loop_forward(parsed, x)[0], atol=2e-5)
    s = hd.stream_session(8)
    for f in x[:5]:
        out = s.push(f)
    np.testing.assert_allclose(out, hd.forward(x[:5]), atol=1e-5)


# --------------------------------------------------------------------------
# window session


@pytest.mark.parametrize("n_win", [1, 6, 16])
def test_window_session_equals_forward_over_ring(head: TemporalHead, n_win: int) -> None:
    x = _frames(head, 2 * n_win + 5, seed=3)
    s = head.window_session(n_win)
    assert isinstance(s, WindowSession)
    for t in range(len(x)):
        s.push(x[t])
        lo = max(0, t + 1 - n_win)
        assert s.filled == len(s) == t + 1 - lo
        logits = s.classify()
        ref, ref_states = head.forward(x[lo:t + 1], return_states=True)
        np.testing.assert_array_equal(logits, ref)
        assert s.states is not None
        np.testing.assert_array_equal(s.states, ref_states)
        np.testing.assert_array_equal(s.frames(), x[lo:t + 1])


def test_window_session_errors_and_reset() -> None:
    hd = TemporalHead.from_blob(rvne.init_random())
    s = hd.window_session(4)
    with pytest.raises(RuvError):
        s.classify()
    for bad in (np.zeros(15), np.zeros(17), np.zeros((1, 16)), np.zeros((16, 1))):
        with pytest.raises(RuvError):
            s.push(bad)
    with pytest.raises(RuvError):
        s.classify()  # the rejected frames were not added
    s.push(np.ones(16, np.float32))
    assert s.classify().shape == (4,)
    s.reset()
    with pytest.raises(RuvError):
        s.classify()
    for n in (0, -1, 2.5, "x"):
        with pytest.raises(RuvError):
            hd.window_session(n)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# stream session


def _expected_context(n_frames: int, n_win: int) -> list[tuple[int, int, int]]:
    """(context start, context_len, rebases) after pushing frame t, from docs/spec.md §4."""
    out, start, ctx, rebases = [], 0, 0, 0
    for t in range(n_frames):
        if ctx == n_win:
            start, ctx, rebases = t - n_win // 2, n_win // 2, rebases + 1
        ctx += 1
        assert t + 1 - start == ctx
        out.append((start, ctx, rebases))
    return out


def test_stream_equals_window_before_first_rebase(head: TemporalHead) -> None:
    n_win = 16
    x = _frames(head, n_win, seed=5)
    st = head.stream_session(n_win)
    assert isinstance(st, StreamSession)
    win = head.window_session(n_win)
    for t in range(n_win):
        logits = st.push(x[t])
        win.push(x[t])
        np.testing.assert_allclose(logits, win.classify(), atol=1e-5, rtol=0)
        assert st.states is not None and win.states is not None
        np.testing.assert_allclose(st.states, win.states, atol=1e-5, rtol=0)
        assert st.context_len == t + 1 and st.rebases == 0
        np.testing.assert_array_equal(st.classify(), logits)


@pytest.mark.parametrize("n_win", [16, 5, 2])
def test_stream_after_rebases_equals_forward_over_context(head: TemporalHead, n_win: int
                                                          ) -> None:
    n_frames = 64
    x = _frames(head, n_frames, seed=9)
    st = head.stream_session(n_win)
    expected = _expected_context(n_frames, n_win)
    for t in range(n_frames):
        logits = st.push(x[t])
        start, ctx, rebases = expected[t]
        assert (st.context_len, st.rebases) == (ctx, rebases)
        np.testing.assert_array_equal(st.context_frames(), x[start:t + 1])
        ref, ref_states = head.forward(x[start:t + 1], return_states=True)
        np.testing.assert_allclose(logits, ref, atol=1e-5, rtol=0)
        np.testing.assert_allclose(st.states, ref_states, atol=1e-5, rtol=0)
    if n_win == 16:
        assert st.rebases == 6 and st.context_len == n_win  # rebases at t = 16, 24, ..., 56


def test_stream_rebase_context_matters() -> None:
    """After a rebase the logits differ from a forward over the whole ring or the
    whole history, so the rebase tests above can fail."""
    hd = TemporalHead.from_blob(_blob_bytes("norm_bias_attn"))
    n_win = 8
    x = _frames(hd, 20, seed=2)
    st = hd.stream_session(n_win)
    for t in range(n_win + 1):
        logits = st.push(x[t])
    assert st.rebases == 1 and st.context_len == n_win // 2 + 1
    np.testing.assert_allclose(logits, hd.forward(x[n_win - n_win // 2:n_win + 1]), atol=1e-5)
    assert not np.allclose(logits, hd.forward(x[1:n_win + 1]), atol=1e-4)
    assert not np.allclose(logits, hd.forward(x[:n_win + 1]), atol=1e-4)


def test_stream_decode_is_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per frame only decode steps; the full attention runs only inside a rebase."""
    hd = TemporalHead.from_blob(rvne.init_random())
    calls = {"sparse": 0, "decode": 0}
    real_sparse, real_decode = kernel.sparse_attention, kernel.decode_step

    def sparse(*a: Any, **k: Any) -> Any:
        calls["sparse"] += 1
        return real_sparse(*a, **k)

    def decode(*a: Any, **k: Any) -> Any:
        calls["decode"] += 1
        return real_decode(*a, **k)

    monkeypatch.setattr(kernel, "sparse_attention", sparse)
    monkeypatch.setattr(kernel, "decode_step", decode)
    st = hd.stream_session(16)
    for f in _frames(hd, 40):
        st.push(f)
    assert st.rebases == 3
    assert calls["decode"] == 40 * hd.n_layers
    assert calls["sparse"] == st.rebases * (hd.n_layers - 1)


def test_stream_fp16_kv_close_to_fp32(head: TemporalHead) -> None:
    n_win = 16
    x = _frames(head, 50, seed=4)
    s32 = head.stream_session(n_win)
    s16 = head.stream_session(n_win, kv_fp16=True)
    worst = 0.0
    for f in x:
        a, b = s32.push(f), s16.push(f)
        worst = max(worst, float(np.abs(a - b).max()))
        assert s16.rebases == s32.rebases and s16.context_len == s32.context_len
    assert worst <= 1e-2
    assert s16.rebases > 0


def test_stream_errors_and_reset() -> None:
    hd = TemporalHead.from_blob(rvne.init_random())
    for n in (1, 0, -3):
        with pytest.raises(RuvError):
            hd.stream_session(n)
    st = hd.stream_session(2)
    with pytest.raises(RuvError):
        st.classify()
    with pytest.raises(RuvError):
        st.push(np.zeros(15, np.float32))
    assert st.context_len == 0 and st.states is None
    x = _frames(hd, 5)
    for f in x:
        st.push(f)
    assert st.rebases == 3 and st.context_len == 2
    st.reset()
    assert st.context_len == 0 and st.rebases == 0
    np.testing.assert_allclose(st.push(x[0]), hd.forward(x[:1]), atol=1e-5)


# --------------------------------------------------------------------------
# bad input


def test_forward_errors() -> None:
    hd = TemporalHead.from_blob(rvne.init_random())
    for bad in (np.zeros((4, 15)), np.zeros((0, 16)), np.zeros(16), np.zeros((2, 4, 16)),
                [["a"] * 16]):
        with pytest.raises(RuvError):
            hd.forward(bad)
    data = bytearray(rvne.init_random())
    data[30] ^= 1
    with pytest.raises(BlobError):
        TemporalHead.from_blob(bytes(data))
    blob = rvne.parse(rvne.init_random())
    blob.layers[0].wq = blob.layers[0].wq[:, :-1]
    with pytest.raises(RuvError):
        TemporalHead.from_parsed(blob)


def test_bad_attn_config_in_parsed_blob() -> None:
    for cfg in (SparseConfig(window=4, block_size=0), SparseConfig(window=4, block_size=4,
                                                                   causal=False)):
        blob = rvne.parse(rvne.init_random())
        blob.attn = cfg
        with pytest.raises(RuvError):
            TemporalHead.from_parsed(blob)
    blob = rvne.parse(rvne.init_random())
    blob.attn = rvne._AttnConfig(window=3, block_size=5, global_tokens=(1,))  # duck-typed
    hd = TemporalHead.from_parsed(blob)
    assert hd.attn_cfg == SparseConfig(window=3, block_size=5, global_tokens=(1,))
