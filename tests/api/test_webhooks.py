"""`POST /webhooks/*` over HTTP against uvicorn: verified, stored, deduplicated, never a 4xx
for what is transient on our side."""

from __future__ import annotations

import concurrent.futures
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import make_url

from resources.metadata import MetadataStore
from resources.store import sources, webhooks
from resources.store.models import JobStatus, SyncJob, WebhookRejection
from resources.vault import Vault
from resources.webhooks.setup import issue_secret
from tests.api.conftest import ApiServer, run_server
from tests.fakes.bitbucket_server import bitbucket_server_fixture  # noqa: F401  (fixture)
from tests.fakes.codehost import FakeCodeHost
from tests.fakes.github_server import github_server_fixture  # noqa: F401  (fixture)
from tests.fakes.gitlab_server import gitlab_server_fixture  # noqa: F401  (fixture)
from tests.fakes.webhooks import (
    Commit,
    SignedDelivery,
    bitbucket_delivery,
    bitbucket_push,
    github_delivery,
    github_ping,
    github_push,
    gitlab_delivery,
    gitlab_push,
    hmac_signature,
    push_delivery,
)
from tests.gitrepo import head, seeded_repository
from tests.profile import libpq

BEFORE, AFTER = "a" * 40, "b" * 40
MAX_BODY = 25 * 1024 * 1024
CONCURRENT = 64
WORKERS = 2


def _store(api: ApiServer, database_url: str | None = None) -> MetadataStore:
    return MetadataStore(database_url=database_url or api.database_url)


def _github_source(api: ApiServer, *, branch: str | None = None) -> tuple[str, str, str]:
    """A new `github` source (its first job cancelled); its id, repository and secret."""
    client = api.client()
    full_name = f"octo-{uuid.uuid4().hex[:8]}/Hello-World"
    owner, repo = full_name.split("/")
    config = {"owner": owner, "repo": repo, **({"branch": branch} if branch else {})}
    created = client.post("/sources", json={"type": "github", "config": config})
    assert created.status_code == 201, created.text
    body = created.json()
    assert client.post(f"/jobs/{body['syncJob']['id']}/cancel").status_code == 200
    return body["source"]["id"], full_name, body["webhook"]["secret"]


def _push(full_name: str, *, secret: str, branch: str = "main", **kwargs: Any) -> SignedDelivery:
    commits = [Commit(AFTER, added=["new.py"], modified=["app.py"], removed=["old.md"])]
    payload = github_push(full_name, branch=branch, before=BEFORE, after=AFTER, commits=commits)
    return github_delivery(payload, secret=secret, **kwargs)


def _deliver(api: ApiServer, provider: str, delivery: SignedDelivery) -> httpx.Response:
    return api.anonymous().post(
        f"/webhooks/{provider}", content=delivery.body, headers=delivery.headers
    )


def _jobs(store: MetadataStore, source_id: str) -> list[SyncJob]:
    with store.session() as session:
        rows = session.scalars(select(SyncJob).where(SyncJob.source_id == source_id))
        return sorted(rows, key=lambda job: job.created_at)


def test_a_github_source_gets_its_webhook_secret_once(api: ApiServer) -> None:
    client = api.client()
    created = client.post(
        "/sources", json={"type": "github", "config": {"owner": "octo", "repo": "once"}}
    )
    assert created.status_code == 201, created.text
    webhook = created.json()["webhook"]
    assert webhook["url"] == f"{api.url}/webhooks/github"
    assert len(webhook["secret"]) == 64 and webhook["registered"] is False  # no token
    source_id = created.json()["source"]["id"]
    for shown in (client.get(f"/sources/{source_id}"), client.get("/sources")):
        assert webhook["secret"] not in shown.text
    with _store(api).session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None and source.repository_key == "github:octo/once"
        assert source.webhook_secret is not None
        assert webhook["secret"] not in str(source.webhook_secret)
    local = client.post("/sources", json={"type": "local", "config": {"path": str(api.home)}})
    assert local.status_code == 201 and local.json()["webhook"] is None


def test_a_signed_push_queues_one_job_and_a_redelivery_returns_it(api: ApiServer) -> None:
    source_id, full_name, secret = _github_source(api)
    delivery = _push(full_name, secret=secret)
    first = _deliver(api, "github", delivery)
    assert first.status_code == 200, first.text
    job_id = first.json()["jobId"]
    assert first.json() == {"received": True, "jobId": job_id, "jobIds": [job_id]}
    again = _deliver(api, "github", delivery)
    assert again.status_code == 200 and again.json()["jobId"] == job_id

    store = _store(api)
    queued = [job for job in _jobs(store, source_id) if job.status is JobStatus.QUEUED]
    assert [(job.id, job.type.value, job.trigger) for job in queued] == [
        (job_id, "incremental", "webhook")
    ]
    with store.session() as session:
        row = webhooks.get_delivery(
            session, provider="github", delivery_id=delivery.headers["X-GitHub-Delivery"]
        )
        assert row is not None and row.attempts == 2 and row.event == "push"
        assert row.changes["added"] == ["new.py"] and row.changes["removed"] == ["old.md"]
        assert row.changes["branches"] == [{"branch": "main", "head": AFTER}]
        assert [(t.source_id, t.job_id) for t in row.targets] == [(source_id, job_id)]


def _tampered(delivery: SignedDelivery) -> SignedDelivery:
    return SignedDelivery(delivery.body.replace(b"new.py", b"evil.py"), delivery.headers)


def _unsigned(delivery: SignedDelivery) -> SignedDelivery:
    headers = {k: v for k, v in delivery.headers.items() if k != "X-Hub-Signature-256"}
    return SignedDelivery(delivery.body, headers)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "signature verifies for no source"),
        ("wrong secret", "signature verifies for no source"),
        ("missing header", "missing X-Hub-Signature-256"),
        ("unknown repository", "no source for github repository"),
    ],
)
def test_an_unverified_delivery_is_401_and_only_audited(
    api: ApiServer, case: str, reason: str
) -> None:
    source_id, full_name, secret = _github_source(api)
    delivery = {
        "tampered": lambda: _tampered(_push(full_name, secret=secret)),
        "wrong secret": lambda: _push(full_name, secret="not-the-secret"),
        "missing header": lambda: _unsigned(_push(full_name, secret=secret)),
        "unknown repository": lambda: _push("nobody/nothing", secret=secret),
    }[case]()
    response = _deliver(api, "github", delivery)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    store = _store(api)
    assert [job.status for job in _jobs(store, source_id)] == [JobStatus.CANCELLED]
    delivery_id = delivery.headers["X-GitHub-Delivery"]
    with store.session() as session:
        assert webhooks.get_delivery(session, provider="github", delivery_id=delivery_id) is None
        audit = session.scalars(
            select(WebhookRejection).where(WebhookRejection.delivery_id == delivery_id)
        ).one()
        assert audit.reason.startswith(reason) and audit.remote_addr == "127.0.0.1"
        assert audit.provider == "github" and audit.event == "push"
        assert not {"body", "payload"} & set(WebhookRejection.__table__.columns.keys())


def test_pings_other_branches_and_other_events_queue_nothing(api: ApiServer) -> None:
    source_id, full_name, secret = _github_source(api, branch="release")
    answers = [
        _deliver(
            api, "github", github_delivery(github_ping(full_name), secret=secret, event="ping")
        ),
        _deliver(api, "github", _push(full_name, secret=secret, branch="main")),
        _deliver(api, "github", _push(full_name, secret=secret, event="issues")),
    ]
    assert [(r.status_code, r.json()) for r in answers] == [
        (200, {"received": True, "jobId": None, "jobIds": []})
    ] * 3
    assert [job.status for job in _jobs(_store(api), source_id)] == [JobStatus.CANCELLED]
    on_branch = _deliver(api, "github", _push(full_name, secret=secret, branch="release"))
    assert on_branch.status_code == 200 and on_branch.json()["jobId"] is not None


