"""A real HTTP server on 127.0.0.1 that answers as Bitbucket Cloud's REST API 2.0 does.

REST under `/2.0` (shapes from Bitbucket's REST docs): `GET /user`, `GET /repositories`
(`role=member` needs a token), `GET /repositories/{workspace}/{slug}`,
`/refs/branches` (paged as `{"pagelen", "size", "page", "values", "next"}`, the last page
without `next`), `/refs/branches/{name}`, repository webhooks (`GET|POST /hooks`,
`DELETE /hooks/{uid}`, uids in braces); errors as `{"type": "error", "error": {"message"}}`;
a private repository without a token is 403; the scaled rate-limit headers
(`X-RateLimit-Limit`, `-Resource`, `-NearLimit`) on every answer, and a rate-limited request
gets 429 `Rate limit for this resource has been exceeded`, with no `Retry-After` unless
told. Git over smart HTTP at `/{workspace}/{slug}.git/...` (see `tests.fakes.codehost`),
username `x-token-auth` with the token as the password.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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

API_PREFIX = "/2.0"
RATE_LIMIT = 1000
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
FAKE_TOKEN = "ATCTT3xFfGN0_fake_test_token_0123456789"
RATE_LIMIT_MESSAGE = "Rate limit for this resource has been exceeded"


class FakeBitbucketServer(FakeCodeHost):
    """Bitbucket Cloud's REST shapes and limits over the shared fake code host."""

    api_prefix = API_PREFIX
    git_username = "x-token-auth"
    git_realm = "Bitbucket.org HTTP"
    hidden_status = 403
    unauthorized_message = "Token is invalid, expired, or not supported for this endpoint."

    def not_found_message(self, full_name: str) -> str:
        """Bitbucket's words for a repository it does not know or hides."""
        return (
            "You may not have access to this repository or it no longer exists in this "
            "workspace. If you think this repository exists and you have access, make sure "
            "you are authenticated."
        )

    def error_body(self, message: str) -> dict[str, Any]:
        """`{"type": "error", "error": {"message": ...}}`."""
        return {"type": "error", "error": {"message": message}}

    def rate_headers(self) -> dict[str, str]:
        """The scaled rate-limit headers that access tokens get."""
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-resource": "api",
            "x-ratelimit-nearlimit": "false",
        }

    def hooks_refusal(self) -> tuple[int, Any]:
        """A token without the `webhook` scope."""
        body = self.error_body("Your credentials lack one or more required privilege scopes.")
        body["error"]["detail"] = {"granted": ["repository"], "required": ["webhook"]}
        return 403, body

    def subscription(self, hook: dict[str, Any]) -> HookSubscription:
        """`url`, `events` and `secret`, as sent."""
        return HookSubscription(hook["url"], hook["events"], hook["secret"])

    def new_hook_id(self, number: int) -> str:
        """A webhook uid: a UUID in braces."""
        return f"{{{uuid.UUID(int=number)}}}"

    def rate_limit(self, *, retry_after: int | None = None, times: int = 1) -> None:
        """429 with the rate-limit headers near the limit (and `Retry-After` if given)."""
        headers = self.rate_headers() | {"x-ratelimit-nearlimit": "true"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.script(429, RATE_LIMIT_MESSAGE, times=times, headers=headers)

    def routes(self, app: FastAPI) -> None:
        """Bitbucket's user, repository list, repository, branches and webhooks endpoints."""
        repos = API_PREFIX + "/repositories/{workspace}/{slug}"

        @app.get(API_PREFIX + "/user")
        def get_user(request: Request) -> Response:
            self.accept_authenticated(request)
            return self.json(
                {
                    "type": "user",
                    "display_name": USER_NAME,
                    "nickname": USER_NAME,
                    "account_id": "712020:2f1a9c4e-0000-4000-8000-000000000001",
                    "uuid": "{9c4e2f1a-0000-4000-8000-000000000001}",
                }
            )

        @app.get(API_PREFIX + "/repositories")
        def list_repositories(request: Request) -> Response:
            if "role" in request.query_params:
                self.accept_authenticated(request)
            else:
                self.accept(request)
            anonymous = request.headers.get("authorization") is None
            items = [
                self._repository_body(*full_name.split("/"), repo)
                for full_name, repo in self.repositories()
                if not (anonymous and repo.private)
            ]
            return self._page(items, request)

        @app.get(repos)
        def get_repository(request: Request, workspace: str, slug: str) -> Response:
            repo = self.lookup(request, f"{workspace}/{slug}")
            return self.json(self._repository_body(workspace, slug, repo))

        @app.get(repos + "/refs/branches")
        def list_branches(request: Request, workspace: str, slug: str) -> Response:
            repo = self.lookup(request, f"{workspace}/{slug}")
            items = [_branch_body(name, sha) for name, sha in branches(repo.bare)]
            return self._page(items, request)

        @app.get(repos + "/refs/branches/{name:path}")
        def get_branch(request: Request, workspace: str, slug: str, name: str) -> Response:
            repo = self.lookup(request, f"{workspace}/{slug}")
            shas = dict(branches(repo.bare))
            if name not in shas:
                return self.error(404, f"Branch {name!r} not found")
            return self.json(_branch_body(name, shas[name]))

        @app.get(repos + "/hooks")
        def list_hooks(request: Request, workspace: str, slug: str) -> Response:
            repo = self.lookup_hooks(request, f"{workspace}/{slug}")
            items = [_hook_body(uid, body) for uid, body in repo.hooks.items()]
            return self._page(items, request)

        @app.post(repos + "/hooks")
        async def create_hook(request: Request, workspace: str, slug: str) -> Response:
            repo = self.lookup_hooks(request, f"{workspace}/{slug}")
            body = await request.json()
            missing = [name for name in ("url", "events") if not body.get(name)]
            if missing:
                error = self.error_body("Bad request")
                error["error"]["fields"] = {name: ["This field is required."] for name in missing}
                return self.json(error, status=400)
            uid = self.add_hook(repo, body)
            return self.json(_hook_body(uid, body), status=201)

        @app.delete(repos + "/hooks/{uid}")
        def delete_hook(request: Request, workspace: str, slug: str, uid: str) -> Response:
            repo = self.lookup_hooks(request, f"{workspace}/{slug}")
            return self.delete_hook(repo, uid, missing="Webhook not found")

    def _repository_body(self, workspace: str, slug: str, repo: FakeRepository) -> dict[str, Any]:
        html = f"{self.url}/{workspace}/{slug}"
        language = max(repo.languages, key=lambda name: repo.languages[name], default="")
        return {
            "type": "repository",
            "uuid": "{21fa9bf8-b5b2-4891-97ed-d590bad0f871}",
            "full_name": f"{workspace}/{slug}",
            "name": slug,
            "slug": slug,
            "is_private": repo.private,
            "scm": "git",
            "language": language.lower(),
            "mainbranch": {"type": "branch", "name": default_branch(repo.bare)},
            "workspace": {"type": "workspace", "slug": workspace},
            "links": {
                "html": {"href": html},
                "clone": [{"name": "https", "href": f"{html}.git"}],
            },
        }

    def _page(self, items: list[Any], request: Request) -> Response:
        """One page of a list, as `{"pagelen", "size", "page", "values", "next"}`."""
        chunk = page_of(
            items, request, size_param="pagelen", default_size=DEFAULT_PAGELEN, max_size=MAX_PAGELEN
        )
        body: dict[str, Any] = {
            "pagelen": chunk.size,
            "size": len(items),
            "page": chunk.page,
            "values": chunk.items,
        }
        if chunk.page < chunk.last:
            base = f"{self.url}{request.url.path}"
            body["next"] = chunk.url(base, chunk.page + 1, size_param="pagelen")
        return self.json(body)


def _branch_body(name: str, sha: str) -> dict[str, Any]:
    return {
        "type": "branch",
        "name": name,
        "target": {"type": "commit", "hash": sha, "message": ""},
    }


def _hook_body(uid: str, created: dict[str, Any]) -> dict[str, Any]:
    """A webhook subscription as Bitbucket shows it: the secret only as `secret_set`."""
    return {
        "type": "webhook_subscription",
        "uuid": uid,
        "url": created["url"],
        "description": created.get("description", ""),
        "subject_type": "repository",
        "active": created.get("active", True),
        "events": created["events"],
        "secret_set": bool(created.get("secret")),
        "created_at": "2026-01-01T00:00:00Z",
    }


@pytest.fixture(name="bitbucket_server")
def bitbucket_server_fixture(tmp_path: Path) -> Iterator[FakeBitbucketServer]:
    """A fresh fake Bitbucket for one test, serving repositories from `tmp_path/served`."""
    with running(FakeBitbucketServer(tmp_path / "served", token=FAKE_TOKEN)) as server:
        yield server
