#!/usr/bin/env python3
"""Run the ESP-IDF linux-target ELF with a scripted console session.

Called by tools/idf_build.sh after `idf.py --preview set-target linux build`.

1. Builds an emulated 4 MB flash image the way `idf.py flash` fills a chip:
   0xFF everywhere, the build's partition table at 0x8000 and
   firmware/models/default.rvne in the partition labelled `model_a` (the
   offset is read from the partition table, like esptool_py_flash_to_partition).
2. Starts the ELF with RUV_LINUX_FLASH_IMAGE pointing at it (platform_idf.c
   hands the file to ESP-IDF's partition emulation).
3. Sends a scripted session and checks the replies: the boot banner
   (`@B ...`) must appear, every command must get one reply line starting
   with '@' (docs/protocol.md: replies carry that prefix, log lines never),
   no reply may be an error unless the command is expected to fail, and the
   process must exit cleanly at end of input.

   Default session: `info`, `stats`. Pass --cmd to run others (for example
   push/classify lines in the grammar of docs/protocol.md).
"""

from __future__ import annotations

import argparse
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLASH_SIZE = 0x400000  # ESP_PARTITION_DEFAULT_EMULATED_FLASH_SIZE
PT_OFFSET = 0x8000
PT_ENTRY = struct.Struct("<HBBII16sI")
PT_MAGIC = 0x50AA


def read_partitions(pt: bytes) -> dict[str, tuple[int, int, int, int]]:
    """label -> (type, subtype, offset, size) from a binary partition table."""
    parts: dict[str, tuple[int, int, int, int]] = {}
    for pos in range(0, len(pt) - PT_ENTRY.size + 1, PT_ENTRY.size):
        magic, ptype, subtype, offset, size, label, _flags = PT_ENTRY.unpack_from(pt, pos)
        if magic != PT_MAGIC:
            break
        parts[label.rstrip(b"\0").decode()] = (ptype, subtype, offset, size)
    return parts


def make_flash_image(
    build_dir: Path, model: bytes, out: Path
) -> dict[str, tuple[int, int, int, int]]:
    pt = (build_dir / "partition_table" / "partition-table.bin").read_bytes()
    parts = read_partitions(pt)
    if "model_a" not in parts:
        raise SystemExit("partition table has no 'model_a' partition")
    _, _, off, size = parts["model_a"]
    if len(model) > size:
        raise SystemExit(f"default model ({len(model)} B) larger than model_a ({size} B)")
    img = bytearray(b"\xff" * FLASH_SIZE)
    img[PT_OFFSET : PT_OFFSET + len(pt)] = pt
    img[off : off + len(model)] = model
    out.write_bytes(img)
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--elf", type=Path, required=True)
    ap.add_argument("--build-dir", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=REPO / "firmware" / "models" / "default.rvne")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per reply")
    ap.add_argument("--cmd", action="append", help="console line to send (repeatable)")
    args = ap.parse_args(argv)
    cmds = args.cmd or ["info", "stats"]

    if not args.model.is_file():
        print(f"{args.model} missing: run `python tools/make_default_model.py`", file=sys.stderr)
        return 1
    model = args.model.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ruv-idf-linux-") as tmp:
        image = Path(tmp) / "flash.bin"
        make_flash_image(args.build_dir, model, image)
        return run_session(args.elf, image, cmds, args.timeout)


def _reader(stream, lines: queue.Queue[str | None]) -> None:
    for raw in stream:
        lines.put(raw.rstrip("\r\n"))
    lines.put(None)


def _next_reply(lines: queue.Queue[str | None], timeout: float, log: list[str]) -> str | None:
    """Next line starting with '@' (log lines are collected, not returned)."""
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            return None
        log.append(line)
        if line.startswith("@"):
            return line


def run_session(elf: Path, image: Path, cmds: list[str], timeout: float) -> int:
    env = dict(os.environ, RUV_LINUX_FLASH_IMAGE=str(image))
    proc = subprocess.Popen(
        [str(elf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    log: list[str] = []
    failures: list[str] = []
    try:
        banner = _next_reply(lines, timeout, log)
        while banner is not None and not banner.startswith("@B"):
            banner = _next_reply(lines, timeout, log)
        if banner is None:
            failures.append("no boot banner (@B) line")
        for cmd in cmds if not failures else []:
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            reply = _next_reply(lines, timeout, log)
            while reply is not None and reply.startswith(("@B", "@T")):
                reply = _next_reply(lines, timeout, log)  # banner / telemetry lines
            print(f"  > {cmd}\n  < {reply}")
            if reply is None:
                failures.append(f"no reply to {cmd!r}")
                break
            if reply.startswith(("@E", "@ERR")):
                failures.append(f"error reply to {cmd!r}: {reply}")
        proc.stdin.close()
        rc = proc.wait(timeout=timeout)
        if rc != 0:
            failures.append(f"ELF exited with {rc}")
    except subprocess.TimeoutExpired:
        failures.append("ELF did not exit at end of input")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if failures:
        print("idf linux session FAILED: " + "; ".join(failures))
        print("  last output:\n    " + "\n    ".join(log[-30:]))
        return 1
    print(f"idf linux session: {len(cmds)} commands answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
