"""playground: a local web page that trains a network step by step and shows every number.

``serve()`` starts it (``backprop playground``); ``create_app()`` builds the Starlette app. Both
need the optional dependencies ``starlette`` and ``uvicorn`` (``pip install 'backprop-explicit[playground]'``,
or ``pip install -e '.[playground]'`` in a clone of the source), imported only when called.
``widget()`` shows the same page in a notebook cell, driven by the kernel (the ``notebook`` extra:
anywidget and ipywidgets).
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


def widget(data: str | None = None, *, X: Any = None, y: Any = None, network: Any = None,
           **config: Any) -> Any:
    """The playground as a notebook widget: the page in the cell's output, trained by the kernel.

    ``data``: a built-in's name (``"moons"``...) or a CSV file; or the user's own arrays ``X``
    (rows of features) and ``y`` (one target each: labels make a classification, other numbers a
    regression, as for an uploaded file). ``network``: a :class:`backprop.Network` to train (its
    layers and activations are the setup's; ``reset()`` restores its weights as they are now).
    Other keywords are the playground's configuration keys (``layers=[6, 6]``, ``hidden="tanh"``,
    ``lr=0.3``, ``mode="online"``, ``seed=1``...; see ``docs/playground.md``). Returns a
    :class:`~backprop.playground.notebook.PlaygroundWidget`: show it as a cell's last line, drive it
    with ``w.step()``, ``w.phase()``, ``w.run(n)``, ``w.reset()``, ``w.play()``, ``w.pause()``, read
    ``w.network``, ``w.last_step`` and ``w.config``; ``w.close()`` ends it.
    """
    try:
        from backprop.playground.notebook import PlaygroundWidget
    except ImportError as exc:
        from backprop.errors import InvalidInputError
        from backprop.version import install_hint

        raise InvalidInputError(f"the playground widget needs anywidget and ipywidgets ({exc.name} is "
                                f"missing): {install_hint('notebook')}") from None
    if data is not None:
        config["data"] = data
    return PlaygroundWidget(config, X=X, y=y, network=network)


__all__ = ["create_app", "serve", "widget"]
