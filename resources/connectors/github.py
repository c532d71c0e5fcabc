"""The `github` connector: one branch of a GitHub repository, by git over HTTPS plus REST."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from resources.connectors.base import (
    JSON_SCHEMA_DIALECT,
    Changes,
    CheckResult,
    CheckRun,
    ConnectorSpec,
    SourceUnavailable,
)
from resources.connectors.git import BRANCH_RE, GitConnector
from resources.connectors.globs import PATH_FILTER_PROPERTIES
from resources.connectors.rest import DEFAULT_RETRY, LinkPagedApi, RetryPolicy

logger = logging.getLogger(__name__)

TYPE = "github"

DEFAULT_API_URL = "https://api.github.com"
PUBLIC_GIT_URL = "https://github.com"
ENTERPRISE_API_PATH = "/api/v3"
API_HOST_PREFIX = "api."

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
USER_AGENT = "headwater-github-connector"

# GitHub takes any username with a token as the password; this one is what its docs use.
GIT_USERNAME = "x-access-token"

# Git's words when GitHub refuses the token, or hides a repository the token cannot see.
GIT_AUTH_FAILURE_MARKERS = (
    "could not read username",
    "authentication failed",
    "repository not found",
)

OWNER_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
REPO_RE = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$"
HTTP_URL_RE = r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$"

CONFIG_SCHEMA: Mapping[str, Any] = {
    "$schema": JSON_SCHEMA_DIALECT,
    "title": "GitHub repository",
    "type": "object",
    "properties": {
        "owner": {
            "type": "string",
            "pattern": OWNER_RE,
            "errorMessage": "must be a GitHub user or organization name",
            "description": "The user or organization that owns the repository, e.g. `confuse`.",
        },
        "repo": {
            "type": "string",
            "pattern": REPO_RE,
            "errorMessage": "must be a GitHub repository name (letters, digits, . _ -)",
            "description": "The repository name, e.g. `api-backend`.",
        },
        "branch": {
            "type": "string",
            "minLength": 1,
            "pattern": BRANCH_RE,
            "errorMessage": "must be a valid git branch name",
            "description": "The branch to sync. Default: the repository's default branch.",
        },
        **PATH_FILTER_PROPERTIES,
        "token": {
            "type": "string",
            "minLength": 1,
            "writeOnly": True,
            "description": (
                "A personal access token or installation token with read access to the "
                "repository's contents and metadata. Optional for public repositories."
            ),
        },
        "apiUrl": {
            "type": "string",
            "pattern": HTTP_URL_RE,
            "errorMessage": "must be an http(s) URL",
            "default": DEFAULT_API_URL,
            "description": (
                "The REST API base URL: https://api.github.com, or "
                "https://HOST/api/v3 for GitHub Enterprise Server."
            ),
        },
        "gitUrl": {
            "type": "string",
            "pattern": HTTP_URL_RE,
            "errorMessage": "must be an http(s) URL",
            "description": (
                "Base URL of git over HTTPS, when it cannot be derived from apiUrl "
                "(https://github.com for api.github.com, https://HOST for HOST/api/v3)."
            ),
        },
    },
    "required": ["owner", "repo"],
    "additionalProperties": False,
}

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="GitHub repository",
    description="One branch of a GitHub (or GitHub Enterprise) repository, diffed between syncs.",
    category="code",
    config_schema=CONFIG_SCHEMA,
    secret_fields=("token",),
    capabilities=("read", "incremental", "deletions", "renames", "check", "metadata"),
    auth_methods=("token", "none"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Repository:
    """What the REST API says about the repository and the synced branch.

    Attributes:
        full_name: `owner/repo` as GitHub spells it.
        default_branch: The repository's default branch.
        branch: The synced branch (the configured one, else the default).
        head_sha: The commit at the tip of `branch`.
        private: Whether the repository is private.
        visibility: `public`, `private` or `internal`.
        languages: Language -> bytes of code, largest first.
        html_url: The repository's page.
    """

    full_name: str
    default_branch: str
    branch: str
    head_sha: str
    private: bool
    visibility: str
    languages: Mapping[str, int]
    html_url: str


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


class GithubConnector(GitConnector):
    """Syncs one branch of a GitHub repository: content by git, metadata by REST.

    The `git` connector's shallow cache, diff and blob stream do the syncing; the clone
    URL is derived from the config, and the token reaches git only as an HTTP header in
    git's environment (`GIT_CONFIG_*`), scoped to the git host: never in a URL, a command
    line, the cache's config or a message.
    """

    spec = SPEC

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        workdir: Path,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """See `BaseConnector`; nothing runs or connects until it is used.

        Args:
            config: The source config.
            workdir: The per-source cache folder.
            retry: Waits and attempts of the REST API.
            sleep: Waits that long; tests pass a recorder.
        """
        self.owner: str = config["owner"]
        self.repo_name: str = config["repo"]
        self.full_name = f"{self.owner}/{self.repo_name}"
        self.api_url = str(config.get("apiUrl") or DEFAULT_API_URL).rstrip("/")
        self.git_base = str(config.get("gitUrl") or git_base_url(self.api_url)).rstrip("/")
        token: str | None = config.get("token")
        super().__init__(
            config,
            workdir=workdir,
            remote=f"{self.git_base}/{self.full_name}.git",
            extra_env=git_auth_env(self.git_base, token) if token else None,
        )
        self.api = GithubApi(self.api_url, token=token, retry=retry, sleep=sleep)
        self._repo_path = f"/repos/{quote(self.owner)}/{quote(self.repo_name)}"

    def check(self) -> CheckResult:
        """GET the repository from the REST API, then `git ls-remote` the branch."""
        run = CheckRun()
        found: dict[str, Any] = {
            "repository": self.full_name,
            "apiUrl": self.api_url,
            "url": self.safe_url,
        }

        def get_repository() -> str:
            body = self._get_repository()
            found.update(
                defaultBranch=body["default_branch"],
                visibility=_visibility(body),
                private=bool(body.get("private")),
            )
            return f"{body['full_name']}: {found['visibility']}, default {found['defaultBranch']}"

        def ls_remote() -> str:
            with self._explain_git_auth():
                found.update(self._ls_remote())
            return f"branch {found['branch']} at {found['head'][:12]}"

        run.step(f"GET /repos/{self.full_name}", get_repository)
        run.step("git ls-remote", ls_remote)
        return run.result(
            message=(
                f"Reached {self.full_name}: branch {found.get('branch')} "
                f"at {str(found.get('head'))[:12]}"
            ),
            details=found,
        )

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """See `GitConnector.changes`; a refused token is said in GitHub's terms."""
        with self._explain_git_auth():
            return super().changes(cursor=cursor, known=known)

    def repository(self) -> Repository:
        """The repository's metadata and the synced branch's head, from the REST API.

        Raises:
            ConnectorError: See `GithubApi.get`.
            SourceUnavailable: No such repository or branch, or no access.
        """
        body = self._get_repository()
        branch = self.branch or str(body["default_branch"])
        languages = self.api.get(f"{self._repo_path}/languages")
        return Repository(
            full_name=str(body["full_name"]),
            default_branch=str(body["default_branch"]),
            branch=branch,
            head_sha=self._branch_head(branch),
            private=bool(body.get("private")),
            visibility=_visibility(body),
            languages=MappingProxyType(
                dict(sorted(languages.items(), key=lambda item: (-item[1], item[0])))
            ),
            html_url=str(body.get("html_url", "")),
        )

    def head_sha(self) -> str:
        """The commit at the tip of the configured branch (one request when it is set)."""
        branch = self.branch or str(self._get_repository()["default_branch"])
        return self._branch_head(branch)

    def branches(self) -> list[str]:
        """Names of all branches of the repository, across pages."""
        return [str(item["name"]) for item in self.api.paginate(f"{self._repo_path}/branches")]

    def close(self) -> None:
        """Stop git's cat-file and close the HTTP client."""
        try:
            super().close()
        finally:
            self.api.close()

    @contextmanager
    def _explain_git_auth(self) -> Iterator[None]:
        """Turn git's `could not read Username` into what it means on GitHub."""
        try:
            yield
        except SourceUnavailable as error:
            stderr = str(error.details.get("stderr", "")).lower()
            if not any(marker in stderr for marker in GIT_AUTH_FAILURE_MARKERS):
                raise
            raise SourceUnavailable(
                f"git over HTTPS refused for {self.full_name}: bad credentials, or repository "
                f"not found or no access ({error.details['stderr']})",
                details={**error.details, "repository": self.full_name},
            ) from error

    def _get_repository(self) -> dict[str, Any]:
        try:
            body: dict[str, Any] = self.api.get(self._repo_path)
        except SourceUnavailable as error:
            raise SourceUnavailable(
                f"repository {self.full_name} not found or no access ({error.message})",
                details={**error.details, "repository": self.full_name},
            ) from error
        return body

    def _branch_head(self, branch: str) -> str:
        try:
            body = self.api.get(f"{self._repo_path}/branches/{quote(branch)}")
        except SourceUnavailable as error:
            raise SourceUnavailable(
                f"branch {branch!r} of {self.full_name} not found or no access ({error.message})",
                details={**error.details, "repository": self.full_name, "branch": branch},
            ) from error
        return str(body["commit"]["sha"])


