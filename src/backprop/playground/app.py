"""The playground's web app: the JSON API (``/api/...``), the live stream and the page.

The session is touched by one thread only, the *session thread* (a one-thread executor): every
endpoint hands its work there (``Playground.call``) and so does the player, in slices of at most
``SLICE`` seconds of training. The event loop itself never trains, so it answers every request
within about one slice, and a pause takes effect after the slice that is running. Errors a user can
cause come back as HTTP 4xx with ``{"error": "..."}``; every JSON body is strict JSON (a diverged
network's infinities are sent as null, see :func:`dumps`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import math
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.core.losses import LOSSES
from backprop.errors import BackpropError, DivergenceError, InvalidInputError
from backprop.playground import config as _config
from backprop.playground import export as _export
from backprop.playground import features as _features
from backprop.playground import panels as _panels
from backprop.playground.security import Guard
from backprop.playground.session import Session
from backprop.train.optimizers import OPTIMIZERS

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one uploaded CSV file
MAX_UPLOADS = 8  # uploaded files kept (the oldest is dropped)
FPS = 30
TRAIN_SHARE = 0.7  # share of a frame's time spent training while playing at full speed
MAX_RUN = 100_000  # updates of one POST /api/run
MAX_JSON = 1 << 20  # bytes of a JSON request body
MAX_BRACKETS = 256  # "[" and "{" in a JSON body: no config needs more; bounds the parser's nesting
SLICE = 0.02  # seconds of training at most before the session thread takes the next request


def _finite(value):
    """``value`` with every non-finite float replaced by None (JSON has no Infinity or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON: a diverged network's inf and nan become null (the fast path when all are finite)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


class StrictJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


class Playground:
    """The server's state: one session, the uploads, the player and the stream's listeners."""

    def __init__(self, data: str | None = None):
        self.tmp = tempfile.mkdtemp(prefix="backprop-playground-")
        self.uploads: dict[str, dict] = {}
        try:
            self.session = Session(self._initial_config(data), self.uploads)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.playing = False
        self.speed: float | None = None  # updates per second; None: as fast as possible
        self.rate = 0.0  # measured updates per second
        self.error: str | None = None
        self.listeners: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False
        self.generation = 0  # stop() counts up: a player or /api/run of an older generation ends
        self.seq = 0  # frames are numbered: the page keeps the newest, whichever way it came
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="playground-session")

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the session thread (in the order asked), awaited."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.worker, functools.partial(fn, *args, **kwargs))

    def _initial_config(self, data):
        """A built-in's name, or a CSV file's path (copied in like an upload; target: its last column)."""
        if not data:
            return None
        if data in _config.BUILTINS:
            return {"data": data}
        if not os.path.isfile(data):
            raise InvalidInputError(f"data {data!r} is neither a built-in ({', '.join(_config.BUILTINS)}) "
                                    "nor a CSV file")
        with open(data, "rb") as f:
            content = f.read()
        info = _export.store_upload(self.tmp, content, os.path.basename(data))
        uid = "upload-" + secrets.token_hex(4)
        self.uploads[uid] = info
        return {"data": uid, "target": info["columns"][-1]}

    def shutdown(self) -> None:
        """Server shutdown begins (on the loop's thread): stop playing and end every open stream,
        so that uvicorn's graceful shutdown has no request left to wait for."""
        self.closing, self.playing = True, False
        for q in list(self.listeners):
            if q.full():
                q.get_nowait()
            q.put_nowait(None)

    def close(self) -> None:
        self.playing = False
        self.generation += 1
        if self.task is not None:
            self.task.cancel()
        self.worker.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def frame(self) -> dict:
        """The page's frame (on the session thread)."""
        f = self.session.frame(self.playing, self.rate)
        self.seq += 1
        f["error"], f["seq"] = self.error, self.seq
        return f

    def frame_text(self) -> str:
        return dumps(self.frame())

    async def publish(self) -> None:
        if not self.listeners or self.closing:  # closing: the streams' end marks must stay queued
            return
        text = await self.call(self.frame_text)
        if self.closing:
            return
        for q in list(self.listeners):
            if q.full():  # a slow page gets the newest frame, not a backlog
                q.get_nowait()
            q.put_nowait(text)

    async def play_loop(self, generation: int) -> None:
        dt = 1.0 / FPS
        owed = 0.0
        count, since = 0, time.perf_counter()
        while self.playing and self.generation == generation:
            t0 = time.perf_counter()
            session = self.session
            try:
                if self.speed is None:
                    count += await self.call(session.run, 1 << 30, budget=min(SLICE, TRAIN_SHARE * dt))
                else:
                    owed += self.speed * dt
                    n = int(owed)
                    made = await self.call(session.run, n, budget=SLICE) if n else 0
                    owed = min(owed - made, self.speed)  # behind by at most a second's updates
                    count += made
                if session.over:
                    self.playing = False
            except DivergenceError as exc:
                if self.generation == generation:
                    self.playing, self.error = False, str(exc)
            if self.generation != generation:
                return  # stopped meanwhile: the stopper publishes
            now = time.perf_counter()
            if now - since >= 0.5:
                self.rate, count, since = count / (now - since), 0, now
            await self.publish()
            await asyncio.sleep(max(0.0, dt - (time.perf_counter() - t0)))
        if self.generation == generation:
            self.rate = 0.0
            await self.publish()

    def start(self, speed: float | None) -> None:
        self.speed, self.error = speed, None
        if not self.playing:
            self.playing = True
            self.task = asyncio.get_running_loop().create_task(self.play_loop(self.generation))

    def stop(self) -> int:
        """Stop the player and any /api/run; the new generation."""
        self.playing = False
        self.rate = 0.0
        self.generation += 1
        return self.generation


