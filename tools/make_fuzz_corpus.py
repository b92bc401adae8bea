#!/usr/bin/env python3
"""Write the seed corpus of the blob fuzzer (firmware/components/ruv_temporal/fuzz/fuzz_blob.c).

    .venv/bin/python tools/make_fuzz_corpus.py            # (re)writes tests/fuzz/corpus/blob/
    .venv/bin/python tools/make_fuzz_corpus.py --check    # exit 1 if the committed files differ

Valid blobs (FP32 / FP16, with and without extension sections, unknown tags,
GQA) made with ``ruv_temporal.rvne`` and a set of broken ones, one per
rejection reason of docs/blob-format.md (header fields patched, the CRC
recomputed so the later checks are reached). The expected verdict of every
file is the Python reference's (``rvne.parse``); the script checks it while
writing, so a seed named ``bad_<reason>`` really is rejected with <reason>.
Everything is deterministic (docs/spec.md §5 xorshift64* weights); total < 200 KB.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from ruv_temporal import rvne
from ruv_temporal.errors import BlobError

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fuzz" / "corpus" / "blob"
MAX_TOTAL = 200 * 1024


def _fix_crc(b: bytearray) -> bytes:
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
    return bytes(b)


def _small(D: int, q: int, kv: int, d: int, L: int, C: int, seed: int,  # noqa: N803
           fp16: bool = False) -> rvne.Blob:
    blob = rvne.parse(rvne.init_random(D, q, kv, d, L, C, seed=seed))
    blob.fp16 = fp16
    return blob


def _with_sections(blob: rvne.Blob, labels: bool = True) -> rvne.Blob:
    D, q, kv, d, L, C = blob.dims  # noqa: N806
    rng = np.random.default_rng(blob.input_dim * 1000 + L)
    blob.norm = (rng.normal(size=D).astype(np.float32),
                 (0.5 + rng.random(D)).astype(np.float32))
    for lw in blob.layers:
        lw.bq = rng.normal(scale=0.1, size=q * d).astype(np.float32)
        lw.bv = rng.normal(scale=0.1, size=kv * d).astype(np.float32)  # bk/bo: zeros
    blob.bc = rng.normal(scale=0.1, size=C).astype(np.float32)
    blob.attn = rvne.attn_config(5, 3, [0, 2, 2], True, True, True)
    blob.input = rvne.InputSection(feature_set=1, frame_rate_x100=2000)
    if labels:
        blob.labels = [f"class{i}" for i in range(C)]
    blob.meta = "fuzz seed \u00e9\u20ac"
    blob.unknown_sections = [(77, b"\x01\x02\x03"), (0xFFFF, b"")]
    return blob


def _sections_end(data: bytes, fp16: bool, dims: tuple[int, ...]) -> int:
    count = rvne.base_weight_count(*dims)
    return 24 + count * (2 if fp16 else 4)


def corpus() -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, expected reason or None when valid)."""
    out: dict[str, tuple[bytes, str | None]] = {}

    def valid(name: str, data: bytes) -> None:
        out[name] = (data, None)

    def bad(reason: str, data: bytes, tag: str = "") -> None:
        out[f"bad_{reason}{tag}"] = (data, reason)

    spec = rvne.init_random()
    valid("spec_fp32", spec)
    sb = rvne.parse(spec)
    sb.fp16 = True
    valid("spec_fp16", rvne.build(sb))
    valid("tiny_fp32", rvne.build(_small(2, 1, 1, 2, 1, 2, seed=1)))
    valid("tiny_fp16_odd", rvne.build(_small(3, 1, 1, 1, 1, 3, seed=2, fp16=True)))
    small_s = rvne.build(_with_sections(_small(5, 2, 1, 4, 2, 3, seed=3)))
    valid("small_fp32_sections", small_s)
    small16_s = rvne.build(_with_sections(_small(5, 2, 1, 4, 2, 3, seed=4, fp16=True)))
    valid("small_fp16_sections", small16_s)
    valid("gqa_fp16_sections", rvne.build(_with_sections(_small(6, 4, 2, 3, 3, 4, seed=5,
                                                                fp16=True), labels=False)))
    # flag bit1 with no section: FP16 base ending 2 bytes before the boundary + zero gap
    t = rvne.build(_small(3, 1, 1, 1, 1, 3, seed=6, fp16=True))
    b = bytearray(t[:-4]) + b"\0\0" + b"\0\0\0\0"
    b[6] |= 2
    struct.pack_into("<I", b, 20, len(b) - 28)
    valid("flag_no_sections", _fix_crc(b))

    # ---- broken, in table order --------------------------------------------
    tiny = rvne.build(_small(2, 1, 1, 2, 1, 2, seed=1))
    bad("too_short", tiny[:27])
    bad("bad_magic", b"ENVX" + tiny[4:])
    b = bytearray(tiny)
    b[4] = 2
    bad("bad_version", bytes(b))
    bad("length_mismatch", tiny[:-1])
    b = bytearray(tiny)
    b[30] ^= 0x40
    bad("crc_mismatch", bytes(b))
    b = bytearray(tiny)
    b[6] = 0x84
    bad("bad_flags", _fix_crc(b))
    b = bytearray(tiny)
    b[7] = 1
    bad("bad_reserved", _fix_crc(b))
    b = bytearray(tiny)
    struct.pack_into("<H", b, 16, 0)
    bad("zero_dim", _fix_crc(b))
    b = bytearray(tiny)
    struct.pack_into("<H", b, 18, 1)
    bad("bad_classes", _fix_crc(b))
    b = bytearray(tiny)
    struct.pack_into("<HH", b, 10, 3, 2)
    bad("bad_gqa", _fix_crc(b))
    b = bytearray(tiny)
    struct.pack_into("<6H", b, 8, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    bad("weights_overrun", _fix_crc(b), "_huge_dims")
    b = bytearray(tiny)
    struct.pack_into("<H", b, 8, 3)
    bad("weights_overrun", _fix_crc(b))
    b = bytearray(tiny[:-4]) + b"\0\0\0\0" + b"\0\0\0\0"
    struct.pack_into("<I", b, 20, len(b) - 28)
    bad("trailing_bytes", _fix_crc(b))

    dims = rvne.parse(small16_s).dims
    base_end = _sections_end(small16_s, True, dims)
    first = (base_end + 3) & ~3
    b = bytearray(small16_s)
    if first > base_end:
        b[base_end] = 1
    else:  # padding of the first section's payload
        length = struct.unpack_from("<I", b, first + 4)[0]
        b[first + 8 + length] = 1
    bad("bad_padding", _fix_crc(b))
    b = bytearray(small_s)
    first = (_sections_end(small_s, False, dims) + 3) & ~3
    struct.pack_into("<I", b, first + 4, 0xFFFFFFF0)
    bad("section_overrun", _fix_crc(b))
    b = bytearray(small_s)
    struct.pack_into("<I", b, first + 4, 36)  # NORM needs 8·D = 40
    bad("section_size", _fix_crc(b))
    b = bytearray(small_s)
    struct.pack_into("<H", b, first + 2, 1)
    bad("bad_section", _fix_crc(b), "_reserved")
    blob = _with_sections(_small(5, 2, 1, 4, 2, 3, seed=3))
    blob.attn = None
    blob.labels = None
    blob.meta = None
    data = bytearray(rvne.build(blob))
    # an ATTN section with causal = 0 appended (patched header + CRC)
    attn = struct.pack("<HHBBBB", 4, 2, 0, 1, 1, 1) + struct.pack("<H", 0)
    sec = struct.pack("<HHI", 3, 0, len(attn)) + attn + b"\0" * ((-len(attn)) % 4)
    nc = data[:-4] + sec + b"\0\0\0\0"
    struct.pack_into("<I", nc, 20, len(nc) - 28)
    bad("attn_not_causal", _fix_crc(nc))
    lab = data[:-4] + struct.pack("<HHI", 5, 0, 3) + b"a\0b" + b"\0" + b"\0\0\0\0"
    struct.pack_into("<I", lab, 20, len(lab) - 28)
    bad("bad_section", _fix_crc(lab), "_labels")
    meta = data[:-4] + struct.pack("<HHI", 6, 0, 2) + b"\xc0\x80" + b"\0\0" + b"\0\0\0\0"
    struct.pack_into("<I", meta, 20, len(meta) - 28)
    bad("bad_section", _fix_crc(meta), "_utf8")
    bad("length_mismatch", small16_s[: len(small16_s) // 2], "_half")
    return out


def _verdict(data: bytes) -> str | None:
    try:
        rvne.parse(data)
    except BlobError as e:
        return e.reason
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk")
    args = ap.parse_args(argv)
    seeds = corpus()
    total = sum(len(d) for d, _ in seeds.values())
    for name, (data, want) in seeds.items():
        got = _verdict(data)
        if got != want:
            print(f"{name}: the reference says {got!r}, expected {want!r}", file=sys.stderr)
            return 1
    if total > MAX_TOTAL:
        print(f"corpus is {total} bytes (> {MAX_TOTAL})", file=sys.stderr)
        return 1
    if args.check:
        stale = [n for n, (d, _) in seeds.items()
                 if not (args.out / f"{n}.rvne").is_file()
                 or (args.out / f"{n}.rvne").read_bytes() != d]
        extra = sorted(p.name for p in args.out.glob("*.rvne")
                       if p.stem not in seeds)
        if stale or extra:
            print(f"stale: {stale} extra: {extra}", file=sys.stderr)
            return 1
        print(f"{len(seeds)} seeds up to date ({total} bytes)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for p in args.out.glob("*.rvne"):
        if p.stem not in seeds:
            p.unlink()
    for name, (data, _) in seeds.items():
        (args.out / f"{name}.rvne").write_bytes(data)
    print(f"wrote {len(seeds)} seeds ({total} bytes) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
