"""A real HTTP server on 127.0.0.1 that answers as GitHub (Enterprise Server) does, for tests.

REST under `/api/v3` (shapes from GitHub's REST docs): `GET /user`, `/user/repos`,
`GET /repos/{owner}/{repo}`,
`/languages`, `/branches` (paginated with `Link`), `/branches/{branch}`, and repository
webhooks (`GET|POST /hooks`, `DELETE /hooks/{id}`); errors as
`{"message", "documentation_url", "status"}`; `X-RateLimit-*` headers on every answer.
Git over smart HTTP at `/{owner}/{repo}.git/...` (see `tests.fakes.codehost`), any
username with the token as the password. Tests can make the next API requests answer 401,
404 or a primary/secondary rate limit, refuse hook management, and see every request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

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

API_PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
FAKE_TOKEN = "ghp_fake_test_token_0123456789"
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
FIRST_HOOK_ID = 12345677
ANONYMOUS_MESSAGE = "Requires authentication"


class FakeGithubServer(FakeCodeHost):
    """GitHub's REST shapes and limits over the shared fake code host."""

    api_prefix = API_PREFIX
    git_realm = "GitHub"
    unauthorized_message = "Bad credentials"

    def not_found_message(self, full_name: str) -> str:
        """GitHub says only `Not Found`, for missing and hidden repositories alike."""
        return "Not Found"

    def error_body(self, message: str) -> dict[str, Any]:
        """`{"message", "documentation_url"}`."""
        return {"message": message, "documentation_url": DOCS}

    def rate_headers(self) -> dict[str, str]:
        """`X-RateLimit-*` of the core resource, one request used."""
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(RATE_LIMIT - 1),
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def hooks_refusal(self) -> tuple[int, Any]:
        """A fine-grained token without the webhooks permission."""
        return 403, self.error_body("Resource not accessible by personal access token")

    def subscription(self, hook: dict[str, Any]) -> HookSubscription:
        """`events`, and the URL and secret in `config`."""
        config = hook["config"]
        return HookSubscription(config["url"], hook["events"], config["secret"])

    def new_hook_id(self, number: int) -> str:
        """GitHub's hook ids are large integers."""
        return str(FIRST_HOOK_ID + number)

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

    def routes(self, app: FastAPI) -> None:
        """GitHub's repository, languages, branches and hooks endpoints."""
        repos = API_PREFIX + "/repos/{owner}/{name}"

        @app.get(repos)
        def get_repository(request: Request, owner: str, name: str) -> Response:
            repo = self.lookup(request, f"{owner}/{name}")
            return self.json(self._repository_body(owner, name, repo))

        @app.get(repos + "/languages")
        def get_languages(request: Request, owner: str, name: str) -> Response:
            repo = self.lookup(request, f"{owner}/{name}")
            return self.json(repo.languages)

        @app.get(repos + "/branches")
        def list_branches(request: Request, owner: str, name: str) -> Response:
            repo = self.lookup(request, f"{owner}/{name}")
            items = [
                {"name": branch, "commit": {"sha": sha, "url": ""}, "protected": False}
                for branch, sha in branches(repo.bare)
            ]
            return self._page(items, request)

        @app.get(repos + "/branches/{branch:path}")
        def get_branch(request: Request, owner: str, name: str, branch: str) -> Response:
            repo = self.lookup(request, f"{owner}/{name}")
            shas = dict(branches(repo.bare))
            if branch not in shas:
                return self.error(404, "Branch not found")
            return self.json(
                {
                    "name": branch,
                    "commit": {"sha": shas[branch], "commit": {"message": ""}, "url": ""},
                    "protected": False,
                    "_links": {"html": f"{self.url}/{owner}/{name}/tree/{branch}"},
                }
            )

        @app.get(API_PREFIX + "/user")
        def get_user(request: Request) -> Response:
            self.accept_authenticated(request, message=ANONYMOUS_MESSAGE)
            return self.json({"login": USER_NAME, "id": 583231, "type": "User"})

        @app.get(API_PREFIX + "/user/repos")
        def list_user_repositories(request: Request) -> Response:
            self.accept_authenticated(request, message=ANONYMOUS_MESSAGE)
            items = [
                self._repository_body(*full_name.split("/"), repo)
                for full_name, repo in self.repositories()
            ]
            return self._page(items, request)

        @app.get(repos + "/hooks")
        def list_hooks(request: Request, owner: str, name: str) -> Response:
            repo = self.lookup_hooks(request, f"{owner}/{name}")
            items = [_hook_body(hook_id, body) for hook_id, body in repo.hooks.items()]
            return self._page(items, request)

        @app.post(repos + "/hooks")
        async def create_hook(request: Request, owner: str, name: str) -> Response:
            repo = self.lookup_hooks(request, f"{owner}/{name}")
            body = await request.json()
            if not isinstance(body.get("config"), dict) or "url" not in body["config"]:
                return self.json({**self.error_body("Validation Failed"), "errors": []}, status=422)
            hook_id = self.add_hook(repo, body)
            return self.json(_hook_body(hook_id, body), status=201)

        @app.delete(repos + "/hooks/{hook_id}")
        def delete_hook(request: Request, owner: str, name: str, hook_id: str) -> Response:
            repo = self.lookup_hooks(request, f"{owner}/{name}")
            return self.delete_hook(repo, hook_id, missing="Not Found")

    def _repository_body(self, owner: str, name: str, repo: FakeRepository) -> dict[str, Any]:
        html_url = f"{self.url}/{owner}/{name}"
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
            "url": f"{self.api_url}/repos/{owner}/{name}",
            "default_branch": default_branch(repo.bare),
            "fork": False,
            "archived": False,
        }

    def _page(self, items: list[Any], request: Request) -> Response:
        """One page of a list, with GitHub's `Link` header."""
        chunk = page_of(
            items,
            request,
            size_param="per_page",
            default_size=DEFAULT_PER_PAGE,
            max_size=MAX_PER_PAGE,
        )
        link = chunk.link_header(f"{self.url}{request.url.path}")
        return self.json(chunk.items, headers={"link": link} if link else None)


def _hook_body(hook_id: str, created: dict[str, Any]) -> dict[str, Any]:
    """A hook as GitHub shows it: the secret masked."""
    config = {**created.get("config", {})}
    if "secret" in config:
        config["secret"] = "********"
    return {
        "type": "Repository",
        "id": int(hook_id),
        "name": created.get("name", "web"),
        "active": created.get("active", True),
        "events": created.get("events", ["push"]),
        "config": config,
    }


@contextmanager
def running_github_server(root: Path, *, token: str) -> Iterator[FakeGithubServer]:
    """Serve a fake GitHub for repositories under `root` until exit."""
    with running(FakeGithubServer(root, token=token)) as server:
        yield server


@pytest.fixture(name="github_server")
def github_server_fixture(tmp_path: Path) -> Iterator[FakeGithubServer]:
    """A fresh fake GitHub for one test, serving repositories from `tmp_path/served`."""
    with running_github_server(tmp_path / "served", token=FAKE_TOKEN) as server:
        yield server
