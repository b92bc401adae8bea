"""csi-stats v1: the per-frame CSI feature front-end, NumPy mirror of the C
component ``firmware/components/ruv_csi`` (docs/features.md).

One CSI frame (int8 I/Q per subcarrier in ascending frequency order) plus its
RSSI and noise floor gives :data:`DIM` = 16 float32 features. The 0xC5110001
packet and the WiFi driver carry the ESP-IDF CSI buffer instead
(``wifi_csi_info_t.buf``: (imaginary, real) per entry, driver order, any LTF
layout): :func:`lltf_from_esp` maps it to the 64 L-LTF subcarriers the
features are computed on, :meth:`CsiStats.compute_esp` does both steps.
Some features carry state from frame to frame (previous amplitudes, EMAs),
held by :class:`CsiStats`, one per link.

The mirror performs the C code's float32 operations in the C code's order:
sums are sequential in ascending subcarrier order (``np.cumsum`` is a
sequential float32 accumulation, unlike ``np.sum``), every operation rounds
to float32, reciprocals are taken once per frame. The only libm calls are
``sqrtf`` (correctly rounded on both sides) and ``atan2f``; C and NumPy agree
within :data:`PARITY_TOL` (``|c - ref| <= PARITY_TOL * (1 + |ref|)`` per
feature), in practice to a few ulp.

:func:`load_native` wraps ``libruv_csi.so`` (the C code built for the host)
with the same interface, for the parity test.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ruv_temporal.errors import NativeBuildError, RuvError
from ruv_temporal.status import Status

FEATURE_SET_STATS_V1 = 1
"""Feature-set id carried in a blob's INPUT section (docs/spec.md §5, tag 4)."""
DIM = 16
MAX_SUBCARRIERS = 256
PROFILE_GROUPS = 6
MOTION_EMA_ALPHA = np.float32(0.25)
RSSI_EMA_ALPHA = np.float32(0.0625)
REF_EMA_ALPHA = np.float32(0.0625)
PARITY_TOL = 1e-4
"""C vs NumPy tolerance per feature: ``|c - ref| <= PARITY_TOL * (1 + |ref|)``."""

LLTF_SUBCARRIERS = 64
"""Subcarriers of the L-LTF, the part of every ESP32 CSI buffer the features use."""
SECOND_NONE, SECOND_ABOVE, SECOND_BELOW = 0, 1, 2
"""``rx_ctrl.secondary_channel`` / ``wifi_second_chan_t`` values."""
SECONDARY_CHANNELS: dict[str, int] = {"none": SECOND_NONE, "above": SECOND_ABOVE,
                                      "below": SECOND_BELOW}
ESP_LAYOUTS: dict[tuple[int, int], str] = {
    # (secondary channel, buffer bytes) -> layout, from ESP-IDF's "Wi-Fi Channel State
    # Information" table for the ESP32/ESP32-S2/-C3/-S3 (docs/features.md).
    (SECOND_NONE, 128): "non-HT 20 MHz (L-LTF)",
    (SECOND_NONE, 256): "HT 20 MHz (L-LTF + HT-LTF)",
    (SECOND_NONE, 384): "HT 20 MHz STBC (L-LTF + HT-LTF + STBC-HT-LTF)",
    (SECOND_ABOVE, 128): "non-HT 20 MHz (L-LTF)",
    (SECOND_ABOVE, 256): "HT 20 MHz (L-LTF + HT-LTF)",
    (SECOND_ABOVE, 376): "HT 20 MHz STBC (L-LTF + HT-LTF + STBC-HT-LTF)",
    (SECOND_ABOVE, 384): "HT 40 MHz (L-LTF + HT-LTF)",
    (SECOND_ABOVE, 612): "HT 40 MHz STBC (L-LTF + HT-LTF + STBC-HT-LTF)",
    (SECOND_BELOW, 128): "non-HT 20 MHz (L-LTF)",
    (SECOND_BELOW, 256): "HT 20 MHz (L-LTF + HT-LTF)",
    (SECOND_BELOW, 380): "HT 20 MHz STBC (L-LTF + HT-LTF + STBC-HT-LTF)",
    (SECOND_BELOW, 384): "HT 40 MHz (L-LTF + HT-LTF)",
    (SECOND_BELOW, 612): "HT 40 MHz STBC (L-LTF + HT-LTF + STBC-HT-LTF)",
}

