"""A real HTTP server on 127.0.0.1 that answers as GitHub (Enterprise Server) does, for tests.

REST under `/api/v3` (shapes from GitHub's REST docs): `GET /repos/{owner}/{repo}`,
`/languages`, `/branches` (paginated with `Link`), `/branches/{branch}`; errors as
`{"message", "documentation_url", "status"}`; `X-RateLimit-*` headers on every answer.
Git over smart HTTP at `/{owner}/{repo}.git/...` by running `git http-backend` as a CGI
on real bare repositories, with Basic auth (any user, the token as password). Tests can
make the next API requests answer 401, 404 or a primary/secondary rate limit, and see
every request.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.serving import serve_in_thread

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
USER_LOGIN = "headwater-bot"
CGI_READ_CHUNK = 65536
FAKE_TOKEN = "ghp_fake_test_token_0123456789"
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
# Request headers that `git http-backend` reads as CGI variables.
CGI_HEADERS = {
    "content-type": "CONTENT_TYPE",
    "content-length": "CONTENT_LENGTH",
    "content-encoding": "HTTP_CONTENT_ENCODING",
    "git-protocol": "GIT_PROTOCOL",
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """An API answer to give instead of the real one."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FakeRepository:
    """One repository the server knows: a bare git repository plus API facts."""

    bare: Path
    private: bool = True
    languages: dict[str, int] = field(default_factory=lambda: {"Python": 1200, "Markdown": 300})


def github_error(message: str, *, status: int) -> dict[str, Any]:
    """GitHub's error body."""
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