def _raw_request(api: ApiServer, head: str, chunks: Iterator[bytes]) -> bytes:
    """Send a request by hand, as far as the server reads it; its answer's first bytes."""
    address = urlsplit(api.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the body ended
        answer = b""
        while not _complete(answer) and (data := sock.recv(65536)):
            answer += data
        return answer


def _complete(answer: bytes) -> bool:
    """Whether `answer` holds a whole HTTP response (headers and Content-Length bytes)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return bool(found) and length is not None and len(body) >= int(length[1])


def test_a_body_over_25_mib_is_413_without_being_read(api: ApiServer) -> None:
    head = (
        "POST /webhooks/github HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    )
    # Declared too large: answered before a byte of the body is sent.
    assert _raw_request(api, head, iter(())).startswith(b"HTTP/1.1 413")

    chunk = b"x" * (1024 * 1024)
    streamed = "POST /webhooks/github HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    frames = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(26))
    answer = _raw_request(api, streamed, frames)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer

    fits = _deliver(api, "github", SignedDelivery(b"{" + b" " * 2_000_000 + b"}", {}))
    assert fits.status_code == 401  # read whole (past the 4 KiB API cap), then refused


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ApiServer, str]]:
    """An API of WORKERS processes on each store backend, and its database URL."""
    url = (
        f"sqlite:///{tmp_path / 'home' / 'headwater.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with run_server(tmp_path / "home", workers=WORKERS, HEADWATER_DATABASE_URL=url) as server:
        yield server, url


def test_concurrent_deliveries_for_one_source_join_one_job(
    backend: tuple[ApiServer, str],
) -> None:
    """All accepted and stored, on SQLite too: its writers queue (in each worker, then on the
    busy timeout across workers) instead of failing with "database is locked"."""
    api, url = backend
    source_id, full_name, secret = _github_source(api)
    deliveries = [_push(full_name, secret=secret) for _ in range(CONCURRENT)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(pool.map(lambda d: _deliver(api, "github", d), deliveries))
    assert [r.status_code for r in answers] == [200] * CONCURRENT, answers[0].text
    job_ids = {r.json()["jobId"] for r in answers}
    assert len(job_ids) == 1
    store = _store(api, url)
    queued = [job.id for job in _jobs(store, source_id) if job.status is JobStatus.QUEUED]
    assert queued == list(job_ids)
    with store.session() as session:
        for delivery in deliveries:
            row = webhooks.get_delivery(
                session, provider="github", delivery_id=delivery.headers["X-GitHub-Delivery"]
            )
            assert row is not None and [t.job_id for t in row.targets] == queued


def _code_host_source(api: ApiServer, source_type: str, full_name: str) -> tuple[str, str]:
    """A GitLab or Bitbucket source made through the store (their connectors come later)."""
    owner, repo = full_name.rsplit("/", 1)
    with _store(api).session() as session:
        source = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type=source_type,
            name=repo,
            config={"owner": owner, "repo": repo, "branch": "main", "token": "t"},
        )
        secret = issue_secret(Vault.open(None, home=api.home), source)
        assert secret is not None
        return source.id, secret


def test_bitbucket_retries_keep_one_delivery_and_count_attempts(api: ApiServer) -> None:
    full_name = f"team-{uuid.uuid4().hex[:8]}/service"
    source_id, secret = _code_host_source(api, "bitbucket", full_name)
    payload = bitbucket_push(full_name, branch="main", before=BEFORE, after=AFTER)
    request_uuid = str(uuid.uuid4())
    answers = [
        _deliver(
            api,
            "bitbucket",
            bitbucket_delivery(payload, secret=secret, request_uuid=request_uuid, attempt=n),
        )
        for n in (1, 2, 3)
    ]
    assert [r.status_code for r in answers] == [200] * 3, answers[0].text
    assert len({r.json()["jobId"] for r in answers}) == 1
    with _store(api).session() as session:
        row = webhooks.get_delivery(session, provider="bitbucket", delivery_id=request_uuid)
        assert row is not None and (row.attempts, row.last_attempt_number) == (3, 3)
    assert len(_jobs(_store(api), source_id)) == 1
    forged = bitbucket_delivery(payload, secret="guess", request_uuid=str(uuid.uuid4()))
    assert _deliver(api, "bitbucket", forged).status_code == 401


def test_gitlab_token_and_idempotency_key(api: ApiServer) -> None:
    full_name = f"group-{uuid.uuid4().hex[:8]}/sub/project"
    source_id, token = _code_host_source(api, "gitlab", full_name)
    commits = [Commit(AFTER, modified=["README.md"])]
    payload = gitlab_push(
        full_name,
        branch="main",
        before=BEFORE,
        after=AFTER,
        commits=commits,
        total_commits_count=30,
    )
    key = str(uuid.uuid4())
    first = _deliver(api, "gitlab", gitlab_delivery(payload, token=token, idempotency_key=key))
    retry = _deliver(api, "gitlab", gitlab_delivery(payload, token=token, idempotency_key=key))
    assert first.status_code == retry.status_code == 200, first.text
    assert first.json()["jobId"] == retry.json()["jobId"] is not None
    with _store(api).session() as session:
        row = webhooks.get_delivery(session, provider="gitlab", delivery_id=key)
        assert row is not None and row.attempts == 2
        assert row.changes["modified"] == ["README.md"] and row.changes["truncated"] is True
    assert len(_jobs(_store(api), source_id)) == 1
    wrong = gitlab_delivery(payload, token=token + "x")
    assert _deliver(api, "gitlab", wrong).status_code == 401


def test_over_the_webhook_rate_limit_is_503_and_stores_nothing(tmp_path: Path) -> None:
    with run_server(tmp_path / "home", HEADWATER_RATE_LIMIT_WEBHOOK="2/minute") as api:
        _, full_name, secret = _github_source(api)
        answers = [_deliver(api, "github", _push(full_name, secret=secret)) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 503]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == "2"
        with _store(api).session() as session:
            assert webhooks.count_deliveries(session, provider="github") == 2
        # Unauthenticated deliveries are refused as such, limit or not.
        forged = _deliver(api, "github", _push(full_name, secret="guess"))
        assert forged.status_code == 401


def _allow_connections(admin_url: str, database: str, *, allowed: bool) -> None:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


@pytest.fixture
def own_database(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database for this test alone (its connections get cut)."""
    name = f"headwater_webhooks_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_unreachable_database_is_503_and_nothing_half_written(
    tmp_path: Path, postgres_server: str, own_database: str
) -> None:
    postgres_url = own_database
    database = make_url(postgres_url).database or ""
    with run_server(tmp_path / "home", HEADWATER_DATABASE_URL=postgres_url) as api:
        source_id, full_name, secret = _github_source(api)
        delivery = _push(full_name, secret=secret)
        _allow_connections(postgres_server, database, allowed=False)
        try:
            down = _deliver(api, "github", delivery)
        finally:
            _allow_connections(postgres_server, database, allowed=True)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(down.headers["Retry-After"]) > 0
        store = _store(api, postgres_url)
        with store.session() as session:
            assert (
                webhooks.get_delivery(
                    session, provider="github", delivery_id=delivery.headers["X-GitHub-Delivery"]
                )
                is None
            )
        up = _deliver(api, "github", delivery)
        assert up.status_code == 200, up.text
        assert up.json()["jobId"] in [job.id for job in _jobs(store, source_id)]


