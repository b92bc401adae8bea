"""Attention kernel: the C core (ruv_temporal.native) vs the NumPy reference.

Randomised (seeded) inputs over many configs. Tolerances (docs/spec.md §10):
sparse/dense/gated/decode outputs <= 1e-5 abs; candidate lists and edge
counts identical; H2O evicts the same position and leaves the same cache;
ruv_expf within 2e-7 relative of exp; binary16 conversion bit-identical to
NumPy's ``astype(np.float16)``; the five golden cases of the original
kernel at their stated tolerance. Failure messages say where (row, head,
dim) and by how much.
"""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ruv_temporal import kernel, native
from ruv_temporal.errors import RuvError
from ruv_temporal.kernel import SparseConfig

pytestmark = [pytest.mark.native, pytest.mark.usefixtures("native_lib")]

TOL = 1e-5
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _cfg_id(c: SparseConfig) -> str:
    g = ",".join(map(str, c.global_tokens)) or "-"
    return (f"W{c.window}-B{c.block_size}-g{g}-{'c' if c.causal else 'nc'}"
            f"{'' if c.log_stride else '-nolog'}{'' if c.landmarks else '-nolm'}")


def _qkv(rng: np.random.Generator, n: int, hq: int, hkv: int, d: int,
         scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q = (rng.standard_normal((n, hq, d)) * scale).astype(np.float32)
    k = (rng.standard_normal((n, hkv, d)) * scale).astype(np.float32)
    v = rng.standard_normal((n, hkv, d)).astype(np.float32)
    return q, k, v


# --------------------------------------------------------------------------
# the config matrix

HEADS = [(4, 4, 16), (4, 1, 16), (4, 2, 8), (8, 2, 8), (1, 1, 32)]
GLOBALS = [(0,), (0, 3), ()]


def _sparse_cases() -> list[tuple[str, int, int, int, int, SparseConfig, float]]:
    """Required corners first, then a seeded random sample of the product."""
    cases: list[tuple[int, int, int, int, SparseConfig, float]] = []
    d_cfg = SparseConfig()
    aether = SparseConfig.aether()
    # required corners: MHA / GQA 4:1 / 4:2, causal and not, globals, W=0,
    # odd B, landmarks/log-stride on and off, n from 1 to 1024
    for (hq, hkv, d), causal in itertools.product(HEADS[:3], (True, False)):
        for n in (1, 2, 17, 100):
            cases.append((hq, hkv, d, n, SparseConfig(window=8, block_size=5, causal=causal,
                                                      global_tokens=(0, 3)), 1.0))
        cases.append((hq, hkv, d, 257, SparseConfig(causal=causal), 1.0))
        cases.append((hq, hkv, d, 1024, SparseConfig(window=32, block_size=16, causal=causal),
                      1.0))
    for causal in (True, False):
        for w, b in ((0, 3), (0, 5), (0, 1), (1, 1), (3, 3), (5, 5)):
            cases.append((4, 2, 8, 64, SparseConfig(window=w, block_size=b, causal=causal), 1.0))
        for ls, lm in ((False, True), (True, False), (False, False)):
            cases.append((4, 1, 16, 200, SparseConfig(window=16, block_size=8, causal=causal,
                                                      log_stride=ls, landmarks=lm), 1.0))
        cases.append((4, 4, 16, 300, SparseConfig(window=0, block_size=64, causal=causal,
                                                  global_tokens=()), 1.0))
        cases.append((4, 4, 16, 96, SparseConfig(window=8, block_size=16, causal=causal,
                                                 global_tokens=(0, 3, 5, 0, 95, 200)), 1.0))
        # larger scores (|s| up to ~30): online-softmax rescaling
        cases.append((4, 2, 16, 150, aether if causal else SparseConfig(
            window=32, block_size=16, causal=False), 3.0))
    cases.append((4, 4, 16, 1024, d_cfg, 1.0))
    rng = np.random.default_rng(20240601)
    for _ in range(40):
        hq, hkv, d = HEADS[int(rng.integers(len(HEADS)))]
        n = int(rng.choice([1, 3, 7, 16, 33, 64, 99, 128, 257, 400, 513]))
        cfg = SparseConfig(
            window=int(rng.choice([0, 1, 2, 5, 8, 32, 128])),
            block_size=int(rng.choice([1, 2, 3, 5, 7, 16, 64])),
            global_tokens=GLOBALS[int(rng.integers(len(GLOBALS)))],
            causal=bool(rng.integers(2)),
            log_stride=bool(rng.random() < 0.75),
            landmarks=bool(rng.random() < 0.75),
        )
        cases.append((hq, hkv, d, n, cfg, float(rng.choice([0.5, 1.0, 3.0]))))
    out = []
    for j, (hq, hkv, d, n, cfg, scale) in enumerate(cases):
        out.append((f"{j:02d}-h{hq}:{hkv}-d{d}-n{n}-{_cfg_id(cfg)}-s{scale:g}",
                    hq, hkv, d, n, cfg, scale))
    return out


SPARSE_CASES = _sparse_cases()


@pytest.mark.parametrize(("name", "hq", "hkv", "d", "n", "cfg", "scale"), SPARSE_CASES,
                         ids=[c[0] for c in SPARSE_CASES])
def test_sparse_attention(px: Any, name: str, hq: int, hkv: int, d: int, n: int,
                          cfg: SparseConfig, scale: float) -> None:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    q, k, v = _qkv(rng, n, hq, hkv, d, scale)
    ref = kernel.sparse_attention(q, k, v, cfg)
    got = native.sparse_attention(q, k, v, cfg)
    assert got.dtype == np.float32 and got.shape == (n, hq, d)
    px.assert_close(got, ref, TOL, f"sparse_attention {name}", family="sparse_attention")


@pytest.mark.parametrize(("hq", "hkv", "d"), HEADS, ids=[f"h{a}:{b}-d{c}" for a, b, c in HEADS])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "noncausal"])
@pytest.mark.parametrize("n", [1, 5, 64, 300])
def test_dense_attention(px: Any, hq: int, hkv: int, d: int, causal: bool, n: int) -> None:
    rng = np.random.default_rng(1000 * hq + 100 * hkv + n + causal)
    q, k, v = _qkv(rng, n, hq, hkv, d, 2.0)
    ref = kernel.dense_attention(q, k, v, causal=causal)
    got = native.dense_attention(q, k, v, causal=causal)
    px.assert_close(got, ref, TOL, f"dense_attention h{hq}:{hkv} n{n} causal={causal}",
                    family="dense_attention")


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "noncausal"])
def test_large_scores(px: Any, causal: bool) -> None:
    """Scores of |s| ~ 100 (inputs x6): float32 rounding of the scores
    (|s|·2^-24 ≈ 1e-5) is amplified by the softmax, so the stated tolerance
    here is 1e-4 abs; the C online softmax must stay finite and close."""
    rng = np.random.default_rng(6 + causal)
    q, k, v = _qkv(rng, 150, 4, 2, 16, 6.0)
    cfg = SparseConfig(window=32, block_size=16, causal=causal)
    got = native.sparse_attention(q, k, v, cfg)
    assert np.all(np.isfinite(got))
    px.assert_close(got, kernel.sparse_attention(q, k, v, cfg), 1e-4,
                    "sparse_attention with large scores", family="sparse_attention_large")
    px.assert_close(native.dense_attention(q, k, v, causal=causal),
                    kernel.dense_attention(q, k, v, causal=causal), 1e-4,
                    "dense_attention with large scores", family="sparse_attention_large")


