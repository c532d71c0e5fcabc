"""`headwater openapi`: write the API's OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cli.context import CliContext


@click.command("openapi")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.pass_obj
def openapi(obj: CliContext, path: Path) -> None:
    """Write the OpenAPI document of the HTTP API to PATH (JSON)."""
    from api.main import create_app

    document = create_app(obj.settings).openapi()
    path.write_text(json.dumps(document, indent=2) + "\n")
    click.echo(f"Wrote {path} ({len(document['paths'])} paths)")
