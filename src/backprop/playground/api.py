"""The playground's endpoints, free of any transport: the one implementation of every ``/api/...``.

Two transports call them: the web page's HTTP server (:mod:`backprop.playground.app`, which adds
the access checks, the request-size limits and the live stream) and the notebook widget
(:mod:`backprop.playground.widget`, whose front end sends the same requests as messages). An
endpoint takes the playground, the query parameters and the body (a JSON object, or the bytes of
an upload) and returns a :class:`Reply`; :func:`handle` turns the errors a user can cause into
``{"error": "..."}`` answers with the page's status codes.

The session is touched by one thread only, the *session thread* (a one-thread executor): every
endpoint hands its work there (``Playground.call``) and so does the player, in slices of at most
``SLICE`` seconds of training. The event loop itself never trains, so it answers every request
within about one slice, and a pause takes effect after the slice that is running. Every JSON body
is strict JSON (a diverged network's infinities are sent as null, see :func:`dumps`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import math
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.core.losses import LOSSES
from backprop.errors import BackpropError, DivergenceError, InvalidInputError
from backprop.playground import config as _config
from backprop.playground import export as _export
from backprop.playground import features as _features
from backprop.playground import panels as _panels
from backprop.playground.session import Session
from backprop.train.optimizers import OPTIMIZERS

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one uploaded CSV file
MAX_UPLOADS = 8  # uploaded files kept (the oldest is dropped)
FPS = 30
TRAIN_SHARE = 0.7  # share of a frame's time spent training while playing at full speed
MAX_RUN = 100_000  # updates of one POST /api/run
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


class Playground:
    """The state behind the endpoints: one session, the uploads, the player, and who hears of new
    frames: the HTTP stream's queues (``listeners``) and plain callbacks (``watchers``, the widget)."""

    def __init__(self, data: Any = None):
        self.tmp = tempfile.mkdtemp(prefix="backprop-playground-")
        self.uploads: dict[str, dict] = {}
        try:
            self.session = self.new_session(self._initial_config(data))
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.playing = False
        self.speed: float | None = None  # updates per second; None: as fast as possible
        self.rate = 0.0  # measured updates per second
        self.error: str | None = None
        self.listeners: set[asyncio.Queue] = set()
        self.watchers: list[Callable[[str], None]] = []  # called with each published frame's JSON
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

    def new_session(self, raw: dict | None) -> Session:
        """A session of the configuration ``raw`` (the widget's kind may train its user's network)."""
        return Session(raw, self.uploads)

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
        if not (self.listeners or self.watchers) or self.closing:  # closing: the streams' end marks stay
            return
        text = await self.call(self.frame_text)
        if self.closing:
            return
        for watch in list(self.watchers):
            watch(text)
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




# -- the transport-free API -----------------------------------------------------------------------
class TooLarge(InvalidInputError):
    """A request body over its limit (HTTP 413)."""


@dataclasses.dataclass
class Reply:
    """An endpoint's answer: JSON text, or a file's content (``filename`` set) for a download."""

    content: str | bytes
    status: int = 200
    media_type: str = "application/json"
    filename: str | None = None


Query = Mapping[str, str]
Endpoint = Callable[[Playground, Query, Any], Coroutine[Any, Any, Reply]]


def json_reply(value: Any) -> Reply:
    return Reply(dumps(value))


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error a user caused: 409 before the first update, 413 too large, else 400."""
    return 409 if isinstance(exc, _panels.NoStepError) else 413 if isinstance(exc, TooLarge) else 400


def error_reply(status: int, message: str) -> Reply:
    return Reply(dumps({"error": message}), status=status)


def int_param(query: Query, name, default=None):
    raw = query.get(name)
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


def _object(body: Any) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return body


async def _answer(pg: Playground, fn, *args, **kwargs) -> Reply:
    """``fn``'s value as strict JSON, computed and encoded on the session thread."""
    return Reply(await pg.call(lambda: dumps(fn(*args, **kwargs))))


