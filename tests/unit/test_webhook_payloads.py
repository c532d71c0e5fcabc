"""Reading deliveries: any body and any header values, never an exception, never a value a
store would refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resources.webhooks.ingest import MAX_ATTEMPT, Delivery
from resources.webhooks.providers import PROVIDERS, parse_body, storable
from tests.fakes.webhooks import bitbucket_push, github_push, gitlab_push

ODD_VALUES: list[Any] = [
    None,
    0,
    1.5,
    True,
    "",
    "x\u0000y",
    "lone-\ud800",
    [],
    {},
    [[1]],
    {"a": {}},
]


def _payloads() -> list[dict[str, Any]]:
    """Documented pushes with every field replaced, in turn, by odd values."""
    documented = [
        github_push("o/r", branch="main", before="a" * 40, after="b" * 40),
        gitlab_push("g/s/r", branch="main", before="a" * 40, after="b" * 40),
        bitbucket_push("w/r", branch="main", before="a" * 40, after="b" * 40),
    ]
    odd = []
    for payload in documented:
        for key in payload:
            odd += [{**payload, key: value} for value in ODD_VALUES]
        odd.append({"push": {"changes": [{"new": value, "old": value} for value in ODD_VALUES]}})
    return odd


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_readers_take_any_shape(provider: str) -> None:
    reader = PROVIDERS[provider]
    for payload in _payloads():
        repository = reader.repository(payload)
        push = reader.push(payload)
        strings = [branch.branch for branch in push.branches]
        strings += [branch.head for branch in push.branches if branch.head is not None]
        strings += [path for paths in push.paths.values() for path in paths]
        if repository is not None:
            strings.append(repository.full_name)
        assert all(storable(text) == text for text in strings), payload


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"a": 1}', "application/json", {"a": 1}),
        (b"payload=%7B%22a%22%3A+1%7D", "application/x-www-form-urlencoded", {"a": 1}),
        (b"[1]", "application/json", None),
        (b"\xff\xfe", "application/json", None),
        (b"payload=%ff", "application/x-www-form-urlencoded", None),
        (b"other=1", "application/x-www-form-urlencoded", None),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", None),
    ],
)
def test_bodies(body: bytes, content_type: str, expected: dict[str, Any] | None) -> None:
    assert parse_body(body, content_type) == expected


@pytest.mark.parametrize(
    ("attempt", "read"),
    [("3", 3), (str(MAX_ATTEMPT), MAX_ATTEMPT), (str(MAX_ATTEMPT + 1), None)]
    + [(text, None) for text in ("\u00b2", "-1", "1.0", "", "three")],
)
def test_the_attempt_header(attempt: str, read: int | None) -> None:
    headers = {"X-Attempt-Number": attempt, "X-Request-UUID": "id\u0000", "X-Event-Key": "e" * 99}
    delivery = Delivery.read(
        PROVIDERS["bitbucket"], headers=headers, body=json.dumps({}).encode(), remote_addr=None
    )
    assert delivery.attempt == read
    assert delivery.delivery_id.startswith("sha256:")  # the unstorable id is not kept
    assert delivery.event == "e" * 64
