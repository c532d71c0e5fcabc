"""The `gdrive` connector against a fake Drive v3 served on uvicorn (see tests/fakes)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from resources.connectors import (
    Changes,
    ConfigError,
    ConnectorError,
    connector_types,
    validate_config,
)
from resources.connectors.base import ChangeWatcher, ConnectionTester
from resources.connectors.gdrive import INDEX_FILE, GdriveConnector
from resources.connectors.rest import RetryPolicy
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.oauth.flow import TOKEN_FIELDS
from resources.settings import get_settings
from resources.source_configs import sealed_connection_config, sealed_source_config_with
from resources.store import connections, sources
from resources.store.models import ConnectionStatus, JobStatus, SyncType, utcnow
from resources.store.owners import Owner
from resources.vault import Vault
from tests.documents import make_pdf
from tests.fakes.drive_model import DriveError
from tests.fakes.drive_server import (
    RATE_LIMIT,
    USER_EMAIL,
    USER_RATE_LIMIT,
    FakeDrive,
    drive_fixture,  # noqa: F401  (provides the `drive` fixture)
)
from tests.fakes.oauth_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeOAuthServer,
    running_oauth_server,
)
from tests.oauth_connections import oauth_connection
from tests.runs import sync_source, table

pytestmark = pytest.mark.slow

TEST_RETRY = RetryPolicy(attempts=3, backoff_s=0.01, rate_limit_wait_s=0.02, max_wait_s=30.0)
DESIGN_MD = "# Design\n\nThe service answers in **markdown**.\n"
BUDGET_CSV = "item,amount\nservers,1200\nlicenses,300\n"
DECK_TXT = "Roadmap\n\nQ1: ship the connector\n"
NOTES_TXT = "plain notes\n"
OLD_PLAN_MD = "# Old plan\n\nArchived.\n"
NOBODY = "http://127.0.0.1:9/webhooks/gdrive"  # nothing listens: notifications go unanswered
REFRESH_TOKEN = "rt-seeded-" + "g" * 20
STALE_TOKEN = "at-stale-" + "s" * 20

Connect = Callable[..., GdriveConnector]


@dataclass
class Team:
    """Ids of the synced folder `Team` and what is in it (and one file outside)."""

    folder: str
    archive: str
    design: str
    budget: str
    deck: str
    spec: str
    notes: str
    old_plan: str
    outside: str


def build_team(drive: FakeDrive) -> Team:
    folder = drive.add_folder("Team")
    archive = drive.add_folder("Archive", folder)
    return Team(
        folder=folder,
        archive=archive,
        design=drive.add_document("Design", DESIGN_MD, parent=folder),
        budget=drive.add_spreadsheet("Budget", BUDGET_CSV, parent=folder),
        deck=drive.add_presentation("Deck", DECK_TXT, parent=folder),
        spec=drive.add_file(
            "spec.pdf", make_pdf("Spec page one"), mime_type="application/pdf", parent=folder
        ),
        notes=drive.add_file(
            "notes.txt", NOTES_TXT.encode(), mime_type="text/plain", parent=folder
        ),
        old_plan=drive.add_document("Old plan", OLD_PLAN_MD, parent=archive),
        outside=drive.add_document("Elsewhere", "# Not synced\n"),
    )


TEAM_PATHS = [
    "Archive/Old plan.md",
    "Budget.csv",
    "Deck.txt",
    "Design.md",
    "notes.txt",
    "spec.pdf",
]


@pytest.fixture
def team(drive: FakeDrive) -> Team:
    return build_team(drive)


@pytest.fixture
def waits() -> list[float]:
    """Every wait the connector asked for (recorded instead of slept)."""
    return []


@pytest.fixture
def connect(drive: FakeDrive, team: Team, tmp_path: Path, waits: list[float]) -> Iterator[Connect]:
    opened: list[GdriveConnector] = []

    def make(**overrides: Any) -> GdriveConnector:
        config = {
            "folderId": team.folder,
            "token": drive.token,
            "apiUrl": drive.api_url,
            **overrides,
        }
        connector = GdriveConnector(
            validate_config("gdrive", config),
            workdir=tmp_path / "cache",
            retry=TEST_RETRY,
            sleep=waits.append,
        )
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()


def contents(connector: GdriveConnector, entries: Any) -> dict[str, bytes | str | None]:
    """Path -> bytes read, or the error for files that could not be read."""
    return {
        item.entry.path: item.data if item.data is not None else item.error
        for item in connector.fetch(entries)
    }


def full_listing(connector: GdriveConnector) -> tuple[Changes, dict[str, str]]:
    """A full listing, and what a sync of it knows (path -> version)."""
    first = connector.changes(cursor=None, known={})
    return first, {entry.path: entry.version for entry in first.upserts}


def test_registered_with_the_seed_config_and_a_secret_token() -> None:
    spec = {spec.type: spec for spec in connector_types()}["gdrive"]
    assert spec.category == "drive" and spec.secret_fields == ("token",)
    assert {"incremental", "webhooks"} <= set(spec.capabilities)
    seed = {
        "folderId": "1abc",
        "includeShared": True,
        "fileTypes": ["document", "spreadsheet", "pdf"],
    }
    assert validate_config("gdrive", {**seed, "token": "t"}) == {**seed, "token": "t"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"token": "t"}, "config.folderId"),
        ({"folderId": "1abc"}, "config.token"),
        ({"folderId": "a/b", "token": "t"}, "config.folderId"),
        ({"folderId": "1abc", "token": "t", "fileTypes": ["video"]}, "config.fileTypes[0]"),
        ({"folderId": "1abc", "token": "t", "fileTypes": []}, "config.fileTypes"),
        ({"folderId": "1abc", "token": "t", "includeShared": "yes"}, "config.includeShared"),
        ({"folderId": "1abc", "token": "t", "apiUrl": "ftp://x"}, "config.apiUrl"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("gdrive", config)
    assert caught.value.field == field


def test_full_listing_exports_workspace_files_and_downloads_the_rest(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    changes = connector.changes(cursor=None, known={})
    entries = list(changes.upserts)
    assert [entry.path for entry in entries] == TEAM_PATHS
    assert changes.deletes == [] and changes.cursor is not None
    read = contents(connector, entries)
    assert read["Design.md"] == DESIGN_MD.encode()
    assert read["Budget.csv"] == BUDGET_CSV.encode()
    assert read["Deck.txt"] == DECK_TXT.encode()
    assert read["notes.txt"] == NOTES_TXT.encode()
    assert read["Archive/Old plan.md"] == OLD_PLAN_MD.encode()
    pdf = read["spec.pdf"]
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-")

    exports = {
        r.path.split("/")[-2]: r.params["mimeType"]
        for r in drive.requests
        if r.path.endswith("/export")
    }
    assert exports == {
        team.design: "text/markdown",
        team.budget: "text/csv",
        team.deck: "text/plain",
        team.old_plan: "text/markdown",
    }
    downloads = {r.path.rsplit("/", 1)[1] for r in drive.requests if r.params.get("alt") == "media"}
    assert downloads == {team.spec, team.notes}
    listings = [r.params for r in drive.requests if r.path.endswith("/files")]
    assert {p["q"] for p in listings} == {
        f"'{team.folder}' in parents and trashed = false",
        f"'{team.archive}' in parents and trashed = false",
    }
    assert all("nextPageToken" in p["fields"] and "supportsAllDrives" not in p for p in listings)


def test_file_types_select_what_is_listed(connect: Connect) -> None:
    changes = connect(fileTypes=["spreadsheet", "pdf"]).changes(cursor=None, known={})
    assert [entry.path for entry in changes.upserts] == ["Budget.csv", "spec.pdf"]


def test_markdown_refused_falls_back_to_plain_text(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    drive.add_document("Legacy", None, plain="legacy text\n", parent=team.folder)
    connector = connect()
    entries = [e for e in connector.changes(cursor=None, known={}).upserts if e.path == "Legacy.md"]
    assert contents(connector, entries) == {"Legacy.md": b"legacy text\n"}
    asked = [r.params["mimeType"] for r in drive.requests if r.path.endswith("/export")]
    assert asked == ["text/markdown", "text/plain"]


def test_export_over_drives_limit_is_a_file_error_not_a_failed_sync(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    huge = "x" * (10 * 1024 * 1024 + 1)
    drive.add_document("Huge", huge, plain=huge, parent=team.folder)
    connector = connect()
    read = contents(connector, connector.changes(cursor=None, known={}).upserts)
    assert read["Design.md"] == DESIGN_MD.encode()
    error = read["Huge.md"]
    assert isinstance(error, str) and "too large to be exported" in error


def test_a_file_deleted_since_listing_is_a_file_error(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    entries = list(connector.changes(cursor=None, known={}).upserts)
    drive.delete(team.notes)
    read = contents(connector, entries)
    error = read["notes.txt"]
    assert isinstance(error, str) and "File not found" in error
    assert read["Design.md"] == DESIGN_MD.encode()


def test_listing_and_the_changes_feed_follow_pages(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    bulk = drive.add_folder("Bulk", team.folder)
    for i in range(2100):
        drive.add_file(f"f{i:04}.txt", b"x", mime_type="text/plain", parent=bulk)
    connector = connect()
    first = connector.changes(cursor=None, known={})
    entries = list(first.upserts)
    assert len(entries) == 2100 + len(TEAM_PATHS)
    pages = [r.params for r in drive.requests if r.params.get("q", "").startswith(f"'{bulk}'")]
    assert [p.get("pageToken") is not None for p in pages] == [False, True, True]  # 1000 a page

    for i in range(1100):
        drive.add_file(f"n{i:04}.txt", b"y", mime_type="text/plain", parent=bulk)
    second = connector.changes(cursor=first.cursor, known={e.path: e.version for e in entries})
    assert len(list(second.upserts)) == 1100 and second.deletes == []
    assert len([r for r in drive.requests if r.path.endswith("/changes")]) == 2


def test_incremental_replays_only_what_changed(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    first, known = full_listing(connector)
    outside = drive.add_folder("Incoming")
    drive.add_document("Brief", "# Brief\n", parent=outside)

    drive.edit(team.design, exports={"text/markdown": DESIGN_MD + "\nMore.\n"})
    added = drive.add_file("new.txt", b"new\n", mime_type="text/plain", parent=team.folder)
    drive.rename(team.budget, "Budget 2026")
    drive.trash(team.deck)
    drive.move(team.notes, "root")
    drive.move(outside, team.folder)
    drive.delete(team.spec)
    drive.edit(team.outside, exports={"text/markdown": "# Still not synced\n"})
    before = len(drive.requests)

    second = connector.changes(cursor=first.cursor, known=known)
    upserts = {entry.path: entry for entry in second.upserts}
    assert sorted(upserts) == ["Budget 2026.csv", "Design.md", "Incoming/Brief.md", "new.txt"]
    assert upserts["new.txt"].file_id == added
    assert second.deletes == ["Budget.csv", "Deck.txt", "notes.txt", "spec.pdf"]
    assert second.renames == [("Budget.csv", "Budget 2026.csv")]
    assert second.cursor != first.cursor and second.description.startswith("Drive changes")
    asked = drive.requests[before:]
    listed = [r.params["q"] for r in asked if r.path.endswith("/files")]
    assert listed == [f"'{outside}' in parents and trashed = false"]  # only the moved-in folder
    assert any(r.path.endswith("/changes") for r in asked)

    third = connector.changes(
        cursor=second.cursor,
        known={**{k: v for k, v in known.items() if k not in second.deletes}}
        | {path: entry.version for path, entry in upserts.items()},
    )
    assert list(third.upserts) == [] and third.deletes == []


def test_trashing_a_folder_deletes_its_files_and_restoring_brings_them_back(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    first, known = full_listing(connector)
    drive.trash(team.archive)
    second = connector.changes(cursor=first.cursor, known=known)
    assert list(second.upserts) == [] and second.deletes == ["Archive/Old plan.md"]

    known.pop("Archive/Old plan.md")
    drive.trash(team.archive, trashed=False)
    third = connector.changes(cursor=second.cursor, known=known)
    assert [entry.path for entry in third.upserts] == ["Archive/Old plan.md"]


def test_renaming_a_folder_moves_every_path_below_it(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    first, known = full_listing(connector)
    drive.rename(team.archive, "Attic")
    second = connector.changes(cursor=first.cursor, known=known)
    assert [entry.path for entry in second.upserts] == ["Attic/Old plan.md"]
    assert second.deletes == ["Archive/Old plan.md"]
    assert second.renames == [("Archive/Old plan.md", "Attic/Old plan.md")]


def test_a_lost_cache_lists_again_with_the_same_outcome(
    connect: Connect, drive: FakeDrive, team: Team, tmp_path: Path
) -> None:
    connector = connect()
    first, known = full_listing(connector)
    drive.rename(team.budget, "Budget 2026")
    drive.edit(team.notes, data=b"changed\n")
    (tmp_path / "cache" / INDEX_FILE).unlink()
    second = connector.changes(cursor=first.cursor, known=known)
    assert sorted(e.path for e in second.upserts) == ["Budget 2026.csv", "notes.txt"]
    assert second.deletes == ["Budget.csv"]
    assert second.description.startswith("Drive listing")


def test_the_synced_folder_in_the_trash_fails_the_sync(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    first = connector.changes(cursor=None, known={})
    drive.trash(team.folder)
    with pytest.raises(ConnectorError, match="moved to the trash"):
        connector.changes(cursor=first.cursor, known={})


def test_shared_drive_needs_include_shared(connect: Connect, drive: FakeDrive) -> None:
    shared = drive.add_shared_drive("Engineering")
    drive.add_document("Runbook", "# Runbook\n", parent=shared)
    with pytest.raises(ConnectorError, match="set includeShared"):
        connect(folderId=shared).changes(cursor=None, known={})
    connector = connect(folderId=shared, includeShared=True)
    assert [e.path for e in connector.changes(cursor=None, known={}).upserts] == ["Runbook.md"]
    listing = [r.params for r in drive.requests if r.path.endswith("/files")][-1]
    assert listing["supportsAllDrives"] == "true" == listing["includeItemsFromAllDrives"]


@pytest.mark.parametrize("status", [403, 429])
def test_rate_limits_are_retried_after_the_wait(
    connect: Connect, drive: FakeDrive, waits: list[float], status: int
) -> None:
    drive.rate_limit(status=status, retry_after=3, path="/files")
    entries = list(connect().changes(cursor=None, known={}).upserts)
    assert [e.path for e in entries] == TEAM_PATHS
    assert waits == [3.0]


def test_user_rate_limit_without_retry_after_backs_off(
    connect: Connect, drive: FakeDrive, waits: list[float]
) -> None:
    drive.rate_limit(status=403, times=2)
    assert connect().changes(cursor=None, known={}).cursor
    assert waits == [TEST_RETRY.rate_limit_wait_s, TEST_RETRY.rate_limit_wait_s * 2]


def test_rate_limit_that_outlasts_the_retries_fails_transient_with_drives_message(
    connect: Connect, drive: FakeDrive, waits: list[float]
) -> None:
    drive.rate_limit(status=429, times=TEST_RETRY.attempts)
    with pytest.raises(ConnectorError) as caught:
        connect().changes(cursor=None, known={})
    assert caught.value.transient and RATE_LIMIT in caught.value.message
    assert len(waits) == TEST_RETRY.attempts - 1


def test_rate_limit_while_reading_fails_the_sync_not_the_file(
    connect: Connect, drive: FakeDrive
) -> None:
    connector = connect()
    entries = list(connector.changes(cursor=None, known={}).upserts)
    drive.rate_limit(status=403, times=TEST_RETRY.attempts, path="/export")
    with pytest.raises(ConnectorError, match=USER_RATE_LIMIT) as caught:
        contents(connector, entries)
    assert caught.value.transient


def test_forbidden_for_another_reason_is_not_retried(
    connect: Connect, drive: FakeDrive, waits: list[float]
) -> None:
    drive.script(
        DriveError(
            403,
            "insufficientFilePermissions",
            "The user does not have sufficient permissions for this file.",
        )
    )
    with pytest.raises(ConnectorError, match="sufficient permissions") as caught:
        connect().changes(cursor=None, known={})
    assert not caught.value.transient and waits == []
    assert caught.value.details["reason"] == "insufficientFilePermissions"


def test_bad_token(connect: Connect) -> None:
    connector = connect(token="ya29.wrong-token")
    with pytest.raises(ConnectorError, match="bad credentials") as caught:
        connector.changes(cursor=None, known={})
    assert not caught.value.transient and caught.value.details["status"] == 401
    result = connector.check()
    assert not result.ok and [s.ok for s in result.steps] == [False]


def test_check_reaches_lists_and_reads_with_timings(connect: Connect, team: Team) -> None:
    result = connect().check()
    assert result.ok, result.message
    assert [step.name for step in result.steps] == [
        f"GET /files/{team.folder}",
        "list folder",
        "read a sample",
    ]
    assert all(step.ok and step.duration_ms > 0 for step in result.steps)
    assert result.details["folderName"] == "Team" and result.details["items"] == 6
    assert result.details["sample"] == "Budget.csv"
    assert result.message == "Reached Drive folder 'Team': 6 items at the top level"


def test_check_of_a_file_or_missing_folder(connect: Connect, team: Team) -> None:
    result = connect(folderId=team.design).check()
    assert not result.ok and "not a folder" in result.message
    missing = connect(folderId="1missing").check()
    assert not missing.ok and "not found or no access" in missing.message
    assert [(s.name, s.ok) for s in missing.steps] == [("GET /files/1missing", False)]


def test_token_never_reaches_logs_errors_results_or_the_cache(
    connect: Connect,
    drive: FakeDrive,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = connect()
    texts = [repr(connector.check())]
    changes = connector.changes(cursor=None, known={})
    list(connector.fetch(changes.upserts))
    drive.rate_limit(status=429, retry_after=1)
    connector.changes(cursor=changes.cursor, known={})
    bad = connect(token="ya29.wrong-token")
    with pytest.raises(ConnectorError) as caught:
        bad.changes(cursor=None, known={})
    texts += [str(caught.value), repr(caught.value.details), repr(bad.check())]
    texts += [record.getMessage() for record in caplog.records]
    texts.append((tmp_path / "cache" / INDEX_FILE).read_text())
    assert texts and not [t for t in texts if drive.token in t or "wrong-token" in t]
    assert all(r.headers["authorization"] == f"Bearer {drive.token}" for r in drive.requests[:3])


def test_watch_opens_a_channel_that_posts_notifications_until_stopped(
    connect: Connect, drive: FakeDrive, team: Team
) -> None:
    connector = connect()
    assert isinstance(connector, ChangeWatcher)
    opened = connector.watch(
        address=NOBODY, channel_id="chan-1", token="channel-secret", ttl=timedelta(hours=2)
    )
    assert opened.resource_id == drive.channels["chan-1"].resource_id
    assert opened.expiration is not None
    assert opened.expiration - datetime.now(UTC) > timedelta(hours=1, minutes=59)
    watch = next(r for r in drive.requests if r.path.endswith("/changes/watch"))
    assert watch.method == "POST" and watch.params["pageToken"]

    drive.edit(team.design, exports={"text/markdown": "# Design v2\n"})
    sent = [
        (d.state, d.headers["X-Goog-Channel-Token"], d.headers["X-Goog-Message-Number"])
        for d in drive.deliveries
    ]
    assert sent == [("sync", "channel-secret", "1"), ("change", "channel-secret", "2")]

    connector.stop_watch(channel_id="chan-1", resource_id=str(opened.resource_id))
    assert drive.channels == {}
    connector.stop_watch(channel_id="chan-1", resource_id=str(opened.resource_id))  # gone: fine
    drive.edit(team.design, exports={"text/markdown": "# Design v3\n"})
    assert len(drive.deliveries) == 2  # a stopped channel gets nothing


def test_a_connection_test_names_the_user_lists_files_and_reads_one(
    drive: FakeDrive, team: Team
) -> None:
    assert issubclass(GdriveConnector, ConnectionTester)
    assert GdriveConnector.spec.connection_fields == ("token", "apiUrl")
    assert GdriveConnector.spec.oauth_provider == "google"

    result = GdriveConnector.test_connection({"token": drive.token, "apiUrl": drive.api_url})

    assert result.ok, result.message
    assert [(s.name, s.ok) for s in result.steps] == [
        ("GET /about", True),
        ("GET /files", True),
        ("read a sample", True),
    ]
    assert USER_EMAIL in result.message and USER_EMAIL in result.steps[0].detail
    # Drive's first page (the fake orders by name); the first file is exported and read.
    assert result.details["sample"] == ["Archive", "Budget", "Deck", "Design", "Elsewhere"]
    assert result.steps[2].detail == f"read Budget: {len(BUDGET_CSV)} bytes"
    refused = GdriveConnector.test_connection({"token": "wrong", "apiUrl": drive.api_url})
    assert not refused.ok and refused.details["status"] == 401 and len(refused.steps) == 1


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOAuthServer]:
    """An authorization server standing in for Google's, that knows one refresh token."""
    with running_oauth_server() as server:
        for name, value in {
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "TOKEN_URL": f"{server.url}/token",
            "REVOKE_URL": f"{server.url}/revoke",
        }.items():
            monkeypatch.setenv(f"HEADWATER_OAUTH_GOOGLE_{name}", value)
        server.refresh_tokens[REFRESH_TOKEN] = "family"
        yield server


