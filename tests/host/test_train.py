"""Trainer (ruv_temporal.train) and sparse-vs-dense gate (ruv_temporal.gate).

The torch model must be the same function as the NumPy reference
(ruv_temporal.model.TemporalHead) on the exported blob, with the exact
candidate pattern of ruv_temporal.kernel; the C core must reproduce the
trained model too. Tiny configs keep this file fast.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from ruv_temporal import kernel, rvne
from ruv_temporal.errors import RuvError

try:
    import torch

    from ruv_temporal import gate as gt
    from ruv_temporal import train as tr

    HAVE_TORCH = True
except ImportError:  # the training extra is optional
    HAVE_TORCH = False

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="training extra (torch) not installed")

CONFIGS = [
    kernel.SparseConfig.aether(),
    kernel.SparseConfig(window=8, block_size=5, global_tokens=(0, 3), causal=True,
                        log_stride=True, landmarks=True),
    kernel.SparseConfig(window=4, block_size=3, global_tokens=(), causal=True,
                        log_stride=False, landmarks=True),
    kernel.SparseConfig(window=0, block_size=4, global_tokens=(2,), causal=True,
                        log_stride=True, landmarks=False),
    kernel.SparseConfig(window=16, block_size=16, global_tokens=(0,), causal=True,
                        log_stride=True, landmarks=True),  # saturated quirk case
]


def _random_model(dims: tr.ModelDims, cfg: kernel.SparseConfig | None, seed: int):
    """A torch model with every parameter random (biases and NORM included)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 1, dims.input_dim).astype(np.float32)
    inv_std = rng.uniform(0.5, 2.0, dims.input_dim).astype(np.float32)
    m = tr.TorchTemporalHead(dims, cfg, mean, inv_std, generator=g)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return m


# --------------------------------------------------------------------------
# masks and attention


@needs_torch
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"W{c.window}B{c.block_size}")
@pytest.mark.parametrize("n", [1, 5, 17, 70])
def test_masks_equal_kernel_candidate_sets(cfg: kernel.SparseConfig, n: int) -> None:
    m = tr.sparse_masks(n, cfg)
    for i in range(n):
        tokens, blocks = kernel.candidates(i, n, cfg)
        assert set(np.flatnonzero(m.tokens[i])) == set(tokens)
        assert set(np.flatnonzero(m.blocks[i])) == set(blocks)
        assert len(set(tokens)) == len(tokens)  # duplicates dropped, as the mask implies
    # the quirk: in causal mode the block ending at i is a landmark candidate
    if cfg.landmarks and n >= cfg.block_size:
        i = cfg.block_size - 1
        assert m.blocks[i, 0] and m.tokens[i, 0]