def test_saturated_sparse_vs_dense(px: Any) -> None:
    """W and B cover the sequence: the only difference from dense is the
    landmark of the block ending at i, counted again (docs/spec.md §3); C and NumPy
    differ from dense by the same amount."""
    z = np.load(GOLDEN / "fwd_saturated_W32_B32_N32.npz")
    q, k, v = z["q"], z["k"], z["v"]
    cfg = SparseConfig(window=32, block_size=32)
    got = native.sparse_attention(q, k, v, cfg)
    ref = kernel.sparse_attention(q, k, v, cfg)
    px.assert_close(got, ref, TOL, "saturated sparse", family="sparse_attention")
    d_c = float(np.max(np.abs(got - native.dense_attention(q, k, v))))
    d_r = float(np.max(np.abs(ref - kernel.dense_attention(q, k, v))))
    assert d_c > 1e-6 and abs(d_c - d_r) < 1e-6, (d_c, d_r)


GATED_CASES = [
    (4, 1, 16, 130, SparseConfig.aether()),
    (4, 2, 8, 200, SparseConfig(window=8, block_size=5, global_tokens=(0, 3))),
    (4, 4, 16, 257, SparseConfig(window=16, block_size=16, causal=False)),
    (8, 2, 8, 64, SparseConfig(window=0, block_size=3, causal=False, global_tokens=())),
    (4, 4, 8, 100, SparseConfig(window=4, block_size=8, landmarks=False)),
]


