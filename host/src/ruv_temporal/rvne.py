"""RVNE weight blob codec (docs/spec.md §5).

``parse`` turns bytes into a :class:`Blob` (float32 NumPy arrays), ``build``
does the reverse, ``init_random`` makes docs/spec.md §5's deterministic xorshift64*
blob. The check order, the rejection reasons and their status codes are in
docs/blob-format.md; every rejection is a :class:`~ruv_temporal.errors.BlobError`.

The header, the section headers and the ATTN/INPUT payloads are ``construct``
structs; the CRC-32 is construct's ``Checksum`` over a ``RawCopy`` of every
byte before it (``zlib.crc32``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from construct import (
    Array,
    Bytes,
    Checksum,
    ChecksumError,
    ConstructError,
    Int8ul,
    Int16ul,
    Int32ul,
    RawCopy,
    Struct,
    this,
)

from ruv_temporal.errors import BlobError
from ruv_temporal.status import Status

MAGIC = 0x52564E45
VERSION = 1
HEADER_SIZE = 24
CRC_SIZE = 4
MIN_SIZE = HEADER_SIZE + CRC_SIZE

FLAG_FP16 = 0x01
FLAG_SECTIONS = 0x02
KNOWN_FLAGS = FLAG_FP16 | FLAG_SECTIONS

TAG_NORM = 1
TAG_BIAS = 2
TAG_ATTN = 3
TAG_INPUT = 4
TAG_LABELS = 5
TAG_META = 6
KNOWN_TAGS = {
    TAG_NORM: "NORM",
    TAG_BIAS: "BIAS",
    TAG_ATTN: "ATTN",
    TAG_INPUT: "INPUT",
    TAG_LABELS: "LABELS",
    TAG_META: "META",
}

DEFAULT_SEED = 0xC5110007DEADBEEF
XORSHIFT_MULT = 0x2545F4914F6CDD1D
_MASK64 = (1 << 64) - 1

#: Host tools read at most this many bytes from a file that should hold a
#: blob (docs/spec.md §5.4): more than any model slot of an ESP32-S3 flash can
#: hold, so a larger file (or a device such as /dev/zero) is refused unread.
MAX_BLOB_FILE_BYTES = 16 * 1024 * 1024


def read_blob_file(path: str | Path, limit: int = MAX_BLOB_FILE_BYTES) -> bytes:
    """The bytes of a blob file, reading at most ``limit`` (+1 to notice more).

    Raises ``OSError`` when the file cannot be read and ``BlobError``
    (reason ``file_too_large``, INVALID_SIZE) when it holds more than ``limit``
    bytes; whether the bytes are a valid blob is :func:`parse`'s business."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BlobError("file_too_large", f"{path} holds more than {limit} bytes, the largest "
                        "blob file the host tools read", int(Status.INVALID_SIZE))
    return data


# reason -> docs/spec.md §7 status (docs/blob-format.md, "Check order and error table").
REASON_STATUS: dict[str, Status] = {
    "too_short": Status.INVALID_SIZE,
    "bad_magic": Status.INVALID_ARG,
    "bad_version": Status.INVALID_VERSION,
    "length_mismatch": Status.INVALID_SIZE,
    "crc_mismatch": Status.INVALID_CRC,
    "bad_flags": Status.NOT_SUPPORTED,
    "bad_reserved": Status.INVALID_ARG,
    "zero_dim": Status.INVALID_ARG,
    "bad_classes": Status.INVALID_ARG,
    "bad_gqa": Status.INVALID_ARG,
    "weights_overrun": Status.INVALID_SIZE,
    "trailing_bytes": Status.INVALID_SIZE,
    "bad_padding": Status.INVALID_ARG,
    "section_overrun": Status.INVALID_SIZE,
    "section_size": Status.INVALID_SIZE,
    "bad_section": Status.INVALID_ARG,
    "attn_not_causal": Status.NOT_SUPPORTED,
    "bad_shape": Status.INVALID_ARG,  # build only
    "fp16_overflow": Status.INVALID_ARG,  # build only
}

# --------------------------------------------------------------------------
# construct definitions

