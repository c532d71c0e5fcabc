"""One error shape everywhere: `{"error": {"code", "message", "details"}}` with seed 000's codes."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from dagster_postgres.utils import DagsterPostgresException
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorBody, ErrorOut
from resources.store.engine import UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

# How long a client is asked to wait before trying again when the store cannot answer.
UNAVAILABLE_RETRY_AFTER_S = 10


class ErrorCode(enum.StrEnum):
    """Codes of seed 000, plus the HTTP-level ones it leaves unnamed."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    SOURCE_NOT_FOUND = "SOURCE_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    CONNECTOR_NOT_FOUND = "CONNECTOR_NOT_FOUND"
    CONNECTION_NOT_FOUND = "CONNECTION_NOT_FOUND"
    DUPLICATE_CONNECTION = "DUPLICATE_CONNECTION"
    INVALID_CONFIG = "INVALID_CONFIG"
    CONNECTION_TEST_FAILED = "CONNECTION_TEST_FAILED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


HTTP_CODES: Mapping[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.PROVIDER_ERROR,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ApiError(Exception):
    """An error answered as it is: status, code, message, details and extra headers."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def source_not_found(source_id: str) -> ApiError:
    """404 for a source that does not exist or belongs to someone else (indistinguishable)."""
    return ApiError(404, ErrorCode.SOURCE_NOT_FOUND, f"Source with ID {source_id} not found")


def job_not_found(job_id: str) -> ApiError:
    """404 for a job that does not exist or belongs to someone else (indistinguishable)."""
    return ApiError(404, ErrorCode.JOB_NOT_FOUND, f"Job with ID {job_id} not found")


def connection_not_found(connection_id: str) -> ApiError:
    """404 for a connection that does not exist or belongs to someone else."""
    return ApiError(
        404, ErrorCode.CONNECTION_NOT_FOUND, f"Connection with ID {connection_id} not found"
    )


def unauthorized(message: str) -> ApiError:
    """401 with the challenge RFC 6750 asks for."""
    return ApiError(
        401, ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


def validation_error(message: str, *, details: Mapping[str, Any] | None = None) -> ApiError:
    """400 VALIDATION_ERROR."""
    return ApiError(400, ErrorCode.VALIDATION_ERROR, message, details=details)


def error_response(
    status: int,
    code: ErrorCode,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON response of an error."""
    body = ErrorOut(error=ErrorBody(code=code.value, message=message, details=dict(details or {})))
    return JSONResponse(body.dump(), status_code=status, headers=dict(headers or {}))


def error_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response entry documenting the error shape."""
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_doc("VALIDATION_ERROR: the request is invalid; `details.errors` names fields."),
    401: error_doc("UNAUTHORIZED: no, malformed, wrongly signed or expired bearer token."),
    413: error_doc("PAYLOAD_TOO_LARGE: the request body is over the configured cap."),
    429: error_doc("RATE_LIMITED: see `Retry-After` and `X-RateLimit-*`."),
    500: error_doc("INTERNAL_ERROR: `details.requestId` identifies the request in the logs."),
}
WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_doc(
        "UNAUTHORIZED: the signature (or token) header is missing, or no source of the "
        "payload's repository has a secret that verifies it (Drive: no channel of that id, "
        "or its token does not match). Only an audit entry is kept."
    ),
    413: error_doc("PAYLOAD_TOO_LARGE: the body is over 25 MiB (GitHub's cap)."),
    500: ERROR_RESPONSES[500],
    503: error_doc(
        "SERVICE_UNAVAILABLE: the store is unavailable, or the source owner's deliveries are "
        "over the webhook rate limit; nothing was stored. Retry after `Retry-After` seconds."
    ),
}
SOURCE_MISSING: dict[int | str, dict[str, Any]] = {404: error_doc("SOURCE_NOT_FOUND")}
JOB_MISSING: dict[int | str, dict[str, Any]] = {404: error_doc("JOB_NOT_FOUND")}
CONNECTION_MISSING: dict[int | str, dict[str, Any]] = {404: error_doc("CONNECTION_NOT_FOUND")}


def store_unavailable(message: str) -> ApiError:
    """503 for a store that cannot answer now (down, unreachable, busy), with `Retry-After`."""
    return ApiError(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        message,
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(
        error.status, error.code, error.message, details=error.details, headers=error.headers
    )


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": ".".join(str(part) for part in problem["loc"]), "message": problem["msg"]}
        for problem in error.errors()
    ]
    first = problems[0] if problems else {"field": "request", "message": "invalid"}
    return error_response(
        400,
        ErrorCode.VALIDATION_ERROR,
        f"{first['field']}: {first['message']}",
        details={"field": first["field"], "errors": problems},
    )


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code, ErrorCode.INTERNAL_ERROR)
    phrase = HTTPStatus(error.status_code).phrase
    message = error.detail if isinstance(error.detail, str) else phrase
    return error_response(error.status_code, code, message, headers=error.headers)


async def _store_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.error("store unavailable: %s: %s", type(error).__name__, error)
    return await _api_error(
        request, store_unavailable("The store is unavailable; try again after Retry-After")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer FastAPI's and Starlette's own errors in the one error shape, and an unavailable
    store (wherever a route meets it) as 503 with `Retry-After`, not as a 500."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # dagster-postgres raises its own error once its connection retries are spent.
    for unavailable in (*UNAVAILABLE_ERRORS, DagsterPostgresException):
        app.add_exception_handler(unavailable, _store_unavailable)
