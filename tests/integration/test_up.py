"""`headwater up` on a fresh home: API, Dagster UI and daemon, with the demo source synced.

This is `make run` on the embedded defaults; production's start-up has its own tests
(`test_production_mode.py`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.ports import free_port
from tests.profile import EMBEDDED, only_in, process_env

pytestmark = [pytest.mark.slow, only_in(EMBEDDED)]

DEADLINE_S = 240
ASSETS_QUERY = """
{
  assetNodes { assetKey { path } }
  assetOrError(assetKey: {path: ["chunks"]}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""


def _graphql(port: int) -> dict[str, Any]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": ASSETS_QUERY}, timeout=10
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data


def _session_commands(session: int) -> list[str]:
    """The command lines of the processes in `session`."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == session:
            commands.append(command.replace(b"\0", b" ").decode())
    return commands


def test_up_serves_the_ui_with_the_demo_source_synced(tmp_path: Path) -> None:
    api_port, ui_port = free_port(), free_port()
    env = process_env(tmp_path / "home")
    cli = Path(sys.executable).parent / "headwater"
    process = subprocess.Popen(
        [str(cli), "up", "--api-port", str(api_port), "--dagster-port", str(ui_port)],
        env=env,
        stdout=(tmp_path / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        materialization: dict[str, Any] | None = None
        while materialization is None and time.monotonic() < deadline:
            time.sleep(2)
            try:
                data = _graphql(ui_port)
            except httpx.HTTPError:
                continue
            found = data["assetOrError"].get("assetMaterializations") or []
            materialization = found[0] if found else None
        assert materialization is not None, (tmp_path / "up.log").read_text()[-3000:]
        assets = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert {"raw_files", "documents", "chunks", "embeddings"} <= assets
        metadata = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
        assert metadata["chunks"] > 0 and "tokens" in metadata
        listing = subprocess.run(
            [str(cli), "sources", "list", "--json"], env=env, capture_output=True, check=True
        )
        assert b'"headwater (demo)"' in listing.stdout
        health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=10)
        assert health.status_code == 200 and health.json()["database"] == "connected"
        # The webserver and the daemon share one code server: none starts its own.
        servers = [cmd for cmd in _session_commands(process.pid) if " api grpc " in cmd]
        assert len(servers) == 1, servers
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