async def state(pg: Playground, query: Query, body: Any) -> Reply:
    return await _answer(pg, lambda: pg.session.state())


async def options(pg: Playground, query: Query, body: Any) -> Reply:
    return json_reply({
        "builtins": list(_config.BUILTINS), "hidden": list(HIDDEN_ACTIVATIONS),
        "outputs": list(_config.OUTPUTS), "losses": list(LOSSES), "optimizers": list(OPTIMIZERS),
        "modes": list(_config.MODES), "defaults": _config.DEFAULTS, "max_layers": _config.MAX_LAYERS,
        "max_width": _config.MAX_WIDTH, "features": list(_features.FEATURES),
        "plane_builtins": list(_config.PLANE),
        "uploads": [{"id": k, **{f: v[f] for f in ("filename", "columns", "rows")}}
                    for k, v in pg.uploads.items()],
        "max_upload": MAX_UPLOAD,
    })


async def _replace_session(pg: Playground, raw: dict) -> Reply:
    session = await pg.call(pg.new_session, raw)  # a bad config raises before anything changes
    pg.stop()
    pg.session, pg.error = session, None
    await pg.publish()
    return await _answer(pg, session.state)


async def set_config(pg: Playground, query: Query, body: Any) -> Reply:
    return await _replace_session(pg, _object(body))


async def reset(pg: Playground, query: Query, body: Any) -> Reply:
    """The same configuration anew: initial weights and training state of its seed."""
    return await _replace_session(pg, dict(pg.session.cfg))


async def _traced(pg: Playground, name: str) -> Reply:
    pg.stop()
    session = pg.session
    try:
        text = await pg.call(lambda: dumps(getattr(session, name)()))
    except DivergenceError as exc:
        pg.error = str(exc)
        await pg.publish()
        raise
    await pg.publish()
    return Reply(text)


async def step(pg: Playground, query: Query, body: Any) -> Reply:
    return await _traced(pg, "step")


async def phase(pg: Playground, query: Query, body: Any) -> Reply:
    return await _traced(pg, "next_phase")


async def run(pg: Playground, query: Query, body: Any) -> Reply:
    n = _object(body).get("updates", 1)
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

    return Reply(await pg.call(answer))


async def play(pg: Playground, query: Query, body: Any) -> Reply:
    speed = _object(body).get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                              or not 0 < speed <= 1e6):
        raise InvalidInputError(f"speed must be updates per second (> 0) or null for full speed, "
                                f"got {speed!r}")
    pg.start(None if speed is None else float(speed))
    return json_reply({"playing": True, "speed": pg.speed})


async def pause(pg: Playground, query: Query, body: Any) -> Reply:
    pg.stop()
    # after the slice that is running: the count is final when this answer leaves
    n = await pg.call(lambda: pg.session.n_updates)
    await pg.publish()
    return json_reply({"playing": False, "n_updates": n})


async def frame(pg: Playground, query: Query, body: Any) -> Reply:
    return Reply(await pg.call(pg.frame_text))


async def points(pg: Playground, query: Query, body: Any) -> Reply:
    return await _answer(pg, lambda: pg.session.points())


async def unit(pg: Playground, query: Query, body: Any) -> Reply:
    args = int_param(query, "layer"), int_param(query, "unit"), int_param(query, "sample", 0)
    return await _answer(pg, lambda: _panels.unit(pg.session, *args))


async def weight(pg: Playground, query: Query, body: Any) -> Reply:
    args = int_param(query, "layer"), int_param(query, "i"), int_param(query, "j")
    return await _answer(pg, lambda: _panels.weight(pg.session, *args))


