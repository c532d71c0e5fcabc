"""The connector catalog comes from the registered connectors' own specs."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from resources.connectors.registry import CONNECTORS
from tests.api.conftest import ApiServer


def test_the_catalog_lists_every_registered_connector(api: ApiServer) -> None:
    client = api.client()
    body = client.get("/connectors").json()
    assert body["total"] == len(CONNECTORS)
    entries = {entry["type"]: entry for entry in body["connectors"]}
    assert sorted(entries) == sorted(CONNECTORS)
    for entry in entries.values():
        Draft202012Validator.check_schema(entry["configSchema"])
        Draft202012Validator.check_schema(entry["optionsSchema"])
        assert "errorMessage" not in str(entry["configSchema"])  # standard keywords only
        assert set(entry["secretFields"]) <= set(entry["configSchema"]["properties"])
        assert entry["capabilities"]["read"] is True and entry["isEnabled"] is True
        for option in entry["optionsSchema"]["properties"].values():
            assert option["minimum"] <= option["default"] <= option["maximum"]
    github = entries["github"]
    assert github["secretFields"] == ["token"]
    assert github["configSchema"]["properties"]["token"]["writeOnly"] is True
    assert github["configSchema"]["required"] == ["owner", "repo"]
    assert github["authMethods"] == ["apiKey", "oauth2", "none"]
    assert github["optionsSchema"]["properties"]["chunkMaxTokens"]["default"] == 512
    assert entries["local"]["authMethods"] == ["none"]
    assert entries["local"]["capabilities"]["renames"] is False
    assert entries["local"]["category"] == "filesystem"


def test_one_connector_and_an_unknown_one(api: ApiServer) -> None:
    client = api.client()
    git = client.get("/connectors/git")
    assert git.status_code == 200 and git.json()["displayName"]
    missing = client.get("/connectors/nope")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "CONNECTOR_NOT_FOUND" and "git" in error["details"]["known"]
    assert api.anonymous().get("/connectors").status_code == 401
