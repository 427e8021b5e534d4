"""Access rules of the playground server, as Jupyter has them.

* Every request carries the random token printed with the URL: as the query parameter ``token``
  (the first page load, which also sets a cookie), the cookie, or the header
  ``Authorization: token <token>``. Missing: 401; wrong: 403.
* The Host header must name the bound address or localhost (a DNS-rebinding page whose name
  resolves to 127.0.0.1 is refused: 403), and an Origin other than the page's own -- the same
  scheme, host and port as the request's Host -- is refused on every request (another local
  server's page, ``http://127.0.0.1:8000``, is another origin).
* Every answer, refusals included, carries ``Content-Security-Policy`` (scripts, styles and
  connections from this server only; no inline script), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer`` (the first URL carries the token) and no framing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

COOKIE = "backprop_playground_token"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, authority: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a scheme and an authority ("host[:port]"); None when malformed."""
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or scheme not in DEFAULT_PORTS:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether the Origin header names the page this request's Host and scheme belong to."""
    parts = urlsplit(origin.strip().lower())
    if parts.path or parts.query or parts.fragment or not parts.netloc:
        return False
    page_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    mine = _origin(page_scheme, host)
    return mine is not None and _origin(parts.scheme, parts.netloc) == mine


def host_name(value: str) -> str:
    """The host of a Host header or URL authority, without port; IPv6 brackets removed."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


async def _refuse(send, status, message, scope_type):
    if scope_type == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the Host, Origin and token checks before anything else runs."""

    def __init__(self, app: Any, token: str, allowed_hosts: list[str]):
        self.app = app
        self.token = token
        self.allowed = {host_name(h) for h in allowed_hosts} | set(LOOPBACK)

    def _token_of(self, scope, headers):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        auth = headers.get("authorization", "")
        if auth.lower().startswith("token "):
            return auth[6:].strip(), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a malformed Cookie header counts as none
            return None, False
        morsel = cookie.get(COOKIE)
        return (morsel.value if morsel else None), False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        if host is None or host_name(host) not in self.allowed:
            return await _refuse(send, 403, f"host {host!r} is not allowed: open the playground through the "
                                 "address it printed", scope["type"])
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, scope.get("scheme", "http"), host):  # "null" too
            return await _refuse(send, 403, f"cross-origin request from {origin[:100]!r} refused: only "
                                 "the playground's own page may call it", scope["type"])
        token, from_query = self._token_of(scope, headers)
        if not token:
            return await _refuse(send, 401, "missing access token: open the URL with ?token=... that the "
                                 "playground printed when it started", scope["type"])
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return await _refuse(send, 403, "wrong access token", scope["type"])
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = list(HEADERS)
        if from_query:
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            extra.append((b"set-cookie", cookie.encode("latin-1")))

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)