# -- helpers --------------------------------------------------------------------------------------
def _pg(request: Request) -> Playground:
    return request.app.state.playground


class TooLarge(InvalidInputError):
    """A request body over its limit (HTTP 413)."""


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


def _int_param(request, name, default=None):
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise InvalidInputError(f"the query parameter {name!r} is missing")
        return default
    if name == "i" and raw == "bias":
        return raw
    if len(raw) > 12:
        raise InvalidInputError(f"{name} must be a small integer, got {raw[:20]!r}...")
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {raw!r}") from None


async def _answer(pg: Playground, fn, *args, **kwargs) -> Response:
    """``fn``'s value as strict JSON, computed and encoded on the session thread."""
    text = await pg.call(lambda: dumps(fn(*args, **kwargs)))
    return Response(text, media_type="application/json")


# -- endpoints ------------------------------------------------------------------------------------
async def index(request: Request) -> Response:
    return FileResponse(_static_dir() / "index.html", headers={"cache-control": "no-store"})


async def state(request: Request) -> Response:
    pg = _pg(request)
    return await _answer(pg, lambda: pg.session.state())


async def options(request: Request) -> Response:
    pg = _pg(request)
    return StrictJSON({
        "builtins": list(_config.BUILTINS), "hidden": list(HIDDEN_ACTIVATIONS),
        "outputs": list(_config.OUTPUTS), "losses": list(LOSSES), "optimizers": list(OPTIMIZERS),
        "modes": list(_config.MODES), "defaults": _config.DEFAULTS, "max_layers": _config.MAX_LAYERS,
        "max_width": _config.MAX_WIDTH, "features": list(_features.FEATURES),
        "plane_builtins": list(_config.PLANE),
        "uploads": [{"id": k, **{f: v[f] for f in ("filename", "columns", "rows")}}
                    for k, v in pg.uploads.items()],
        "max_upload": MAX_UPLOAD,
    })


async def _replace_session(pg: Playground, raw: dict) -> Response:
    session = await pg.call(Session, raw, pg.uploads)  # a bad config raises before anything changes
    pg.stop()
    pg.session, pg.error = session, None
    await pg.publish()
    return await _answer(pg, session.state)


async def set_config(request: Request) -> Response:
    pg = _pg(request)
    return await _replace_session(pg, await _json_body(request))


async def reset(request: Request) -> Response:
    """The same configuration anew: initial weights and training state of its seed."""
    pg = _pg(request)
    return await _replace_session(pg, dict(pg.session.cfg))


async def _traced(request, name):
    pg = _pg(request)
    pg.stop()
    session = pg.session
    try:
        text = await pg.call(lambda: dumps(getattr(session, name)()))
    except DivergenceError as exc:
        pg.error = str(exc)
        await pg.publish()
        raise
    await pg.publish()
    return Response(text, media_type="application/json")


async def step(request: Request) -> Response:
    return await _traced(request, "step")


async def phase(request: Request) -> Response:
    return await _traced(request, "next_phase")


async def run(request: Request) -> Response:
    pg = _pg(request)
    body = await _json_body(request)
    n = body.get("updates", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RUN:
        raise InvalidInputError(f"updates must be an integer from 1 to {MAX_RUN}, got {n!r}")
    generation = pg.stop()
    session, done = pg.session, 0
    try:
        # in slices on the session thread: other requests are answered in between, and a pause,
        # a step or a new config (a new generation) ends the run
        while done < n and pg.generation == generation and not session.over:
            done += await pg.call(session.run, n - done, budget=SLICE)
    except DivergenceError as exc:
        if pg.generation == generation:
            pg.error = str(exc)
        await pg.publish()
        raise
    await pg.publish()

    def answer():
        st = session.state()
        return dumps({"updates": done, "stopped": done < n,
                      **{k: st[k] for k in ("epoch", "step", "n_updates", "loss_history", "divergence")}})

    return Response(await pg.call(answer), media_type="application/json")


async def play(request: Request) -> Response:
    pg = _pg(request)
    body = await _json_body(request)
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                              or not 0 < speed <= 1e6):
        raise InvalidInputError(f"speed must be updates per second (> 0) or null for full speed, "
                                f"got {speed!r}")
    pg.start(None if speed is None else float(speed))
    return StrictJSON({"playing": True, "speed": pg.speed})


