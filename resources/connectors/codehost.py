"""What the code-host connectors share: content by git over HTTPS, metadata and hooks by REST.

A code host (GitHub, GitLab, Bitbucket) serves a repository `owner/repo` by git at
`{gitUrl}/owner/repo.git` and describes it through its REST API at `apiUrl`. The `git`
connector's shallow cache, diff and blob stream do the syncing; `CodeHostConnector` adds
the token (as an HTTP header in git's environment, scoped to the git host), repository
metadata, the branch head and push webhooks. Each provider module sets its API's paths and
the shapes of its answers.
"""

from __future__ import annotations

import base64
import itertools
import logging
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from resources.connectors.base import (
    HTTP_URL_RE,
    JSON_SCHEMA_DIALECT,
    TOKEN_SCHEMA,
    Changes,
    CheckResult,
    CheckRun,
    ConnectorError,
    HookNotPermitted,
    SourceUnavailable,
)
from resources.connectors.git import BRANCH_RE, GitConnector
from resources.connectors.globs import PATH_FILTER_PROPERTIES
from resources.connectors.rest import DEFAULT_RETRY, RestApi, RetryPolicy

logger = logging.getLogger(__name__)

API_HOST_PREFIX = "api."

# Git's words when a host refuses the token, or hides a repository the token cannot see.
GIT_AUTH_FAILURE_MARKERS = (
    "could not read username",
    "authentication failed",
    "not found",
)
# What a hooks endpoint answers a token that may read the repository but not its hooks.
HOOK_REFUSED_STATUSES = frozenset({403, 404})
# Repositories a connection test lists.
SAMPLE_REPOSITORIES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class About:
    """What one REST call says about a repository.

    Attributes:
        full_name: `owner/repo` as the provider spells it.
        default_branch: The repository's default branch.
        private: Whether the repository is private.
        visibility: `public`, `private` or `internal`.
        html_url: The repository's page.
    """

    full_name: str
    default_branch: str
    private: bool
    visibility: str
    html_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Repository:
    """What the REST API says about the repository and the synced branch.

    Attributes:
        full_name: `owner/repo` as the provider spells it.
        default_branch: The repository's default branch.
        branch: The synced branch (the configured one, else the default).
        head_sha: The commit at the tip of `branch`.
        private: Whether the repository is private.
        visibility: `public`, `private` or `internal`.
        languages: Language -> its share as the provider counts it (GitHub: bytes,
            GitLab: percent, Bitbucket: its one language at 100), largest first.
        html_url: The repository's page.
    """

    full_name: str
    default_branch: str
    branch: str
    head_sha: str
    private: bool
    visibility: str
    languages: Mapping[str, float]
    html_url: str


def config_schema(
    *,
    title: str,
    owner: Mapping[str, Any],
    repo: Mapping[str, Any],
    token: str,
    api_url: str,
    default_api_url: str,
    git_url: str,
) -> Mapping[str, Any]:
    """The JSON Schema of a code-host source; the provider describes its own fields.

    Args:
        title: The schema's title, e.g. `GitHub repository`.
        owner: Schema of `owner` (pattern, errorMessage, description).
        repo: Schema of `repo`.
        token: Description of `token`: which token, with which rights.
        api_url: Description of `apiUrl`.
        default_api_url: The default of `apiUrl`.
        git_url: Description of `gitUrl`.
    """
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": {
            "owner": {"type": "string", **owner},
            "repo": {"type": "string", **repo},
            "branch": {
                "type": "string",
                "minLength": 1,
                "pattern": BRANCH_RE,
                "errorMessage": "must be a valid git branch name",
                "description": "The branch to sync. Default: the repository's default branch.",
            },
            **PATH_FILTER_PROPERTIES,
            "token": {**TOKEN_SCHEMA, "description": token},
            "apiUrl": {
                "type": "string",
                "pattern": HTTP_URL_RE,
                "errorMessage": "must be an http(s) URL",
                "default": default_api_url,
                "description": api_url,
            },
            "gitUrl": {
                "type": "string",
                "pattern": HTTP_URL_RE,
                "errorMessage": "must be an http(s) URL",
                "description": git_url,
            },
        },
        "required": ["owner", "repo"],
        "additionalProperties": False,
    }


def git_auth_env(git_base: str, *, username: str, token: str) -> dict[str, str]:
    """Git environment that sends the token as Basic auth to `git_base` only.

    `GIT_CONFIG_*` variables act as `-c` options without appearing in any command line.
    """
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{git_base}/.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


