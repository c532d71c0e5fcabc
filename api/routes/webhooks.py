"""Webhooks: code hosts (`POST /webhooks/github|gitlab|bitbucket`) and Google Drive push
notifications (`POST /webhooks/gdrive`): verify, store, then answer.

Authenticated by the provider's signature (or token), never by a bearer token. A delivery is
answered 200 only once it and the job it queued are committed; anything transient on our side
(the store unavailable, the webhook rate limit passed) is a 503 with `Retry-After`, never a
4xx: GitLab disables a hook for good after repeated 4xx answers, and Drive retries only 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import StateDep
from api.errors import WEBHOOK_RESPONSES, ApiError, ErrorCode, store_unavailable
from api.middleware import QUOTA_STATE
from api.ratelimit import Quota
from api.schemas import WebhookReceivedOut
from api.state import AppState
from resources.connectors.gdrive_push import (
    CHANNEL_ID_HEADER,
    CHANNEL_TOKEN_HEADER,
    MESSAGE_NUMBER_HEADER,
    RESOURCE_ID_HEADER,
    RESOURCE_STATE_HEADER,
)
from resources.store.engine import (
    UNAVAILABLE_ERRORS,
    session_factory,
    transaction,
    write_transaction,
)
from resources.store.models import utcnow
from resources.vault import VaultError
from resources.webhooks import drive
from resources.webhooks.ingest import (
    Delivery,
    DeliveryRejected,
    Receipt,
    authenticate,
    record,
    record_accepted,
    reject,
)
from resources.webhooks.providers import PROVIDERS, Provider

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)

Received = TypeVar("Received")


def _store(state: AppState, delivery: Delivery) -> tuple[Receipt, Quota]:
    """Authenticate (401 and an audit row if not), count against the limit, then store."""
    sessions = session_factory(state.settings.resolved_database_url)
    try:
        with transaction(sessions) as session:
            verified = authenticate(session, state.vault, delivery)
    except DeliveryRejected as rejected:
        with transaction(sessions) as session:
            reject(session, delivery, rejected.reason)
        raise ApiError(
            401,
            ErrorCode.UNAUTHORIZED,
            f"Webhook signature missing or not valid ({delivery.provider.signature_header})",
        ) from rejected
    quota = _count(state, delivery.provider.name, verified.owner_id)
    with write_transaction(sessions) as session:
        receipt = record(session, verified, now=utcnow())
    return receipt, quota


def _store_notification(state: AppState, notification: drive.Notification) -> tuple[Receipt, Quota]:
    """`_store` for a Drive push notification, verified by its channel's token."""
    sessions = session_factory(state.settings.resolved_database_url)
    try:
        with transaction(sessions) as session:
            verified = drive.authenticate(session, state.vault, notification)
    except DeliveryRejected as rejected:
        with transaction(sessions) as session:
            drive.reject(session, notification, rejected.reason)
        raise ApiError(
            401,
            ErrorCode.UNAUTHORIZED,
            f"Push notification of an unknown channel, or {CHANNEL_TOKEN_HEADER} missing or "
            "not valid",
        ) from rejected
    quota = _count(state, drive.PROVIDER, verified.owner_id)
    with write_transaction(sessions) as session:
        receipt = record_accepted(
            session,
            verified.accepted,
            no_sync_reason=lambda _: drive.no_sync_reason(verified),
            now=utcnow(),
        )
    return receipt, quota


def _count(state: AppState, provider: str, owner_id: str) -> Quota:
    """Count a verified delivery against its owner's webhook limit; 503 past it."""
    quota = state.limiter.hit(method="POST", route_path=f"/webhooks/{provider}", user=owner_id)
    if not quota.allowed:
        # 503, not 429: a code host counts 4xx answers against the hook (GitLab disables it).
        raise ApiError(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            f"Over {quota.limit} webhook deliveries a minute for this account; nothing was "
            "stored, deliver again after Retry-After",
            details={"limit": quota.limit, "resetAt": int(quota.reset_at)},
            headers=quota.headers(),
        )
    return quota


def _unavailable_errors(state: AppState) -> tuple[type[Exception], ...]:
    """What says a delivery could not be stored for now: the store, the rate-limit storage,
    or our keys failing (not the sender's fault, so never a 4xx)."""
    storage = state.limiter.storage.base_exceptions
    counters = storage if isinstance(storage, tuple) else (storage,)
    return (*UNAVAILABLE_ERRORS, *counters, VaultError)