FEATURE_NAMES: tuple[str, ...] = (
    "amp_mean",
    "amp_cv",
    "motion",
    "motion_ema",
    "deviation",
    *(f"profile_{g}" for g in range(PROFILE_GROUPS)),
    "phase_slope",
    "phase_resid",
    "rssi",
    "snr",
    "rssi_dev",
)
assert len(FEATURE_NAMES) == DIM

F_AMP_MEAN, F_AMP_CV, F_MOTION, F_MOTION_EMA, F_DEVIATION, F_PROFILE0 = 0, 1, 2, 3, 4, 5
F_PHASE_SLOPE, F_PHASE_RESID, F_RSSI, F_SNR, F_RSSI_DEV = 11, 12, 13, 14, 15

_F32 = np.float32
_ONE = np.float32(1.0)


class FeatureError(RuvError):
    """Bad input to the feature front-end (size, dtype, range). ``status``
    is the matching docs/spec.md §7 code (INVALID_SIZE / INVALID_ARG)."""

    def __init__(self, message: str, status: int = Status.INVALID_ARG) -> None:
        super().__init__(message)
        self.status = status


class CsiLayoutError(FeatureError):
    """A CSI buffer whose (length, secondary channel) is not a layout the
    ESP32/ESP32-S3 driver produces (status NOT_SUPPORTED)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Status.NOT_SUPPORTED)


def secondary_channel(value: int | str) -> int:
    """``"none"``/``"above"``/``"below"`` or 0/1/2 -> 0/1/2."""
    if isinstance(value, str):
        if value.lower() not in SECONDARY_CHANNELS:
            raise FeatureError(f"secondary channel must be one of "
                               f"{', '.join(SECONDARY_CHANNELS)}, got {value!r}")
        return SECONDARY_CHANNELS[value.lower()]
    if int(value) not in SECONDARY_CHANNELS.values():
        raise FeatureError(f"secondary channel must be 0, 1 or 2, got {value!r}")
    return int(value)


def esp_layout(len_bytes: int, secondary: int | str = SECOND_NONE) -> str | None:
    """The driver layout of a CSI buffer of ``len_bytes`` (None: unknown)."""
    return ESP_LAYOUTS.get((secondary_channel(secondary), int(len_bytes)))


def _as_buffer(buf: bytes | bytearray | memoryview | npt.ArrayLike) -> npt.NDArray[np.int8]:
    if isinstance(buf, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(buf), np.int8)
    a = np.asarray(buf)
    if a.dtype != np.int8:
        if a.dtype.kind not in "iu" or (a.size and (a.min() < -128 or a.max() > 127)):
            raise FeatureError(f"a CSI buffer is int8 bytes, got dtype {a.dtype}")
        a = a.astype(np.int8)
    return a.reshape(-1)


def lltf_from_esp(buf: bytes | bytearray | memoryview | npt.ArrayLike,
                  secondary: int | str = SECOND_NONE,
                  first_word_invalid: bool = False) -> npt.NDArray[np.int8]:
    """The ESP-IDF CSI buffer (``wifi_csi_info_t.buf``, the 0xC5110001 payload)
    -> the L-LTF as int8 ``[64][2]`` (I, Q), ascending frequency (subcarrier
    -32 first). Mirror of ``ruv_csi_lltf_from_esp``: the (length, secondary
    channel) pair must be a driver layout (:data:`ESP_LAYOUTS`), else
    :class:`CsiLayoutError`; with ``first_word_invalid`` the first two driver
    entries become null."""
    b = _as_buffer(buf)
    sec = secondary_channel(secondary)
    if (sec, b.size) not in ESP_LAYOUTS:
        known = sorted({n for (s_, n) in ESP_LAYOUTS if s_ == sec})
        raise CsiLayoutError(f"unknown CSI buffer layout: {b.size} bytes with secondary channel "
                             f"{sec} (the ESP32/ESP32-S3 driver sends {known} bytes there)")
    n = LLTF_SUBCARRIERS
    entries = b[:2 * n].reshape(n, 2).copy()  # (imag, real) per driver entry
    if first_word_invalid:
        entries[:2] = 0
    if sec == SECOND_NONE:  # 0..31, -32..-1 -> -32..31
        entries = np.roll(entries, n // 2, axis=0)
    return np.ascontiguousarray(entries[:, ::-1])


def esp_from_lltf(iq: npt.ArrayLike, secondary: int | str = SECOND_NONE,
                  len_bytes: int = 2 * LLTF_SUBCARRIERS) -> bytes:
    """Inverse of :func:`lltf_from_esp`: 64 ascending (I, Q) pairs -> a driver
    buffer of ``len_bytes`` (the L-LTF first, the other LTFs zero). Used by the
    synthetic generator and ``replay`` to send what a node would send."""
    a = np.asarray(iq)
    if a.size != 2 * LLTF_SUBCARRIERS:
        raise FeatureError(f"the L-LTF is {LLTF_SUBCARRIERS} (I, Q) pairs, got {a.size} values",
                           Status.INVALID_SIZE)
    sec = secondary_channel(secondary)
    if (sec, int(len_bytes)) not in ESP_LAYOUTS:
        raise CsiLayoutError(f"unknown CSI buffer layout: {len_bytes} bytes with secondary "
                             f"channel {sec}")
    entries = np.asarray(a, np.int8).reshape(LLTF_SUBCARRIERS, 2)[:, ::-1]
    if sec == SECOND_NONE:
        entries = np.roll(entries, -(LLTF_SUBCARRIERS // 2), axis=0)
    out = np.zeros(int(len_bytes), np.int8)
    out[:2 * LLTF_SUBCARRIERS] = entries.reshape(-1)
    return out.tobytes()


def _as_iq_frames(iq: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """[T][n][2] (or [T][2n]) int8-range integers -> int32 [T][n][2]."""
    a = np.asarray(iq)
    if a.dtype.kind not in "iu":
        raise FeatureError(f"CSI I/Q must be integers (int8), got dtype {a.dtype}")
    if a.ndim == 2:
        if a.shape[1] % 2:
            raise FeatureError(f"flat I/Q rows need an even length, got {a.shape[1]}",
                               Status.INVALID_SIZE)
        a = a.reshape(a.shape[0], a.shape[1] // 2, 2)
    if a.ndim != 3 or a.shape[2] != 2:
        raise FeatureError(f"CSI frames must be [T][n_subcarriers][2], got shape {a.shape}")
    n = a.shape[1]
    if n == 0 or n > MAX_SUBCARRIERS:
        raise FeatureError(f"n_subcarriers must be 1..{MAX_SUBCARRIERS}, got {n}",
                           Status.INVALID_SIZE)
    if a.size and (a.min() < -128 or a.max() > 127):
        raise FeatureError("CSI I/Q values must be in the int8 range -128..127")
    return a.astype(np.int32)


def _as_i8_vector(v: npt.ArrayLike, t: int, name: str) -> npt.NDArray[np.int32]:
    a = np.asarray(v)
    if a.ndim == 0:
        a = np.full(t, a)
    if a.shape != (t,):
        raise FeatureError(f"{name} must be a scalar or have shape ({t},), got {a.shape}")
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise FeatureError(f"{name} must be integers (int8 dBm), got dtype {a.dtype}")
    if a.size and (a.min() < -128 or a.max() > 127):
        raise FeatureError(f"{name} must be in the int8 range -128..127")
    return a.astype(np.int32)


def _seqsum(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Sequential float32 sum over the last axis (the C loop order)."""
    return np.cumsum(x, axis=-1, dtype=np.float32)[..., -1]


