"""RVNE blob codec (docs/spec.md §5, docs/blob-format.md).

Blobs for the rejection tests are forged with ``struct``/``zlib`` here, not
with the codec under test, so a layout mistake in the codec cannot hide.
"""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruv_temporal import kernel, rvne
from ruv_temporal.errors import BlobError, RuvError
from ruv_temporal.status import Status

PIN_HEADER = bytes.fromhex(
    "45 4e 56 52 01 00 00 00 10 00 04 00 01 00 20 00 02 00 04 00 00 a1 00 00"
)


# ----------------------------------------------------------------------------- helpers


def forge(
    weights: bytes,
    dims: tuple[int, ...] = (2, 2, 1, 2, 1, 2),
    flags: int = 0,
    reserved: int = 0,
    magic: int = 0x52564E45,
    version: int = 1,
    weights_len: int | None = None,
    crc: int | None = None,
) -> bytes:
    wl = len(weights) if weights_len is None else weights_len
    body = struct.pack("<IHBB6HI", magic, version, flags, reserved, *dims, wl) + weights
    c = zlib.crc32(body) & 0xFFFFFFFF if crc is None else crc
    return body + struct.pack("<I", c)


def base_bytes(dims: tuple[int, ...], fp16: bool = False, fill: float = 0.25) -> bytes:
    n = rvne.base_weight_count(*dims)
    return np.full(n, fill, "<f2" if fp16 else "<f4").tobytes()


def sect(tag: int, payload: bytes, reserved: int = 0, pad: bytes | None = None) -> bytes:
    p = (-len(payload)) % 4
    return struct.pack("<HHI", tag, reserved, len(payload)) + payload + (
        b"\0" * p if pad is None else pad)


def with_sections(dims: tuple[int, ...], *sections: bytes, fp16: bool = False,
                  lead_pad: bytes | None = None) -> bytes:
    base = base_bytes(dims, fp16)
    p = (-(24 + len(base))) % 4
    pad = b"\0" * p if lead_pad is None else lead_pad
    return forge(base + pad + b"".join(sections), dims,
                 flags=rvne.FLAG_SECTIONS | (1 if fp16 else 0))


def recrc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)


def reject(data: bytes, reason: str) -> BlobError:
    with pytest.raises(BlobError) as ei:
        rvne.parse(data)
    e = ei.value
    assert e.reason == reason, f"expected {reason}, got {e.reason}: {e}"
    assert e.status == int(rvne.REASON_STATUS[reason])
    assert isinstance(e, RuvError)
    return e


DIMS = (2, 2, 1, 2, 1, 2)  # D, q, kv, d, L, C


# ----------------------------------------------------------------------------- pins


def test_init_random_pin() -> None:
    data = rvne.init_random()
    assert len(data) == 41_244
    assert data[:24] == PIN_HEADER
    assert zlib.crc32(data[:-4]) & 0xFFFFFFFF == 0xDC807956
    assert int.from_bytes(data[-4:], "little") == 0xDC807956
    b = rvne.parse(data)
    assert b.crc32 == 0xDC807956
    assert b.dims == (16, 4, 1, 32, 2, 4)
    assert not b.fp16 and b.section_names == [] and b.attn is None and b.norm is None
    assert rvne.build(b) == data


def _scalar_weight(seed: int, n: int) -> list[np.float32]:
    """docs/spec.md §5 written out with plain Python ints and NumPy float32 scalars."""
    x, out = seed, []
    m = (1 << 64) - 1
    for _ in range(n):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        o = (x * 0x2545F4914F6CDD1D) & m
        u = np.float32(o >> 32) / np.float32(4294967296.0)
        out.append((u - np.float32(0.5)) * np.float32(0.2))
    return out


def test_init_random_values_follow_spec_stream() -> None:
    data = rvne.init_random()
    got = np.frombuffer(data[24:-4], "<f4")
    ref = np.array(_scalar_weight(rvne.DEFAULT_SEED, got.size), np.float32)
    assert np.array_equal(got, ref)
    assert np.all(np.abs(got) <= 0.1)