async def set_weight(pg: Playground, query: Query, body: Any) -> Reply:
    """``{"layer": k, "i": i or "bias", "j": j, "value": w}``: set one weight; answers the new state."""
    body = _object(body)
    unknown = sorted(set(body) - {"layer", "i", "j", "value"})
    if unknown or "value" not in body:
        raise InvalidInputError('send {"layer": k, "i": i (or "bias"), "j": j, "value": w}'
                                + (f"; unknown key {unknown[0]!r}" if unknown else "; value is missing"))
    session = pg.session
    text = await pg.call(lambda: dumps(session.set_weight(body.get("layer"), body.get("i"), body.get("j"),
                                                          body["value"])))
    await pg.publish()
    return Reply(text)


async def upload(pg: Playground, query: Query, body: Any) -> Reply:
    data = body if isinstance(body, bytes) else b""
    if len(data) > MAX_UPLOAD:
        raise TooLarge(f"the file is larger than the limit of {MAX_UPLOAD / (1 << 20):g} MB")
    info = await pg.call(_export.store_upload, pg.tmp, data, query.get("filename", "data.csv"))
    uid = "upload-" + secrets.token_hex(4)
    pg.uploads[uid] = info
    while len(pg.uploads) > MAX_UPLOADS:
        old = pg.uploads.pop(next(iter(pg.uploads)))
        with contextlib.suppress(OSError):
            os.remove(old["path"])
    return json_reply({"id": uid, **{k: v for k, v in info.items() if k != "path"}})


async def export_model(pg: Playground, query: Query, body: Any) -> Reply:
    s = pg.session
    data = await pg.call(_export.model_bytes, s, pg.tmp)
    return Reply(data, media_type="application/octet-stream",
                 filename=f"playground-{s.cfg['data']}-{s.n_updates}.safetensors")


async def export_explain(pg: Playground, query: Query, body: Any) -> Reply:
    s = pg.session
    fmt = query.get("format", "markdown")
    text, media, ext = await pg.call(_export.explain_text, s, fmt, int_param(query, "sample", 0))
    return Reply(text, media_type=media, filename=f"playground-update-{max(s.n_updates, 0)}.{ext}")


#: (method, path) -> (endpoint, its body: "json" (an object), "raw" (bytes) or None)
ROUTES: dict[tuple[str, str], tuple[Endpoint, str | None]] = {
    ("GET", "/api/state"): (state, None), ("GET", "/api/options"): (options, None),
    ("POST", "/api/config"): (set_config, "json"), ("POST", "/api/reset"): (reset, None),
    ("POST", "/api/step"): (step, None), ("POST", "/api/phase"): (phase, None),
    ("POST", "/api/run"): (run, "json"), ("POST", "/api/play"): (play, "json"),
    ("POST", "/api/pause"): (pause, None), ("GET", "/api/frame"): (frame, None),
    ("GET", "/api/points"): (points, None), ("GET", "/api/unit"): (unit, None),
    ("GET", "/api/weight"): (weight, None), ("POST", "/api/weight"): (set_weight, "json"),
    ("POST", "/api/upload"): (upload, "raw"),
    ("GET", "/api/export/model"): (export_model, None),
    ("GET", "/api/export/explain"): (export_explain, None),
}


async def handle(pg: Playground, method: str, path: str, query: Query, body: Any) -> Reply:
    """One request to the API, whatever carried it: the endpoint's reply, or an ``{"error": ...}``
    reply (4xx for the user's errors, 404 for an unknown endpoint, 500 for a bug)."""
    route = ROUTES.get((method, path))
    if route is None:
        known = any(p == path for _, p in ROUTES)
        return error_reply(405 if known else 404, f"{'method not allowed' if known else 'no such endpoint'}: "
                                                   f"{method} {path}")
    try:
        return await route[0](pg, query, body)
    except BackpropError as exc:
        return error_reply(status_of(exc), " ".join(str(exc).split()))
    except Exception as exc:  # a bug, not the user's fault: the playground keeps running
        return error_reply(500, f"internal error ({type(exc).__name__}: {exc}); the server is still running")