class FakeGithubServer:
    """State and controls of one running fake server."""

    def __init__(self, root: Path, *, token: str) -> None:
        self.root = root
        self.token = token
        self.url = ""
        self._lock = threading.Lock()
        self._repos: dict[str, FakeRepository] = {}
        self._requests: list[RecordedRequest] = []
        self._script: deque[ScriptedResponse] = deque()

    @property
    def api_url(self) -> str:
        """The REST base URL, Enterprise-style (git is served at `url`)."""
        return f"{self.url}{API_PREFIX}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, API and git, in order."""
        with self._lock:
            return list(self._requests)

    def add_repository(self, owner: str, name: str, *, source: Path, private: bool = True) -> Path:
        """Serve a bare clone of the repository at `source`; its path (push there)."""
        bare = self.root / owner / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--bare", "--quiet", str(source), str(bare)],
            check=True,
            capture_output=True,
        )
        with self._lock:
            self._repos[f"{owner}/{name}"] = FakeRepository(bare=bare, private=private)
        return bare

    def script(
        self, status: int, message: str, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` API requests with this error instead."""
        with self._lock:
            for _ in range(times):
                self._script.append(
                    ScriptedResponse(status, github_error(message, status=status), headers or {})
                )

    def primary_rate_limit(self, *, reset_in_s: int, status: int = 403, times: int = 1) -> None:
        """The primary limit: `X-RateLimit-Remaining: 0` and the reset epoch second."""
        reset = str(int(time.time()) + reset_in_s)
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        self.script(status, PRIMARY_LIMIT_MESSAGE, times=times, headers=headers)

    def secondary_rate_limit(
        self, *, retry_after: int | None, status: int = 403, times: int = 1
    ) -> None:
        """A secondary limit, with `Retry-After` or (as GitHub sometimes does) without."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        self.script(status, SECONDARY_LIMIT_MESSAGE, times=times, headers=headers)

    def api_response(self, request: Request, *, path: str) -> JSONResponse | None:
        """Record an API request; the scripted or auth failure to answer, if any."""
        with self._lock:
            self._requests.append(RecordedRequest("GET", path, dict(request.headers)))
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return _json(scripted.body, status=scripted.status, headers=scripted.headers)
        authorization = request.headers.get("authorization")
        if authorization is not None and authorization != f"Bearer {self.token}":
            return _json(github_error("Bad credentials", status=401), status=401)
        return None

    def repository(self, owner: str, name: str, *, authorized: bool) -> FakeRepository | None:
        """The repository, unless it is unknown or private to this caller (both 404)."""
        with self._lock:
            repo = self._repos.get(f"{owner}/{name}")
        if repo is None or (repo.private and not authorized):
            return None
        return repo

    def repositories(self) -> list[tuple[str, FakeRepository]]:
        """Every repository as `(owner/name, repository)`, by name."""
        with self._lock:
            return sorted(self._repos.items())

    def git_authorized(self, request: Request) -> bool:
        """Whether git sent Basic auth with the token as the password."""
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.headers))
            )
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        _, _, password = base64.b64decode(encoded).decode().partition(":")
        return password == self.token


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    rate = {
        "x-ratelimit-limit": str(RATE_LIMIT),
        "x-ratelimit-remaining": str(RATE_LIMIT - 1),
        "x-ratelimit-used": "1",
        "x-ratelimit-reset": str(int(time.time()) + 3600),
        "x-ratelimit-resource": "core",
    }
    return JSONResponse(body, status_code=status, headers=rate | (headers or {}))


def _git(bare: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={bare}", *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _default_branch(bare: Path) -> str:
    return _git(bare, "symbolic-ref", "--short", "HEAD")


def _repository_body(server: FakeGithubServer, owner: str, name: str, repo: FakeRepository) -> Any:
    html_url = f"{server.url}/{owner}/{name}"
    return {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": f"{owner}/{name}",
        "owner": {"login": owner, "id": 1, "type": "Organization"},
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": html_url,
        "clone_url": f"{html_url}.git",
        "url": f"{server.api_url}/repos/{owner}/{name}",
        "default_branch": _default_branch(repo.bare),
        "fork": False,
        "archived": False,
    }


def _branches(bare: Path) -> list[tuple[str, str]]:
    output = _git(bare, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    pairs = (line.partition(" ") for line in output.splitlines())
    return [(branch, sha) for branch, _, sha in pairs]


def _paged(items: list[Any], base: str, per_page: int, page: int) -> JSONResponse:
    """One page of `items` with GitHub's `Link` header (`next`, `last`)."""
    size = min(per_page, MAX_PER_PAGE)
    last = max(1, -(-len(items) // size))
    links = []
    if page < last:
        links.append(f'<{base}?per_page={size}&page={page + 1}>; rel="next"')
        links.append(f'<{base}?per_page={size}&page={last}>; rel="last"')
    return _json(
        items[(page - 1) * size : page * size],
        headers={"link": ", ".join(links)} if links else None,
    )


def _app(server: FakeGithubServer) -> FastAPI:
    app = FastAPI()

    def lookup(request: Request, owner: str, name: str) -> FakeRepository | JSONResponse:
        failure = server.api_response(request, path=request.url.path)
        if failure is not None:
            return failure
        authorized = request.headers.get("authorization") is not None
        repo = server.repository(owner, name, authorized=authorized)
        if repo is None:
            return _json(github_error("Not Found", status=404), status=404)
        return repo

    @app.get(API_PREFIX + "/repos/{owner}/{name}")
    def get_repository(request: Request, owner: str, name: str) -> JSONResponse:
        repo = lookup(request, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        return _json(_repository_body(server, owner, name, repo))

    @app.get(API_PREFIX + "/repos/{owner}/{name}/languages")
    def get_languages(request: Request, owner: str, name: str) -> JSONResponse:
        repo = lookup(request, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        return _json(repo.languages)

    @app.get(API_PREFIX + "/repos/{owner}/{name}/branches")
    def list_branches(
        request: Request, owner: str, name: str, per_page: int = DEFAULT_PER_PAGE, page: int = 1
    ) -> JSONResponse:
        repo = lookup(request, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        items = [
            {"name": branch, "commit": {"sha": sha, "url": ""}, "protected": False}
            for branch, sha in _branches(repo.bare)
        ]
        return _paged(items, f"{server.api_url}/repos/{owner}/{name}/branches", per_page, page)

    @app.get(API_PREFIX + "/user")
    def get_user(request: Request) -> JSONResponse:
        failure = server.api_response(request, path=request.url.path)
        if failure is not None:
            return failure
        if request.headers.get("authorization") is None:
            return _json(github_error("Requires authentication", status=401), status=401)
        return _json({"login": USER_LOGIN, "id": 583231, "type": "User"})

    @app.get(API_PREFIX + "/user/repos")
    def list_user_repositories(
        request: Request, per_page: int = DEFAULT_PER_PAGE, page: int = 1
    ) -> JSONResponse:
        failure = server.api_response(request, path=request.url.path)
        if failure is not None:
            return failure
        if request.headers.get("authorization") is None:
            return _json(github_error("Requires authentication", status=401), status=401)
        items = [
            _repository_body(server, *full_name.split("/"), repo)
            for full_name, repo in server.repositories()
        ]
        return _paged(items, f"{server.api_url}/user/repos", per_page, page)

    @app.get(API_PREFIX + "/repos/{owner}/{name}/branches/{branch:path}")
    def get_branch(request: Request, owner: str, name: str, branch: str) -> JSONResponse:
        repo = lookup(request, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        shas = dict(_branches(repo.bare))
        if branch not in shas:
            return _json(github_error("Branch not found", status=404), status=404)
        return _json(
            {
                "name": branch,
                "commit": {"sha": shas[branch], "commit": {"message": ""}, "url": ""},
                "protected": False,
                "_links": {"html": f"{server.url}/{owner}/{name}/tree/{branch}"},
            }
        )

    @app.api_route("/{owner}/{name}.git/{rest:path}", methods=["GET", "POST"])
    async def git_http(request: Request, owner: str, name: str, rest: str) -> Response:
        if not server.git_authorized(request):
            return Response(
                "Invalid username or token.\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
            )
        if server.repository(owner, name, authorized=True) is None:
            return Response("Repository not found.\n", status_code=404)
        return await _http_backend(server.root, request, path=f"/{owner}/{name}.git/{rest}")

    return app


async def _http_backend(root: Path, request: Request, *, path: str) -> Response:
    """Run `git http-backend` as a CGI, streaming the request and response bodies."""
    env = {
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path,
        "QUERY_STRING": request.url.query,
        "REQUEST_METHOD": request.method,
        "REMOTE_USER": "x-access-token",
        "REMOTE_ADDR": "127.0.0.1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    for header, variable in CGI_HEADERS.items():
        if header in request.headers:
            env[variable] = request.headers[header]
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def feed() -> None:
        try:
            async for chunk in request.stream():
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("git http-backend stopped reading its request body")
        finally:
            stdin.close()

    feeder = asyncio.create_task(feed())
    status = 200
    headers: dict[str, str] = {}
    while line := (await stdout.readline()).rstrip(b"\r\n"):
        key, _, value = line.decode("latin-1").partition(":")
        if key.lower() == "status":
            status = int(value.split()[0])
        else:
            headers[key.strip()] = value.strip()

    async def body() -> AsyncIterator[bytes]:
        while chunk := await stdout.read(CGI_READ_CHUNK):
            yield chunk
        await feeder
        await process.wait()

    return StreamingResponse(body(), status_code=status, headers=headers)


@contextmanager
def running_github_server(root: Path, *, token: str) -> Iterator[FakeGithubServer]:
    """Serve a fake on a free port of 127.0.0.1 in a background thread until exit."""
    server = FakeGithubServer(root, token=token)
    with serve_in_thread(_app(server), name="GitHub") as url:
        server.url = url
        yield server


@pytest.fixture(name="github_server")
def github_server_fixture(tmp_path: Path) -> Iterator[FakeGithubServer]:
    """A fresh fake GitHub for one test, serving repositories from `tmp_path/served`."""
    with running_github_server(tmp_path / "served", token=FAKE_TOKEN) as server:
        yield server