async def pause(request: Request) -> Response:
    pg = _pg(request)
    pg.stop()
    # after the slice that is running: the count is final when this answer leaves
    n = await pg.call(lambda: pg.session.n_updates)
    await pg.publish()
    return StrictJSON({"playing": False, "n_updates": n})


async def frame(request: Request) -> Response:
    pg = _pg(request)
    return Response(await pg.call(pg.frame_text), media_type="application/json")


async def points(request: Request) -> Response:
    pg = _pg(request)
    return await _answer(pg, lambda: pg.session.points())


async def unit(request: Request) -> Response:
    pg = _pg(request)
    args = _int_param(request, "layer"), _int_param(request, "unit"), _int_param(request, "sample", 0)
    return await _answer(pg, lambda: _panels.unit(pg.session, *args))


async def weight(request: Request) -> Response:
    pg = _pg(request)
    args = _int_param(request, "layer"), _int_param(request, "i"), _int_param(request, "j")
    return await _answer(pg, lambda: _panels.weight(pg.session, *args))


async def set_weight(request: Request) -> Response:
    """``{"layer": k, "i": i or "bias", "j": j, "value": w}``: set one weight; answers the new state."""
    pg = _pg(request)
    body = await _json_body(request)
    unknown = sorted(set(body) - {"layer", "i", "j", "value"})
    if unknown or "value" not in body:
        raise InvalidInputError('send {"layer": k, "i": i (or "bias"), "j": j, "value": w}'
                                + (f"; unknown key {unknown[0]!r}" if unknown else "; value is missing"))
    session = pg.session
    text = await pg.call(lambda: dumps(session.set_weight(body.get("layer"), body.get("i"), body.get("j"),
                                                          body["value"])))
    await pg.publish()
    return Response(text, media_type="application/json")


async def stream(request: Request) -> Response:
    """Server-sent events: one ``frame`` event now and then about 30 a second while playing."""
    pg = _pg(request)
    limit = _int_param(request, "max_frames", 0)
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


async def upload(request: Request) -> Response:
    pg = _pg(request)
    data = await _read_limited(request, MAX_UPLOAD, "the file")
    info = await pg.call(_export.store_upload, pg.tmp, data, request.query_params.get("filename", "data.csv"))
    uid = "upload-" + secrets.token_hex(4)
    pg.uploads[uid] = info
    while len(pg.uploads) > MAX_UPLOADS:
        old = pg.uploads.pop(next(iter(pg.uploads)))
        with contextlib.suppress(OSError):
            os.remove(old["path"])
    return StrictJSON({"id": uid, **{k: v for k, v in info.items() if k != "path"}})


async def export_model(request: Request) -> Response:
    pg = _pg(request)
    s = pg.session
    data = await pg.call(_export.model_bytes, s, pg.tmp)
    name = f"playground-{s.cfg['data']}-{s.n_updates}.safetensors"
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def export_explain(request: Request) -> Response:
    pg = _pg(request)
    s = pg.session
    fmt = request.query_params.get("format", "markdown")
    text, media, ext = await pg.call(_export.explain_text, s, fmt, _int_param(request, "sample", 0))
    name = f"playground-update-{max(s.n_updates, 0)}.{ext}"
    return Response(text, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'})


def _error(status, message):
    return StrictJSON({"error": message}, status_code=status)


async def on_user_error(request: Request, exc: Exception) -> Response:
    status = 409 if isinstance(exc, _panels.NoStepError) else 413 if isinstance(exc, TooLarge) else 400
    return _error(status, " ".join(str(exc).split()))


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

    api = [
        Route("/api/state", state), Route("/api/options", options),
        Route("/api/config", set_config, methods=["POST"]), Route("/api/reset", reset, methods=["POST"]),
        Route("/api/step", step, methods=["POST"]), Route("/api/phase", phase, methods=["POST"]),
        Route("/api/run", run, methods=["POST"]), Route("/api/play", play, methods=["POST"]),
        Route("/api/pause", pause, methods=["POST"]), Route("/api/frame", frame),
        Route("/api/points", points),
        Route("/api/unit", unit), Route("/api/weight", weight),
        Route("/api/weight", set_weight, methods=["POST"]),
        Route("/api/stream", stream),
        Route("/api/upload", upload, methods=["POST"]), Route("/api/export/model", export_model),
        Route("/api/export/explain", export_explain),
    ]
    app = Starlette(
        routes=[Route("/", index), *api, Mount("/static", StaticFiles(directory=str(_static_dir())))],
        exception_handlers={BackpropError: on_user_error, HTTPException: on_http_error,
                            ClientDisconnect: on_disconnect, Exception: on_crash},
        lifespan=lifespan,
    )
    app.state.playground = pg
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app