def _recip(x: npt.NDArray[np.float32], ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """float32 1/x where ok, else 0 (no division by zero warnings)."""
    out = np.zeros_like(x, dtype=np.float32)
    np.divide(_ONE, x, out=out, where=ok)
    return out


@dataclass
class CsiStatsState:
    """Mirror of ``ruv_csi_stats_t``."""

    prev_amp: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros(MAX_SUBCARRIERS, np.float32))
    ref_amp: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros(MAX_SUBCARRIERS, np.float32))
    n_prev: int = 0
    has_prev: bool = False
    has_rssi: bool = False
    motion_ema: np.float32 = field(default_factory=lambda: np.float32(0.0))
    rssi_ema: np.float32 = field(default_factory=lambda: np.float32(0.0))
    frames: int = 0


class CsiStats:
    """Stateful csi-stats v1 extractor for one link (mirror of
    ``ruv_csi_stats_init`` / ``ruv_csi_stats_compute``)."""

    def __init__(self) -> None:
        self.state = CsiStatsState()

    def reset(self) -> None:
        self.state = CsiStatsState()

    def compute(self, iq: npt.ArrayLike, rssi: int, noise_floor: int) -> npt.NDArray[np.float32]:
        """One frame: ``iq`` is [n][2] (or flat [2n]) int8 -> features [16]."""
        a = np.asarray(iq)
        if a.ndim == 1:
            if a.size % 2:
                raise FeatureError(f"flat I/Q needs an even length, got {a.size}",
                                   Status.INVALID_SIZE)
            a = a.reshape(-1, 2)
        return self.compute_many(a[None], [rssi], [noise_floor])[0]

    def compute_esp(self, buf: bytes | npt.ArrayLike, rssi: int, noise_floor: int,
                    secondary: int | str = SECOND_NONE,
                    first_word_invalid: bool = False) -> npt.NDArray[np.float32]:
        """One frame as the driver (or a 0xC5110001 payload) delivers it: the
        L-LTF of :func:`lltf_from_esp`, then :meth:`compute`. Raises
        :class:`CsiLayoutError` (state untouched) for an unknown layout."""
        iq = lltf_from_esp(buf, secondary, first_word_invalid)
        return self.compute(iq, rssi, noise_floor)

    def compute_many(self, iq: npt.ArrayLike, rssi: npt.ArrayLike,
                     noise_floor: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Frames in order: ``iq`` [T][n][2] int8, ``rssi``/``noise_floor``
        [T] (or scalars) -> features [T][16] float32. State carries over."""
        x = _as_iq_frames(iq)
        t_count, n = x.shape[0], x.shape[1]
        rs = _as_i8_vector(rssi, t_count, "rssi")
        nf = _as_i8_vector(noise_floor, t_count, "noise_floor")
        out = np.zeros((t_count, DIM), np.float32)
        if t_count == 0:
            return out
        st = self.state

        i_ = x[..., 0]
        q_ = x[..., 1]
        p = i_ * i_ + q_ * q_
        valid = p > 0
        amp = np.sqrt(p.astype(np.float32))  # sqrt(0) = 0 for null subcarriers
        nv = valid.sum(axis=1)
        ok = nv > 0
        sum_a = _seqsum(amp)
        inv_nv = _recip(nv.astype(np.float32), ok)
        mean = sum_a * inv_nv
        inv_mean = _recip(mean, ok)
        d = amp - mean[:, None]
        std = np.sqrt(_seqsum(np.where(valid, d * d, _F32(0))) * inv_nv)
        out[:, F_AMP_MEAN] = mean
        out[:, F_AMP_CV] = std * inv_mean
        na = amp * inv_mean[:, None]
        nz = na > 0

        # motion vs the previous frame and deviation from the reference profile
        # (same subcarrier count, non-null in both)
        prev = np.empty_like(na)
        prev[0] = st.prev_amp[:n]
        prev[1:] = na[:-1]
        chain = np.empty(t_count, bool)
        chain[0] = st.has_prev and st.n_prev == n
        chain[1:] = ok[:-1]
        chain &= ok
        both = nz & (prev > 0)
        msum = _seqsum(np.where(both, np.abs(na - prev), _F32(0)))
        mcnt = both.sum(axis=1)
        use = chain & (mcnt > 0)
        motion = np.where(use, msum * _recip(mcnt.astype(np.float32), use), _F32(0))
        out[:, F_MOTION] = motion
        # the reference is an EMA over frames: sequential in t, vectorised in k
        ref = st.ref_amp[:n].copy()
        ref_before = np.zeros_like(na)
        alpha = REF_EMA_ALPHA
        for t in np.flatnonzero(ok):
            if chain[t]:
                ref_before[t] = ref
                ref = np.where(nz[t], np.where(ref > 0, ref + alpha * (na[t] - ref), na[t]), ref)
            else:
                ref = na[t].copy()
        st.ref_amp[:n] = ref
        dboth = nz & (ref_before > 0)
        dsum = _seqsum(np.where(dboth, np.abs(na - ref_before), _F32(0)))
        dcnt = dboth.sum(axis=1)
        duse = chain & (dcnt > 0)
        out[:, F_DEVIATION] = np.where(duse, dsum * _recip(dcnt.astype(np.float32), duse),
                                       _F32(0))

        # profile of PROFILE_GROUPS contiguous subcarrier groups
        for g in range(PROFILE_GROUPS):
            lo, hi = (g * n) // PROFILE_GROUPS, ((g + 1) * n) // PROFILE_GROUPS
            if hi <= lo:
                continue
            s = _seqsum(np.where(nz[:, lo:hi], na[:, lo:hi], _F32(0)))
            c = nz[:, lo:hi].sum(axis=1)
            out[:, F_PROFILE0 + g] = np.where(c > 0, s * _recip(c.astype(np.float32), c > 0),
                                              _F32(0))

        # phase: steps from integer z_k * conj(z_prev_valid), unwrapped by summing
        idx = np.where(nz, np.arange(n), -1)
        last = np.maximum.accumulate(idx, axis=1)
        prevj = np.concatenate([np.full((t_count, 1), -1), last[:, :-1]], axis=1)
        has_j = nz & (prevj >= 0)
        pj = np.clip(prevj, 0, None)
        ij = np.take_along_axis(i_, pj, axis=1)
        qj = np.take_along_axis(q_, pj, axis=1)
        re = (i_ * ij + q_ * qj).astype(np.float32)
        im = (q_ * ij - i_ * qj).astype(np.float32)
        dphi = np.where(has_j, np.arctan2(im, re), _F32(0)).astype(np.float32)
        psi = np.cumsum(dphi, axis=1, dtype=np.float32)
        kf = np.arange(n, dtype=np.float32)
        mx = _seqsum(np.where(nz, kf, _F32(0))) * inv_nv
        my = _seqsum(np.where(nz, psi, _F32(0))) * inv_nv
        dx = kf[None, :] - mx[:, None]
        dy = psi - my[:, None]
        sxx = _seqsum(np.where(nz, dx * dx, _F32(0)))
        sxy = _seqsum(np.where(nz, dx * dy, _F32(0)))
        reg = nv >= 2
        slope = np.where(reg, sxy * _recip(sxx, reg), _F32(0))
        r = dy - slope[:, None] * dx
        srr = _seqsum(np.where(nz, r * r, _F32(0)))
        out[:, F_PHASE_SLOPE] = slope
        out[:, F_PHASE_RESID] = np.where(reg, np.sqrt(srr * inv_nv), _F32(0))

        # RSSI features and the EMAs: sequential, float32 scalars
        rf = rs.astype(np.float32)
        out[:, F_RSSI] = rf
        out[:, F_SNR] = (rs - nf).astype(np.float32)
        m_ema, r_ema, has_rssi = st.motion_ema, st.rssi_ema, st.has_rssi
        ma, ra = MOTION_EMA_ALPHA, RSSI_EMA_ALPHA
        dev = np.empty(t_count, np.float32)
        mema = np.empty(t_count, np.float32)
        for t in range(t_count):
            r_t = rf[t]
            if not has_rssi:
                r_ema, has_rssi = r_t, True
            dev[t] = r_t - r_ema
            r_ema = r_ema + ra * (r_t - r_ema)
            m_ema = m_ema + ma * (motion[t] - m_ema)
            mema[t] = m_ema
        out[:, F_RSSI_DEV] = dev
        out[:, F_MOTION_EMA] = mema

        st.motion_ema, st.rssi_ema, st.has_rssi = np.float32(m_ema), np.float32(r_ema), has_rssi
        if ok[-1]:
            st.prev_amp[:n] = na[-1]
        st.has_prev = bool(ok[-1])
        st.n_prev = n
        st.frames += t_count
        return out


def csi_stats(iq: npt.ArrayLike, rssi: npt.ArrayLike,
              noise_floor: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Features [T][16] of a stream of frames [T][n][2] from a fresh state."""
    return CsiStats().compute_many(iq, rssi, noise_floor)


# ---------------------------------------------------------------------------
# The C implementation (libruv_csi.so), for the parity test.

_lib_cache: dict[str, ctypes.CDLL] = {}


def _library_path() -> Path:
    """Path of libruv_csi (:func:`ruv_temporal.locate.library_path`)."""
    from ruv_temporal import locate

    return locate.library_path("ruv_csi")


def _native_library() -> ctypes.CDLL:
    """Load libruv_csi.so (see :func:`_library_path`)."""
    path = _library_path()
    key = str(path)
    if key not in _lib_cache:
        try:
            lib = ctypes.CDLL(key)
        except OSError as exc:
            raise NativeBuildError(f"cannot load {path}: {exc}") from exc
        lib.ruv_csi_stats_state_size.restype = ctypes.c_size_t
        lib.ruv_csi_stats_state_size.argtypes = []
        lib.ruv_csi_stats_init.restype = None
        lib.ruv_csi_stats_init.argtypes = [ctypes.c_void_p]
        lib.ruv_csi_stats_compute.restype = ctypes.c_int
        lib.ruv_csi_stats_compute_esp.restype = ctypes.c_int
        lib.ruv_csi_stats_compute_esp.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint8, ctypes.c_bool,
            ctypes.c_int8, ctypes.c_int8, ctypes.c_void_p,
        ]
        lib.ruv_csi_lltf_from_esp.restype = ctypes.c_int
        lib.ruv_csi_lltf_from_esp.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint8, ctypes.c_bool, ctypes.c_void_p,
        ]
        lib.ruv_csi_esp_layout.restype = ctypes.c_int
        lib.ruv_csi_esp_layout.argtypes = [ctypes.c_uint32, ctypes.c_uint8]
        lib.ruv_csi_stats_compute.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_int8, ctypes.c_int8,
            ctypes.c_void_p,
        ]
        _lib_cache[key] = lib
    return _lib_cache[key]


