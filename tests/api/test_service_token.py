"""Internal callers act for a user with `X-Service-Token` and `X-User-Id`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import (
    SERVICE_TOKEN,
    ApiServer,
    create_local_source,
    notes_folder,
    run_server,
)


def test_a_service_call_sees_exactly_what_the_named_user_sees(
    api: ApiServer, tmp_path: Path
) -> None:
    alice = api.client("alice-svc", tenant="acme")
    created = create_local_source(alice, notes_folder(tmp_path / "notes"))
    source = created["source"]
    assert isinstance(source, dict)
    service = api.anonymous()
    as_alice = {"X-Service-Token": SERVICE_TOKEN, "X-User-Id": "alice-svc", "X-Tenant-Id": "acme"}
    listed = service.get("/sources", headers=as_alice)
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["sources"]] == [source["id"]]
    # The same user without the tenant is somebody else.
    no_tenant = {k: v for k, v in as_alice.items() if k != "X-Tenant-Id"}
    assert service.get(f"/sources/{source['id']}", headers=no_tenant).status_code == 404


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Service-Token": "wrong", "X-User-Id": "alice"}, "invalid service token"),
        ({"X-Service-Token": SERVICE_TOKEN}, "X-User-Id"),
        ({"X-Service-Token": SERVICE_TOKEN, "X-User-Id": ""}, "X-User-Id"),
    ],
)
def test_bad_service_calls_are_401(api: ApiServer, headers: dict[str, str], reason: str) -> None:
    response = api.anonymous().get("/sources", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "UNAUTHORIZED" and reason in error["message"]
    assert SERVICE_TOKEN not in response.text


def test_service_calls_are_refused_when_no_token_is_configured(tmp_path: Path) -> None:
    with run_server(tmp_path / "home", HEADWATER_SERVICE_TOKEN="") as server:
        response = server.anonymous().get(
            "/sources", headers={"X-Service-Token": SERVICE_TOKEN, "X-User-Id": "alice"}
        )
    assert response.status_code == 401
    assert "disabled" in response.json()["error"]["message"]
