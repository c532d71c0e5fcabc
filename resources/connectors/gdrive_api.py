"""Google Drive API v3 on the shared REST client: its pages, limits, errors and endpoints.

Drive pages by `pageToken`/`nextPageToken`, rate-limits with 429 or with a 403 whose
reason is `userRateLimitExceeded`/`rateLimitExceeded` (other 403s are final), and words
errors as `{"error": {"code", "message", "errors": [{"reason", ...}]}}`; the reason goes
to `ConnectorError.details["reason"]`. Retries, waits and messages are `RestApi`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import httpx

from resources.connectors.gdrive_tree import FILE_FIELDS, DriveFile
from resources.connectors.rest import Page, RestApi, RetryPolicy

# Google asks for exponential backoff from about a second on 403/429 rate limits.
DEFAULT_RETRY = RetryPolicy(attempts=6, backoff_s=1.0, rate_limit_wait_s=1.0, max_wait_s=64.0)
PAGE_SIZE = 1000  # the largest page files.list and changes.list give
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
CHANGE_FIELDS = (
    f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,file({FILE_FIELDS}))"
)
LIST_FIELDS = f"nextPageToken,files({FILE_FIELDS})"
ALL_DRIVES = MappingProxyType({"supportsAllDrives": "true", "includeItemsFromAllDrives": "true"})


class ChangeFeed:
    """The changes since a page token, page by page (changes.list).

    Iterate it for the change resources; afterwards `new_start_page_token` holds the
    token of the next change (the cursor of the next sync).
    """

    def __init__(self, api: DriveApi, page_token: str) -> None:
        self._api = api
        self._page_token = page_token
        self.new_start_page_token = page_token

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        token: str | None = self._page_token
        while token is not None:
            body = self._api.get(
                "/changes",
                params={
                    "pageToken": token,
                    "pageSize": PAGE_SIZE,
                    "includeRemoved": "true",
                    "fields": CHANGE_FIELDS,
                    **self._api.drives,
                },
            )
            yield from body.get("changes", [])
            token = body.get("nextPageToken")
            if token is None:
                self.new_start_page_token = str(body["newStartPageToken"])


class DriveApi(RestApi):
    """The Drive v3 calls the `gdrive` connector makes.

    Attributes:
        drives: Shared-drive parameters sent with every call (`supportsAllDrives`,
            `includeItemsFromAllDrives`) when shared drives are included, else none.
    """

    provider = "Google Drive"
    rate_limit_statuses = frozenset({403, 429})
    page_params = MappingProxyType({"pageSize": PAGE_SIZE})

    def __init__(
        self,
        api_url: str,
        *,
        token: str,
        all_drives: bool,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """See `RestApi`; `all_drives` includes shared drives in every call."""
        super().__init__(api_url, token=token, retry=retry, sleep=sleep)
        self.drives: Mapping[str, str] = ALL_DRIVES if all_drives else MappingProxyType({})

    def file(self, file_id: str) -> DriveFile:
        """files.get: one file's metadata (`root` is My Drive's root folder)."""
        body = self.get(f"/files/{quote(file_id)}", params={"fields": FILE_FIELDS, **self.drives})
        return DriveFile.from_api(body)

    def children(self, folder_id: str, *, page_size: int | None = None) -> Iterator[DriveFile]:
        """files.list of what is directly in a folder and not in the trash.

        Args:
            folder_id: The folder.
            page_size: Only the first page, of this many items; default: every page.
        """
        params = {
            "q": f"'{folder_id}' in parents and trashed = false",
            "fields": LIST_FIELDS,
            **self.drives,
        }
        if page_size is None:
            items: Iterator[Any] = self.paginate("/files", params=params)
        else:
            items = iter(self.get("/files", params={**params, "pageSize": page_size})["files"])
        return (DriveFile.from_api(item) for item in items)

    def about_user(self) -> Mapping[str, Any]:
        """about.get: the token's user (`displayName`, `emailAddress`)."""
        body = self.get("/about", params={"fields": "user(displayName,emailAddress)"})
        user: Mapping[str, Any] = body.get("user") or {}
        return user

    def recent_files(self, *, page_size: int) -> list[DriveFile]:
        """files.list: the first `page_size` files and folders not in the trash."""
        params: dict[str, str | int] = {
            "q": "trashed = false",
            "pageSize": page_size,
            "fields": LIST_FIELDS,
            **self.drives,
        }
        return [DriveFile.from_api(item) for item in self.get("/files", params=params)["files"]]

    def start_page_token(self) -> str:
        """changes.getStartPageToken: where the changes from now on start."""
        body = self.get("/changes/startPageToken", params={**self.drives})
        return str(body["startPageToken"])

    def changes(self, page_token: str) -> ChangeFeed:
        """changes.list from `page_token` (nothing is requested until iterated)."""
        return ChangeFeed(self, page_token)

    def export(self, file_id: str, mime_type: str) -> bytes:
        """files.export of a Google Workspace file to `mime_type` (Drive's limit: 10 MB)."""
        url = f"{self.api_url}/files/{quote(file_id)}/export"
        return self._request("GET", url, params={"mimeType": mime_type}).content

    def download(self, file_id: str) -> bytes:
        """files.get with `alt=media`: the stored bytes of a (non-Workspace) file."""
        url = f"{self.api_url}/files/{quote(file_id)}"
        params = {"alt": "media", **self.drives}
        return self._request("GET", url, params=params).content

    def watch_changes(self, page_token: str, channel: Mapping[str, Any]) -> Mapping[str, Any]:
        """changes.watch: open a push channel; Drive's channel resource."""
        url = f"{self.api_url}/changes/watch"
        params = {"pageToken": page_token, **self.drives}
        body: Mapping[str, Any] = self._request("POST", url, params=params, json=channel).json()
        return body

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """channels.stop (answers 204 without a body)."""
        url = f"{self.api_url}/channels/stop"
        self._request("POST", url, json={"id": channel_id, "resourceId": resource_id})

    def page(self, response: httpx.Response) -> Page:
        """files.list pages: `files`, and the same request with the next `pageToken`."""
        body = response.json()
        token = body.get("nextPageToken")
        next_url = str(response.request.url.copy_set_param("pageToken", token)) if token else None
        return Page(list(body.get("files", [])), next_url)

    def rate_limited(self, response: httpx.Response) -> bool:
        """A 429, or a 403 whose reason is a rate limit (not a missing permission)."""
        if response.status_code == 429:
            return True
        return super().rate_limited(response) and bool(RATE_LIMIT_REASONS & set(_reasons(response)))

    def error_message(self, body: Any) -> str | None:
        """Drive's `error.message`."""
        error = body.get("error") if isinstance(body, dict) else None
        return super().error_message(error)

    def error_details(self, body: Any) -> dict[str, Any]:
        """Drive's first error `reason` (`notFound`, `exportSizeLimitExceeded`, ...)."""
        reasons = _body_reasons(body)
        return {"reason": reasons[0]} if reasons else {}


def _reasons(response: httpx.Response) -> list[str]:
    try:
        return _body_reasons(response.json())
    except ValueError:
        return []


def _body_reasons(body: Any) -> list[str]:
    error = body.get("error") if isinstance(body, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e["reason"]) for e in errors if isinstance(e, dict) and "reason" in e]
