"""``ruv-temporal vdev [run|pty]``: start the virtual device (ruv_vdev).

``ruv-temporal vdev --mqtt mqtt://HOST:PORT [--mqtt-prefix P] [--node-id N]``
(no subcommand) is ``vdev run``: a node on the host that publishes to the
broker and takes signed models with ``--pubkey`` (docs/fleet.md)."""

from __future__ import annotations

import os
import sys

import click

from ..device import find_vdev
from ..errors import RuvError

_OPTIONS = [
    click.option("--slots", type=click.Path(file_okay=False), help="directory of slot files"),
    click.option("--model", type=click.Path(exists=True, dir_okay=False), help="seed slot A"),
    click.option("--udp", help="telemetry target HOST:PORT (loopback only)"),
    # Ranges: the board's Kconfig (firmware/main/Kconfig.projbuild); ruv_vdev
    # checks them too and refuses a bad value with one error line.
    click.option("--node-id", type=click.IntRange(0, 255)),
    click.option("--input-dim", type=click.IntRange(1, 256)),
    click.option("--window-len", type=click.IntRange(32, 1024)),
    click.option("--n-classes", type=click.IntRange(2, 16)),
    click.option("--mode", type=click.Choice(["window", "stream"])),
    click.option("--fp16", is_flag=True, help="FP16 KV cache (stream mode)"),
    click.option("--period-ms", type=click.IntRange(0, 60000),
                 help="classify period, 0 (off) or 100..60000"),
    click.option("--consume-delay-us", type=click.IntRange(0, 10_000_000),
                 help="emulated per-frame cost of the task"),
    click.option("--mqtt", help="broker mqtt[s]://[user[:pw]@]HOST[:PORT] (docs/fleet.md)"),
    click.option("--mqtt-prefix", help="topic prefix (default ruv)"),
    click.option("--mqtt-node", help="node id in topics (default: --node-id)"),
    click.option("--mqtt-user"),
    click.option("--mqtt-password"),
    click.option("--mqtt-ca", type=click.Path(exists=True, dir_okay=False),
                 help="CA certificate (PEM) of an mqtts:// broker"),
    click.option("--mqtt-outbox", type=click.IntRange(1, 100000),
                 help="messages waiting for the client (default 16)"),
    click.option("--pubkey", type=click.Path(exists=True, dir_okay=False),
                 help="model-signing public key: take signed models (no key: none)"),
    click.option("--locked", is_flag=True, help="console uploads must be signed too"),
]


def _with_options(f):  # type: ignore[no-untyped-def]
    for opt in reversed(_OPTIONS):
        f = opt(f)
    return f


def _argv(pty: bool, opts: dict[str, object]) -> list[str]:
    try:
        exe = find_vdev()
    except RuvError as exc:
        raise click.ClickException(str(exc)) from exc
    argv = [str(exe)]
    if pty:
        argv.append("--pty")
    for key, value in opts.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


@click.group(invoke_without_command=True)
@_with_options
@click.pass_context
def vdev(ctx: click.Context, **opts: object) -> None:
    """Virtual device: the firmware's app logic built for the host. Without
    a subcommand it runs like `vdev run` with the options given here."""
    if ctx.invoked_subcommand is None:
        argv = _argv(False, opts)
        sys.stdout.flush()
        os.execv(argv[0], argv)


@vdev.command()
@_with_options
def run(**opts: object) -> None:
    """Console on this terminal's stdin/stdout."""
    argv = _argv(False, opts)
    sys.stdout.flush()
    os.execv(argv[0], argv)


@vdev.command()
@_with_options
def pty(**opts: object) -> None:
    """Console on a pseudo-terminal; prints "PTY <path>" and keeps running."""
    argv = _argv(True, opts)
    sys.stdout.flush()
    os.execv(argv[0], argv)
