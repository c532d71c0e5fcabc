"""The Dagster instance Headwater runs on: $HEADWATER_HOME/dagster, from the repo's dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from resources.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INSTANCE_YAML = PROJECT_ROOT / "dagster.yaml"
WORKSPACE_YAML = PROJECT_ROOT / "workspace.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with the instance config and point this process (and children) at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.resolved_home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    source = Path(os.environ.get("HEADWATER_DAGSTER_YAML", DEFAULT_INSTANCE_YAML))
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def dagster_instance(settings: Settings) -> DagsterInstance:
    """The persistent Dagster instance of these settings."""
    prepare_dagster_home(settings)
    return DagsterInstance.get()
