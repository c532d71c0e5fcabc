"""Which Dagster instance config Headwater runs on, and whether it keeps its state on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INSTANCE_YAML = PROJECT_ROOT / "dagster.yaml"
DEPLOY_INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
POSTGRES_STORAGE_MODULE = "dagster_postgres"
# dagster-postgres binds parameters client-side (psycopg2); SQLAlchemy 2.1 gives a plain
# `postgresql://` URL psycopg 3, on which Dagster's event log fails at the first event.
DAGSTER_POSTGRES_DRIVER = "postgresql+psycopg2"
LEGACY_STORAGES = ("run_storage", "event_log_storage", "schedule_storage")


def instance_yaml(dagster_yaml: Path | None) -> Path:
    """The instance config: `HEADWATER_DAGSTER_YAML` when given, else the embedded default.

    Without `HEADWATER_DAGSTER_YAML`, an operator's own `$DAGSTER_HOME/dagster.yaml` (a Helm
    chart's, say) is the one in use when DAGSTER_HOME is set and has one.
    """
    if dagster_yaml is not None:
        return dagster_yaml.expanduser().resolve()
    operator_home = os.environ.get("DAGSTER_HOME")
    if operator_home and (Path(operator_home) / "dagster.yaml").is_file():
        return Path(operator_home) / "dagster.yaml"
    return DEFAULT_INSTANCE_YAML


def dagster_storage_problems(path: Path) -> list[str]:
    """Why the instance config at `path` does not keep Dagster's state on PostgreSQL."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        return [f"the Dagster instance config {path} cannot be read: {error}"]
    if not isinstance(config, dict):
        return [f"the Dagster instance config {path} is not a mapping"]
    storages = _storages(config)
    problems = [
        f"the Dagster instance ({path}) keeps its {what} in SQLite: set "
        "HEADWATER_DAGSTER_YAML=deploy/dagster.yaml and HEADWATER_DAGSTER_POSTGRES_URL"
        for what, storage in storages.items()
        if not _on_postgres(storage)
    ]
    problems += [
        f"{variable} is unset (the Dagster instance {path} reads it)"
        for variable in sorted(set(_env_references(config)))
        if not os.environ.get(variable)
    ]
    problems += [
        f"{where} must name the psycopg2 driver ({DAGSTER_POSTGRES_DRIVER}://...): "
        "dagster-postgres fails on psycopg 3, SQLAlchemy's default for postgresql://"
        for where, scheme in sorted(set(_postgres_schemes(storages.values())))
        if scheme != DAGSTER_POSTGRES_DRIVER
    ]
    return problems


def _storages(config: dict[str, Any]) -> dict[str, Any]:
    """What is stored -> its storage config (None: Dagster's SQLite default)."""
    if "storage" in config:
        return {"runs, event log and schedules": config["storage"]}
    if any(name in config for name in LEGACY_STORAGES):
        return {name.replace("_", " "): config.get(name) for name in LEGACY_STORAGES}
    return {"runs, event log and schedules": None}


def _on_postgres(storage: Any) -> bool:
    if not isinstance(storage, dict):
        return False
    return "postgres" in storage or str(storage.get("module", "")).startswith(
        POSTGRES_STORAGE_MODULE
    )


def _postgres_schemes(storages: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(where it is set, URL scheme) of each PostgreSQL connection the storages name."""
    for storage in storages:
        if not isinstance(storage, dict):
            continue
        config = storage.get("postgres", storage.get("config"))
        if not isinstance(config, dict):
            continue
        url = config.get("postgres_url")
        if isinstance(url, dict) and isinstance(url.get("env"), str):
            where, url = url["env"], os.environ.get(url["env"])
        else:
            where = "the Dagster instance's postgres_url"
        if isinstance(url, str) and "://" in url:
            yield where, url.split("://", 1)[0]
        database = config.get("postgres_db")
        if isinstance(database, dict) and isinstance(database.get("scheme", ""), str):
            yield "the Dagster instance's postgres_db.scheme", database.get("scheme", "postgresql")


def _env_references(node: Any) -> Iterator[str]:
    """Names of the environment variables a Dagster config reads (`{env: NAME}`)."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
        for value in node.values():
            yield from _env_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_references(item)
