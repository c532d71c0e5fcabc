"""The deployment picks the executor of every sync; Celery's URLs stay out of Dagster's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import ExecutorDefinition
from pydantic import SecretStr, ValidationError

from connector_assets.definitions import build_definitions
from resources.settings import Settings

BROKER = "pyamqp://headwater:hunter2-broker@mq.internal:5672/headwater"


def sync_executor(settings: Settings) -> ExecutorDefinition:
    return build_definitions(settings).resolve_job_def("sync_source").executor_def


def test_syncs_run_in_process_unless_the_deployment_names_celery(tmp_path: Path) -> None:
    assert sync_executor(Settings(home=tmp_path)).name == "in_process"


def test_celery_reads_its_broker_from_the_environment_when_a_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADWATER_CELERY_BACKEND_URL", raising=False)
    settings = Settings(
        home=tmp_path,
        executor="celery",
        celery_broker_url=SecretStr(BROKER),
        celery_queue="headwater-syncs",
    )
    executor = sync_executor(settings)
    assert executor.name == "celery"
    # Not baked into the definitions (which the UI shows): the run's environment gives it.
    rotated = BROKER.replace("hunter2", "rotated")
    monkeypatch.setenv("HEADWATER_CELERY_BROKER_URL", rotated)
    resolved = executor.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    config = resolved.value["config"]
    assert (config["broker"], config["backend"]) == (rotated, "rpc://")
    assert config["config_source"] == {"task_default_queue": "headwater-syncs"}


def test_celery_without_a_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_CELERY_BROKER_URL", raising=False)
    with pytest.raises(ValidationError, match="HEADWATER_CELERY_BROKER_URL is unset"):
        Settings(executor="celery")
