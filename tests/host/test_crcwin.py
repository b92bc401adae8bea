"""ruv_temporal.crcwin (CRC-32 of many windows at once) against zlib.crc32 on
random bytes: every prefix register, windows of every length the decoder uses,
buffer sizes around the lane widths."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ruv_temporal import crcwin


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 31, 32, 33, 100, 4096, 8192, 8193, 32769, 70001])
def test_registers_and_windows_equal_zlib(n: int) -> None:
    rng = np.random.default_rng(n)
    data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    regs = crcwin.Registers(bytearray(data))
    q = np.arange(n + 1) if n <= 8193 else rng.integers(0, n + 1, 3000)
    want = [(~zlib.crc32(data[:i])) & 0xFFFFFFFF for i in q.tolist()]
    assert regs.at(q).tolist() == want
    for length in (1, 4, 36, 40, 56, 60):
        if n < length:
            continue
        s = np.arange(n - length + 1) if n <= 8193 else rng.integers(0, n - length + 1, 3000)
        assert regs.crc32(s, length).tolist() == [zlib.crc32(data[p:p + length])
                                                  for p in s.tolist()]


def test_crc_ok_finds_exactly_the_valid_packets() -> None:
    rng = np.random.default_rng(7)
    buf = bytearray(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    planted = sorted(set(rng.integers(0, 20_000 - 60, 150).tolist()))
    for p in planted[::2]:  # every other one survives the later plants
        body = bytes(buf[p:p + 56])
        buf[p + 56:p + 60] = zlib.crc32(body).to_bytes(4, "little")
    starts = np.arange(len(buf) - 60 + 1)
    ok40, ok60 = crcwin.Registers(buf).crc_ok(starts, 40, 60)
    for length, ok in ((40, ok40), (60, ok60)):
        want = [zlib.crc32(buf[p:p + length - 4]) == int.from_bytes(
            buf[p + length - 4:p + length], "little") for p in starts.tolist()]
        assert ok.tolist() == want
    assert ok60.sum() >= len(planted) // 4