class CodeHostConnector(GitConnector):
    """Syncs one branch of a hosted repository: content by git, metadata and hooks by REST.

    The token reaches git only as an HTTP header in git's environment (`GIT_CONFIG_*`),
    scoped to the git host: never in a URL, a command line, the cache's config or a
    message; the REST API sends it as a bearer token.

    Attributes:
        api_class: The provider's REST API.
        default_api_url: `apiUrl` when the config has none.
        api_path: The path of the API under its host (`/api/v4`), dropped to find git.
        api_host_prefix: A host prefix only the API has (`api.` of `api.github.com`).
        git_username: The username git sends with the token.
        branches_path: The branch list, under the repository's API path.
        hooks_path: The webhook list, under the repository's API path.
        hook_id_field: The field of a created hook that names it.
        user_path: Who the token is.
        user_name_field: The field of that answer that names the user.
        repositories_path: The repositories the token's user can read (a paginated list).
        repository_name_field: The field of a listed repository holding `owner/repo`.
        repository_template: `repository_path` of `{sample}`, as a connection test names it.
    """

    api_class: ClassVar[type[RestApi]]
    default_api_url: ClassVar[str]
    api_path: ClassVar[str]
    api_host_prefix: ClassVar[str | None] = API_HOST_PREFIX
    git_username: ClassVar[str]
    branches_path: ClassVar[str]
    hooks_path: ClassVar[str] = "/hooks"
    hook_id_field: ClassVar[str] = "id"
    user_path: ClassVar[str] = "/user"
    user_name_field: ClassVar[str]
    repositories_path: ClassVar[str]
    repository_name_field: ClassVar[str] = "full_name"
    repository_template: ClassVar[str]

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
        self.api_url = str(config.get("apiUrl") or self.default_api_url).rstrip("/")
        self.git_base = str(config.get("gitUrl") or self.git_base_url(self.api_url)).rstrip("/")
        token: str | None = config.get("token")
        super().__init__(
            config,
            workdir=workdir,
            remote=f"{self.git_base}/{self.full_name}.git",
            extra_env=(
                git_auth_env(self.git_base, username=self.git_username, token=token)
                if token
                else None
            ),
        )
        self.api = self.api_class(self.api_url, token=token, retry=retry, sleep=sleep)
        self.repo_path = self.repository_path(self.full_name)

    @classmethod
    def git_base_url(cls, api_url: str) -> str:
        """Where git is served for an API base URL.

        `https://HOST/PREFIX{api_path}` -> `https://HOST/PREFIX`; an `api.` host with
        nothing else left in the path loses the prefix (`https://api.github.com` ->
        `https://github.com`); anything else is taken as serving both.
        """
        scheme, netloc, path, _, _ = urlsplit(api_url.rstrip("/"))
        path = path.removesuffix(cls.api_path)
        prefix = cls.api_host_prefix
        if prefix and not path and netloc.startswith(prefix):
            netloc = netloc.removeprefix(prefix)
        return urlunsplit((scheme, netloc, path, "", ""))

    @classmethod
    def test_connection(cls, config: Mapping[str, Any]) -> CheckResult:
        """Who the token is, a few repositories it can read, and one of them read.

        Args:
            config: A connection's fields: `token`, and `apiUrl` for a self-hosted server.
        """
        api_url = str(config.get("apiUrl") or cls.default_api_url).rstrip("/")
        api = cls.api_class(api_url, token=config.get("token"))
        run = CheckRun()
        found: dict[str, Any] = {"apiUrl": api_url}

        def whoami() -> str:
            found["user"] = str(api.get(cls.user_path)[cls.user_name_field])
            return f"authenticated as {found['user']}"

        def list_repositories() -> str:
            pages = api.paginate(
                cls.repositories_path, params=cls.repositories_params(SAMPLE_REPOSITORIES)
            )
            first = itertools.islice(pages, SAMPLE_REPOSITORIES)
            found["sample"] = [str(repo[cls.repository_name_field]) for repo in first]
            return f"{len(found['sample'])} repositories readable: {', '.join(found['sample'])}"

        def read_sample() -> str:
            if not found["sample"]:
                return "no repository to read"
            about = cls.about(api.get(cls.repository_path(found["sample"][0])))
            return f"{about.full_name}: default branch {about.default_branch}"

        try:
            run.step(f"GET {cls.user_path}", whoami)
            run.step(f"GET {cls.repositories_path}", list_repositories)
            run.step(f"GET {cls.repository_template}", read_sample)
        finally:
            api.close()
        return run.result(
            message=f"Authenticated to {api_url} as {found.get('user')}", details=found
        )

    @classmethod
    @abstractmethod
    def repositories_params(cls, count: int) -> dict[str, str | int]:
        """Query of `repositories_path` for the first `count`, most recently active first."""

    @classmethod
    @abstractmethod
    def repository_path(cls, full_name: str) -> str:
        """A repository's path in the REST API, e.g. `/repos/OWNER/REPO`."""

    @classmethod
    @abstractmethod
    def about(cls, body: Mapping[str, Any]) -> About:
        """The facts in a repository's REST answer."""

    @abstractmethod
    def languages(self, body: Mapping[str, Any]) -> Mapping[str, float]:
        """The repository's languages (`body` is its REST answer), in any order."""

    @abstractmethod
    def branch_path(self, branch: str) -> str:
        """The path of one branch, under the repository's API path."""

    @abstractmethod
    def branch_sha(self, body: Mapping[str, Any]) -> str:
        """The head commit in the REST answer about a branch."""

    @abstractmethod
    def hook_request(self, *, url: str, secret: str) -> dict[str, Any]:
        """The body that creates a webhook for push events only, signed with `secret`."""

    def check(self) -> CheckResult:
        """GET the repository from the REST API, then `git ls-remote` the branch."""
        run = CheckRun()
        found: dict[str, Any] = {
            "repository": self.full_name,
            "apiUrl": self.api_url,
            "url": self.safe_url,
        }

        def get_repository() -> str:
            about = self.about(self._get_repository())
            found.update(
                defaultBranch=about.default_branch,
                visibility=about.visibility,
                private=about.private,
            )
            return f"{about.full_name}: {about.visibility}, default {about.default_branch}"

        def ls_remote() -> str:
            with self._explain_git_auth():
                found.update(self._ls_remote())
            return f"branch {found['branch']} at {found['head'][:12]}"

        run.step(f"GET {self.repo_path}", get_repository)
        run.step("git ls-remote", ls_remote)
        return run.result(
            message=(
                f"Reached {self.full_name}: branch {found.get('branch')} "
                f"at {str(found.get('head'))[:12]}"
            ),
            details=found,
        )

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """See `GitConnector.changes`; a refused token is said in the provider's terms."""
        with self._explain_git_auth():
            return super().changes(cursor=cursor, known=known)

    def repository(self) -> Repository:
        """The repository's metadata and the synced branch's head, from the REST API.

        Raises:
            ConnectorError: See `RestApi.get`.
            SourceUnavailable: No such repository or branch, or no access.
        """
        body = self._get_repository()
        about = self.about(body)
        branch = self.branch or about.default_branch
        languages = sorted(self.languages(body).items(), key=lambda item: (-item[1], item[0]))
        return Repository(
            full_name=about.full_name,
            default_branch=about.default_branch,
            branch=branch,
            head_sha=self._branch_head(branch),
            private=about.private,
            visibility=about.visibility,
            languages=MappingProxyType(dict(languages)),
            html_url=about.html_url,
        )

    def head_sha(self) -> str:
        """The commit at the tip of the configured branch (one request when it is set)."""
        branch = self.branch or self.about(self._get_repository()).default_branch
        return self._branch_head(branch)

    def branches(self) -> list[str]:
        """Names of all branches of the repository, across pages."""
        items = self.api.paginate(f"{self.repo_path}{self.branches_path}")
        return [str(item["name"]) for item in items]

    def create_hook(self, *, url: str, secret: str) -> str:
        """Register a webhook for push events to `url`, signed with `secret`; its id.

        Raises:
            HookNotPermitted: The hooks endpoint answered 403 or 404.
            ConnectorError: Any other refusal or failure.
        """
        path = f"{self.repo_path}{self.hooks_path}"
        with self._hooks_permitted():
            body = self.api.post(path, json=self.hook_request(url=url, secret=secret))
        hook_id = str(body[self.hook_id_field])
        logger.info("created webhook %s on %s", hook_id, self.full_name)
        return hook_id

    def delete_hook(self, hook_id: str) -> None:
        """Remove the webhook `hook_id`; one already gone (404) is fine.

        Raises:
            HookNotPermitted: The hooks endpoint answered 403.
            ConnectorError: Any other refusal or failure.
        """
        path = f"{self.repo_path}{self.hooks_path}/{quote(hook_id, safe='')}"
        with self._hooks_permitted():
            try:
                self.api.delete(path)
            except SourceUnavailable:
                logger.info("webhook %s of %s was already gone", hook_id, self.full_name)
                return
        logger.info("deleted webhook %s of %s", hook_id, self.full_name)

    def close(self) -> None:
        """Stop git's cat-file and close the HTTP client."""
        try:
            super().close()
        finally:
            self.api.close()

    @contextmanager
    def _hooks_permitted(self) -> Iterator[None]:
        """Turn a 403 or 404 of the hooks endpoint into `HookNotPermitted`."""
        try:
            yield
        except ConnectorError as error:
            if error.details.get("status") not in HOOK_REFUSED_STATUSES:
                raise
            raise HookNotPermitted(
                f"the token may not manage webhooks of {self.full_name} ({error.message}); "
                "set the webhook up by hand",
                details={**error.details, "repository": self.full_name},
            ) from error

    @contextmanager
    def _explain_git_auth(self) -> Iterator[None]:
        """Turn git's `could not read Username` into what it means on a code host."""
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

    def _get_repository(self) -> Mapping[str, Any]:
        try:
            body: Mapping[str, Any] = self.api.get(self.repo_path)
        except SourceUnavailable as error:
            raise SourceUnavailable(
                f"repository {self.full_name} not found or no access ({error.message})",
                details={**error.details, "repository": self.full_name},
            ) from error
        return body

    def _branch_head(self, branch: str) -> str:
        try:
            body = self.api.get(f"{self.repo_path}{self.branch_path(branch)}")
        except SourceUnavailable as error:
            raise SourceUnavailable(
                f"branch {branch!r} of {self.full_name} not found or no access ({error.message})",
                details={**error.details, "repository": self.full_name, "branch": branch},
            ) from error
        return self.branch_sha(body)
