"""The C core (``firmware/components/ruv_temporal``) built for the host, via ctypes.

Same entry points as :mod:`ruv_temporal.kernel` and :mod:`ruv_temporal.model`,
computed by the portable C99 core instead of NumPy, so the parity tests can
compare the two (docs/spec.md §10: kernel ≤ 1e-5 abs, model logits ≤ 1e-4 abs).

Kernel: :func:`sparse_attention`, :func:`dense_attention`,
:func:`gated_sparse_attention`, :func:`candidates`,
:func:`estimate_sparse_edges`, :class:`KvCache`, :func:`decode_step`,
:func:`evict_h2o`, :func:`default_gate_weights`, :func:`fastgrnn_salience`,
:func:`keep_mask_top_k`, :func:`expf`, :func:`f32_to_f16`, :func:`f16_to_f32`.
Model: :class:`NativeHead`, :func:`blob_info`, :func:`required_bytes`,
:func:`self_test`.

Library lookup (:func:`library_path`): :mod:`ruv_temporal.locate` —
``$RUV_BUILD_DIR`` when set (a CMake build of ``firmware/host``; the sanitizer
stage of ``tools/run_tests.sh`` points it at ``.build/asan``), else the copy
installed with the package (``ruv_temporal/_native``). Nothing is built at run
time; a missing library raises :class:`~ruv_temporal.errors.NativeBuildError`
saying where it looked.

Errors: a non-zero status from the core raises :class:`NativeError` (a
:class:`~ruv_temporal.errors.RuvError` with ``status``); a blob the core
rejects raises :class:`~ruv_temporal.errors.BlobError` (``reason``, ``status``).
Arrays are NumPy float32 ``[seq][heads][dim]``; inputs are converted with
``np.ascontiguousarray(x, np.float32)``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ruv_temporal import locate
from ruv_temporal.errors import BlobError, NativeBuildError, RuvError
from ruv_temporal.status import Status

FloatArray = npt.NDArray[np.float32]

MAX_GLOBALS = 8
"""``RUV_MAX_GLOBALS``: global tokens a C attention config may list."""

MODE_WINDOW = 0
MODE_STREAM = 1
_MODES = {"window": MODE_WINDOW, "stream": MODE_STREAM}
_MODE_NAMES = {v: k for k, v in _MODES.items()}

# C reason strings of ruv_temporal_blob_info -> rvne reason keys, for cores
# that report a human-readable sentence instead of the key.
_REASON_ALIASES: dict[str, str] = {}


class NativeError(RuvError):
    """The C core returned a non-zero status. ``status`` is the docs/spec.md §7 code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message}: {status_name(status)} (0x{status:x})")
        self.status = int(status)


def status_name(status: int) -> str:
    """``Status`` name of a code (``"INVALID_ARG"``), or ``"0x..."`` if unknown."""
    try:
        return Status(int(status)).name
    except ValueError:
        return f"0x{int(status):x}"


# --------------------------------------------------------------------------
# locating the library


def library_path(name: str = "ruv_temporal") -> Path:
    """Path of ``lib<name>.so`` (:func:`ruv_temporal.locate.library_path`).
    Raises NativeBuildError."""
    return locate.library_path(name)


# --------------------------------------------------------------------------
# C types

c_float_p = ctypes.POINTER(ctypes.c_float)
c_u8_p = ctypes.POINTER(ctypes.c_uint8)
c_u16_p = ctypes.POINTER(ctypes.c_uint16)
c_u32_p = ctypes.POINTER(ctypes.c_uint32)
c_size_p = ctypes.POINTER(ctypes.c_size_t)


class AttnCfg(ctypes.Structure):
    """``ruv_attn_cfg_t``."""

    _fields_ = [
        ("window", ctypes.c_uint32),
        ("block_size", ctypes.c_uint32),
        ("globals", ctypes.c_uint16 * MAX_GLOBALS),
        ("n_globals", ctypes.c_uint8),
        ("causal", ctypes.c_bool),
        ("log_stride", ctypes.c_bool),
        ("landmarks", ctypes.c_bool),
    ]


class KvCacheStruct(ctypes.Structure):
    """``ruv_kv_cache_t``."""

    _fields_ = [
        ("capacity", ctypes.c_size_t),
        ("kv_heads", ctypes.c_size_t),
        ("dim", ctypes.c_size_t),
        ("block_size", ctypes.c_size_t),
        ("len", ctypes.c_size_t),
        ("fp16", ctypes.c_bool),
        ("k", c_float_p),
        ("v", c_float_p),
        ("k16", c_u16_p),
        ("v16", c_u16_p),
        ("k_mean", c_float_p),
        ("v_mean", c_float_p),
    ]


class TemporalConfig(ctypes.Structure):
    """``ruv_temporal_config_t``."""

    _fields_ = [
        ("input_dim", ctypes.c_uint16),
        ("window_len", ctypes.c_uint16),
        ("n_classes", ctypes.c_uint16),
        ("mode", ctypes.c_int),  # ruv_run_mode_t
        ("kv_fp16", ctypes.c_bool),
    ]