@pytest.mark.parametrize(("hq", "hkv", "d", "n", "cfg"), GATED_CASES,
                         ids=[f"h{c[0]}:{c[1]}-n{c[3]}-{_cfg_id(c[4])}" for c in GATED_CASES])
@pytest.mark.parametrize("keep", [0.0, 0.3, 1.0])
def test_gated_sparse_attention(px: Any, hq: int, hkv: int, d: int, n: int, cfg: SparseConfig,
                                keep: float) -> None:
    rng = np.random.default_rng(n * 7 + hq + int(keep * 10))
    q, k, v = _qkv(rng, n, hq, hkv, d)
    mask = rng.random(n) < keep
    ref = kernel.gated_sparse_attention(q, k, v, cfg, mask)
    got = native.gated_sparse_attention(q, k, v, cfg, mask)
    px.assert_close(got, ref, TOL, f"gated_sparse_attention keep={keep}",
                    family="gated_sparse_attention")
    if keep == 1.0:  # every token kept: the plain sparse forward
        px.assert_close(got, native.sparse_attention(q, k, v, cfg), TOL,
                        "gated(all kept) vs sparse (C)")


# --------------------------------------------------------------------------
# candidate sets and edge counts

CAND_CFGS = [
    SparseConfig(),
    SparseConfig(causal=False),
    SparseConfig.aether(),
    SparseConfig(window=32, block_size=16, causal=False),
    SparseConfig(window=0, block_size=1),
    SparseConfig(window=0, block_size=1, causal=False),
    SparseConfig(window=0, block_size=3, global_tokens=()),
    SparseConfig(window=2, block_size=5, global_tokens=(0, 3)),
    SparseConfig(window=2, block_size=5, global_tokens=(0, 3), causal=False),
    SparseConfig(window=5, block_size=7, global_tokens=(3, 0, 3, 9), log_stride=False),
    SparseConfig(window=5, block_size=7, global_tokens=(9, 1), landmarks=False, causal=False),
    SparseConfig(window=1, block_size=2, log_stride=False, landmarks=False),
    SparseConfig(window=100, block_size=64, causal=False),
    SparseConfig(window=8, block_size=4, global_tokens=(0, 3, 5, 7, 11, 13, 17, 19)),
]


@pytest.mark.parametrize("cfg", CAND_CFGS, ids=[_cfg_id(c) for c in CAND_CFGS])
def test_candidates_identical(cfg: SparseConfig) -> None:
    rng = np.random.default_rng(len(_cfg_id(cfg)))
    checked = 0
    for n in (1, 2, 3, 4, 7, 16, 17, 33, 64, 65, 100, 257, 1024):
        idx = range(n) if n <= 100 else sorted(set(rng.integers(0, n, 40).tolist()) | {0, n - 1})
        t_cap, b_cap = native.candidate_caps(n, cfg)
        for i in idx:
            ref_t, ref_b = kernel.candidates(i, n, cfg)
            got_t, got_b = native.candidates(i, n, cfg)
            assert (got_t, got_b) == (list(ref_t), list(ref_b)), (
                f"candidates(i={i}, n={n}, {_cfg_id(cfg)}):\n"
                f"  C     tokens {got_t} blocks {got_b}\n"
                f"  NumPy tokens {list(ref_t)} blocks {list(ref_b)}")
            assert len(got_t) <= t_cap and len(got_b) <= b_cap, (
                f"candidates(i={i}, n={n}): {len(got_t)}/{len(got_b)} entries over the C caps "
                f"{t_cap}/{b_cap}")
            checked += 1
    assert checked > 300


def test_log_stride_flag_also_drops_log_stride_blocks() -> None:
    """One flag drives both log-stride patterns (upstream
    ruvllm_sparse_attention: ``if config.use_log_stride`` guards the token
    strides *and* the landmark-block strides). With log_stride off only the
    local blocks pivot-1..pivot+1 remain."""
    cfg = SparseConfig(window=16, block_size=8, log_stride=False)
    tokens, blocks = native.candidates(100, 200, cfg)
    assert tokens == list(range(84, 101)) + [0]
    assert blocks == [10, 11], f"log_stride=False: C blocks {blocks}, expected [10, 11]"
    assert kernel.candidates(100, 200, cfg) == (tokens, [10, 11])


