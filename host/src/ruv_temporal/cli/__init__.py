"""``ruv-temporal`` command line: a thin layer over the library API.

Subcommands live in their own modules and are imported only when used, so
``ruv-temporal --help`` stays fast and a missing optional extra (torch for
``train``) only affects the command that needs it.

Exit codes (docs/cli.md): 0 success, 1 a check failed (verify, hil, gate,
demo), 2 usage or bad input (click's convention), 3 device or I/O error,
130 interrupted before anything was finished. Every error is one line on
stderr, ``error: ...``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

# name -> "module:attribute" of a click command/group.
SUBCOMMANDS: dict[str, str] = {
    "blob": "ruv_temporal.cli.blob:blob",
    "keys": "ruv_temporal.cli.keys:keys",
    "monitor": "ruv_temporal.cli.monitor:monitor",
    "bridge": "ruv_temporal.cli.bridge:bridge",
    "bench": "ruv_temporal.cli.bench:bench",
    "vdev": "ruv_temporal.cli.vdev:vdev",
    "qemu": "ruv_temporal.cli.qemu:qemu",
    "hil": "ruv_temporal.cli.hil:hil",
    "provision": "ruv_temporal.cli.provision:provision",
    "synth": "ruv_temporal.cli.synth:synth",
    "record": "ruv_temporal.cli.record:record",
    "import": "ruv_temporal.cli.importer:import_cmd",
    "replay": "ruv_temporal.cli.replay:replay",
    "train": "ruv_temporal.cli.train:train",
    "gate": "ruv_temporal.cli.gate:gate",
    "demo": "ruv_temporal.cli.demo:demo",
}

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_INTERRUPTED = 130


class LazyGroup(click.Group):
    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """click's main, but a usage error or a refused value is one line
        (``error: ...``) instead of click's usage block, and an abort is one
        line too; exit codes as in the module docstring."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as e:
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see {e.ctx.command_path} --help)"
            click.echo(f"error: {e.format_message()}{hint}".replace("\n", " "), err=True)
            sys.exit(e.exit_code)
        except (click.Abort, EOFError, KeyboardInterrupt):
            click.echo("error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in SUBCOMMANDS if _importable(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)


def _importable(name: str) -> bool:
    module_name = SUBCOMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ruv-temporal")
def main() -> None:
    """Host tool for the ESP32-S3 CSI temporal head: blobs, telemetry,
    benchmarks, provisioning, HIL comparison, training and the demo."""
