"""Auth failures, validation errors, the error shape, request ids, body cap, OpenAPI, health."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from api.auth import mint_token
from resources.lake import Lake
from tests.api.conftest import (
    MAX_REQUEST_BYTES,
    SECRET,
    ApiServer,
    create_local_source,
    notes_folder,
    server_env,
)


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert response.headers["x-request-id"]
    error: dict[str, object] = body["error"]
    return error


def _expired() -> str:
    past = datetime.now(UTC) - timedelta(hours=2)
    return jwt.encode({"sub": "alice", "iat": past, "exp": past + timedelta(hours=1)}, SECRET)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic YWxpY2U6cGFzcw==",
        "Bearer not-a-jwt",
        "Bearer " + mint_token("another-key-" + "y" * 32, user="alice", ttl=timedelta(hours=1)),
        "Bearer " + jwt.encode({"sub": "alice"}, SECRET),  # no expiry
        "Bearer " + jwt.encode({"exp": datetime.now(UTC) + timedelta(hours=1)}, SECRET),  # no sub
        "Bearer " + jwt.encode({"sub": "alice", "exp": 4102444800}, SECRET, algorithm="HS384"),
    ],
    ids=["missing", "empty", "basic", "malformed", "wrong-key", "no-exp", "no-sub", "hs384"],
)
def test_bad_credentials_get_401(api: ApiServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("GET", "/sources"), ("POST", "/sources"), ("GET", "/jobs/x")]:
        response = httpx.request(method, api.url + path, headers=headers, json={})
        _assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_token_gets_401(api: ApiServer) -> None:
    response = httpx.get(api.url + "/sources", headers={"Authorization": f"Bearer {_expired()}"})
    error = _assert_error(response, 401, "UNAUTHORIZED")
    assert "expired" in str(error["message"])


def test_token_command_mints_a_token_the_api_accepts(api: ApiServer) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), "token", "--user", "carol", "--ttl", "5m"],
        env=server_env(api.home),
        capture_output=True,
        text=True,
        check=True,
    )
    token = result.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "carol" and claims["exp"] - claims["iat"] == 300
    response = httpx.get(api.url + "/sources", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json() == {"sources": [], "total": 0}


def test_invalid_input_gets_400_naming_the_field_and_changes_nothing(
    api: ApiServer, tmp_path: Path
) -> None:
    client = api.client()
    folder = notes_folder(tmp_path / "notes")
    cases = [
        ({"type": "dropbox", "config": {}}, "type"),
        ({"type": "local", "config": {"path": 5}}, "config.path"),
        ({"type": "local", "config": {}}, "config.path"),
        ({"type": "local", "config": {"path": str(folder), "colour": "red"}}, "config.colour"),
        ({"config": {"path": str(folder)}}, "body.type"),
        ({"type": "local", "config": "nope"}, "body.config"),
        ({"type": "local", "config": {"path": str(folder)}, "extra": 1}, "body.extra"),
    ]
    for body, field in cases:
        error = _assert_error(client.post("/sources", json=body), 400, "VALIDATION_ERROR")
        details = error["details"]
        assert isinstance(details, dict) and details["field"] == field, (body, error)
        assert str(error["message"]).startswith(field)
    broken = client.post(
        "/sources", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _assert_error(broken, 400, "VALIDATION_ERROR")
    _assert_error(client.get("/jobs", params={"limit": 0}), 400, "VALIDATION_ERROR")
    _assert_error(client.get("/jobs", params={"status": "paused"}), 400, "VALIDATION_ERROR")
    assert client.get("/sources").json()["total"] == 0
    source = create_local_source(client, folder)["source"]
    assert isinstance(source, dict)
    sync = client.post(f"/sources/{source['id']}/sync", json={"type": "partial"})
    _assert_error(sync, 400, "VALIDATION_ERROR")
    files = client.get(f"/sources/{source['id']}/files", params={"cursor": "!!"})
    _assert_error(files, 400, "VALIDATION_ERROR")
    assert client.get("/jobs").json()["total"] == 1


def test_text_no_system_takes_gets_400(api: ApiServer, tmp_path: Path) -> None:
    client = api.client("nul-and-surrogates")  # a user of its own: POST /sources is 10 an hour
    folder = notes_folder(tmp_path / "notes")
    cases = [
        # No operating system takes NUL in a path or a command's argument, and nothing that
        # stores or sends text takes a lone surrogate, which JSON lets through.
        ({"type": "local", "config": {"path": f"{folder}\x00"}}, "config.path"),
        ({"type": "git", "config": {"url": f"{folder}\x00"}}, "config.url"),
        ({"type": "local", "config": {"path": f"~\ud800{folder}"}}, "body.config"),
        (
            {"type": "local", "config": {"path": str(folder)}, "options": {"\udfff": 1}},
            "body.options",
        ),
    ]
    for body, field in cases:
        # json.dumps escapes a lone surrogate, as a client in another language may send it.
        sent = client.post(
            "/sources", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        error = _assert_error(sent, 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == field, (body, error)  # type: ignore[index]
    assert client.get("/sources").json()["total"] == 0


def test_unknown_route_and_method_use_the_error_shape(api: ApiServer) -> None:
    client = api.client()
    _assert_error(client.get("/nowhere"), 404, "NOT_FOUND")
    _assert_error(client.put("/sources"), 405, "METHOD_NOT_ALLOWED")
    _assert_error(client.get("/sources/no-such-id"), 404, "SOURCE_NOT_FOUND")
    _assert_error(client.get("/jobs/no-such-id"), 404, "JOB_NOT_FOUND")


def test_bodies_over_the_cap_get_413(api: ApiServer) -> None:
    client = api.client()
    big = json.dumps({"type": "local", "config": {"path": "x" * MAX_REQUEST_BYTES}}).encode()
    _assert_error(
        client.post("/sources", content=big, headers={"Content-Type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
    )

    def chunks() -> object:
        for start in range(0, len(big), 1_000):
            yield big[start : start + 1_000]

    chunked = client.post(
        "/sources", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_error(chunked, 413, "PAYLOAD_TOO_LARGE")


def test_request_id_is_echoed_or_generated(api: ApiServer) -> None:
    echoed = httpx.get(api.url + "/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = httpx.get(api.url + "/sources", headers={"X-Request-Id": "bad id\twith tab"})
    assert generated.status_code == 401
    assert generated.headers["x-request-id"] not in ("", "bad id\twith tab")


def test_unhandled_errors_are_500_with_request_id_and_no_trace(
    api: ApiServer, tmp_path: Path
) -> None:
    client = api.client()
    source = create_local_source(client, notes_folder(tmp_path / "notes"))["source"]
    assert isinstance(source, dict)
    # A corrupt lake pointer is a server-side failure the API does not anticipate.
    lake = Lake(url=api.data_url).opened
    folder = f"{lake.root}/documents/{source['id']}"
    lake.fs.create_dir(folder)
    with lake.fs.open_output_stream(f"{folder}/_CURRENT") as pointer:
        pointer.write(b"{corrupt")
    response = client.get(f"/sources/{source['id']}", headers={"X-Request-Id": "req-500"})
    error = _assert_error(response, 500, "INTERNAL_ERROR")
    assert error["details"] == {"requestId": "req-500"}
    assert "Traceback" not in response.text and "JSONDecodeError" not in response.text
    logged = [json.loads(line) for line in api.log.read_text().splitlines() if "req-500" in line]
    assert any("Traceback" in entry.get("exception", "") for entry in logged)


def test_logs_are_json_with_tokens_masked(api: ApiServer) -> None:
    client = api.client()
    token = client.headers["Authorization"].removeprefix("Bearer ")
    client.get("/sources", params={"token": token})
    text = api.log.read_text()
    assert token not in text and SECRET not in text
    for line in text.splitlines():
        json.loads(line)


def test_cors_allows_no_origin_by_default(api: ApiServer) -> None:
    response = httpx.options(
        api.url + "/sources",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_openapi_documents_every_response_and_the_error_model(
    api: ApiServer, tmp_path: Path
) -> None:
    document = httpx.get(api.url + "/openapi.json").json()
    assert {
        "/sources",
        "/sources/{source_id}",
        "/sources/{source_id}/sync",
        "/sources/{source_id}/files",
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/health",
        "/healthz",
        "/readyz",
    } <= set(document["paths"])
    assert "ErrorOut" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # Validation errors are 400s; a 422 is only a route's own (CONNECTION_TEST_FAILED).
            unprocessable = str(operation["responses"].get("422", "ErrorOut"))
            assert "ErrorOut" in unprocessable, (method, path)
            ok = [code for code in operation["responses"] if code.startswith("2")]
            redirects = "302" in operation["responses"]  # the OAuth flow answers redirects
            assert redirects or (ok and "content" in operation["responses"][ok[0]]), (method, path)
            if path.startswith("/webhooks/"):
                # Signed by the provider, never 400/429: transient refusals are 503.
                assert set(operation["responses"]) == {"200", "401", "413", "500", "503"}
            elif path not in ("/health", "/healthz", "/readyz"):
                assert {"400", "401", "429", "500"} <= set(operation["responses"]), (method, path)
    target = tmp_path / "openapi.json"
    subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), "openapi", str(target)],
        env={**server_env(api.home), "HEADWATER_HOME": str(tmp_path / "home")},
        capture_output=True,
        check=True,
    )
    assert json.loads(target.read_text())["paths"].keys() == document["paths"].keys()


def test_health_endpoints(api: ApiServer) -> None:
    health = httpx.get(api.url + "/health").json()
    assert health["database"] == "connected" and health["redis"] is None
    assert health["services"] == {"dagster-daemon": "unavailable"}  # no daemon in this module
    assert health["status"] == "degraded"
    assert httpx.get(api.url + "/healthz").json()["status"] == "ok"
    ready = httpx.get(api.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "connected"}


def test_the_api_imports_no_pipeline_code() -> None:
    imported = subprocess.run(
        [sys.executable, "-c", "import api.main, sys; print('connector_assets' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "False"