@needs_torch
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"W{c.window}B{c.block_size}")
@pytest.mark.parametrize("heads", [(4, 1), (4, 2), (2, 2)])
def test_torch_attention_equals_kernel(cfg: kernel.SparseConfig, heads: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    n, (h, g), d = 45, heads, 8
    q = rng.standard_normal((n, h, d)).astype(np.float32)
    k = rng.standard_normal((n, g, d)).astype(np.float32)
    v = rng.standard_normal((n, g, d)).astype(np.float32)
    ref = kernel.sparse_attention(q, k, v, cfg)
    out = tr.masked_attention(
        torch.from_numpy(q)[None], torch.from_numpy(k)[None], torch.from_numpy(v)[None],
        tr.sparse_masks(n, cfg), slice(0, n),
    )[0].numpy().reshape(n, h, d)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


@needs_torch
def test_dense_masks_equal_dense_attention_and_dense_config() -> None:
    rng = np.random.default_rng(3)
    n = 40
    q = rng.standard_normal((n, 4, 8)).astype(np.float32)
    k = rng.standard_normal((n, 1, 8)).astype(np.float32)
    v = rng.standard_normal((n, 1, 8)).astype(np.float32)
    out = tr.masked_attention(
        torch.from_numpy(q)[None], torch.from_numpy(k)[None], torch.from_numpy(v)[None],
        tr.dense_masks(n), slice(0, n),
    )[0].numpy().reshape(n, 4, 8)
    np.testing.assert_allclose(out, kernel.dense_attention(q, k, v, causal=True), atol=1e-5)
    # the exported ATTN config of the dense variant is exactly dense for n <= N
    cfg = tr.dense_equivalent_config(n)
    m = tr.sparse_masks(n, cfg)
    assert np.array_equal(m.tokens, tr.dense_masks(n).tokens) and m.blocks.shape[1] == 0


# --------------------------------------------------------------------------
# torch forward == NumPy reference on the exported blob


MODEL_CASES = [
    (tr.ModelDims(16, 4, 1, 32, 2, 6) if HAVE_TORCH else None, CONFIGS[0], 70),
    (tr.ModelDims(8, 4, 2, 8, 3, 3) if HAVE_TORCH else None, CONFIGS[1], 37),
    (tr.ModelDims(6, 2, 2, 4, 1, 2) if HAVE_TORCH else None, CONFIGS[2], 23),
    (tr.ModelDims(12, 6, 3, 8, 2, 4) if HAVE_TORCH else None, CONFIGS[4], 16),
]


@needs_torch
@pytest.mark.parametrize("case", range(len(MODEL_CASES)))
def test_torch_forward_equals_reference_on_exported_blob(case: int) -> None:
    from ruv_temporal.model import TemporalHead

    dims, cfg, n = MODEL_CASES[case]
    m = _random_model(dims, cfg, seed=100 + case)
    data = rvne.build(m.to_blob(cfg, labels=[f"c{i}" for i in range(dims.n_classes)]))
    head = TemporalHead.from_blob(data)
    rng = np.random.default_rng(case)
    for t in (1, n // 2, n):
        x = rng.normal(0.5, 2.0, (t, dims.input_dim)).astype(np.float32)
        with torch.no_grad():
            logits, states = m(torch.from_numpy(x)[None], return_states=True)
        ref_logits, ref_states = head.forward(x, return_states=True)
        np.testing.assert_allclose(logits[0].numpy(), ref_logits, atol=1e-4, rtol=0)
        np.testing.assert_allclose(states[0].numpy(), ref_states, atol=1e-4, rtol=0)
    # and back: torch model loaded from the blob gives the same logits
    m2 = tr.TorchTemporalHead.from_blob(rvne.parse(data))
    x = torch.from_numpy(rng.normal(0, 1, (2, n, dims.input_dim)).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))


@needs_torch
def test_dense_variant_export_equals_reference() -> None:
    from ruv_temporal.model import TemporalHead

    dims = tr.ModelDims(8, 4, 1, 8, 2, 3)
    m = _random_model(dims, None, seed=5)
    n = 48
    data = rvne.build(m.to_blob(tr.dense_equivalent_config(n), labels=["a", "b", "c"]))
    x = np.random.default_rng(0).normal(0, 1, (n, 8)).astype(np.float32)
    with torch.no_grad():
        ref = m(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(TemporalHead.from_blob(data).forward(x), ref, atol=1e-4)


@needs_torch
@pytest.mark.parametrize("case", [0, 1, 3])
def test_row_pruned_and_multi_row_forward(case: int) -> None:
    """The forward computes only the rows the readout depends on; with
    ``out_rows=k`` row j is the newest-frame readout of the prefix window."""
    dims, cfg, n = MODEL_CASES[case]
    m = _random_model(dims, cfg, seed=200 + case)
    masks = tr.sparse_masks(n, cfg)
    plan = tr.query_rows(masks, dims.n_layers)
    assert plan[-1].tolist() == [n - 1]
    # every needed row's candidates (and whole candidate blocks) are computed below it
    for lower, upper in zip(plan[:-1], plan[1:], strict=True):
        need = set(lower.tolist())
        for i in upper:
            assert set(np.flatnonzero(masks.tokens[i])) <= need
            for b in np.flatnonzero(masks.blocks[i]):
                assert set(range(b * cfg.block_size, min(n, (b + 1) * cfg.block_size))) <= need
    x = torch.from_numpy(np.random.default_rng(case).normal(0, 1, (2, n, dims.input_dim))
                         .astype(np.float32))
    k = min(9, n)
    with torch.no_grad():
        multi = m(x, out_rows=k)
        assert multi.shape == (2, k, dims.n_classes)
        for j in range(k):
            ref = m(x[:, : n - k + j + 1])
            np.testing.assert_allclose(multi[:, j].numpy(), ref.numpy(), atol=1e-5, rtol=0)


@needs_torch
def test_row_targets_follow_the_falling_window_rule() -> None:
    from ruv_temporal import synth

    fall = synth.ACTIVITIES.index("falling")
    still = synth.ACTIVITIES.index("still")
    labels = np.full(60, still)
    labels[30:40] = fall
    s = tr.Session(np.zeros((60, 3), np.float32), labels, 0, "f",
                   events={"fall_onset": 30, "fall_end": 33, "fall_label_end": 40})
    w = tr.WindowSet([s], 20, 10, regular=True)
    assert w.index[:, 1].tolist() == [19, 29, 39, 49, 59]
    y = w.row_targets(10)
    # window ending at 39 starts at 20 <= onset: rows for frames 30..32 are
    # "falling" without the whole fall -> ignored; 33..39 count
    assert y[2].tolist() == [tr.IGNORE] * 3 + [fall] * 7
    # window ending at 49 starts at 30 (= onset): frames 40..49 are still
    assert y[3].tolist() == [still] * 10
    # window ending at 59 starts at 40 > onset: no falling rows anyway
    assert (y[4] == still).all()


@needs_torch
def test_forward_rejects_bad_shape() -> None:
    m = tr.TorchTemporalHead(tr.ModelDims(4, 2, 1, 4, 1, 2), kernel.SparseConfig.aether())
    with pytest.raises(RuvError):
        m(torch.zeros(1, 10, 5))
    with pytest.raises(RuvError):
        tr.ModelDims(4, 3, 2, 4, 1, 2).validate()


# --------------------------------------------------------------------------
# training on an easy problem, export, three-way parity


def _easy_sessions(n_rooms: int = 4, seed: int = 0) -> list:
    """Two classes: class 1 sessions sit 2.0 higher in feature 0 (and oscillate),
    class 0 are flat; every room adds its own small offset to all features."""
    rng = np.random.default_rng(seed)
    out = []
    for room in range(n_rooms):
        offset = rng.normal(0, 0.3, 4)
        for cls in (0, 1):
            for k in range(2):
                t = np.arange(80)
                x = rng.normal(0, 0.2, (80, 4)) + offset
                if cls:
                    x[:, 0] += 2.0 + 0.5 * np.sin(2 * np.pi * t / 6 + k)
                out.append(tr.Session(x.astype(np.float32), np.full(80, cls), room,
                                      f"r{room}c{cls}k{k}"))
    return out


@needs_torch
def test_training_reduces_loss_and_generalises(tmp_path) -> None:
    sessions = _easy_sessions()
    train_s, held_s = tr.split_heldout(sessions, 1)
    cfg = tr.TrainConfig(
        dims=tr.ModelDims(4, 2, 1, 8, 2, 2),
        attn=kernel.SparseConfig(window=8, block_size=4, global_tokens=(0,)),
        window=16, eval_window=32, stride=2, eval_stride=4, epochs=3, batch_size=16,
        lr=1e-2, seed=1, threads=1,
    )
    torch.manual_seed(0)
    res = tr.train_model(train_s, held_s, cfg, ["flat", "wavy"], progress=False)
    first, last = res.history[0]["train_loss"], res.history[-1]["train_loss"]
    assert last < 0.7 * first
    assert res.heldout.accuracy >= 0.9
    assert res.heldout.confusion.sum() == res.heldout.n_windows

    data = tr.export_blob(res)
    b = rvne.parse(data)
    assert b.norm is not None and b.bc is not None and b.layers[0].bq is not None
    assert b.attn == cfg.attn
    assert (b.input.feature_set, b.input.frame_rate_x100) == (1, 1000)
    assert b.labels == ["flat", "wavy"]
    meta = json.loads(b.meta)
    assert meta["seed"] == 1 and meta["variant"] == "sparse"
    assert tr.blob_sections(b) == ["NORM", "BIAS", "ATTN", "INPUT", "LABELS", "META"]
    # the NORM section is the training data's statistics
    mean, inv = tr.norm_stats(train_s, method=cfg.norm)
    np.testing.assert_array_equal(b.norm[0], mean)
    np.testing.assert_array_equal(b.norm[1], inv)

    # same seed, same result (determinism)
    res2 = tr.train_model(train_s, held_s, cfg, ["flat", "wavy"], progress=False)
    assert tr.export_blob(res2) == data

    # three-way parity on held-out windows at the deployed length
    w = tr.WindowSet(held_s, cfg.eval_window, cfg.eval_stride)
    check = tr.check_export(data, res.model, w.frames(range(min(6, len(w)))), cfg.eval_window)
    assert check["numpy_max_abs"] <= 1e-4 and check["numpy_argmax_agree"]
    if check["native_error"] is not None:
        pytest.skip(f"C core unavailable: {check['native_error']}")
    assert check["native_max_abs"] <= 1e-4 and check["native_argmax_agree"]


@needs_torch
def test_logit_budget_scales_the_classifier_only() -> None:
    sessions = _easy_sessions()
    train_s, held_s = tr.split_heldout(sessions, 1)
    base = dict(
        dims=tr.ModelDims(4, 2, 1, 8, 2, 2),
        attn=kernel.SparseConfig(window=8, block_size=4, global_tokens=(0,)),
        window=16, eval_window=32, stride=2, eval_stride=4, epochs=2, batch_size=16,
        lr=1e-2, seed=3, threads=1,
    )
    free = tr.train_model(train_s, held_s, tr.TrainConfig(**base, logit_budget=0.0),
                          ["flat", "wavy"], progress=False)
    capped = tr.train_model(train_s, held_s, tr.TrainConfig(**base, logit_budget=0.5),
                            ["flat", "wavy"], progress=False)
    assert free.logit_scale == 1.0 and 0 < capped.logit_scale < 1
    np.testing.assert_allclose(capped.heldout.logits, free.heldout.logits * capped.logit_scale,
                               rtol=1e-5, atol=1e-6)
    assert capped.heldout.accuracy == free.heldout.accuracy
    assert json.loads(rvne.parse(tr.export_blob(capped)).meta)["logit_scale"] == round(
        capped.logit_scale, 6)


@needs_torch
def test_trained_default_shape_native_parity() -> None:
    """Default model shape (D=16, 4/1 heads, d=32, 2 layers, 6 classes) at N=256:
    NumPy reference and C core reproduce the torch logits."""
    dims = tr.ModelDims()
    m = _random_model(dims, kernel.SparseConfig.aether(), seed=11)
    data = rvne.build(m.to_blob(kernel.SparseConfig.aether(), labels=list("abcdef")))
    x = np.random.default_rng(1).normal(0, 1, (2, 256, 16)).astype(np.float32)
    check = tr.check_export(data, m, x, 256)
    assert check["numpy_max_abs"] <= 1e-4
    if check["native_error"] is not None:
        pytest.skip(f"C core unavailable: {check['native_error']}")
    assert check["native_max_abs"] <= 1e-4 and check["native_argmax_agree"]


@needs_torch
def test_bad_training_input_is_rejected() -> None:
    sessions = _easy_sessions(2)
    cfg = tr.TrainConfig(dims=tr.ModelDims(5, 2, 1, 4, 1, 2), window=8, eval_window=16,
                         epochs=1, threads=1)
    with pytest.raises(RuvError, match="features"):
        tr.train_model(sessions[:4], sessions[4:], cfg, ["a", "b"], progress=False)
    with pytest.raises(RuvError):
        tr.split_heldout(sessions, 2)  # would leave no training room
    with pytest.raises(RuvError):
        tr.Session(np.zeros((3, 4)), np.zeros(2), 0)


# --------------------------------------------------------------------------
# gate statistics


@needs_torch
def test_rankdata_and_spearman() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 40).astype(float)
    r = gt.rankdata(x)
    for i in range(x.size):  # average rank: below + (equal+1)/2
        assert r[i] == (x < x[i]).sum() + ((x == x[i]).sum() + 1) / 2
    y = rng.normal(size=50)
    assert gt.spearman(y, np.exp(y)) == pytest.approx(1.0)
    assert gt.spearman(y, -y) == pytest.approx(-1.0)
    e = rng.normal(size=(30, 6))
    rot, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    rho = gt.nn_rank_correlation(e, 3.0 * e @ rot + 1.0)  # distances keep their order
    assert rho.shape == (30,) and np.allclose(rho, 1.0)
    assert gt.nn_rank_correlation(e, rng.normal(size=(30, 6))).mean() < 0.5


# --------------------------------------------------------------------------
# missing extra and the CLI


def test_missing_torch_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    import ruv_temporal

    for mod in ("train", "gate"):
        monkeypatch.delitem(sys.modules, f"ruv_temporal.{mod}", raising=False)
        monkeypatch.delattr(ruv_temporal, mod, raising=False)
    with pytest.raises(ImportError) as exc:
        importlib.import_module("ruv_temporal.train")
    assert "pip install 'ruv-temporal[train]'" in str(exc.value)
    assert isinstance(exc.value, RuvError)

    from ruv_temporal.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["train", "--synth", "--out", "unused"])
    assert res.exit_code != 0
    assert "pip install 'ruv-temporal[train]'" in res.output
    res = runner.invoke(main, ["gate", "--synth"])
    assert res.exit_code != 0 and "ruv-temporal[train]" in res.output
    assert runner.invoke(main, ["train", "--help"]).exit_code == 0


