"""The playground's web app: the JSON API (``/api/...``), the live stream and the page.

Every endpoint runs on the event loop's thread (``async def``), and so does the player, which makes
updates in slices of a frame's time: the session is never touched by two things at once, and no
lock is needed. Errors a user can cause come back as HTTP 4xx with ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.core.losses import LOSSES
from backprop.errors import BackpropError, DivergenceError, InvalidInputError
from backprop.playground import config as _config
from backprop.playground import export as _export
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
RUN_CHUNK = 256  # POST /api/run lets other requests in after every so many updates


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

    def shutdown(self):
        """Server shutdown begins (on the loop's thread): stop playing and end every open stream,
        so that uvicorn's graceful shutdown has no request left to wait for."""
        self.closing, self.playing = True, False
        for q in list(self.listeners):
            if q.full():
                q.get_nowait()
            q.put_nowait(None)

    def close(self):
        self.playing = False
        if self.task is not None:
            self.task.cancel()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def frame(self) -> dict:
        f = self.session.frame(self.playing, self.rate)
        f["error"] = self.error
        return f

    def publish(self):
        if not self.listeners or self.closing:  # closing: the streams' end marks must stay queued
            return
        text = json.dumps(self.frame())
        for q in list(self.listeners):
            if q.full():  # a slow page gets the newest frame, not a backlog
                q.get_nowait()
            q.put_nowait(text)

    async def play_loop(self):
        dt = 1.0 / FPS
        owed = 0.0
        count, since = 0, time.perf_counter()
        while self.playing:
            t0 = time.perf_counter()
            try:
                if self.speed is None:
                    while time.perf_counter() - t0 < TRAIN_SHARE * dt:
                        count += self.session.run(16)
                else:
                    owed += self.speed * dt
                    n = int(owed)
                    owed -= n
                    count += self.session.run(n) if n else 0
            except DivergenceError as exc:
                self.playing, self.error = False, str(exc)
            now = time.perf_counter()
            if now - since >= 0.5:
                self.rate, count, since = count / (now - since), 0, now
            self.publish()
            await asyncio.sleep(max(0.0, dt - (time.perf_counter() - t0)))
        self.publish()

    def start(self, speed):
        self.speed, self.error = speed, None
        if not self.playing:
            self.playing = True
            self.task = asyncio.get_running_loop().create_task(self.play_loop())

    def stop(self):
        self.playing = False
        self.rate = 0.0


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


async def _json_body(request: Request) -> dict:
    body = await _read_limited(request, MAX_JSON, "the request body")
    if not body:
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
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
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {raw!r}") from None


# -- endpoints ------------------------------------------------------------------------------------
async def index(request):
    return FileResponse(_static_dir() / "index.html", headers={"cache-control": "no-store"})


async def state(request):
    return JSONResponse(_pg(request).session.state())


async def options(request):
    pg = _pg(request)
    return JSONResponse({
        "builtins": list(_config.BUILTINS), "hidden": list(HIDDEN_ACTIVATIONS),
        "outputs": list(_config.OUTPUTS), "losses": list(LOSSES), "optimizers": list(OPTIMIZERS),
        "modes": list(_config.MODES), "defaults": _config.DEFAULTS, "max_layers": _config.MAX_LAYERS,
        "max_width": _config.MAX_WIDTH,
        "uploads": [{"id": k, **{f: v[f] for f in ("filename", "columns", "rows")}}
                    for k, v in pg.uploads.items()],
        "max_upload": MAX_UPLOAD,
    })


async def set_config(request):
    pg = _pg(request)
    raw = await _json_body(request)
    session = Session(raw, pg.uploads)  # a bad config raises before anything changes
    pg.stop()
    pg.session, pg.error = session, None
    pg.publish()
    return JSONResponse(session.state())


async def reset(request):
    """The same configuration anew: initial weights and training state of its seed."""
    pg = _pg(request)
    session = Session(dict(pg.session.cfg), pg.uploads)
    pg.stop()
    pg.session, pg.error = session, None
    pg.publish()
    return JSONResponse(session.state())


async def step(request):
    pg = _pg(request)
    pg.stop()
    out = pg.session.step()
    pg.publish()
    return JSONResponse(out)


async def phase(request):
    pg = _pg(request)
    pg.stop()
    out = pg.session.next_phase()
    pg.publish()
    return JSONResponse(out)


async def run(request):
    pg = _pg(request)
    body = await _json_body(request)
    n = body.get("updates", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RUN:
        raise InvalidInputError(f"updates must be an integer from 1 to {MAX_RUN}, got {n!r}")
    pg.stop()
    session, done = pg.session, 0
    while done < n and pg.session is session:  # in chunks: the server keeps answering meanwhile
        chunk = min(RUN_CHUNK, n - done)
        made = session.run(chunk)
        done += made
        if made < chunk:  # training is over
            break
        await asyncio.sleep(0)
    pg.publish()
    return JSONResponse({"updates": done, **{k: v for k, v in session.state().items()
                                             if k in ("epoch", "step", "n_updates", "loss_history")}})


async def play(request):
    pg = _pg(request)
    body = await _json_body(request)
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                              or not 0 < speed <= 1e6):
        raise InvalidInputError(f"speed must be updates per second (> 0) or null for full speed, "
                                f"got {speed!r}")
    pg.start(None if speed is None else float(speed))
    return JSONResponse({"playing": True, "speed": pg.speed})


async def pause(request):
    pg = _pg(request)
    pg.stop()
    pg.publish()
    return JSONResponse({"playing": False, "n_updates": pg.session.n_updates})


async def frame(request):
    return JSONResponse(_pg(request).frame())


async def points(request):
    return JSONResponse(_pg(request).session.points())


async def unit(request):
    s = _pg(request).session
    return JSONResponse(_panels.unit(s, _int_param(request, "layer"), _int_param(request, "unit"),
                                      _int_param(request, "sample", 0)))


async def weight(request):
    s = _pg(request).session
    return JSONResponse(_panels.weight(s, _int_param(request, "layer"), _int_param(request, "i"),
                                        _int_param(request, "j")))


async def stream(request):
    """Server-sent events: one ``frame`` event now and then about 30 a second while playing."""
    pg = _pg(request)
    limit = _int_param(request, "max_frames", 0)
    q: asyncio.Queue = asyncio.Queue(maxsize=1)
    if pg.closing:
        return _error(503, "the playground is shutting down")
    first = json.dumps(pg.frame())

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


async def upload(request):
    pg = _pg(request)
    data = await _read_limited(request, MAX_UPLOAD, "the file")
    info = _export.store_upload(pg.tmp, data, request.query_params.get("filename", "data.csv"))
    uid = "upload-" + secrets.token_hex(4)
    pg.uploads[uid] = info
    while len(pg.uploads) > MAX_UPLOADS:
        old = pg.uploads.pop(next(iter(pg.uploads)))
        with contextlib.suppress(OSError):
            os.remove(old["path"])
    return JSONResponse({"id": uid, **{k: v for k, v in info.items() if k != "path"}})


async def export_model(request):
    s = _pg(request).session
    data = _export.model_bytes(s, _pg(request).tmp)
    name = f"playground-{s.cfg['data']}-{s.n_updates}.safetensors"
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def export_explain(request):
    s = _pg(request).session
    fmt = request.query_params.get("format", "markdown")
    text, media, ext = _export.explain_text(s, fmt, _int_param(request, "sample", 0))
    name = f"playground-update-{max(s.n_updates, 0)}.{ext}"
    return Response(text, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'})


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


async def on_user_error(request, exc):
    status = 409 if isinstance(exc, _panels.NoStepError) else 413 if isinstance(exc, TooLarge) else 400
    return _error(status, " ".join(str(exc).split()))


async def on_http_error(request, exc):
    return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "request refused")


async def on_crash(request, exc):  # a bug, not the user's fault: the server keeps running
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
        Route("/api/unit", unit), Route("/api/weight", weight), Route("/api/stream", stream),
        Route("/api/upload", upload, methods=["POST"]), Route("/api/export/model", export_model),
        Route("/api/export/explain", export_explain),
    ]
    app = Starlette(
        routes=[Route("/", index), *api, Mount("/static", StaticFiles(directory=str(_static_dir())))],
        exception_handlers={BackpropError: on_user_error, HTTPException: on_http_error, Exception: on_crash},
        lifespan=lifespan,
    )
    app.state.playground = pg
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app