def test_candidates_out_of_range_rejected() -> None:
    cfg = SparseConfig.aether()
    with pytest.raises(native.NativeError) as e:
        native.candidates(5, 5, cfg)
    assert e.value.status == 0x102
    with pytest.raises(native.NativeError) as e:
        native.candidates(0, 4, SparseConfig(block_size=0))
    assert e.value.status == 0x102


@pytest.mark.parametrize("cfg", CAND_CFGS, ids=[_cfg_id(c) for c in CAND_CFGS])
def test_edge_counts_identical(cfg: SparseConfig) -> None:
    for n in (0, 1, 2, 7, 64, 100, 333, 1000):
        ref = int(kernel.estimate_sparse_edges(n, cfg))
        got = native.estimate_sparse_edges(n, cfg)
        assert got == ref, f"estimate_sparse_edges(n={n}, {_cfg_id(cfg)}): C {got} vs NumPy {ref}"


def test_edge_count_spec_facts() -> None:
    """docs/spec.md §3's numbers, on the C side."""
    assert native.estimate_sparse_edges(4096, SparseConfig()) == 560_834
    assert native.estimate_sparse_edges(8192, SparseConfig()) == 1_146_498
    small = SparseConfig(window=32, block_size=16, global_tokens=(0,))
    assert native.estimate_sparse_edges(64, small) == 1_714
    assert native.estimate_sparse_edges(1000, small) == 42_362


def test_edge_count_is_sum_of_candidates() -> None:
    cfg = SparseConfig(window=3, block_size=4, global_tokens=(0, 5), causal=False)
    n = 77
    total = sum(len(t) + len(b) for t, b in (native.candidates(i, n, cfg) for i in range(n)))
    assert native.estimate_sparse_edges(n, cfg) == total


# --------------------------------------------------------------------------
# streaming decode

DECODE_CASES = [
    (4, 4, 16, 150, SparseConfig(window=32, block_size=16)),
    (4, 1, 32, 150, SparseConfig.aether()),
    (4, 2, 8, 140, SparseConfig(window=5, block_size=3, global_tokens=(0, 3))),
    (8, 2, 8, 100, SparseConfig(window=0, block_size=5)),
    (4, 1, 16, 120, SparseConfig(window=7, block_size=4, log_stride=False)),
    (4, 2, 16, 120, SparseConfig(window=7, block_size=4, landmarks=False, global_tokens=())),
    (2, 2, 16, 300, SparseConfig()),
]


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize(("hq", "hkv", "d", "n", "cfg"), DECODE_CASES,
                         ids=[f"h{c[0]}:{c[1]}-n{c[3]}-{_cfg_id(c[4])}" for c in DECODE_CASES])
def test_decode_token_by_token(px: Any, hq: int, hkv: int, d: int, n: int, cfg: SparseConfig,
                               fp16: bool) -> None:
    rng = np.random.default_rng(n + hq * 10 + hkv + fp16)
    q, k, v = _qkv(rng, n, hq, hkv, d)
    cn = native.KvCache(n, hkv, d, cfg.block_size, fp16=fp16)
    cr = kernel.KvCache(n, hkv, d, cfg.block_size, fp16=fp16)
    got = np.zeros((n, hq, d), np.float32)
    ref = np.zeros((n, hq, d), np.float32)
    for t in range(n):
        cn.append(k[t], v[t])
        cr.append(k[t], v[t])
        assert len(cn) == len(cr) == t + 1
        got[t] = native.decode_step(q[t], cn, cfg)
        ref[t] = kernel.decode_step(q[t], cr, cfg)
    px.assert_close(got, ref, TOL, f"decode ({'fp16' if fp16 else 'fp32'} cache)",
                    family=f"decode_{'fp16' if fp16 else 'fp32'}")
    _assert_cache_equal(px, cn, cr, "after decode")
    if not fp16:
        # docs/spec.md §3: causal decode reproduces the prefill (<= 1e-6), C side alone
        prefill = native.sparse_attention(q, k, v, SparseConfig(
            window=cfg.window, block_size=cfg.block_size, global_tokens=cfg.global_tokens,
            causal=True, log_stride=cfg.log_stride, landmarks=cfg.landmarks))
        px.assert_close(got, prefill, 1e-6, "C decode vs C prefill", family="decode_vs_prefill")
    with pytest.raises(native.NativeError) as e:
        cn.append(k[0], v[0])
    assert e.value.status == 0x103  # full
    with pytest.raises(RuvError):
        cr.append(k[0], v[0])
    cn.clear()
    assert len(cn) == 0
    with pytest.raises(native.NativeError) as e:
        native.decode_step(q[0], cn, cfg)
    assert e.value.status == 0x103


def _assert_cache_equal(px: Any, cn: native.KvCache, cr: kernel.KvCache, when: str) -> None:
    """Same length, identical stored rows (fp32 copies or binary16 values),
    landmark means within 1e-6."""
    assert len(cn) == len(cr), f"{when}: cache len C {len(cn)} vs NumPy {len(cr)}"
    px.assert_close(cn.keys(), cr.keys(), 0.0, f"{when}: cache K rows", family="cache_rows")
    px.assert_close(cn.values(), cr.values(), 0.0, f"{when}: cache V rows", family="cache_rows")
    if cn.fp16:
        assert np.array_equal(cn.k16, cr.keys().astype(np.float16).view(np.uint16)), when
    for name, got, ref in zip(("k_mean", "v_mean"), cn.block_means(), cr.block_means(),
                              strict=True):
        px.assert_close(got, ref, 1e-6, f"{when}: cache {name}", family="cache_means",
                        axes=("block", "head", "dim"))


def test_kv_cache_rejects_bad_rows() -> None:
    c = native.KvCache(4, 2, 8, 2)
    with pytest.raises(native.NativeError):
        c.append(np.zeros(15, np.float32), np.zeros(16, np.float32))
    with pytest.raises(native.NativeError):
        native.KvCache(0, 2, 8, 2)
    with pytest.raises(native.NativeError):
        native.KvCache(4, 2, 8, 0)
    c.append(np.ones((2, 8)), np.ones((2, 8)))
    with pytest.raises(native.NativeError) as e:  # block size must equal the cache's
        native.decode_step(np.ones((2, 8)), c, SparseConfig(window=4, block_size=4))
    assert e.value.status == 0x102


# --------------------------------------------------------------------------
# H2O eviction


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize(("hq", "hkv", "cfg"), [
    (4, 2, SparseConfig(window=6, block_size=8, global_tokens=(0, 3))),
    (4, 4, SparseConfig(window=0, block_size=5, global_tokens=())),
    (4, 1, SparseConfig(window=10, block_size=4, global_tokens=(2,))),
], ids=["w6-b8-g0,3", "w0-b5", "w10-b4-g2"])
def test_h2o_eviction(px: Any, hq: int, hkv: int, cfg: SparseConfig, fp16: bool) -> None:
    rng = np.random.default_rng(cfg.window * 31 + hq + fp16)
    cap, d = 40, 8
    cn = native.KvCache(cap, hkv, d, cfg.block_size, fp16=fp16)
    cr = kernel.KvCache(cap, hkv, d, cfg.block_size, fp16=fp16)
    for _ in range(cap):
        k, v = rng.standard_normal((2, hkv, d)).astype(np.float32)
        cn.append(k, v)
        cr.append(k, v)
    for rnd in range(60):
        if rnd % 3 == 0:  # integer scores: many ties, first one wins
            scores = rng.integers(0, 4, cap).astype(np.float32)
        else:
            scores = rng.standard_normal(cap).astype(np.float32)
        ev_c = native.evict_h2o(cn, scores, cfg)
        ev_r = int(kernel.evict_h2o(cr, scores, cfg))
        assert ev_c == ev_r, f"round {rnd}: C evicted {ev_c}, NumPy {ev_r} (scores {scores})"
        protected = set(range(cap - cfg.window, cap)) | set(cfg.global_tokens)
        assert ev_c not in protected
        assert len(cn) == len(cr) == cap - 1
        _assert_cache_equal(px, cn, cr, f"round {rnd} after evicting {ev_c}")
        k, v = rng.standard_normal((2, hkv, d)).astype(np.float32)
        cn.append(k, v)
        cr.append(k, v)
        qrow = rng.standard_normal((hq, d)).astype(np.float32)
        px.assert_close(native.decode_step(qrow, cn, cfg), kernel.decode_step(qrow, cr, cfg),
                        TOL, f"round {rnd}: decode after eviction", family="h2o_decode",
                        axes=("head", "dim"))


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_h2o_all_protected(px: Any, fp16: bool) -> None:
    """Every position protected: C and NumPy both evict position 0
    (upstream's rule) and leave the same cache."""
    rng = np.random.default_rng(5)
    for cfg, cap in ((SparseConfig(window=8, block_size=4, global_tokens=(0,)), 8),
                     (SparseConfig(window=5, block_size=3, global_tokens=(0, 1, 2)), 8)):
        cn = native.KvCache(cap, 2, 4, cfg.block_size, fp16=fp16)
        cr = kernel.KvCache(cap, 2, 4, cfg.block_size, fp16=fp16)
        for _ in range(cap):
            k, v = rng.standard_normal((2, 2, 4)).astype(np.float32)
            cn.append(k, v)
            cr.append(k, v)
        scores = rng.standard_normal(cap).astype(np.float32)
        assert native.evict_h2o(cn, scores, cfg) == 0
        assert kernel.evict_h2o(cr, scores, cfg) == 0
        _assert_cache_equal(px, cn, cr, f"all protected {_cfg_id(cfg)}")


