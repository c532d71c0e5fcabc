"""Per-request plumbing: request ids, the body-size cap, access logs and the last-resort 500."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorCode, error_response
from api.ratelimit import Quota

logger = logging.getLogger("api.requests")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUOTA_STATE = "quota"
REQUEST_ID_STATE = "request_id"


class RequestContextMiddleware:
    """Gives each request an id (echoed in `X-Request-Id`), caps its body and logs it.

    An exception nothing else handled becomes 500 INTERNAL_ERROR naming the request id,
    logged here with its traceback; the client never sees the traceback.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_caps: Mapping[str, int] | None = None
    ) -> None:
        """Wrap `app`.

        Args:
            app: The application.
            max_body_bytes: The body cap of every route.
            body_caps: Path prefix -> cap, for routes that take larger bodies (webhooks).
        """
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_caps = dict(body_caps or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(REQUEST_ID_HEADER, "")
        request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state[REQUEST_ID_STATE] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                out = MutableHeaders(scope=message)
                out[REQUEST_ID_HEADER] = request_id
                quota = state.get(QUOTA_STATE)
                if isinstance(quota, Quota):
                    for name, value in quota.headers().items():
                        out[name] = value
            await send(message)

        cap = next(
            (cap for prefix, cap in self.body_caps.items() if scope["path"].startswith(prefix)),
            self.max_body_bytes,
        )
        try:
            body_receive = await self._capped(headers, receive, cap=cap)
            if body_receive is None:
                response = error_response(
                    413,
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"Request body is larger than {cap} bytes",
                    details={"maxBytes": cap},
                )
                await response(scope, receive, send_with_headers)
            else:
                await self.app(scope, body_receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"requestId": request_id})
            if response_started:
                raise
            response = error_response(
                500,
                ErrorCode.INTERNAL_ERROR,
                "Internal server error",
                details={"requestId": request_id},
            )
            await response(scope, receive, send_with_headers)
        finally:
            logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "requestId": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _capped(self, headers: Headers, receive: Receive, *, cap: int) -> Receive | None:
        """A receive that replays the body if it fits under the cap, else None.

        A declared Content-Length is trusted to refuse early; a chunked body is read (up
        to the cap) and replayed, since a body cut short mid-parse would not become a 413.
        """
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > cap:
                return None
            return receive
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > cap:
                return None
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed
