"""`headwater up`: the API, the Dagster webserver, daemon and code server, plus a demo source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.context import CLI_OWNER

if TYPE_CHECKING:
    from cli.context import CliContext

DEMO_NAME = "headwater (demo)"
UP_TOKEN_TTL = timedelta(days=7)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-port", default=8000, show_default=True)
@click.option("--dagster-port", default=3000, show_default=True)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API worker processes (rate limits and jobs are shared through the stores).",
)
@click.option("--demo/--no-demo", default=True, help="Add this repository as a git source.")
@click.pass_obj
def up(
    obj: CliContext, host: str, api_port: int, dagster_port: int, workers: int, demo: bool
) -> None:
    """Start Headwater on this machine and stay in the foreground (Ctrl-C stops it)."""
    from api.auth import mint_token, signing_secret
    from resources.code_server import shared_code_server, stop_processes
    from resources.dagster_home import PROJECT_ROOT, create_dagster_storage, prepare_dagster_home
    from resources.store.engine import session_factory

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it like Ctrl-C
    home = prepare_dagster_home(obj.settings)
    # Both stores made before the children start, rather than by all of them at once.
    session_factory(obj.settings.resolved_database_url)
    create_dagster_storage(home)
    if demo:
        _ensure_demo_source(obj)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    try:
        with shared_code_server(home, env) as (workspace, code_server):
            children = {"dagster code-server": code_server}
            for name, command in _commands(str(workspace), host, api_port, dagster_port, workers):
                children[name] = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
            click.echo(f"API       http://{host}:{api_port}/health")
            click.echo(f"Dagster   http://{host}:{dagster_port}/assets")
            click.echo(f"Home      {obj.settings.resolved_home}")
            bearer = mint_token(signing_secret(obj.settings), user=CLI_OWNER, ttl=UP_TOKEN_TTL)
            click.echo(f"Token     {bearer}  (user {CLI_OWNER}, {UP_TOKEN_TTL.days} days)")
            try:
                _watch(children)
            finally:
                stop_processes(children.values())
    except RuntimeError as failed:  # the code server did not start
        raise click.ClickException(str(failed)) from failed
    except KeyboardInterrupt:
        click.echo("Stopped.")


def _commands(
    workspace: str, host: str, api_port: int, dagster_port: int, workers: int
) -> list[tuple[str, list[str]]]:
    """The API, the Dagster webserver and the daemon, by name; both Dagster ones on `workspace`."""
    bin_dir = Path(sys.executable).parent
    api = [str(bin_dir / "uvicorn"), "--factory", "api.main:create_app", "--host", host]
    api += ["--port", str(api_port), "--workers", str(workers)]
    webserver = [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host]
    webserver += ["-p", str(dagster_port)]
    daemon = [str(bin_dir / "dagster-daemon"), "run", "-w", workspace]
    return [("api", api), ("dagster-webserver", webserver), ("dagster-daemon", daemon)]


def _watch(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Return never; raise once a child stopped (or on Ctrl-C, as KeyboardInterrupt)."""
    while all(child.poll() is None for child in children.values()):
        time.sleep(1)
    failed = [name for name, child in children.items() if child.poll() is not None]
    raise click.ClickException(f"{', '.join(failed)} stopped; shutting down the rest")


def _ensure_demo_source(obj: CliContext) -> None:
    """Add this repository through the `git` connector once, and queue its first sync."""
    from resources.dagster_home import PROJECT_ROOT
    from resources.store import jobs, sources
    from resources.store.models import SyncType

    with obj.session() as session:
        existing, _ = sources.list_sources(session, limit=1_000)
        if any(source.name == DEMO_NAME for source in existing):
            return
        source = sources.create_source(
            session,
            owner_id=CLI_OWNER,
            tenant_id=None,
            type="git",
            name=DEMO_NAME,
            config={"url": str(PROJECT_ROOT), "excludePaths": [".venv/**", ".headwater/**"]},
        )
        jobs.create_job(session, source=source, type=SyncType.FULL, trigger="demo")
