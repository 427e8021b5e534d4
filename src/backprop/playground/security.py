"""Access rules of the playground server, as Jupyter has them.

* Every request carries the random token printed with the URL: as the query parameter ``token``
  (the first page load, which also sets a cookie), the cookie, or the header
  ``Authorization: token <token>``. Missing: 401; wrong: 403.
* The Host header must name the bound address or localhost (a DNS-rebinding page whose name
  resolves to 127.0.0.1 is refused: 403), and a cross-site Origin is refused on every request.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

COOKIE = "backprop_playground_token"
LOOPBACK = ("localhost", "127.0.0.1", "::1")


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
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the Host, Origin and token checks before anything else runs."""

    def __init__(self, app, token: str, allowed_hosts: list[str]):
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

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        if host is None or host_name(host) not in self.allowed:
            return await _refuse(send, 403, f"host {host!r} is not allowed: open the playground through the "
                                 "address it printed", scope["type"])
        origin = headers.get("origin")
        if origin and host_name(urlsplit(origin).netloc) not in self.allowed:  # "null" included
            return await _refuse(send, 403, f"cross-origin request from {origin!r} refused", scope["type"])
        token, from_query = self._token_of(scope, headers)
        if not token:
            return await _refuse(send, 401, "missing access token: open the URL with ?token=... that the "
                                 "playground printed when it started", scope["type"])
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return await _refuse(send, 403, "wrong access token", scope["type"])
        if not from_query or scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)
