#!/usr/bin/env python3
"""Model upload time over a pty: the console reader taking whatever a read
returns vs one byte per read, side by side in one run.

    .venv/bin/python tools/bench_upload.py                  # default model, 5 rounds
    .venv/bin/python tools/bench_upload.py --reps 9 --model my.rvne --chunk 2016

Starts the virtual device (``ruv_vdev --pty`` found by ``find_vdev``; ``$RUV_VDEV`` or
``--vdev`` for another build) once per variant with ``--read-size N``:

* ``bytewise``  ``--read-size 1``: one byte per read() — how the board's
  console task read before the reader moved into ruv_app;
* ``whole``     ``--read-size 4096``: whatever a read returns (the board's
  reader now: the USB-Serial-JTAG / UART driver hands over everything
  buffered);
* ``baseline``  with ``--baseline-vdev PATH``: another build with its own
  reader (e.g. the virtual device from before a change).

Each round starts the device and uploads the model ``--repeat`` times with
``load begin/chunk/commit`` through pyserial on the pty (the path a host
tool uses with a board): the wall time of each upload (commit included) and
the device process's CPU time per upload (/proc; robust when the machine is
loaded). Rounds alternate between the variants; medians and ratios are
printed. On a pty the link itself is
fast, so the number shows the reader's own cost per byte; on a board the
link's speed bounds both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host" / "src"))

from ruv_temporal import hil  # noqa: E402
from ruv_temporal.device import find_vdev  # noqa: E402

VARIANTS = {"bytewise": 1, "whole": 4096}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload_round(exe: Path, read_size: int | None, blob: bytes, chunk: int,
                 repeat: int) -> tuple[list[float], float | None]:
    """One device process, `repeat` uploads: wall time of each, and the
    device's CPU seconds per upload (robust on a loaded machine).
    read_size None: the binary's own reader (a build without --read-size)."""
    walls: list[float] = []
    extra = ["--read-size", str(read_size)] if read_size is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        proc = hil.VdevProcess("--slots", str(Path(tmp) / "slots"), *extra, exe=exe)
        try:
            client = proc.client(timeout=60.0)
            cpu0 = cpu_seconds(proc.pid)
            for _ in range(repeat):
                t0 = time.perf_counter()
                reply = client.load_blob(blob, chunk_size=chunk)
                walls.append(time.perf_counter() - t0)
                if reply.get("slot") is None:
                    raise SystemExit(f"upload did not commit: {reply}")
            cpu1 = cpu_seconds(proc.pid)
            client.close()
        finally:
            proc.close()
    cpu = (cpu1 - cpu0) / repeat if cpu0 is not None and cpu1 is not None else None
    return walls, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "firmware" / "models" / "default.rvne")
    ap.add_argument("--reps", type=int, default=5, help="rounds per reader (device restarts)")
    ap.add_argument("--repeat", type=int, default=5, help="uploads per round")
    ap.add_argument("--chunk", type=int, default=1984, help="bytes per load chunk (<= 2016)")
    ap.add_argument("--vdev", type=Path, default=None, help="ruv_vdev to run (default: find_vdev)")
    ap.add_argument("--baseline-vdev", type=Path, default=None,
                    help="another ruv_vdev build (e.g. from before a change) run as a third "
                         "row with its own reader")
    args = ap.parse_args()
    blob = args.model.read_bytes()
    exe = args.vdev or find_vdev()
    runs: dict[str, tuple[Path, int | None]] = {n: (exe, s) for n, s in VARIANTS.items()}
    if args.baseline_vdev is not None:
        runs["baseline"] = (args.baseline_vdev, None)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, (binary, size) in runs.items():
            w, c = upload_round(binary, size, blob, args.chunk, args.repeat)
            walls[name].extend(w)
            if c is not None:
                cpus[name].append(c)
    lines = len(range(0, len(blob), args.chunk)) + 2
    print(f"upload of {args.model.name} ({len(blob)} bytes, {lines} command lines, chunks of "
          f"{args.chunk} bytes) to ruv_vdev over a pty; {args.reps} rounds x {args.repeat} uploads "
          f"per reader, rounds interleaved")
    print(f"{'reader':<9} {'read size':>9} {'wall median s':>13} {'wall min s':>10} "
          f"{'KiB/s':>7} {'device CPU s':>12}")
    med: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, (_, size) in runs.items():
        med[name] = statistics.median(walls[name])
        cpu_txt = "n/a"
        if cpus[name]:
            cpu[name] = statistics.median(cpus[name])
            cpu_txt = f"{cpu[name]:.4f}"
        size_txt = str(size) if size is not None else "own"
        print(f"{name:<9} {size_txt:>9} {med[name]:>13.4f} {min(walls[name]):>10.4f} "
              f"{len(blob) / 1024 / med[name]:>7.0f} {cpu_txt:>12}")
    lo = {name: min(w) for name, w in walls.items()}
    print(f"ratio bytewise/whole: wall median {med['bytewise'] / med['whole']:.1f}x, "
          f"wall min {lo['bytewise'] / lo['whole']:.1f}x", end="")
    if "bytewise" in cpu and cpu.get("whole", 0) > 0:
        print(f", device CPU {cpu['bytewise'] / cpu['whole']:.1f}x")
    else:
        print()
    if "baseline" in med:
        print(f"ratio baseline/whole: wall median {med['baseline'] / med['whole']:.2f}x, "
              f"wall min {lo['baseline'] / lo['whole']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
