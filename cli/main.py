"""The `headwater` command line.

Every module of the CLI imports only click, the standard library and the CLI's own light
modules when it loads; a command imports the libraries it uses (the store, the API's shapes,
Dagster) in its own body. `headwater --help` so loads no more than click, and each command
pays only for what it touches (`tests/unit/test_cli_imports.py` keeps it so).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from cli.context import CLI_OWNER, CliContext
from cli.keys import keys
from cli.openapi import openapi
from cli.output import echo_lines, emit_json, job_lines, source_lines, webhook_line
from cli.tokens import token
from cli.up import up

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from resources.store.models import Source

POLL_S = 0.5

json_option = click.option("--json", "as_json", is_flag=True, help="Print seed 000's JSON shapes.")


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Headwater: connect data sources and keep an AI-ready copy of them fresh."""
    ctx.obj = CliContext()


cli.add_command(up)
cli.add_command(token)
cli.add_command(openapi)
cli.add_command(keys)


@cli.group("sources")
def sources_group() -> None:
    """Add, list, show and delete sources."""


@sources_group.command("add")
@click.argument("source_type")
@click.option("--config", "config_json", required=True, help="The source config as JSON.")
@click.option("--name", default=None, help="A display name (default: derived from the config).")
@click.option(
    "--options",
    "options_json",
    default="{}",
    help="Source options as JSON, e.g. '{\"maxFileBytes\": 1000000}' (the type's optionsSchema).",
)
@json_option
@click.pass_obj
def sources_add(
    obj: CliContext,
    source_type: str,
    config_json: str,
    name: str | None,
    options_json: str,
    as_json: bool,
) -> None:
    """Add a source of SOURCE_TYPE and queue its first full sync."""
    from api.views import webhook_setup
    from resources.connectors import ConnectorError
    from resources.source_configs import sealed_config
    from resources.store import jobs, sources
    from resources.store.models import SyncType
    from resources.webhooks.subscriptions import subscribe

    try:
        config = sealed_config(obj.vault, source_type, json.loads(config_json))
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--config") from error
    except ConnectorError as error:
        raise click.BadParameter(str(error), param_hint="--config") from error
    options = _checked_options(obj, source_type, options_json)
    with obj.session() as session:
        source = sources.create_source(
            session,
            owner_id=CLI_OWNER,
            tenant_id=None,
            type=source_type,
            name=name or sources.default_name(source_type, config),
            config=config,
            options=options,
        )
        job = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="cli")
        source_id, job_id = source.id, job.id
    webhook = webhook_setup(
        subscribe(
            obj.sessions,
            obj.vault,
            source_id,
            public_url=obj.public_url,
            channel_ttl=obj.settings.push_channel_ttl,
        )
    )
    if as_json:
        emit_json(
            {
                "source": {"id": source_id, "type": source_type, "status": "pending"},
                "syncJob": {"id": job_id, "status": "queued"},
                "webhook": webhook.dump() if webhook is not None else None,
            }
        )
        return
    click.echo(f"Added source {source_id}; first sync queued as job {job_id}.")
    if webhook is not None:
        click.echo(webhook_line(webhook))


