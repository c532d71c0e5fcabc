"""OAuth token refresh on both backends: one token call under concurrency, sealed, rotatable."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text

from resources.key_rotation import rotate_secrets
from resources.metadata import MetadataStore
from resources.oauth.providers import PROVIDERS, Provider
from resources.oauth.tokens import fresh_tokens
from resources.store.engine import session_factory
from resources.vault import Vault
from tests.fakes.oauth_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeOAuthServer,
    running_oauth_server,
)
from tests.oauth_connections import oauth_connection

REFRESH_TOKEN = "rt-seeded-" + "q" * 20
ACCESS_TOKEN = "at-seeded-" + "p" * 20


@pytest.fixture
def server() -> Iterator[FakeOAuthServer]:
    """An authorization server that knows one refresh token and answers refreshes slowly."""
    with running_oauth_server() as fake:
        fake.refresh_tokens[REFRESH_TOKEN] = "family"
        fake.refresh_delay_s = 0.3
        yield fake


def _provider(fake: FakeOAuthServer) -> Provider:
    return replace(
        PROVIDERS["atlassian"],
        token_url=f"{fake.url}/token",
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
    )


def test_concurrent_refreshes_call_once_and_survive_rotation(
    store: MetadataStore, server: FakeOAuthServer, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    connection_id = oauth_connection(
        store,
        Vault.open(old, home=tmp_path),
        provider="atlassian",
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
    )
    sessions = session_factory(store.database_url)
    provider = _provider(server)

    with ThreadPoolExecutor(5) as pool:
        got = list(
            pool.map(
                lambda _: fresh_tokens(
                    sessions, Vault.open(old, home=tmp_path), provider, connection_id
                ),
                range(5),
            )
        )

    assert server.token_calls == {"refresh_token": 1}
    assert {t.access_token for t in got} == {server.issued[0]}
    with store.session() as session:
        raw = " ".join(str(r) for r in session.execute(text("SELECT oauth FROM connections")))
    assert not [t for t in [ACCESS_TOKEN, REFRESH_TOKEN, *server.issued] if t in raw]

    report = rotate_secrets(sessions, Vault.open(f"{new},{old}", home=tmp_path))
    assert report.secrets["connections.oauth"] == 2 and report.failed == []
    only_new = Vault.open(new, home=tmp_path)
    assert (
        fresh_tokens(sessions, only_new, provider, connection_id).access_token
        == got[0].access_token
    )
