"""``ruv-temporal qemu image|run``: the esp32s3 firmware on an emulated chip
(Espressif's QEMU; docs/qemu.md)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from ..errors import RuvError
from . import EXIT_DEVICE, EXIT_USAGE


def _fail(message: str, code: int) -> click.ClickException:
    e = click.ClickException(message)
    e.exit_code = code  # docs/cli.md: 2 bad input, 3 device or I/O error
    return e


@click.group()
def qemu() -> None:
    """Run the esp32s3 console-frame-source build in QEMU (docs/qemu.md)."""


@qemu.command("image")
@click.option("--build-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="ESP-IDF build directory of the esp32s3 build (has flash_args)")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="flash image to write")
@click.option("--flash-size", default="4MB", show_default=True)
def image_cmd(build_dir: Path, output: Path, flash_size: str) -> None:
    """One flash image with what `idf.py flash` writes: bootloader, partition
    table, app and the default model in model_a."""
    from .. import qemu as q

    try:
        out = q.merge_image(build_dir, output, flash_size)
    except RuvError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    click.echo(f"{out} ({out.stat().st_size} bytes)")


@qemu.command("run")
@click.argument("image", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--copy/--in-place", default=True, show_default=True,
              help="boot a copy of IMAGE (uploads then change the copy only)")
def run_cmd(image: Path, copy: bool) -> None:
    """Boot IMAGE in qemu-system-xtensa -M esp32s3; prints `PTY <path>` (the
    console, for --port / `idf.py monitor -p`) and runs until interrupted."""
    from .. import qemu as q

    if copy:
        work = image.with_name(image.stem + ".run" + image.suffix)
        shutil.copyfile(image, work)
        image = work
    try:
        proc = q.QemuProcess(image)
    except RuvError as e:
        raise _fail(str(e), EXIT_DEVICE) from e
    click.echo(f"PTY {proc.port}")
    try:
        while proc.alive():
            time.sleep(0.5)
    finally:
        proc.close()
