"""The `github` connector: one branch of a GitHub repository, by git over HTTPS plus REST."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import httpx

from resources.connectors.base import ConnectorSpec
from resources.connectors.codehost import About, CodeHostConnector, config_schema
from resources.connectors.rest import BEARER_TOKEN, LinkPagedApi

TYPE = "github"

DEFAULT_API_URL = "https://api.github.com"
ENTERPRISE_API_PATH = "/api/v3"

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
USER_AGENT = "headwater-github-connector"

# GitHub takes any username with a token as the password; this one is what its docs use.
GIT_USERNAME = "x-access-token"
HOOK_EVENTS = ("push",)

OWNER_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
REPO_RE = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$"

CONFIG_SCHEMA = config_schema(
    title="GitHub repository",
    owner={
        "pattern": OWNER_RE,
        "errorMessage": "must be a GitHub user or organization name",
        "description": "The user or organization that owns the repository, e.g. `confuse`.",
    },
    repo={
        "pattern": REPO_RE,
        "errorMessage": "must be a GitHub repository name (letters, digits, . _ -)",
        "description": "The repository name, e.g. `api-backend`.",
    },
    token=(
        "A personal access token or installation token with read access to the "
        "repository's contents and metadata (and webhooks, to register one). Optional for "
        "public repositories."
    ),
    api_url=(
        "The REST API base URL: https://api.github.com, or "
        "https://HOST/api/v3 for GitHub Enterprise Server."
    ),
    default_api_url=DEFAULT_API_URL,
    git_url=(
        "Base URL of git over HTTPS, when it cannot be derived from apiUrl "
        "(https://github.com for api.github.com, https://HOST for HOST/api/v3)."
    ),
)

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="GitHub repository",
    description="One branch of a GitHub (or GitHub Enterprise) repository, diffed between syncs.",
    category="code",
    config_schema=CONFIG_SCHEMA,
    secret_fields=("token",),
    capabilities=("read", "incremental", "deletions", "renames", "check", "metadata"),
    auth_methods=("apiKey", "oauth2", "none"),
    api_key=BEARER_TOKEN,
    connection_fields=("token", "apiUrl", "gitUrl"),
    oauth_provider="github",
)


class GithubApi(LinkPagedApi):
    """GitHub's REST API: its media type and version, and its primary and secondary limits."""

    provider = "GitHub"
    headers = MappingProxyType(
        {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
    )
    rate_limit_statuses = frozenset({403, 429})
    remaining_header = "x-ratelimit-remaining"
    reset_header = "x-ratelimit-reset"

    def rate_limited(self, response: httpx.Response) -> bool:
        """A 403 or 429 that names a wait, has no requests left, or says "rate limit".

        Other 403s (no access, SSO required) are final.
        """
        if not super().rate_limited(response):
            return False
        headers = response.headers
        return (
            "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in self.explain(response).lower()
        )

    def error_details(self, body: Any) -> dict[str, Any]:
        """GitHub's `documentation_url`, as `documentationUrl`."""
        url = body.get("documentation_url") if isinstance(body, dict) else None
        return {"documentationUrl": url} if isinstance(url, str) else {}


class GithubConnector(CodeHostConnector):
    """Syncs one branch of a GitHub repository: content by git, metadata by REST v3."""

    spec = SPEC
    api_class = GithubApi
    default_api_url = DEFAULT_API_URL
    api_path = ENTERPRISE_API_PATH
    git_username = GIT_USERNAME
    branches_path = "/branches"
    user_name_field = "login"
    repositories_path = "/user/repos"
    repository_template = "/repos/{sample}"

    @classmethod
    def repositories_params(cls, count: int) -> dict[str, str | int]:
        """The most recently updated first."""
        return {"per_page": count, "sort": "updated"}

    @classmethod
    def repository_path(cls, full_name: str) -> str:
        """`/repos/OWNER/REPO`."""
        owner, _, repo = full_name.partition("/")
        return f"/repos/{quote(owner)}/{quote(repo)}"

    @classmethod
    def about(cls, body: Mapping[str, Any]) -> About:
        """See `CodeHostConnector.about`."""
        return About(
            full_name=str(body["full_name"]),
            default_branch=str(body["default_branch"]),
            private=bool(body.get("private")),
            visibility=_visibility(body),
            html_url=str(body.get("html_url", "")),
        )

    def languages(self, body: Mapping[str, Any]) -> Mapping[str, float]:
        """Bytes of code per language, from `/languages`."""
        languages: Mapping[str, float] = self.api.get(f"{self.repo_path}/languages")
        return languages

    def branch_path(self, branch: str) -> str:
        """`/branches/BRANCH`."""
        return f"{self.branches_path}/{quote(branch)}"

    def branch_sha(self, body: Mapping[str, Any]) -> str:
        """`commit.sha`."""
        return str(body["commit"]["sha"])

    def hook_request(self, *, url: str, secret: str) -> dict[str, Any]:
        """A `web` hook for `push`, JSON payloads signed with `secret`, TLS verified."""
        return {
            "name": "web",
            "active": True,
            "events": list(HOOK_EVENTS),
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }


def _visibility(body: Mapping[str, Any]) -> str:
    # Older Enterprise Server versions leave `visibility` out; `private` is always there.
    visibility = body.get("visibility")
    if isinstance(visibility, str):
        return visibility
    return "private" if body.get("private") else "public"
