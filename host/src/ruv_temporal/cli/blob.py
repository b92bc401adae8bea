"""``ruv-temporal blob``: create, inspect, convert and verify RVNE weight blobs.

Exit codes: 0 ok; 1 ``verify`` rejected the blob; 2 usage or bad input (an
invalid blob given to ``inspect``/``convert``, bad option values); 3 I/O error.
The blob format and the rejection reasons are in docs/blob-format.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_IO = 3

_DIMS = ("input_dim", "n_q_heads", "n_kv_heads", "head_dim", "n_layers", "n_classes")


def _fail(msg: str, code: int) -> None:
    click.echo(f"error: {msg}", err=True)
    raise SystemExit(code)


def _read(path: Path) -> bytes:
    """The file's bytes, at most rvne.MAX_BLOB_FILE_BYTES (a larger file is refused)."""
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    try:
        return rvne.read_blob_file(path)
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror or e}", EXIT_IO)
    except BlobError as e:
        _fail(str(e), EXIT_USAGE)
    raise AssertionError("unreachable")


def _write(path: Path, data: bytes) -> None:
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        _fail(f"cannot write {path}: {e.strerror or e}", EXIT_IO)


def _status_name(code: int) -> str:
    from ruv_temporal.status import Status

    try:
        return Status(code).name
    except ValueError:
        return "?"


def _reject_text(e: Any) -> str:
    return f"{e.reason} (0x{e.status:03X} {_status_name(e.status)}): {e}"


def _parse_or_fail(data: bytes, path: Path, code: int = EXIT_USAGE) -> Any:
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    try:
        return rvne.parse(data)
    except BlobError as e:
        _fail(f"{path}: rejected: {_reject_text(e)}", code)


