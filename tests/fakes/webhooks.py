"""Webhook deliveries as GitHub, GitLab and Bitbucket send them, per their public docs.

Payloads carry the documented fields Headwater reads (and a few around them); headers and
signatures are made here from the docs' recipes, independently of Headwater's own code:
GitHub `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, Bitbucket the same in
`X-Hub-Signature`, GitLab the secret itself in `X-Gitlab-Token`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ZERO_SHA = "0" * 40


@dataclass(frozen=True, slots=True)
class Commit:
    """One pushed commit and the paths it touched."""

    id: str
    added: Sequence[str] = ()
    modified: Sequence[str] = ()
    removed: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SignedDelivery:
    """A body and the headers that go with it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def hmac_signature(body: bytes, secret: str) -> str:
    """`sha256=` + hex HMAC-SHA256 of the body (GitHub's and Bitbucket's recipe)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _commits(commits: Sequence[Commit], url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": commit.id,
            "message": f"commit {commit.id[:7]}",
            "timestamp": "2026-11-23T12:00:00Z",
            "url": f"{url}/commit/{commit.id}",
            "author": {"name": "Test", "email": "test@example.com"},
            "added": list(commit.added),
            "modified": list(commit.modified),
            "removed": list(commit.removed),
        }
        for commit in commits
    ]


def github_push(
    full_name: str,
    *,
    branch: str,
    before: str,
    after: str,
    commits: Sequence[Commit] = (),
    default_branch: str = "main",
    deleted: bool = False,
) -> dict[str, Any]:
    """A `push` event payload (docs.github.com, webhook events: push)."""
    owner, name = full_name.split("/", 1)
    url = f"https://github.com/{full_name}"
    listed = _commits(commits, url)
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": ZERO_SHA if deleted else after,
        "created": before == ZERO_SHA,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"{url}/compare/{before[:12]}...{after[:12]}",
        "commits": listed,
        "head_commit": listed[-1] if listed else None,
        "repository": {
            "id": 1296269,
            "name": name,
            "full_name": full_name,
            "private": True,
            "owner": {"login": owner, "name": owner},
            "html_url": url,
            "default_branch": default_branch,
            "master_branch": default_branch,
        },
        "pusher": {"name": "test", "email": "test@example.com"},
        "sender": {"login": "test", "id": 1},
    }


def github_ping(full_name: str) -> dict[str, Any]:
    """The `ping` event GitHub sends when a hook is created."""
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 1,
        "hook": {"type": "Repository", "id": 1, "events": ["push"], "active": True},
        "repository": {"full_name": full_name, "default_branch": "main"},
        "sender": {"login": "test", "id": 1},
    }


def github_delivery(
    payload: dict[str, Any], *, secret: str, event: str = "push", delivery_id: str | None = None
) -> SignedDelivery:
    """A signed GitHub delivery."""
    body = json.dumps(payload).encode()
    return SignedDelivery(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": hmac_signature(body, secret),
        },
    )


def gitlab_push(
    path_with_namespace: str,
    *,
    branch: str,
    before: str,
    after: str,
    commits: Sequence[Commit] = (),
    total_commits_count: int | None = None,
) -> dict[str, Any]:
    """A `Push Hook` payload (docs.gitlab.com, webhook events: push events)."""
    url = f"https://gitlab.example.com/{path_with_namespace}"
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": before,
        "after": after,
        "ref": f"refs/heads/{branch}",
        "ref_protected": True,
        "checkout_sha": None if after == ZERO_SHA else after,
        "user_username": "test",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": path_with_namespace.rsplit("/", 1)[-1],
            "path_with_namespace": path_with_namespace,
            "default_branch": "main",
            "web_url": url,
        },
        "commits": _commits(commits, url),
        "total_commits_count": len(commits) if total_commits_count is None else total_commits_count,
        "repository": {"name": path_with_namespace.rsplit("/", 1)[-1], "homepage": url},
    }


def gitlab_delivery(
    payload: dict[str, Any],
    *,
    token: str,
    event: str = "Push Hook",
    idempotency_key: str | None = None,
) -> SignedDelivery:
    """A GitLab delivery: the secret token itself in `X-Gitlab-Token`."""
    return SignedDelivery(
        json.dumps(payload).encode(),
        {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": token,
            "X-Gitlab-Instance": "https://gitlab.example.com",
            "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        },
    )


def bitbucket_push(full_name: str, *, branch: str, before: str, after: str) -> dict[str, Any]:
    """A `repo:push` payload (support.atlassian.com, Bitbucket Cloud event payloads)."""
    url = f"https://bitbucket.org/{full_name}"
    return {
        "actor": {"display_name": "Test", "type": "user"},
        "repository": {
            "type": "repository",
            "full_name": full_name,
            "name": full_name.rsplit("/", 1)[-1],
            "links": {"html": {"href": url}},
            "mainbranch": {"type": "branch", "name": "main"},
        },
        "push": {
            "changes": [
                {
                    "old": {"type": "branch", "name": branch, "target": {"hash": before}},
                    "new": {"type": "branch", "name": branch, "target": {"hash": after}},
                    "created": False,
                    "closed": False,
                    "forced": False,
                    "commits": [{"hash": after, "type": "commit"}],
                    "truncated": False,
                }
            ]
        },
    }


def bitbucket_delivery(
    payload: dict[str, Any],
    *,
    secret: str,
    event: str = "repo:push",
    request_uuid: str | None = None,
    attempt: int = 1,
) -> SignedDelivery:
    """A signed Bitbucket Cloud delivery; retries keep `X-Request-UUID`, raise the attempt."""
    body = json.dumps(payload).encode()
    return SignedDelivery(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "Bitbucket-Webhooks/2.0",
            "X-Event-Key": event,
            "X-Hook-UUID": str(uuid.uuid4()),
            "X-Request-UUID": request_uuid or str(uuid.uuid4()),
            "X-Attempt-Number": str(attempt),
            "X-Hub-Signature": hmac_signature(body, secret),
        },
    )


def push_delivery(
    provider: str,
    full_name: str,
    *,
    secret: str,
    branch: str,
    before: str,
    after: str,
    commits: Sequence[Commit] = (),
) -> SignedDelivery:
    """A push to `branch` of `full_name` as `provider` delivers it, signed (or tokened) with
    `secret`. Bitbucket's payload names the commits but not their paths."""
    if provider == "github":
        payload = github_push(full_name, branch=branch, before=before, after=after, commits=commits)
        return github_delivery(payload, secret=secret)
    if provider == "gitlab":
        payload = gitlab_push(full_name, branch=branch, before=before, after=after, commits=commits)
        return gitlab_delivery(payload, token=secret)
    if provider == "bitbucket":
        payload = bitbucket_push(full_name, branch=branch, before=before, after=after)
        return bitbucket_delivery(payload, secret=secret)
    raise ValueError(f"no fake deliveries of {provider!r}")
