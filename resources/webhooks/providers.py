"""What each code host sends: how it signs a delivery, names it, and says what was pushed.

One table (`PROVIDERS`) rather than a module per host: GitHub, GitLab and Bitbucket differ
only in header names, the signature scheme and where the payload keeps the repository and
the pushed branches. Payloads are untrusted until a source's secret verifies them, so every
reader here tolerates any JSON shape and never raises on it, and a string that no store can
keep (a NUL, a lone surrogate) reads as missing: a verified delivery is stored whatever it says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

ZERO_SHA = "0" * 40
BRANCH_REF = "refs/heads/"
HMAC_PREFIX = "sha256="
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Paths kept per change kind; the git diff, not this list, decides what is reprocessed.
MAX_PATHS = 10_000
CHANGE_KINDS = ("added", "modified", "removed")

SignatureScheme = Literal["hmac-sha256", "token"]


@dataclass(frozen=True, slots=True)
class BranchPush:
    """One branch a push moved.

    Attributes:
        branch: The branch name, without `refs/heads/`.
        head: The commit the branch points at now; None when the push deleted it.
    """

    branch: str
    head: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    """What a push event says changed.

    Attributes:
        branches: The branches it moved (Bitbucket may move several at once).
        paths: `added`/`modified`/`removed` -> paths, as the payload lists them.
        truncated: The payload left commits (or paths) out, so `paths` is partial.
    """

    branches: tuple[BranchPush, ...]
    paths: dict[str, list[str]] = field(default_factory=dict)
    truncated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Repository:
    """The repository a delivery is about.

    Attributes:
        full_name: `owner/repo` (GitLab: `group/subgroup/project`) as the host spells it.
        default_branch: The repository's default branch, when the payload says it.
    """

    full_name: str
    default_branch: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """How one code host delivers webhooks.

    Attributes:
        name: The provider in the URL (`/webhooks/{name}`), equal to its source type.
        event_header: Names the event, e.g. `X-GitHub-Event: push`.
        delivery_headers: The delivery id, first present wins; the same on redeliveries.
        signature_header: Carries the signature (or the plain secret token).
        scheme: `hmac-sha256` (`sha256=` + hex HMAC of the raw body) or `token`.
        attempt_header: The host's retry counter, if it sends one.
        push_event: The event value of a push.
        repository: Reads the repository from a payload (any event).
        push: Reads the branches and paths of a push payload.
    """

    name: str
    event_header: str
    delivery_headers: tuple[str, ...]
    signature_header: str
    scheme: SignatureScheme
    attempt_header: str | None
    push_event: str
    repository: Callable[[Mapping[str, Any]], Repository | None]
    push: Callable[[Mapping[str, Any]], Push]

    def verify(self, signature: str, body: bytes, secret: str) -> bool:
        """Whether `signature` (the header's value) proves `secret` sent `body`; constant time."""
        return hmac.compare_digest(self.sign(body, secret).encode(), signature.encode())

    def sign(self, body: bytes, secret: str) -> str:
        """The signature header value the host sends for `body` with `secret`."""
        if self.scheme == "token":
            return secret
        return HMAC_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def repository_key(provider: str, full_name: str) -> str:
    """The lookup key of a repository: `github:owner/repo`, lowercased (hosts ignore case)."""
    return f"{provider}:{full_name}".lower()


def source_repository_key(source_type: str, config: Mapping[str, Any]) -> str | None:
    """The lookup key of a code-host source from its `owner` and `repo`; None for other types."""
    owner, repo = config.get("owner"), config.get("repo")
    if source_type not in PROVIDERS or not isinstance(owner, str) or not isinstance(repo, str):
        return None
    return repository_key(source_type, f"{owner}/{repo}")


def parse_body(body: bytes, content_type: str) -> Mapping[str, Any] | None:
    """The JSON object of a delivery (GitHub may send it form-encoded as `payload=`), or None."""
    try:
        if content_type.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE:
            fields = parse_qs(body.decode(), max_num_fields=16)
            document = json.loads(fields["payload"][0])
        else:
            document = json.loads(body)
    except (ValueError, KeyError, RecursionError):  # RecursionError: nested too deep
        return None
    return document if isinstance(document, dict) else None


def _at(document: Any, *keys: str) -> Any:
    """`document[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def storable(value: Any) -> str | None:
    """`value` if it is a non-empty string every store can keep, else None.

    PostgreSQL refuses NUL characters in text and JSON; no database encodes a lone surrogate
    (which JSON's `\\ud800` escapes produce).
    """
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def _repository(
    *name_path: str, default_path: tuple[str, ...]
) -> Callable[[Mapping[str, Any]], Repository | None]:
    def read(payload: Mapping[str, Any]) -> Repository | None:
        full_name = storable(_at(payload, *name_path))
        if full_name is None:
            return None
        return Repository(full_name=full_name, default_branch=storable(_at(payload, *default_path)))

    return read


def _branch_push(payload: Mapping[str, Any], *, deleted: bool) -> tuple[BranchPush, ...]:
    """The one branch of a GitHub or GitLab push (`ref`, `after`); none for tags."""
    ref = storable(payload.get("ref")) or ""
    if not ref.startswith(BRANCH_REF):
        return ()
    head = storable(payload.get("after"))
    return (BranchPush(ref.removeprefix(BRANCH_REF), None if deleted else head),)


def _commit_paths(commits: Any) -> tuple[dict[str, list[str]], bool]:
    """Paths added/modified/removed across `commits`, first mention first; capped."""
    found: dict[str, dict[str, None]] = {kind: {} for kind in CHANGE_KINDS}
    truncated = False
    for commit in commits if isinstance(commits, list) else ():
        for kind in CHANGE_KINDS:
            paths = _at(commit, kind)
            for path in paths if isinstance(paths, list) else ():
                if storable(path) is not None:
                    if len(found[kind]) < MAX_PATHS:
                        found[kind][path] = None
                    else:
                        truncated = True
    return {kind: list(paths) for kind, paths in found.items()}, truncated


def _github_push(payload: Mapping[str, Any]) -> Push:
    paths, truncated = _commit_paths(payload.get("commits"))
    deleted = payload.get("deleted") is True
    return Push(branches=_branch_push(payload, deleted=deleted), paths=paths, truncated=truncated)


def _gitlab_push(payload: Mapping[str, Any]) -> Push:
    commits = payload.get("commits")
    paths, truncated = _commit_paths(commits)
    # GitLab lists at most 20 commits and says how many there were.
    total = payload.get("total_commits_count")
    listed = len(commits) if isinstance(commits, list) else 0
    truncated = truncated or (isinstance(total, int) and total > listed)
    deleted = payload.get("after") == ZERO_SHA
    return Push(branches=_branch_push(payload, deleted=deleted), paths=paths, truncated=truncated)


def _bitbucket_push(payload: Mapping[str, Any]) -> Push:
    # Bitbucket names no paths: the git diff finds them.
    branches: list[BranchPush] = []
    changes = _at(payload, "push", "changes")
    for change in changes if isinstance(changes, list) else ():
        new, old = _at(change, "new"), _at(change, "old")
        if _at(new, "type") == "branch" and (name := storable(_at(new, "name"))):
            branches.append(BranchPush(name, storable(_at(new, "target", "hash"))))
        elif new is None and _at(old, "type") == "branch" and (name := storable(_at(old, "name"))):
            branches.append(BranchPush(name, None))
    return Push(branches=tuple(branches), truncated=True)


GITHUB = Provider(
    name="github",
    event_header="X-GitHub-Event",
    delivery_headers=("X-GitHub-Delivery",),
    signature_header="X-Hub-Signature-256",
    scheme="hmac-sha256",
    attempt_header=None,
    push_event="push",
    repository=_repository(
        "repository", "full_name", default_path=("repository", "default_branch")
    ),
    push=_github_push,
)
GITLAB = Provider(
    name="gitlab",
    event_header="X-Gitlab-Event",
    # Idempotency-Key is the same on every retry of one hook's delivery; X-Gitlab-Event-UUID
    # (older GitLab) names the event, which every hook of the project shares.
    delivery_headers=("Idempotency-Key", "X-Gitlab-Event-UUID"),
    signature_header="X-Gitlab-Token",
    scheme="token",
    attempt_header=None,
    push_event="Push Hook",
    repository=_repository(
        "project", "path_with_namespace", default_path=("project", "default_branch")
    ),
    push=_gitlab_push,
)
BITBUCKET = Provider(
    name="bitbucket",
    event_header="X-Event-Key",
    delivery_headers=("X-Request-UUID",),
    signature_header="X-Hub-Signature",
    scheme="hmac-sha256",
    attempt_header="X-Attempt-Number",
    push_event="repo:push",
    repository=_repository(
        "repository", "full_name", default_path=("repository", "mainbranch", "name")
    ),
    push=_bitbucket_push,
)

PROVIDERS: Mapping[str, Provider] = {p.name: p for p in (GITHUB, GITLAB, BITBUCKET)}
