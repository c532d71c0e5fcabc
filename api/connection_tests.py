"""A connector's check result as seed 002's connection test answer, with advice."""

from __future__ import annotations

from api.schemas import ConnectionProbeOut, ConnectionStepOut, ConnectionTestOut, TestIssueOut
from resources.connectors.base import CheckResult, ConnectorError
from resources.source_credentials import ReauthorizationNeeded

SUCCESS, FAILED = "success", "failed"
# What to do about a refusal, by the HTTP status the provider answered.
ADVICE_BY_STATUS = {
    401: "Create a new token (this one is wrong, expired or revoked) and update the connection.",
    403: "Give the token the read scopes it needs, or wait for the rate limit.",
    404: "Check the API URL, and that the token's account can see the resource.",
    429: "The provider is rate limiting: test again after the reset time.",
}
UNREACHABLE_ADVICE = "Check the API URL and that the provider is reachable from Headwater."
UNDECRYPTABLE_ADVICE = (
    "Re-enter the credentials: none of the configured encryption keys opens the stored ones."
)
REAUTHORIZE_ADVICE = "Connect again through GET /oauth/{provider}: the provider refused the token."
TOKEN_ENDPOINT_ADVICE = "Test again later: the provider's token endpoint did not answer."


def test_report(result: CheckResult) -> ConnectionTestOut:
    """The answer to `POST /connections/:id/test` for a check's result."""
    first, *rest = result.steps  # a check always runs its first step
    probe = ConnectionProbeOut(
        status=SUCCESS if first.ok else FAILED,
        response_time_ms=first.duration_ms,
        message=first.detail if first.ok else result.message,
        error_code=None if first.ok else "CONNECTION_TEST_FAILED",
    )
    operations = {
        step.name: ConnectionStepOut(
            status=SUCCESS if step.ok else FAILED, time_ms=step.duration_ms, detail=step.detail
        )
        for step in rest
    }
    if result.ok:
        return ConnectionTestOut(
            success=True,
            connection_test=probe,
            operations_test=operations,
            recommendations=[],
            issues=[],
        )
    status = result.details.get("status")
    advice = (
        ADVICE_BY_STATUS.get(status, UNREACHABLE_ADVICE)
        if isinstance(status, int)
        else UNREACHABLE_ADVICE
    )
    return ConnectionTestOut(
        success=False,
        connection_test=probe,
        operations_test=operations,
        recommendations=[advice],
        issues=[TestIssueOut(severity="error", message=result.message, resolution=advice)],
    )


def undecryptable_report(message: str) -> ConnectionTestOut:
    """The answer when the stored secrets cannot be opened: nothing was tried."""
    return _unusable_report(message, error_code="CREDENTIALS_INVALID", advice=UNDECRYPTABLE_ADVICE)


def token_refused_report(error: ConnectorError, *, provider: str) -> ConnectionTestOut:
    """The answer when an OAuth connection's token could not be refreshed: nothing was tried."""
    if isinstance(error, ReauthorizationNeeded):
        advice = REAUTHORIZE_ADVICE.format(provider=provider)
        return _unusable_report(error.message, error_code="NEEDS_REAUTH", advice=advice)
    return _unusable_report(
        error.message, error_code="CONNECTION_TEST_FAILED", advice=TOKEN_ENDPOINT_ADVICE
    )


def _unusable_report(message: str, *, error_code: str, advice: str) -> ConnectionTestOut:
    return ConnectionTestOut(
        success=False,
        connection_test=ConnectionProbeOut(
            status=FAILED, response_time_ms=0.0, message=message, error_code=error_code
        ),
        operations_test={},
        recommendations=[advice],
        issues=[TestIssueOut(severity="error", message=message, resolution=advice)],
    )
