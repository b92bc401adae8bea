#!/usr/bin/env python3
"""Benchmarks of the C core (firmware/components/ruv_temporal), in one run.

    .venv/bin/python tools/bench_core.py            # full run (a few minutes)
    .venv/bin/python tools/bench_core.py --quick    # short run
    .venv/bin/python tools/bench_core.py --json out.json --markdown out.md

Builds the host benchmark targets (firmware/host/bench.cmake: ``bench_core``,
``callgrind_driver``, and ``ruv_temporal_shared`` for the ctypes binding) in
``.build/bench`` (``--build-dir``), runs them, and prints one table per item:

1. C sparse vs C dense forward, n = 64 … 4096, the original benchmark's config
   (4 q / 4 kv heads, d=32, W=16, B=32, causal, globals [0], log-stride,
   landmarks): ``ruv_sparse_attention`` vs ``ruv_dense_attention`` (unchanged)
   and vs "dense1", a one-pass dense baseline (tools/bench/bench_util.c).
2. C vs the NumPy reference (``ruv_temporal.kernel`` vs ``ruv_temporal.native``,
   the same arrays for both, outputs compared).
3. Decode cost per token (KV append + ``ruv_decode_step``) for contexts
   256 … 16,384, FP32 and FP16 cache.
4. Instruction counts (valgrind callgrind, ``--toggle-collect=cg_region``:
   exactly the measured call) for the default on-device model: one streamed
   frame, the amortised frame over 1,000 frames with rebases, a rebase, a
   window-mode classify over a full ring of 256; plus wall times.
5. Memory of that config: blob bytes, arena parts from the formulas, checked
   against ``ruv_temporal_required_bytes`` and the stats' ``arena_bytes``.

Timing: warm-up, calls per sample calibrated to >= --min-ms, variants sampled
interleaved, median of --reps samples. The reported clock is the thread's CPU
time (``--clock cpu``, default: robust on a shared, loaded machine) or wall
time (``--clock wall``). NumPy runs single-threaded unless --numpy-threads.
Nothing here asserts a speed; tests/host/test_bench_core.py only checks that
the report is produced.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOST_SRC = REPO / "firmware" / "host"
FULL_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)
FULL_CONTEXTS = (256, 512, 1024, 2048, 4096, 8192, 16384)
RUST_RATIO_1024 = 21.21
GOAL_RATIO_1024 = 25.0
CG_REGION = "cg_region"


# --------------------------------------------------------------------------
# small table model, rendered with rich (terminal) or as Markdown (docs)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left: int = 1  # columns aligned left (the rest right)
    show_header: bool = True

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        out = [f"#### {self.title}", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join("---:" if i >= self.left else "---"
                              for i in range(len(self.headers))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def render(tables: list[Table], width: int) -> None:
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table as RichTable
    except ImportError:  # plain text fallback
        for t in tables:
            print(t.markdown())
        return
    con = Console(width=width, highlight=False)
    for t in tables:
        rt = RichTable(title=t.title, box=box.SIMPLE_HEAVY, title_justify="left",
                       show_header=t.show_header)
        for i, h in enumerate(t.headers):
            rt.add_column(h, justify="left" if i < t.left else "right")
        for r in t.rows:
            rt.add_row(*r)
        con.print(rt)
        for n in t.notes:
            con.print(f"  {n}", markup=False)
        con.print()


def fmt_t(s: float) -> str:
    """Seconds as a short human string."""
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} µs"


def fmt_x(r: float) -> str:
    return f"{r:.2f}×"


def fmt_n(n: float) -> str:
    return f"{int(round(n)):,}"


# --------------------------------------------------------------------------
# build


def run(cmd: list[str], what: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        sys.stderr.write(f"bench_core: {what} failed (exit {proc.returncode}): "
                         f"{' '.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}\n")
        raise SystemExit(1)
    return proc


# --opt: host optimisation flags. O2nv is -O2 without GCC's auto-vectoriser:
# scalar float code like the ESP32-S3's FPU runs, the closest x86 proxy for
# the chip's instruction counts (GCC 12's -O2 still vectorises some loops).
OPT_FLAGS = {"O3": "-O3", "O2": "-O2", "O2nv": "-O2 -fno-tree-vectorize"}


def build(build_dir: Path, opt: str, host_src: Path = HOST_SRC,
          targets: tuple[str, ...] = ("bench_core", "callgrind_driver", "ruv_temporal_shared")
          ) -> dict[str, Path]:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise SystemExit("bench_core: cmake is not installed (tools/setup.sh installs it)")
    cfg = [cmake, "-S", str(host_src), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
           "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", "-DRUV_BENCH=ON", "-DRUV_SANITIZE=OFF",
           f"-DCMAKE_C_FLAGS_RELEASE={OPT_FLAGS[opt]} -DNDEBUG"]  # O3: CMake's Release default
    if not (build_dir / "CMakeCache.txt").exists() and shutil.which("ninja"):
        cfg += ["-G", "Ninja"]
    run(cfg, f"configuring {build_dir}")
    run([cmake, "--build", str(build_dir), "--target", *targets],
        f"building the bench targets in {build_dir}")
    return {"bench_core": build_dir / "bench_core",
            "callgrind_driver": build_dir / "callgrind_driver"}


def compile_flags(build_dir: Path) -> tuple[str, str]:
    """(compiler, flags) of ruv_kernel.c in ruv_temporal_core, from compile_commands.json."""
    cc, flags = "?", "?"
    try:
        cmds = json.loads((build_dir / "compile_commands.json").read_text())
    except (OSError, ValueError):
        return cc, flags
    for c in cmds:
        if c.get("file", "").endswith("ruv_kernel.c") and "ruv_temporal_core.dir" in c.get(
                "command", c.get("output", "")):
            parts = c["command"].split()
            cc = parts[0]
            keep = []
            skip = False
            for p in parts[1:]:
                if skip:
                    skip = False
                    continue
                if p in ("-o", "-c"):
                    skip = True
                    continue
                if p.startswith("-I") or p.endswith(".c"):
                    continue
                keep.append(p)
            flags = " ".join(keep)
            break
    return cc, flags


def machine_info(build_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cc, flags = compile_flags(build_dir)
    cc_version = "?"
    if cc != "?":
        try:
            cc_version = subprocess.run([cc, "--version"], capture_output=True, text=True,
                                        check=False).stdout.splitlines()[0]
        except (OSError, IndexError):
            pass
    import numpy as np

    vg = shutil.which("valgrind")
    vg_version = "not installed"
    if vg:
        vg_version = subprocess.run([vg, "--version"], capture_output=True, text=True,
                                    check=False).stdout.strip()
    git = "?"
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "firmware/components/ruv_temporal"], capture_output=True,
                               text=True, check=False).stdout.strip()
        git = f"{head}" + (" + uncommitted changes in the core" if dirty else
                           " (core sources as committed)")
    except OSError:
        pass
    return {
        "git": git,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "compiler": cc_version,
        "core_flags": flags,
        "opt": args.opt,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_threads": args.numpy_threads,
        "valgrind": vg_version,
        "clock": args.clock,
        "command": " ".join([".venv/bin/python", "tools/bench_core.py", *args.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# --------------------------------------------------------------------------
# running the C programs


def run_json(cmd: list[str], what: str) -> list[dict[str, Any]]:
    proc = run(cmd, what)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def key(d: dict[str, Any], name: str, clock: str) -> float:
    """Median seconds of `name` on the chosen clock (C output: `<name>_s` is CPU,
    `<name>_wall_s` wall)."""
    return float(d[f"{name}_wall_s"] if clock == "wall" else d[f"{name}_s"])


# --------------------------------------------------------------------------
# item 2: C (ctypes) vs NumPy, the same arrays


def numpy_vs_c(sizes: list[int], reps: int, min_s: float, clock: str,
               build_dir: Path) -> list[dict[str, Any]]:
    os.environ["RUV_BUILD_DIR"] = str(build_dir)  # built above, same flags as the benches
    import numpy as np

    from ruv_temporal import kernel, native

    tick = time.perf_counter if clock == "wall" else time.thread_time
    cfg = kernel.SparseConfig(window=16, block_size=32, global_tokens=(0,), causal=True,
                              log_stride=True, landmarks=True)
    results = []
    one = np.zeros((1, 4, 32), np.float32)
    native.sparse_attention(one, one, one, cfg)
    ov = []
    for _ in range(max(3, reps)):
        t0 = tick()
        for _ in range(200):
            native.sparse_attention(one, one, one, cfg)
        ov.append((tick() - t0) / 200)
    overhead = statistics.median(ov)
    for n in sizes:
        rng = np.random.default_rng(1000 + n)
        q = rng.standard_normal((n, 4, 32), dtype=np.float32)
        k = rng.standard_normal((n, 4, 32), dtype=np.float32)
        v = rng.standard_normal((n, 4, 32), dtype=np.float32)
        fns = {
            "c_sparse": lambda q=q, k=k, v=v: native.sparse_attention(q, k, v, cfg),
            "np_sparse": lambda q=q, k=k, v=v: kernel.sparse_attention(q, k, v, cfg),
            "c_dense": lambda q=q, k=k, v=v: native.dense_attention(q, k, v, True),
            "np_dense": lambda q=q, k=k, v=v: kernel.dense_attention(q, k, v, True),
        }
        outs = {name: fn() for name, fn in fns.items()}  # warm-up (and NumPy's caches)
        iters = {}
        for name, fn in fns.items():
            it = 1
            while True:
                t0 = tick()
                for _ in range(it):
                    fn()
                dt = tick() - t0
                if dt >= min_s or it >= 1 << 20:
                    break
                it = it * 100 if dt <= min_s / 100 else int(it * min_s * 1.2 / dt) + 1
            iters[name] = it
        samples: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(reps):
            for name, fn in fns.items():
                t0 = tick()
                for _ in range(iters[name]):
                    fn()
                samples[name].append((tick() - t0) / iters[name])
        res: dict[str, Any] = {"n": n, "reps": reps, "ctypes_call_n1_s": overhead}
        for name in fns:
            res[f"{name}_s"] = statistics.median(samples[name])
            res[f"{name}_iters"] = iters[name]
        res["sparse_maxdiff"] = float(np.abs(outs["c_sparse"] - outs["np_sparse"]).max())
        res["dense_maxdiff"] = float(np.abs(outs["c_dense"] - outs["np_dense"]).max())
        results.append(res)
    return results


# --------------------------------------------------------------------------
# item 4: callgrind


@dataclass
class CgRun:
    label: str
    args: list[str]
    frames: int = 1  # divisor for "per frame"
    result: dict[str, Any] = field(default_factory=dict)


_ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S+?):(\S+)\s+\[")


def callgrind_one(driver: Path, run_: CgRun, outdir: Path) -> CgRun:
    out = outdir / (re.sub(r"[^a-z0-9]+", "_", run_.label.lower()).strip("_") + ".out")
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
           f"--toggle-collect={CG_REGION}", f"--callgrind-out-file={out}", str(driver),
           *run_.args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench_core: callgrind run failed: {' '.join(cmd)}\n"
                         f"{proc.stderr[-3000:]}")
    info = next((json.loads(line) for line in proc.stdout.splitlines()
                 if line.startswith("{")), {})
    text = out.read_text()
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    ir = int(m.group(1)) if m else 0
    hot: list[tuple[str, int]] = []
    ann = shutil.which("callgrind_annotate")
    if ann:
        a = subprocess.run([ann, "--inclusive=no", "--threshold=100", str(out)],
                           capture_output=True, text=True, check=False).stdout
        for line in a.splitlines():
            mm = _ANNOTATE_LINE.match(line)
            if mm:
                fn = mm.group(3)
                hot.append((fn, int(mm.group(1).replace(",", ""))))
    run_.result = {"label": run_.label, "args": run_.args, "ir": ir, "frames": run_.frames,
                   "ir_per_frame": ir / max(1, run_.frames), "hot": hot[:5], "driver": info,
                   "command": " ".join(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                                        f"--toggle-collect={CG_REGION}",
                                        ".build/bench/callgrind_driver", *run_.args])}
    return run_


def callgrind_all(driver: Path, runs: list[CgRun], jobs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench_cg_") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda r: callgrind_one(driver, r, Path(tmp)), runs))
    return [r.result for r in done]


# --------------------------------------------------------------------------
# tables


def table_fwd(fwd: list[dict[str, Any]], cg: dict[str, dict[str, Any]], clock: str,
              ratios: dict[str, Any]) -> Table:
    t = Table("1. C sparse vs C dense forward — 4 q / 4 kv heads, d=32, W=16, B=32, causal, "
              "globals [0], log-stride, landmarks",
              ["n", "sparse edges", "dense pairs", "pairs/edges", "C sparse", "C dense",
               "dense/sparse", "C dense1", "dense1/sparse"])
    for d in fwd:
        sp, de, d1 = key(d, "sparse", clock), key(d, "dense", clock), key(d, "dense1", clock)
        t.add(d["n"], fmt_n(d["sparse_edges"]), fmt_n(d["dense_pairs"]),
              fmt_x(d["dense_pairs"] / d["sparse_edges"]), fmt_t(sp), fmt_t(de),
              fmt_x(de / sp), fmt_t(d1), fmt_x(d1 / sp))
        ratios.setdefault("fwd", {})[str(d["n"])] = {"dense_over_sparse": de / sp,
                                                      "dense1_over_sparse": d1 / sp}
    at = next((d for d in fwd if d["n"] == 1024), fwd[-1] if fwd else None)
    if at is not None:
        sp, de, d1 = key(at, "sparse", clock), key(at, "dense", clock), key(at, "dense1", clock)
        r = de / sp
        if at["n"] == 1024:
            verdict = "goal ≥ 25×: " + ("met" if r >= GOAL_RATIO_1024 else "NOT met")
        else:
            verdict = "n=1024 not in this run's sizes: no verdict on the ≥ 25× goal"
        line = (f"ratio dense/sparse at n={at['n']}: {r:.2f}× vs ruv_dense_attention "
                f"({verdict}; original Rust kernel {RUST_RATIO_1024}× at n=1024), "
                f"{d1 / sp:.2f}× vs the one-pass dense1")
        t.notes.append(line)
        mn = ("wall_min" if clock == "wall" else "min")
        rmin = at[f"dense_{mn}_s"] / at[f"sparse_{mn}_s"]
        t.notes.append(f"ratio dense/sparse at n={at['n']} from the fastest samples instead of "
                       f"the medians: {rmin:.2f}× (dense1: "
                       f"{at[f'dense1_{mn}_s'] / at[f'sparse_{mn}_s']:.2f}×)")
        ratios["fwd_at"] = {"n": at["n"], "dense_over_sparse": r, "dense1_over_sparse": d1 / sp,
                            "dense_over_sparse_min": rmin}
    if "sparse" in cg and "dense" in cg:
        n = cg["sparse"]["driver"].get("n")
        ir_r = cg["dense"]["ir"] / cg["sparse"]["ir"]
        ir_r1 = cg["dense1"]["ir"] / cg["sparse"]["ir"] if "dense1" in cg else float("nan")
        t.notes.append(f"ratio dense/sparse in instructions (callgrind, n={n}): {ir_r:.2f}× "
                       f"(dense {fmt_n(cg['dense']['ir'])} Ir / sparse "
                       f"{fmt_n(cg['sparse']['ir'])} Ir); dense1/sparse {ir_r1:.2f}×")
        ratios["fwd_ir"] = {"n": n, "dense_over_sparse": ir_r, "dense1_over_sparse": ir_r1}
    t.notes.append("dense = the core's ruv_dense_attention (two-pass: every score computed "
                   "twice); dense1 = one-pass dense of tools/bench/bench_util.c (scores once "
                   "into a buffer), same flags — the stricter baseline.")
    t.notes.append("edges: ruv_estimate_sparse_edges (tokens + landmark blocks per query); "
                   "pairs: n(n+1)/2 causal. Times: median per call, " + clock + " clock.")
    return t


def table_numpy(res: list[dict[str, Any]], clock: str, ratios: dict[str, Any]) -> Table:
    t = Table("2. C vs NumPy reference — same arrays (standard normal), same config as 1",
              ["n", "C sparse", "NumPy sparse", "NumPy/C sparse", "C dense", "NumPy dense",
               "NumPy/C dense", "max|C−NumPy| sparse", "dense"])
    for d in res:
        t.add(d["n"], fmt_t(d["c_sparse_s"]), fmt_t(d["np_sparse_s"]),
              fmt_x(d["np_sparse_s"] / d["c_sparse_s"]), fmt_t(d["c_dense_s"]),
              fmt_t(d["np_dense_s"]), fmt_x(d["np_dense_s"] / d["c_dense_s"]),
              f"{d['sparse_maxdiff']:.1e}", f"{d['dense_maxdiff']:.1e}")
        ratios.setdefault("numpy_over_c", {})[str(d["n"])] = {
            "sparse": d["np_sparse_s"] / d["c_sparse_s"],
            "dense": d["np_dense_s"] / d["c_dense_s"]}
    at = next((d for d in res if d["n"] == 1024), res[-1] if res else None)
    if at is not None:
        t.notes.append(f"ratio NumPy/C at n={at['n']}: sparse "
                       f"{at['np_sparse_s'] / at['c_sparse_s']:.2f}×, dense "
                       f"{at['np_dense_s'] / at['c_dense_s']:.2f}× (>1: C faster)")
    if res:
        t.notes.append(f"C through ruv_temporal.native (ctypes): one call at n=1 costs "
                       f"{fmt_t(res[0]['ctypes_call_n1_s'])} (argument checks, output "
                       "allocation, library lookup), included above; in-process C times are "
                       "in table 1.")
    t.notes.append("NumPy: ruv_temporal.kernel (float64 "
                   "internals, BLAS matmuls; candidate sets cached per (n, cfg) after the "
                   f"warm-up call). Median of samples, {clock} clock, NumPy/BLAS threads as "
                   "in the header.")
    return t


def table_decode(dec: list[dict[str, Any]], cg: list[dict[str, Any]], clock: str,
                 ratios: dict[str, Any]) -> Table:
    t = Table("3. Decode per token (KV append + ruv_decode_step), KV capacity = context",
              ["config", "context", "candidates", "FP32 / token", "growth", "FP16 / token",
               "growth", "FP16/FP32", "Ir/token FP32", "Ir/token FP16", "cache FP32",
               "cache FP16"])
    irs: dict[tuple[str, int, bool], float] = {}
    for r in cg:
        drv = r["driver"]
        if drv.get("mode") == "decode":
            irs[(drv["config"], drv["ctx"], drv["fp16_cache"])] = r["ir"] / drv["tokens"]
    first: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}
    for d in dec:
        cfgname = (f"{d['config']} {d['q_heads']}q/{d['kv_heads']}kv W{d['window']} "
                   f"B{d['block']}")
        f32 = d["fp32_wall_s"] if clock == "wall" else d["fp32_s"]
        f16 = d["fp16_wall_s"] if clock == "wall" else d["fp16_s"]
        b = first.setdefault(d["config"], {"f32": f32, "f16": f16, "ctx": d["ctx"],
                                          "cand": d["cand_tokens"] + d["cand_blocks"]})
        last[d["config"]] = {"f32": f32, "f16": f16, "ctx": d["ctx"],
                             "cand": d["cand_tokens"] + d["cand_blocks"]}
        i32 = irs.get((d["config"], d["ctx"], False))
        i16 = irs.get((d["config"], d["ctx"], True))
        t.add(cfgname, fmt_n(d["ctx"]), f"{d['cand_tokens']}+{d['cand_blocks']}",
              fmt_t(f32), fmt_x(f32 / b["f32"]), fmt_t(f16), fmt_x(f16 / b["f16"]),
              fmt_x(f16 / f32), fmt_n(i32) if i32 else "", fmt_n(i16) if i16 else "",
              f"{d['cache_bytes_fp32'] / 1024:.0f} KiB",
              f"{d['cache_bytes_fp16'] / 1024:.0f} KiB")
    for name, b in first.items():
        e = last[name]
        g32, g16 = e["f32"] / b["f32"], e["f16"] / b["f16"]
        t.notes.append(f"ratio growth {name}: context {b['ctx']:,} → {e['ctx']:,} "
                       f"(×{e['ctx'] / b['ctx']:.0f}): FP32 {g32:.2f}×, FP16 {g16:.2f}× per "
                       f"token; candidates {b['cand']} → {e['cand']} "
                       f"({e['cand'] / b['cand']:.2f}×)")
        gr = {"fp32": g32, "fp16": g16, "from": b["ctx"], "to": e["ctx"]}
        ir = [irs.get((name, c, f)) for c in (b["ctx"], e["ctx"]) for f in (False, True)]
        if all(ir):
            gr.update(ir_fp32=ir[2] / ir[0], ir_fp16=ir[3] / ir[1], ir_fp16_over_fp32=ir[1] / ir[0])
            t.notes.append(f"ratio growth {name} in instructions: FP32 {ir[2] / ir[0]:.2f}×, "
                           f"FP16 {ir[3] / ir[1]:.2f}×; FP16/FP32 at {b['ctx']:,}: "
                           f"{ir[1] / ir[0]:.2f}×")
        ratios.setdefault("decode_growth", {})[name] = gr
    t.notes.append("candidates: tokens+blocks of the newest query (t = context-1). Each "
                   "sample: cache refilled untimed to context-64, the last 64 tokens timed; "
                   f"median, {clock} clock. growth: relative to the first context. Ir/token: "
                   "callgrind over the same 64 tokens (callgrind_driver decode).")
    return t


def table_callgrind(cg: list[dict[str, Any]], model: list[dict[str, Any]], clock: str,
                    ratios: dict[str, Any]) -> Table:
    t = Table("4. Instruction counts (callgrind, --toggle-collect=cg_region) — default model "
              "D=16, 4q/1kv, d=32, L=2, C=4, N=256, init random blob",
              ["region", "Ir total", "Ir / frame", f"host time ({clock})", "hot functions "
               "(self Ir)"])

    def host_time(label: str) -> str:
        w = "fp16" if "FP16 weights" in label else "fp32"
        kv = "fp16" if "FP16 KV" in label else "fp32"
        for d in model:
            if d["weights"] != w:
                continue
            suffix = "_wall_s" if clock == "wall" else "_s"
            if d["what"] == "classify" and label.startswith("window classify"):
                return fmt_t(d["classify" + suffix])
            if d["what"] == "stream" and d["kv"] == kv:
                if label.startswith("stream frame"):
                    return fmt_t(d["decode_push" + suffix]) + " ¹"
                if label.startswith("stream rebase"):
                    return fmt_t(d["rebase_push" + suffix])
                if label.startswith("stream amortised"):
                    return fmt_t(d["amortised" + suffix])
        return ""

    by = {r["label"]: r for r in cg}
    for r in cg:
        if r["label"] in ("sparse", "dense", "dense1") or r["label"].startswith("decode "):
            continue
        hot = ", ".join(f"{fn} {100 * v / max(1, r['ir']):.0f}%" for fn, v in r["hot"][:3])
        extra = ""
        drv = r["driver"]
        if drv.get("mode") == "amortised":
            extra = f" ({drv.get('rebases')} rebases)"
        t.add(r["label"] + extra, fmt_n(r["ir"]), fmt_n(r["ir_per_frame"]), host_time(r["label"]),
              hot)
    frame = by.get("stream frame (context 192)")
    amort = next((r for r in cg if r["label"].startswith("stream amortised") and
                  "FP16" not in r["label"]), None)
    frame16 = by.get("stream frame (context 192), FP16 KV")
    cls = by.get("window classify (full ring of 256)")
    if frame and amort:
        ratios["amortised_over_frame"] = amort["ir_per_frame"] / frame["ir"]
        t.notes.append(f"ratio amortised/steady frame: {ratios['amortised_over_frame']:.2f}× "
                       f"(rebase every N/2 = 128 frames)")
    if frame and frame16:
        ratios["fp16kv_over_fp32kv_frame"] = frame16["ir"] / frame["ir"]
        t.notes.append(f"ratio FP16 KV / FP32 KV per frame: "
                       f"{ratios['fp16kv_over_fp32kv_frame']:.2f}×")
    w16 = by.get("window classify (full ring of 256), FP16 weights")
    if cls and w16:
        ratios["fp16w_over_fp32w_classify"] = w16["ir"] / cls["ir"]
        t.notes.append(f"ratio FP16 weights / FP32 weights per classify: "
                       f"{ratios['fp16w_over_fp32w_classify']:.2f}×")
    if frame:
        ratios["ir_frame"] = frame["ir"]
    if cls:
        ratios["ir_classify"] = cls["ir"]
    if amort:
        ratios["ir_amortised_per_frame"] = amort["ir_per_frame"]
    t.notes.append("Ir: x86-64 instructions of the counted call only (the 'empty' row is the "
                   "region's own overhead); repeatable run to run. Not ESP32-S3 cycles: the "
                   "host build is SSE-vectorised, the device has no auto-vectorised FPU path.")
    t.notes.append("¹ host time of a plain decode push: mean over the decode pushes between "
                   "rebases (contexts 129..255), median over repeats.")
    return t


def table_mem(mem: list[dict[str, Any]], blob: dict[str, Any], ratios: dict[str, Any]) -> Table:
    modes = {d["mode"]: d for d in mem}
    cols = ["window", "stream_fp32", "stream_fp16"]
    t = Table(f"5. Memory — default model, N={mem[0]['N'] if mem else '?'} (bytes)",
              ["part", "window", "stream FP32 KV", "stream FP16 KV", "formula"])

    def row(name: str, fieldname: str, formula: str) -> None:
        t.add(name, *(fmt_n(modes[c][fieldname]) if c in modes else "" for c in cols), formula)

    t.add("weights: blob FP32 (flash, read in place)", *([fmt_n(blob["fp32_bytes"])] * 3),
          "28 + 4·count (count = 10,304)")
    t.add("weights: blob FP16 (flash, read in place)", *([fmt_n(blob["fp16_bytes"])] * 3),
          "28 + 2·count")
    row("frame ring", "ring", "ring_rows·D·4 (window N rows, stream N/2)")
    row("KV caches: K/V rows", "kv_rows", "L·2·N·kv·d·(4 or 2)")
    row("KV caches: landmark means", "kv_means", "L·2·⌈N/B⌉·kv·d·4")
    row("KV cache structs", "kv_structs", "L·sizeof(ruv_kv_cache_t)")
    row("work KV cache (FP32)", "work_cache", "window: cap N; stream FP16: cap N/2 prefill")
    row("activations h", "h", "h_rows·D·4")
    row("row scratch q,a,k,v,proj", "row_scratch", "(2·q·d + 2·kv·d + D)·4")
    row("logits + layer states", "logits_states", "C·4 + (L+1)·D·4")
    row("needed-row bit sets (window)", "need", "(L+1)·⌈N/8⌉")
    row("ctx header + alignment (remainder)", "remainder", "arena − Σ parts")
    row("arena (ruv_temporal_get_stats)", "arena_bytes", "one malloc at init")
    row("ruv_temporal_required_bytes", "required_bytes", "")
    ok = all(d["required_bytes"] == d["arena_bytes"] for d in mem)
    rem = {d["remainder"] for d in mem}
    t.notes.append(f"check: required_bytes == arena_bytes in every mode: {'yes' if ok else 'NO'};"
                   f" Σ parts + remainder = arena, remainder {sorted(rem)} B "
                   f"({'the same' if len(rem) == 1 else 'differs'} in every mode: the context "
                   "struct and 8-byte alignment)")
    for c in cols:
        if c in modes:
            ratios.setdefault("arena_bytes", {})[c] = modes[c]["arena_bytes"]
    t.notes.append("Stack and the firmware's own buffers are not included; the temporal task "
                   "has a 16 KB stack (docs/spec.md §7).")
    return t


def machine_table(m: dict[str, Any]) -> Table:
    t = Table("Machine and build", ["", ""], left=2, show_header=False)
    la = m.get("loadavg_start")
    t.add("CPU", f"{m['cpu']}, {m['cores']} cores")
    t.add("load average at start", ", ".join(f"{x:.2f}" for x in la) if la else "?")
    t.add("platform", m["platform"])
    t.add("source", m["git"])
    t.add("compiler", m["compiler"])
    t.add("core flags (host, this run)", m["core_flags"])
    t.add("ESP-IDF build", "xtensa-esp32s3-elf-gcc -O2 -ffp-contract=off -fno-fast-math "
          "(component CMakeLists, CONFIG_COMPILER_OPTIMIZATION_PERF)")
    t.add("clock", "thread CPU time (CLOCK_THREAD_CPUTIME_ID / time.thread_time)"
          if m["clock"] == "cpu" else "wall (CLOCK_MONOTONIC / time.perf_counter)")
    t.add("Python / NumPy", f"{m['python']} / {m['numpy']} (BLAS threads {m['numpy_threads']})")
    t.add("valgrind", m["valgrind"])
    t.add("command", m["command"])
    t.add("date", m["date"])
    return t


# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# --compare REV: the model's instruction counts before (REV) and after (the
# working tree), side by side, each level built from its own sources

COMPARE_GOALS = {"stream amortised": 65_000, "window classify": 8_000_000}


def compare_regions(frames: int) -> list[tuple[str, list[str], int]]:
    fr = str(frames)
    return [
        ("stream frame (context 192)", ["frame", "--context", "192"], 1),
        (f"stream amortised over {frames} frames", ["amortised", "--frames", fr], frames),
        ("stream rebase push", ["rebase"], 1),
        ("window classify (full ring of 256)", ["classify"], 1),
        ("stream frame (context 192), FP16 KV", ["frame", "--context", "192", "--fp16-cache"], 1),
        (f"stream amortised over {frames} frames, FP16 KV",
         ["amortised", "--frames", fr, "--fp16-cache"], frames),
        ("window classify, FP16 weights", ["classify", "--fp16-weights"], 1),
    ]


def baseline_sources(rev: str) -> Path:
    """The core, host build and bench sources of `rev`, unpacked once into .build."""
    src = REPO / ".build" / f"bench-src-{rev}"
    if not (src / "firmware" / "host" / "CMakeLists.txt").exists():
        src.mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(["git", "-C", str(REPO), "archive", rev, "firmware", "tools/bench"],
                              capture_output=True, check=False)
        if arch.returncode != 0:
            raise SystemExit(f"bench_core: git archive {rev} failed: "
                             f"{arch.stderr.decode(errors='replace')}")
        subprocess.run(["tar", "-x", "-C", str(src)], input=arch.stdout, check=True)
    return src


def compare_main(args: argparse.Namespace, frames: int) -> int:
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_core: --compare needs valgrind (tools/setup.sh installs it)")
    rev = run(["git", "-C", str(REPO), "rev-parse", "--short", args.compare],
              "git rev-parse").stdout.strip()
    opts = [o for o in args.compare_opts.split(",") if o]
    for o in opts:
        if o not in OPT_FLAGS:
            raise SystemExit(f"bench_core: unknown level {o!r} (one of {', '.join(OPT_FLAGS)})")
    src = baseline_sources(rev)
    t0 = time.time()
    runs: list[CgRun] = []
    for o in opts:
        new = build(REPO / ".build" / f"bench-{o}", o, targets=("callgrind_driver",))
        old = build(REPO / ".build" / f"bench-{o}-{rev}", o, host_src=src / "firmware" / "host",
                    targets=("callgrind_driver",))
        for label, argv, div in compare_regions(frames):
            for side, drv in (("before", old), ("after", new)):
                r = CgRun(f"{o}|{side}|{label}", argv, div)
                r.result = {"driver_path": str(drv["callgrind_driver"])}
                runs.append(r)

    def one(r: CgRun) -> CgRun:
        return callgrind_one(Path(r.result["driver_path"]), r, Path(tmp))

    with tempfile.TemporaryDirectory(prefix="bench_cmp_") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.cg_jobs)) as pool:
        done = [r.result for r in pool.map(one, runs)]
    by = {r["label"]: r for r in done}
    machine = machine_info(REPO / ".build" / f"bench-{opts[0]}", args)
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    machine["elapsed_s"] = round(time.time() - t0, 1)
    t = Table(f"Instruction counts of the on-device model, before ({rev}) and after "
              f"({machine['git']}) — D=16, 4q/1kv, d=32, L=2, C=4, N=256",
              ["region", "flags", "Ir before", "Ir after", "after/before", "goal (chip)"], left=2)
    out = []
    for label, _argv, div in compare_regions(frames):
        for o in opts:
            b, a = by[f"{o}|before|{label}"], by[f"{o}|after|{label}"]
            per = " / frame" if div > 1 else ""
            goal = next((f"≤ {fmt_n(g)}{per}" for k, g in COMPARE_GOALS.items()
                         if label.startswith(k) and "FP16" not in label), "")
            t.add(label, OPT_FLAGS[o], fmt_n(b["ir_per_frame"]) + per,
                  fmt_n(a["ir_per_frame"]) + per, fmt_x(a["ir"] / max(1, b["ir"])), goal)
            out.append({"region": label, "opt": o, "flags": OPT_FLAGS[o], "before": b,
                        "after": a})
    t.notes.append("Ir: x86-64 instructions of the counted call (callgrind, --toggle-collect="
                   "cg_region), per frame where a region has several; each side built from its "
                   "own sources with the same flags (+ -ffp-contract=off -fno-fast-math). "
                   "O2nv (no auto-vectoriser) is the closest x86 proxy for the ESP32-S3's scalar "
                   "FPU; the goals are Xtensa instructions on the chip.")
    mt = machine_table(machine)
    mt.add("baseline", f"{rev} (git archive into {src.relative_to(REPO)})")
    mt.add("benchmark time", f"{machine['elapsed_s']} s")
    render([mt, t], args.width)
    if args.markdown:
        args.markdown.write_text("\n".join(x.markdown() for x in (mt, t)))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "baseline": rev, "compare": out},
                                        indent=1))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run (fewer sizes and repeats)")
    p.add_argument("--sizes", help="forward sizes, e.g. 64,128 (default 64..4096)")
    p.add_argument("--contexts", help="decode contexts (default 256..16384)")
    p.add_argument("--reps", type=int, help="samples per measurement (default 7, quick 3)")
    p.add_argument("--min-ms", type=int, help="minimum ms per sample (default 50, quick 10)")
    p.add_argument("--frames", type=int, help="stream frames for the amortised figures "
                   "(default 1000, quick 200)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--numpy-threads", type=int, default=1)
    p.add_argument("--opt", choices=tuple(OPT_FLAGS), default="O3",
                   help="host optimisation level (O3: CMake Release, what core.cmake gives; "
                        "O2: what the ESP-IDF component uses; O2nv: -O2 -fno-tree-vectorize, "
                        "scalar float code like the chip's)")
    p.add_argument("--compare", metavar="REV",
                   help="only the instruction counts of the on-device model (table 4), for the "
                        "core of git revision REV and for the working tree, side by side, at "
                        "each level of --compare-opts")
    p.add_argument("--compare-opts", default="O2,O2nv,O3",
                   help="optimisation levels of --compare (default O2,O2nv,O3)")
    p.add_argument("--build-dir", type=Path)
    p.add_argument("--no-numpy", action="store_true")
    p.add_argument("--no-callgrind", action="store_true")
    p.add_argument("--cg-jobs", type=int, default=2, help="parallel callgrind runs")
    p.add_argument("--json", type=Path, help="write every raw result here")
    p.add_argument("--markdown", type=Path, help="write the tables as Markdown here")
    p.add_argument("--width", type=int, default=170, help="table width")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    return a


def int_list(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.numpy_threads)  # before numpy is imported
    quick = args.quick
    sizes = int_list(args.sizes) if args.sizes else (
        [64, 128, 256, 512, 1024] if quick else list(FULL_SIZES))
    contexts = int_list(args.contexts) if args.contexts else (
        [256, 1024, 4096, 16384] if quick else list(FULL_CONTEXTS))
    reps = args.reps or (3 if quick else 7)
    min_ms = args.min_ms or (10 if quick else 50)
    frames = args.frames or (200 if quick else 1000)
    if args.compare:
        return compare_main(args, frames)
    build_dir = args.build_dir or (REPO / ".build" / ("bench" if args.opt == "O3" else
                                                     f"bench-{args.opt}"))
    bins = build(build_dir, args.opt)
    machine = machine_info(build_dir, args)
    bc = str(bins["bench_core"])
    csv = ",".join(str(s) for s in sizes)

    t0 = time.time()
    fwd = run_json([bc, "fwd", "--sizes", csv, "--reps", str(reps), "--min-ms", str(min_ms)],
                   "bench_core fwd")
    dec = run_json([bc, "decode", "--contexts", ",".join(str(c) for c in contexts), "--reps",
                    str(reps), "--min-ms", str(max(5, min_ms // 2))], "bench_core decode")
    model = run_json([bc, "model", "--frames", str(frames), "--reps", str(max(3, reps // 2)),
                      "--min-ms", str(min_ms)], "bench_core model")
    memlines = run_json([bc, "mem"], "bench_core mem")
    blob = next(d for d in memlines if d["kind"] == "blob")
    mem = [d for d in memlines if d["kind"] == "mem"]
    for d in mem:
        d["logits_states"] = d["logits"] + d["states"]
        d["remainder"] = d["arena_bytes"] - d["parts"]
        pad = d["kv_caches"] - d["kv_rows"] - d["kv_means"]
        d["remainder"] += pad  # round-up of each cache block: shown with the header
    np_res = [] if args.no_numpy else numpy_vs_c(sizes, reps, min_ms * 1e-3, args.clock,
                                                 build_dir)

    cg: list[dict[str, Any]] = []
    cg_note = ""
    if args.no_callgrind:
        cg_note = "callgrind skipped (--no-callgrind)"
    elif shutil.which("valgrind") is None:
        cg_note = "callgrind skipped: valgrind is not installed (tools/setup.sh installs it)"
    else:
        cg_n = 1024 if 1024 in sizes else max([s for s in sizes if s <= 1024] or [min(sizes)])
        fr = str(frames)
        runs = [
            CgRun("stream frame (context 192)", ["frame", "--context", "192"]),
            CgRun("stream frame (context 192), FP16 KV", ["frame", "--context", "192",
                                                          "--fp16-cache"]),
            CgRun(f"stream amortised over {frames} frames", ["amortised", "--frames", fr],
                  frames),
            CgRun("window classify (full ring of 256)", ["classify"]),
            CgRun("empty region", ["empty"]),
            CgRun("sparse", ["sparse", "--n", str(cg_n)]),
            CgRun("dense", ["dense", "--n", str(cg_n)]),
            CgRun("dense1", ["dense1", "--n", str(cg_n)]),
        ]
        if not quick:
            runs[3:3] = [
                CgRun(f"stream amortised over {frames} frames, FP16 KV",
                      ["amortised", "--frames", fr, "--fp16-cache"], frames),
                CgRun("stream rebase push", ["rebase"]),
                CgRun("stream rebase push, FP16 KV", ["rebase", "--fp16-cache"]),
            ]
            runs[-3:-3] = [
                CgRun("window classify (full ring of 256), FP16 weights",
                      ["classify", "--fp16-weights"]),
                CgRun("stream frame (context 192), FP16 weights",
                      ["frame", "--context", "192", "--fp16-weights"]),
            ]
        dec_ctx = contexts if not quick else sorted({contexts[0], contexts[-1]})
        for conf in ("orig", "device"):
            for c in dec_ctx:
                for f16 in (False, True):
                    runs.append(CgRun(f"decode {conf} ctx {c}{' FP16' if f16 else ''}",
                                      ["decode", "--config", conf, "--ctx", str(c),
                                       "--max-ctx", str(max(contexts))]
                                      + (["--fp16-cache"] if f16 else []), 64))
        cg = callgrind_all(bins["callgrind_driver"], runs, max(1, args.cg_jobs))
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    machine["elapsed_s"] = round(time.time() - t0, 1)

    ratios: dict[str, Any] = {}
    cg_by = {r["label"]: r for r in cg}
    tables = [machine_table(machine), table_fwd(fwd, cg_by, args.clock, ratios)]
    if np_res:
        tables.append(table_numpy(np_res, args.clock, ratios))
    tables.append(table_decode(dec, cg, args.clock, ratios))
    t4 = table_callgrind(cg, model, args.clock, ratios) if cg else Table(
        "4. Instruction counts (callgrind)", ["status"], [[cg_note]])
    tables.append(t4)
    tables.append(table_mem(mem, blob, ratios))
    tables[0].add("load average at end", ", ".join(f"{x:.2f}" for x in machine["loadavg_end"])
                  if machine["loadavg_end"] else "?")
    tables[0].add("benchmark time", f"{machine['elapsed_s']} s")
    render(tables, args.width)

    if args.markdown:
        args.markdown.write_text("\n".join(t.markdown() for t in tables))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine, "fwd": fwd, "numpy": np_res, "decode": dec, "model": model,
            "blob": blob, "mem": mem, "callgrind": cg, "callgrind_note": cg_note,
                        "ratios": ratios, "bins": {k: str(v) for k, v in bins.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
