"""``backprop playground``: the local web page that trains a network step by step (see
:mod:`backprop.playground`; needs the ``playground`` extra: starlette and uvicorn)."""

from __future__ import annotations

from typing import Any

import click

from backprop.cli.common import debug_option
from backprop.cli.errors import user_errors
from backprop.errors import InvalidInputError
from backprop.version import install_hint

INSTALL = f"the playground needs starlette and uvicorn: {install_hint('playground')}"


@click.command()
@click.argument("data", required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address lets other computers reach "
                   "the page (with its token).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the address only; do not open a browser tab.")
@debug_option
@user_errors
def playground(data: Any, host: Any, port: Any, no_browser: Any) -> Any:
    """Open the playground: train a network on DATA (default: a small built-in) step by step in the
    browser and see every h, a, delta and weight update. Stop it with Ctrl-C."""
    # optional: the playground's server (starlette, uvicorn) is imported only when asked for
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InvalidInputError(INSTALL) from None
    from backprop import playground as pg

    pg.serve(data, host=host, port=port, open_browser=not no_browser)
    return 0