class ModelInfo(ctypes.Structure):
    """``ruv_model_info_t``."""

    _fields_ = [
        ("input_dim", ctypes.c_uint16),
        ("n_q_heads", ctypes.c_uint16),
        ("n_kv_heads", ctypes.c_uint16),
        ("head_dim", ctypes.c_uint16),
        ("n_layers", ctypes.c_uint16),
        ("n_classes", ctypes.c_uint16),
        ("fp16_weights", ctypes.c_bool),
        ("has_norm", ctypes.c_bool),
        ("has_bias", ctypes.c_bool),
        ("has_attn", ctypes.c_bool),
        ("has_input", ctypes.c_bool),
        ("has_labels", ctypes.c_bool),
        ("attn", AttnCfg),
        ("feature_set", ctypes.c_uint16),
        ("frame_rate_x100", ctypes.c_uint16),
        ("crc32", ctypes.c_uint32),
        ("blob_len", ctypes.c_uint32),
        ("labels", ctypes.c_void_p),
        ("labels_len", ctypes.c_uint32),
        ("meta", ctypes.c_void_p),
        ("meta_len", ctypes.c_uint32),
    ]


class FastGRNNCell(ctypes.Structure):
    """``ruv_fastgrnn_t``: sizes and borrowed weight pointers ([in][out])."""

    _fields_ = [
        ("dim", ctypes.c_size_t),
        ("hidden", ctypes.c_size_t),
        ("wg", c_float_p),
        ("ug", c_float_p),
        ("bg", c_float_p),
        ("wu", c_float_p),
        ("uu", c_float_p),
        ("bu", c_float_p),
    ]


class TemporalStats(ctypes.Structure):
    """``ruv_temporal_stats_t``."""

    _fields_ = [
        ("frames_pushed", ctypes.c_uint32),
        ("classifications", ctypes.c_uint32),
        ("rebases", ctypes.c_uint32),
        ("frames_in_ring", ctypes.c_uint32),
        ("context_len", ctypes.c_uint32),
        ("arena_bytes", ctypes.c_size_t),
    ]


_St = ctypes.c_int  # ruv_status_t
_Sz = ctypes.c_size_t
_P = ctypes.c_void_p
_Cfg = ctypes.POINTER(AttnCfg)
_Cache = ctypes.POINTER(KvCacheStruct)

_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
        "ruv_attn_default": (AttnCfg, []),
    "ruv_attn_aether": (AttnCfg, []),
    "ruv_attn_check": (_St, [_Cfg]),
    "ruv_expf": (ctypes.c_float, [ctypes.c_float]),
    "ruv_f32_to_f16": (ctypes.c_uint16, [ctypes.c_float]),
    "ruv_f16_to_f32": (ctypes.c_float, [ctypes.c_uint16]),
    "ruv_candidate_tokens_cap": (_Sz, [_Cfg, _Sz]),
    "ruv_candidate_blocks_cap": (_Sz, [_Cfg, _Sz]),
    "ruv_candidates": (_St, [_Cfg, _Sz, _Sz, c_u32_p, c_size_p, c_u32_p, c_size_p]),
    "ruv_estimate_sparse_edges": (ctypes.c_uint64, [_Cfg, _Sz]),
    "ruv_sparse_scratch_floats": (_Sz, [_Cfg, _Sz, _Sz, _Sz]),
    "ruv_sparse_attention": (_St, [_Cfg, c_float_p, c_float_p, c_float_p, _Sz, _Sz, _Sz, _Sz,
                                   c_float_p, c_float_p, _Sz]),
    "ruv_sparse_attention_gated": (_St, [_Cfg, c_float_p, c_float_p, c_float_p, _Sz, _Sz, _Sz,
                                         _Sz, c_u8_p, c_float_p, c_float_p, _Sz]),
    "ruv_dense_attention": (_St, [c_float_p, c_float_p, c_float_p, _Sz, _Sz, _Sz, _Sz,
                                  ctypes.c_bool, c_float_p]),
    "ruv_kv_cache_bytes": (_Sz, [_Sz, _Sz, _Sz, _Sz, ctypes.c_bool]),
    "ruv_kv_cache_init": (_St, [_Cache, _P, _Sz, _Sz, _Sz, _Sz, _Sz, ctypes.c_bool]),
    "ruv_kv_cache_clear": (None, [_Cache]),
    "ruv_kv_cache_append": (_St, [_Cache, c_float_p, c_float_p]),
    "ruv_kv_cache_row": (_St, [_Cache, _Sz, ctypes.c_bool, c_float_p]),
    "ruv_decode_step": (_St, [_Cfg, _Cache, c_float_p, _Sz, c_float_p]),
    "ruv_kv_cache_evict_h2o": (_St, [_Cache, _Cfg, c_float_p, _Sz, c_size_p]),
    "ruv_fastgrnn_default_floats": (_Sz, [_Sz, _Sz]),
    "ruv_fastgrnn_default": (_St, [ctypes.POINTER(FastGRNNCell), _Sz, _Sz, c_float_p, _Sz]),
    "ruv_fastgrnn_salience": (_St, [ctypes.POINTER(FastGRNNCell), c_float_p, _Sz, _Sz,
                                    c_float_p, c_float_p, _Sz]),
    "ruv_keep_mask_top_k": (_St, [c_float_p, _Sz, _Sz, c_u8_p]),
    "ruv_temporal_blob_info": (_St, [c_u8_p, _Sz, ctypes.POINTER(ModelInfo),
                                     ctypes.POINTER(ctypes.c_char_p)]),
    "ruv_temporal_required_bytes": (_St, [c_u8_p, _Sz, ctypes.POINTER(TemporalConfig),
                                          c_size_p]),
    "ruv_temporal_init": (_St, [c_u8_p, _Sz, ctypes.c_uint16, ctypes.c_uint16, ctypes.c_uint16,
                                ctypes.POINTER(_P)]),
    "ruv_temporal_init_ex": (_St, [c_u8_p, _Sz, ctypes.POINTER(TemporalConfig),
                                   ctypes.POINTER(_P)]),
    "ruv_temporal_destroy": (None, [_P]),
    "ruv_temporal_reset": (_St, [_P]),
    "ruv_temporal_push": (_St, [_P, c_float_p]),
    "ruv_temporal_classify": (_St, [_P, c_float_p, _Sz]),
    "ruv_temporal_layer_state": (_St, [_P, ctypes.c_uint16, c_float_p, _Sz]),
    "ruv_temporal_get_stats": (_St, [_P, ctypes.POINTER(TemporalStats)]),
    "ruv_temporal_get_info": (_St, [_P, ctypes.POINTER(ModelInfo)]),
    "ruv_temporal_get_config": (_St, [_P, ctypes.POINTER(TemporalConfig)]),
    "ruv_temporal_self_test": (_St, []),
}

