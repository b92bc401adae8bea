"""The NumPy reference kernel (ruv_temporal.kernel) against docs/spec.md §3.

Golden cases from the original kernel, the edge-count facts, hand-worked
candidate sets, decode == prefill, the saturated quirk, and a property test
against a deliberately simple per-row implementation written here from
``kernel.candidates`` (one-pass online softmax, float64, no vectorisation).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruv_temporal import kernel
from ruv_temporal.errors import RuvError
from ruv_temporal.kernel import KvCache, SparseConfig

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "golden").glob("*.npz"))


def rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------
# the simple reference: one row, one head at a time, straight from docs/spec.md §3


def loop_attention(q, k, v, cfg: SparseConfig, lk=None, lv=None, keep=None) -> np.ndarray:
    """Per-row loop over ``kernel.candidates`` with the spec's one-pass online
    softmax in float64. ``lk``/``lv`` override the landmark means;
    ``keep`` gates log-stride tokens."""
    n, qh, d = q.shape
    grp = qh // k.shape[1]
    k64, v64, q64 = (np.asarray(a, np.float64) for a in (k, v, q))
    bs = cfg.block_size
    if lk is None:
        nb = -(-n // bs)
        lk = np.array([k64[b * bs:min(n, (b + 1) * bs)].mean(axis=0) for b in range(nb)])
        lv = np.array([v64[b * bs:min(n, (b + 1) * bs)].mean(axis=0) for b in range(nb)])
    lk, lv = np.asarray(lk, np.float64), np.asarray(lv, np.float64)
    scale = 1.0 / math.sqrt(d)
    out = np.zeros((n, qh, d))
    for i in range(n):
        tokens, blocks = kernel.candidates(i, n, cfg)
        if keep is not None:
            hi = i if cfg.causal else min(i + cfg.window, n - 1)
            window = set(range(max(0, i - cfg.window), hi + 1))
            globals_ = {g for g in cfg.global_tokens if g < n and (not cfg.causal or g <= i)}
            tokens = [j for j in tokens if j in window or j in globals_ or keep[j]]
        for h in range(qh):
            g = h // grp
            cands = [(k64[j, g], v64[j, g]) for j in tokens]
            cands += [(lk[b, g], lv[b, g]) for b in blocks]
            m, den, acc = -math.inf, 0.0, np.zeros(d)
            for key, val in cands:
                s = float(q64[i, h] @ key) * scale
                if s > m:
                    corr = math.exp(m - s)
                    acc *= corr
                    den *= corr
                    m = s
                w = math.exp(s - m)
                den += w
                acc += w * val
            out[i, h] = acc / den if den > 0 else 0.0
    return out.astype(np.float32)


def load_case(path: Path) -> tuple[dict, SparseConfig]:
    d = dict(np.load(path))
    cfg = SparseConfig(int(d["window"]), int(d["block_size"]),
                       tuple(int(g) for g in d["global_tokens"]), bool(d["causal"]),
                       bool(d["log_stride"]), bool(d["landmarks"]))
    return d, cfg


def decode_all(q, k, v, cfg: SparseConfig, fp16: bool = False) -> np.ndarray:
    n, kvh, d = k.shape
    cache = KvCache(n, kvh, d, cfg.block_size, fp16=fp16)
    out = np.zeros(q.shape, np.float32)
    for t in range(n):
        cache.append(k[t], v[t])
        out[t] = kernel.decode_step(q[t], cache, cfg)
    return out


# --------------------------------------------------------------------------
# golden cases


def test_golden_cases_present() -> None:
    assert len(GOLDEN) == 5


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    d, cfg = load_case(path)
    entry = str(d["entry"])
    if entry in ("forward", "forward_gqa"):
        out = kernel.sparse_attention(d["q"], d["k"], d["v"], cfg)
    elif entry in ("decode_step", "decode_step_f16"):
        out = decode_all(d["q"], d["k"], d["v"], cfg, fp16=entry == "decode_step_f16")
    else:  # pragma: no cover - a new kind of case
        pytest.fail(f"unknown golden entry {entry}")
    assert out.dtype == np.float32 and out.shape == d["out"].shape
    np.testing.assert_allclose(out, d["out"], atol=float(d["tol"]), rtol=0)
    # and the golden output is not trivially the dense one (the case matters)
    dense = kernel.dense_attention(d["q"], d["k"], d["v"], cfg.causal)
    assert np.abs(dense - d["out"]).max() > 1e-4


def test_golden_saturated_differs_from_dense_only_in_rows_with_a_block() -> None:
    d, cfg = load_case(next(p for p in GOLDEN if "saturated" in p.stem))
    dense = kernel.dense_attention(d["q"], d["k"], d["v"], causal=True)
    diff = np.abs(dense - d["out"]).max(axis=(1, 2))
    assert diff[:31].max() < 1e-5 < diff[31]  # only i = 31 sees block 0 (B = 32)


# --------------------------------------------------------------------------
# edge counts


@pytest.mark.parametrize(("cfg", "n", "edges"), [
    (SparseConfig(), 4096, 560_834),
    (SparseConfig(), 8192, 1_146_498),
    (SparseConfig(window=32, block_size=16, global_tokens=(0,)), 64, 1_714),
    (SparseConfig(window=32, block_size=16, global_tokens=(0,)), 1000, 42_362),
])
def test_edge_count_facts(cfg: SparseConfig, n: int, edges: int) -> None:
    assert kernel.estimate_sparse_edges(n, cfg) == edges


def test_edge_count_is_fast_and_matches_candidates() -> None:
    t0 = time.perf_counter()
    assert kernel.estimate_sparse_edges(8192, SparseConfig()) == 1_146_498
    assert time.perf_counter() - t0 < 1.0
    cfg = SparseConfig.aether()
    assert kernel.estimate_sparse_edges(1000, cfg) == sum(
        len(t) + len(b) for t, b in (kernel.candidates(i, 1000, cfg) for i in range(1000)))
    assert kernel.estimate_sparse_edges(0, cfg) == 0


# --------------------------------------------------------------------------
# candidate sets, by hand

C = SparseConfig
HAND = [
    # causal, W=2, odd B=3, globals (0,3): s=1,2 hit the window, s=4 hits global 3
    (C(2, 3, (0, 3), True, True, True), 7, 10, [5, 6, 7, 0, 3], [0, 1]),
    # i-8 = 0 is a duplicate of the global; block log-stride adds pivot-2
    (C(2, 3, (0, 3), True, True, True), 8, 10, [6, 7, 8, 0, 3, 4], [1, 2, 0]),
    # non-causal: forward strides, current block skipped, pivot+2 added
    (C(1, 3, (0, 3), False, True, True), 4, 10, [3, 4, 5, 0, 2, 6, 8], [0, 2, 3]),
    # W=0, no log-stride: self only; one completed block
    (C(0, 4, (), True, False, True), 5, 8, [5], [0]),
    # W=0 with log-stride and globals: insertion order window, globals, strides
    (C(0, 5, (0, 3), True, True, True), 9, 16, [9, 0, 3, 8, 7, 5, 1], [0, 1]),
    # the causal quirk: block 0 ends at i=3 and is added although 0..3 are tokens
    (C(8, 4, (0,), True, True, True), 3, 8, [0, 1, 2, 3], [0]),
    (C(8, 4, (0,), True, True, True), 2, 8, [0, 1, 2], []),
    # non-causal, partial last block holding i
    (C(1, 4, (), False, True, True), 9, 10, [8, 9, 7, 5, 1], [1, 0]),
    # globals beyond i (causal) or beyond n are skipped; no landmarks
    (C(1, 4, (9, 2, 50), True, False, False), 5, 10, [4, 5, 2], []),
    (C(1, 4, (9, 2, 50), False, False, False), 5, 10, [4, 5, 6, 9, 2], []),
]


@pytest.mark.parametrize(("cfg", "i", "n", "tokens", "blocks"), HAND)
def test_candidates_by_hand(cfg, i, n, tokens, blocks) -> None:
    assert kernel.candidates(i, n, cfg) == (tokens, blocks)
    assert kernel.candidate_sets(n, cfg).row(i) == (tokens, blocks)


def test_candidate_sets_padded_arrays() -> None:
    cfg = C(2, 3, (0, 3), True, True, True)
    cs = kernel.candidate_sets(10, cfg)
    assert kernel.candidate_sets(10, cfg) is cs  # cached per (n, cfg)
    row = cs.tokens[8][cs.token_mask[8]].tolist()
    assert row == [6, 7, 8, 0, 3, 4]
    assert cs.blocks[8][cs.block_mask[8]].tolist() == [1, 2, 0]
    assert cs.token_counts.sum() + cs.block_counts.sum() == kernel.estimate_sparse_edges(10, cfg)
    with pytest.raises(ValueError):
        cs.extra[0, 0] = 1  # read-only: shared through the cache


configs = st.builds(
    SparseConfig,
    window=st.integers(0, 24),
    block_size=st.integers(1, 12),
    global_tokens=st.lists(st.integers(0, 80), max_size=3).map(tuple),
    causal=st.booleans(),
    log_stride=st.booleans(),
    landmarks=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(cfg=configs, n=st.integers(1, 100))
def test_candidate_sets_equal_candidates(cfg: SparseConfig, n: int) -> None:
    cs = kernel.candidate_sets(n, cfg)
    total = 0
    for i in range(n):
        tokens, blocks = kernel.candidates(i, n, cfg)
        assert cs.row(i) == (tokens, blocks)
        assert len(set(tokens)) == len(tokens) and len(set(blocks)) == len(blocks)
        assert i in tokens
        total += len(tokens) + len(blocks)
    assert kernel.estimate_sparse_edges(n, cfg) == total


# --------------------------------------------------------------------------
# vectorised forward == the simple loop


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, n=st.integers(1, 60), kv=st.sampled_from([1, 2, 3]),
       grp=st.sampled_from([1, 2, 4]), d=st.integers(1, 12),
       scale=st.floats(0.05, 3.0), seed=st.integers(0, 2**32 - 1), gated=st.booleans())
def test_sparse_equals_simple_loop(cfg, n, kv, grp, d, scale, seed, gated) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = rand(rng, n, kv * grp, d, scale=scale), rand(rng, n, kv, d, scale=scale), \
        rand(rng, n, kv, d)
    if gated:
        keep = rng.random(n) < 0.5
        out = kernel.gated_sparse_attention(q, k, v, cfg, keep)
        ref = loop_attention(q, k, v, cfg, keep=keep)
    else:
        out = kernel.sparse_attention(q, k, v, cfg)
        ref = loop_attention(q, k, v, cfg)
    assert out.dtype == np.float32 and out.shape == (n, kv * grp, d)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_gqa_head_mapping() -> None:
    """Query head h reads kv head h // (q_heads / kv_heads): each kv head's
    group equals an MHA run with that kv head repeated."""
    rng = np.random.default_rng(5)
    n, cfg = 40, SparseConfig(window=6, block_size=4, global_tokens=(0,))
    q, k, v = rand(rng, n, 6, 8), rand(rng, n, 2, 8), rand(rng, n, 2, 8)
    gqa = kernel.sparse_attention(q, k, v, cfg)
    mha = kernel.sparse_attention(q, np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1), cfg)
    np.testing.assert_allclose(gqa, mha, atol=1e-7, rtol=0)
    dense = kernel.dense_attention(q, k, v, causal=False)
    np.testing.assert_allclose(
        dense, kernel.dense_attention(q, np.repeat(k, 3, 1), np.repeat(v, 3, 1), False), atol=1e-7)


def test_dense_attention_formula() -> None:
    rng = np.random.default_rng(9)
    n, h, d = 23, 2, 5
    q, k, v = rand(rng, n, h, d), rand(rng, n, h, d), rand(rng, n, h, d)
    for causal in (True, False):
        s = np.einsum("ihd,jhd->hij", q.astype(np.float64), k) / math.sqrt(d)
        if causal:
            s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        ref = np.einsum("hij,jhd->ihd", p / p.sum(-1, keepdims=True), v)
        np.testing.assert_allclose(kernel.dense_attention(q, k, v, causal), ref, atol=1e-6)


def test_empty_sequence() -> None:
    z = np.zeros((0, 4, 8), np.float32)
    assert kernel.sparse_attention(z, z[:, :2], z[:, :2], SparseConfig()).shape == (0, 4, 8)
    assert kernel.dense_attention(z, z, z).shape == (0, 4, 8)


# --------------------------------------------------------------------------
# saturated config: the quirk


def saturated_inputs():
    rng = np.random.default_rng(2024)
    return rand(rng, 32, 4, 16, scale=0.1), rand(rng, 32, 4, 16, scale=0.1), \
        rand(rng, 32, 4, 16, scale=0.1)


def test_saturated_sparse_differs_from_dense_by_the_quirk() -> None:
    q, k, v = saturated_inputs()
    cfg = SparseConfig(window=32, block_size=32, global_tokens=(0,), causal=True)
    diff = np.abs(kernel.sparse_attention(q, k, v, cfg) - kernel.dense_attention(q, k, v)).max()
    assert 1e-6 < diff < 1e-4


def test_saturated_without_landmarks_equals_dense() -> None:
    q, k, v = saturated_inputs()
    cfg = SparseConfig(window=32, block_size=32, global_tokens=(0,), causal=True,
                       landmarks=False)
    diff = np.abs(kernel.sparse_attention(q, k, v, cfg) - kernel.dense_attention(q, k, v)).max()
    assert diff <= 1e-6


# --------------------------------------------------------------------------
# streaming decode


DECODE_CFGS = [
    (SparseConfig.aether(), 100),
    (SparseConfig(window=5, block_size=3, global_tokens=(0, 7), causal=True), 90),
    (SparseConfig(window=16, block_size=8, global_tokens=(), causal=True, log_stride=False), 70),
    (SparseConfig(window=0, block_size=1, global_tokens=(2,), causal=True), 40),
]


@pytest.mark.parametrize("heads", [(4, 4), (4, 1), (4, 2)], ids=["mha", "gqa41", "gqa42"])
@pytest.mark.parametrize("case", range(len(DECODE_CFGS)))
def test_decode_token_by_token_equals_prefill(heads: tuple[int, int], case: int) -> None:
    cfg, n = DECODE_CFGS[case]
    qh, kvh = heads
    rng = np.random.default_rng(case)
    q, k, v = rand(rng, n, qh, 16), rand(rng, n, kvh, 16), rand(rng, n, kvh, 16)
    pre = kernel.sparse_attention(q, k, v, cfg)
    dec = decode_all(q, k, v, cfg)
    assert np.abs(dec - pre).max() <= 1e-6
    # non-causal configs decode causally
    nc = SparseConfig(cfg.window, cfg.block_size, cfg.global_tokens, False, cfg.log_stride,
                      cfg.landmarks)
    assert np.abs(decode_all(q, k, v, nc) - pre).max() <= 1e-6


def test_decode_large_magnitudes_still_match_prefill() -> None:
    rng = np.random.default_rng(3)
    cfg, n = SparseConfig.aether(), 80
    q, k, v = rand(rng, n, 4, 32, scale=8), rand(rng, n, 1, 32, scale=8), rand(rng, n, 1, 32)
    pre = kernel.sparse_attention(q, k, v, cfg)
    assert np.abs(decode_all(q, k, v, cfg) - pre).max() <= 1e-6


def test_kv_cache_running_means_and_errors() -> None:
    rng = np.random.default_rng(4)
    k, v = rand(rng, 11, 2, 3), rand(rng, 11, 2, 3)
    cache = KvCache(11, 2, 3, 4)
    assert len(cache) == 0 and not cache.full
    for t in range(11):
        cache.append(k[t], v[t])
    assert len(cache) == 11 and cache.full
    km, vm = cache.block_means()
    assert km.dtype == np.float32 and km.shape == (3, 2, 3)
    np.testing.assert_allclose(km, kernel.landmark_means(k, 4), atol=1e-6)
    np.testing.assert_allclose(vm, kernel.landmark_means(v, 4), atol=1e-6)
    np.testing.assert_array_equal(cache.keys(), k)
    with pytest.raises(RuvError, match="full"):
        cache.append(k[0], v[0])
    cache.clear()
    assert len(cache) == 0
    cache.append(k[5].reshape(-1), v[5].reshape(-1))  # flat rows are accepted
    np.testing.assert_array_equal(cache.block_means()[0][0], k[5])
    with pytest.raises(RuvError):
        cache.append(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(RuvError):
        KvCache(0, 1, 1, 1)
    with pytest.raises(RuvError, match="empty"):
        kernel.decode_step(np.zeros((2, 3)), KvCache(4, 2, 3, 4), SparseConfig(block_size=4))
    with pytest.raises(RuvError, match="block_size"):
        kernel.decode_step(np.zeros((2, 3)), cache, SparseConfig(block_size=5))
    with pytest.raises(RuvError, match="multiple"):
        kernel.decode_step(np.zeros((3, 3)), cache, SparseConfig(block_size=4))


def test_fp16_cache_decode_equals_forward_on_rounded_rows() -> None:
    rng = np.random.default_rng(6)
    cfg, n = SparseConfig(window=8, block_size=16, global_tokens=(0,)), 64
    q, k, v = rand(rng, n, 4, 16), rand(rng, n, 2, 16), rand(rng, n, 2, 16)
    cache = KvCache(n, 2, 16, 16, fp16=True)
    dec = np.zeros(q.shape, np.float32)
    for t in range(n):
        cache.append(k[t], v[t])
        dec[t] = kernel.decode_step(q[t], cache, cfg)
    # rows are binary16, round-to-nearest-even; means from the unrounded rows
    k16, v16 = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(cache.keys(), k16)
    assert cache._k.dtype == np.float16
    km, vm = cache.block_means()
    np.testing.assert_allclose(km, kernel.landmark_means(k, 16), atol=1e-6)
    assert np.abs(km - kernel.landmark_means(k16, 16)).max() > 1e-6  # not the rounded rows
    ref = loop_attention(q, k16, v16, cfg, lk=kernel.landmark_means(k, 16),
                         lv=kernel.landmark_means(v, 16))
    np.testing.assert_allclose(dec, ref, atol=1e-6, rtol=0)
    nolm = SparseConfig(window=8, block_size=16, global_tokens=(0,), landmarks=False)
    np.testing.assert_allclose(decode_all(q, k, v, nolm, fp16=True),
                               kernel.sparse_attention(q, k16, v16, nolm), atol=1e-6, rtol=0)
    assert np.abs(dec - kernel.sparse_attention(q, k, v, cfg)).max() > 1e-5  # fp16 matters


def test_round_to_nearest_even() -> None:
    cache = KvCache(1, 1, 2, 1, fp16=True)
    # 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0)
    x = np.array([[1 + 2.0**-11, 1 + 3 * 2.0**-11]], np.float32)
    cache.append(x, x)
    assert cache.keys()[0].tolist() == [[1.0, 1 + 2 * 2.0**-10]]


# --------------------------------------------------------------------------
# H2O eviction


def test_h2o_eviction() -> None:
    rng = np.random.default_rng(8)
    cfg = SparseConfig(window=2, block_size=3, global_tokens=(0, 4))
    k, v = rand(rng, 9, 1, 4), rand(rng, 9, 1, 4)
    cache = KvCache(8, 1, 4, 3)
    for t in range(8):
        cache.append(k[t], v[t])
    # protected: 0, 4 (globals) and 6, 7 (last W=2); lowest free score is at 2 and 5 (tie)
    scores = np.array([-9, 3, 1, 2, -9, 1, -9, -9], np.float32)
    assert kernel.evict_h2o(cache, scores, cfg) == 2
    assert len(cache) == 7
    kept = [0, 1, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(cache.keys(), k[kept])
    np.testing.assert_array_equal(cache.values(), v[kept])
    km, vm = cache.block_means()
    np.testing.assert_allclose(km, kernel.landmark_means(k[kept], 3), atol=1e-6)
    np.testing.assert_allclose(vm, kernel.landmark_means(v[kept], 3), atol=1e-6)
    cache.append(k[8], v[8])
    assert cache.full
    q = rand(rng, 2, 4)
    np.testing.assert_allclose(
        kernel.decode_step(q, cache, cfg),
        kernel.sparse_attention(np.repeat(q[None], 8, 0), k[kept + [8]], v[kept + [8]], cfg)[-1],
        atol=1e-6)
    with pytest.raises(RuvError, match="entries"):
        kernel.evict_h2o(cache, scores[:5], cfg)


@pytest.mark.parametrize(("cap", "cfg"), [
    (3, SparseConfig(window=2, block_size=3, global_tokens=(0,))),   # 0 global, 1..2 window
    (3, SparseConfig(window=5, block_size=3, global_tokens=())),     # len <= window
    (6, SparseConfig(window=3, block_size=2, global_tokens=(0, 1, 2))),
], ids=["global0+window", "window-covers-all", "globals-below-window"])
def test_h2o_every_position_protected_evicts_position_0(cap: int, cfg: SparseConfig) -> None:
    """Upstream's rule: the first non-global position below len - window,
    else position 0 — and below len - window only globals are protected."""
    rng = np.random.default_rng(cap)
    k, v = rand(rng, cap, 1, 4), rand(rng, cap, 1, 4)
    cache = KvCache(cap, 1, 4, cfg.block_size)
    for t in range(cap):
        cache.append(k[t], v[t])
    assert kernel.evict_h2o(cache, np.zeros(cap, np.float32) - 1, cfg) == 0
    np.testing.assert_array_equal(cache.keys(), k[1:])
    np.testing.assert_array_equal(cache.values(), v[1:])
    np.testing.assert_allclose(cache.block_means()[0], kernel.landmark_means(k[1:], cfg.block_size),
                               atol=1e-6)


# --------------------------------------------------------------------------
# FastGRNN gate


def test_fastgrnn_hand_checked_step() -> None:
    # Wg = Ug = 0, bg = 0 -> g = 1/2; Wu = I, Uu = 0, bu = 0 -> c = tanh(x)
    z = np.zeros((2, 2), np.float32)
    cell = kernel.FastGRNNGate(z, z, np.zeros(2), np.eye(2), z, np.zeros(2))
    h = cell.step([0.5, -1.0], [1.0, 2.0])
    np.testing.assert_allclose(h, [0.5 + 0.5 * math.tanh(0.5), 1.0 + 0.5 * math.tanh(-1.0)],
                               rtol=1e-6)
    # orientation x·W with W [in][out]: dim 3 -> hidden 2
    wg = np.array([[1, 0], [0, 0], [0, 2]], np.float32)
    ug = np.array([[0, 1], [0, 0]], np.float32)
    wu = np.array([[0, 0], [1, 0], [0, 0]], np.float32)
    cell = kernel.FastGRNNGate(wg, ug, [0.0, -1.0], wu, np.zeros((2, 2)), [0.5, 0.0])
    x, h0 = np.array([0.2, 0.3, 0.1]), np.array([0.4, -0.6])
    g = [1 / (1 + math.exp(-0.2)), 1 / (1 + math.exp(-(0.2 + 0.4 - 1.0)))]
    c = [math.tanh(0.3 + 0.5), math.tanh(0.0)]
    want = [g[j] * h0[j] + (1 - g[j]) * c[j] for j in range(2)]
    np.testing.assert_allclose(cell.step(x, h0), want, rtol=1e-6)
    assert cell.dim == 3 and cell.hidden == 2
    with pytest.raises(RuvError):
        kernel.FastGRNNGate(wg, ug, [0.0], wu, np.zeros((2, 2)), [0.5, 0.0])
    with pytest.raises(RuvError):
        cell.step([1.0, 2.0], h0)


def test_fastgrnn_salience_and_gated_forward() -> None:
    rng = np.random.default_rng(10)
    n, d = 50, 8
    cell = kernel.FastGRNNGate.random(d, 6, seed=3)
    k = rand(rng, n, 2, d)
    sal = cell.salience(k)
    assert sal.shape == (n,) and sal.dtype == np.float32
    h = np.zeros(6, np.float32)
    for t in range(3):
        h = cell.step(k[t].mean(axis=0), h)
    np.testing.assert_allclose(sal[2], np.linalg.norm(h), rtol=1e-6)
    q, v = rand(rng, n, 4, d), rand(rng, n, 2, d)
    cfg = SparseConfig(window=4, block_size=5, global_tokens=(0,))
    np.testing.assert_array_equal(kernel.gated_sparse_attention(q, k, v, cfg, np.ones(n, bool)),
                                  kernel.sparse_attention(q, k, v, cfg))
    keep = cell.keep_mask(k, float(np.median(sal)))
    assert 0 < keep.sum() < n
    gated = kernel.gated_sparse_attention(q, k, v, cfg, keep)
    np.testing.assert_allclose(gated, loop_attention(q, k, v, cfg, keep=keep), atol=1e-5)
    assert np.abs(gated - kernel.sparse_attention(q, k, v, cfg)).max() > 1e-4
    with pytest.raises(RuvError, match="keep_mask"):
        kernel.gated_sparse_attention(q, k, v, cfg, keep[:-1])


# --------------------------------------------------------------------------
# config and validation


def test_sparse_config() -> None:
    assert SparseConfig() == SparseConfig(128, 64, (0,), True, True, True)
    a = SparseConfig.aether()
    assert (a.window, a.block_size, a.global_tokens) == (32, 16, (0,))
    cfg = SparseConfig(window=8, block_size=4, global_tokens=[0, 3])  # list -> tuple
    assert cfg.global_tokens == (0, 3) and hash(cfg) == hash(SparseConfig(8, 4, (0, 3)))
    with pytest.raises(AttributeError):
        cfg.window = 3  # frozen


def test_input_validation() -> None:
    rng = np.random.default_rng(0)
    q, k = rand(rng, 10, 3, 4), rand(rng, 10, 2, 4)
    with pytest.raises(RuvError, match="multiple"):
        kernel.sparse_attention(q, k, k, SparseConfig())
    with pytest.raises(RuvError, match="multiple"):
        kernel.dense_attention(q, k, k)
    with pytest.raises(RuvError, match="shape"):
        kernel.sparse_attention(q, k, k[:, :1], SparseConfig())
    with pytest.raises(RuvError, match="rows"):
        kernel.sparse_attention(q[:5], k[:, :1], k[:, :1], SparseConfig())
    with pytest.raises(RuvError, match="dim"):
        kernel.sparse_attention(q, k[..., :3], k[..., :3], SparseConfig())
    with pytest.raises(RuvError, match=r"\[seq\]"):
        kernel.sparse_attention(q[0], k[0], k[0], SparseConfig())
    with pytest.raises(RuvError, match="block_size"):
        kernel.sparse_attention(q, k[:, :1], k[:, :1], SparseConfig(block_size=0))
    with pytest.raises(RuvError, match="block_size"):
        kernel.estimate_sparse_edges(10, SparseConfig(block_size=0))
    with pytest.raises(RuvError, match="block_size"):
        kernel.landmark_means(k, 0)
    with pytest.raises(RuvError, match="window"):
        kernel.candidates(0, 4, SparseConfig(window=-1))
    with pytest.raises(RuvError, match="range"):
        kernel.candidates(4, 4, SparseConfig())


# --------------------------------------------------------------------------
# the benchmark command (output shape only, no timing thresholds)


def test_bench_kernel_cli() -> None:
    from click.testing import CliRunner

    from ruv_temporal.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["bench", "kernel", "--max-n", "128", "--repeats", "1"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for n in ("64", "128"):
        assert any(line.split("│")[1:2] and line.split("│")[1].strip() == n
                   for line in lines if "│" in line), res.output
    assert "ratio" in res.output and "decode" in res.output.lower()
    res = runner.invoke(main, ["bench", "kernel", "--max-n", "128", "--repeats", "1",
                               "--json", "-"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["n"] for r in data["forward"]] == [64, 128]
    for row in data["forward"]:
        assert {"dense_ms", "aether_ms", "aether_ratio", "default_ms", "default_ratio"} <= set(row)
    assert data["decode"] and all(r["us_per_token"] > 0 for r in data["decode"])


# --------------------------------------------------------------------------
# optional APIs: module split, default gate, top-K keep masks


def test_optional_apis_are_reexported_from_kernel() -> None:
    from ruv_temporal import kernel_extras
    for name in ("dense_attention", "gated_sparse_attention", "evict_h2o", "FastGRNNGate",
                 "keep_mask_top_k", "default_gate_weights", "DEFAULT_HIDDEN"):
        assert getattr(kernel, name) is getattr(kernel_extras, name)
        assert name in kernel.__all__


def test_default_gate_weights_formula() -> None:
    d, hid = 5, 3
    wg, ug, wu, uu = kernel.default_gate_weights(d, hid)
    assert wg.shape == wu.shape == (d, hid) and ug.shape == uu.shape == (hid, hid)
    assert all(w.dtype == np.float32 for w in (wg, ug, wu, uu))
    scale = math.sqrt(2.0 / (d + hid)) * 0.1

    def spec(i: int, which: int) -> float:  # docs/spec.md §3, in Python integers and doubles
        j = (i + 1000 * which) % 2**32
        h = (j * 2654435761 + 0x9E3779B9) % 2**32
        return (h / 2**32 - 0.5) * 2 * scale

    for which, w, rows, cols in ((0, wg, hid, d), (1, ug, hid, hid), (2, wu, hid, d),
                                 (3, uu, hid, hid)):
        # upstream element i = r*cols + c of [H][in] sits at [c][r] in [in][H]
        want = np.array([[spec(r * cols + c, which) for r in range(rows)] for c in range(cols)])
        # float32 chain of 5 roundings on values <= 0.1: a few ulps (3.7e-9 each)
        np.testing.assert_allclose(w, want, atol=1.5e-8, rtol=0)
    assert float(wg[0, 0]) == pytest.approx((0x9E3779B9 / 2**32 - 0.5) * 2 * scale, abs=1e-8)
    gate = kernel.FastGRNNGate.default(16)
    assert gate.hidden == kernel.DEFAULT_HIDDEN == 32 and gate.dim == 16
    assert not gate.bg.any() and not gate.bu.any()
    # u32 wrap-around: i up to 64*32 + 3000 makes j*2654435761 wrap many times
    big = kernel.default_gate_weights(64, 32)
    assert np.all(np.abs(np.concatenate([w.ravel() for w in big])) <= 0.1 * math.sqrt(2 / 96))
    with pytest.raises(RuvError):
        kernel.default_gate_weights(0, 32)


def test_keep_mask_top_k_edges() -> None:
    s = np.array([0.5, 2.0, 0.5, 2.0, -1.0], np.float32)
    want = {0: [0, 0, 0, 0, 0], 1: [0, 1, 0, 0, 0], 2: [0, 1, 0, 1, 0], 3: [1, 1, 0, 1, 0],
            4: [1, 1, 1, 1, 0], 5: [1] * 5, 9: [1] * 5}
    for k, m in want.items():
        np.testing.assert_array_equal(kernel.keep_mask_top_k(s, k), np.array(m, bool), str(k))
    assert kernel.keep_mask_top_k([], 3).shape == (0,)
    nan = np.array([np.nan, -np.inf, np.nan, 1.0], np.float32)
    np.testing.assert_array_equal(kernel.keep_mask_top_k(nan, 2), [False, True, False, True])
    np.testing.assert_array_equal(kernel.keep_mask_top_k(nan, 3), [True, True, False, True])
    with pytest.raises(RuvError):
        kernel.keep_mask_top_k(s, -1)
    rng = np.random.default_rng(4)
    for _ in range(100):  # against a plain sort: ties by index
        n = int(rng.integers(1, 40))
        v = rng.integers(0, 5, n).astype(np.float32)
        k = int(rng.integers(0, n + 2))
        order = sorted(range(n), key=lambda i: (-v[i], i))
        np.testing.assert_array_equal(np.flatnonzero(kernel.keep_mask_top_k(v, k)),
                                      sorted(order[:k]))
    gate = kernel.FastGRNNGate.default(8, 6)
    kk = rand(rng, 30, 2, 8)
    m = gate.keep_mask_top_k(kk, 7)
    assert m.sum() == 7 and np.all(gate.salience(kk)[m].min() >= gate.salience(kk)[~m].max())

