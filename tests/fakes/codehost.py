"""What the fake code hosts share: real repositories over smart HTTP, and REST plumbing.

Each fake (GitHub, GitLab, Bitbucket) is a real HTTP server on 127.0.0.1. Git is served by
running `git http-backend` as a CGI on real bare repositories, behind Basic auth with the
token as the password; the REST API records every request, answers a bad bearer token with
401, can be told to answer the next requests with an error or a rate limit, keeps webhooks,
and pages lists as its provider does. Subclasses give the provider's routes and shapes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import subprocess
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from tests.fakes.serving import serve_in_thread

logger = logging.getLogger(__name__)

# Who the token is, on every fake host.
USER_NAME = "headwater-bot"

CGI_READ_CHUNK = 65536
# Request headers that `git http-backend` reads as CGI variables.
CGI_HEADERS = {
    "content-type": "CONTENT_TYPE",
    "content-length": "CONTENT_LENGTH",
    "content-encoding": "HTTP_CONTENT_ENCODING",
    "git-protocol": "GIT_PROTOCOL",
}

Host = TypeVar("Host", bound="FakeCodeHost")


class Answer(Exception):
    """Raised by a route's helpers to answer `response` instead of what the route would."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it (`path` still percent-encoded)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """An API answer to give instead of the real one: JSON, or text when `body` is a str."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HookSubscription:
    """What the request that created a webhook asked for, whatever the provider's fields."""

    url: str
    events: list[str]
    secret: str