_lib: ctypes.CDLL | None = None
_lib_key: str | None = None
_missing: dict[str, list[str]] = {}


def load() -> ctypes.CDLL:
    """Load ``libruv_temporal`` (found by :func:`library_path`) and declare
    every prototype. Raises NativeBuildError."""
    global _lib, _lib_key
    path = library_path("ruv_temporal")
    key = str(path)
    if _lib is not None and _lib_key == key:
        return _lib
    try:
        lib = ctypes.CDLL(key)
    except OSError as exc:
        raise NativeBuildError(f"cannot load {path}: {exc}") from exc
    missing = []
    for fname, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, fname, None)
        if fn is None:
            missing.append(fname)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    kernel_missing = [m for m in missing if not m.startswith("ruv_temporal_")]
    if kernel_missing:
        raise NativeBuildError(f"{path} lacks kernel symbols: {', '.join(kernel_missing)}")
    _missing[key] = missing
    _lib, _lib_key = lib, key
    return lib


def _model_lib() -> ctypes.CDLL:
    """The library, checked to export the model ABI (ruv_temporal.h)."""
    lib = load()
    missing = [m for m in _missing.get(str(_lib_key), []) if m.startswith("ruv_temporal_")]
    if missing:
        raise NativeBuildError(f"{_lib_key} lacks model symbols: {', '.join(missing)}")
    return lib


def available() -> bool:
    """True when the library is found and loads."""
    try:
        load()
    except NativeBuildError:
        return False
    return True


def _check(status: int, what: str) -> None:
    if status != 0:
        raise NativeError(int(status), what)


# --------------------------------------------------------------------------
# helpers


