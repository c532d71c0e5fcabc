"""The lake on S3 (moto in server mode) under production's configuration, end to end.

The API and the `headwater` CLI (running syncs in its own process) share one home: the
metadata store and the Dagster instance on PostgreSQL, the lake under an `s3://` URL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from resources.lake import Lake
from tests.api.conftest import ApiServer, create_local_source, notes_folder, run_server, server_env
from tests.profile import (
    PRODUCTION,
    PostgresDatabases,
    Profile,
    S3Server,
    lake_objects,
    only_in,
)
from tests.tcp_gate import running_gate

# It builds production's set-up itself: once, in the production pass.
pytestmark = [pytest.mark.slow, only_in(PRODUCTION)]

HEADWATER = str(Path(sys.executable).parent / "headwater")
KILL_DEADLINE_S = 120


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    s3_server: S3Server,
) -> Iterator[ApiServer]:
    """The API on production's configuration, whatever the session's profile."""
    home = tmp_path_factory.mktemp("s3lake") / "home"
    env = Profile(PRODUCTION, databases=postgres_databases, s3=s3_server).home_env(home)
    with run_server(home, **env, HEADWATER_RATE_LIMIT_SYNC="1000/minute") as server:
        yield server


def headwater(api: ApiServer, *args: str, **env: str) -> subprocess.Popen[str]:
    """Start the CLI on the API's home (and configuration, with `env` on top)."""
    return subprocess.Popen(
        [HEADWATER, *args],
        env=server_env(api.home, **{**api.env, **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sync(api: ApiServer, source_id: str, *flags: str) -> dict[str, Any]:
    """Run a sync in the CLI's own process (no daemon runs); the finished job."""
    process = headwater(api, "sync", source_id, *flags, "--json")
    out, err = process.communicate(timeout=KILL_DEADLINE_S)
    assert process.returncode == 0, err[-3000:]
    job: dict[str, Any] = json.loads(out)
    assert job["status"] == "completed", job
    return job


def listed(api: ApiServer, source_id: str) -> list[str]:
    page = api.client("owner").get(f"/sources/{source_id}/files", params={"limit": 100})
    assert page.status_code == 200, page.text
    return [file["path"] for file in page.json()["files"]]


def versions(api: ApiServer, asset: str, source_id: str) -> set[str]:
    """Names of the version folders an asset partition holds in the bucket."""
    opened = Lake(url=api.data_url).opened
    infos = opened.fs.get_file_info(pafs.FileSelector(f"{opened.root}/{asset}/{source_id}"))
    return {i.base_name for i in infos if i.type == pafs.FileType.Directory}


def test_full_and_incremental_syncs_are_listed_and_delete_removes_every_object(
    api: ApiServer, tmp_path: Path
) -> None:
    folder = notes_folder(tmp_path / "notes", files=3)
    client = api.client("owner")
    source_id = str(create_local_source(client, folder)["source"]["id"])

    full = sync(api, source_id)
    assert full["type"] == "full" and full["stats"]["filesAdded"] == 3
    assert listed(api, source_id) == ["note0.md", "note1.md", "note2.md"]
    stats = client.get(f"/sources/{source_id}").json()["stats"]
    assert stats["filesIndexed"] == 3 and stats["chunksCreated"] >= 3
    assert stats["languages"] == {"markdown": 3}
    assert not (api.home / "lake").exists()  # every table went to the bucket
    assert any(key.endswith("/_CURRENT") for key in lake_objects(api.data_url, source_id))

    (folder / "note1.md").write_text("# Note 1\n\nRewritten.\n")
    (folder / "note2.md").unlink()
    (folder / "extra.py").write_text("def extra() -> int:\n    return 1\n")
    incremental = sync(api, source_id)
    assert incremental["type"] == "incremental"
    assert {k: incremental["stats"][k] for k in ("filesAdded", "filesChanged", "filesDeleted")} == {
        "filesAdded": 1,
        "filesChanged": 1,
        "filesDeleted": 1,
    }
    assert listed(api, source_id) == ["extra.py", "note0.md", "note1.md"]
    assert client.get(f"/sources/{source_id}").json()["stats"]["languages"] == {
        "markdown": 2,
        "python": 1,
    }

    assert client.delete(f"/sources/{source_id}").status_code == 200
    assert lake_objects(api.data_url, source_id) == []


def test_a_run_killed_before_its_switch_leaves_the_last_good_version(
    api: ApiServer, s3_server: S3Server, tmp_path: Path
) -> None:
    folder = notes_folder(tmp_path / "notes", files=2)
    client = api.client("owner")
    source_id = str(create_local_source(client, folder)["source"]["id"])
    sync(api, source_id)
    before = (listed(api, source_id), client.get(f"/sources/{source_id}").json()["stats"])
    committed = versions(api, "raw_files", source_id)

    (folder / "later.md").write_text("# Later\n\nAdded after the first sync.\n")
    bucket_path = api.data_url.split("://", 1)[1].split("?", 1)[0]
    pointer_put = f"PUT /{bucket_path}/raw_files/{source_id}/_CURRENT ".encode()
    host, port = s3_server.endpoint.split(":")
    with running_gate((host, int(port)), hold=pointer_put) as gate:
        gated_url = api.data_url.replace(s3_server.endpoint, f"127.0.0.1:{gate.port}")
        process = headwater(api, "sync", source_id, "--full", HEADWATER_DATA_URL=gated_url)
        try:
            assert gate.held.wait(KILL_DEADLINE_S), process.communicate(timeout=5)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)

    # Every part and the manifest of the new version were written; its pointer never was.
    orphaned = versions(api, "raw_files", source_id) - committed
    assert len(orphaned) == 1
    assert (listed(api, source_id), client.get(f"/sources/{source_id}").json()["stats"]) == before

    sync(api, source_id, "--full")
    assert listed(api, source_id) == ["later.md", "note0.md", "note1.md"]
    assert not orphaned & versions(api, "raw_files", source_id)  # pruned by the next commit
