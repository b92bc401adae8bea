"""``ruv-temporal keys``: the ECDSA P-256 key pair that signs models.

The private key stays with whoever publishes models; the public key goes
into the node (``CONFIG_RUV_MODEL_PUBKEY_FILE`` in menuconfig, or
``ruv-temporal vdev --pubkey``). docs/fleet.md, "Keys and locking".

Exit codes: 0 ok, 2 usage (existing file without --force), 3 I/O error.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

EXIT_USAGE = 2
EXIT_IO = 3


@click.group()
def keys() -> None:
    """Create and show model-signing keys."""


@keys.command("generate")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("model-signing.pem"), show_default=True,
              help="Private key file (PEM, PKCS#8, mode 0600); the public key goes "
                   "beside it with .pub.pem.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def generate_cmd(out: Path, force: bool) -> None:
    """Make a new P-256 key pair."""
    from ruv_temporal import signing

    pub = out.with_name(out.name.removesuffix(".pem") + ".pub.pem")
    for p in (out, pub):
        if p.exists() and not force:
            click.echo(f"error: {p} exists (use --force to overwrite)", err=True)
            raise SystemExit(EXIT_USAGE)
    key = signing.generate_private_key()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(signing.private_pem(key))
        pub.write_bytes(signing.public_pem(key))
    except OSError as e:
        click.echo(f"error: cannot write key: {e}", err=True)
        raise SystemExit(EXIT_IO) from None
    click.echo(f"private key {out} (keep it secret)\npublic key  {pub} (put it on the nodes)\n"
               f"key id      {signing.key_id(key).hex()}")


@keys.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def show_cmd(file: Path) -> None:
    """Print the key id of a public or private key (the id an envelope carries)."""
    from ruv_temporal import signing
    from ruv_temporal.errors import RuvError

    try:
        key = signing.load_public_key(file)
    except (RuvError, ValueError, TypeError) as e:
        click.echo(f"error: {file}: {e}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    click.echo(f"key id {signing.key_id(key).hex()}")