@pytest.mark.parametrize("lanes", [1, 3, 64, 4096])
def test_vectorised_xorshift_matches_sequential(lanes: int) -> None:
    seq = rvne.xorshift64star(12345, 5000)
    with np.errstate(over="ignore"):
        vec = rvne._xorshift_states(12345, 5000, lanes) * np.uint64(rvne.XORSHIFT_MULT)
    assert np.array_equal(vec, seq)


def test_init_random_seed_changes_weights_and_sizes() -> None:
    a = rvne.parse(rvne.init_random(seed=1))
    b = rvne.parse(rvne.init_random(seed=2))
    assert not np.array_equal(a.wc, b.wc)
    d = rvne.init_random(8, 6, 3, 4, 3, 5)
    assert len(d) == 28 + 4 * rvne.base_weight_count(8, 6, 3, 4, 3, 5)


def test_init_random_large_is_fast() -> None:
    t = time.perf_counter()
    data = rvne.init_random(256, 8, 2, 32, 4, 16)
    elapsed = time.perf_counter() - t
    assert len(data) == 28 + 4 * rvne.base_weight_count(256, 8, 2, 32, 4, 16)
    assert elapsed < 2.0, elapsed
    # the tail of the vectorised stream matches the sequential generator
    n = rvne.base_weight_count(256, 8, 2, 32, 4, 16)
    tail = np.frombuffer(data[-4 - 16:-4], "<f4")
    x = rvne.xorshift64star(rvne.DEFAULT_SEED, n)[-4:]
    u = (x >> np.uint64(32)).astype(np.uint32).astype(np.float32) / np.float32(2.0**32)
    assert np.array_equal(tail, (u - np.float32(0.5)) * np.float32(0.2))


def test_init_random_rejects_bad_dims() -> None:
    with pytest.raises(BlobError) as ei:
        rvne.init_random(n_q_heads=3, n_kv_heads=2)
    assert ei.value.reason == "bad_gqa"
    with pytest.raises(BlobError):
        rvne.init_random(input_dim=0)
    with pytest.raises(BlobError):
        rvne.init_random(input_dim=70000)


# ----------------------------------------------------------------------------- round trip