# --------------------------------------------------------------------------
# FastGRNN default gate and top-K keep masks


@pytest.mark.parametrize(("dim", "hidden"), [(16, 32), (8, 6), (64, 32), (3, 1)])
def test_default_gate_weights(dim: int, hidden: int) -> None:
    """Same float32 operations in the same order: identical bits expected."""
    for got, ref, name in zip(native.default_gate_weights(dim, hidden),
                              kernel.default_gate_weights(dim, hidden),
                              ("wg", "ug", "wu", "uu"), strict=True):
        assert got.shape == ref.shape, name
        np.testing.assert_array_equal(got, ref, err_msg=f"{name} ({dim}, {hidden})")


@pytest.mark.parametrize(("n", "kvh", "dim"), [(64, 1, 16), (130, 2, 8), (40, 4, 32)])
def test_default_gate_salience(px: Any, n: int, kvh: int, dim: int) -> None:
    rng = np.random.default_rng(n + dim)
    k = rng.standard_normal((n, kvh, dim)).astype(np.float32) * 2
    gate = kernel.FastGRNNGate.default(dim)
    got = native.fastgrnn_salience(gate.wg, gate.ug, None, gate.wu, gate.uu, None, k)
    px.assert_close(got, gate.salience(k), 2e-6, f"default gate salience n{n} kv{kvh} d{dim}",
                    family="fastgrnn_salience", axes=("pos",))


def test_keep_mask_top_k_parity() -> None:
    rng = np.random.default_rng(9)
    for trial in range(200):
        n = int(rng.integers(0, 70))
        s = (rng.integers(0, 6, n) * 0.5).astype(np.float32)  # many ties
        s[rng.random(n) < 0.05] = np.nan
        if trial % 3 == 0:
            s = rng.standard_normal(n).astype(np.float32)
        k = int(rng.integers(0, n + 3))
        np.testing.assert_array_equal(native.keep_mask_top_k(s, k), kernel.keep_mask_top_k(s, k),
                                      err_msg=f"trial {trial} n {n} k {k}")


@pytest.mark.parametrize(("hq", "hkv", "d", "n", "cfg"), GATED_CASES[:3],
                         ids=[f"h{c[0]}:{c[1]}-n{c[3]}-{_cfg_id(c[4])}" for c in GATED_CASES[:3]])
def test_gated_forward_with_default_gate_top_k(px: Any, hq: int, hkv: int, d: int, n: int,
                                               cfg: SparseConfig) -> None:
    """The whole optional path: default gate salience -> top-K mask ->
    gated forward, each side on its own implementation."""
    rng = np.random.default_rng(n * 3 + d)
    q, k, v = _qkv(rng, n, hq, hkv, d)
    gate = kernel.FastGRNNGate.default(d)
    sal_c = native.fastgrnn_salience(gate.wg, gate.ug, None, gate.wu, gate.uu, None, k)
    top = n // 4
    mask_c = native.keep_mask_top_k(sal_c, top)
    mask_r = gate.keep_mask_top_k(k, top)
    # salience agrees to ~1e-7; a tie broken differently would show here
    assert int((mask_c != mask_r).sum()) == 0
    px.assert_close(native.gated_sparse_attention(q, k, v, cfg, mask_c),
                    kernel.gated_sparse_attention(q, k, v, cfg, mask_r), TOL,
                    "gated forward, default gate top-K", family="gated_sparse_attention")


