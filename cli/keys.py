"""`headwater keys`: make encryption keys and re-encrypt stored secrets under the first one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cli.context import CliContext


@click.group("keys")
def keys() -> None:
    """Encryption keys of the secrets at rest."""


@keys.command("generate")
def generate() -> None:
    """Print a new Fernet key, to put first in HEADWATER_ENCRYPTION_KEYS."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def rotate(obj: CliContext, as_json: bool) -> None:
    """Re-encrypt every stored secret under the first key of HEADWATER_ENCRYPTION_KEYS.

    Put the new key first and keep the old ones after it while this runs; afterwards the
    old keys can be dropped. Exits 1 if some secret could be opened by none of the keys.
    """
    from resources.key_rotation import rotate_secrets
    from resources.vault import KEYS_VARIABLE

    report = rotate_secrets(obj.sessions, obj.vault)
    if as_json:
        click.echo(
            json.dumps({"rows": report.rows, "secrets": report.secrets, "failed": report.failed})
        )
    else:
        for column, rows in report.rows.items():
            click.echo(f"{column}: {report.secrets[column]} secrets in {rows} rows re-encrypted")
        for failed in report.failed:
            click.echo(f"cannot decrypt {failed} with the keys in {KEYS_VARIABLE}", err=True)
    if report.failed:
        raise SystemExit(1)