HeaderStruct = Struct(
    "magic" / Int32ul,
    "version" / Int16ul,
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "input_dim" / Int16ul,
    "n_q_heads" / Int16ul,
    "n_kv_heads" / Int16ul,
    "head_dim" / Int16ul,
    "n_layers" / Int16ul,
    "n_classes" / Int16ul,
    "weights_len" / Int32ul,
)

BlobStruct = Struct(
    "body" / RawCopy(Struct("header" / HeaderStruct, "weights" / Bytes(this.header.weights_len))),
    "crc32" / Checksum(Int32ul, lambda data: zlib.crc32(data) & 0xFFFFFFFF, this.body.data),
)

SectionHeaderStruct = Struct(
    "tag" / Int16ul,
    "reserved" / Int16ul,
    "length" / Int32ul,
)
SECTION_HEADER_SIZE = 8

AttnStruct = Struct(
    "window" / Int16ul,
    "block" / Int16ul,
    "causal" / Int8ul,
    "log_stride" / Int8ul,
    "landmarks" / Int8ul,
    "n_globals" / Int8ul,
    "globals" / Array(this.n_globals, Int16ul),
)

InputStruct = Struct(
    "feature_set" / Int16ul,
    "frame_rate_x100" / Int16ul,
)

# --------------------------------------------------------------------------
# data classes

FloatArray = npt.NDArray[np.float32]


def _arr_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a = np.asarray(a)
    b = np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


@dataclass(eq=False)
class LayerWeights:
    """One layer: ``wq [D][q*d]``, ``wk``/``wv [D][kv*d]``, ``wo [q*d][D]``;
    biases ``bq [q*d]``, ``bk``/``bv [kv*d]``, ``bo [D]`` (None without BIAS)."""

    wq: FloatArray
    wk: FloatArray
    wv: FloatArray
    wo: FloatArray
    bq: FloatArray | None = None
    bk: FloatArray | None = None
    bv: FloatArray | None = None
    bo: FloatArray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerWeights):
            return NotImplemented
        return all(
            _arr_eq(getattr(self, n), getattr(other, n))
            for n in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")
        )

    @property
    def has_bias(self) -> bool:
        return any(b is not None for b in (self.bq, self.bk, self.bv, self.bo))


@dataclass(frozen=True)
class InputSection:
    """The INPUT section: feature-set id and frame rate ×100."""

    feature_set: int
    frame_rate_x100: int


@dataclass(frozen=True)
class _AttnConfig:
    """Stand-in for ``kernel.SparseConfig`` when the kernel module is unavailable."""

    window: int = 32
    block_size: int = 16
    global_tokens: tuple[int, ...] = (0,)
    causal: bool = True
    log_stride: bool = True
    landmarks: bool = True


def _attn_tuple(cfg: Any) -> tuple[int, int, tuple[int, ...], bool, bool, bool]:
    return (
        int(cfg.window),
        int(cfg.block_size),
        tuple(int(g) for g in cfg.global_tokens),
        bool(cfg.causal),
        bool(cfg.log_stride),
        bool(cfg.landmarks),
    )


def attn_config(window: int, block: int, globals_: Sequence[int], causal: bool,
               log_stride: bool, landmarks: bool) -> Any:
    """A ``kernel.SparseConfig`` (imported lazily), or the local stand-in."""
    try:
        from ruv_temporal.kernel import SparseConfig
    except ImportError:  # pragma: no cover - only while kernel.py is missing
        SparseConfig = _AttnConfig  # noqa: N806
    return SparseConfig(
        window=window,
        block_size=block,
        global_tokens=tuple(globals_),
        causal=causal,
        log_stride=log_stride,
        landmarks=landmarks,
    )


