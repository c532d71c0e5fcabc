"""What a Drive push delivery means: reject, acknowledge the sync message, or queue a sync."""

from __future__ import annotations

import pytest

from resources.connectors.gdrive_push import Decision, WatchChannel, decide

CHANNEL = WatchChannel(channel_id="chan-1", token="s3cret-token", resource_id="res-1")


def headers(**overrides: str) -> dict[str, str]:
    base = {
        "X-Goog-Channel-ID": "chan-1",
        "X-Goog-Channel-Token": "s3cret-token",
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "change",
        "X-Goog-Message-Number": "2",
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("state", "decision"),
    [
        ("sync", Decision.ACKNOWLEDGE),
        ("change", Decision.QUEUE),
        ("update", Decision.QUEUE),
        ("trash", Decision.QUEUE),
        ("exists", Decision.ACKNOWLEDGE),
        ("", Decision.ACKNOWLEDGE),
    ],
)
def test_resource_states(state: str, decision: Decision) -> None:
    assert decide(headers(**{"X-Goog-Resource-State": state}), CHANNEL).decision is decision


def test_header_names_are_case_insensitive() -> None:
    lowered = {name.lower(): value for name, value in headers().items()}
    assert decide(lowered, CHANNEL).decision is Decision.QUEUE


@pytest.mark.parametrize(
    ("overrides", "channel", "reason"),
    [
        ({}, None, "unknown channel"),
        ({"X-Goog-Channel-ID": "chan-2"}, CHANNEL, "unknown channel"),
        ({"X-Goog-Channel-Token": "guess"}, CHANNEL, "token does not match"),
        ({"X-Goog-Resource-ID": "res-2"}, CHANNEL, "resource id does not match"),
    ],
)
def test_rejections_never_echo_the_token(
    overrides: dict[str, str], channel: WatchChannel | None, reason: str
) -> None:
    verdict = decide(headers(**overrides), channel)
    assert verdict.decision is Decision.REJECT and reason in verdict.reason
    assert "s3cret" not in verdict.reason and "guess" not in verdict.reason


def test_a_missing_token_is_rejected() -> None:
    without = {k: v for k, v in headers().items() if k != "X-Goog-Channel-Token"}
    assert decide(without, CHANNEL).decision is Decision.REJECT


def test_sync_before_the_resource_id_is_stored_is_acknowledged() -> None:
    pending = WatchChannel(channel_id="chan-1", token="s3cret-token")
    verdict = decide(headers(**{"X-Goog-Resource-State": "sync"}), pending)
    assert verdict.decision is Decision.ACKNOWLEDGE