def git_base_url(api_url: str) -> str:
    """Where git is served for an API base URL.

    `https://api.github.com` -> `https://github.com`; Enterprise Server
    `https://HOST/api/v3` -> `https://HOST`; `https://api.SUB.ghe.com` ->
    `https://SUB.ghe.com`; anything else is taken as serving both.
    """
    parts = urlsplit(api_url.rstrip("/"))
    if parts.path.endswith(ENTERPRISE_API_PATH):
        path = parts.path.removesuffix(ENTERPRISE_API_PATH)
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if parts.netloc.startswith(API_HOST_PREFIX) and not parts.path:
        netloc = parts.netloc.removeprefix(API_HOST_PREFIX)
        return urlunsplit((parts.scheme, netloc, "", "", ""))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def git_auth_env(git_base: str, token: str) -> dict[str, str]:
    """Git environment that sends the token as Basic auth to `git_base` only.

    `GIT_CONFIG_*` variables act as `-c` options without appearing in any command line.
    """
    basic = base64.b64encode(f"{GIT_USERNAME}:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{git_base}/.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def _visibility(body: Mapping[str, Any]) -> str:
    # Older Enterprise Server versions leave `visibility` out; `private` is always there.
    visibility = body.get("visibility")
    if isinstance(visibility, str):
        return visibility
    return "private" if body.get("private") else "public"