def _checked_options(
    obj: CliContext,
    source_type: str,
    options_json: str,
    inherited: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `--options` JSON checked against the type's schema (and the connection's options
    the source keeps under its own), or a clean CLI error."""
    from resources.connectors import ConnectorError
    from resources.connectors.registry import validate_options

    try:
        return validate_options(
            source_type, json.loads(options_json), defaults=obj.option_defaults, inherited=inherited
        )
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--options") from error
    except ConnectorError as error:
        raise click.BadParameter(str(error), param_hint="--options") from error


@sources_group.command("list")
@json_option
@click.pass_obj
def sources_list(obj: CliContext, as_json: bool) -> None:
    """List every source."""
    from api.views import source_view
    from resources.store import sources

    with obj.session() as session:
        rows, total = sources.list_sources(session, limit=1_000)
        views = [source_view(source, obj.lake, defaults=obj.option_defaults) for source in rows]
    if as_json:
        emit_json({"sources": [v.dump() for v in views], "total": total})
        return
    for view in views:
        echo_lines(source_lines(view))
    click.echo(f"{total} source(s)")


def _source(session: Session, source_id: str) -> Source:
    """The source with this id, or a clean CLI error."""
    from resources.store import sources

    source = sources.get_source(session, source_id)
    if source is None:
        raise click.ClickException(f"Source with ID {source_id} not found")
    return source


@sources_group.command("show")
@click.argument("source_id")
@json_option
@click.pass_obj
def sources_show(obj: CliContext, source_id: str, as_json: bool) -> None:
    """Show one source with its indexed figures."""
    from api.views import source_view

    with obj.session() as session:
        view = source_view(_source(session, source_id), obj.lake, defaults=obj.option_defaults)
    if as_json:
        emit_json(view.dump())
    else:
        echo_lines(source_lines(view))


@sources_group.command("update")
@click.argument("source_id")
@click.option("--name", default=None, help="A new display name.")
@click.option(
    "--options",
    "options_json",
    default=None,
    help="Options replacing the source's own, as JSON, e.g. '{\"syncIntervalMinutes\": 60}'.",
)
@json_option
@click.pass_obj
def sources_update(
    obj: CliContext, source_id: str, name: str | None, options_json: str | None, as_json: bool
) -> None:
    """Rename a source or replace its own options (as `PATCH /sources/{id}`)."""
    from api.views import source_view
    from resources.source_configs import inherited_options
    from resources.store import sources

    with obj.session() as session:
        source = _source(session, source_id)
        options = source.options
        if options_json is not None:
            options = _checked_options(obj, source.type, options_json, inherited_options(source))
        sources.update_source(session, source, name=name or source.name, options=options)
        view = source_view(source, obj.lake, defaults=obj.option_defaults)
    if as_json:
        emit_json(view.dump())
    else:
        echo_lines(source_lines(view))


@sources_group.command("delete")
@click.argument("source_id")
@json_option
@click.pass_obj
def sources_delete(obj: CliContext, source_id: str, as_json: bool) -> None:
    """Delete a source, its jobs and its lake data."""
    from api.views import source_view
    from resources.source_data import drop_source_data
    from resources.store import sources
    from resources.webhooks.subscriptions import unsubscribe

    with obj.session() as session:
        view = source_view(_source(session, source_id), obj.lake, defaults=obj.option_defaults)
    unsubscribe(obj.sessions, obj.vault, source_id)
    with obj.session() as session:
        sources.delete_source(session, _source(session, source_id))
    drop_source_data(obj.lake, source_id)
    result = {
        "message": "Source deleted",
        "filesRemoved": view.stats.files_indexed,
        "chunksRemoved": view.stats.chunks_created,
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"Deleted {source_id}: {result['filesRemoved']} files, "
            f"{result['chunksRemoved']} chunks removed."
        )


@cli.command("sync")
@click.argument("source_id")
@click.option("--full", is_flag=True, help="Ignore the cursor and recompute (vectors reused).")
@click.option("--wait", is_flag=True, help="Wait for the job to finish, with a progress bar.")
@json_option
@click.pass_obj
def sync(obj: CliContext, source_id: str, full: bool, wait: bool, as_json: bool) -> None:
    """Queue a sync of SOURCE_ID; without a running daemon, run it here."""
    from cli.runner import run_in_process
    from resources.dagster_home import dagster_instance
    from resources.dagster_runs import daemon_alive
    from resources.store import jobs
    from resources.store.models import JobStatus, SyncType

    with obj.session() as session:
        source = _source(session, source_id)
        job = jobs.enqueue_sync(
            session,
            source=source,
            type=SyncType.FULL if full else SyncType.INCREMENTAL,
            trigger="cli",
        )
        job_id = job.id
    instance = dagster_instance(obj.settings)
    if not daemon_alive(instance):
        run_in_process(settings=obj.settings, instance=instance, store=obj.store, job_id=job_id)
    elif wait:
        _wait(obj, job_id, show_bar=not as_json)
    _print_job(obj, job_id, as_json=as_json)
    with obj.session() as session:
        finished = jobs.get_job(session, job_id)
        if finished is not None and finished.status is JobStatus.FAILED:
            raise SystemExit(1)


def _wait(obj: CliContext, job_id: str, *, show_bar: bool) -> None:
    from resources.store import jobs

    with click.progressbar(length=100, label="syncing", hidden=not show_bar) as bar:
        shown = 0
        while True:
            with obj.session() as session:
                job = jobs.get_job(session, job_id)
                assert job is not None
                progress, status, stage = job.progress, job.status, job.stage
            bar.label = f"{status.value} {stage or ''}".strip()
            bar.update(progress - shown)
            shown = progress
            if status.finished:
                return
            time.sleep(POLL_S)


def _print_job(obj: CliContext, job_id: str, *, as_json: bool) -> None:
    from api.views import job_view
    from resources.store import jobs

    with obj.session() as session:
        job = jobs.get_job(session, job_id)
        if job is None:
            raise click.ClickException(f"Job with ID {job_id} not found")
        view = job_view(job)
    if as_json:
        emit_json(view.dump())
    else:
        echo_lines(job_lines(view))


@cli.group("jobs")
def jobs_group() -> None:
    """Inspect sync jobs."""


@jobs_group.command("show")
@click.argument("job_id")
@json_option
@click.pass_obj
def jobs_show(obj: CliContext, job_id: str, as_json: bool) -> None:
    """Show a job's status, progress and stats."""
    _print_job(obj, job_id, as_json=as_json)
