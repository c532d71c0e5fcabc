"""The `gitlab` connector: one branch of a GitLab project, by git over HTTPS plus REST v4."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from resources.connectors.base import ConnectorSpec
from resources.connectors.codehost import About, CodeHostConnector, config_schema
from resources.connectors.rest import BEARER_TOKEN, LinkPagedApi

TYPE = "gitlab"

DEFAULT_API_URL = "https://gitlab.com/api/v4"
API_PATH = "/api/v4"
USER_AGENT = "headwater-gitlab-connector"

# GitLab takes `oauth2` with any token (personal, project, group or OAuth) as the password.
GIT_USERNAME = "oauth2"

# A path segment: letters, digits, `_`, `-`, `.`; not starting with `-` or `.`.
SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
NAMESPACE_RE = rf"^{SEGMENT}(?:/{SEGMENT})*$"
PROJECT_RE = rf"^(?!.*\.(?:git|atom)$){SEGMENT}$"
MAX_PATH_CHARS = 255

CONFIG_SCHEMA = config_schema(
    title="GitLab project",
    owner={
        "pattern": NAMESPACE_RE,
        "maxLength": MAX_PATH_CHARS,
        "errorMessage": "must be a GitLab group or user path (subgroups as group/sub)",
        "description": "The namespace: a user, a group or a subgroup path, e.g. `acme/backend`.",
    },
    repo={
        "pattern": PROJECT_RE,
        "maxLength": MAX_PATH_CHARS,
        "errorMessage": "must be a GitLab project path (letters, digits, . _ -)",
        "description": "The project's path in its namespace, e.g. `api`.",
    },
    token=(
        "A personal, group or project access token with `read_repository` and `read_api` "
        "(`api` and the Maintainer role to register a webhook). Optional for public projects."
    ),
    api_url=(
        "The REST API base URL: https://gitlab.com/api/v4, or https://HOST/api/v4 for "
        "GitLab Self-Managed."
    ),
    default_api_url=DEFAULT_API_URL,
    git_url=(
        "Base URL of git over HTTPS, when it cannot be derived from apiUrl "
        "(https://HOST for HOST/api/v4)."
    ),
)

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="GitLab project",
    description="One branch of a GitLab.com or self-managed GitLab project, diffed between syncs.",
    category="code",
    config_schema=CONFIG_SCHEMA,
    secret_fields=("token",),
    capabilities=("read", "incremental", "deletions", "renames", "check", "metadata"),
    auth_methods=("apiKey", "oauth2", "none"),
    api_key=BEARER_TOKEN,
    connection_fields=("token", "apiUrl", "gitUrl"),
    oauth_provider="gitlab",
)


class GitlabApi(LinkPagedApi):
    """GitLab's REST API v4: `RateLimit-*` headers, 429 when throttled."""

    provider = "GitLab"
    headers = MappingProxyType({"Accept": "application/json", "User-Agent": USER_AGENT})
    remaining_header = "ratelimit-remaining"
    reset_header = "ratelimit-reset"

    def error_message(self, body: Any) -> str | None:
        """`message` (a string, or field -> problems), else OAuth's `error_description`."""
        if not isinstance(body, dict):
            return None
        message = body.get("message")
        if isinstance(message, str):
            return message
        if isinstance(message, dict):
            return "; ".join(f"{field}: {_words(problems)}" for field, problems in message.items())
        for key in ("error_description", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
        return None


class GitlabConnector(CodeHostConnector):
    """Syncs one branch of a GitLab project: content by git, metadata by REST v4."""

    spec = SPEC
    api_class = GitlabApi
    default_api_url = DEFAULT_API_URL
    api_path = API_PATH
    api_host_prefix = None
    git_username = GIT_USERNAME
    branches_path = "/repository/branches"
    user_name_field = "username"
    repositories_path = "/projects"
    repository_name_field = "path_with_namespace"
    repository_template = "/projects/{sample}"

    @classmethod
    def repositories_params(cls, count: int) -> dict[str, str | int]:
        """Projects the user is a member of, the most recently active first."""
        return {"membership": "true", "order_by": "last_activity_at", "per_page": count}

    @classmethod
    def repository_path(cls, full_name: str) -> str:
        """`/projects/NAMESPACE%2FPROJECT`: the full path, URL-encoded as one segment."""
        return f"/projects/{quote(full_name, safe='')}"

    @classmethod
    def about(cls, body: Mapping[str, Any]) -> About:
        """See `CodeHostConnector.about`; `internal` projects count as private."""
        visibility = str(body.get("visibility", "private"))
        return About(
            full_name=str(body["path_with_namespace"]),
            default_branch=str(body["default_branch"]),
            private=visibility != "public",
            visibility=visibility,
            html_url=str(body.get("web_url", "")),
        )

    def languages(self, body: Mapping[str, Any]) -> Mapping[str, float]:
        """Percent of code per language, from `/languages`."""
        languages: Mapping[str, float] = self.api.get(f"{self.repo_path}/languages")
        return languages

    def branch_path(self, branch: str) -> str:
        """`/repository/branches/BRANCH`, the name URL-encoded (slashes too)."""
        return f"{self.branches_path}/{quote(branch, safe='')}"

    def branch_sha(self, body: Mapping[str, Any]) -> str:
        """`commit.id`."""
        return str(body["commit"]["id"])

    def hook_request(self, *, url: str, secret: str) -> dict[str, Any]:
        """A project hook for push events only, with `secret` as its token, TLS verified."""
        return {
            "url": url,
            "token": secret,
            "push_events": True,
            "tag_push_events": False,
            "issues_events": False,
            "confidential_issues_events": False,
            "merge_requests_events": False,
            "note_events": False,
            "confidential_note_events": False,
            "job_events": False,
            "pipeline_events": False,
            "wiki_page_events": False,
            "deployment_events": False,
            "releases_events": False,
            "enable_ssl_verification": True,
        }


def _words(problems: Any) -> str:
    return ", ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
