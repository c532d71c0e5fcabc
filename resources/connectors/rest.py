"""A provider's REST API through one HTTP client: retries, rate limits, pages, clear errors.

`RestApi` owns what every provider needs alike: backoff on 5xx and network errors, waits
on rate limits (`Retry-After`, or a remaining/reset header pair), pagination that never
follows a next link to another host, and errors that carry the provider's own words. The
token goes in the `Authorization` header only: it never appears in a URL, log or message.
A provider subclasses it with small hooks: its headers, when an answer means "rate
limited", where the next page is (`LinkPagedApi`, `NextFieldPagedApi`), and how its error
bodies word a message.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from resources.connectors.base import ApiKeyAuth, ConnectorError, SourceUnavailable
from resources.connectors.egress import guarded_transport
from resources.retry_after import finite_number, parse_retry_after

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
PAGE_SIZE = 100
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# A POST may have taken effect before a 5xx or a dropped connection; only these are safe.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
BODY_EXCERPT_CHARS = 200

Params = Mapping[str, str | int]

# How every REST connector sends its `token` (see `RestApi._client_for_requests`).
BEARER_TOKEN = ApiKeyAuth(key_field="token", header="Authorization: Bearer {apiKey}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long to wait and how often to try again when a provider refuses for now.

    Attributes:
        attempts: Requests in all, the first included.
        backoff_s: First wait after a 5xx or a network error; doubles each time.
        rate_limit_wait_s: First wait after a rate limit that names no time (GitHub's
            secondary limits ask for at least a minute); doubles each time.
        max_wait_s: Longest single wait. A `Retry-After` or reset further away than this
            fails at once (transient), since waiting would only hold a run hostage.
    """

    attempts: int = 4
    backoff_s: float = 1.0
    rate_limit_wait_s: float = 60.0
    max_wait_s: float = 120.0


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list endpoint: its items and the URL of the next page, if any."""

    items: list[Any]
    next_url: str | None


class RestApi(ABC):
    """A provider's REST API, with rate limits honoured; subclasses set the hooks.

    The client is created on the first request and closed by `close`.

    Attributes:
        provider: The provider's name in messages, e.g. `GitHub`.
        headers: Headers sent with every request, besides `Authorization`.
        rate_limit_statuses: Statuses that may mean "rate limited" (see `rate_limited`).
        remaining_header: The header saying how many requests are left, if any.
        reset_header: The header with the epoch second the limit resets, if any.
        page_params: Query parameters of the first page of a list (page size).
    """

    provider: ClassVar[str]
    headers: ClassVar[Mapping[str, str]] = MappingProxyType({"Accept": "application/json"})
    rate_limit_statuses: ClassVar[frozenset[int]] = frozenset({429})
    remaining_header: ClassVar[str | None] = None
    reset_header: ClassVar[str | None] = None
    page_params: ClassVar[Mapping[str, int]] = MappingProxyType({})

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Keep the settings; nothing is opened yet.

        Args:
            api_url: The API base URL, without a trailing slash.
            token: The token sent as `Authorization: Bearer`, or None (public data only).
            retry: Waits and attempts for rate limits, 5xx and network errors.
            sleep: Waits that long; tests pass a recorder.
        """
        self.api_url = api_url
        self.retry = retry
        self._token = token
        self._sleep = sleep
        self._client: httpx.Client | None = None

    def get(self, path: str, *, params: Params | None = None) -> Any:
        """The JSON body of `GET {api_url}{path}`.

        Raises:
            ConnectorError: 401 ("bad credentials"), other refusals, or rate limits and
                failures that outlasted the retries (transient), with the provider's
                message; `details["status"]` holds the HTTP status.
            SourceUnavailable: 404.
        """
        return self._request("GET", f"{self.api_url}{path}", params=params).json()

    def post(self, path: str, *, json: Mapping[str, Any]) -> Any:
        """The JSON body of `POST {api_url}{path}` with a JSON body; raises as `get`.

        Retried only on rate limits: after a 5xx or a lost connection the provider may
        have acted already.
        """
        return self._request("POST", f"{self.api_url}{path}", json=json).json()

    def delete(self, path: str) -> None:
        """`DELETE {api_url}{path}`; raises as `get` (404: `SourceUnavailable`)."""
        self._request("DELETE", f"{self.api_url}{path}")

    def paginate(self, path: str, *, params: Params | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, across pages (see `page`).

        Raises:
            ConnectorError: As `get`, or a next page on another host (following it would
                hand the token to that host).
        """
        url: str | None = f"{self.api_url}{path}"
        query: Params | None = {**self.page_params, **(params or {})}
        origin = urlsplit(self.api_url)[:2]
        while url is not None:
            page = self.page(self._request("GET", url, params=query))
            yield from page.items
            # The next link carries every parameter already.
            url, query = page.next_url, None
            if url is not None and urlsplit(url)[:2] != origin:
                raise ConnectorError(
                    f"{self.provider} API {path}: next page link leaves {self.api_url}",
                    details={"path": path, "next": url.split("?", 1)[0]},
                )

    def close(self) -> None:
        """Close the HTTP client, if one was opened."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @abstractmethod
    def page(self, response: httpx.Response) -> Page:
        """The items of one page of a list and the URL of the next one, if any."""

    def rate_limited(self, response: httpx.Response) -> bool:
        """Whether a failed answer means "rate limited, try later" (default: its status)."""
        return response.status_code in self.rate_limit_statuses

    def error_message(self, body: Any) -> str | None:
        """The provider's message in an error body (default: a string `message`)."""
        message = body.get("message") if isinstance(body, dict) else None
        return message if isinstance(message, str) else None

    def error_details(self, body: Any) -> dict[str, Any]:
        """Extra facts of an error body for `ConnectorError.details` (default: none)."""
        return {}

    def explain(self, response: httpx.Response) -> str:
        """The provider's message for a refusal, else the start of the body or the reason."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:BODY_EXCERPT_CHARS].strip() or response.reason_phrase
        return self.error_message(body) or response.reason_phrase

    def _client_for_requests(self) -> httpx.Client:
        if self._client is None:
            headers = dict(self.headers)
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            # Renamed repositories answer 301; httpx drops the token on a cross-origin hop.
            # The API URL is the user's: connect only where the egress policy allows.
            self._client = httpx.Client(
                headers=headers,
                timeout=HTTP_TIMEOUT,
                follow_redirects=True,
                transport=guarded_transport(),
            )
        return self._client

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send with retries; the successful response."""
        client = self._client_for_requests()
        safe_url = url.split("?", 1)[0]
        idempotent = method in IDEMPOTENT_METHODS
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            logger.debug("%s %s (attempt %d)", method, safe_url, attempt)
            try:
                response = client.request(method, url, params=params, json=json)
            except httpx.TransportError as error:
                reason = f"{type(error).__name__}: {error}"
                if last or not idempotent:
                    raise ConnectorError(
                        f"{self.provider} API {safe_url} unreachable: {reason}",
                        details={"url": safe_url, "attempts": attempt},
                        transient=True,
                    ) from error
                self._wait(self._backoff(self.retry.backoff_s, attempt), url=safe_url, why=reason)
                continue
            if response.is_success:
                return response
            wait = self._wait_for(response, attempt=attempt, idempotent=idempotent)
            if wait is None or last or wait > self.retry.max_wait_s:
                raise self._error(response, url=safe_url, attempts=attempt, wait=wait)
            self._wait(wait, url=safe_url, why=f"{response.status_code} {self.explain(response)}")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_for(
        self, response: httpx.Response, *, attempt: int, idempotent: bool
    ) -> float | None:
        """Seconds to wait before trying again, or None when retrying is pointless."""
        limited = self.rate_limited(response)
        server_error = response.status_code in RETRY_STATUSES and idempotent
        if limited or server_error:
            retry_after = parse_retry_after(response.headers)
            if retry_after is not None:
                return retry_after
        if limited:
            reset = self._until_reset(response.headers)
            if reset is not None:
                return reset
            return self._backoff(self.retry.rate_limit_wait_s, attempt)
        if server_error:
            return self._backoff(self.retry.backoff_s, attempt)
        return None

    def _until_reset(self, headers: httpx.Headers) -> float | None:
        """Seconds until the reset, when the remaining/reset headers say none are left."""
        if self.remaining_header is None or self.reset_header is None:
            return None
        reset = finite_number(headers.get(self.reset_header))
        if headers.get(self.remaining_header) != "0" or reset is None:
            return None
        return max(math.ceil(reset - time.time()), 0.0)

    def _backoff(self, first: float, attempt: int) -> float:
        return min(first * 2 ** (attempt - 1), self.retry.max_wait_s)

    def _wait(self, seconds: float, *, url: str, why: str) -> None:
        logger.warning("%s API %s: %s; retrying in %.3g s", self.provider, url, why, seconds)
        self._sleep(seconds)

    def _error(
        self, response: httpx.Response, *, url: str, attempts: int, wait: float | None
    ) -> ConnectorError:
        """The error for a refusal that will not be retried (any more)."""
        status = response.status_code
        message = self.explain(response)
        details: dict[str, Any] = {"url": url, "status": status, "attempts": attempts}
        try:
            details.update(self.error_details(response.json()))
        except ValueError:
            logger.debug("%s API %s: the %d answer is not JSON", self.provider, url, status)
        name = self.provider
        if status == 401:
            return ConnectorError(
                f"{name} API: bad credentials ({name}: {message})", details=details
            )
        if status == 404:
            return SourceUnavailable(f"{name}: {message}", details=details)
        if wait is not None:
            details["retryAfterSeconds"] = wait
            return ConnectorError(
                f"{name} API {url} refused for now ({status}) after {attempts} attempts: {message}",
                details=details,
                transient=True,
            )
        return ConnectorError(
            f"{name} API {url} refused ({status}): {message}",
            details=details,
            transient=status in RETRY_STATUSES,
        )


class LinkPagedApi(RestApi):
    """A list endpoint answers a JSON array; the next page is the `Link: rel="next"` URL
    (GitHub, GitLab)."""

    page_params = MappingProxyType({"per_page": PAGE_SIZE})

    def page(self, response: httpx.Response) -> Page:
        """See `RestApi.page`."""
        return Page(list(response.json()), response.links.get("next", {}).get("url"))


class NextFieldPagedApi(RestApi):
    """A list endpoint answers `{"values": [...], "next": URL}`; the last page has no
    `next` (Bitbucket Cloud)."""

    page_params = MappingProxyType({"pagelen": PAGE_SIZE})

    def page(self, response: httpx.Response) -> Page:
        """See `RestApi.page`."""
        body = response.json()
        next_url = body.get("next")
        return Page(list(body.get("values", [])), next_url if isinstance(next_url, str) else None)
