"""`headwater up`: the API, the Dagster webserver and the daemon together, plus a demo source."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import click

from api.auth import mint_token, signing_secret
from cli.context import CLI_OWNER, CliContext
from resources.dagster_home import PROJECT_ROOT, WORKSPACE_YAML, prepare_dagster_home
from resources.store import jobs, sources
from resources.store.engine import session_factory
from resources.store.models import SyncType

logger = logging.getLogger(__name__)
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
    home = prepare_dagster_home(obj.settings)
    session_factory(obj.settings.resolved_database_url)  # migrate before the children start
    if demo:
        _ensure_demo_source(obj)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    commands = {
        "api": [
            str(bin_dir / "uvicorn"),
            "--factory",
            "api.main:create_app",
            "--host",
            host,
            "--port",
            str(api_port),
            "--workers",
            str(workers),
        ],
        "dagster-webserver": [
            str(bin_dir / "dagster-webserver"),
            "-w",
            str(WORKSPACE_YAML),
            "-h",
            host,
            "-p",
            str(dagster_port),
        ],
        "dagster-daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
    }
    children = {
        name: subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
        for name, command in commands.items()
    }
    click.echo(f"API       http://{host}:{api_port}/health")
    click.echo(f"Dagster   http://{host}:{dagster_port}/assets")
    click.echo(f"Home      {obj.settings.resolved_home}")
    bearer = mint_token(signing_secret(obj.settings), user=CLI_OWNER, ttl=UP_TOKEN_TTL)
    click.echo(f"Token     {bearer}  (user {CLI_OWNER}, {UP_TOKEN_TTL.days} days)")
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(1)
        failed = [name for name, child in children.items() if child.poll() is not None]
        raise click.ClickException(f"{', '.join(failed)} stopped; shutting down the rest")
    except KeyboardInterrupt:
        click.echo("Stopping...")
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def _ensure_demo_source(obj: CliContext) -> None:
    """Add this repository through the `git` connector once, and queue its first sync."""
    with obj.store.session() as session:
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