def test_a_source_on_a_google_oauth_connection_syncs_with_refreshed_tokens(
    drive: FakeDrive, team: Team, headwater_home: Path, google: FakeOAuthServer
) -> None:
    drive.accepts = lambda token: token in google.issued  # only what Google issued
    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    lake = Lake(url=settings.resolved_data_url)
    vault = Vault.from_settings(settings)
    connection_id = oauth_connection(
        store,
        vault,
        provider="google",
        access_token=STALE_TOKEN,
        refresh_token=REFRESH_TOKEN,
        config=sealed_connection_config(vault, "google", {"apiUrl": drive.api_url}, oauth=True),
    )
    with store.session() as session:
        connection = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert connection is not None
        source = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="gdrive",
            name="Team",
            config=sealed_source_config_with(
                vault, "gdrive", {"folderId": team.folder}, connection
            ),
            connection_id=connection_id,
        )
        source_id = source.id
        assert source.config == {"folderId": team.folder}

    first = sync_source(settings, store, source_id, SyncType.FULL)

    assert first.status is JobStatus.COMPLETED, first.error
    # The stale token was refreshed once, and the rotated refresh token committed.
    assert google.token_calls == {"refresh_token": 1}
    access, rotated = google.issued[:2]
    assert {r.headers["authorization"] for r in drive.requests} == {f"Bearer {access}"}
    with store.session() as session:
        stored = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert stored is not None and stored.oauth is not None
        assert vault.unseal(stored.oauth, TOKEN_FIELDS)["refreshToken"] == rotated
    assert first.stats["filesAdded"] == len(TEAM_PATHS)
    docs = dict(table(lake, "documents", source_id, "SELECT path, language FROM t"))
    assert docs == {
        "Archive/Old plan.md": "markdown",
        "Budget.csv": "csv",
        "Deck.txt": "text",
        "Design.md": "markdown",
        "notes.txt": "text",
        "spec.pdf": "pdf",
    }
    texts = dict(table(lake, "documents", source_id, "SELECT path, text FROM t"))
    assert "Spec page one" in texts["spec.pdf"] and "**markdown**" in texts["Design.md"]

    drive.edit(team.design, exports={"text/markdown": "# Design\n\nSecond edition.\n"})
    drive.rename(team.budget, "Budget 2026")
    drive.trash(team.deck)
    second = sync_source(settings, store, source_id, SyncType.INCREMENTAL)

    assert second.status is JobStatus.COMPLETED, second.error
    assert google.token_calls == {"refresh_token": 1}  # still fresh: no refresh
    stats = second.stats
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 2)
    assert stats["filesTotal"] == 2  # only the edited and the renamed file were fetched
    texts = dict(table(lake, "documents", source_id, "SELECT path, text FROM t"))
    assert sorted(texts) == [
        "Archive/Old plan.md",
        "Budget 2026.csv",
        "Design.md",
        "notes.txt",
        "spec.pdf",
    ]
    assert "Second edition." in texts["Design.md"]

    # The user removed Headwater's access at Google: the next refresh is refused.
    google.revoke_all()
    with store.session() as session:
        stale = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert stale is not None
        stale.token_expires_at = utcnow()
    third = sync_source(settings, store, source_id, SyncType.INCREMENTAL)

    assert third.status is JobStatus.FAILED
    assert third.error is not None
    assert f"google OAuth connection {connection_id} needs re-authorization" in third.error
    assert "GET /oauth/google" in third.error
    with store.session() as session:
        marked = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert marked is not None and marked.status is ConnectionStatus.NEEDS_REAUTH
    assert google.token_calls == {"refresh_token": 2}
