"""The `bitbucket` connector: one branch of a Bitbucket Cloud repository, git plus REST 2.0."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from resources.connectors.base import ConnectorSpec
from resources.connectors.codehost import About, CodeHostConnector, config_schema
from resources.connectors.rest import BEARER_TOKEN, NextFieldPagedApi

TYPE = "bitbucket"

DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
API_PATH = "/2.0"
USER_AGENT = "headwater-bitbucket-connector"

# Repository, project and workspace access tokens authenticate git as `x-token-auth`.
GIT_USERNAME = "x-token-auth"
HOOK_EVENTS = ("repo:push",)
HOOK_DESCRIPTION = "Headwater"
# Bitbucket names one language per repository; it stands for all of the code.
WHOLE = 100.0

WORKSPACE_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,61}$"
SLUG_RE = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,62}$"

CONFIG_SCHEMA = config_schema(
    title="Bitbucket Cloud repository",
    owner={
        "pattern": WORKSPACE_RE,
        "errorMessage": "must be a Bitbucket workspace id (letters, digits, _ -)",
        "description": "The workspace id, e.g. `acme`.",
    },
    repo={
        "pattern": SLUG_RE,
        "errorMessage": "must be a Bitbucket repository slug (letters, digits, . _ -)",
        "description": "The repository slug, e.g. `api-backend`.",
    },
    token=(
        "A repository, project or workspace access token with `repository` read access "
        "(and `webhook` to register a webhook). Optional for public repositories."
    ),
    api_url="The REST API base URL, https://api.bitbucket.org/2.0.",
    default_api_url=DEFAULT_API_URL,
    git_url=(
        "Base URL of git over HTTPS, when it cannot be derived from apiUrl "
        "(https://bitbucket.org for api.bitbucket.org/2.0)."
    ),
)

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="Bitbucket Cloud repository",
    description="One branch of a Bitbucket Cloud repository, diffed between syncs.",
    category="code",
    config_schema=CONFIG_SCHEMA,
    secret_fields=("token",),
    capabilities=("read", "incremental", "deletions", "renames", "check", "metadata"),
    auth_methods=("apiKey", "none"),
    api_key=BEARER_TOKEN,
    connection_fields=("token", "apiUrl", "gitUrl"),
)


class BitbucketApi(NextFieldPagedApi):
    """Bitbucket Cloud's REST API 2.0: 429 when rate limited, errors as `{"error": {...}}`."""

    provider = "Bitbucket"
    headers = MappingProxyType({"Accept": "application/json", "User-Agent": USER_AGENT})

    def error_message(self, body: Any) -> str | None:
        """`error.message`, with `error.detail` when it is a sentence."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return None
        detail = error.get("detail")
        return f"{error['message']} ({detail})" if isinstance(detail, str) else error["message"]

    def error_details(self, body: Any) -> dict[str, Any]:
        """Structured `error.detail` (e.g. granted and required scopes) and `error.fields`."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return {}
        return {key: error[key] for key in ("detail", "fields") if isinstance(error.get(key), dict)}


class BitbucketConnector(CodeHostConnector):
    """Syncs one branch of a Bitbucket Cloud repository: content by git, metadata by REST."""

    spec = SPEC
    api_class = BitbucketApi
    default_api_url = DEFAULT_API_URL
    api_path = API_PATH
    git_username = GIT_USERNAME
    branches_path = "/refs/branches"
    hook_id_field = "uuid"
    user_name_field = "display_name"
    repositories_path = "/repositories"
    repository_template = "/repositories/{sample}"

    @classmethod
    def repositories_params(cls, count: int) -> dict[str, str | int]:
        """Repositories the token's user is a member of, the most recently updated first."""
        return {"role": "member", "sort": "-updated_on", "pagelen": count}

    @classmethod
    def repository_path(cls, full_name: str) -> str:
        """`/repositories/WORKSPACE/SLUG`."""
        workspace, _, slug = full_name.partition("/")
        return f"/repositories/{quote(workspace)}/{quote(slug)}"

    @classmethod
    def about(cls, body: Mapping[str, Any]) -> About:
        """See `CodeHostConnector.about`; the default branch is `mainbranch.name`."""
        private = bool(body.get("is_private"))
        links = body.get("links") or {}
        return About(
            full_name=str(body["full_name"]),
            default_branch=str(body["mainbranch"]["name"]),
            private=private,
            visibility="private" if private else "public",
            html_url=str(links.get("html", {}).get("href", "")),
        )

    def languages(self, body: Mapping[str, Any]) -> Mapping[str, float]:
        """The repository's one `language`, if it names one."""
        language = body.get("language")
        return {language: WHOLE} if isinstance(language, str) and language else {}

    def branch_path(self, branch: str) -> str:
        """`/refs/branches/BRANCH`."""
        return f"{self.branches_path}/{quote(branch)}"

    def branch_sha(self, body: Mapping[str, Any]) -> str:
        """`target.hash`."""
        return str(body["target"]["hash"])

    def hook_request(self, *, url: str, secret: str) -> dict[str, Any]:
        """An active webhook for `repo:push` only, signed with `secret`."""
        return {
            "description": HOOK_DESCRIPTION,
            "url": url,
            "active": True,
            "secret": secret,
            "events": list(HOOK_EVENTS),
        }
