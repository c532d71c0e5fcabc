"""Seed 000's per-user limits, shared by API processes through Redis or the metadata store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (
    REDIS_URL,
    ApiServer,
    create_local_source,
    new_user,
    notes_folder,
    run_server,
)


@pytest.fixture(scope="module", params=["database", "redis"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiServer]]:
    """Two API processes on one home: they must share the counters."""
    home = tmp_path_factory.mktemp(f"limits-{request.param}") / "home"
    env = {"HEADWATER_REDIS_URL": REDIS_URL} if request.param == "redis" else {}
    with ExitStack() as stack:
        yield [stack.enter_context(run_server(home, **env)) for _ in range(2)]


def test_sync_limit_is_shared_across_processes(servers: list[ApiServer], tmp_path: Path) -> None:
    user = new_user()
    first, second = (server.client(user) for server in servers)
    source = create_local_source(first, notes_folder(tmp_path / "notes"))["source"]
    assert isinstance(source, dict)
    path = f"/sources/{source['id']}/sync"
    answers = [(first if n % 2 else second).post(path) for n in range(5)]
    assert [r.status_code for r in answers] == [202] * 5
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["4", "3", "2", "1", "0"]
    assert {r.headers["x-ratelimit-limit"] for r in answers} == {"5"}
    refused = first.post(path)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    retry_after = int(refused.headers["retry-after"])
    reset = int(refused.headers["x-ratelimit-reset"])
    assert 0 < retry_after <= 15 * 60 and abs(reset - time.time() - retry_after) <= 2
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-request-id"]
    # Other routes count against their own limit, and other users against theirs.
    listed = second.get("/sources")
    assert listed.status_code == 200 and listed.headers["x-ratelimit-limit"] == "100"
    other = servers[1].client()
    assert other.get(f"/sources/{source['id']}").status_code == 404


def test_create_limit_is_ten_an_hour(servers: list[ApiServer], tmp_path: Path) -> None:
    user = new_user()
    clients = [server.client(user) for server in servers]
    bad = {"type": "local", "config": {}}  # refused by validation, but still counted
    codes = [clients[n % 2].post("/sources", json=bad).status_code for n in range(10)]
    assert codes == [400] * 10
    refused = clients[0].post("/sources", json={"type": "local", "config": {"path": "/"}})
    assert refused.status_code == 429 and refused.headers["x-ratelimit-limit"] == "10"
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600


def test_default_limit_is_a_hundred_a_minute(servers: list[ApiServer]) -> None:
    user = new_user()
    clients = [server.client(user) for server in servers]
    codes = [clients[n % 2].get("/jobs").status_code for n in range(100)]
    assert codes == [200] * 100
    refused = clients[1].get("/sources")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) <= 60
    assert httpx.get(servers[0].url + "/healthz").status_code == 200  # probes are not limited
