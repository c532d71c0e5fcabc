"""A local OAuth 2.0 authorization server (RFC 6749 code grant, RFC 7636 PKCE, RFC 7009).

`GET /authorize` checks the client, requires an S256 code challenge and, as a user who
consents, redirects to the redirect URI with `code` and `state` (and `iss`, RFC 9207).
`POST /token` authenticates the client (`client_secret_post` or Basic), checks the code's
redirect URI and PKCE verifier, and answers JSON tokens or RFC 6749 §5.2 errors; refresh
tokens rotate and reusing an old one revokes the whole family, as Atlassian does.
`POST /revoke` revokes a token (RFC 7009: 200 whatever the token). Tests count token calls,
change token lifetimes and revoke tokens behind the client's back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from tests.fakes.serving import serve_in_thread

CLIENT_ID = "headwater-client"
CLIENT_SECRET = "client-secret-" + "z" * 24


@dataclass
class Grant:
    """What an authorization code or a refresh token family was issued for."""

    redirect_uri: str
    challenge: str
    scope: str


@dataclass
class FakeOAuthServer:
    """The server's state; every field may be read or changed by a test."""

    url: str = ""
    access_ttl_s: int = 3600
    issue_refresh_tokens: bool = True
    refresh_delay_s: float = 0.0
    codes: dict[str, Grant] = field(default_factory=dict)
    # Live refresh token -> its family; a family dies when an old member is reused.
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    spent_refresh_tokens: dict[str, str] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    token_calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def revoke_all(self) -> None:
        """Revoke every refresh token (the user removed the app at the provider)."""
        with self.lock:
            self.refresh_tokens.clear()

    def app(self) -> FastAPI:
        """The ASGI app."""
        app = FastAPI()
        app.get("/authorize")(self._authorize)
        app.post("/token")(self._token)
        app.post("/revoke")(self._revoke)
        return app

    async def _authorize(self, request: Request) -> Any:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or not q.get("redirect_uri"):
            return _error("invalid_request", "unknown client or no redirect_uri")
        if q.get("response_type") != "code":
            return _back(q["redirect_uri"], q.get("state"), error="unsupported_response_type")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            return _back(q["redirect_uri"], q.get("state"), error="invalid_request")
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(q["redirect_uri"], q["code_challenge"], q.get("scope", ""))
        return _back(q["redirect_uri"], q.get("state"), code=code, iss=self.url)

    async def _token(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if not _client_ok(request, form):
            return _error("invalid_client", "client authentication failed", status=401)
        grant_type = form.get("grant_type", "")
        with self.lock:
            self.token_calls[grant_type] = self.token_calls.get(grant_type, 0) + 1
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            await asyncio.sleep(self.refresh_delay_s)
            return self._refresh(form)
        return _error("unsupported_grant_type", grant_type)

    def _exchange(self, form: dict[str, str]) -> JSONResponse:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return _error("invalid_grant", "unknown or used code, or another redirect_uri")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if digest.decode().rstrip("=") != grant.challenge:
            return _error("invalid_grant", "PKCE verification failed")
        return self._tokens(grant.scope, family=secrets.token_hex(8))

    def _refresh(self, form: dict[str, str]) -> JSONResponse:
        token = form.get("refresh_token", "")
        with self.lock:
            family = self.refresh_tokens.pop(token, None)
            if family is None:
                reused = self.spent_refresh_tokens.get(token)
                if reused is not None:
                    self.refresh_tokens = {
                        t: f for t, f in self.refresh_tokens.items() if f != reused
                    }
                return _error("invalid_grant", "refresh token invalid, revoked or reused")
            self.spent_refresh_tokens[token] = family
        return self._tokens("", family=family)

    def _tokens(self, scope: str, *, family: str) -> JSONResponse:
        access = "at-" + secrets.token_urlsafe(24)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "scope": scope,
        }
        with self.lock:
            self.issued.append(access)
            if self.issue_refresh_tokens:
                refresh = "rt-" + secrets.token_urlsafe(24)
                self.refresh_tokens[refresh] = family
                self.issued.append(refresh)
                body["refresh_token"] = refresh
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _revoke(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if not _client_ok(request, form):
            return _error("invalid_client", "client authentication failed", status=401)
        token = form.get("token", "")
        with self.lock:
            self.revoked.append(token)
            self.refresh_tokens.pop(token, None)
        return JSONResponse({})


def _client_ok(request: Request, form: dict[str, str]) -> bool:
    basic = request.headers.get("authorization", "")
    if basic.startswith("Basic "):
        pair = base64.b64decode(basic[6:]).decode()
        return pair == f"{CLIENT_ID}:{CLIENT_SECRET}"
    return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET


def _back(redirect_uri: str, state: str | None, **params: str | None) -> RedirectResponse:
    query = {k: v for k, v in {**params, "state": state}.items() if v is not None}
    return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)


def _error(code: str, description: str, *, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@contextmanager
def running_oauth_server() -> Iterator[FakeOAuthServer]:
    """A fake authorization server on a free loopback port."""
    server = FakeOAuthServer()
    with serve_in_thread(server.app(), name="OAuth") as url:
        server.url = url
        yield server
