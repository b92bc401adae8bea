"""CRC-32 (zlib's) of many short windows of one buffer at once, O(1) per byte.

The stream decoder must check the CRC of every packet candidate in a flood of
packet magics: up to one 56-byte window every 4 bytes. Computing each window
on its own costs O(window) per candidate; here each byte of the buffer is
processed once.

CRC-32 is linear over GF(2). Let ``r(k)`` be the CRC register after the first
``k`` bytes of the buffer (any fixed start value) and ``A_L`` the linear map
"advance the register over L zero bytes". Then for the window ``[p, p+L)``::

    zlib.crc32(buf[p:p+L]) == r(p+L) ^ A_L(r(p)) ^ A_L(0xFFFFFFFF) ^ 0xFFFFFFFF

(zlib's ``crc32_combine`` rests on the same identity). ``r`` is computed with
NumPy: the buffer is cut into lanes of ``W`` bytes, the lanes' start
registers come from ``zlib.crc32`` chained over the lanes, and all lanes then
advance together, 4 bytes per step (``r' = A_4(r ^ word)``). A map ``A_j`` is
two 65,536-entry tables (low and high 16 bits of the register).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

# NumPy indexes fastest with intp indices, so registers are held as int64
_M16 = np.int64(0xFFFF)
_S16 = np.int64(16)
_MASKS = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], np.int64)
_ADVANCE: dict[int, npt.NDArray[np.uint32]] = {}
RESIDUE = 0x2144DF1C
"""zlib.crc32 of any message followed by its own CRC-32 (little-endian)."""


def _advance_int(nbytes: int, r: int) -> int:
    # the register r advanced over nbytes zero bytes, by zlib (which works on ~r)
    return ~zlib.crc32(bytes(nbytes), ~r & 0xFFFFFFFF) & 0xFFFFFFFF


def advance_table(nbytes: int) -> npt.NDArray[np.uint32]:
    """``A_nbytes`` as a (2, 65536) table: A(v) = t[0][v & 0xFFFF] ^ t[1][v >> 16].
    Built from the images of the 32 bit vectors (A is linear)."""
    if nbytes not in _ADVANCE:
        basis = np.array([_advance_int(nbytes, 1 << b) for b in range(32)], np.int64)
        v = np.arange(256, dtype=np.int64)
        bits = (v[:, None] >> np.arange(8)) & 1  # (256, 8)
        out = np.empty((2, 65536), np.uint32)
        for half in range(2):
            byte_t = []
            for byte in range(2):
                b = basis[16 * half + 8 * byte:16 * half + 8 * byte + 8]
                byte_t.append(np.bitwise_xor.reduce(np.where(bits == 1, b, 0), axis=1))
            out[half] = (byte_t[0][None, :] ^ byte_t[1][:, None]).reshape(-1)
        _ADVANCE[nbytes] = out
    return _ADVANCE[nbytes]


def _apply(t: Any, v: Any) -> Any:
    return t[0][v & _M16] ^ t[1][v >> _S16]


_A4 = advance_table(4)
_PARTIAL_LO = np.concatenate([advance_table(j)[0] for j in (1, 2, 3)]).astype(np.int64)
_PARTIAL_HI = np.concatenate([advance_table(j)[1] for j in (1, 2, 3)]).astype(np.int64)


def _lane_width(n: int) -> int:
    # fewer, longer lanes for small buffers (NumPy's per-call cost), more
    # lanes for large ones (the zlib chain's per-lane cost)
    return 32 if n <= 8192 else 64 if n <= 32768 else 128


class Registers:
    """The CRC register at every position of ``data`` (computed once)."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        w = _lane_width(n)
        lanes = n // w + 1
        a = np.zeros(lanes * w, np.uint8)
        a[:n] = np.frombuffer(data, np.uint8, count=n)
        words = a.view("<u4").astype(np.int64)
        lane_words = words.reshape(lanes, w // 4)
        crc32 = zlib.crc32
        starts = [0] * lanes
        c = 0
        with memoryview(data) as mv:
            for j in range(1, lanes):
                c = crc32(mv[(j - 1) * w:j * w], c)
                starts[j] = c
        r = np.array(starts, np.int64) ^ 0xFFFFFFFF
        at_words = np.empty((lanes, w // 4), np.int64)  # int64: fast indices
        lo, hi = _A4[0], _A4[1]
        for i in range(w // 4):
            at_words[:, i] = r
            x = r ^ lane_words[:, i]
            r = lo[x & _M16]
            r ^= hi[x >> _S16]
        self._at_words = at_words.reshape(-1)  # the register at every multiple of 4
        self._words = words

    def at(self, positions: Any) -> npt.NDArray[np.int64]:
        """``~zlib.crc32(data[:q]) & 0xFFFFFFFF`` for each q in ``positions``
        (0 <= q <= len(data)), as int64."""
        q = np.asarray(positions, np.int64)
        m = q >> 2
        out = self._at_words[m]
        j = q & 3
        odd = np.flatnonzero(j)
        if odd.size:  # j bytes past a multiple of 4: A_j(register ^ those bytes)
            mo, jo = m[odd], j[odd]
            x = out[odd] ^ (self._words[mo] & _MASKS[jo])
            jo -= 1
            jo <<= 16
            out[odd] = _PARTIAL_LO[jo + (x & _M16)] ^ _PARTIAL_HI[jo + (x >> _S16)]
        return out

    def crc32(self, starts: Any, length: int) -> npt.NDArray[np.int64]:
        """``zlib.crc32(data[s:s + length])`` for each s in ``starts`` (windows
        inside data), as int64."""
        s = np.asarray(starts, np.int64)
        t = advance_table(length)
        k = _advance_int(length, 0xFFFFFFFF) ^ 0xFFFFFFFF
        r = self.at(np.concatenate([s, s + length]))
        out = r[s.size:] ^ _apply(t, r[:s.size])
        out ^= k
        return out

    def crc_ok(self, starts: Any, *lengths: int) -> list[npt.NDArray[np.bool_]]:
        """For each length: whether the packet of that many bytes at each start
        carries the CRC-32 of its first ``length - 4`` bytes in its last 4
        (little-endian)."""
        s = np.asarray(starts, np.int64)
        r = self.at(np.concatenate([s] + [s + n for n in lengths]))
        r0 = r[:s.size]
        out = []
        for i, n in enumerate(lengths, 1):
            t = advance_table(n)
            k = _advance_int(n, 0xFFFFFFFF) ^ 0xFFFFFFFF
            out.append((r[i * s.size:(i + 1) * s.size] ^ _apply(t, r0)) == (RESIDUE ^ k))
        return out


def crc32_windows(data: bytes | bytearray | memoryview, starts: Any,
                  length: int) -> npt.NDArray[np.int64]:
    """``zlib.crc32(data[s:s + length])`` for each s in ``starts``, as int64."""
    return Registers(data).crc32(starts, length)
