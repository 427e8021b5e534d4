"""``serve()``: run the playground with uvicorn on one address until Ctrl-C."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser
from typing import Any

from backprop.errors import InvalidInputError
from backprop.version import install_hint


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_server(data: str | None = None, *, host: str = "127.0.0.1", port: int = 0,
                token: str | None = None, log_level: str = "warning") -> Any:
    """(uvicorn.Server, bound socket, token); not running yet: ``server.run(sockets=[sock])`` runs it."""
    try:
        import uvicorn
    except ImportError:
        raise InvalidInputError(
            f"the playground needs starlette and uvicorn: {install_hint('playground')}") from None
    from backprop.playground.app import create_app

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInputError(f"port must be from 0 to 65535, got {port!r}")
    token = token or secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    try:
        app = create_app(token, allowed_hosts=[host.strip("[]")], data=data)
    except BaseException:
        sock.close()
        raise
    playground = app.state.playground

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # Ctrl-C: end the open streams first, then uvicorn's shutdown
            if playground.loop is not None and not playground.loop.is_closed():
                playground.loop.call_soon_threadsafe(playground.shutdown)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=2, access_log=False)
    return Server(config), sock, token


def url_of(sock: Any, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(data: str | None = None, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          token: str | None = None) -> None:
    """Start the playground, print its URL, open a browser tab; return after Ctrl-C."""
    server, sock, token = make_server(data, host=host, port=port, token=token)
    # one BLAS thread: the playground's matrices are at most 32 wide, where a second thread gains
    # little, and its spinning would take the core the server and the browser answer on
    from backprop.fast import blas

    if blas.available:
        blas.set_threads(1)
    url = url_of(sock, token)
    if not is_loopback(host):
        print(f"warning: the playground listens on {host}, not only on this computer; anyone who can reach "
              "it and knows the token can use it", file=sys.stderr)
    print(f"backprop playground: {url}", flush=True)
    print("press Ctrl-C to stop", flush=True)
    if open_browser:
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    try:
        server.run(sockets=[sock])  # uvicorn handles Ctrl-C (SIGINT) and shuts down cleanly
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("playground stopped", flush=True)