async def _answer(
    request: Request,
    state: AppState,
    store: Callable[[AppState, Received], tuple[Receipt, Quota]],
    received: Received,
) -> WebhookReceivedOut:
    """Store a delivery in a worker thread; its answer, or 503 when it could not be stored."""
    try:
        receipt, quota = await run_in_threadpool(store, state, received)
    except _unavailable_errors(state) as error:
        logger.error("webhook not stored: %s: %s", type(error).__name__, error)
        raise store_unavailable(
            "The store is unavailable; nothing was stored, deliver again later"
        ) from error
    request.scope["state"][QUOTA_STATE] = quota
    return WebhookReceivedOut(
        received=True,
        job_id=receipt.job_ids[0] if receipt.job_ids else None,
        job_ids=receipt.job_ids,
    )


def _remote_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def _endpoint(provider: Provider) -> Callable[..., Awaitable[WebhookReceivedOut]]:
    async def receive_delivery(request: Request, state: StateDep) -> WebhookReceivedOut:
        # The middleware has refused bodies over MAX_BODY_BYTES before they were read.
        delivery = Delivery.read(
            provider,
            headers=request.headers,
            body=await request.body(),
            remote_addr=_remote_addr(request),
        )
        return await _answer(request, state, _store, delivery)

    receive_delivery.__name__ = f"receive_{provider.name}_delivery"
    return receive_delivery


def _openapi(provider: Provider) -> dict[str, Any]:
    """The headers and body a delivery of `provider` carries, for the OpenAPI document."""
    described = {
        provider.event_header: f"The event; `{provider.push_event}` queues a sync.",
        provider.signature_header: (
            "`sha256=` and the hex HMAC-SHA256 of the raw body keyed by the source's secret."
            if provider.scheme == "hmac-sha256"
            else "The source's webhook secret."
        ),
        **{
            name: "The delivery id, the same on redeliveries (dedup key)."
            for name in provider.delivery_headers
        },
    }
    if provider.attempt_header:
        described[provider.attempt_header] = "The attempt number (recorded)."
    return {
        "parameters": _header_parameters(described),
        "requestBody": {
            "required": True,
            "description": f"The {provider.name} webhook payload (at most 25 MiB).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    }


def _header_parameters(described: dict[str, str]) -> list[dict[str, Any]]:
    """OpenAPI parameters of optional request headers: name -> what it carries."""
    return [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": text,
        }
        for name, text in described.items()
    ]


for _provider in PROVIDERS.values():
    router.add_api_route(
        f"/{_provider.name}",
        _endpoint(_provider),
        methods=["POST"],
        summary=f"Receive a {_provider.name} webhook delivery",
        description=(
            f"Verified by `{_provider.signature_header}` against the secrets of the sources "
            "of the payload's repository, stored with the job it queues, then acknowledged. "
            "A push to a source's branch queues (or joins) an incremental sync; a delivery id "
            "seen before answers the same `jobId` and queues nothing."
        ),
        openapi_extra=_openapi(_provider),
    )


DRIVE_HEADERS = {
    CHANNEL_ID_HEADER: "The channel id Headwater chose when it opened the channel.",
    CHANNEL_TOKEN_HEADER: "The channel's secret token (compared in constant time).",
    RESOURCE_ID_HEADER: "Drive's id of the watched changes feed.",
    RESOURCE_STATE_HEADER: "`sync` (the channel opened: nothing queued) or `change`.",
    MESSAGE_NUMBER_HEADER: "The message's number in its channel (with the channel: dedup key).",
}


@router.post(
    f"/{drive.PROVIDER}",
    summary="Receive a Google Drive push notification",
    openapi_extra={"parameters": _header_parameters(DRIVE_HEADERS)},
)
async def receive_gdrive_notification(request: Request, state: StateDep) -> WebhookReceivedOut:
    """Verified by `X-Goog-Channel-Token` against the channel named by `X-Goog-Channel-ID`
    (401 and an audit entry otherwise), stored, then acknowledged. A `change` queues (or
    joins) an incremental sync of the channel's source, which reads Drive's changes feed; the
    `sync` message queues nothing; a message number seen before answers the same `jobId`."""
    notification = drive.Notification.read(
        request.headers, body=await request.body(), remote_addr=_remote_addr(request)
    )
    return await _answer(request, state, _store_notification, notification)
