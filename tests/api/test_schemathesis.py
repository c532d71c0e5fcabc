"""Schemathesis against `/openapi.json` as a signed-in user: no 5xx, answers match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.auth import mint_token
from tests.api.conftest import SECRET, ApiServer, create_local_source, notes_folder, run_server
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer

pytestmark = pytest.mark.slow

USER = "fuzzer"
MAX_EXAMPLES = 60
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Connectors check configs beyond their JSON Schema (globs compile, ~ expands), so a
# schema-valid config may rightly get 400; every other check still runs on POST /sources.
CALLBACK = "POST /connectors/{connector_type}/connect/callback"
# The same for connections' configs and for options (an overlap must stay below the chunk
# size, which JSON Schema cannot say), and only the provider knows which API keys it accepts.
EXCLUDED = {
    operation: [positive_data_acceptance]
    for operation in ("POST /sources", "POST /connections", CALLBACK)
}
# Generated cases far outnumber seed 000's per-user limits; the limits have their own tests.
GENEROUS = {
    "HEADWATER_RATE_LIMIT_DEFAULT": "100000/minute",
    "HEADWATER_RATE_LIMIT_CREATE_SOURCE": "100000/minute",
    "HEADWATER_RATE_LIMIT_SYNC": "100000/minute",
    # Free-form `options` and `config` objects can be generated far past the tests' small
    # body cap; the cap's 413 has its own test.
    "HEADWATER_MAX_REQUEST_BYTES": "1048576",
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API with one source of the fuzzing user, so lookups have something to find."""
    root = tmp_path_factory.mktemp("fuzz")
    with run_server(root / "home", **GENEROUS) as server:
        create_local_source(server.client(USER), notes_folder(Path(root) / "notes"))
        yield server


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user=USER, ttl=timedelta(hours=1))}"}


def test_api_conforms_to_its_schema(fuzzed: ApiServer) -> None:
    # Loaded from the running server; schemathesis' lazy pytest loader does not run on pytest 9.
    api_schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    headers = _headers()
    # `ok()` raises on an operation schemathesis could not load: none is skipped silently.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {
        "POST /sources",
        "GET /sources/{source_id}/files",
        "GET /connectors",
        "POST /connectors/{connector_type}/connect",
        "POST /connectors/{connector_type}/connect/callback",
    } <= labels

    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=fuzzed.url,
                headers=headers,
                excluded_checks=EXCLUDED.get(case.operation.label, []),
            )

        conforms()


def test_api_key_onboarding_conforms_against_a_provider(
    fuzzed: ApiServer, github: FakeGithubServer
) -> None:
    """Generated keys, names and options reach a (fake) GitHub: refusals, clashes and the
    good key's 201 all answer as documented."""
    api_schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operation = api_schema.find_operation_by_label(CALLBACK)
    assert operation is not None
    headers = _headers()

    def at_github(case: schemathesis.Case) -> schemathesis.Case:
        case.path_parameters = {"connector_type": "github"}
        if isinstance(case.body, dict):
            case.body["config"] = {"apiUrl": github.api_url}
        return case

    @given(case=operation.as_strategy().map(at_github))
    @FUZZ
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=fuzzed.url, headers=headers, excluded_checks=EXCLUDED[CALLBACK]
        )

    conforms()
    good = operation.Case(
        path_parameters={"connector_type": "github"},
        body={"apiKey": FAKE_TOKEN, "config": {"apiUrl": github.api_url}},
        media_type="application/json",
    )
    assert good.call_and_validate(base_url=fuzzed.url, headers=headers).status_code == 201
    assert len(github.api_requests()) > 1  # generated keys were tried at the provider


def test_a_local_path_in_an_unknown_users_home_is_a_validation_error(fuzzed: ApiServer) -> None:
    response = fuzzed.client(USER).post(
        "/sources", json={"type": "local", "config": {"path": "~no-such-user-here/notes"}}
    )
    assert response.status_code == 400, response.text