@dataclass(eq=False)
class Blob:
    """A parsed (or to-be-built) RVNE blob. Arrays are float32; ``fp16`` only
    says how the base weights are stored. ``crc32`` is set by :func:`parse`
    (it identifies the model) and is ignored by ``==``."""

    input_dim: int
    n_q_heads: int
    n_kv_heads: int
    head_dim: int
    n_layers: int
    n_classes: int
    fp16: bool
    layers: list[LayerWeights]
    wc: FloatArray
    bc: FloatArray | None = None
    norm: tuple[FloatArray, FloatArray] | None = None
    attn: Any = None
    input: InputSection | None = None
    labels: list[str] | None = None
    meta: str | None = None
    unknown_sections: list[tuple[int, bytes]] = field(default_factory=list)
    crc32: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Blob):
            return NotImplemented
        if self.dims != other.dims or bool(self.fp16) != bool(other.fp16):
            return False
        if len(self.layers) != len(other.layers):
            return False
        if not all(a == b for a, b in zip(self.layers, other.layers, strict=True)):
            return False
        if not (_arr_eq(self.wc, other.wc) and _arr_eq(self.bc, other.bc)):
            return False
        if (self.norm is None) != (other.norm is None):
            return False
        if self.norm is not None and other.norm is not None and not (
            _arr_eq(self.norm[0], other.norm[0]) and _arr_eq(self.norm[1], other.norm[1])
        ):
            return False
        if (self.attn is None) != (other.attn is None):
            return False
        if self.attn is not None and _attn_tuple(self.attn) != _attn_tuple(other.attn):
            return False
        return (
            self.input == other.input
            and self.labels == other.labels
            and self.meta == other.meta
            and [(int(t), bytes(p)) for t, p in self.unknown_sections]
            == [(int(t), bytes(p)) for t, p in other.unknown_sections]
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def dims(self) -> tuple[int, int, int, int, int, int]:
        return (self.input_dim, self.n_q_heads, self.n_kv_heads, self.head_dim,
                self.n_layers, self.n_classes)

    @property
    def has_bias(self) -> bool:
        return self.bc is not None or any(lw.has_bias for lw in self.layers)

    @property
    def section_names(self) -> list[str]:
        """Names of the sections :func:`build` writes for this blob, in order."""
        names = []
        if self.norm is not None:
            names.append("NORM")
        if self.has_bias:
            names.append("BIAS")
        for name, value in (("ATTN", self.attn), ("INPUT", self.input),
                            ("LABELS", self.labels), ("META", self.meta)):
            if value is not None:
                names.append(name)
        names.extend(f"tag{t}" for t, _ in self.unknown_sections)
        return names


# --------------------------------------------------------------------------
# sizes


def base_weight_count(D: int, q: int, kv: int, d: int, L: int, C: int) -> int:  # noqa: N803
    """Number of base weights (Python int: never overflows)."""
    return L * (D * q * d + 2 * D * kv * d + q * d * D) + D * C


def bias_count(D: int, q: int, kv: int, d: int, L: int, C: int) -> int:  # noqa: N803
    return L * (q * d + 2 * kv * d + D) + C


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _err(reason: str, message: str) -> BlobError:
    return BlobError(reason, message, int(REASON_STATUS[reason]))


# --------------------------------------------------------------------------
# parse


def _split_base(flat: FloatArray, D: int, q: int, kv: int, d: int, L: int,
                C: int) -> tuple[list[LayerWeights], FloatArray]:
    """The base weights of docs/spec.md §5 in blob order: per layer Wq, Wk, Wv, Wo, then Wc."""
    pos = 0

    def take(rows: int, cols: int) -> FloatArray:
        nonlocal pos
        a = flat[pos:pos + rows * cols].reshape(rows, cols)
        pos += rows * cols
        return a

    layers = [LayerWeights(wq=take(D, q * d), wk=take(D, kv * d), wv=take(D, kv * d),
                           wo=take(q * d, D)) for _ in range(L)]
    return layers, take(D, C)


def parse(data: bytes | bytearray | memoryview) -> Blob:
    """Parse and validate an RVNE blob (docs/spec.md §5). Raises ``BlobError``."""
    data = bytes(data)
    n = len(data)
    if n < MIN_SIZE:
        raise _err("too_short", f"blob is {n} bytes, at least {MIN_SIZE} needed")
    h = HeaderStruct.parse(data[:HEADER_SIZE])
    if h.magic != MAGIC:
        raise _err("bad_magic", f"bad magic 0x{h.magic:08X} (expected 0x{MAGIC:08X} 'ENVR')")
    if h.version != VERSION:
        raise _err("bad_version", f"unsupported version {h.version} (this parser reads {VERSION})")
    if n != MIN_SIZE + h.weights_len:
        raise _err("length_mismatch",
                   f"blob is {n} bytes but header says {MIN_SIZE + h.weights_len} "
                   f"(28 + weights_len {h.weights_len})")
    try:
        parsed = BlobStruct.parse(data)
    except ChecksumError:
        stored = int.from_bytes(data[-4:], "little")
        computed = zlib.crc32(data[:-4]) & 0xFFFFFFFF
        raise _err("crc_mismatch",
                   f"CRC mismatch: stored 0x{stored:08X}, computed 0x{computed:08X}") from None
    except ConstructError as e:  # pragma: no cover - lengths were checked above
        raise _err("length_mismatch", f"blob structure: {e}") from None
    crc = int(parsed.crc32)

    if h.flags & ~KNOWN_FLAGS:
        raise _err("bad_flags", f"unknown flag bits 0x{h.flags & ~KNOWN_FLAGS:02X}")
    if h.reserved != 0:
        raise _err("bad_reserved", f"reserved header byte is 0x{h.reserved:02X}, must be 0")
    D, q, kv, d, L, C = (h.input_dim, h.n_q_heads, h.n_kv_heads, h.head_dim,  # noqa: N806
                         h.n_layers, h.n_classes)
    names = ("input_dim", "n_q_heads", "n_kv_heads", "head_dim", "n_layers", "n_classes")
    for name, v in zip(names, (D, q, kv, d, L, C), strict=True):
        if v == 0:
            raise _err("zero_dim", f"{name} is 0")
    if C < 2:
        raise _err("bad_classes", f"n_classes is {C}, at least 2 needed")
    if q % kv != 0:
        raise _err("bad_gqa", f"n_q_heads {q} is not a multiple of n_kv_heads {kv}")
    fp16 = bool(h.flags & FLAG_FP16)
    esize = 2 if fp16 else 4
    base_len = base_weight_count(D, q, kv, d, L, C) * esize  # Python int: no overflow
    wlen = h.weights_len
    if base_len > wlen:
        raise _err("weights_overrun",
                   f"base weights need {base_len} bytes, weights region has {wlen}")
    has_sections = bool(h.flags & FLAG_SECTIONS)
    if not has_sections and base_len != wlen:
        raise _err("trailing_bytes",
                   f"{wlen - base_len} bytes after the base weights but no sections flag")

    # Sections are parsed before any array is made, so a bad blob costs nothing.
    region_end = HEADER_SIZE + wlen
    sections = _parse_sections(data, HEADER_SIZE + base_len, region_end, D, q, kv, d, L, C) \
        if has_sections else {}

    weights = parsed.body.value.weights
    dt = np.dtype("<f2") if fp16 else np.dtype("<f4")
    flat = np.frombuffer(weights, dtype=dt, count=base_len // esize).astype(np.float32)
    layers, wc = _split_base(flat, D, q, kv, d, L, C)
    bc = None
    if TAG_BIAS in sections:
        b = np.frombuffer(sections[TAG_BIAS], dtype="<f4").astype(np.float32)
        bpos = 0

        def tb(k: int) -> FloatArray:
            nonlocal bpos
            v = b[bpos:bpos + k]
            bpos += k
            return v

        for lw in layers:
            lw.bq, lw.bk, lw.bv, lw.bo = tb(q * d), tb(kv * d), tb(kv * d), tb(D)
        bc = tb(C)
    norm = None
    if TAG_NORM in sections:
        nv = np.frombuffer(sections[TAG_NORM], dtype="<f4").astype(np.float32)
        norm = (nv[:D], nv[D:])
    return Blob(
        input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
        fp16=fp16, layers=layers, wc=wc, bc=bc, norm=norm,
        attn=sections.get(TAG_ATTN), input=sections.get(TAG_INPUT),
        labels=sections.get(TAG_LABELS), meta=sections.get(TAG_META),
        unknown_sections=sections.get(-1, []), crc32=crc,
    )


def _parse_sections(data: bytes, base_end: int, region_end: int, D: int, q: int,  # noqa: N803
                    kv: int, d: int, L: int, C: int) -> dict[int, Any]:  # noqa: N803
    """Walk the extension sections in ``data[align4(base_end):region_end]``.

    Returns {tag: decoded value} for known tags (NORM/BIAS as raw payload
    bytes) and {-1: [(tag, payload), ...]} for unknown ones."""
    out: dict[int, Any] = {-1: []}
    pos = _align4(base_end)
    if pos > region_end:
        raise _err("section_overrun",
                   f"sections flag set but the weights region ends at {region_end}, "
                   f"inside the padding after the base weights")
    if any(data[base_end:pos]):
        raise _err("bad_padding", f"non-zero padding at {base_end}..{pos}")
    sizes = {
        TAG_NORM: 8 * D,
        TAG_BIAS: 4 * bias_count(D, q, kv, d, L, C),
        TAG_INPUT: 4,
    }
    while pos < region_end:
        if pos + SECTION_HEADER_SIZE > region_end:
            raise _err("section_overrun",
                       f"section header at {pos} needs 8 bytes, {region_end - pos} left")
        sh = SectionHeaderStruct.parse(data[pos:pos + SECTION_HEADER_SIZE])
        tag, length = sh.tag, sh.length
        tname = KNOWN_TAGS.get(tag, f"tag {tag}")
        if sh.reserved != 0:
            raise _err("bad_section", f"{tname} section at {pos}: reserved field is {sh.reserved}")
        start = pos + SECTION_HEADER_SIZE
        end = start + length
        padded = _align4(end)
        if padded > region_end:
            raise _err("section_overrun",
                       f"{tname} section at {pos}: {length} bytes + padding overrun the "
                       f"weights region by {padded - region_end}")
        if any(data[end:padded]):
            raise _err("bad_padding", f"{tname} section at {pos}: non-zero padding")
        payload = data[start:end]
        pos = padded
        if tag not in KNOWN_TAGS:
            out[-1].append((tag, payload))
            continue
        if tag == TAG_ATTN:
            want = 8 + 2 * payload[7] if length >= 8 else 8
        else:
            want = sizes.get(tag, length)
        if length != want:
            raise _err("section_size", f"{tname} section is {length} bytes, {want} required")
        if tag in out:
            raise _err("bad_section", f"duplicate {tname} section")
        out[tag] = _decode_known(tag, tname, payload, C)
    return out


def _decode_known(tag: int, tname: str, payload: bytes, C: int) -> Any:  # noqa: N803
    if tag in (TAG_NORM, TAG_BIAS):
        return payload
    if tag == TAG_ATTN:
        a = AttnStruct.parse(payload)
        for name in ("causal", "log_stride", "landmarks"):
            if a[name] not in (0, 1):
                raise _err("bad_section", f"ATTN {name} is {a[name]}, must be 0 or 1")
        if a.block == 0:
            raise _err("bad_section", "ATTN block size is 0")
        if a.causal != 1:
            raise _err("attn_not_causal", "ATTN section is non-causal; the temporal head is causal")
        return attn_config(a.window, a.block, [int(g) for g in a.globals], bool(a.causal),
                          bool(a.log_stride), bool(a.landmarks))
    if tag == TAG_INPUT:
        i = InputStruct.parse(payload)
        return InputSection(feature_set=int(i.feature_set), frame_rate_x100=int(i.frame_rate_x100))
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _err("bad_section", f"{tname} section is not valid UTF-8: {e.reason}") from None
    if tag == TAG_META:
        return text
    labels = text.split("\0")
    if len(labels) == C + 1 and labels[-1] == "":
        labels.pop()
    if len(labels) != C:
        raise _err("bad_section", f"LABELS has {len(labels)} names for {C} classes")
    return labels


@dataclass(frozen=True)
class Region:
    """One contiguous part of a blob (for ``blob inspect``'s size table)."""

    name: str
    offset: int
    size: int
    detail: str = ""


def layout(data: bytes) -> list[Region]:
    """The byte layout of a valid blob: header, each base tensor, padding, each
    section (header + payload + padding), CRC. Parses (and so validates) first."""
    data = bytes(data)
    b = parse(data)
    D, q, kv, d, L, C = b.dims  # noqa: N806
    es = 2 if b.fp16 else 4
    dt = "f16" if b.fp16 else "f32"
    out = [Region("header", 0, HEADER_SIZE)]
    pos = HEADER_SIZE
    for i in range(L):
        for name, r, c in (("wq", D, q * d), ("wk", D, kv * d), ("wv", D, kv * d),
                           ("wo", q * d, D)):
            out.append(Region(f"layer{i}.{name}", pos, r * c * es, f"{dt} [{r}][{c}]"))
            pos += r * c * es
    out.append(Region("wc", pos, D * C * es, f"{dt} [{D}][{C}]"))
    pos += D * C * es
    end = len(data) - CRC_SIZE
    if pos < end:
        start = _align4(pos)
        if start > pos:
            out.append(Region("padding", pos, start - pos))
        pos = start
        while pos < end:
            sh = SectionHeaderStruct.parse(data[pos:pos + SECTION_HEADER_SIZE])
            size = SECTION_HEADER_SIZE + _align4(sh.length)
            name = KNOWN_TAGS.get(sh.tag, f"tag{sh.tag}")
            out.append(Region(f"section {name}", pos, size,
                              f"tag {sh.tag}, payload {sh.length} bytes"))
            pos += size
    out.append(Region("crc32", end, CRC_SIZE, f"0x{b.crc32:08X}"))
    return out


# --------------------------------------------------------------------------
# build


def _check_arr(name: str, a: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        arr = np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise _err("bad_shape", f"{name}: not a float array ({e})") from None
    if arr.shape != shape:
        raise _err("bad_shape", f"{name} has shape {arr.shape}, expected {shape}")
    return arr


def _u16(name: str, v: Any) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise _err("bad_shape", f"{name} is not an integer: {v!r}") from None
    if not 0 <= iv <= 0xFFFF:
        raise _err("bad_shape", f"{name} = {iv} does not fit in u16")
    return iv


def _section(tag: int, payload: bytes) -> bytes:
    hdr = SectionHeaderStruct.build(dict(tag=tag, reserved=0, length=len(payload)))
    return hdr + payload + b"\0" * (_align4(len(payload)) - len(payload))


def _encode_weights(name: str, arr: FloatArray, dtype: np.dtype[Any]) -> bytes:
    if dtype.itemsize == 2:
        with np.errstate(over="ignore"):
            h = arr.astype(dtype)
        bad = np.isinf(h) & np.isfinite(arr)
        if bad.any():
            raise _err("fp16_overflow", f"{name}: {int(bad.sum())} finite weights exceed the "
                       f"FP16 range (|w| > 65504)")
        return h.tobytes()
    return arr.astype(dtype).tobytes()


def build(blob: Blob) -> bytes:
    """Serialise a :class:`Blob` (validated first; raises ``BlobError``)."""
    D, q, kv, d, L, C = (_u16(n, v) for n, v in zip(  # noqa: N806
        ("input_dim", "n_q_heads", "n_kv_heads", "head_dim", "n_layers", "n_classes"),
        blob.dims, strict=True))
    for name, v in zip(("input_dim", "n_q_heads", "n_kv_heads", "head_dim", "n_layers",
                        "n_classes"), (D, q, kv, d, L, C), strict=True):
        if v == 0:
            raise _err("zero_dim", f"{name} is 0")
    if C < 2:
        raise _err("bad_classes", f"n_classes is {C}, at least 2 needed")
    if q % kv != 0:
        raise _err("bad_gqa", f"n_q_heads {q} is not a multiple of n_kv_heads {kv}")
    if len(blob.layers) != L:
        raise _err("bad_shape", f"{len(blob.layers)} layers given, n_layers is {L}")
    out_dtype = np.dtype("<f2") if blob.fp16 else np.dtype("<f4")
    parts: list[bytes] = []
    for i, lw in enumerate(blob.layers):
        for name, shape in (("wq", (D, q * d)), ("wk", (D, kv * d)), ("wv", (D, kv * d)),
                            ("wo", (q * d, D))):
            arr = _check_arr(f"layer {i} {name}", getattr(lw, name), shape)
            parts.append(_encode_weights(f"layer {i} {name}", arr, out_dtype))
    parts.append(_encode_weights("wc", _check_arr("wc", blob.wc, (D, C)), out_dtype))
    base = b"".join(parts)

    secs: list[bytes] = []
    if blob.norm is not None:
        if len(blob.norm) != 2:
            raise _err("bad_shape", "norm must be (mean, inv_std)")
        secs.append(_section(TAG_NORM, b"".join(
            _check_arr(n, a, (D,)).astype("<f4").tobytes()
            for n, a in zip(("norm mean", "norm inv_std"), blob.norm, strict=True))))
    if blob.has_bias:
        bparts = []
        for i, lw in enumerate(blob.layers):
            for name, k in (("bq", q * d), ("bk", kv * d), ("bv", kv * d), ("bo", D)):
                v = getattr(lw, name)
                arr = np.zeros(k, np.float32) if v is None else _check_arr(
                    f"layer {i} {name}", v, (k,))
                bparts.append(arr.astype("<f4").tobytes())
        bc = np.zeros(C, np.float32) if blob.bc is None else _check_arr("bc", blob.bc, (C,))
        bparts.append(bc.astype("<f4").tobytes())
        secs.append(_section(TAG_BIAS, b"".join(bparts)))
    if blob.attn is not None:
        try:
            w, bs, globals_, causal, log_stride, landmarks = _attn_tuple(blob.attn)
        except (AttributeError, TypeError, ValueError) as e:
            raise _err("bad_section", f"attn is not a SparseConfig: {e}") from None
        if len(globals_) > 255:
            raise _err("bad_section", f"{len(globals_)} global tokens, at most 255")
        if bs <= 0:
            raise _err("bad_section", "attn block_size must be > 0")
        if not causal:
            raise _err("attn_not_causal", "attn config is non-causal; the temporal head is causal")
        secs.append(_section(TAG_ATTN, AttnStruct.build(dict(
            window=_u16("attn window", w), block=_u16("attn block_size", bs),
            causal=int(causal), log_stride=int(log_stride), landmarks=int(landmarks),
            n_globals=len(globals_), globals=[_u16("attn global", g) for g in globals_]))))
    if blob.input is not None:
        secs.append(_section(TAG_INPUT, InputStruct.build(dict(
            feature_set=_u16("feature_set", blob.input.feature_set),
            frame_rate_x100=_u16("frame_rate_x100", blob.input.frame_rate_x100)))))
    if blob.labels is not None:
        labels = [str(s) for s in blob.labels]
        if len(labels) != C:
            raise _err("bad_section", f"{len(labels)} labels for {C} classes")
        if any("\0" in s for s in labels):
            raise _err("bad_section", "a label contains NUL")
        secs.append(_section(TAG_LABELS, "\0".join(labels).encode("utf-8")))
    if blob.meta is not None:
        secs.append(_section(TAG_META, str(blob.meta).encode("utf-8")))
    for tag, payload in blob.unknown_sections:
        if not 0 <= int(tag) <= 0xFFFF or int(tag) in KNOWN_TAGS:
            raise _err("bad_section", f"unknown section tag {tag} is invalid or a known tag")
        secs.append(_section(int(tag), bytes(payload)))

    flags = FLAG_FP16 if blob.fp16 else 0
    weights = base
    if secs:
        flags |= FLAG_SECTIONS
        pad = _align4(HEADER_SIZE + len(base)) - (HEADER_SIZE + len(base))
        weights = base + b"\0" * pad + b"".join(secs)
    if len(weights) > 0xFFFFFFFF:
        raise _err("weights_overrun", f"weights region of {len(weights)} bytes exceeds u32")
    header = dict(magic=MAGIC, version=VERSION, flags=flags, reserved=0, input_dim=D,
                  n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
                  weights_len=len(weights))
    return BlobStruct.build(dict(body=dict(value=dict(header=header, weights=weights))))


# --------------------------------------------------------------------------
# deterministic random blob


def xorshift64star(seed: int, count: int) -> npt.NDArray[np.uint64]:
    """The first ``count`` outputs of docs/spec.md §5's xorshift64* (sequential reference)."""
    x = seed & _MASK64
    out = np.empty(count, np.uint64)
    for i in range(count):
        x ^= (x << 13) & _MASK64
        x ^= x >> 7
        x ^= (x << 17) & _MASK64
        out[i] = (x * XORSHIFT_MULT) & _MASK64
    return out


def _step_np(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    x = x ^ (x << np.uint64(13))
    x = x ^ (x >> np.uint64(7))
    return x ^ (x << np.uint64(17))


def _xorshift_states(seed: int, count: int, lanes: int = 4096) -> npt.NDArray[np.uint64]:
    """States x_1..x_count of the xorshift recurrence, vectorised.

    The xorshift step is linear over GF(2), so "advance ``lanes`` steps" is a
    64×64 bit matrix M; lane j holds x_{k·lanes + j + 1} and each round
    applies M to all lanes at once (64 masked XORs)."""
    if count <= 0:
        return np.empty(0, np.uint64)
    lanes = max(1, min(lanes, count))
    first = np.empty(lanes, np.uint64)
    x = seed & _MASK64
    for i in range(lanes):
        x ^= (x << 13) & _MASK64
        x ^= x >> 7
        x ^= (x << 17) & _MASK64
        first[i] = x
    rounds = -(-count // lanes)
    out = np.empty(rounds * lanes, np.uint64)
    out[:lanes] = first
    if rounds > 1:
        cols = np.uint64(1) << np.arange(64, dtype=np.uint64)  # basis vectors e_j
        for _ in range(lanes):
            cols = _step_np(cols)  # cols[j] = M e_j
        cur = first
        one = np.uint64(1)
        for r in range(1, rounds):
            nxt = np.zeros(lanes, np.uint64)
            for j in range(64):
                bit = (cur >> np.uint64(j)) & one
                nxt ^= bit * cols[j]  # bit is 0 or 1: selects column j
            out[r * lanes:(r + 1) * lanes] = nxt
            cur = nxt
    return out[:count]


def random_weights(count: int, seed: int = DEFAULT_SEED) -> FloatArray:
    """``count`` docs/spec.md §5 init weights ``(u - 0.5f)·0.2f`` in float32."""
    with np.errstate(over="ignore"):
        out = _xorshift_states(seed, count) * np.uint64(XORSHIFT_MULT)  # wraps mod 2^64
    u = (out >> np.uint64(32)).astype(np.uint32).astype(np.float32) / np.float32(4294967296.0)
    return ((u - np.float32(0.5)) * np.float32(0.2)).astype(np.float32)


def init_random(input_dim: int = 16, n_q_heads: int = 4, n_kv_heads: int = 1,
                head_dim: int = 32, n_layers: int = 2, n_classes: int = 4,
                seed: int = DEFAULT_SEED) -> bytes:
    """docs/spec.md §5's deterministic random blob (FP32, no sections)."""
    D, q, kv, d, L, C = (_u16(n, v) for n, v in zip(  # noqa: N806
        ("input_dim", "n_q_heads", "n_kv_heads", "head_dim", "n_layers", "n_classes"),
        (input_dim, n_q_heads, n_kv_heads, head_dim, n_layers, n_classes), strict=True))
    for name, v in (("input_dim", D), ("n_q_heads", q), ("n_kv_heads", kv), ("head_dim", d),
                    ("n_layers", L), ("n_classes", C)):
        if v == 0:
            raise _err("zero_dim", f"{name} is 0")
    if C < 2:
        raise _err("bad_classes", f"n_classes is {C}, at least 2 needed")
    if q % kv != 0:
        raise _err("bad_gqa", f"n_q_heads {q} is not a multiple of n_kv_heads {kv}")
    total = base_weight_count(D, q, kv, d, L, C)
    if total * 4 > 0xFFFFFFFF:
        raise _err("weights_overrun", f"{total} weights do not fit a u32 weights_len")
    flat = random_weights(total, seed)
    layers, wc = _split_base(flat, D, q, kv, d, L, C)
    blob = Blob(input_dim=D, n_q_heads=q, n_kv_heads=kv, head_dim=d, n_layers=L, n_classes=C,
                fp16=False, layers=layers, wc=wc)
    return build(blob)


__all__ = [
    "Blob",
    "InputSection",
    "LayerWeights",
    "MAGIC",
    "REASON_STATUS",
    "Region",
    "VERSION",
    "base_weight_count",
    "bias_count",
    "build",
    "attn_config",
    "init_random",
    "layout",
    "parse",
    "random_weights",
    "xorshift64star",
]
