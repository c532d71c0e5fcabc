"""Source options over HTTP: in the catalog with bounds and this deployment's defaults,
validated on POST, shown on the source, inherited from connections, and honoured by syncs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from resources.lake import Lake
from resources.store.models import JobStatus
from tests.api.conftest import ApiServer, RunHere, run_server
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer
from tests.runs import table

pytestmark = pytest.mark.slow

# The deployment's defaults differ from the built-in ones, so the answers show which apply.
DEPLOYMENT = {"HEADWATER_CHUNK_MAX_TOKENS": "300", "HEADWATER_CHUNK_OVERLAP_TOKENS": "64"}
DEFAULTS = {
    "maxFileBytes": 5_000_000,
    "chunkMaxTokens": 300,
    "chunkOverlapTokens": 64,
    "syncIntervalMinutes": 0,
}
PARAGRAPH = "Rivers carry water from the hills down to the sea, season after season. "


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with run_server(tmp_path_factory.mktemp("options") / "home", **DEPLOYMENT) as running:
        yield running


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_the_catalog_shows_bounds_and_this_deployments_defaults(server: ApiServer) -> None:
    entry = server.client().get("/connectors/local").json()
    schema = entry["optionsSchema"]
    Draft202012Validator.check_schema(schema)
    properties = schema["properties"]
    assert {name: field["default"] for name, field in properties.items()} == DEFAULTS
    assert (properties["maxFileBytes"]["minimum"], properties["maxFileBytes"]["maximum"]) == (
        1,
        100 * 1024 * 1024,
    )
    assert (properties["chunkMaxTokens"]["minimum"], properties["chunkMaxTokens"]["maximum"]) == (
        32,
        8192,
    )
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"maxFileBytes": 0}, "options.maxFileBytes"),
        ({"maxFileBytes": 100 * 1024 * 1024 + 1}, "options.maxFileBytes"),
        ({"chunkMaxTokens": "big"}, "options.chunkMaxTokens"),
        ({"chunkOverlapTokens": -1}, "options.chunkOverlapTokens"),
        ({"syncIntervalMinutes": -1}, "options.syncIntervalMinutes"),
        ({"syncIntervalMinutes": 30 * 24 * 60 + 1}, "options.syncIntervalMinutes"),
        ({"fileTypes": ["pdf"]}, "options.fileTypes"),
        ({"chunkMaxTokens": 64, "chunkOverlapTokens": 64}, "options.chunkOverlapTokens"),
        # Against the deployment's overlap of 64: a budget of 48 leaves no room for it.
        ({"chunkMaxTokens": 48}, "options.chunkOverlapTokens"),
    ],
)
def test_bad_options_are_refused_naming_the_field(
    server: ApiServer, tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    client = server.client()
    response = client.post(
        "/sources", json={"type": "local", "config": {"path": str(tmp_path)}, "options": options}
    )
    assert _error(response, 400, "VALIDATION_ERROR")["details"]["field"] == field
    assert client.get("/sources").json()["total"] == 0


def test_options_take_effect_in_the_sync(
    server: ApiServer, tmp_path: Path, run_here: RunHere
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.md").write_text("\n\n".join(PARAGRAPH * 3 for _ in range(8)))
    (folder / "big.md").write_text("# Big\n\n" + PARAGRAPH * 60)
    client = server.client()
    tuned = {
        "maxFileBytes": 4_000,
        "chunkMaxTokens": 40,
        "chunkOverlapTokens": 4,
        "syncIntervalMinutes": 60,
    }
    sources = {}
    for name, options in (("plain", {}), ("tuned", tuned)):
        created = client.post(
            "/sources",
            json={
                "type": "local",
                "name": name,
                "config": {"path": str(folder)},
                "options": options,
            },
        )
        assert created.status_code == 201, created.text
        job = run_here(server, created.json()["syncJob"]["id"])
        assert job.status is JobStatus.COMPLETED, job.error
        sources[name] = client.get(f"/sources/{created.json()['source']['id']}").json()

    plain, small = sources["plain"], sources["tuned"]
    assert plain["options"] == DEFAULTS and small["options"] == tuned
    assert plain["stats"]["filesIndexed"] == 2 and small["stats"]["filesIndexed"] == 1
    lake = Lake(url=server.data_url)
    notes = "SELECT count(*), max(token_count) FROM t WHERE path = 'notes.md'"
    plain_chunks, plain_largest = table(lake, "chunks", plain["id"], notes)[0]
    small_chunks, small_largest = table(lake, "chunks", small["id"], notes)[0]
    assert small_chunks > plain_chunks and small_largest <= 80 < plain_largest
    version = lake.current("chunks", small["id"])
    assert version is not None and "max_tokens=40;overlap_tokens=4" in version.meta["chunker"]


def test_connection_options_are_checked_and_inherited(
    server: ApiServer, github: FakeGithubServer
) -> None:
    client = server.client()
    body = {
        "type": "github",
        "name": "acme",
        "config": {"token": FAKE_TOKEN, "apiUrl": github.api_url},
    }
    tiny = client.post("/connections", json={**body, "options": {"chunkMaxTokens": 10}})
    assert _error(tiny, 400, "INVALID_CONFIG")["details"]["field"] == "options.chunkMaxTokens"
    created = client.post(
        "/connections", json={**body, "options": {"chunkMaxTokens": 100, "chunkOverlapTokens": 10}}
    )
    assert created.status_code == 201, created.text
    url = f"/connections/{created.json()['id']}"
    patched = client.patch(url, json={"options": {"maxFileBytes": -5}})
    assert _error(patched, 400, "INVALID_CONFIG")["details"]["field"] == "options.maxFileBytes"
    assert client.get(url).json()["options"] == {"chunkMaxTokens": 100, "chunkOverlapTokens": 10}

    source = {"type": "github", "connectionId": created.json()["id"]}
    source["config"] = {"owner": "acme", "repo": "api"}
    clash = client.post("/sources", json={**source, "options": {"chunkOverlapTokens": 100}})
    assert (
        _error(clash, 400, "VALIDATION_ERROR")["details"]["field"] == "options.chunkOverlapTokens"
    )
    own = {"maxFileBytes": 1234, "chunkOverlapTokens": 90}
    made = client.post("/sources", json={**source, "options": own})
    assert made.status_code == 201, made.text
    source_id = made.json()["source"]["id"]
    shown = client.get(f"/sources/{source_id}").json()
    assert shown["options"] == {**own, "chunkMaxTokens": 100, "syncIntervalMinutes": 0}

    # A budget below the overlap that source keeps is refused, naming the source.
    shrunk = client.patch(url, json={"options": {"chunkMaxTokens": 80}})
    error = _error(shrunk, 400, "INVALID_CONFIG")
    assert error["details"]["field"] == "options.chunkOverlapTokens"
    assert error["details"]["sourceId"] == source_id
    assert client.get(f"/sources/{source_id}").json()["options"]["chunkMaxTokens"] == 100


def test_a_sources_name_and_options_change_by_patch_checked_like_on_create(
    server: ApiServer, github: FakeGithubServer
) -> None:
    client = server.client()
    connection = client.post(
        "/connections",
        json={
            "type": "github",
            "name": "acme",
            "config": {"token": FAKE_TOKEN, "apiUrl": github.api_url},
            "options": {"chunkMaxTokens": 100},
        },
    )
    assert connection.status_code == 201, connection.text
    made = client.post(
        "/sources",
        json={
            "type": "github",
            "connectionId": connection.json()["id"],
            "config": {"owner": "acme", "repo": "api"},
            "options": {"maxFileBytes": 1234},
        },
    )
    assert made.status_code == 201, made.text
    url = f"/sources/{made.json()['source']['id']}"
    before = client.get(url).json()

    # Against the connection's budget of 100, an overlap of 100 is refused; nothing changes.
    clash = client.patch(url, json={"name": "renamed", "options": {"chunkOverlapTokens": 100}})
    assert (
        _error(clash, 400, "VALIDATION_ERROR")["details"]["field"] == "options.chunkOverlapTokens"
    )
    assert client.get(url).json() == before
    assert client.patch(url, json={"options": {"syncIntervalMinutes": -1}}).status_code == 400
    assert server.client().patch(url, json={"name": "theirs"}).status_code == 404

    patched = client.patch(url, json={"name": "renamed", "options": {"syncIntervalMinutes": 30}})
    assert patched.status_code == 200, patched.text
    # The options replace the source's own (maxFileBytes goes back to the deployment's).
    expected = {**DEFAULTS, "chunkMaxTokens": 100, "syncIntervalMinutes": 30}
    assert patched.json()["name"] == "renamed" and patched.json()["options"] == expected
    assert client.get(url).json() == patched.json()
    renamed_only = client.patch(url, json={"name": "again"}).json()
    assert renamed_only["name"] == "again" and renamed_only["options"] == expected