@st.composite
def blobs(draw: st.DrawFn) -> rvne.Blob:
    kv = draw(st.integers(1, 3))
    q = kv * draw(st.integers(1, 3))
    D = draw(st.integers(1, 6))
    d = draw(st.integers(1, 4))
    L = draw(st.integers(1, 3))
    C = draw(st.integers(2, 5))
    fp16 = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def w(*shape: int) -> np.ndarray:
        a = rng.normal(0, 1, shape).astype(np.float32)
        return a.astype(np.float16).astype(np.float32) if fp16 else a

    def f(*shape: int) -> np.ndarray:
        return rng.normal(0, 1, shape).astype(np.float32)

    bias = draw(st.booleans())
    layers = [rvne.LayerWeights(w(D, q * d), w(D, kv * d), w(D, kv * d), w(q * d, D),
                                *((f(q * d), f(kv * d), f(kv * d), f(D)) if bias else ()))
              for _ in range(L)]
    attn = None
    if draw(st.booleans()):
        attn = rvne.attn_config(draw(st.integers(0, 65535)), draw(st.integers(1, 65535)),
                               draw(st.lists(st.integers(0, 65535), max_size=6)), True,
                               draw(st.booleans()), draw(st.booleans()))
    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                          blacklist_characters="\0"), max_size=12)
    return rvne.Blob(
        input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
        fp16=fp16, layers=layers, wc=w(D, C), bc=f(C) if bias else None,
        norm=(f(D), f(D)) if draw(st.booleans()) else None,
        attn=attn,
        input=rvne.InputSection(draw(st.integers(0, 65535)), draw(st.integers(0, 65535)))
        if draw(st.booleans()) else None,
        labels=draw(st.lists(text, min_size=C, max_size=C)) if draw(st.booleans()) else None,
        meta=draw(text) if draw(st.booleans()) else None,
        unknown_sections=draw(st.lists(st.tuples(st.integers(7, 65535),
                                                 st.binary(max_size=9)), max_size=3)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blobs())
def test_round_trip(b: rvne.Blob) -> None:
    data = rvne.build(b)
    p = rvne.parse(data)
    assert p == b
    assert p.crc32 == zlib.crc32(data[:-4]) & 0xFFFFFFFF
    assert rvne.build(p) == data
    assert len(data) % 4 == 0 or not p.section_names
    # flags and layout as docs/spec.md §5 says
    assert data[6] == (1 if b.fp16 else 0) | (2 if b.section_names else 0)
    base_end = 24 + rvne.base_weight_count(*b.dims) * (2 if b.fp16 else 4)
    # the sections build writes, in its order, read back with a walker written here
    expected = [tag for tag, present in (
        (1, b.norm is not None), (2, b.has_bias), (3, b.attn is not None),
        (4, b.input is not None), (5, b.labels is not None), (6, b.meta is not None)) if present]
    expected += [tag for tag, _ in b.unknown_sections]
    if expected:
        first = base_end + (-base_end) % 4
        assert data[base_end:first] == b"\0" * (first - base_end)
        tags, off = [], first
        while off < len(data) - 4:
            tag, reserved, length = struct.unpack_from("<HHI", data, off)
            assert reserved == 0
            end = off + 8 + length
            pad = (-end) % 4
            assert data[end:end + pad] == b"\0" * pad
            tags.append(tag)
            off = end + pad
        assert off == len(data) - 4
        assert tags == expected
    else:
        assert base_end == len(data) - 4


def test_sections_layout_and_in_place_floats() -> None:
    dims = (3, 1, 1, 1, 1, 3)  # 21 weights: FP16 base ends at 66 -> 2 bytes of padding
    rng = np.random.default_rng(0)
    b = rvne.parse(rvne.init_random(*dims))
    b.fp16 = True
    mean, inv = rng.normal(size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    b.norm = (mean, inv)
    data = rvne.build(b)
    assert data[6] == 3
    assert data[66:68] == b"\0\0"
    tag, res, length = struct.unpack_from("<HHI", data, 68)
    assert (tag, res, length) == (1, 0, 24)
    assert (68 + 8) % 4 == 0
    assert np.array_equal(np.frombuffer(data, "<f4", 3, 76), mean)
    assert np.array_equal(np.frombuffer(data, "<f4", 3, 88), inv)
    p = rvne.parse(data)
    assert np.array_equal(p.norm[0], mean) and np.array_equal(p.norm[1], inv)
    # FP16 written round-to-nearest-even
    x = np.float32(1 + 2**-11)  # exactly between two binary16 values -> rounds to even (1.0)
    b.layers[0].wq[0, 0] = x
    p = rvne.parse(rvne.build(b))
    assert p.layers[0].wq[0, 0] == np.float32(1.0)


def test_bias_layout_and_partial_bias() -> None:
    dims = (2, 2, 1, 1, 2, 2)
    b = rvne.parse(rvne.init_random(*dims))
    b.bc = np.array([5, 6], np.float32)
    data = rvne.build(b)
    p = rvne.parse(data)
    # missing layer biases are written (and read back) as zeros
    assert all(np.array_equal(lw.bq, np.zeros(2)) and np.array_equal(lw.bo, np.zeros(2))
               for lw in p.layers)
    assert np.array_equal(p.bc, [5, 6])
    off = 24 + rvne.base_weight_count(*dims) * 4
    tag, _, length = struct.unpack_from("<HHI", data, off)
    assert tag == 2 and length == 4 * rvne.bias_count(*dims) == 4 * (2 * (2 + 1 + 1 + 2) + 2)
    assert np.array_equal(np.frombuffer(data, "<f4", 2, off + 8 + length - 8), [5, 6])


def test_attn_section_maps_to_sparse_config() -> None:
    payload = struct.pack("<HHBBBB3H", 40, 8, 1, 0, 1, 3, 0, 5, 9)
    data = with_sections(DIMS, sect(3, payload))
    p = rvne.parse(data)
    cfg = p.attn
    assert (cfg.window, cfg.block_size, tuple(cfg.global_tokens), cfg.causal, cfg.log_stride,
            cfg.landmarks) == (40, 8, (0, 5, 9), True, False, True)
    assert isinstance(cfg, kernel.SparseConfig)
    assert cfg == kernel.SparseConfig(40, 8, (0, 5, 9), True, False, True)
    assert rvne.build(p) == data


def test_labels_meta_input_unknown_sections() -> None:
    data = with_sections(
        DIMS,
        sect(99, b"xyz"),
        sect(5, "a\0bé\0".encode()),  # trailing NUL accepted
        sect(6, "hello ✓".encode()),
        sect(4, struct.pack("<HH", 7, 2000)),
        sect(0, b""),
    )
    p = rvne.parse(data)
    assert p.labels == ["a", "bé"]
    assert p.meta == "hello ✓"
    assert p.input == rvne.InputSection(7, 2000)
    assert p.unknown_sections == [(99, b"xyz"), (0, b"")]
    again = rvne.parse(rvne.build(p))
    assert again == p


def test_sections_flag_without_sections_is_accepted() -> None:
    p = rvne.parse(forge(base_bytes(DIMS), DIMS, flags=2))
    assert p.section_names == []


# ----------------------------------------------------------------------------- rejections


def test_reject_too_short() -> None:
    for n in range(28):
        reject(b"ENVR" + bytes(max(0, n - 4)) if n >= 4 else bytes(n), "too_short")
    reject(b"\xff" * 27, "too_short")


def test_reject_bad_magic() -> None:
    reject(forge(base_bytes(DIMS), DIMS, magic=0x52564E46), "bad_magic")
    # order: magic before version / length / crc
    reject(forge(b"", DIMS, magic=0, version=9, weights_len=5, crc=0), "bad_magic")


def test_reject_bad_version() -> None:
    reject(forge(base_bytes(DIMS), DIMS, version=2), "bad_version")
    reject(forge(b"", DIMS, version=0, weights_len=5, crc=0), "bad_version")


def test_reject_length_mismatch() -> None:
    good = forge(base_bytes(DIMS), DIMS)
    reject(good[:-1], "length_mismatch")
    reject(good + b"\0", "length_mismatch")
    reject(forge(base_bytes(DIMS), DIMS, weights_len=0xFFFFFFFF, crc=0), "length_mismatch")


def test_reject_crc_mismatch() -> None:
    good = forge(base_bytes(DIMS), DIMS)
    bad = bytearray(good)
    bad[30] ^= 1
    e = reject(bytes(bad), "crc_mismatch")
    assert "CRC" in str(e)
    # CRC is checked before the shape
    reject(forge(b"", (0, 0, 0, 0, 0, 0), crc=1), "crc_mismatch")


def test_reject_flags_and_reserved() -> None:
    for bit in range(2, 8):
        reject(forge(base_bytes(DIMS), DIMS, flags=1 << bit), "bad_flags")
    reject(forge(base_bytes(DIMS), DIMS, reserved=1), "bad_reserved")


@pytest.mark.parametrize("i", range(6))
def test_reject_zero_dim(i: int) -> None:
    dims = list(DIMS)
    dims[i] = 0
    reject(forge(b"", tuple(dims)), "zero_dim")


def test_reject_classes_and_gqa() -> None:
    reject(forge(base_bytes((2, 2, 1, 2, 1, 1)), (2, 2, 1, 2, 1, 1)), "bad_classes")
    reject(forge(base_bytes((2, 3, 2, 2, 1, 2)), (2, 3, 2, 2, 1, 2)), "bad_gqa")


def test_reject_weights_overrun_and_trailing() -> None:
    base = base_bytes(DIMS)
    reject(forge(base[:-4], DIMS), "weights_overrun")
    half = base_bytes(DIMS, fp16=True)
    reject(forge(half[:-2], DIMS, flags=1), "weights_overrun")
    reject(forge(half[:-2], DIMS, flags=3), "weights_overrun")
    reject(forge(half + b"\0\0\0\0", DIMS, flags=1), "trailing_bytes")
    reject(forge(base + b"\0\0\0\0", DIMS), "trailing_bytes")


def test_huge_dims_rejected_without_allocation() -> None:
    t = time.perf_counter()
    reject(forge(bytes(64), (65535, 65535, 65535, 65535, 65535, 65535)), "weights_overrun")
    reject(forge(bytes(64), (65535, 65535, 1, 65535, 65535, 65535), flags=3), "weights_overrun")
    assert time.perf_counter() - t < 0.5


def test_reject_padding() -> None:
    dims = (3, 1, 1, 1, 1, 3)  # FP16 base: 42 bytes -> 2 bytes padding
    reject(with_sections(dims, sect(6, b"m"), fp16=True, lead_pad=b"\0\1"), "bad_padding")
    reject(with_sections(DIMS, sect(6, b"m", pad=b"\0x\0")), "bad_padding")


def test_reject_section_overrun() -> None:
    # header does not fit
    reject(with_sections(DIMS, b"\x06\0\0\0"), "section_overrun")
    # payload larger than the rest
    reject(with_sections(DIMS, struct.pack("<HHI", 6, 0, 100) + b"abcd"), "section_overrun")
    reject(with_sections(DIMS, struct.pack("<HHI", 6, 0, 0xFFFFFFFF)), "section_overrun")
    # padding of the last section missing
    reject(with_sections(DIMS, struct.pack("<HHI", 6, 0, 3) + b"abc"), "section_overrun")
    # sections flag, FP16 base ends 2 bytes before the region end: padding would overrun
    dims = (3, 1, 1, 1, 1, 3)
    reject(forge(base_bytes(dims, True), dims, flags=3), "section_overrun")


def test_reject_section_size() -> None:
    reject(with_sections(DIMS, sect(1, bytes(4 * 2 * 2 - 4))), "section_size")
    reject(with_sections(DIMS, sect(2, bytes(4 * rvne.bias_count(*DIMS) + 4))), "section_size")
    reject(with_sections(DIMS, sect(3, struct.pack("<HHBBBB", 8, 8, 1, 1, 1, 2))),
           "section_size")
    reject(with_sections(DIMS, sect(3, b"\1\0")), "section_size")
    reject(with_sections(DIMS, sect(4, b"\1\0")), "section_size")


def test_reject_bad_section() -> None:
    attn = struct.pack("<HHBBBB", 8, 8, 1, 1, 1, 0)
    reject(with_sections(DIMS, sect(6, b"x", reserved=1)), "bad_section")
    reject(with_sections(DIMS, sect(6, b"x"), sect(6, b"y")), "bad_section")
    reject(with_sections(DIMS, sect(3, struct.pack("<HHBBBB", 8, 0, 1, 1, 1, 0))),
           "bad_section")
    reject(with_sections(DIMS, sect(3, struct.pack("<HHBBBB", 8, 8, 1, 2, 1, 0))),
           "bad_section")
    reject(with_sections(DIMS, sect(3, attn), sect(5, b"a\0b\0c")), "bad_section")
    reject(with_sections(DIMS, sect(5, b"a")), "bad_section")
    reject(with_sections(DIMS, sect(6, b"\xff\xfe")), "bad_section")
    reject(with_sections(DIMS, sect(5, b"\xc3\0b")), "bad_section")


def test_reject_non_causal_attn() -> None:
    reject(with_sections(DIMS, sect(3, struct.pack("<HHBBBB", 8, 8, 0, 1, 1, 0))),
           "attn_not_causal")


def test_every_reason_has_a_status_and_a_doc_row() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "blob-format.md").read_text()
    for reason, status in rvne.REASON_STATUS.items():
        assert f"`{reason}`" in doc, reason
        assert isinstance(status, Status)


def test_build_validates() -> None:
    b = rvne.parse(rvne.init_random(*DIMS))
    b.layers[0].wq = np.zeros((3, 3), np.float32)
    with pytest.raises(BlobError) as ei:
        rvne.build(b)
    assert ei.value.reason == "bad_shape"
    b = rvne.parse(rvne.init_random(*DIMS))
    b.labels = ["only one"]
    with pytest.raises(BlobError) as ei:
        rvne.build(b)
    assert ei.value.reason == "bad_section"
    b.labels = ["a\0", "b"]
    with pytest.raises(BlobError):
        rvne.build(b)
    b.labels = None
    b.n_classes = 1
    with pytest.raises(BlobError) as ei:
        rvne.build(b)
    assert ei.value.reason == "bad_classes"
    b = rvne.parse(rvne.init_random(*DIMS))
    b.fp16 = True
    b.wc[0, 0] = 70000.0
    with pytest.raises(BlobError) as ei:
        rvne.build(b)
    assert ei.value.reason == "fp16_overflow"
    b.wc[0, 0] = np.inf  # an infinity stays an infinity
    assert np.isinf(rvne.parse(rvne.build(b)).wc[0, 0])
    b = rvne.parse(rvne.init_random(*DIMS))
    b.unknown_sections = [(3, b"")]
    with pytest.raises(BlobError):
        rvne.build(b)


# ----------------------------------------------------------------------------- fuzz-ish


def _check_only_blob_errors(data: bytes) -> None:
    try:
        b = rvne.parse(data)
    except BlobError as e:
        assert e.reason in rvne.REASON_STATUS
        assert e.status == int(rvne.REASON_STATUS[e.reason])
        return
    # accepted: it must rebuild to a blob that parses to the same thing
    assert rvne.parse(rvne.build(b)) == b


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_blob_error(data: bytes) -> None:
    _check_only_blob_errors(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=4, max_size=120), st.booleans())
