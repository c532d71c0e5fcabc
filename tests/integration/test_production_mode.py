"""Every entry point refuses an unsafe production configuration, and starts on a safe one."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from resources.dagster_home import PROJECT_ROOT, WORKSPACE_YAML
from resources.instance_config import DEPLOY_INSTANCE_YAML
from tests.api.conftest import run_server
from tests.profile import PRODUCTION, only_in

# Each test makes its own environment, whatever the profile: once, in the production pass.
pytestmark = [pytest.mark.slow, only_in(PRODUCTION)]

BIN = Path(sys.executable).parent
PROBLEMS = (
    "HEADWATER_ENVIRONMENT=production refuses to start:",
    "- HEADWATER_JWT_SECRET looks like a placeholder",
    "- HEADWATER_ENCRYPTION_KEYS is unset",
    "- HEADWATER_DATABASE_URL names SQLite",
    "keeps its runs, event log and schedules in SQLite",
)
PLACEHOLDER = "changeme-changeme-changeme-changeme"


def unsafe_env(home: Path) -> dict[str, str]:
    """Production on the embedded defaults: SQLite everywhere, no keys, a placeholder secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "DAGSTER_"))}
    return {
        **env,
        "HEADWATER_HOME": str(home),
        "HEADWATER_ENV": "production",
        "HEADWATER_JWT_SECRET": PLACEHOLDER,
        "HEADWATER_DATABASE_URL": f"sqlite:///{home / 'headwater.db'}",
    }


def refused(command: list[str], home: Path, **env: str) -> str:
    """Run `command` on the unsafe configuration; its output, after checking it exited 1."""
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={**unsafe_env(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert all(problem in output for problem in PROBLEMS), output[-3000:]
    assert PLACEHOLDER not in output
    return output


def test_the_cli_refuses_to_start(tmp_path: Path) -> None:
    output = refused([str(BIN / "headwater"), "up", "--no-demo"], tmp_path / "home")
    assert "Error: invalid configuration" in output
    assert not (tmp_path / "home").exists()  # nothing was created, no secret generated


def test_the_api_refuses_to_start(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app"]
    refused([*command, "--port", "0"], tmp_path / "home")


def test_the_code_location_refuses_to_load(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    command = [str(BIN / "dagster"), "definitions", "validate", "-w", str(WORKSPACE_YAML)]
    output = refused(command, tmp_path / "home", DAGSTER_HOME=str(dagster_home))
    assert f"the Dagster instance ({dagster_home / 'dagster.yaml'}) keeps its runs" in output


def test_keys_can_be_generated_before_production_is_configured(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "headwater"), "keys", "generate"],
        env=unsafe_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        check=True,
    )
    Fernet(result.stdout.strip().encode())


def test_the_api_starts_on_a_safe_configuration(
    tmp_path: Path, postgres_url: str, dagster_postgres_url: str
) -> None:
    env = {
        "HEADWATER_ENVIRONMENT": "production",
        "HEADWATER_JWT_SECRET": secrets.token_hex(32),
        "HEADWATER_SERVICE_TOKEN": secrets.token_hex(32),
        "HEADWATER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HEADWATER_DATABASE_URL": postgres_url,
        "HEADWATER_DAGSTER_YAML": str(DEPLOY_INSTANCE_YAML),
        "HEADWATER_DAGSTER_POSTGRES_URL": dagster_postgres_url,
        "HEADWATER_MAX_CONCURRENT_RUNS": "4",
    }
    with run_server(tmp_path / "home", **env) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert not (tmp_path / "home" / "jwt_secret").exists()
    assert not (tmp_path / "home" / "encryption_key").exists()
