"""playground: a local web page that trains a network step by step and shows every number.

``serve()`` starts it (``backprop playground``); ``create_app()`` builds the Starlette app. Both
need the optional dependencies ``starlette`` and ``uvicorn`` (``pip install 'backprop-explicit[playground]'``,
or ``pip install -e '.[playground]'`` in a clone of the source), imported only when called.
"""

from __future__ import annotations

from typing import Any


def create_app(token: str, *, allowed_hosts: list[str], data: str | None = None) -> Any:
    """The Starlette app: the JSON API under /api and the page at /; see ``docs/playground.md``.

    ``token`` is required on every request; ``allowed_hosts`` are the names the Host header may
    carry besides localhost; ``data`` is the starting data set (a built-in's name or a CSV path).
    """
    from backprop.playground.app import create_app as _create

    return _create(token, allowed_hosts=allowed_hosts, data=data)


def serve(data: str | None = None, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          token: str | None = None) -> None:
    """Run the playground until Ctrl-C.

    Prints its URL with the access token (random, ``secrets.token_urlsafe``, unless ``token`` is
    given), warns when ``host`` is not a loopback address, opens the browser unless
    ``open_browser`` is False. ``port=0`` picks a free port. ``data``: a built-in's name or a CSV path.
    """
    from backprop.playground.server import serve as _serve

    _serve(data, host=host, port=port, open_browser=open_browser, token=token)


__all__ = ["create_app", "serve"]
