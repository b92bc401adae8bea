"""The C packet encoders (firmware/components/ruv_app/include/ruv_packets.h,
used by the firmware's telemetry and CSI source) produce the same bytes as
the host's construct codecs (ruv_temporal.packets) for random field values.

The C side is called through ctypes on ``libruv_packets.so`` (target
``ruv_packets_shared``); the ctypes structs are declared here from the
documented layout and their offsets checked, so a layout change on either
side fails here.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest

from ruv_temporal import native
from ruv_temporal import packets as P

N_CASES = 300 if os.environ.get("RUV_SANITIZED", "") not in ("", "0") else 3000


class ResultC(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_uint32), ("version", ctypes.c_uint16),
        ("n_classes", ctypes.c_uint16), ("node_id", ctypes.c_uint8),
        ("reserved0", ctypes.c_uint8 * 3), ("ts_us_lo", ctypes.c_uint32),
        ("ts_us_hi", ctypes.c_uint32), ("seq", ctypes.c_uint32), ("argmax", ctypes.c_uint8),
        ("reserved1", ctypes.c_uint8 * 3), ("top_logit", ctypes.c_float),
        ("top1_minus_top2", ctypes.c_float), ("crc32", ctypes.c_uint32),
    ]


class RawCsiHdrC(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_uint32), ("node_id", ctypes.c_uint8), ("n_antennas", ctypes.c_uint8),
        ("n_subcarriers", ctypes.c_uint16), ("freq_mhz", ctypes.c_uint32),
        ("seq", ctypes.c_uint32), ("rssi", ctypes.c_int8), ("noise_floor", ctypes.c_int8),
        ("reserved", ctypes.c_uint16),
    ]


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(native.library_path("ruv_packets")))
    lib.ruv_pkt_result_encode.argtypes = [ctypes.c_char_p, ctypes.POINTER(ResultC)]
    lib.ruv_pkt_result_encode.restype = None
    lib.ruv_pkt_raw_csi_hdr_encode.argtypes = [ctypes.c_char_p, ctypes.POINTER(RawCsiHdrC)]
    lib.ruv_pkt_raw_csi_hdr_encode.restype = None
    return lib


def test_layouts_are_the_documented_ones() -> None:
    assert ctypes.sizeof(ResultC) == P.TEMPORAL_RESULT_LEN == 40
    assert [ResultC.ts_us_lo.offset, ResultC.seq.offset, ResultC.argmax.offset,
            ResultC.top_logit.offset, ResultC.crc32.offset] == [12, 20, 24, 28, 36]
    assert ctypes.sizeof(RawCsiHdrC) == P.RAW_CSI_HEADER_LEN == 20
    assert [RawCsiHdrC.n_subcarriers.offset, RawCsiHdrC.freq_mhz.offset, RawCsiHdrC.seq.offset,
            RawCsiHdrC.rssi.offset, RawCsiHdrC.reserved.offset] == [6, 8, 12, 16, 18]


def random_f32(rng: np.random.Generator) -> np.float32:
    """Any non-NaN float32 bit pattern (inf, subnormals, -0 included): a
    Python float cannot carry a NaN payload into construct."""
    while True:
        v = np.uint32(rng.integers(0, 2**32)).view(np.float32)
        if not np.isnan(v):
            return v


def test_temporal_result_bytes_equal_construct(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(20261203)
    out = ctypes.create_string_buffer(40)
    for _ in range(N_CASES):
        f = dict(version=int(rng.integers(0, 2**16)), n_classes=int(rng.integers(0, 2**16)),
                 node_id=int(rng.integers(0, 256)), ts_us=int(rng.integers(0, 2**63)) * 2
                 + int(rng.integers(0, 2)), seq=int(rng.integers(0, 2**32)),
                 argmax=int(rng.integers(0, 256)))
        top, gap = random_f32(rng), random_f32(rng)
        c = ResultC(magic=P.MAGIC_TEMPORAL_RESULT, version=f["version"],
                    n_classes=f["n_classes"], node_id=f["node_id"],
                    ts_us_lo=f["ts_us"] & 0xFFFFFFFF, ts_us_hi=f["ts_us"] >> 32, seq=f["seq"],
                    argmax=f["argmax"], top_logit=float(top), top1_minus_top2=float(gap))
        lib.ruv_pkt_result_encode(out, ctypes.byref(c))
        want = P.encode_temporal_result(f["node_id"], f["seq"], f["ts_us"], f["n_classes"],
                                        f["argmax"], float(top), float(gap),
                                        version=f["version"])
        assert out.raw == want, (f, top, gap, out.raw.hex(), want.hex())


def test_raw_csi_header_bytes_equal_construct(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(1)
    out = ctypes.create_string_buffer(20)
    for _ in range(N_CASES):
        n_ant = int(rng.integers(1, 5))
        n_sub = int(rng.integers(1, 129))
        f = dict(node_id=int(rng.integers(0, 256)), seq=int(rng.integers(0, 2**32)),
                 rssi=int(rng.integers(-128, 128)), noise_floor=int(rng.integers(-128, 128)),
                 freq_mhz=int(rng.integers(0, 2**32)), reserved=int(rng.integers(0, 2**16)))
        c = RawCsiHdrC(magic=P.MAGIC_RAW_CSI, n_antennas=n_ant, n_subcarriers=n_sub, **f)
        lib.ruv_pkt_raw_csi_hdr_encode(out, ctypes.byref(c))
        iq = rng.integers(-128, 128, size=2 * n_ant * n_sub).astype(np.int8)
        want = P.encode_raw_csi(iq=iq, n_antennas=n_ant, n_subcarriers=n_sub, **f)
        assert out.raw == want[:20], (f, out.raw.hex(), want[:20].hex())
        dec = P.decode_raw_csi(out.raw + iq.tobytes())
        assert (dec.node_id, dec.seq, dec.n_subcarriers) == (f["node_id"], f["seq"], n_sub)