def _f32(x: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _fp(a: np.ndarray) -> Any:
    return a.ctypes.data_as(c_float_p)


def attn_cfg(cfg: Any = None) -> AttnCfg:
    """A ``ruv_attn_cfg_t`` from a ``kernel.SparseConfig`` (or anything with
    its attributes); None -> the library default (W=128, B=64, [0])."""
    c = AttnCfg()
    if cfg is None:
        return load().ruv_attn_default()
    globals_ = tuple(int(g) for g in cfg.global_tokens)
    if len(globals_) > MAX_GLOBALS:
        raise NativeError(Status.INVALID_ARG,
                          f"{len(globals_)} global tokens; the C core takes at most {MAX_GLOBALS}")
    for name, v, hi in (("window", int(cfg.window), 0xFFFFFFFF),
                        ("block_size", int(cfg.block_size), 0xFFFFFFFF)):
        if not 0 <= v <= hi:
            raise NativeError(Status.INVALID_ARG, f"attention {name} {v} out of range")
    if any(not 0 <= g <= 0xFFFF for g in globals_):
        raise NativeError(Status.INVALID_ARG, f"global tokens {globals_} must be u16")
    c.window = int(cfg.window)
    c.block_size = int(cfg.block_size)
    for j, g in enumerate(globals_):
        c.globals[j] = g
    c.n_globals = len(globals_)
    c.causal = bool(cfg.causal)
    c.log_stride = bool(cfg.log_stride)
    c.landmarks = bool(cfg.landmarks)
    return c


def _sparse_config(c: AttnCfg) -> Any:
    from ruv_temporal.rvne import attn_config

    return attn_config(int(c.window), int(c.block_size),
                       [int(c.globals[j]) for j in range(int(c.n_globals))],
                       bool(c.causal), bool(c.log_stride), bool(c.landmarks))


def _qkv(q: npt.ArrayLike, k: npt.ArrayLike,
         v: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, int, int, int, int]:
    q, k, v = _f32(q), _f32(k), _f32(v)
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise NativeError(Status.INVALID_ARG,
                          f"q, k, v must be [seq][heads][dim], got shapes "
                          f"{q.shape}, {k.shape}, {v.shape}")
    n, hq, d = q.shape
    if k.shape != v.shape or k.shape[0] != n or k.shape[2] != d:
        raise NativeError(Status.INVALID_SIZE,
                          f"k and v must be [{n}][kv_heads][{d}] like q {q.shape}, got "
                          f"{k.shape}, {v.shape}")
    hkv = k.shape[1]
    if hkv == 0 or hq == 0 or d == 0 or hq % hkv:
        raise NativeError(Status.INVALID_ARG,
                          f"q_heads {hq} must be a non-zero multiple of kv_heads {hkv}, dim {d}")
    return q, k, v, n, hq, hkv, d


# --------------------------------------------------------------------------
# kernel


def sparse_attention(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike,
                     cfg: Any) -> FloatArray:
    """docs/spec.md §3 sparse attention (MHA or GQA by shape) computed by the C core."""
    return _sparse(q, k, v, cfg, None)


def gated_sparse_attention(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike, cfg: Any,
                           keep_mask: npt.ArrayLike) -> FloatArray:
    """Sparse attention where a log-stride token j is used only if
    ``keep_mask[j]`` (``ruv_sparse_attention_gated``)."""
    return _sparse(q, k, v, cfg, keep_mask)


def _sparse(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike, cfg: Any,
            keep_mask: npt.ArrayLike | None) -> FloatArray:
    lib = load()
    q, k, v, n, hq, hkv, d = _qkv(q, k, v)
    c = attn_cfg(cfg)
    out = np.zeros((n, hq, d), np.float32)
    n_scratch = int(lib.ruv_sparse_scratch_floats(ctypes.byref(c), n, hkv, d))
    scratch = np.zeros(max(1, n_scratch), np.float32)
    if keep_mask is None:
        st = lib.ruv_sparse_attention(ctypes.byref(c), _fp(q), _fp(k), _fp(v), n, hq, hkv, d,
                                      _fp(out), _fp(scratch), n_scratch)
        _check(st, "ruv_sparse_attention")
    else:
        m = np.ascontiguousarray(np.asarray(keep_mask).reshape(-1) != 0, dtype=np.uint8)
        if m.shape[0] != n:
            raise NativeError(Status.INVALID_SIZE, f"keep_mask has {m.shape[0]} entries, n={n}")
        st = lib.ruv_sparse_attention_gated(ctypes.byref(c), _fp(q), _fp(k), _fp(v), n, hq, hkv,
                                            d, m.ctypes.data_as(c_u8_p), _fp(out), _fp(scratch),
                                            n_scratch)
        _check(st, "ruv_sparse_attention_gated")
    return out


def dense_attention(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike,
                    causal: bool = True) -> FloatArray:
    """Plain softmax attention (MHA or GQA) computed by the C core."""
    lib = load()
    q, k, v, n, hq, hkv, d = _qkv(q, k, v)
    out = np.zeros((n, hq, d), np.float32)
    st = lib.ruv_dense_attention(_fp(q), _fp(k), _fp(v), n, hq, hkv, d, bool(causal), _fp(out))
    _check(st, "ruv_dense_attention")
    return out


def candidates(i: int, n: int, cfg: Any) -> tuple[list[int], list[int]]:
    """Candidate set of query ``i`` in a sequence of ``n``: (tokens, blocks)."""
    lib = load()
    c = attn_cfg(cfg)
    if i < 0 or n < 0:
        raise NativeError(Status.INVALID_ARG, f"i={i}, n={n} must be >= 0")
    tcap = max(1, int(lib.ruv_candidate_tokens_cap(ctypes.byref(c), n)))
    bcap = max(1, int(lib.ruv_candidate_blocks_cap(ctypes.byref(c), n)))
    tokens = np.zeros(tcap, np.uint32)
    blocks = np.zeros(bcap, np.uint32)
    nt, nb = ctypes.c_size_t(0), ctypes.c_size_t(0)
    st = lib.ruv_candidates(ctypes.byref(c), i, n, tokens.ctypes.data_as(c_u32_p),
                            ctypes.byref(nt), blocks.ctypes.data_as(c_u32_p), ctypes.byref(nb))
    _check(st, f"ruv_candidates(i={i}, n={n})")
    if nt.value > tcap or nb.value > bcap:  # pragma: no cover - would be a C bug
        raise NativeError(Status.INVALID_SIZE,
                          f"ruv_candidates wrote {nt.value}/{nb.value} entries, caps "
                          f"{tcap}/{bcap}")
    return tokens[:nt.value].tolist(), blocks[:nb.value].tolist()


def candidate_caps(n: int, cfg: Any) -> tuple[int, int]:
    """(``ruv_candidate_tokens_cap``, ``ruv_candidate_blocks_cap``) for n."""
    lib = load()
    c = attn_cfg(cfg)
    return (int(lib.ruv_candidate_tokens_cap(ctypes.byref(c), n)),
            int(lib.ruv_candidate_blocks_cap(ctypes.byref(c), n)))


def estimate_sparse_edges(n: int, cfg: Any) -> int:
    """docs/spec.md §3 edge count: sum over i < n of |tokens_i| + |blocks_i|."""
    lib = load()
    c = attn_cfg(cfg)
    return int(lib.ruv_estimate_sparse_edges(ctypes.byref(c), int(n)))


def attn_check(cfg: Any) -> int:
    """``ruv_attn_check`` status of a config (0 when valid)."""
    lib = load()
    c = attn_cfg(cfg)
    return int(lib.ruv_attn_check(ctypes.byref(c)))


def expf(x: npt.ArrayLike) -> FloatArray:
    """``ruv_expf`` elementwise (a Python loop over the C scalar function)."""
    lib = load()
    a = np.asarray(x, dtype=np.float32)
    fn = lib.ruv_expf
    flat = a.reshape(-1)
    out = np.fromiter((fn(float(t)) for t in flat), dtype=np.float32, count=flat.size)
    return out.reshape(a.shape)


def f32_to_f16(x: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """``ruv_f32_to_f16`` elementwise: binary16 bit patterns (uint16)."""
    lib = load()
    a = np.asarray(x, dtype=np.float32)
    fn = lib.ruv_f32_to_f16
    flat = a.reshape(-1)
    # ctypes converts a Python float to float exactly (it came from a float32)
    out = np.fromiter((fn(float(t)) for t in flat), dtype=np.uint16, count=flat.size)
    return out.reshape(a.shape)


def f16_to_f32(h: npt.ArrayLike) -> FloatArray:
    """``ruv_f16_to_f32`` elementwise from binary16 bit patterns (uint16)."""
    lib = load()
    a = np.asarray(h)
    if a.dtype == np.float16:
        a = a.view(np.uint16)
    a = a.astype(np.uint16)
    fn = lib.ruv_f16_to_f32
    flat = a.reshape(-1)
    out = np.fromiter((fn(int(t)) for t in flat), dtype=np.float32, count=flat.size)
    return out.reshape(a.shape)


class KvCache:
    """``ruv_kv_cache_t``: rows K/V ``[capacity][kv_heads][dim]`` (float32 or
    binary16) and float32 running block means, in memory owned by this object."""

    def __init__(self, capacity: int, kv_heads: int, dim: int, block_size: int,
                 fp16: bool = False) -> None:
        lib = load()
        self._lib = lib
        self.capacity, self.kv_heads, self.dim = int(capacity), int(kv_heads), int(dim)
        self.block_size, self.fp16 = int(block_size), bool(fp16)
        nbytes = int(lib.ruv_kv_cache_bytes(self.capacity, self.kv_heads, self.dim,
                                            self.block_size, self.fp16))
        if nbytes == 0:
            raise NativeError(Status.INVALID_ARG,
                              f"KvCache(capacity={capacity}, kv_heads={kv_heads}, dim={dim}, "
                              f"block_size={block_size}): zero argument or size overflow")
        self._mem = np.zeros((nbytes + 7) // 8, np.uint64)  # 8-byte aligned
        self._c = KvCacheStruct()
        st = lib.ruv_kv_cache_init(ctypes.byref(self._c), self._mem.ctypes.data_as(_P), nbytes,
                                   self.capacity, self.kv_heads, self.dim, self.block_size,
                                   self.fp16)
        _check(st, "ruv_kv_cache_init")

    def __len__(self) -> int:
        return int(self._c.len)

    @property
    def full(self) -> bool:
        return len(self) >= self.capacity

    def _row_arg(self, row: npt.ArrayLike, name: str) -> FloatArray:
        r = _f32(row)
        if r.size != self.kv_heads * self.dim:
            raise NativeError(Status.INVALID_SIZE,
                              f"{name} row has shape {r.shape}, expected "
                              f"[{self.kv_heads}][{self.dim}]")
        return r

    def append(self, k_row: npt.ArrayLike, v_row: npt.ArrayLike) -> None:
        """Append one row (``[kv_heads][dim]``); NativeError(INVALID_STATE) when full."""
        k = self._row_arg(k_row, "k")
        v = self._row_arg(v_row, "v")
        st = self._lib.ruv_kv_cache_append(ctypes.byref(self._c), _fp(k), _fp(v))
        _check(st, f"KvCache.append (len {len(self)}, capacity {self.capacity})")

    def clear(self) -> None:
        self._lib.ruv_kv_cache_clear(ctypes.byref(self._c))

    def row(self, t: int, value: bool = False) -> FloatArray:
        """Row t of K (or V) as float32 ``[kv_heads][dim]``."""
        out = np.zeros((self.kv_heads, self.dim), np.float32)
        st = self._lib.ruv_kv_cache_row(ctypes.byref(self._c), int(t), bool(value), _fp(out))
        _check(st, f"KvCache.row({t})")
        return out

    def _rows(self, value: bool) -> FloatArray:
        n = len(self)
        out = np.zeros((n, self.kv_heads, self.dim), np.float32)
        for t in range(n):
            out[t] = self.row(t, value)
        return out

    @property
    def k(self) -> FloatArray:
        """K rows held, float32 ``[len][kv_heads][dim]`` (a copy)."""
        return self._rows(False)

    @property
    def v(self) -> FloatArray:
        """V rows held, float32 ``[len][kv_heads][dim]`` (a copy)."""
        return self._rows(True)

    def keys(self) -> FloatArray:
        """float32 ``[len][kv_heads][dim]`` (fp16 rows converted), like
        ``kernel.KvCache.keys``."""
        return self._rows(False)

    def values(self) -> FloatArray:
        return self._rows(True)

    def block_means(self) -> tuple[FloatArray, FloatArray]:
        """float32 ``(k_mean, v_mean)`` ``[ceil(len/B)][kv_heads][dim]``."""
        return self._means("k_mean"), self._means("v_mean")

    def _raw(self, field: str, count: int, dtype: Any) -> np.ndarray:
        ptr = getattr(self._c, field)
        if not ptr or count == 0:
            return np.zeros(0, dtype)
        return np.ctypeslib.as_array(ptr, shape=(count,)).copy()

    @property
    def k16(self) -> npt.NDArray[np.uint16] | None:
        """binary16 bits of the K rows held (fp16 caches), ``[len][kv_heads][dim]``."""
        if not self.fp16:
            return None
        n = len(self) * self.kv_heads * self.dim
        return self._raw("k16", n, np.uint16).reshape(len(self), self.kv_heads, self.dim)

    @property
    def v16(self) -> npt.NDArray[np.uint16] | None:
        if not self.fp16:
            return None
        n = len(self) * self.kv_heads * self.dim
        return self._raw("v16", n, np.uint16).reshape(len(self), self.kv_heads, self.dim)

    def _means(self, field: str) -> FloatArray:
        nb = -(-len(self) // self.block_size)
        n = nb * self.kv_heads * self.dim
        return self._raw(field, n, np.float32).reshape(nb, self.kv_heads, self.dim)

    @property
    def k_mean(self) -> FloatArray:
        """Landmark means of K for the blocks started so far, ``[nb][kv_heads][dim]``."""
        return self._means("k_mean")

    @property
    def v_mean(self) -> FloatArray:
        return self._means("v_mean")

    def __repr__(self) -> str:
        return (f"native.KvCache(len={len(self)}, capacity={self.capacity}, "
                f"kv_heads={self.kv_heads}, dim={self.dim}, block_size={self.block_size}, "
                f"fp16={self.fp16})")


def decode_step(q_row: npt.ArrayLike, cache: KvCache, cfg: Any) -> FloatArray:
    """Attention of the newest row's query ``q_row [q_heads][dim]`` over the cache."""
    lib = load()
    q = _f32(q_row)
    if q.ndim == 1:
        q = q.reshape(-1, cache.dim)
    if q.ndim != 2 or q.shape[1] != cache.dim:
        raise NativeError(Status.INVALID_SIZE,
                          f"q_row must be [q_heads][{cache.dim}], got {q.shape}")
    hq = q.shape[0]
    c = attn_cfg(cfg)
    out = np.zeros((hq, cache.dim), np.float32)
    st = lib.ruv_decode_step(ctypes.byref(c), ctypes.byref(cache._c), _fp(q), hq, _fp(out))
    _check(st, "ruv_decode_step")
    return out


def evict_h2o(cache: KvCache, scores: npt.ArrayLike, cfg: Any) -> int:
    """H2O eviction: removes the unprotected row with the lowest score; returns it."""
    lib = load()
    s = _f32(scores).reshape(-1)
    c = attn_cfg(cfg)
    ev = ctypes.c_size_t(0)
    st = lib.ruv_kv_cache_evict_h2o(ctypes.byref(cache._c), ctypes.byref(c), _fp(s), s.shape[0],
                                    ctypes.byref(ev))
    _check(st, "ruv_kv_cache_evict_h2o")
    return int(ev.value)


def default_gate_weights(dim: int, hidden: int = 32
                         ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Upstream's default FastGRNN weights from ``ruv_fastgrnn_default``:
    ``(wg [dim][hidden], ug [hidden][hidden], wu [dim][hidden], uu
    [hidden][hidden])``, the cell's ``[in][out]`` layout."""
    lib = load()
    nf = int(lib.ruv_fastgrnn_default_floats(dim, hidden))
    if nf == 0:
        raise NativeError(0x102, "ruv_fastgrnn_default_floats")
    w = np.zeros(nf, np.float32)
    cell = FastGRNNCell()
    _check(lib.ruv_fastgrnn_default(ctypes.byref(cell), dim, hidden, _fp(w), nf),
           "ruv_fastgrnn_default")
    a, b = dim * hidden, hidden * hidden
    return (w[:a].reshape(dim, hidden), w[a:a + b].reshape(hidden, hidden),
            w[a + b:2 * a + b].reshape(dim, hidden), w[2 * a + b:].reshape(hidden, hidden))


def fastgrnn_salience(wg: npt.ArrayLike, ug: npt.ArrayLike, bg: npt.ArrayLike | None,
                      wu: npt.ArrayLike, uu: npt.ArrayLike, bu: npt.ArrayLike | None,
                      k: npt.ArrayLike) -> FloatArray:
    """``ruv_fastgrnn_salience``: ``[n]`` salience of ``k [n][kv_heads][dim]``
    through the cell (weights ``[in][out]``; biases None = 0)."""
    lib = load()
    ws = [_f32(x) for x in (wg, ug, wu, uu)]
    bs = [None if x is None else _f32(x).reshape(-1) for x in (bg, bu)]
    kk = _f32(k)
    n, kvh, d = kk.shape
    hidden = ws[0].shape[1]
    cell = FastGRNNCell(d, hidden, _fp(ws[0]), _fp(ws[1]),
                        None if bs[0] is None else _fp(bs[0]), _fp(ws[2]), _fp(ws[3]),
                        None if bs[1] is None else _fp(bs[1]))
    sal = np.zeros(n, np.float32)
    scratch = np.zeros(d + 4 * hidden, np.float32)
    _check(lib.ruv_fastgrnn_salience(ctypes.byref(cell), _fp(kk), n, kvh, _fp(sal), _fp(scratch),
                                     scratch.shape[0]), "ruv_fastgrnn_salience")
    return sal


def keep_mask_top_k(salience: npt.ArrayLike, k: int) -> npt.NDArray[np.bool_]:
    """``ruv_keep_mask_top_k``: bool ``[n]`` of the ``k`` highest salience values."""
    lib = load()
    s = _f32(salience).reshape(-1)
    keep = np.zeros(s.shape[0], np.uint8)
    _check(lib.ruv_keep_mask_top_k(_fp(s), s.shape[0], int(k), keep.ctypes.data_as(c_u8_p)),
           "ruv_keep_mask_top_k")
    return keep != 0


# --------------------------------------------------------------------------
# model


def _blob_buffer(data: bytes | bytearray | memoryview) -> tuple[Any, int]:
    """The blob in a 4-byte aligned ctypes buffer (the core reads weights in place)."""
    raw = bytes(data)
    n = len(raw)
    buf = (ctypes.c_uint32 * max(1, (n + 3) // 4))()
    if n:
        ctypes.memmove(buf, raw, n)
    return buf, n


def _u8(buf: Any) -> Any:
    return ctypes.cast(buf, c_u8_p)


def _reason_key(reason: str) -> str:
    return _REASON_ALIASES.get(reason, reason)


def _info_dict(inf: ModelInfo) -> dict[str, Any]:
    labels = None
    if inf.labels and inf.labels_len:
        raw = ctypes.string_at(inf.labels, int(inf.labels_len)).decode("utf-8", "replace")
        parts = raw.split("\0")
        if parts and parts[-1] == "" and len(parts) > int(inf.n_classes):
            parts = parts[:-1]
        labels = parts
    meta = None
    if inf.meta:
        meta = ctypes.string_at(inf.meta, int(inf.meta_len)).decode("utf-8", "replace")
    return {
        "input_dim": int(inf.input_dim),
        "n_q_heads": int(inf.n_q_heads),
        "n_kv_heads": int(inf.n_kv_heads),
        "head_dim": int(inf.head_dim),
        "n_layers": int(inf.n_layers),
        "n_classes": int(inf.n_classes),
        "fp16_weights": bool(inf.fp16_weights),
        "has_norm": bool(inf.has_norm),
        "has_bias": bool(inf.has_bias),
        "has_attn": bool(inf.has_attn),
        "has_input": bool(inf.has_input),
        "has_labels": bool(inf.has_labels),
        "attn": _sparse_config(inf.attn),
        "feature_set": int(inf.feature_set),
        "frame_rate_x100": int(inf.frame_rate_x100),
        "crc32": int(inf.crc32),
        "blob_len": int(inf.blob_len),
        "labels": labels,
        "meta": meta,
    }


def _blob_info_raw(buf: Any, n: int) -> tuple[int, str, ModelInfo]:
    lib = _model_lib()
    inf = ModelInfo()
    reason = ctypes.c_char_p()
    st = int(lib.ruv_temporal_blob_info(_u8(buf), n, ctypes.byref(inf), ctypes.byref(reason)))
    text = reason.value.decode("utf-8", "replace") if (st != 0 and reason.value) else ""
    return st, _reason_key(text) if st != 0 else "", inf


def blob_info(data: bytes | bytearray | memoryview) -> tuple[int, str, dict[str, Any] | None]:
    """The C blob view's verdict: ``(status, reason, info)``; status 0 and
    reason ``""`` with the model info dict when valid, else info None."""
    buf, n = _blob_buffer(data)
    st, reason, inf = _blob_info_raw(buf, n)
    if st != 0:
        return st, reason, None
    return 0, "", _info_dict(inf)


def _blob_error(st: int, reason: str) -> BlobError:
    return BlobError(reason or status_name(st).lower(),
                     f"the C core rejects the blob: {reason or 'no reason given'} "
                     f"({status_name(st)} 0x{st:x})", st)


def _config(info: ModelInfo, window_len: int, mode: str | int, kv_fp16: bool,
            input_dim: int | None, n_classes: int | None) -> TemporalConfig:
    if isinstance(mode, str):
        if mode not in _MODES:
            raise NativeError(Status.INVALID_ARG,
                              f"mode must be 'window' or 'stream', got {mode!r}")
        m = _MODES[mode]
    else:
        m = int(mode)
    cfg = TemporalConfig()
    d = int(info.input_dim) if input_dim is None else int(input_dim)
    c = int(info.n_classes) if n_classes is None else int(n_classes)
    for name, v in (("window_len", window_len), ("input_dim", d), ("n_classes", c)):
        if not 0 <= int(v) <= 0xFFFF:
            raise NativeError(Status.INVALID_ARG, f"{name} {v} does not fit u16")
    cfg.input_dim, cfg.window_len, cfg.n_classes = d, int(window_len), c
    cfg.mode = m
    cfg.kv_fp16 = bool(kv_fp16)
    return cfg


def required_bytes(blob: bytes | bytearray | memoryview, window_len: int,
                   mode: str = "window", kv_fp16: bool = False) -> int:
    """Bytes ``ruv_temporal_init_ex`` would allocate (weights excluded)."""
    lib = _model_lib()
    buf, n = _blob_buffer(blob)
    st, reason, inf = _blob_info_raw(buf, n)
    if st != 0:
        raise _blob_error(st, reason)
    cfg = _config(inf, window_len, mode, kv_fp16, None, None)
    out = ctypes.c_size_t(0)
    st = lib.ruv_temporal_required_bytes(_u8(buf), n, ctypes.byref(cfg), ctypes.byref(out))
    _check(st, "ruv_temporal_required_bytes")
    return int(out.value)


def self_test() -> int:
    """``ruv_temporal_self_test()`` status (0 = every built-in check holds)."""
    return int(_model_lib().ruv_temporal_self_test())


class NativeHead:
    """A ``ruv_temporal_ctx_t``: the temporal head (docs/spec.md §4) run by the C core.

    ``mode`` is ``"window"`` (ring of the last ``window_len`` frames;
    :meth:`classify` runs the forward) or ``"stream"`` (every :meth:`push`
    decodes through all layers with KV caches of capacity ``window_len``).
    ``input_dim``/``n_classes`` default to the blob's (passing others makes
    the core refuse the config). The blob is copied into a 4-byte aligned
    buffer that lives as long as the context."""

    def __init__(self, blob: bytes | bytearray | memoryview, window_len: int,
                 mode: str = "window", kv_fp16: bool = False, input_dim: int | None = None,
                 n_classes: int | None = None) -> None:
        self._ctx: Any = None
        lib = _model_lib()
        self._lib = lib
        self._buf, self._len = _blob_buffer(blob)
        st, reason, inf = _blob_info_raw(self._buf, self._len)
        if st != 0:
            raise _blob_error(st, reason)
        self._cfg = _config(inf, window_len, mode, kv_fp16, input_dim, n_classes)
        ctx = _P()
        st = lib.ruv_temporal_init_ex(_u8(self._buf), self._len, ctypes.byref(self._cfg),
                                      ctypes.byref(ctx))
        _check(st, f"ruv_temporal_init_ex(window_len={window_len}, mode={mode}, "
                   f"kv_fp16={bool(kv_fp16)})")
        if not ctx.value:
            raise NativeError(Status.NO_MEM, "ruv_temporal_init_ex returned no context")
        self._ctx = ctx
        self.input_dim = int(self._cfg.input_dim)
        self.n_classes = int(self._cfg.n_classes)
        self.n_layers = int(inf.n_layers)
        self.window_len = int(self._cfg.window_len)
        self.mode = _MODE_NAMES.get(int(self._cfg.mode), str(self._cfg.mode))
        self.kv_fp16 = bool(self._cfg.kv_fp16)
        self.attn_cfg = _sparse_config(inf.attn)

    # lifecycle
    def _live(self) -> Any:
        if self._ctx is None:
            raise NativeError(Status.INVALID_STATE, "NativeHead is closed")
        return self._ctx

    def close(self) -> None:
        """Destroy the C context (idempotent)."""
        ctx, self._ctx = getattr(self, "_ctx", None), None
        lib = getattr(self, "_lib", None)
        if ctx is not None and lib is not None:
            lib.ruv_temporal_destroy(ctx)

    def __enter__(self) -> NativeHead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    @property
    def closed(self) -> bool:
        return self._ctx is None

    def reset(self) -> None:
        """Clear ring, caches and counters (model and allocation kept)."""
        _check(self._lib.ruv_temporal_reset(self._live()), "ruv_temporal_reset")

    # per frame
    def push(self, frame: npt.ArrayLike) -> None:
        """Push one frame of ``input_dim`` raw features (stream mode: decodes it)."""
        f = _f32(frame).reshape(-1)
        if f.shape[0] != self.input_dim:
            raise NativeError(Status.INVALID_SIZE,
                              f"frame has {f.shape[0]} values, input_dim is {self.input_dim}")
        _check(self._lib.ruv_temporal_push(self._live(), _fp(f)), "ruv_temporal_push")

    def push_many(self, frames: Iterable[npt.ArrayLike]) -> None:
        for f in frames:
            self.push(f)

    def classify(self) -> FloatArray:
        """Logits ``[n_classes]`` of the newest frame."""
        out = np.zeros(self.n_classes, np.float32)
        st = self._lib.ruv_temporal_classify(self._live(), _fp(out), self.n_classes)
        _check(st, "ruv_temporal_classify")
        return out

    def layer_state(self, stage: int) -> FloatArray:
        """Residual-stream row ``[input_dim]`` of the newest frame at ``stage``
        (0 = normalised input, l = after layer l) as of the last classify
        (window) or push (stream)."""
        if not 0 <= int(stage) <= 0xFFFF:
            raise NativeError(Status.INVALID_ARG, f"stage {stage} out of range")
        out = np.zeros(self.input_dim, np.float32)
        st = self._lib.ruv_temporal_layer_state(self._live(), int(stage), _fp(out),
                                                self.input_dim)
        _check(st, f"ruv_temporal_layer_state(stage={stage})")
        return out

    def layer_states(self) -> FloatArray:
        """All stages ``[n_layers + 1][input_dim]``."""
        return np.stack([self.layer_state(s) for s in range(self.n_layers + 1)])

    def stats(self) -> dict[str, int]:
        s = TemporalStats()
        _check(self._lib.ruv_temporal_get_stats(self._live(), ctypes.byref(s)),
               "ruv_temporal_get_stats")
        return {name: int(getattr(s, name)) for name, _ in TemporalStats._fields_}

    def info(self) -> dict[str, Any]:
        """Model info (dims, sections, attn config, crc32, labels, meta) plus
        the run config (``window_len``, ``mode``, ``kv_fp16``)."""
        inf = ModelInfo()
        _check(self._lib.ruv_temporal_get_info(self._live(), ctypes.byref(inf)),
               "ruv_temporal_get_info")
        out = _info_dict(inf)
        cfg = TemporalConfig()
        _check(self._lib.ruv_temporal_get_config(self._live(), ctypes.byref(cfg)),
               "ruv_temporal_get_config")
        out.update(window_len=int(cfg.window_len),
                   mode=_MODE_NAMES.get(int(cfg.mode), str(cfg.mode)),
                   kv_fp16=bool(cfg.kv_fp16))
        return out

    def __repr__(self) -> str:
        state = "closed" if self._ctx is None else "open"
        return (f"NativeHead(mode={self.mode!r}, window_len={self.window_len}, "
                f"kv_fp16={self.kv_fp16}, {state})")


__all__ = [
    "AttnCfg",
    "KvCache",
    "FastGRNNCell",
    "NativeError",
    "NativeHead",
    "attn_cfg",
    "attn_check",
    "available",
    "blob_info",
    "candidate_caps",
    "candidates",
    "decode_step",
    "dense_attention",
    "estimate_sparse_edges",
    "default_gate_weights",
    "evict_h2o",
    "expf",
    "fastgrnn_salience",
    "f16_to_f32",
    "f32_to_f16",
    "gated_sparse_attention",
    "keep_mask_top_k",
    "library_path",
    "load",
    "required_bytes",
    "self_test",
    "sparse_attention",
]
