"""``ruv-temporal bench``: benchmarks.

``bench decode`` measures the telemetry stream decoder
(``ruv_temporal.packets.StreamDecoder``) on hostile input (DECODE_HOSTILE:
repeated and overlapping packet magics, plausible raw CSI headers with nothing
behind them, foreign and corrupt packets, random bytes) and on valid traffic
for comparison, fed as a serial stream and as 60 KB UDP datagrams, against a
goal of 10 MB per CPU-second on every hostile workload.

``bench device`` asks a device (a board, an emulated chip, the virtual
device) to run its console ``bench`` command (docs/protocol.md): the C core
on deterministic frames in a scratch context, each call measured with the
platform's cycle counter (CPU cycles on the chip, the console thread's CPU
time in ns on the virtual device),
and prints one table: cycles per streamed frame (steady state and
amortised over rebases, FP32 and FP16 KV cache) and per window classify of
a full ring.

``bench kernel`` times the NumPy reference kernel (``ruv_temporal.kernel``):
sparse forward (aether config W=32/B=16 and the library default W=128/B=64)
against dense causal attention for n = 64, 128, ... up to ``--max-n``, and the
per-token cost of streaming decode as the context grows. Everything is
measured in one run, on the same random inputs; each figure is the median of
``--repeats`` timed calls after one untimed warm-up call (the warm-up builds
the cached candidate sets, as any repeated use of the kernel would).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

CONFIG_NAMES = ("aether", "default")


def _configs() -> dict[str, Any]:
    from ruv_temporal.kernel import SparseConfig

    return {"aether": SparseConfig.aether(), "default": SparseConfig()}


def _interleaved_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeats`` rounds, the functions
    interleaved within each round (so background load hits them alike), after
    one untimed warm-up round."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _doublings(start: int, stop: int) -> list[int]:
    if stop < start:
        return [stop]
    out = []
    n = start
    while n <= stop:
        out.append(n)
        n *= 2
    return out


def _decode_cost(cfg: Any, k: Any, v: Any, q: Any, context: int, repeats: int,
                 steps: int) -> float:
    """Best over repeats of the mean seconds per token of ``append`` +
    ``decode_step`` for the ``steps`` tokens that bring the cache to ``context``."""
    from ruv_temporal import kernel

    steps = min(steps, context)
    kv_heads, dim = k.shape[1], k.shape[2]
    per_token = []
    for r in range(repeats + 1):  # the first pass is the warm-up
        cache = kernel.KvCache(context, kv_heads, dim, cfg.block_size)
        for t in range(context - steps):
            cache.append(k[t], v[t])
        t0 = time.perf_counter()
        for t in range(context - steps, context):
            cache.append(k[t], v[t])
            kernel.decode_step(q[t], cache, cfg)
        if r:
            per_token.append((time.perf_counter() - t0) / steps)
    return min(per_token)


def machine_info() -> dict[str, Any]:
    import numpy as np

    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS") if k in os.environ}
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas_threads_env": threads,
    }


def run_kernel_bench(max_n: int, repeats: int, q_heads: int, kv_heads: int, dim: int,
                     seed: int, decode_steps: int, progress: Any = None) -> dict[str, Any]:
    """All measurements of ``bench kernel`` as a JSON-able dict."""
    import numpy as np

    from ruv_temporal import kernel

    cfgs = _configs()
    ns = _doublings(64, max_n)
    contexts = _doublings(256, max_n)
    rng = np.random.default_rng(seed)
    top = max(ns + contexts)
    q = rng.standard_normal((top, q_heads, dim)).astype(np.float32)
    k = rng.standard_normal((top, kv_heads, dim)).astype(np.float32)
    v = rng.standard_normal((top, kv_heads, dim)).astype(np.float32)

    task = None
    if progress is not None:
        task = progress.add_task("bench", total=len(ns) + len(contexts) * len(cfgs))

    def advance(what: str) -> None:
        if progress is not None:
            progress.update(task, advance=1, description=what)

    forward = []
    for n in ns:
        qs, ks, vs = q[:n], k[:n], v[:n]
        fns: dict[str, Callable[[], Any]] = {
            "dense": lambda qs=qs, ks=ks, vs=vs: kernel.dense_attention(qs, ks, vs, causal=True)}
        for name, cfg in cfgs.items():
            fns[name] = (lambda qs=qs, ks=ks, vs=vs, cfg=cfg:
                         kernel.sparse_attention(qs, ks, vs, cfg))
        times = _interleaved_times(fns, repeats)
        best = {name: min(t) for name, t in times.items()}
        row: dict[str, Any] = {"n": n, "dense_ms": best["dense"] * 1e3,
                               "dense_median_ms": statistics.median(times["dense"]) * 1e3,
                               "dense_edges": n * (n + 1) // 2}
        for name, cfg in cfgs.items():
            row[f"{name}_ms"] = best[name] * 1e3
            row[f"{name}_median_ms"] = statistics.median(times[name]) * 1e3
            row[f"{name}_ratio"] = best["dense"] / best[name]
            row[f"{name}_edges"] = kernel.estimate_sparse_edges(n, cfg)
        forward.append(row)
        advance(f"forward n={n}")

    decode = []
    for context in contexts:
        for name, cfg in cfgs.items():
            cost = _decode_cost(cfg, k, v, q, context, repeats, decode_steps)
            tokens, blocks = kernel.candidates(context - 1, context, cfg)
            decode.append({"context": context, "config": name, "us_per_token": cost * 1e6,
                           "candidates": len(tokens) + len(blocks)})
            advance(f"decode context={context} {name}")

    return {
        "machine": machine_info(),
        "params": {"q_heads": q_heads, "kv_heads": kv_heads, "dim": dim, "repeats": repeats,
                   "max_n": max_n, "seed": seed, "decode_steps": decode_steps,
                   "configs": {name: {"window": c.window, "block_size": c.block_size,
                                      "global_tokens": list(c.global_tokens)}
                               for name, c in cfgs.items()}},
        "forward": forward,
        "decode": decode,
    }


def _tables(res: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    p = res["params"]
    fwd = Table(title=f"NumPy causal forward, sparse vs dense: q_heads={p['q_heads']} "
                      f"kv_heads={p['kv_heads']} dim={p['dim']}, best of {p['repeats']}",
                title_justify="left")
    fwd.add_column("n", justify="right")
    fwd.add_column("dense ms", justify="right")
    fwd.add_column("aether ms", justify="right")
    fwd.add_column("ratio", justify="right")
    fwd.add_column("default ms", justify="right")
    fwd.add_column("ratio", justify="right")
    for r in res["forward"]:
        cells = [str(r["n"]), f"{r['dense_ms']:.2f}"]
        for name in CONFIG_NAMES:
            ratio = r[f"{name}_ratio"]
            style = "green" if ratio > 1 else "red"
            cells += [f"{r[name + '_ms']:.2f}", f"[{style}]{ratio:.2f}x[/{style}]"]
        fwd.add_row(*cells)
    fwd.caption = "ratio = dense time / sparse time (> 1: sparse is faster)"

    dec = Table(title="NumPy streaming decode, per token (append + decode_step)",
                title_justify="left")
    dec.add_column("context", justify="right")
    for name in CONFIG_NAMES:
        dec.add_column(f"{name} us/token", justify="right")
        dec.add_column("candidates", justify="right")
    by_ctx: dict[int, dict[str, Any]] = {}
    for r in res["decode"]:
        by_ctx.setdefault(r["context"], {})[r["config"]] = r
    for ctx, rows in by_ctx.items():
        cells = [str(ctx)]
        for name in CONFIG_NAMES:
            cells += [f"{rows[name]['us_per_token']:.1f}", str(rows[name]["candidates"])]
        dec.add_row(*cells)
    dec.caption = "candidates = |tokens| + |blocks| of the newest token"
    return [fwd, dec]


DECODE_GOAL_MB_S = 10.0
"""Garbage the decoder must get through per CPU-second, whatever it is
(docs/telemetry.md: resynchronisation costs O(1) per byte)."""
DECODE_HOSTILE = (
    "result magics",            # 07 00 11 C5 repeated: a CRC-60 (foreign?) check per 4 bytes
    "result magics, version 1",  # ... with version 1 after each: CRC-40 and CRC-60 per magic
    "raw CSI magics",
    "feature magics",            # a CRC-60 check per 4 bytes
    "mixed magics, filler",      # random magics, 0-3 random bytes between: no period, any phase
    "overlapping syncs",         # 00 11 C5 repeated: a magic every 3 bytes, overlapping
    "raw CSI headers",           # plausible headers claiming 16 KB each, no payload
    "short raw CSI headers",     # headers claiming 2 bytes of payload, cut by the next
    "sync, unknown type",
    "foreign v7",                # back-to-back 60-byte foreign packets: one issue each
    "bad-CRC results",           # back-to-back 40-byte results, CRC broken: one issue each
    "bad-CRC feature states",
    "random",
)
DECODE_VALID = (
    "valid packets",             # our three packet types, for comparison
    "tiny raw CSI packets",      # 22-byte raw CSI (no CRC: any sender can make them)
)
DECODE_WORKLOADS = DECODE_HOSTILE + DECODE_VALID


def decode_workload(name: str, size: int, seed: int = 0) -> bytes:
    """``size`` bytes of one decoder workload (see DECODE_WORKLOADS)."""
    import struct
    import zlib

    import numpy as np

    from ruv_temporal import packets as P

    rng = np.random.default_rng(seed)

    def rep(unit: bytes) -> bytes:
        return (unit * (size // len(unit) + 1))[:size]

    def raw_header(n_ant: int, n_sc: int) -> bytes:
        return struct.pack("<IBBHIIbbH", P.MAGIC_RAW_CSI, 1, n_ant, n_sc, 2437, 1, -50, -90, 0)

    def distinct(make: Any, unit_len: int) -> bytes:  # varied units, so no two are alike
        out = b"".join(make(i) for i in range(size // unit_len + 1))
        return out[:size]

    if name == "result magics":
        return rep(struct.pack("<I", P.MAGIC_TEMPORAL_RESULT))
    if name == "result magics, version 1":
        return rep(struct.pack("<IH", P.MAGIC_TEMPORAL_RESULT, 1))
    if name == "raw CSI magics":
        return rep(struct.pack("<I", P.MAGIC_RAW_CSI))
    if name == "feature magics":
        return rep(struct.pack("<I", P.MAGIC_FEATURE_STATE))
    if name == "mixed magics, filler":
        magics = np.array([list(struct.pack("<I", m)) for m in
                           (P.MAGIC_RAW_CSI, P.MAGIC_FEATURE_STATE, P.MAGIC_TEMPORAL_RESULT,
                            0xC51100AA)], np.uint8)
        k = size // 4 + 1
        starts = np.cumsum(4 + rng.integers(0, 4, k)) - 4
        starts = starts[starts + 4 <= size]
        out = rng.integers(0, 256, size, dtype=np.uint8)
        out[starts[:, None] + np.arange(4)] = magics[rng.integers(0, 4, starts.size)]
        return out.tobytes()
    if name == "overlapping syncs":
        return rep(b"\x00\x11\xC5")
    if name == "raw CSI headers":  # largest plausible claimed size, no payload
        return rep(raw_header(P.RAW_CSI_MAX_ANTENNAS, P.RAW_CSI_MAX_SUBCARRIERS))
    if name == "short raw CSI headers":
        return rep(raw_header(1, 1))
    if name == "sync, unknown type":
        return rep(b"\xAA\x00\x11\xC5")
    if name == "foreign v7":
        def v7(i: int) -> bytes:
            body = struct.pack("<IBBHQ9fHH", P.MAGIC_TEMPORAL_RESULT, 1, 0, i & 0xFFFF, i,
                               *([0.5] * 9), 0, 0)
            return body + struct.pack("<I", zlib.crc32(body))
        return distinct(v7, P.FOREIGN_V7_LEN)
    if name == "bad-CRC results":  # the layout of docs/telemetry.md, CRC field zero
        return distinct(lambda i: struct.pack("<IHHB3xQIB3xffI", P.MAGIC_TEMPORAL_RESULT, 1, 4,
                                              1, i, i, 2, 1.0, 0.5, 0), P.TEMPORAL_RESULT_LEN)
    if name == "bad-CRC feature states":
        return distinct(lambda i: struct.pack("<IBBHQ9fHHI", P.MAGIC_FEATURE_STATE, 1, 0,
                                              i & 0xFFFF, i, *([0.5] * 9), 0, 0, 0),
                        P.FEATURE_STATE_LEN)
    if name == "random":
        return rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    if name == "valid packets":
        unit = (P.encode_temporal_result(1, 1, 0, 4, 2, 1.0, 0.5)
                + P.encode_feature_state(1, 1, 0, motion=0.5)
                + P.encode_raw_csi(1, 1, np.zeros(256, np.int8)))
        return rep(unit)
    if name == "tiny raw CSI packets":
        return rep(P.encode_raw_csi(1, 1, np.zeros(2, np.int8)))
    raise ValueError(f"unknown workload {name!r}")


def _decode_rate(data: bytes, mode: str, step: int, budget_s: float) -> dict[str, Any]:
    """One timed decode of ``data``, as a stream of ``step``-byte reads or as
    ``step``-byte datagrams."""
    from ruv_temporal import packets as P

    dec = P.StreamDecoder()
    t0 = time.perf_counter()
    c0 = time.process_time()
    done = 0
    for i in range(0, len(data), step):
        part = data[i:i + step]
        if mode == "stream":
            dec.feed(part)
        else:
            dec.feed_datagram(part)
        done += len(part)
        if time.perf_counter() - t0 > budget_s:
            break
    if mode == "stream" and done == len(data):
        dec.flush()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"bytes": done, "seconds": dt, "cpu_seconds": cpu,
            "mb_per_s": done / cpu / 1e6 if cpu > 0 else float("inf"),
            "wall_mb_per_s": done / dt / 1e6 if dt > 0 else float("inf"),
            "complete": done == len(data), "counts": dict(dec.counts)}


def run_decode_bench(size: int, chunk: int = 4096, datagram: int = 60_000,
                     budget_s: float = 20.0, rounds: int = 2,
                     progress: Any = None) -> dict[str, Any]:
    """MB/s of StreamDecoder per workload, as a stream (``chunk``-byte reads)
    and as ``datagram``-byte UDP datagrams. A workload that has not finished
    after ``budget_s`` seconds is stopped and its rate computed over what was
    decoded (so a quadratic decoder still gets a number). Rates are per
    second of this process's CPU time (what the decoder costs a host, also on
    a busy machine), the best of ``rounds`` rounds over all workloads (as
    timeit reports; every round's rate is in ``round_mb_per_s``); wall-clock
    rates are reported beside them, and each rate against DECODE_GOAL_MB_S."""
    from ruv_temporal import packets as P

    task = (progress.add_task("decode", total=2 * len(DECODE_WORKLOADS) * rounds)
            if progress else None)
    P.StreamDecoder().feed_datagram(decode_workload("result magics", 4096))  # warm-up
    data = {name: decode_workload(name, size) for name in DECODE_WORKLOADS}
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(rounds):
        for name in DECODE_WORKLOADS:
            for mode, step in (("stream", chunk), ("datagram", datagram)):
                r = _decode_rate(data[name], mode, step, budget_s)
                prev = best.get((name, mode))
                rates = (prev["round_mb_per_s"] if prev else []) + [r["mb_per_s"]]
                if prev is None or r["mb_per_s"] > prev["mb_per_s"]:
                    best[(name, mode)] = r
                best[(name, mode)]["round_mb_per_s"] = rates
                if progress is not None:
                    progress.update(task, advance=1, description=f"{name} ({mode})")
    rows = []
    for (name, mode), r in best.items():
        rows.append({"workload": name, "mode": mode, "hostile": name in DECODE_HOSTILE, **r,
                     "goal_ratio": r["mb_per_s"] / DECODE_GOAL_MB_S})
    hostile = [r for r in rows if r["hostile"]]
    worst = min(hostile, key=lambda r: r["mb_per_s"])
    valid = [r["mb_per_s"] for r in rows if not r["hostile"]]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"machine": {**machine_info(), "load_avg_1min": load},
            "params": {"bytes": size, "chunk": chunk, "datagram": datagram, "rounds": rounds,
                       "goal_mb_per_s": DECODE_GOAL_MB_S},
            "rows": rows, "worst_hostile_mb_per_s": worst["mb_per_s"],
            "worst_hostile": f"{worst['workload']} ({worst['mode']})",
            "worst_hostile_goal_ratio": worst["mb_per_s"] / DECODE_GOAL_MB_S,
            "worst_valid_mb_per_s": min(valid)}


def _write_json(res: dict[str, Any], json_path: str | None) -> bool:
    """Write ``res`` to ``json_path`` ('-': stdout); True when that replaces the tables."""
    if json_path is None:
        return False
    text = json.dumps(res, indent=2)
    if json_path == "-":
        click.echo(text)
        return True
    with open(json_path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return False


@click.group()
def bench() -> None:
    """Benchmarks of the reference implementation."""


@bench.command("kernel")
@click.option("--max-n", type=click.IntRange(1, 1 << 16), default=4096, show_default=True,
              help="Largest sequence length (n = 64, 128, ... up to this).")
@click.option("--repeats", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Timed calls per figure (the median is reported).")
@click.option("--q-heads", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--kv-heads", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option("--dim", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Head dimension.")
@click.option("--decode-steps", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Tokens timed per decode figure.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              default=None, help="Also write the results as JSON to this file ('-': stdout, "
                                 "instead of the tables).")
def kernel_cmd(max_n: int, repeats: int, q_heads: int, kv_heads: int, dim: int,
               decode_steps: int, seed: int, json_path: str | None) -> None:
    """Time the NumPy kernel: sparse (aether, default config) vs dense forward,
    and per-token decode cost as the context grows."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    if q_heads % kv_heads:
        raise click.BadParameter(f"q-heads ({q_heads}) must be a multiple of kv-heads "
                                 f"({kv_heads})", param_hint="--q-heads")
    err = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        res = run_kernel_bench(max_n, repeats, q_heads, kv_heads, dim, seed, decode_steps,
                               progress)
    if _write_json(res, json_path):
        return
    out = Console(width=max(100, Console().width))
    for table in _tables(res):
        out.print(table)
    m = res["machine"]
    out.print(f"{m['cpus']} CPUs ({m['machine']}, {m['system']}), Python {m['python']}, "
              f"NumPy {m['numpy']}; scores/softmax in float64, I/O float32"
              + (f"; {m['blas_threads_env']}" if m["blas_threads_env"] else ""))


@bench.command("decode")
@click.option("--mbytes", type=click.FloatRange(0.01, 1000), default=4.0, show_default=True,
              help="Bytes per workload, in MB.")
@click.option("--budget", type=click.FloatRange(0.1, 3600), default=20.0, show_default=True,
              help="Seconds after which a slow workload is cut short.")
@click.option("--rounds", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Rounds over all workloads; each rate is the best round's.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              default=None, help="Also write the results as JSON ('-': stdout, no table).")
def decode_cmd(mbytes: float, budget: float, rounds: int, json_path: str | None) -> None:
    """Throughput of the telemetry decoder on hostile input (repeated and
    overlapping magics, empty raw CSI headers, foreign and corrupt packets,
    random bytes) and on valid packets, as a serial stream (4 KB reads) and
    as 60 KB UDP datagrams, against the 10 MB/s goal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress
    from rich.table import Table

    err = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), console=err, transient=True) as progress:
        res = run_decode_bench(int(mbytes * 1e6), budget_s=budget, rounds=rounds,
                               progress=progress)
    if _write_json(res, json_path):
        return
    t = Table(title=f"StreamDecoder throughput, {mbytes:g} MB per workload, best of {rounds} "
                    "rounds", title_justify="left")
    for col in ("workload", "stream MB/s", "datagram MB/s", f"slower / {DECODE_GOAL_MB_S:g} MB/s",
                "wall: stream", "datagram", "packets", "issues"):
        t.add_column(col, justify="left" if col == "workload" else "right")
    by = {(r["workload"], r["mode"]): r for r in res["rows"]}
    for name in DECODE_WORKLOADS:
        if name == DECODE_VALID[0]:
            t.add_section()
        s_, d_ = by[(name, "stream")], by[(name, "datagram")]
        c = s_["counts"]
        issues = sum(v for k, v in c.items() if k not in ("packets", "garbage_bytes"))
        cut = "" if s_["complete"] and d_["complete"] else " (cut short)"
        ratio = min(s_["goal_ratio"], d_["goal_ratio"])
        style = "green" if ratio >= 1 else "red" if name in DECODE_HOSTILE else "dim"
        t.add_row(name + cut, f"{s_['mb_per_s']:.2f}", f"{d_['mb_per_s']:.2f}",
                  f"[{style}]{ratio:.2f}x[/{style}]",
                  f"{s_['wall_mb_per_s']:.2f}", f"{d_['wall_mb_per_s']:.2f}",
                  str(c["packets"]), str(issues))
    load = res["machine"]["load_avg_1min"]
    t.caption = (f"MB per CPU-second of the decoder (wall-clock MB/s beside). Worst hostile "
                 f"workload: {res['worst_hostile']} at {res['worst_hostile_mb_per_s']:.2f} MB/s "
                 f"= {res['worst_hostile_goal_ratio']:.2f}x the {DECODE_GOAL_MB_S:g} MB/s goal; "
                 f"valid traffic (below the line, not garbage) from "
                 f"{res['worst_valid_mb_per_s']:.2f} MB/s"
                 + (f"; load average {load:.1f} on {res['machine']['cpus']} CPUs"
                    if load is not None else ""))
    Console(width=max(100, Console().width)).print(t)


# --------------------------------------------------------------------------
# bench device: the console `bench` command


def parse_bench_reply(fields: dict[str, str]) -> dict[str, Any]:
    """A ``bench`` reply's fields with numbers as ints (``unit``, ``what`` stay)."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        out[k] = int(v) if v.isdigit() else v
    return out


def run_device_bench(client: Any, frames: int, reps: int, fp16: bool = True,
                     timeout: float = 600.0,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``bench window <reps>``, ``bench stream <frames> fp16=0`` (and ``fp16=1``)
    on ``client``'s device; returns the parsed replies and the device info."""
    info = client.info()
    runs: dict[str, dict[str, Any]] = {}
    jobs = [("window", f"bench window {reps}"), ("stream", f"bench stream {frames} fp16=0")]
    if fp16:
        jobs.append(("stream_fp16", f"bench stream {frames} fp16=1"))
    for name, line in jobs:
        if progress is not None:
            progress(line)
        runs[name] = parse_bench_reply(client.command(line, timeout=timeout).fields)
    return {"device": {k: info.get(k) for k in ("platform", "D", "N", "C", "model", "layers",
                                                 "q_heads", "kv_heads", "head_dim",
                                                 "fp16_weights")},
            "runs": runs}


def _device_rows(res: dict[str, Any], mhz: float) -> list[tuple[str, ...]]:
    """(measurement, counts, per-frame time, note) rows of the device table."""
    rows: list[tuple[str, ...]] = []

    def t(counts: int, unit: str) -> str:
        return f"{counts / mhz / 1e3:,.3f} ms" if unit == "cycles" and mhz > 0 else ""

    w = res["runs"]["window"]
    u = w["unit"]
    rows.append((f"window: one classify, full ring of {w['N']}", f"{w['classify']:,}",
                 t(w["classify"], u),
                 f"mean of {w['reps']}; min {w['classify_min']:,}, max {w['classify_max']:,}"))
    for key, label in (("stream", "FP32 KV"), ("stream_fp16", "FP16 KV")):
        r = res["runs"].get(key)
        if r is None:
            continue
        rows.append((f"stream ({label}): one frame, steady state", f"{r['steady']:,}",
                     t(r["steady"], u), f"mean of {r['steady_n']} frames between rebases "
                     f"(context {r['N'] // 2 + 1}..{r['N'] - 1} before the push); "
                     f"min {r['steady_min']:,}"))
        rows.append((f"stream ({label}): amortised over {r['frames']:,} frames",
                     f"{r['amortised']:,}", t(r["amortised"], u),
                     f"{r['rebases']} rebases included, after {r['N']} fill frames"))
        rows.append((f"stream ({label}): the rebasing frame", f"{r['rebase']:,}",
                     t(r["rebase"], u), f"mean of {r['rebases']}; max {r['rebase_max']:,}"))
    return rows


@bench.command("device")
@click.option("--port", help="serial port of the device (a board, QEMU's serial, a vdev pty)")
@click.option("--vdev", "use_vdev", is_flag=True,
              help="start a virtual device (ruv_vdev --pty) with the default model")
@click.option("--frames", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="streamed frames measured (after N fill frames)")
@click.option("--reps", type=click.IntRange(1, 100), default=3, show_default=True,
              help="window classifies measured")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path),
              help="RVNE blob to bench (uploaded if the device runs another); default: the "
                   "model the device runs (--vdev: the firmware's default model)")
@click.option("--window-len", type=click.IntRange(32, 1024), default=256, show_default=True,
              help="N of the virtual device (--vdev only; a board has its Kconfig N)")
@click.option("--no-fp16", is_flag=True, help="skip the FP16 KV-cache stream run")
@click.option("--cpu-mhz", type=click.FloatRange(0), default=240.0, show_default=True,
              help="CPU clock to turn cycles into time (0: no time column)")
@click.option("--timeout", type=click.FloatRange(1), default=600.0, show_default=True,
              help="seconds to wait for one bench reply")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              default=None, help="Also write the results as JSON ('-': stdout, no table).")