class NativeCsiStats:
    """``ruv_csi_stats_t`` in C behind the :class:`CsiStats` interface."""

    def __init__(self) -> None:
        self._lib = _native_library()
        self._state = ctypes.create_string_buffer(int(self._lib.ruv_csi_stats_state_size()))
        self.reset()

    def reset(self) -> None:
        self._lib.ruv_csi_stats_init(self._state)

    def compute_raw(self, iq: bytes | npt.NDArray[np.int8], n_subcarriers: int, rssi: int,
                    noise_floor: int) -> tuple[int, npt.NDArray[np.float32]]:
        """Call the C function as is: returns (status, features)."""
        buf = np.ascontiguousarray(np.frombuffer(bytes(iq), np.int8)
                                   if isinstance(iq, bytes | bytearray) else iq, np.int8)
        if buf.size < 2 * n_subcarriers:  # never let C read past the buffer
            buf = np.concatenate([buf.ravel(), np.zeros(2 * n_subcarriers - buf.size, np.int8)])
        out = np.zeros(DIM, np.float32)
        status = self._lib.ruv_csi_stats_compute(
            self._state, buf.ctypes.data, ctypes.c_uint16(n_subcarriers),
            ctypes.c_int8(rssi), ctypes.c_int8(noise_floor), out.ctypes.data)
        return int(status), out

    def compute_esp_raw(self, buf: bytes, rssi: int, noise_floor: int,
                        secondary: int = SECOND_NONE,
                        first_word_invalid: bool = False) -> tuple[int, npt.NDArray[np.float32]]:
        """``ruv_csi_stats_compute_esp`` as is: returns (status, features)."""
        raw = bytes(buf)
        data = np.frombuffer(raw + b"\0", np.int8).copy()  # never a NULL pointer
        out = np.zeros(DIM, np.float32)
        status = self._lib.ruv_csi_stats_compute_esp(
            self._state, data.ctypes.data, ctypes.c_uint32(len(raw)),
            ctypes.c_uint8(secondary), ctypes.c_bool(first_word_invalid), ctypes.c_int8(rssi),
            ctypes.c_int8(noise_floor), out.ctypes.data)
        return int(status), out

    def compute_esp(self, buf: bytes, rssi: int, noise_floor: int,
                    secondary: int | str = SECOND_NONE,
                    first_word_invalid: bool = False) -> npt.NDArray[np.float32]:
        status, out = self.compute_esp_raw(buf, rssi, noise_floor, secondary_channel(secondary),
                                           first_word_invalid)
        if status == Status.NOT_SUPPORTED:
            raise CsiLayoutError(f"unknown CSI buffer layout: {len(buf)} bytes with secondary "
                                 f"channel {secondary} (C front-end)")
        if status != Status.OK:
            raise FeatureError(f"ruv_csi_stats_compute_esp failed: 0x{status:x}", status)
        return out

    def lltf_from_esp(self, buf: bytes, secondary: int = SECOND_NONE,
                      first_word_invalid: bool = False) -> tuple[int, npt.NDArray[np.int8]]:
        """``ruv_csi_lltf_from_esp`` as is: returns (status, iq [64][2])."""
        raw = bytes(buf)
        data = np.frombuffer(raw + b"\0", np.int8).copy()  # never a NULL pointer
        iq = np.zeros((LLTF_SUBCARRIERS, 2), np.int8)
        status = self._lib.ruv_csi_lltf_from_esp(
            data.ctypes.data, ctypes.c_uint32(len(raw)),
            ctypes.c_uint8(secondary), ctypes.c_bool(first_word_invalid), iq.ctypes.data)
        return int(status), iq

    def esp_layout(self, len_bytes: int, secondary: int) -> int:
        """``ruv_csi_esp_layout``: the C layout id (0 = unknown)."""
        return int(self._lib.ruv_csi_esp_layout(ctypes.c_uint32(len_bytes),
                                                ctypes.c_uint8(secondary)))

    def compute(self, iq: npt.ArrayLike, rssi: int, noise_floor: int) -> npt.NDArray[np.float32]:
        a = np.asarray(iq, dtype=np.int8).reshape(-1)
        if a.size % 2 or not 0 < a.size // 2 <= MAX_SUBCARRIERS:
            raise FeatureError(f"bad I/Q length {a.size}", Status.INVALID_SIZE)
        status, out = self.compute_raw(a, a.size // 2, rssi, noise_floor)
        if status != Status.OK:
            raise FeatureError(f"ruv_csi_stats_compute failed: 0x{status:x}", status)
        return out

    def compute_many(self, iq: npt.ArrayLike, rssi: npt.ArrayLike,
                     noise_floor: npt.ArrayLike) -> npt.NDArray[np.float32]:
        x = np.asarray(iq, dtype=np.int8)
        t_count = x.shape[0]
        rs = np.broadcast_to(np.asarray(rssi), (t_count,))
        nf = np.broadcast_to(np.asarray(noise_floor), (t_count,))
        return np.stack([self.compute(x[t], int(rs[t]), int(nf[t])) for t in range(t_count)]) \
            if t_count else np.zeros((0, DIM), np.float32)


def load_native() -> type[NativeCsiStats]:
    """Check that libruv_csi.so loads (building it if needed) and return the
    :class:`NativeCsiStats` class. Raises NativeBuildError otherwise."""
    _native_library()
    return NativeCsiStats
