"""Options shared by the MQTT subcommands (monitor, bridge, provision, vdev)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EXIT_IO = 3


def mqtt_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--mqtt-prefix", default="ruv", show_default=True,
                     help="Topic prefix (<prefix>/<node>/state, ...).")(f)
    f = click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
                     default=None, help="CA certificate (PEM) for mqtts:// brokers.")(f)
    return f


def connect_or_exit(url: str, ca_file: Path | None, **kw: Any) -> Any:
    from ruv_temporal import fleet

    try:
        return fleet.connect(url, ca_file=str(ca_file) if ca_file else None, **kw)
    except fleet.FleetError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_IO) from None