@needs_torch
def test_cli_train_and_gate_smoke(tmp_path) -> None:
    from ruv_temporal.cli import main

    runner = CliRunner()
    common = ["--synth", "--rooms", "3", "--seconds", "20", "--sessions-per-activity", "1",
              "--heldout-rooms", "1", "--epochs", "1", "--window", "16", "--eval-window",
              "48", "--stride", "16", "--dims", "16,2,1,8,1", "--quiet", "--threads", "1"]
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", *common, "--out", str(out), "--check-windows", "3"])
    assert res.exit_code == 0, res.output
    for name in ("model.rvne", "metrics.json", "curves.png", "confusion.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["heldout_rooms"] == [2] and metrics["parity"]["ok"]
    b = rvne.parse((out / "model.rvne").read_bytes())
    assert b.n_classes == 6 and b.labels[0] == "absent"
    assert "parity" in res.output and "held-out accuracy" in res.output

    # thresholds every measurement meets (rel loss <= inf, |acc diff| <= 1, rho >= -1,
    # ratio < inf) and thresholds none can meet: the outcome of each is known
    always = ["--max-loss-rel", "inf", "--max-acc-diff", "1", "--min-spearman", "-1",
              "--max-latency-ratio", "inf"]
    never = ["--max-loss-rel", "-1", "--max-acc-diff", "-1", "--min-spearman", "1.5",
             "--max-latency-ratio", "0"]
    gates = ["val_loss", "accuracy", "nn_rank", "latency"]
    for thresholds, passed in ((always, True), (never, False)):
        gout = tmp_path / f"gate-{passed}"
        res = runner.invoke(main, ["gate", *common, "--out", str(gout), "--embed-windows", "10",
                                   *thresholds])
        assert res.exit_code == (0 if passed else 1), res.output
        report = json.loads((gout / "gate.json").read_text())
        assert report["latency"].get("error") is None, report["latency"]
        assert [c["name"] for c in report["checks"]] == gates
        assert [c["passed"] for c in report["checks"]] == [passed] * 4
        assert report["passed"] is passed
        word = "PASS" if passed else "FAIL"
        for name in gates:
            assert f"{name}: {word} (" in res.output, res.output
        assert ("gate PASSED" if passed else "gate FAILED") in res.output


    bad = runner.invoke(main, ["train", "--out", str(out)])
    assert bad.exit_code == 2 and "--data" in bad.output


@needs_torch
def test_cli_synth_defaults_match_the_trainer() -> None:
    from ruv_temporal.cli import train as cli_train

    assert cli_train._SYNTH == tr.DEFAULT_SYNTH


@needs_torch
def test_gate_of_a_dense_pattern_finds_no_difference() -> None:
    """A sparse config whose candidate set is every earlier frame makes the two
    variants the same function trained the same way: the gate must measure no
    loss or accuracy difference and identical neighbour rankings, and pass
    those three gates at the default thresholds. A sparse pattern that drops
    frames does change the trained model."""
    train_s, held_s = tr.split_heldout(_easy_sessions(), 1)
    base = tr.TrainConfig(
        dims=tr.ModelDims(4, 2, 1, 8, 1, 2), attn=tr.dense_equivalent_config(32), window=16,
        eval_window=32, stride=4, eval_stride=4, epochs=2, batch_size=16, lr=1e-2, seed=3,
        threads=1,
    )
    same = {c.name: c for c in gt.run_gate(train_s, held_s, base, ["flat", "wavy"],
                                          n_embed=12, progress=False).checks}
    assert same["val_loss"].sparse == same["val_loss"].dense
    assert same["val_loss"].value == 0.0 and same["val_loss"].passed
    assert same["accuracy"].value == 0.0 and same["accuracy"].passed
    assert same["nn_rank"].value == pytest.approx(1.0, abs=1e-12) and same["nn_rank"].passed

    narrow = kernel.SparseConfig(window=2, block_size=4, global_tokens=(0,))
    other = {c.name: c for c in gt.run_gate(train_s, held_s, replace(base, attn=narrow),
                                           ["flat", "wavy"], n_embed=12, progress=False).checks}
    assert other["val_loss"].sparse != other["val_loss"].dense
    assert other["val_loss"].value > 0.0
    assert other["nn_rank"].value < 1.0
