"""``wework keys …``: encryption key generation and rotation (see wework.services.keys)."""

from __future__ import annotations

import time

import typer

from wework.cli.common import command_group
from wework.services import keys

keys_app = command_group(
    "Encryption keys of the columns encrypted at rest (WEWORK_ENCRYPTION_KEYS)."
)


@keys_app.command("generate")
def generate() -> None:
    """Print a new key. Put it first in WEWORK_ENCRYPTION_KEYS, then run `keys rotate`."""
    typer.echo(keys.generate_key())


@keys_app.command("rotate")
def rotate(
    batch_size: int = typer.Option(500, min=1, help="Rows per transaction."),
) -> None:
    """Re-encrypt every encrypted column of every shard under the first key."""
    start = time.perf_counter()
    counts = keys.rotate_encryption(batch_size=batch_size)
    for table, n in counts.items():
        typer.echo(f"{table}: {n} rows re-encrypted")
    typer.echo(f"done in {time.perf_counter() - start:.2f} s; the old keys may now be removed")
