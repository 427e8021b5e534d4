"""The playground as a notebook widget (anywidget): the page's own scripts in the cell's output,
driven by the same endpoints (:mod:`backprop.playground.api`) as the web page, with no server.

The kernel side of a widget is a :class:`~backprop.playground.api.Playground` -- the session, its
thread and the player -- on a private event loop in a daemon thread that the widget owns. The
front end sends ``{id, method, path, body}`` (an upload's bytes as a buffer) and the kernel answers
``{type: "reply", id, status, text}`` (an export's file as a buffer); the frames the player
publishes go out as ``{type: "frame", text}``. What Python does (:meth:`PlaygroundWidget.step`,
``reset`` ...) calls the same endpoints and then tells the views, ``{type: "step" | "state", text}``,
so the drawing follows. Needs the ``notebook`` extra (anywidget, ipywidgets).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import secrets
import shutil
import threading
import weakref
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anywidget

from backprop.errors import InvalidInputError
from backprop.model.network import Network
from backprop.playground import api as _api
from backprop.playground import arrays as _arrays
from backprop.playground import config as _config
from backprop.playground.esm import esm
from backprop.playground.session import Session

CLOSE_WAIT = 5.0  # seconds close() waits for the loop's thread to end
NETWORK_KEYS = ("layers", "hidden", "output")  # what a given network decides


class WidgetPlayground(_api.Playground):
    """A playground whose data may be the user's arrays and whose network may be the user's own."""

    def __init__(self, config: dict, X: Any = None, y: Any = None, network: Network | None = None):
        if network is not None and not isinstance(network, Network):
            raise InvalidInputError(f"network must be a backprop.Network, got {type(network).__name__}")
        self.arrays = None if X is None and y is None else (X, y)
        self.network = network
        # reset() restores these: the network's weights when the widget was made
        self.initial = None if network is None else ([w.copy() for w in network.weights],
                                                     [b.copy() for b in network.biases])
        self.strict = True  # the first session must take the network; later ones (the page's
        super().__init__(config)  # controls changed its layers) may build their own

    def _initial_config(self, config):
        cfg = dict(config)
        data = cfg.get("data")
        if self.arrays is not None:
            if data is not None or cfg.get("target") is not None:
                raise InvalidInputError("give either data= (a built-in or a CSV file) or X and y, not both")
            info = _arrays.store_arrays(self.tmp, *self.arrays)
            uid = "upload-" + secrets.token_hex(4)
            self.uploads[uid] = info
            cfg["data"], cfg["target"] = uid, "y"
        elif isinstance(data, str) and data not in _config.BUILTINS:
            cfg.update(super()._initial_config(data))  # a CSV file, stored as an upload
        net = self.network
        if net is not None:
            derived: dict[str, Any] = {"layers": list(net.sizes[1:-1]), "hidden": net.hidden,
                                       "output": net.output}
            for key in NETWORK_KEYS:
                given = cfg.get(key)
                if given is not None and given != derived[key] and not (key == "hidden" and [given] * len(
                        derived["hidden"]) == derived["hidden"]):
                    raise InvalidInputError(f"{key}={given!r} contradicts the network's {derived[key]!r}: "
                                            f"the network decides {', '.join(NETWORK_KEYS)}; leave them out")
            cfg.update(derived)
        _config.check_config(cfg, self.uploads)  # a bad key or value: its message, before the data load
        return cfg

    def new_session(self, raw: dict | None) -> Session:
        net, strict = self.network, self.strict
        self.strict = False
        if net is None or self.initial is None:
            return Session(raw, self.uploads)
        cfg = _config.check_config(raw or {}, self.uploads)
        if not strict and (cfg["layers"] != list(net.sizes[1:-1]) or cfg["hidden"] != net.hidden
                           or cfg["output"] not in (None, net.output)):
            return Session(raw, self.uploads)  # the page's controls chose another network
        weights, biases = self.initial
        kept = (net.weights, net.biases)
        net.weights, net.biases = [w.copy() for w in weights], [b.copy() for b in biases]
        try:
            return Session({**(raw or {}), "output": net.output}, self.uploads, network=net)
        except InvalidInputError:
            net.weights, net.biases = kept  # a setup that does not take it leaves it as it was
            if strict:
                raise
            return Session(raw, self.uploads)


class PlaygroundWidget(anywidget.AnyWidget):
    """The playground in a notebook cell; make one with :func:`backprop.playground.widget`."""

    _esm = esm()

    def __init__(self, config: dict | None = None, *, X: Any = None, y: Any = None,
                 network: Network | None = None) -> None:
        pg = WidgetPlayground(config or {}, X, y, network)  # a bad argument raises before any thread
        super().__init__()
        self._pg = pg
        # a widget never closed still leaves no files behind when the kernel ends
        weakref.finalize(self, shutil.rmtree, pg.tmp, True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="backprop-widget", daemon=True)
        self._thread.start()
        pg.loop = self._loop
        pg.watchers.append(self._send_frame)
        self._closed = False
        self._views: set[str] = set()  # the front end's views now showing this widget
        self.on_msg(self._on_msg)

    # -- messages ----------------------------------------------------------------------------------

    def _send_frame(self, text: str) -> None:
        self.send({"type": "frame", "text": text})

    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        self.handle_message(content, buffers)

    def _view(self, content: dict) -> concurrent.futures.Future | None:
        """A view opened or went away; when the last one goes (its cell run again, its output
        cleared) a playing widget pauses: nobody watches it, and it would train on unseen."""
        view = content.get("view")
        if not isinstance(view, str):
            return None
        if content.get("open") is True:
            self._views.add(view)
            return None
        had = bool(self._views)
        self._views.discard(view)
        if had and not self._views and self._pg.playing:
            return asyncio.run_coroutine_threadsafe(_api.pause(self._pg, {}, None), self._loop)
        return None

    def handle_message(self, content: Any, buffers: Any = None) -> concurrent.futures.Future | None:
        """Answer one request of the front end (on the widget's loop); the future of its answer."""
        if self._closed or not isinstance(content, dict):
            return None
        if content.get("type") == "view":
            return self._view(content)
        if "id" not in content:
            return None
        return asyncio.run_coroutine_threadsafe(self._answer(content, list(buffers or [])), self._loop)

    async def _answer(self, content: dict, buffers: list) -> None:
        method, target, body = content.get("method"), content.get("path"), content.get("body")
        if not isinstance(method, str) or not isinstance(target, str):
            reply = _api.error_reply(400, "a request needs a method and a path")
        else:
            parts = urlsplit(target)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            if _api.ROUTES.get((method, parts.path), (None, None))[1] == "raw":
                body = bytes(buffers[0]) if buffers else b""
            reply = await _api.handle(self._pg, method, parts.path, query, body)
        msg: dict[str, Any] = {"type": "reply", "id": content["id"], "status": reply.status}
        if reply.filename is None:
            msg["text"] = reply.content if isinstance(reply.content, str) else reply.content.decode()
            self.send(msg)
        else:
            data = reply.content.encode("utf-8") if isinstance(reply.content, str) else reply.content
            msg.update(filename=reply.filename, media_type=reply.media_type)
            self.send(msg, [data])

    # -- the Python side ---------------------------------------------------------------------------

    def _call(self, endpoint: _api.Endpoint, body: Any = None) -> _api.Reply:
        if self._closed:
            raise InvalidInputError("this widget is closed; make a new one")
        coro = endpoint(self._pg, {}, body)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _show(self, kind: str, text: str) -> None:
        self.send({"type": kind, "text": text})

    def step(self) -> Any:
        """One update in the configured mode (as the Step button); returns :attr:`last_step`."""
        self._show("step", self._call(_api.step).content)  # type: ignore[arg-type]
        return self.last_step

    def phase(self) -> int:
        """One phase of an update (as the Phase button): (i) makes the update, (ii)-(iv) reveal it;
        returns the phase now shown, 1 to 4."""
        text = self._call(_api.phase).content
        self._show("step", text)  # type: ignore[arg-type]
        return int(json.loads(text)["phase"])

    def run(self, n: int) -> int:
        """``n`` updates without traces (as playing, but a fixed number); returns how many were made
        (fewer when training ended or diverged: the divergence is raised)."""
        return int(json.loads(self._call(_api.run, {"updates": n}).content)["updates"])

    def reset(self) -> None:
        """The initial weights (the seed's, or the given network's as it was) and no training."""
        self._show("state", self._call(_api.reset).content)  # type: ignore[arg-type]

    def play(self, speed: float | None = None) -> None:
        """Train continuously in the background (updates per second, None: as fast as it goes)."""
        self._call(_api.play, {"speed": speed})

    def pause(self) -> int:
        """Stop playing; the number of updates made so far."""
        return int(json.loads(self._call(_api.pause).content)["n_updates"])

    @property
    def playing(self) -> bool:
        return self._pg.playing

    @property
    def network(self) -> Network:
        """The live network being trained (the one given to ``widget(network=...)`` if it fits)."""
        return self._pg.session.net

    @property
    def last_step(self) -> Any:
        """What ``Trainer.step(trace=True)`` returned for the last update (None before the first):
        ``.trace`` holds x, h, a, delta and the gradients; ``.weights_before`` / ``.weights_after``."""
        return self._pg.session.last_step

    @property
    def config(self) -> dict:
        """The playground configuration now in use (every key, defaults filled in)."""
        return dict(self._pg.session.cfg)

    @property
    def state(self) -> dict:
        """The page's state: configuration, sizes, parameters, histories, a divergence."""
        return json.loads(_api.dumps(self._pg.session.state()))

    @property
    def n_updates(self) -> int:
        return self._pg.session.n_updates

    async def _shutdown(self) -> None:
        """On the loop: stop the player (an older one still ending too) and the requests in flight,
        wait for them to end, then close the playground."""
        self._pg.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self._pg.close()

    def close(self) -> None:
        """Stop playing, end the widget's thread, drop its temporary files, close the view."""
        if getattr(self, "_closed", True) is False:
            self._closed = True
            pg, loop = self._pg, self._loop
            pg.watchers.clear()
            if self._thread.is_alive():
                done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                with contextlib.suppress(Exception):
                    done.result(CLOSE_WAIT)
                loop.call_soon_threadsafe(loop.stop)
                self._thread.join(CLOSE_WAIT)
            if not self._thread.is_alive() and not loop.is_running():
                loop.close()
            shutil.rmtree(pg.tmp, ignore_errors=True)
        super().close()

    def __repr__(self) -> str:
        s = self._pg.session
        return (f"PlaygroundWidget(data={s.cfg['data']!r}, sizes={list(s.net.sizes)}, "
                f"updates={s.n_updates}{', closed' if self._closed else ''})")

