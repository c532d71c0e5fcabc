"""`headwater token`: mint a bearer token for the API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cli.context import CliContext

TTL_RE = re.compile(r"^(\d+)([smhd]?)$")
TTL_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    """`90`, `90s`, `15m`, `12h` or `30d` as a duration."""
    match = TTL_RE.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 3600, 15m, 12h or 30d")
    return timedelta(**{TTL_UNITS[match.group(2)]: int(match.group(1))})


class TtlType(click.ParamType):
    """A click parameter holding a duration."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_ttl(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.command("token")
@click.option("--user", required=True, help="The user id (the token's `sub`).")
@click.option("--tenant", default=None, help="The workspace (the token's `tenant`).")
@click.option("--ttl", type=TtlType(), default="24h", show_default=True, help="Lifetime.")
@click.pass_obj
def token(obj: CliContext, user: str, tenant: str | None, ttl: timedelta) -> None:
    """Print a bearer token for the API, signed with HEADWATER_JWT_SECRET."""
    from api.auth import mint_token, signing_secret

    try:
        minted = mint_token(signing_secret(obj.settings), user=user, tenant=tenant, ttl=ttl)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--user") from error
    click.echo(minted)