def _int_any_base(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not an integer: {value!r} (decimal or 0x hex)") from None


def _attn_dict(cfg: Any) -> dict[str, Any]:
    return {
        "window": int(cfg.window),
        "block_size": int(cfg.block_size),
        "global_tokens": [int(g) for g in cfg.global_tokens],
        "causal": bool(cfg.causal),
        "log_stride": bool(cfg.log_stride),
        "landmarks": bool(cfg.landmarks),
    }


@click.group()
def blob() -> None:
    """Create, inspect, convert and verify RVNE weight blobs (docs/blob-format.md)."""


# --------------------------------------------------------------------------- init


@blob.command("init")
@click.option("--input-dim", "-D", type=click.IntRange(1, 65535), default=16, show_default=True)
@click.option("--q-heads", type=click.IntRange(1, 65535), default=4, show_default=True)
@click.option("--kv-heads", type=click.IntRange(1, 65535), default=1, show_default=True)
@click.option("--head-dim", type=click.IntRange(1, 65535), default=32, show_default=True)
@click.option("--layers", type=click.IntRange(1, 65535), default=2, show_default=True)
@click.option("--classes", type=click.IntRange(2, 65535), default=4, show_default=True)
@click.option("--seed", callback=_int_any_base, default="0xC5110007DEADBEEF", show_default=True,
              help="xorshift64* seed (decimal or 0x hex).")
@click.option("--fp16", is_flag=True, help="Store the weights as FP16 (rounded to nearest even).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Output blob file.")
def init_cmd(input_dim: int, q_heads: int, kv_heads: int, head_dim: int, layers: int,
             classes: int, seed: int, fp16: bool, out: Path) -> None:
    """Write docs/spec.md §5's deterministic random blob (FP32, no sections unless --fp16)."""
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    if q_heads % kv_heads:
        raise click.BadParameter(f"--q-heads {q_heads} is not a multiple of --kv-heads "
                                 f"{kv_heads}", param_hint="--q-heads")
    if not 0 <= seed < 2**64:
        raise click.BadParameter("seed must fit in 64 bits", param_hint="--seed")
    try:
        data = rvne.init_random(input_dim, q_heads, kv_heads, head_dim, layers, classes, seed)
        if fp16:
            b = rvne.parse(data)
            b.fp16 = True
            data = rvne.build(b)
    except BlobError as e:
        _fail(f"cannot make the blob: {_reject_text(e)}", EXIT_USAGE)
    _write(out, data)
    crc = int.from_bytes(data[-4:], "little")
    click.echo(f"wrote {out}: {len(data)} bytes, CRC 0x{crc:08X}")


# --------------------------------------------------------------------------- inspect


def _describe(data: bytes, blob_: Any) -> dict[str, Any]:
    from ruv_temporal import rvne

    flags = data[6]
    regions = rvne.layout(data)
    attn = blob_.attn
    info: dict[str, Any] = {
        "size": len(data),
        "magic": f"0x{rvne.MAGIC:08X}",
        "version": int.from_bytes(data[4:6], "little"),
        "flags": flags,
        "fp16": bool(blob_.fp16),
        "dims": dict(zip(_DIMS, blob_.dims, strict=True)),
        "weights_len": int.from_bytes(data[20:24], "little"),
        "crc32": f"0x{blob_.crc32:08X}",
        "n_params": rvne.base_weight_count(*blob_.dims),
        "sections": blob_.section_names,
        "norm": blob_.norm is not None,
        "bias": blob_.has_bias,
        "attn": _attn_dict(attn) if attn is not None else None,
        "attn_effective": _attn_dict(attn) if attn is not None else {
            "window": 32, "block_size": 16, "global_tokens": [0], "causal": True,
            "log_stride": True, "landmarks": True},
        "input": ({"feature_set": blob_.input.feature_set,
                   "frame_rate_x100": blob_.input.frame_rate_x100}
                  if blob_.input is not None else None),
        "labels": blob_.labels,
        "meta": blob_.meta,
        "unknown_sections": [{"tag": t, "length": len(p)} for t, p in blob_.unknown_sections],
        "layout": [{"name": r.name, "offset": r.offset, "size": r.size, "detail": r.detail}
                   for r in regions],
    }
    return info


@blob.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect_cmd(file: Path, as_json: bool) -> None:
    """Show a blob's header, sections, labels, attention config, CRC and size table."""
    data = _read(file)
    b = _parse_or_fail(data, file)
    info = _describe(data, b)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    d = info["dims"]
    con.print(f"[bold]{escape(str(file))}[/bold]: RVNE v{info['version']}, "
              f"{info['size']:,} bytes, "
              f"CRC {info['crc32']}, flags 0x{info['flags']:02X} "
              f"({'FP16' if info['fp16'] else 'FP32'} weights"
              f"{', sections' if info['flags'] & 2 else ''})", highlight=False)
    con.print(f"dims: D={d['input_dim']} q_heads={d['n_q_heads']} kv_heads={d['n_kv_heads']} "
              f"head_dim={d['head_dim']} layers={d['n_layers']} classes={d['n_classes']}  "
              f"({info['n_params']:,} base weights)", highlight=False)
    con.print(f"sections: {', '.join(info['sections']) or '(none)'}", highlight=False)
    a = info["attn_effective"]
    src = "from the ATTN section" if info["attn"] is not None else "default: no ATTN section"
    con.print(f"attention: W={a['window']} B={a['block_size']} globals={a['global_tokens']} "
              f"causal={a['causal']} log_stride={a['log_stride']} landmarks={a['landmarks']} "
              f"({src})", highlight=False, markup=False)
    if info["input"] is not None:
        con.print(f"input: feature set {info['input']['feature_set']}, "
                  f"{info['input']['frame_rate_x100'] / 100:g} frames/s", highlight=False)
    if info["labels"] is not None:
        con.print("labels: " + ", ".join(f"{i}={s}" for i, s in enumerate(info["labels"])),
                  highlight=False, markup=False)
    if info["meta"] is not None:
        con.print(f"meta: {info['meta']}", highlight=False, markup=False)
    t = Table(title="layout", title_justify="left")
    for col, just in (("region", "left"), ("offset", "right"), ("bytes", "right"),
                      ("detail", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in info["layout"]:
        t.add_row(r["name"], str(r["offset"]), f"{r['size']:,}", r["detail"])
    t.add_row("[bold]total[/bold]", "", f"{info['size']:,}", "")
    con.print(t)


# --------------------------------------------------------------------------- convert


def _load_norm(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        obj = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - np.load raises EOFError, ValueError, OSError, ...
        why = "empty file" if isinstance(e, EOFError) else str(e) or type(e).__name__
        raise click.BadParameter(f"cannot load {path} as .npz/.npy: {why}",
                                 param_hint="--add-norm") from None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            keys = set(obj.files)
            if "mean" not in keys or not keys & {"inv_std", "std"}:
                raise click.BadParameter(
                    f"{path} needs arrays 'mean' and 'inv_std' (or 'std'); has {sorted(keys)}",
                    param_hint="--add-norm")
            mean = np.asarray(obj["mean"], np.float32)
            if "inv_std" in keys:
                inv = np.asarray(obj["inv_std"], np.float32)
            else:
                std = np.asarray(obj["std"], np.float64)
                if np.any(std <= 0):
                    raise click.BadParameter(f"{path}: std must be > 0", param_hint="--add-norm")
                inv = (1.0 / std).astype(np.float32)
    else:
        arr = np.asarray(obj, np.float32)
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise click.BadParameter(f"{path}: a .npy must be [2][D] (mean, inv_std), "
                                     f"got shape {arr.shape}", param_hint="--add-norm")
        mean, inv = arr[0], arr[1]
    if mean.shape != (dim,) or inv.shape != (dim,):
        raise click.BadParameter(f"{path}: mean/inv_std must have shape ({dim},), got "
                                 f"{mean.shape} and {inv.shape}", param_hint="--add-norm")
    return mean.copy(), inv.copy()


def _parse_attn(text: str) -> Any:
    from ruv_temporal import rvne

    if text.strip().lower() in ("default", "aether"):
        return rvne.attn_config(32, 16, [0], True, True, True)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    flags = {"nolog": False, "nolandmarks": False}
    nums = []
    for p in parts:
        if p.lower() in ("nolog", "no-log-stride"):
            flags["nolog"] = True
        elif p.lower() in ("nolandmarks", "no-landmarks"):
            flags["nolandmarks"] = True
        else:
            try:
                nums.append(int(p, 0))
            except ValueError:
                raise click.BadParameter(f"not an integer: {p!r}", param_hint="--attn") from None
    if len(nums) < 2:
        raise click.BadParameter("expected W,B[,global...] (e.g. 32,16,0)", param_hint="--attn")
    w, bs, globals_ = nums[0], nums[1], nums[2:]
    if not 0 <= w <= 65535 or not 1 <= bs <= 65535:
        raise click.BadParameter("W must be 0..65535 and B 1..65535", param_hint="--attn")
    if len(globals_) > 255 or any(not 0 <= g <= 65535 for g in globals_):
        raise click.BadParameter("at most 255 globals, each 0..65535", param_hint="--attn")
    return rvne.attn_config(w, bs, globals_, True, not flags["nolog"], not flags["nolandmarks"])


_STRIPPABLE = ("norm", "bias", "attn", "input", "labels", "meta", "unknown")


@blob.command("convert")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fp16/--fp32", "fp16", default=None,
              help="Store the base weights as FP16 or FP32 (default: as in SRC).")
@click.option("--add-norm", "norm_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=None,
              help="NORM section from a .npz (mean, inv_std or std) or a .npy [2][D].")
@click.option("--labels", default=None, help="Class names, comma-separated (LABELS section).")
@click.option("--attn", "attn_text", default=None,
              help="ATTN section: W,B[,global...][,nolog][,nolandmarks], or 'default'.")
@click.option("--input-feature-set", type=click.IntRange(0, 65535), default=None,
              help="INPUT section: feature-set id (0 = csi-stats v1).")
@click.option("--frame-rate", type=click.FloatRange(0, 655.35), default=None,
              help="INPUT section: frame rate in Hz (stored x100; default: kept or 0).")
@click.option("--meta", default=None, help="META section (free UTF-8 text).")
@click.option("--strip", multiple=True, type=click.Choice(_STRIPPABLE),
              help="Remove a section (repeatable).")
def convert_cmd(src: Path, dst: Path, fp16: bool | None, norm_path: Path | None,
                labels: str | None, attn_text: str | None, input_feature_set: int | None,
                frame_rate: float | None, meta: str | None, strip: tuple[str, ...]) -> None:
    """Rewrite a blob: change the weight precision, add, replace or strip sections."""
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    data = _read(src)
    b = _parse_or_fail(data, src)
    for s in strip:
        if s == "bias":
            b.bc = None
            for lw in b.layers:
                lw.bq = lw.bk = lw.bv = lw.bo = None
        elif s == "unknown":
            b.unknown_sections = []
        else:
            setattr(b, s, None)
    if fp16 is not None:
        b.fp16 = fp16
    if norm_path is not None:
        b.norm = _load_norm(norm_path, b.input_dim)
    if labels is not None:
        names = [x.strip() for x in labels.split(",")]
        if len(names) != b.n_classes:
            raise click.BadParameter(f"{len(names)} labels for {b.n_classes} classes",
                                     param_hint="--labels")
        b.labels = names
    if attn_text is not None:
        b.attn = _parse_attn(attn_text)
    if input_feature_set is not None or frame_rate is not None:
        old = b.input
        fs = input_feature_set if input_feature_set is not None else (
            old.feature_set if old is not None else 0)
        fr = round(frame_rate * 100) if frame_rate is not None else (
            old.frame_rate_x100 if old is not None else 0)
        b.input = rvne.InputSection(feature_set=fs, frame_rate_x100=fr)
    if meta is not None:
        b.meta = meta
    try:
        out = rvne.build(b)
        check = rvne.parse(out)
    except BlobError as e:
        _fail(f"cannot build the blob: {_reject_text(e)}", EXIT_USAGE)
    _write(dst, out)
    click.echo(f"wrote {dst}: {len(out)} bytes, CRC 0x{check.crc32:08X}, "
               f"{'FP16' if check.fp16 else 'FP32'}, sections: "
               f"{', '.join(check.section_names) or '(none)'}")


# --------------------------------------------------------------------------- verify


@blob.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def verify_cmd(file: Path, as_json: bool) -> None:
    """Check a blob the way the device does: exit 0 if valid, 1 with the reason if not."""
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    data = _read(file)
    try:
        b = rvne.parse(data)
    except BlobError as e:
        if as_json:
            click.echo(json.dumps({"valid": False, "reason": e.reason, "status": e.status,
                                   "status_name": _status_name(e.status), "message": str(e)}))
        else:
            click.echo(f"REJECTED {file}: {_reject_text(e)}")
        raise SystemExit(EXIT_REJECTED) from None
    if as_json:
        click.echo(json.dumps({"valid": True, "crc32": f"0x{b.crc32:08X}", "size": len(data),
                               "fp16": b.fp16, "dims": dict(zip(_DIMS, b.dims, strict=True)),
                               "sections": b.section_names}))
    else:
        click.echo(f"OK {file}: {len(data)} bytes, CRC 0x{b.crc32:08X}, "
                   f"{'FP16' if b.fp16 else 'FP32'}, sections: "
                   f"{', '.join(b.section_names) or '(none)'}")


@blob.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "-k", "key_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Private key (PEM, from `ruv-temporal keys generate`).")
@click.option("--generation", "-g", type=click.IntRange(1, 0xFFFFFFFF), required=True,
              help="Model generation; a node takes only a generation newer than the one it runs.")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Signed envelope to write (e.g. model.rvsg).")
def sign_cmd(file: Path, key_path: Path, generation: int, out: Path) -> None:
    """Wrap a valid RVNE blob in a signed envelope (ECDSA P-256, docs/blob-format.md)."""
    from ruv_temporal import signing
    from ruv_temporal.errors import RuvError

    data = _read(file)
    b = _parse_or_fail(data, file)  # never sign a blob a node would reject anyway
    try:
        key = signing.load_private_key(key_path)
    except (RuvError, ValueError, TypeError) as e:
        _fail(f"{key_path}: {e}", EXIT_USAGE)
    env = signing.sign(data, key, generation)
    _write(out, env)
    click.echo(f"signed {file} -> {out}: generation {generation}, key "
               f"{signing.key_id(key).hex()}, model CRC 0x{b.crc32:08X}, {len(env)} bytes")