def _signed(body: bytes, *, secret: str) -> SignedDelivery:
    """A GitHub push delivery of exactly `body`, signed with `secret`."""
    headers = github_delivery({}, secret=secret).headers
    return SignedDelivery(body, {**headers, "X-Hub-Signature-256": hmac_signature(body, secret)})


def _odd_pushes(full_name: str) -> dict[str, dict[str, Any]]:
    """Pushes a source's secret signs but whose fields are not what GitHub documents."""
    valid = github_push(full_name, branch="main", before=BEFORE, after=AFTER)
    unstorable = ["ok.py", "nul\u0000.py", "lone-\ud800.py", 7, None]
    return {
        "wrong types": {**valid, "ref": 12, "after": {}, "commits": "none", "deleted": "yes"},
        "unstorable branch": {**valid, "ref": "refs/heads/main\u0000"},
        "unstorable paths": {
            **valid,
            "commits": [{"id": AFTER, "added": unstorable, "modified": {}, "removed": [[]]}, 3],
        },
        "long branch": {**valid, "ref": "refs/heads/" + "b" * 400},
        "no branch": {k: v for k, v in valid.items() if k not in ("ref", "after")},
    }


def test_an_authenticated_delivery_with_odd_fields_is_stored_and_acknowledged(
    backend: tuple[ApiServer, str],
) -> None:
    """Never a 5xx nor a 4xx (GitLab would count it against the hook): 200, stored, and a job
    only when the payload says which branch moved where."""
    api, url = backend
    source_id, full_name, secret = _github_source(api)
    store = _store(api, url)
    for case, payload in _odd_pushes(full_name).items():
        delivery = github_delivery(payload, secret=secret)
        answer = _deliver(api, "github", delivery)
        assert answer.status_code == 200, (case, answer.text)
        job_id = answer.json()["jobId"]
        with store.session() as session:
            row = webhooks.get_delivery(
                session, provider="github", delivery_id=delivery.headers["X-GitHub-Delivery"]
            )
            assert row is not None, case
            assert [(t.source_id, t.job_id) for t in row.targets] == [(source_id, job_id)], case
            if job_id is None:
                assert row.targets[0].reason and len(row.targets[0].reason) <= 255, case
            if case == "unstorable paths":
                assert (row.changes["added"], row.changes["modified"]) == (["ok.py"], []), case
    # Only the push that named a readable branch of the source queued a job.
    queued = [job for job in _jobs(store, source_id) if job.status is JobStatus.QUEUED]
    assert len(queued) == 1 and queued[0].trigger == "webhook"


