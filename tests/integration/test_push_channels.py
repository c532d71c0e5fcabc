"""Push channels on both backends against the fake Drive: opened, renewed, refused, stopped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from resources.metadata import MetadataStore
from resources.source_configs import sealed_config
from resources.store import channels, sources
from resources.store.engine import session_factory
from resources.vault import Vault
from resources.webhooks.channels import open_channel, renew_channels, stop_channels
from tests.fakes.drive_model import DriveError
from tests.fakes.drive_server import FakeDrive, drive_fixture  # noqa: F401

pytestmark = pytest.mark.slow

NOBODY = "http://127.0.0.1:9/webhooks/gdrive"  # nothing listens: notifications go unanswered
TTL = timedelta(hours=2)
WITHIN = timedelta(hours=3)


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault.open(None, home=tmp_path)


def _source(store: MetadataStore, vault: Vault, drive: FakeDrive) -> str:
    folder = drive.add_folder("Team")
    config = {"folderId": folder, "token": drive.token, "apiUrl": drive.api_url}
    with store.session() as session:
        return sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="gdrive",
            name="Team",
            config=sealed_config(vault, "gdrive", config),
        ).id


def _stored(store: MetadataStore, source_id: str) -> list[tuple[str, str | None]]:
    with store.session() as session:
        return [(c.id, c.resource_id) for c in channels.channels_of_source(session, source_id)]


def test_channels_are_opened_renewed_and_stopped(
    store: MetadataStore, vault: Vault, drive: FakeDrive
) -> None:
    sessions = session_factory(store.database_url)
    source_id = _source(store, vault, drive)

    opened = open_channel(sessions, vault, source_id, address=NOBODY, ttl=TTL)

    assert opened is not None
    served = drive.channels[opened.channel_id]
    assert _stored(store, source_id) == [(opened.channel_id, served.resource_id)]
    with store.session() as session:
        row = channels.get_channel(session, opened.channel_id)
        assert row is not None and row.address == NOBODY
        assert opened.token not in str(row.token)
        assert vault.open_value(row.token, name="token") == served.token == opened.token
        assert row.expires_at == opened.expiration

    # Drive refuses a new channel: the old one is kept (it still delivers) and nothing leaks.
    drive.script(DriveError(400, "invalid", "Invalid value for address"), path="/changes/watch")
    (refused,) = renew_channels(sessions, vault, within=WITHIN, ttl=TTL)
    assert refused.new_channel_id is None and "Invalid value for address" in str(refused.error)
    assert list(drive.channels) == [opened.channel_id]
    assert _stored(store, source_id) == [(opened.channel_id, served.resource_id)]

    (renewal,) = renew_channels(sessions, vault, within=WITHIN, ttl=TTL)
    assert renewal.old_channel_id == opened.channel_id and renewal.error is None
    assert list(drive.channels) == [renewal.new_channel_id]
    new = drive.channels[str(renewal.new_channel_id)]
    assert _stored(store, source_id) == [(new.id, new.resource_id)]
    # Channels that expire later than the window are left alone.
    assert renew_channels(sessions, vault, within=timedelta(minutes=30), ttl=TTL) == []

    assert stop_channels(sessions, vault, source_id) == 1
    assert drive.channels == {} and _stored(store, source_id) == []


def test_a_refused_watch_leaves_no_channel(
    store: MetadataStore, vault: Vault, drive: FakeDrive
) -> None:
    sessions = session_factory(store.database_url)
    source_id = _source(store, vault, drive)
    drive.script(DriveError(401, "authError", "Invalid Credentials"), path="/changes")

    assert open_channel(sessions, vault, source_id, address=NOBODY, ttl=TTL) is None
    assert drive.channels == {} and _stored(store, source_id) == []
    # A source whose type pushes nothing gets no channel.
    with store.session() as session:
        local = sources.create_source(
            session, owner_id="alice", tenant_id=None, type="local", name="d", config={"path": "/"}
        ).id
    assert open_channel(sessions, vault, local, address=NOBODY, ttl=TTL) is None