# --------------------------------------------------------------------------
# numerics: expf and binary16


def test_expf_relative_error(px: Any) -> None:
    rng = np.random.default_rng(11)
    n = px.sized(200_000, 50_000)
    x = np.concatenate([
        rng.uniform(-87.0, 88.0, n).astype(np.float32),
        rng.uniform(-1.0, 1.0, n // 4).astype(np.float32),
        rng.uniform(-1e-6, 1e-6, 1000).astype(np.float32),
        np.array([-87.0, -86.5, -10.0, -1.0, -0.5, 0.0, -0.0, 1e-30, 0.5, 1.0, 2.0,
                  np.log(2.0), 10.0, 50.0, 88.0, 88.5, 88.72], np.float32),
    ])
    got = native.expf(x).astype(np.float64)
    ref = np.exp(x.astype(np.float64))
    rel = np.abs(got - ref) / ref
    px.record("expf_rel_err", float(rel.max()))
    worst = int(np.argmax(rel))
    assert rel.max() <= 2e-7, (f"ruv_expf({x[worst]!r}) = {got[worst]!r}, exp = {ref[worst]!r} "
                               f"(rel err {rel[worst]:.3g} > 2e-7)")
    # float32 exp: compare with NumPy's float32 exp too (few ulp)
    ref32 = np.exp(x)
    ulp = np.abs(got.astype(np.float32).view(np.int32).astype(np.int64)
                 - ref32.view(np.int32).astype(np.int64))
    assert ulp.max() <= 4, f"ruv_expf differs from np.exp (float32) by {ulp.max()} ulp"


def test_expf_special_values() -> None:
    x = np.array([np.nan, -np.inf, np.inf, -200.0, -104.0, 89.0, 1000.0], np.float32)
    got = native.expf(x)
    assert np.isnan(got[0])
    assert got[1] == 0.0 and got[3] == 0.0 and got[4] == 0.0
    assert np.isinf(got[2]) and got[2] > 0 and np.isinf(got[5]) and np.isinf(got[6])
    # the subnormal range stays non-negative, monotone and close to exp
    xs = np.linspace(-103.5, -87.0, 2001, dtype=np.float32)
    ys = native.expf(xs)
    assert np.all(ys >= 0) and np.all(np.diff(ys.astype(np.float64)) >= 0)
    assert np.max(np.abs(ys.astype(np.float64) - np.exp(xs.astype(np.float64)))) < 1e-44


def test_f16_to_f32_all_halfs() -> None:
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    got = native.f16_to_f32(h)
    ref = h.view(np.float16).astype(np.float32)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(got), nan)
    bad = np.nonzero(got.view(np.uint32)[~nan] != ref.view(np.uint32)[~nan])[0]
    assert bad.size == 0, (f"f16->f32 differs for {bad.size} halfs, first 0x{h[~nan][bad[0]]:04x}: "
                           f"C {got[~nan][bad[0]]!r} vs NumPy {ref[~nan][bad[0]]!r}")
    # NaN keeps its sign
    assert np.array_equal(np.signbit(got[nan]), np.signbit(ref[nan]))


