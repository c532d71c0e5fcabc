"""Printing for the CLI: JSON for machines, aligned text for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from api.schemas import JobOut, SourceOut, WebhookSetupOut


def emit_json(data: Any) -> None:
    """Write `data` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def source_lines(source: SourceOut) -> list[str]:
    """A source, for people."""
    stats = source.stats
    lines = [
        f"{source.id}  {source.type:<8} {source.status:<8} {source.name}",
        f"  files {stats.files_indexed}, chunks {stats.chunks_created}, "
        f"{stats.total_size / 1e6:.1f} MB, last sync {source.last_sync_at or 'never'}",
    ]
    if stats.languages:
        top = ", ".join(f"{lang} {n}" for lang, n in list(stats.languages.items())[:6])
        lines.append(f"  languages: {top}")
    if source.last_error:
        lines.append(f"  last error: {source.last_error}")
    return lines


def job_lines(job: JobOut) -> list[str]:
    """A job, for people."""
    s = job.stats
    lines = [
        f"{job.id}  {job.type:<11} {job.status:<9} {job.progress:>3}%  source {job.source_id}"
        f" ({job.trigger})",
        f"  files: {s.files_total} listed, +{s.files_added} ~{s.files_changed} -{s.files_deleted}"
        f", {s.files_skipped} skipped; chunks: {s.chunks_created} new, {s.chunks_embedded}"
        f" embedded, {s.chunks_reused} reused, {s.chunks_deleted} deleted",
    ]
    if job.error:
        lines.append(f"  error: {job.error}")
    return lines


def webhook_line(webhook: WebhookSetupOut) -> str:
    """Where a new source's changes are delivered, for people (a secret shown only once)."""
    if webhook.registered:
        return f"Changes are pushed to {webhook.url}."
    if webhook.secret is not None:
        return f"Set up a push webhook to {webhook.url} with the secret {webhook.secret}"
    return f"No push channel to {webhook.url}: syncs run only when requested."


def echo_lines(lines: list[str]) -> None:
    """Print lines."""
    for line in lines:
        click.echo(line)
