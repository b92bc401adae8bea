#!/usr/bin/env python3
"""Write the seed corpus of the console fuzzer (firmware/components/ruv_app/fuzz/fuzz_console.c).

    .venv/bin/python tools/make_console_corpus.py            # (re)writes tests/fuzz/corpus/console/
    .venv/bin/python tools/make_console_corpus.py --check    # exit 1 if the committed files differ

Each seed is one console session (docs/protocol.md) against the fuzzer's
boot state: model M0 (the docs/spec.md §5 random blob with D=4 q=2 kv=1 d=4 L=1 C=2,
default seed) in slot A, window mode, N=32. The sessions are real command
sequences: queries, frames and classify, mode switches, request ids, CRLF
and over-long lines, and uploads — a complete one of another small model M1
(load begin, three chunks, commit, then classify on it), one whose chunk CRC
is wrong and is resent, aborted ones, one whose total CRC is wrong, one of a
model of another shape. While writing, every session is run through the
virtual device (``ruv_vdev`` on stdin/stdout, same model and config) and the
replies checked: one per line, and the outcome each seed is named for (the
full upload commits, the bad ones are refused). Deterministic; total < 64 KB.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ruv_temporal import rvne
from ruv_temporal.device import find_vdev

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fuzz" / "corpus" / "console"
MAX_TOTAL = 64 * 1024
DIMS = (4, 2, 1, 4, 1, 2)  # D, q, kv, d, L, C of the fuzzer's boot model
N = 32


def _hexf(frames: np.ndarray) -> str:
    return "".join(f"{b:08x}" for b in np.asarray(frames, np.float32).reshape(-1).view(np.uint32))


def _crc(b: bytes) -> str:
    return f"{zlib.crc32(b) & 0xFFFFFFFF:08x}"


def _upload(blob: bytes, chunk: int = 160, bad_chunk: int | None = None,
            bad_total: bool = False, commit: bool = True) -> list[str]:
    total = _crc(blob)
    if bad_total:
        total = f"{int(total, 16) ^ 1:08x}"
    lines = [f"#up1 load begin {len(blob)} {total}"]
    for i, off in enumerate(range(0, len(blob), chunk)):
        part = blob[off:off + chunk]
        if i == bad_chunk:  # wrong CRC first, then the resend
            lines.append(f"load chunk {off} {int(_crc(part), 16) ^ 0x80:08x} {part.hex()}")
        lines.append(f"load chunk {off} {_crc(part)} {part.hex()}")
    lines.append("#up2 load commit" if commit else "load abort")
    return lines


def sessions() -> dict[str, tuple[list[str], str | None]]:
    """name -> (lines, a reply fragment the session must produce)."""
    rng = np.random.default_rng(7)
    d = DIMS[0]
    f8 = (rng.standard_normal((8, d)) * 5).astype(np.float32)
    f3 = (rng.standard_normal((3, d)) * 5).astype(np.float32)
    m1 = rvne.init_random(*DIMS, seed=0x5EED0001)
    labelled = rvne.parse(rvne.init_random(*DIMS, seed=0x5EED0002))
    labelled.labels = ["still", "moving"]
    labelled.attn = rvne.attn_config(8, 4, [0], True, True, True)
    labelled.meta = "console fuzz seed"
    m2 = rvne.build(labelled)
    other_shape = rvne.init_random(8, 2, 1, 4, 1, 2, seed=3)
    broken = bytearray(m1)
    struct.pack_into("<H", broken, 18, 3)  # n_classes 3: fails the shape check
    broken[-4:] = struct.pack("<I", zlib.crc32(bytes(broken[:-4])) & 0xFFFFFFFF)

    out: dict[str, tuple[list[str], str | None]] = {
        # (no `selftest`: the fuzzer skips sessions with it, see fuzz_console.c)
        "queries": (["info", "ping", "#q1 stats", "tx off", "tx on", "layer 0", "classify"],
                    "@R q1 stats"),
        "frames_classify": ([f"push 8 {_hexf(f8)}", "#c1 classify", "layer 0", "layer 1",
                             "layer 2", f"push 3 {_hexf(f3)}", "classify", "stats", "reset",
                             "classify"], "@R c1 classify"),
        "modes": (["mode stream fp16=1", f"push 8 {_hexf(f8)}", "classify", "mode stream",
                   f"push 3 {_hexf(f3)}", "classify", "mode window", "classify",
                   "mode bogus"], "@R - mode"),
        "errors": (["bogus", "", "push", "push 2 00", f"push 1 {_hexf(f3[:1])}zz",
                    "push 1 " + "g" * 8 * d, "#" + "x" * 17 + " ping", "#ok ping a b c d e f g h",
                    "layer 99", "load chunk 0 00000000 00", "load commit", "load abort",
                    "tx maybe"], "@E - 0x106"),
        "crlf_and_long": (["ping\r", "#r2 info\r", "ping " + "A" * 4200, "#after ping"],
                          "@E - 0x104"),
        "upload_commit": (_upload(m1) + ["info", f"push 8 {_hexf(f8)}", "classify"],
                          "load commit model="),
        "upload_sections_commit": (_upload(m2, chunk=300) + ["info", f"push 3 {_hexf(f3)}",
                                                              "classify"],
                                   "load commit model="),
        "upload_bad_chunk_resend": (_upload(m1, bad_chunk=1), "load commit model="),
        "upload_bad_total_crc": (_upload(m1, bad_total=True) + ["classify"], "@E up2 0x109"),
        "upload_abort": (_upload(m1, commit=False) + ["info"], "@R - load"),
        "upload_other_shape": (_upload(other_shape) + ["info"], "@E up2"),
        "upload_bad_shape": (_upload(bytes(broken)), "@E up2"),
        "upload_out_of_order": ([f"load begin {len(m1)} {_crc(m1)}",
                                 f"load chunk 100 {_crc(m1[100:200])} {m1[100:200].hex()}",
                                 f"load chunk 0 {_crc(m1[:100])} {m1[:100].hex()}",
                                 f"load begin {len(m1)} {_crc(m1)}", "load abort"], "@E - 0x103"),
    }
    return out


def run_on_vdev(lines: list[str], boot_blob: bytes) -> list[str]:
    """The session through ruv_vdev (stdin/stdout) with the fuzzer's config."""
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m0.rvne"
        model.write_bytes(boot_blob)
        d, _, _, _, _, c = DIMS
        cmd = [str(find_vdev()), "--model", str(model), "--input-dim", str(d),
               "--window-len", str(N), "--n-classes", str(c), "--log-stderr"]
        res = subprocess.run(cmd, input=("\n".join(lines) + "\n").encode(), capture_output=True,
                             timeout=60, check=False)
    return [ln for ln in res.stdout.decode(errors="replace").splitlines()
            if ln.startswith(("@R", "@E"))]