def _f32_to_f16_ref(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return x.astype(np.float16).view(np.uint16)


def _assert_f16_bits(x: np.ndarray, what: str) -> None:
    got = native.f32_to_f16(x)
    ref = _f32_to_f16_ref(x)
    nan = np.isnan(x)
    got_nan = (got & 0x7C00 == 0x7C00) & (got & 0x03FF != 0)
    assert np.array_equal(got_nan, nan), f"{what}: NaN in must give NaN out"
    bad = np.nonzero(got[~nan] != ref[~nan])[0]
    if bad.size:
        j = bad[0]
        xv = x[~nan][j]
        pytest.fail(f"{what}: f32->f16 differs for {bad.size} of {x.size} values; first "
                    f"{xv!r} (bits 0x{xv.view(np.uint32):08x}): C 0x{got[~nan][j]:04x} vs "
                    f"NumPy 0x{ref[~nan][j]:04x}", pytrace=False)


def test_f32_to_f16_roundtrip_all_halfs() -> None:
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    f = h.view(np.float16).astype(np.float32)
    _assert_f16_bits(f, "every half as f32")


def test_f32_to_f16_ties_and_random(px: Any) -> None:
    rng = np.random.default_rng(16)
    h = np.arange(0, 0x7BFF, dtype=np.uint32)  # finite halfs below the largest
    lo = h.astype(np.uint16).view(np.float16).astype(np.float64)
    hi = (h + 1).astype(np.uint16).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)  # exact ties (representable in f32)
    assert np.all(mid.astype(np.float64) == (lo + hi) / 2)
    nxt_up = np.nextafter(mid, np.float32(np.inf))
    nxt_dn = np.nextafter(mid, np.float32(0))
    ties = np.concatenate([mid, -mid, nxt_up, nxt_dn, -nxt_up])
    _assert_f16_bits(ties, "halfway values and their neighbours")
    n = px.sized(100_000, 30_000)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    _assert_f16_bits(bits.view(np.float32), "random f32 bit patterns")
    # concentrated in the f16 range (normal, subnormal, overflow edge)
    x = np.concatenate([
        rng.uniform(-70000, 70000, n // 4), rng.uniform(-1e-4, 1e-4, n // 4),
        rng.uniform(-7e-8, 7e-8, n // 8), rng.standard_normal(n // 4),
    ]).astype(np.float32)
    edges = np.array([65504.0, 65519.0, 65519.996, 65520.0, 65536.0, 1e10, np.inf, -np.inf,
                      2.0**-24, 2.0**-25, np.nextafter(np.float32(2.0**-25), np.float32(1)),
                      2.0**-26, 1e-45, 0.0, -0.0, 6.1035156e-05, 6.097555e-05], np.float32)
    _assert_f16_bits(np.concatenate([x, edges, -edges]), "f16-range values and edges")


# --------------------------------------------------------------------------
# golden cases of the original kernel


def _golden_cfg(z: Any) -> SparseConfig:
    return SparseConfig(window=int(z["window"]), block_size=int(z["block_size"]),
                        global_tokens=tuple(int(g) for g in np.asarray(z["global_tokens"])),
                        causal=bool(z["causal"]), log_stride=bool(z["log_stride"]),
                        landmarks=bool(z["landmarks"]))


GOLDEN_FILES = sorted(GOLDEN.glob("*.npz"))


def test_golden_cases_present() -> None:
    assert len(GOLDEN_FILES) == 5, f"expected five golden cases in {GOLDEN}"


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden_case(px: Any, path: Path) -> None:
    z = np.load(path)
    entry = str(z["entry"])
    cfg = _golden_cfg(z)
    q, k, v, want = z["q"], z["k"], z["v"], z["out"]
    tol = float(z["tol"])
    n, hq, d = q.shape
    hkv = k.shape[1]
    if entry in ("forward", "forward_gqa"):
        got = native.sparse_attention(q, k, v, cfg)
    elif entry in ("decode_step", "decode_step_f16"):
        cache = native.KvCache(n, hkv, d, cfg.block_size, fp16=entry.endswith("f16"))
        got = np.zeros_like(want)
        for t in range(n):
            cache.append(k[t], v[t])
            got[t] = native.decode_step(q[t], cache, cfg)
    else:
        pytest.fail(f"{path.name}: unknown entry {entry!r}")
    px.assert_close(got, want, tol, f"golden {path.stem} ({entry}, tol {tol:g})",
                    family="golden")


# --------------------------------------------------------------------------
# argument checks agree


def test_bad_arguments_rejected_on_both_sides() -> None:
    rng = np.random.default_rng(0)
    q, k, v = _qkv(rng, 8, 3, 2, 4)  # 3 % 2 != 0
    with pytest.raises(native.NativeError) as e:
        native.sparse_attention(q, k, v, SparseConfig.aether())
    assert e.value.status == 0x102
    with pytest.raises(RuvError):
        kernel.sparse_attention(q, k, v, SparseConfig.aether())
    q, k, v = _qkv(rng, 8, 2, 2, 4)
    assert native.attn_check(SparseConfig(block_size=0)) == 0x102
    with pytest.raises(native.NativeError) as e:
        native.sparse_attention(q, k, v, SparseConfig(block_size=0))
    assert e.value.status == 0x102
    with pytest.raises(native.NativeError):
        native.sparse_attention(q, k, v, SparseConfig(global_tokens=tuple(range(9))))
    empty = native.sparse_attention(q[:0], k[:0], v[:0], SparseConfig())
    assert empty.shape == (0, 2, 4)
