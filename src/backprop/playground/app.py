"""The playground's web app: the page, the JSON API (``/api/...``) over HTTP and the live stream.

Every ``/api/...`` route is a thin wrapper over :mod:`backprop.playground.api`, the one
implementation of the endpoints that the notebook widget calls too: this layer only reads the
request (the size limits and strict JSON), answers over HTTP and adds what only a web server needs:
the access checks (:mod:`~backprop.playground.security`), the page and its static files, and the
server-sent event stream of frames. Errors a user can cause come back as HTTP 4xx with
``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backprop.errors import BackpropError, InvalidInputError
from backprop.playground import api as _api
from backprop.playground.api import MAX_UPLOAD, Playground, TooLarge, dumps
from backprop.playground.security import Guard

MAX_JSON = 1 << 20  # bytes of a JSON request body
MAX_BRACKETS = 256  # "[" and "{" in a JSON body: no config needs more; bounds the parser's nesting


class StrictJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


# -- reading a request ----------------------------------------------------------------------------
def _pg(request: Request) -> Playground:
    return request.app.state.playground


async def _read_limited(request: Request, limit: int, what: str) -> bytes:
    declared = request.headers.get("content-length")
    message = f"{what} is larger than the limit of {limit / (1 << 20):g} MB"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(message)
    chunks, size = [], 0
    async for chunk in request.stream():  # counted while reading: Content-Length may be absent or wrong
        size += len(chunk)
        if size > limit:
            raise TooLarge(message)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name):
    raise InvalidInputError(f"the request body holds {name}, which is not JSON: send a finite number")


async def _json_body(request: Request) -> dict:
    body = await _read_limited(request, MAX_JSON, "the request body")
    if not body:
        return {}
    # nesting bounded before parsing: no config needs more than a few brackets, and a deep nest
    # would exhaust the parser's recursion
    if body.count(b"[") + body.count(b"{") > MAX_BRACKETS:
        raise InvalidInputError(f"the request body has more than {MAX_BRACKETS} arrays and objects; "
                                "send a flat config object like {\"data\": \"xor\", \"layers\": [4]}")
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except InvalidInputError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInputError("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return value


def _response(reply: _api.Reply) -> Response:
    headers = {}
    if reply.filename is not None:
        headers["content-disposition"] = f'attachment; filename="{reply.filename}"'
    return Response(reply.content, status_code=reply.status, media_type=reply.media_type, headers=headers)


def _route(method: str, path: str) -> Route:
    """The HTTP route of one endpoint of :data:`api.ROUTES`: read the body its way, call, answer."""
    fn, body_kind = _api.ROUTES[(method, path)]

    async def endpoint(request: Request) -> Response:
        if body_kind == "json":
            body: Any = await _json_body(request)
        elif body_kind == "raw":
            body = await _read_limited(request, MAX_UPLOAD, "the file")
        else:
            body = None
        # the endpoint's own errors reach the handlers below, as every other route's do
        return _response(await fn(_pg(request), request.query_params, body))

    return Route(path, endpoint, methods=[method])


# -- what only the web page has -------------------------------------------------------------------
async def index(request: Request) -> Response:
    return FileResponse(_static_dir() / "index.html", headers={"cache-control": "no-store"})


async def stream(request: Request) -> Response:
    """Server-sent events: one ``frame`` event now and then about 30 a second while playing."""
    pg = _pg(request)
    limit = _api.int_param(request.query_params, "max_frames", 0)
    q: asyncio.Queue = asyncio.Queue(maxsize=1)
    if pg.closing:
        return _error(503, "the playground is shutting down")
    first = await pg.call(pg.frame_text)

    async def events():
        pg.listeners.add(q)
        try:
            yield f"event: frame\ndata: {first}\n\n"
            sent = 1
            while not limit or sent < limit:
                try:
                    text = await asyncio.wait_for(q.get(), timeout=15.0)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if text is None:  # the server is shutting down
                    return
                yield f"event: frame\ndata: {text}\n\n"
                sent += 1
        finally:
            pg.listeners.discard(q)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _error(status, message):
    return StrictJSON({"error": message}, status_code=status)


async def on_user_error(request: Request, exc: Exception) -> Response:
    return _error(_api.status_of(exc), " ".join(str(exc).split()))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # (registered for it)
    return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "request refused")


async def on_disconnect(request: Request, exc: Exception) -> Response:
    # the client hung up mid-body: nobody to answer, nothing to log
    return Response(status_code=400)


async def on_crash(request: Request, exc: Exception) -> Response:
    # a bug, not the user's fault: the server keeps running
    return _error(500, f"internal error ({type(exc).__name__}: {exc}); the server is still running")


def _static_dir():
    return resources.files("backprop.playground") / "static"


def create_app(token: str, *, allowed_hosts: list[str], data: str | None = None) -> Starlette:
    """The app for ``token`` (required on every request) serving the hosts ``allowed_hosts``."""
    if not isinstance(token, str) or len(token) < 8:
        raise InvalidInputError("the access token must be a string of at least 8 characters")
    pg = Playground(data)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        pg.loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            pg.close()

    api = [_route(method, path) for method, path in _api.ROUTES]
    api.append(Route("/api/stream", stream))
    app = Starlette(
        routes=[Route("/", index), *api, Mount("/static", StaticFiles(directory=str(_static_dir())))],
        exception_handlers={BackpropError: on_user_error, HTTPException: on_http_error,
                            ClientDisconnect: on_disconnect, Exception: on_crash},
        lifespan=lifespan,
    )
    app.state.playground = pg
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app