def test_a_body_that_cannot_be_attributed_is_401_whatever_it_holds(
    backend: tuple[ApiServer, str],
) -> None:
    api, _ = backend
    _, full_name, secret = _github_source(api)
    nested = b'{"repository": {"full_name": "%s"}, "x": ' % full_name.encode()
    bodies = {
        "nested too deep": nested + b"[" * 200_000 + b"]" * 200_000 + b"}",
        "not utf-8": b'{"repository": {"full_name": "\xff\xfe"}}',
        "unstorable repository": b'{"repository": {"full_name": "a\\u0000b"}}',
        "a list": b"[1, 2]",
    }
    for case, body in bodies.items():
        answer = _deliver(api, "github", _signed(body, secret=secret))
        assert answer.status_code == 401, (case, answer.text)
        assert answer.json()["error"]["code"] == "UNAUTHORIZED", case


def test_an_attempt_header_that_is_no_small_number_is_not_recorded(api: ApiServer) -> None:
    full_name = f"team-{uuid.uuid4().hex[:8]}/service"
    _, secret = _code_host_source(api, "bitbucket", full_name)
    payload = bitbucket_push(full_name, branch="main", before=BEFORE, after=AFTER)
    # "\u00b2" (superscript two) is a digit to Python, not to int().
    for attempt in ("\u00b2".encode("latin-1"), b"99999999999999999999", b"-1", b"two"):
        delivery = bitbucket_delivery(payload, secret=secret)
        headers: dict[str, str | bytes] = {**delivery.headers, "X-Attempt-Number": attempt}
        answer = api.anonymous().post("/webhooks/bitbucket", content=delivery.body, headers=headers)
        assert answer.status_code == 200, (attempt, answer.text)
        with _store(api).session() as session:
            row = webhooks.get_delivery(
                session, provider="bitbucket", delivery_id=delivery.headers["X-Request-UUID"]
            )
            assert row is not None and row.last_attempt_number is None, attempt


