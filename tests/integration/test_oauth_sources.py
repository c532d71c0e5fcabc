"""Code-host sources on OAuth connections of their provider: the connector gets the
connection's token and endpoints, and a connection that needs re-authorization says so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from resources.connectors import connector_class, open_connector
from resources.metadata import MetadataStore
from resources.source_configs import sealed_connection_config, sealed_source_config_with
from resources.source_credentials import ReauthorizationNeeded, connector_config
from resources.store import connections, sources
from resources.store.engine import session_factory
from resources.store.models import ConnectionStatus
from resources.store.owners import Owner
from resources.vault import Vault
from tests.fakes.codehost import FakeCodeHost
from tests.fakes.github_server import github_server_fixture  # noqa: F401
from tests.fakes.gitlab_server import gitlab_server_fixture  # noqa: F401
from tests.gitrepo import seeded_repository
from tests.oauth_connections import oauth_connection

pytestmark = pytest.mark.slow

HOSTS = {"github": "github_server", "gitlab": "gitlab_server"}


@pytest.mark.parametrize("source_type", sorted(HOSTS))
def test_a_code_host_source_runs_with_its_oauth_connections_token(
    source_type: str, store: MetadataStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    host: FakeCodeHost = request.getfixturevalue(HOSTS[source_type])
    host.add_repository("acme", "api", source=seeded_repository(tmp_path / "work"))
    provider = connector_class(source_type).spec.oauth_provider
    assert provider == source_type
    vault = Vault.open(None, home=tmp_path)
    endpoints = {"apiUrl": host.api_url}
    connection_id = oauth_connection(
        store,
        vault,
        provider=provider,
        access_token=host.token,
        refresh_token="rt-x",
        config=sealed_connection_config(vault, provider, endpoints, oauth=True),
        expires_in=timedelta(hours=1),  # fresh: no refresh
    )
    with store.session() as session:
        connection = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert connection is not None
        own = {"owner": "acme", "repo": "api"}
        source_id = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type=source_type,
            name="api",
            config=sealed_source_config_with(vault, source_type, own, connection),
            connection_id=connection_id,
        ).id
    sessions = session_factory(store.database_url)

    found = connector_config(sessions, vault, source_id)

    assert found is not None
    assert found.config == {**own, **endpoints, "token": host.token}
    with open_connector(found.type, found.config, workdir=tmp_path / "cache") as connector:
        result = connector.check()
    assert result.ok, result.message

    with store.session() as session:
        refused = connections.get_connection(session, connection_id, owner=Owner("alice"))
        assert refused is not None
        refused.status = ConnectionStatus.NEEDS_REAUTH
        refused.last_error = f"{provider} refused the refresh token; connect again"
    with pytest.raises(ReauthorizationNeeded) as caught:
        connector_config(sessions, vault, source_id)
    assert f"GET /oauth/{provider}" in caught.value.message
    assert caught.value.details["connectionId"] == connection_id
