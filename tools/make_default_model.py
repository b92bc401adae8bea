#!/usr/bin/env python3
"""Generate the default model that `idf.py flash` writes into slot A.

The blob is the SPEC §5 deterministic random model (ruv_temporal.rvne.init_random)
with the firmware's default dimensions (Kconfig: TEMPORAL_INPUT_DIM 16,
TEMPORAL_N_CLASSES 4; heads 4/1, head_dim 32, 2 layers) plus an INPUT section
that declares feature set 1 (csi-stats v1) at the CSI feature rate, so the CSI
build accepts it. It is a placeholder with random weights: it makes a freshly
flashed node run end to end; train a real one with `ruv-temporal train`.

    python tools/make_default_model.py            # (re)writes firmware/models/default.rvne
    python tools/make_default_model.py --check    # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ruv_temporal import rvne

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "firmware" / "models" / "default.rvne"
FEATURE_SET_CSI_STATS_V1 = 1
DEFAULT_RATE_HZ = 20  # Kconfig TEMPORAL_CSI_FEATURE_RATE_HZ default


def make_default_model(rate_hz: float = DEFAULT_RATE_HZ) -> bytes:
    """Returns the default RVNE blob (init_random dims + INPUT section)."""
    rate_x100 = round(rate_hz * 100)
    if not 0 < rate_x100 <= 0xFFFF:
        raise ValueError(f"frame rate {rate_hz} Hz does not fit the INPUT section (u16 x100)")
    blob = rvne.parse(
        rvne.init_random(
            input_dim=16, n_q_heads=4, n_kv_heads=1, head_dim=32, n_layers=2, n_classes=4
        )
    )
    blob.input = rvne.InputSection(feature_set=FEATURE_SET_CSI_STATS_V1, frame_rate_x100=rate_x100)
    data = rvne.build(blob)
    check = rvne.parse(data)  # round trip: the blob we ship must parse
    if check.input is None or check.input.feature_set != FEATURE_SET_CSI_STATS_V1:
        raise RuntimeError("INPUT section lost in the round trip")
    return data


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
    args = ap.parse_args(argv)

    data = make_default_model(args.rate)
    if args.check:
        if not args.output.is_file() or args.output.read_bytes() != data:
            print(f"{args.output}: differs from the generated default model", file=sys.stderr)
            return 1
        print(f"{args.output}: up to date ({len(data)} bytes)")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes, crc32 0x{rvne.parse(data).crc32:08X})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