def test_a_secret_no_key_opens_is_503_and_logged_without_secrets(tmp_path: Path) -> None:
    """Our keys are wrong, not the sender: 503 with Retry-After (a 401 would count against the
    hook, and GitLab disables hooks that keep failing with 4xx), and nothing stored."""
    with run_server(tmp_path / "home") as api:
        source_id, full_name, secret = _github_source(api)
        foreign = Vault.open(Fernet.generate_key().decode(), home=tmp_path / "other")
        with _store(api).session() as session:
            source = sources.get_source(session, source_id)
            assert source is not None
            source.webhook_secret = foreign.seal_value(secret)
        delivery = _push(full_name, secret=secret)
        answer = _deliver(api, "github", delivery)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(answer.headers["Retry-After"]) > 0
        with _store(api).session() as session:
            delivery_id = delivery.headers["X-GitHub-Delivery"]
            stored = webhooks.get_delivery(session, provider="github", delivery_id=delivery_id)
            assert stored is None
            assert (
                session.scalars(
                    select(WebhookRejection).where(WebhookRejection.delivery_id == delivery_id)
                ).all()
                == []
            )
        assert [job.status for job in _jobs(_store(api), source_id)] == [JobStatus.CANCELLED]
        log = api.log.read_text()
    assert f"sources ['{source_id}'] cannot be decrypted" in log
    assert secret not in log and delivery.headers["X-Hub-Signature-256"] not in log


@pytest.mark.parametrize(
    ("provider", "refusal"),
    [
        ("github", "permission"),
        ("github", "hidden"),
        ("gitlab", "permission"),
        ("bitbucket", "permission"),
    ],
)
def test_a_token_that_may_not_manage_hooks_gets_the_secret_to_set_up_by_hand(
    api: ApiServer, provider: str, refusal: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The provider refuses the hook (its 403 for a token without the permission, or the 404
    GitHub gives when the token may not see the hooks): the source is still created, and its
    answer carries the URL and secret; a delivery signed with that secret is accepted."""
    host: FakeCodeHost = request.getfixturevalue(f"{provider}_server")
    work = seeded_repository(tmp_path / "work")
    owner, name = f"team-{uuid.uuid4().hex[:8]}", "service"
    host.add_repository(owner, name, source=work)
    if refusal == "permission":
        host.hooks_permitted = False
    else:
        host.script(404, host.not_found_message(f"{owner}/{name}"))
    config = {"owner": owner, "repo": name, "token": host.token, "apiUrl": host.api_url}
    created = api.client().post("/sources", json={"type": provider, "config": config})
    assert created.status_code == 201, created.text
    webhook = created.json()["webhook"]
    assert webhook["registered"] is False and webhook["url"] == f"{api.url}/webhooks/{provider}"
    assert len(webhook["secret"]) == 64
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in host.api_requests()] == [
        ("POST", "hooks")
    ]
    assert host.hooks(f"{owner}/{name}") == {}

    delivery = push_delivery(
        provider,
        f"{owner}/{name}",
        secret=webhook["secret"],
        branch="main",
        before=BEFORE,
        after=head(work),
    )
    answer = _deliver(api, provider, delivery)
    assert answer.status_code == 200, answer.text
    # The push joined the first sync, still queued (no daemon here).
    assert answer.json()["jobId"] == created.json()["syncJob"]["id"]
