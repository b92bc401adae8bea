#!/usr/bin/env python3
"""Generate the default model that `idf.py flash` writes into slot A.

Without options the blob is the docs/spec.md §5 deterministic random model
(ruv_temporal.rvne.init_random) with the firmware's default dimensions (Kconfig:
TEMPORAL_INPUT_DIM 16, TEMPORAL_N_CLASSES 4; heads 4/1, head_dim 32, 2 layers)
plus an INPUT section that declares feature set 1 (csi-stats v1) at the CSI
feature rate, so the CSI build accepts it. It is a placeholder with random
weights: it makes a freshly flashed node run end to end.

With --trained the blob is instead model v1 trained on synthetic sessions with
the default recipe of `ruv-temporal train --synth` (6 activity classes, 10
frames/s, csi-stats v1; deterministic for a given seed, torch build and thread
count). Such a model only loads on a firmware configured to match it:
TEMPORAL_N_CLASSES = 6 (the Kconfig default is 4, so the default build refuses
it: "model n_classes differs from the device's"). The training rate, 10
frames/s, is the Kconfig default TEMPORAL_CSI_FEATURE_RATE_HZ. The tool prints
any mismatch.

    python tools/make_default_model.py            # (re)writes firmware/models/default.rvne
    python tools/make_default_model.py --check    # exit 1 if the committed file differs
    python tools/make_default_model.py --trained -o runs/default-trained.rvne
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ruv_temporal import rvne

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "firmware" / "models" / "default.rvne"
KCONFIG = REPO / "firmware" / "main" / "Kconfig.projbuild"
FEATURE_SET_CSI_STATS_V1 = 1
DEFAULT_RATE_HZ = 10  # Kconfig TEMPORAL_CSI_FEATURE_RATE_HZ default
MAX_BYTES = 200 * 1024


def make_default_model(rate_hz: float = DEFAULT_RATE_HZ) -> bytes:
    """Returns the default RVNE blob (init_random dims + INPUT section;
    ``ruv_temporal.provision.default_model``, which ``ruv-temporal bench
    device`` uses too)."""
    from ruv_temporal import provision
    from ruv_temporal.errors import RuvError

    try:
        data = provision.default_model(rate_hz)
    except RuvError as e:
        raise ValueError(str(e)) from None
    check = rvne.parse(data)  # round trip: the blob we ship must parse
    if check.input is None or check.input.feature_set != FEATURE_SET_CSI_STATS_V1:
        raise RuntimeError("INPUT section lost in the round trip")
    return data


def make_trained_model(seed: int = 0, threads: int = 2, quiet: bool = False) -> bytes:
    """Model v1 trained with the default synthetic recipe (ruv_temporal.train)."""
    from ruv_temporal import train as tr

    sessions, labels, _ = tr.synth_sessions(
        rooms=tr.DEFAULT_SYNTH["rooms"], seconds=tr.DEFAULT_SYNTH["seconds"],
        sessions_per_activity=tr.DEFAULT_SYNTH["sessions_per_activity"], seed=seed,
    )
    train_s, held_s = tr.split_heldout(sessions, tr.DEFAULT_SYNTH["heldout_rooms"])
    cfg = tr.TrainConfig(dims=tr.ModelDims(n_classes=len(labels)), seed=seed, threads=threads)
    res = tr.train_model(train_s, held_s, cfg, labels, progress=not quiet)
    data = tr.export_blob(res, meta={"made_by": "tools/make_default_model.py --trained"})
    if not quiet:
        print(f"held-out-room accuracy {res.heldout.accuracy:.4f} "
              f"({res.heldout.n_windows} windows, seed {seed})")
    return data


def kconfig_default(name: str) -> int | None:
    """Default of an int Kconfig symbol of the project (None if not found)."""
    if not KCONFIG.is_file():
        return None
    m = re.search(rf"config {name}\n(?:[^\n]*\n)*?\s+default (\d+)", KCONFIG.read_text())
    return int(m.group(1)) if m else None


def config_mismatches(data: bytes) -> list[str]:
    """How the blob differs from what the firmware's Kconfig defaults expect."""
    b = rvne.parse(data)
    out = []
    n_classes = kconfig_default("TEMPORAL_N_CLASSES")
    if n_classes is not None and n_classes != b.n_classes:
        out.append(f"model has {b.n_classes} classes, Kconfig TEMPORAL_N_CLASSES default is "
                   f"{n_classes} (the device refuses the model unless they match)")
    rate = kconfig_default("TEMPORAL_CSI_FEATURE_RATE_HZ")
    if rate is not None and b.input is not None and b.input.frame_rate_x100 != rate * 100:
        out.append(f"model made for {b.input.frame_rate_x100 / 100:g} frames/s, Kconfig "
                   f"TEMPORAL_CSI_FEATURE_RATE_HZ default is {rate}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--rate", type=float, default=DEFAULT_RATE_HZ, help="frame rate in Hz (INPUT section)"
    )
    ap.add_argument(
        "--check", action="store_true", help="compare with the existing file instead of writing"
    )
    ap.add_argument("--trained", action="store_true",
                    help="write model v1 trained on synthetic data instead of random weights "
                         "(needs the training extra, takes a few minutes)")
    ap.add_argument("--seed", type=int, default=0, help="--trained: data and training seed")
    ap.add_argument("--threads", type=int, default=2, help="--trained: torch threads")
    args = ap.parse_args(argv)

    if args.trained:
        if args.check:
            ap.error("--check compares the random placeholder; a trained blob depends on the "
                     "torch build and thread count")
        data = make_trained_model(args.seed, args.threads)
    else:
        data = make_default_model(args.rate)
    if len(data) > MAX_BYTES:
        print(f"model is {len(data)} bytes, more than {MAX_BYTES}", file=sys.stderr)
        return 1
    if args.check:
        if not args.output.is_file() or args.output.read_bytes() != data:
            print(f"{args.output}: differs from the generated default model", file=sys.stderr)
            return 1
        print(f"{args.output}: up to date ({len(data)} bytes)")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes, crc32 0x{rvne.parse(data).crc32:08X})")
    if args.trained:
        for line in config_mismatches(data):
            print(f"warning: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