@dataclass(slots=True)
class FakeRepository:
    """One repository the server knows: a bare git repository, API facts and webhooks."""

    bare: Path
    private: bool = True
    languages: dict[str, float] = field(default_factory=lambda: {"Python": 1200, "Markdown": 300})
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeCodeHost(ABC):
    """State and controls of one running fake code host.

    Attributes:
        api_prefix: Where the REST API lives under the server's URL, e.g. `/api/v4`.
        git_username: The username git must send with the token (None: any).
        git_realm: The Basic realm of git's 401.
        hidden_status: What the API answers for a private repository without a token.
        unauthorized_message: What the API says to a bad token.
    """

    api_prefix: ClassVar[str]
    unauthorized_message: ClassVar[str]
    git_username: ClassVar[str | None] = None
    git_realm: ClassVar[str]
    hidden_status: ClassVar[int] = 404

    def __init__(self, root: Path, *, token: str) -> None:
        self.root = root
        self.token = token
        self.url = ""
        self.hooks_permitted = True
        self._lock = threading.Lock()
        self._repos: dict[str, FakeRepository] = {}
        self._requests: list[RecordedRequest] = []
        self._script: deque[ScriptedResponse] = deque()
        self._hook_ids = 0

    @property
    def api_url(self) -> str:
        """The REST base URL (git is served at `url`)."""
        return f"{self.url}{self.api_prefix}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, API and git, in order."""
        with self._lock:
            return list(self._requests)

    def api_requests(self) -> list[RecordedRequest]:
        """The REST requests received so far, in order."""
        return [r for r in self.requests if r.path.startswith(self.api_prefix)]

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

    def repositories(self) -> list[tuple[str, FakeRepository]]:
        """Every repository as `(owner/name, repository)`, by name."""
        with self._lock:
            return sorted(self._repos.items())

    def script_response(
        self, status: int, body: Any, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` API requests with this instead."""
        with self._lock:
            for _ in range(times):
                self._script.append(ScriptedResponse(status, body, headers or {}))

    def script(
        self, status: int, message: str, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` API requests with this error, in the provider's shape."""
        self.script_response(status, self.error_body(message), times=times, headers=headers)

    def hooks(self, full_name: str) -> dict[str, dict[str, Any]]:
        """The webhooks of a repository: id -> the body that created it (secret included)."""
        with self._lock:
            return dict(self._repos[full_name].hooks)

    def add_hook(self, repo: FakeRepository, body: dict[str, Any]) -> str:
        """Keep a new webhook; its id."""
        with self._lock:
            self._hook_ids += 1
            hook_id = self.new_hook_id(self._hook_ids)
            repo.hooks[hook_id] = body
        return hook_id

    def delete_hook(self, repo: FakeRepository, hook_id: str, *, missing: str) -> Response:
        """Drop a webhook: 204, or 404 with the message `missing` when it is not there."""
        with self._lock:
            found = repo.hooks.pop(hook_id, None) is not None
        if not found:
            return self.error(404, missing)
        return Response(status_code=204, headers=self.rate_headers())

    def accept(self, request: Request) -> None:
        """Record an API request; raise `Answer` with the scripted or auth failure, if any."""
        with self._lock:
            self._requests.append(_recorded(request))
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            if isinstance(scripted.body, str):
                raise Answer(
                    self.text(scripted.body, status=scripted.status, headers=scripted.headers)
                )
            raise Answer(self.json(scripted.body, status=scripted.status, headers=scripted.headers))
        authorization = request.headers.get("authorization")
        if authorization is not None and authorization != f"Bearer {self.token}":
            raise Answer(self.error(401, self.unauthorized_message))

    def accept_authenticated(self, request: Request, *, message: str | None = None) -> None:
        """As `accept`, for endpoints about the token's own user: 401 without a token."""
        self.accept(request)
        if request.headers.get("authorization") is None:
            raise Answer(self.error(401, message or self.unauthorized_message))

    def lookup(self, request: Request, full_name: str) -> FakeRepository:
        """The repository for an API request; `Answer` with the refusal to give instead."""
        self.accept(request)
        with self._lock:
            repo = self._repos.get(full_name)
        if repo is None:
            raise Answer(self.error(404, self.not_found_message(full_name)))
        if repo.private and request.headers.get("authorization") is None:
            raise Answer(self.error(self.hidden_status, self.not_found_message(full_name)))
        return repo

    def lookup_hooks(self, request: Request, full_name: str) -> FakeRepository:
        """As `lookup`, for a hooks endpoint: refused when hooks are not permitted."""
        repo = self.lookup(request, full_name)
        if not self.hooks_permitted:
            status, body = self.hooks_refusal()
            raise Answer(self.json(body, status=status))
        return repo

    def git_authorized(self, request: Request) -> bool:
        """Whether git sent Basic auth with the expected username and the token."""
        with self._lock:
            self._requests.append(_recorded(request))
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return password == self.token and self.git_username in (None, username)

    def json(
        self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """A JSON answer with the provider's rate-limit headers."""
        return JSONResponse(body, status_code=status, headers=self.rate_headers() | (headers or {}))

    def text(self, body: str, *, status: int, headers: dict[str, str] | None = None) -> Response:
        """A plain-text answer with the provider's rate-limit headers."""
        return PlainTextResponse(
            body, status_code=status, headers=self.rate_headers() | (headers or {})
        )

    def error(self, status: int, message: str) -> JSONResponse:
        """An error in the provider's shape."""
        return self.json(self.error_body(message), status=status)

    def new_hook_id(self, number: int) -> str:
        """The id of the `number`th webhook created (default: the number)."""
        return str(number)

    @abstractmethod
    def not_found_message(self, full_name: str) -> str:
        """What the API says about a repository it does not know (or hides)."""

    @abstractmethod
    def error_body(self, message: str) -> Any:
        """The provider's error body."""

    @abstractmethod
    def rate_headers(self) -> dict[str, str]:
        """The rate-limit headers of an ordinary answer."""

    @abstractmethod
    def hooks_refusal(self) -> tuple[int, Any]:
        """Status and body for a token that may not manage webhooks."""

    @abstractmethod
    def subscription(self, hook: dict[str, Any]) -> HookSubscription:
        """Where, for which events and with which secret a hook (as `hooks` keeps it) delivers."""

    @abstractmethod
    def routes(self, app: FastAPI) -> None:
        """Add the provider's REST routes."""

    def app(self) -> FastAPI:
        """The REST routes, then git over smart HTTP at `/{owner}/{repo}.git/...`."""
        app = FastAPI()

        @app.exception_handler(Answer)
        async def answer(request: Request, raised: Answer) -> Response:
            return raised.response

        self.routes(app)

        @app.api_route("/{full_name:path}.git/{rest:path}", methods=["GET", "POST"])
        async def git_http(request: Request, full_name: str, rest: str) -> Response:
            if not self.git_authorized(request):
                return Response(
                    "HTTP Basic: Access denied\n",
                    status_code=401,
                    headers={"WWW-Authenticate": f'Basic realm="{self.git_realm}"'},
                )
            with self._lock:
                known = full_name in self._repos
            if not known:
                return Response("Repository not found.\n", status_code=404)
            return await http_backend(self.root, request, path=f"/{full_name}.git/{rest}")

        return app


def _recorded(request: Request) -> RecordedRequest:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    return RecordedRequest(request.method, path, dict(request.headers))


def git_output(bare: Path, *args: str) -> str:
    """What `git --git-dir=bare ARGS` prints."""
    done = subprocess.run(
        ["git", f"--git-dir={bare}", *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def default_branch(bare: Path) -> str:
    """The branch HEAD points at."""
    return git_output(bare, "symbolic-ref", "--short", "HEAD")


def branches(bare: Path) -> list[tuple[str, str]]:
    """`(branch, head sha)` of every branch, sorted by name."""
    output = git_output(
        bare, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"
    )
    pairs = (line.partition(" ") for line in output.splitlines())
    return [(branch, sha) for branch, _, sha in pairs]


@dataclass(frozen=True, slots=True)
class PageOf:
    """One page of a list: its items, its number, the last page's, and the page size."""

    items: list[Any]
    page: int
    last: int
    size: int

    def url(self, base: str, page: int, *, size_param: str, **params: str) -> str:
        """The URL of page `page` of the list at `base`."""
        return f"{base}?{urlencode({**params, size_param: self.size, 'page': page})}"

    def link_header(self, base: str, **params: str) -> str | None:
        """`Link` with `next`/`last` (and `prev`/`first`), as GitHub and GitLab send it."""
        rels = []
        if self.page < self.last:
            rels += [("next", self.page + 1), ("last", self.last)]
        if self.page > 1:
            rels += [("prev", self.page - 1), ("first", 1)]
        links = (
            f'<{self.url(base, page, size_param="per_page", **params)}>; rel="{rel}"'
            for rel, page in rels
        )
        return ", ".join(links) or None


def page_of(
    items: list[Any], request: Request, *, size_param: str, default_size: int, max_size: int
) -> PageOf:
    """The page of `items` the request's `page` and `size_param` ask for (size capped)."""
    query = request.query_params
    size = max(1, min(int(query.get(size_param, default_size)), max_size))
    page = max(int(query.get("page", 1)), 1)
    last = max(1, -(-len(items) // size))
    return PageOf(items[(page - 1) * size : page * size], page, last, size)


async def http_backend(root: Path, request: Request, *, path: str) -> Response:
    """Run `git http-backend` as a CGI, streaming the request and response bodies."""
    env = {
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path,
        "QUERY_STRING": request.url.query,
        "REQUEST_METHOD": request.method,
        "REMOTE_USER": "git",
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
                if stdin.is_closing():
                    break
                stdin.write(chunk)
                await stdin.drain()
        # uvloop says RuntimeError ("the handler is closed") where asyncio says BrokenPipe.
        except (BrokenPipeError, ConnectionResetError, RuntimeError) as error:
            logger.debug("git http-backend stopped reading its request body: %s", error)
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
def running(host: Host) -> Iterator[Host]:
    """Serve `host` on a free port of 127.0.0.1 in a background thread until exit."""
    with serve_in_thread(host.app(), name=type(host).__name__) as url:
        host.url = url
        yield host
