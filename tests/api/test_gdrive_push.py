"""Drive push notifications end to end: the API under uvicorn, a fake Drive that opens
channels and posts notifications, real Dagster runs and a real schedule tick."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import select

from connector_assets.definitions import build_definitions
from resources.dagster_home import dagster_instance
from resources.metadata import MetadataStore
from resources.settings import Settings, get_settings
from resources.store.models import JobStatus, WebhookRejection
from sensors.channel_renewal import SCHEDULE_NAME, channel_renewal_schedule
from tests.api.conftest import ApiServer, run_server, settings_like
from tests.fakes.drive_server import FakeDrive, running_drive
from tests.profile import stored_bytes
from tests.runs import run_job

pytestmark = pytest.mark.slow

HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One API for the module, its public URL the one it serves at."""
    home = tmp_path_factory.mktemp("gdrive") / "home"
    with run_server(home, HEADWATER_RATE_LIMIT_DEFAULT="10000/minute") as server:
        yield server


@pytest.fixture
def drive() -> Iterator[FakeDrive]:
    """A fake Drive that gives channels an hour: inside the renewal window (24 hours)."""
    with running_drive() as fake:
        fake.channel_ttl_cap_ms = HOUR_MS
        yield fake


@pytest.fixture
def here(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This process's settings on the server's home: to run jobs and ticks as the daemon would."""
    yield settings_like(api, monkeypatch)
    get_settings.cache_clear()


def _team(drive: FakeDrive) -> dict[str, str]:
    folder = drive.add_folder("Team")
    return {
        "folder": folder,
        "design": drive.add_document("Design", "# Design\n\nFirst.\n", parent=folder),
        "budget": drive.add_spreadsheet("Budget", "item,amount\nservers,1\n", parent=folder),
        "notes": drive.add_file("notes.txt", b"notes\n", mime_type="text/plain", parent=folder),
    }


def _jobs(client: httpx.Client, source_id: str) -> list[dict[str, Any]]:
    listed = client.get("/jobs", params={"sourceId": source_id}).json()
    jobs: list[dict[str, Any]] = listed["jobs"]
    return jobs


def _rejections(api: ApiServer) -> list[tuple[str, str]]:
    with api.store().session() as session:
        rows = session.execute(
            select(WebhookRejection.provider, WebhookRejection.reason).order_by(WebhookRejection.id)
        )
        return [(provider, reason) for provider, reason in rows]


def _tick(settings: Settings) -> str:
    """One evaluation of the renewal schedule, as the daemon makes it."""
    schedule = channel_renewal_schedule(
        within=settings.push_channel_renew_within, ttl=settings.push_channel_ttl
    )
    assert schedule.name == SCHEDULE_NAME and schedule.cron_schedule == "0 * * * *"
    resources = build_definitions(settings).resources
    with dg.build_schedule_context(
        instance=dagster_instance(settings), resources=resources
    ) as context:
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    return result.skip_message or ""


def test_a_change_in_drive_becomes_one_incremental_run_through_a_push_notification(
    api: ApiServer, drive: FakeDrive, here: Settings
) -> None:
    team = _team(drive)
    client = api.client()
    config = {"folderId": team["folder"], "token": drive.token, "apiUrl": drive.api_url}
    created = client.post("/sources", json={"type": "gdrive", "config": config})
    assert created.status_code == 201, created.text
    source_id = created.json()["source"]["id"]
    address = f"{api.url}/webhooks/gdrive"
    assert created.json()["webhook"] == {"url": address, "secret": None, "registered": True}

    # Drive opened the channel and sent its `sync` message, which queued nothing.
    (channel,) = drive.channels.values()
    assert channel.address == address and channel.token
    (sync,) = drive.deliveries
    assert (sync.state, sync.status) == ("sync", 200)
    assert json.loads(sync.answer) == {"received": True, "jobId": None, "jobIds": []}
    assert [job["type"] for job in _jobs(client, source_id)] == ["full"]
    stored = stored_bytes(api.database_url)
    assert channel.token.encode() not in stored and drive.token.encode() not in stored

    store = MetadataStore(database_url=here.resolved_database_url)
    first = run_job(here, store, created.json()["syncJob"]["id"])
    assert first.status is JobStatus.COMPLETED, first.error

    # A change: Drive notifies, and one incremental job is queued...
    drive.edit(team["design"], exports={"text/markdown": "# Design\n\nSecond edition.\n"})
    change = drive.deliveries[-1]
    assert (change.state, change.status) == ("change", 200)
    job_id = json.loads(change.answer)["jobId"]
    assert job_id is not None
    # ...which Drive's retry of that message, and the next change, join.
    retried = drive.push(channel.id, message_number=int(change.headers["X-Goog-Message-Number"]))
    drive.rename(team["budget"], "Budget 2026")
    assert [json.loads(d.answer)["jobId"] for d in (retried, drive.deliveries[-1])] == [job_id] * 2

    # Forged or missing tokens, and unknown channels, are refused and only audited.
    forged = drive.push(channel.id, token="forged-token")
    missing = drive.push(channel.id, token="")
    assert (forged.status, missing.status) == (401, 401)
    assert json.loads(forged.answer)["error"]["code"] == "UNAUTHORIZED"
    unknown = httpx.post(address, headers={**change.headers, "X-Goog-Channel-ID": "nope"})
    assert unknown.status_code == 401
    assert _rejections(api)[-3:] == [
        ("gdrive", "channel token does not match"),
        ("gdrive", "channel token does not match"),
        ("gdrive", "unknown channel"),
    ]
    jobs = _jobs(client, source_id)
    assert [(job["id"], job["type"], job["status"]) for job in jobs] == [
        (job_id, "incremental", "queued"),
        (first.id, "full", "completed"),
    ]

    second = run_job(here, store, job_id)
    assert second.status is JobStatus.COMPLETED, second.error
    stats = second.stats
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 1)
    assert stats["filesTotal"] == 2  # the changes feed named only the two changed files
    files = client.get(f"/sources/{source_id}/files").json()["files"]
    assert sorted(f["path"] for f in files) == ["Budget 2026.csv", "Design.md", "notes.txt"]

    # Renewal: the channel expires within the window, so the schedule replaces it.
    assert _tick(here) == "1 push channels renewed, 0 failed"
    (renewed,) = drive.channels.values()
    assert renewed.id != channel.id and renewed.address == address
    stops = [r for r in drive.requests if r.path.endswith("/channels/stop")]
    assert len(stops) == 1
    assert (drive.deliveries[-1].channel_id, drive.deliveries[-1].state) == (renewed.id, "sync")
    drive.edit(team["notes"], data=b"notes, edited\n")
    assert drive.deliveries[-1].channel_id == renewed.id
    assert json.loads(drive.deliveries[-1].answer)["jobId"] not in (None, job_id)
    stale = httpx.post(address, headers={**change.headers, "X-Goog-Message-Number": "99"})
    assert stale.status_code == 401  # the old channel is forgotten

    # Deleting the source stops its channel at Drive.
    assert client.delete(f"/sources/{source_id}").status_code == 200
    assert drive.channels == {}
    assert len([r for r in drive.requests if r.path.endswith("/channels/stop")]) == 2


def test_the_cli_opens_and_stops_channels_the_same_way(api: ApiServer, drive: FakeDrive) -> None:
    team = _team(drive)
    env = {**api.env, "HEADWATER_PUBLIC_URL": api.url}
    headwater = str(Path(sys.executable).parent / "headwater")
    config = {"folderId": team["folder"], "token": drive.token, "apiUrl": drive.api_url}

    added = subprocess.run(
        [headwater, "sources", "add", "gdrive", "--config", json.dumps(config), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    webhook = json.loads(added.stdout)["webhook"]
    assert webhook == {"url": f"{api.url}/webhooks/gdrive", "secret": None, "registered": True}
    (channel,) = drive.channels.values()
    assert [(d.channel_id, d.state, d.status) for d in drive.deliveries] == [
        (channel.id, "sync", 200)  # the API knows the channel the CLI opened
    ]
    source_id = json.loads(added.stdout)["source"]["id"]
    subprocess.run(
        [headwater, "sources", "delete", source_id, "--json"], env=env, check=True, text=True
    )
    assert drive.channels == {}