def corpus(verify: bool = True) -> dict[str, bytes]:
    boot = rvne.init_random(*DIMS)
    out: dict[str, bytes] = {}
    for name, (lines, must) in sessions().items():
        data = ("\n".join(lines) + "\n").encode()
        if verify:
            replies = run_on_vdev(lines, boot)
            if len(replies) != len(lines):
                raise SystemExit(f"{name}: {len(replies)} replies for {len(lines)} lines")
            if must is not None and not any(must in r for r in replies):
                raise SystemExit(f"{name}: no reply contains {must!r}:\n" + "\n".join(replies))
        out[name] = data
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk")
    ap.add_argument("--no-verify", action="store_true",
                    help="do not run the sessions on the virtual device")
    args = ap.parse_args(argv)
    seeds = corpus(verify=not args.no_verify)
    total = sum(len(d) for d in seeds.values())
    if total > MAX_TOTAL:
        print(f"corpus is {total} bytes (> {MAX_TOTAL})", file=sys.stderr)
        return 1
    if args.check:
        files = {n: args.out / f"{n}.txt" for n in seeds}
        stale = [n for n, d in seeds.items()
                 if not files[n].is_file() or files[n].read_bytes() != d]
        extra = sorted(p.name for p in args.out.glob("*.txt") if p.stem not in seeds)
        if stale or extra:
            print(f"stale: {stale} extra: {extra}", file=sys.stderr)
            return 1
        print(f"{len(seeds)} sessions up to date ({total} bytes)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for p in args.out.glob("*.txt"):
        if p.stem not in seeds:
            p.unlink()
    for name, data in seeds.items():
        (args.out / f"{name}.txt").write_bytes(data)
    print(f"wrote {len(seeds)} sessions ({total} bytes) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
