"""A real HTTP server on 127.0.0.1 that answers as GitLab's REST API v4 does, for tests.

REST under `/api/v4` (shapes from GitLab's REST docs): `GET /user`, `GET /projects`
(`membership=true` needs a token), a project named by its URL-encoded full path
(`group%2Fsub%2Frepo`, an unencoded slash finds no project): `GET /projects/:id`,
`/languages` (percentages), `/repository/branches` (paginated with `Link` and `X-*` page
headers), `/repository/branches/:branch`, project hooks (`GET|POST /hooks`,
`DELETE /hooks/:hook_id`); errors as `{"message": "404 Project Not Found"}`, unknown routes
as `{"error": "404 Not Found"}`; `RateLimit-*` headers on every answer, and a throttled
request gets 429 `Retry later` with `Retry-After` and `RateLimit-Reset`. Git over smart
HTTP at `/group/sub/repo.git/...` (see `tests.fakes.codehost`), username `oauth2` with the
token as the password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.codehost import (
    USER_NAME,
    FakeCodeHost,
    FakeRepository,
    HookSubscription,
    branches,
    default_branch,
    page_of,
    running,
)

API_PREFIX = "/api/v4"
PROJECTS = f"{API_PREFIX}/projects/"
RATE_LIMIT = 2000
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
FAKE_TOKEN = "glpat-fake_test_token_0123456789"
THROTTLED_BODY = "Retry later\n"
HOOK_EVENT_FIELDS = (
    "push_events",
    "tag_push_events",
    "issues_events",
    "confidential_issues_events",
    "merge_requests_events",
    "note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "releases_events",
)


class FakeGitlabServer(FakeCodeHost):
    """GitLab's REST shapes and limits over the shared fake code host."""

    api_prefix = API_PREFIX
    git_username = "oauth2"
    git_realm = "GitLab"
    unauthorized_message = "401 Unauthorized"

    def not_found_message(self, full_name: str) -> str:
        """GitLab's words for a project it does not know or hides."""
        return "404 Project Not Found"

    def error_body(self, message: str) -> dict[str, Any]:
        """`{"message": ...}`."""
        return {"message": message}

    def rate_headers(self) -> dict[str, str]:
        """`RateLimit-*` as GitLab.com sends them, one request observed."""
        reset = int(time.time()) + 60
        return {
            "ratelimit-limit": str(RATE_LIMIT),
            "ratelimit-observed": "1",
            "ratelimit-remaining": str(RATE_LIMIT - 1),
            "ratelimit-reset": str(reset),
            "ratelimit-resettime": formatdate(reset, usegmt=True),
        }

    def hooks_refusal(self) -> tuple[int, Any]:
        """A token below the Maintainer role."""
        return 403, self.error_body("403 Forbidden")

    def subscription(self, hook: dict[str, Any]) -> HookSubscription:
        """The `*_events` flags set true, and the secret as `token`."""
        events = sorted(key for key, on in hook.items() if key.endswith("_events") and on is True)
        return HookSubscription(hook["url"], events, hook["token"])

    def rate_limit(self, *, retry_after: int | None, reset_in_s: int, times: int = 1) -> None:
        """Throttled: 429 `Retry later`, no requests left, the reset, and `Retry-After`."""
        reset = int(time.time()) + reset_in_s
        headers = self.rate_headers() | {
            "ratelimit-name": "throttle_authenticated_api",
            "ratelimit-observed": str(RATE_LIMIT),
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
            "ratelimit-resettime": formatdate(reset, usegmt=True),
        }
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.script_response(429, THROTTLED_BODY, times=times, headers=headers)

    def routes(self, app: FastAPI) -> None:
        """The user, the project list, and one route per method under `/projects/`,
        dispatched on the encoded path."""

        @app.get(API_PREFIX + "/user")
        def get_user(request: Request) -> Response:
            self.accept_authenticated(request)
            return self.json(
                {
                    "id": 7,
                    "username": USER_NAME,
                    "name": "Headwater Bot",
                    "state": "active",
                    "web_url": f"{self.url}/{USER_NAME}",
                }
            )

        @app.get(API_PREFIX + "/projects")
        def list_projects(request: Request) -> Response:
            if request.query_params.get("membership") == "true":
                self.accept_authenticated(request)
            else:
                self.accept(request)
            anonymous = request.headers.get("authorization") is None
            items = [
                self._project_body(full_name, repo)
                for full_name, repo in self.repositories()
                if not (anonymous and repo.private)
            ]
            return self._page(items, request)

        @app.api_route(PROJECTS + "{rest:path}", methods=["GET", "POST", "DELETE"])
        async def projects(request: Request, rest: str) -> Response:
            raw = request.scope["raw_path"].decode("latin-1").split("?", 1)[0]
            project, *parts = raw.removeprefix(PROJECTS).split("/")
            full_name = unquote(project)
            lookup = self.lookup_hooks if parts[:1] == ["hooks"] else self.lookup
            repo = lookup(request, full_name)
            return await self._project_route(request, repo, full_name, parts)

    async def _project_route(
        self, request: Request, repo: FakeRepository, full_name: str, parts: list[str]
    ) -> Response:
        method = request.method
        if method == "GET" and parts == []:
            return self.json(self._project_body(full_name, repo))
        if method == "GET" and parts == ["languages"]:
            total = sum(repo.languages.values()) or 1
            return self.json({k: round(100 * v / total, 2) for k, v in repo.languages.items()})
        if method == "GET" and parts == ["repository", "branches"]:
            items = [
                self._branch_body(full_name, repo, name, sha) for name, sha in branches(repo.bare)
            ]
            return self._page(items, request)
        if method == "GET" and parts[:2] == ["repository", "branches"] and len(parts) == 3:
            branch = unquote(parts[2])
            shas = dict(branches(repo.bare))
            if branch not in shas:
                return self.error(404, "404 Branch Not Found")
            return self.json(self._branch_body(full_name, repo, branch, shas[branch]))
        if parts[:1] == ["hooks"]:
            return await self._hooks(request, repo, parts[1:])
        return JSONResponse({"error": "404 Not Found"}, status_code=404)

    async def _hooks(self, request: Request, repo: FakeRepository, rest: list[str]) -> Response:
        if request.method == "GET" and not rest:
            items = [_hook_body(hook_id, body) for hook_id, body in repo.hooks.items()]
            return self._page(items, request)
        if request.method == "POST" and not rest:
            body = await request.json()
            if not body.get("url"):
                return self.json({"message": {"url": ["can't be blank"]}}, status=400)
            hook_id = self.add_hook(repo, body)
            return self.json(_hook_body(hook_id, body), status=201)
        if request.method == "DELETE" and len(rest) == 1:
            return self.delete_hook(repo, unquote(rest[0]), missing="404 Not found")
        return JSONResponse({"error": "404 Not Found"}, status_code=404)

    def _project_body(self, full_name: str, repo: FakeRepository) -> dict[str, Any]:
        namespace, _, name = full_name.rpartition("/")
        web_url = f"{self.url}/{full_name}"
        return {
            "id": 3,
            "name": name,
            "path": name,
            "path_with_namespace": full_name,
            "name_with_namespace": full_name.replace("/", " / "),
            "namespace": {"full_path": namespace, "kind": "group"},
            "default_branch": default_branch(repo.bare),
            "visibility": "private" if repo.private else "public",
            "web_url": web_url,
            "http_url_to_repo": f"{web_url}.git",
            "archived": False,
        }

    def _branch_body(
        self, full_name: str, repo: FakeRepository, name: str, sha: str
    ) -> dict[str, Any]:
        return {
            "name": name,
            "commit": {"id": sha, "short_id": sha[:8], "title": ""},
            "merged": False,
            "protected": False,
            "default": name == default_branch(repo.bare),
            "web_url": f"{self.url}/{full_name}/-/tree/{name}",
        }

    def _page(self, items: list[Any], request: Request) -> Response:
        """One page of a list, with `Link` and GitLab's `X-Page`... headers."""
        chunk = page_of(
            items,
            request,
            size_param="per_page",
            default_size=DEFAULT_PER_PAGE,
            max_size=MAX_PER_PAGE,
        )
        raw = request.scope["raw_path"].decode("latin-1").split("?", 1)[0]
        headers = {
            "x-page": str(chunk.page),
            "x-per-page": str(chunk.size),
            "x-next-page": str(chunk.page + 1) if chunk.page < chunk.last else "",
            "x-prev-page": str(chunk.page - 1) if chunk.page > 1 else "",
            "x-total": str(len(items)),
            "x-total-pages": str(chunk.last),
        }
        link = chunk.link_header(f"{self.url}{raw}")
        if link:
            headers["link"] = link
        return self.json(chunk.items, headers=headers)


def _hook_body(hook_id: str, created: dict[str, Any]) -> dict[str, Any]:
    """A project hook as GitLab shows it: the token never."""
    events = {name: bool(created.get(name, name == "push_events")) for name in HOOK_EVENT_FIELDS}
    return {
        "id": int(hook_id),
        "url": created["url"],
        "project_id": 3,
        **events,
        "enable_ssl_verification": bool(created.get("enable_ssl_verification", True)),
        "push_events_branch_filter": created.get("push_events_branch_filter", ""),
        "created_at": "2026-01-01T00:00:00Z",
    }


@pytest.fixture(name="gitlab_server")
def gitlab_server_fixture(tmp_path: Path) -> Iterator[FakeGitlabServer]:
    """A fresh fake GitLab for one test, serving repositories from `tmp_path/served`."""
    with running(FakeGitlabServer(tmp_path / "served", token=FAKE_TOKEN)) as server:
        yield server
