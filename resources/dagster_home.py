"""The Dagster instance Headwater runs on: $HEADWATER_HOME/dagster, from its instance config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from resources.instance_config import PROJECT_ROOT, instance_yaml
from resources.settings import Settings

WORKSPACE_YAML = PROJECT_ROOT / "workspace.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with the instance config and point this process (and children) at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.resolved_home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    source = instance_yaml(settings.dagster_yaml)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def create_dagster_storage(home: Path) -> None:
    """Open the instance of `home` once, which creates its storage (SQLite files or tables).

    Done before the API, webserver and daemon start: each would otherwise create it on first use,
    at the same moment, and Dagster's storage set-up does not expect company ("table already
    exists", "database is locked").
    """
    DagsterInstance.from_config(str(home)).dispose()


def dagster_instance(settings: Settings) -> DagsterInstance:
    """The persistent Dagster instance of these settings."""
    prepare_dagster_home(settings)
    return DagsterInstance.get()
