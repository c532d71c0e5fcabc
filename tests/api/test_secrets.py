"""A connector's secret fields are encrypted in the store and never returned."""

from __future__ import annotations

from tests.api.conftest import ApiServer
from tests.profile import stored_bytes

TOKEN = "ghp_never_shown_0123456789"


def test_a_token_in_a_source_config_is_sealed_and_masked(api: ApiServer) -> None:
    client = api.client()
    created = client.post(
        "/sources",
        json={"type": "github", "config": {"owner": "octo", "repo": "hello", "token": TOKEN}},
    )
    assert created.status_code == 201, created.text
    source_id = created.json()["source"]["id"]
    shown = client.get(f"/sources/{source_id}")
    listed = client.get("/sources")
    for response in (created, shown, listed):
        assert TOKEN not in response.text
    assert shown.json()["config"] == {"owner": "octo", "repo": "hello", "token": "********"}
    stored = stored_bytes(api.database_url)
    assert TOKEN.encode() not in stored and b"$sealed" in stored