def device_cmd(port: str | None, use_vdev: bool, frames: int, reps: int,
               model_path: Path | None, window_len: int, no_fp16: bool, cpu_mhz: float,
               timeout: float, json_path: str | None) -> None:
    """Cost of the C core on a device, measured by the device itself (console
    `bench`): cycles per streamed frame and per window classify."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from ruv_temporal import hil, provision, rvne
    from ruv_temporal.device import DeviceClient, SerialTransport
    from ruv_temporal.errors import BlobError, DeviceError, RuvError

    from . import EXIT_DEVICE, EXIT_USAGE

    if bool(port) == bool(use_vdev):
        click.echo("error: give exactly one of --port PORT or --vdev", err=True)
        sys.exit(EXIT_USAGE)
    blob: bytes | None = None
    if model_path is not None:
        try:
            blob = rvne.read_blob_file(model_path)
        except (OSError, BlobError) as e:
            click.echo(f"error: {model_path}: {e}", err=True)
            sys.exit(EXIT_USAGE)
    err = Console(stderr=True)
    proc = None
    tmp = None
    client = None
    try:
        if use_vdev:
            tmp = tempfile.TemporaryDirectory(prefix="ruv-bench-")
            mpath = Path(tmp.name) / "model.rvne"
            mpath.write_bytes(blob if blob is not None else provision.default_model())
            proc = hil.VdevProcess("--model", str(mpath), "--window-len", str(window_len))
            err.print(f"virtual device on {proc.port} (pid {proc.pid})")
            port = proc.port
        assert port is not None
        client = DeviceClient(SerialTransport(port), timeout=15.0)
        hil.sync(client)
        info = client.info()
        if blob is not None and info.get("model") != provision.model_id(blob):
            err.print(f"uploading model {provision.model_id(blob)} (device ran "
                      f"{info.get('model')})")
            provision.provision_console(client, blob)
        res = run_device_bench(client, frames, reps, fp16=not no_fp16, timeout=timeout,
                               progress=lambda line: err.print(f"  {line} ..."))
    except provision.ProvisionError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except (DeviceError, OSError, RuvError) as e:
        click.echo(f"error: device: {e}", err=True)
        sys.exit(EXIT_DEVICE)
    finally:
        if client is not None:
            client.close()
        if proc is not None:
            proc.close()
        if tmp is not None:
            tmp.cleanup()
    res["default_model"] = res["device"]["model"] == provision.model_id(provision.default_model())
    res["machine"] = machine_info() if use_vdev else None
    if _write_json(res, json_path):
        return
    dev = res["device"]
    unit = res["runs"]["window"]["unit"]
    t = Table(title=f"On-device cost of the C core ({dev['platform']}), counts in {unit}",
              title_justify="left")
    with_time = unit == "cycles" and cpu_mhz > 0
    cols = ["measurement", unit] + ([f"time at {cpu_mhz:g} MHz"] if with_time else []) + ["note"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("measurement", "note") else "right")
    for row in _device_rows(res, cpu_mhz):
        t.add_row(*(row if with_time else (row[0], row[1], row[3])))
    t.caption = (f"model {dev['model']}"
                 + (" (the firmware's default model)" if res["default_model"] else "")
                 + f": D={dev['D']}, {dev['q_heads']} q / {dev['kv_heads']} kv heads, "
                   f"d={dev['head_dim']}, L={dev['layers']}, C={dev['C']}, N={dev['N']}; "
                   "each call measured alone on the device, frames generated outside")
    Console(width=max(130, Console().width)).print(t)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bench())