def test_random_bodies_with_valid_header_prefix(body: bytes, fix_len: bool) -> None:
    data = b"ENVR\x01\x00" + body
    if fix_len and len(data) >= 24:
        data = data[:20] + struct.pack("<I", len(data) + 4 - 28) + data[24:] + b"\0\0\0\0"
    if len(data) >= 28:
        data = recrc(data)
    _check_only_blob_errors(data)


_SEED_BLOBS = [
    rvne.init_random(*DIMS),
    with_sections(DIMS, sect(1, bytes(16)), sect(3, struct.pack("<HHBBBB2H", 4, 2, 1, 1, 1, 2,
                                                                  0, 1)),
                  sect(5, b"a\0b"), sect(6, b"meta"), sect(77, b"?"), sect(4, b"\0\0\x10\x00"),
                  sect(2, bytes(4 * rvne.bias_count(*DIMS)))),
    with_sections((3, 1, 1, 1, 1, 3), sect(6, b"x"), fp16=True),
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_SEED_BLOBS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), max_size=4),
    st.sampled_from(["none", "truncate", "extend"]),
    st.integers(0, 200),
    st.booleans(),
    st.booleans(),
)
def test_mutated_blobs_only_raise_blob_error(seed: bytes, flips: list[tuple[int, int]],
                                             edit: str, k: int, fix_len: bool,
                                             fix_crc: bool) -> None:
    data = bytearray(seed)
    for pos, bit in flips:
        data[pos % (len(data) - 4)] ^= 1 << bit
    if edit == "truncate":
        del data[max(0, len(data) - 4 - k):len(data) - 4]
    elif edit == "extend":
        data[len(data) - 4:len(data) - 4] = bytes((i * 37) & 0xFF for i in range(k))
    data = bytes(data)
    if fix_len and len(data) >= 28:
        data = data[:20] + struct.pack("<I", len(data) - 28) + data[24:]
    if fix_crc and len(data) >= 28:
        data = recrc(data)
    _check_only_blob_errors(data)


def test_parse_accepts_bytearray_and_memoryview() -> None:
    data = rvne.init_random(*DIMS)
    assert rvne.parse(bytearray(data)) == rvne.parse(memoryview(data)) == rvne.parse(data)


def test_layout_covers_every_byte() -> None:
    for data in _SEED_BLOBS:
        regions = rvne.layout(data)
        pos = 0
        for r in regions:
            assert r.offset == pos
            pos += r.size
        assert pos == len(data)
