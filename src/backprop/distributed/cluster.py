"""Connecting to a Dask cluster from a short text: ``local:N`` or a scheduler's address.

Connecting to an address is bounded as a whole. Dask's client waits without limit for a peer that
accepts the connection and then says nothing (its handshake has no deadline), and it reads a peer
that speaks another protocol as frame lengths (an SSH banner becomes a request for exabytes). So
:func:`connect` first checks, in a short-lived event loop of its own, that something listens at the
address and that it answers Dask's handshake and ``identity`` call as a scheduler, and only then
builds the client. All of it runs in a helper thread; the caller waits for it in slices of 0.1 s,
so that its signal handlers run, its ``stop`` predicate is honoured and ``timeout`` holds for the
whole handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from backprop.core.validation import check_float
from backprop.errors import InvalidInputError, InvalidTypeError

from .errors import NEEDS_DASK, DistributedError

#: seconds for the whole handshake with a scheduler (and for the client to reconnect to it)
CONNECT_TIMEOUT = 10.0
#: the longest ``timeout`` accepted (a day): a bound, not a way to wait forever
MAX_CONNECT_TIMEOUT = 86400.0
#: the most workers ``local:N`` starts (one process each)
MAX_LOCAL_WORKERS = 256
#: Dask's scheduler port
DEFAULT_PORT = 8786

#: the scheduler's small HTTP server (health checks; the dashboard is off) on a free loopback port,
#: not on its default 8787, which another cluster on the machine may hold
LOOPBACK_HTTP = {"dashboard_address": "127.0.0.1:0"}

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*)://)?(\[[^\]]*\]|[^:/\[\]]*):(\d{1,5})")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_USAGE = ("use local:N (a cluster of N worker processes on this machine, e.g. local:4) or the address of "
          "a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
#: seconds between two looks at the helper thread (the caller's signal handlers run in between)
_SLICE = 0.1


def parse(spec: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("address", "tcp://host:port")``; InvalidInputError for anything else."""
    if not isinstance(spec, str):
        raise InvalidTypeError(f"the Dask cluster must be given as text, got {type(spec).__name__}; {_USAGE}")
    text = spec.strip()
    if not text:
        raise InvalidInputError(f"the Dask cluster is empty; {_USAGE}")
    m = _LOCAL.fullmatch(text)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise InvalidInputError(f"local:{n} asks for {n} workers; use 1 to {MAX_LOCAL_WORKERS}")
        return "local", n
    if text.startswith("local"):
        raise InvalidInputError(f"bad Dask cluster {_short(spec)}: local needs a number of workers; {_USAGE}")
    m = _ADDRESS.fullmatch(text)
    if m is None:
        raise InvalidInputError(f"bad Dask cluster {_short(spec)}; {_USAGE}")
    scheme, host, port = (m.group(1) or "tcp").lower(), m.group(2), int(m.group(3))
    if scheme not in ("tcp", "tls"):
        raise InvalidInputError(f"bad Dask cluster {_short(spec)}: the protocol {scheme}:// is not supported "
                                f"(tcp:// or tls://); {_USAGE}")
    _check_host(host, spec)
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"bad Dask cluster {_short(spec)}: port {port} is not in 1..65535")
    return "address", f"{scheme}://{host}:{port}"


def _short(spec: str, limit: int = 80) -> str:
    return repr(spec if len(spec) <= limit else spec[:limit] + "...")


def _check_host(host: str, spec: str) -> None:
    """An IPv4 address, an IPv6 address in brackets or a DNS name (labels of 1-63 letters, digits and
    hyphens, 253 characters in all) -- what the resolver accepts, checked before it raises on it."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
            return
        except ValueError:
            raise InvalidInputError(f"bad Dask cluster {_short(spec)}: {_short(host, 40)} is not an IPv6 "
                                    "address") from None
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInputError(
            f"bad Dask cluster {_short(spec)}: {_short(host, 40)} is not a host name or IP address (a name "
            "is at most 253 characters of labels of 1 to 63 letters, digits or hyphens, separated by dots)"
        )


def tls_security(ca_file: str | None = None, cert: str | None = None, key: str | None = None) -> Any:
    """A ``distributed.Security`` for a ``tls://`` scheduler from PEM files: the cluster's CA
    certificate, this client's certificate and its private key (``key`` may be None when ``cert``
    holds it). Dask needs the first two. Missing or unreadable files: InvalidInputError."""
    try:
        from distributed import Security
    except ImportError:
        raise InvalidInputError(NEEDS_DASK) from None
    if ca_file is None or cert is None:
        raise InvalidInputError("a tls:// scheduler needs the cluster's CA certificate and this client's "
                                "certificate (and its key, unless the certificate file holds it)")
    for what, path in (("CA certificate", ca_file), ("certificate", cert), ("key", key)):
        if path is not None and not os.path.isfile(path):
            raise InvalidInputError(f"the TLS {what} {path!r} is not a readable file")
    security = Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key,
                        require_encryption=True)
    _tls_context(security)  # the files are read now: a bad one is named before any connection
    return security


def _tls_context(security) -> ssl.SSLContext:
    try:
        context = security.get_connection_args("client")["ssl_context"]
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InvalidInputError(f"the TLS files cannot be used: {exc}; give the cluster's CA certificate, "
                                "this client's certificate and its key, in PEM") from None
    if context is None:
        raise InvalidInputError(
            "a tls:// scheduler needs the cluster's CA certificate and this client's certificate and key "
            "(the command line's --dask-tls-ca-file, --dask-tls-cert and --dask-tls-key; in Python, "
            "connect(..., security=tls_security(ca_file, cert, key)) or Dask's configuration "
            "distributed.comm.tls.*)"
        )
    return context


@contextlib.contextmanager
def connect(spec: str, *, timeout: float = CONNECT_TIMEOUT, security: Any | None = None,
            stop: Callable[[], bool] | None = None) -> Iterator:
    """A ``distributed.Client`` for ``spec``, closed (with its cluster, for ``local:N``) on exit.

    ``local:N``: a LocalCluster of N single-threaded worker processes listening on 127.0.0.1 only,
    without a dashboard. ``tcp://host:port`` (or ``host:port``): a running scheduler; ``tls://host:port``:
    one that speaks TLS, with ``security`` (a ``distributed.Security``, e.g. from :func:`tls_security`;
    default: Dask's configuration).

    The whole handshake with a scheduler takes at most ``timeout`` seconds (and the client gives up
    reconnecting to a lost scheduler after as long). ``stop``: a predicate looked at ten times a
    second while waiting; when it returns true, ``InterruptedError`` is raised (the command line passes
    "a signal came"). Errors: InvalidInputError for a bad spec or TLS files; DistributedError when
    nothing answers at the address within ``timeout``, or the peer does not answer as a Dask scheduler.
    """
    kind, value = parse(spec)
    timeout = check_float(timeout, "the connection timeout", low=0, low_open=True, high=MAX_CONNECT_TIMEOUT)
    try:
        from distributed import Client, LocalCluster, Security
    except ImportError:
        raise InvalidInputError(NEEDS_DASK) from None
    with contextlib.ExitStack() as stack:
        if kind == "local":
            if security is not None:
                raise InvalidInputError("security applies to a scheduler's address, not to local:N")
            cluster = stack.enter_context(LocalCluster(
                n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster, direct_to_workers=True, timeout=timeout))
        else:
            assert isinstance(value, str)
            security = Security() if security is None else security
            if value.startswith("tls://"):
                _tls_context(security)  # refused here when it has no certificates
            elif security.require_encryption:
                raise InvalidInputError(f"the Dask security settings require encryption: use tls:// "
                                        f"instead of {value}")
            attempt = _Attempt(value, timeout, security)
            client = stack.enter_context(attempt.wait(stop))
        yield client


class _Attempt:
    """One bounded connection to a scheduler: the check of the peer, then the client, in a thread."""

    def __init__(self, address: str, timeout: float, security: Any):
        self.address, self.timeout, self.security = address, timeout, security
        self.deadline = time.monotonic() + timeout
        self.stage = "connect"   # then "handshake", then "client"
        self.client = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def wait(self, stop):
        """The client, waiting in short slices; the thread is abandoned on a timeout, a stop or a signal."""
        thread = threading.Thread(target=self._run, name="backprop-dask-connect", daemon=True)
        thread.start()
        try:
            # the helper ends its own stages at the deadline; the grace covers the client's teardown
            while not self.done.wait(_SLICE):
                if stop is not None and stop():
                    raise InterruptedError(f"interrupted while connecting to the Dask scheduler at "
                                           f"{self.address}")
                if time.monotonic() > self.deadline + max(1.0, 0.2 * self.timeout):
                    raise self._timed_out()
        except BaseException:
            self._abandon()
            raise
        if self.error is not None:
            raise self.error
        return self.client

    def _remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def _run(self):
        try:
            self._loop = asyncio.new_event_loop()
            try:
                self._task = self._loop.create_task(self._check_peer())
                self._loop.run_until_complete(self._task)
            finally:
                self._loop.close()
            self.stage = "client"
            client = self._client()
            with self._lock:
                if not self._abandoned:
                    self.client = client
                    return
            client.close(timeout=self.timeout)  # nobody waits for it any more
        except asyncio.CancelledError:
            self.error = InterruptedError(f"connecting to {self.address} was given up")
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc
        finally:
            self.done.set()

    def _abandon(self):
        with self._lock:
            self._abandoned = True
            client, self.client = self.client, None
        if client is not None:  # it came in just as the wait ended
            with contextlib.suppress(Exception):
                client.close(timeout=1)
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(task.cancel)

    def _timed_out(self) -> DistributedError:
        if self.stage == "connect":
            return DistributedError(
                f"no Dask scheduler answered at {self.address} within {self.timeout:g} s; start one (dask "
                "scheduler) and its workers (dask worker ADDRESS), or use local:N"
            )
        if self.stage == "handshake":
            return self._not_a_scheduler(f"it accepted the connection but did not complete Dask's handshake "
                                         f"within {self.timeout:g} s")
        return DistributedError(f"the Dask scheduler at {self.address} did not finish connecting within "
                                f"{self.timeout:g} s")

    def _not_a_scheduler(self, why: str) -> DistributedError:
        return DistributedError(
            f"{self.address} does not answer as a Dask scheduler: {why}; check the address and port (a "
            f"scheduler listens on port {DEFAULT_PORT} unless told otherwise)"
        )

    async def _check_peer(self):
        try:
            await asyncio.wait_for(self._identity(), self._remaining())
        except (TimeoutError, asyncio.TimeoutError):
            raise self._timed_out() from None

    async def _identity(self):
        from distributed.comm import connect as comm_connect

        scheme, rest = self.address.split("://", 1)
        host, port = rest.rsplit(":", 1)
        # 1. something listens: refusals are tried again until the deadline (a scheduler may be starting)
        delay = 0.02
        while True:
            try:
                _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.close()
                break
            except socket.gaierror as exc:
                raise DistributedError(f"the host of {self.address} cannot be resolved "
                                       f"({exc.strerror or exc})") from None
            except OSError as exc:
                if self._remaining() <= delay:
                    raise DistributedError(
                        f"no Dask scheduler answered at {self.address} within {self.timeout:g} s "
                        f"({exc.strerror or exc}); start one (dask scheduler) and its workers "
                        "(dask worker ADDRESS), or use local:N") from None
                await asyncio.sleep(delay)
                delay = min(2 * delay, 0.5)
        # 2. it speaks Dask's protocol (TLS included) and says it is a scheduler
        self.stage = "handshake"
        args = self.security.get_connection_args("client")
        try:
            comm = await comm_connect(self.address, timeout=max(self._remaining(), 0.01), **args)
            try:
                await comm.write({"op": "identity", "reply": True})
                identity = await comm.read()
            finally:
                comm.abort()
        except (asyncio.CancelledError, TimeoutError, asyncio.TimeoutError):
            raise
        except Exception as exc:  # another protocol: a closed stream, absurd frame sizes, TLS refused
            tls = _ssl_error(exc) if scheme == "tls" else None
            if tls is not None:
                raise self._not_a_scheduler(
                    f"the TLS handshake failed ({_first_line(tls)}); check that it is a tls:// scheduler of "
                    "the cluster whose CA certificate was given") from None
            raise self._not_a_scheduler(f"its answer is not Dask's protocol ({type(exc).__name__}: "
                                        f"{_first_line(exc)})") from None
        kind = identity.get("type") if isinstance(identity, dict) else None
        if kind != "Scheduler":
            raise self._not_a_scheduler(
                f"it answered as a Dask {kind}, not a scheduler" if isinstance(kind, str)
                else "its answer to Dask's identity call has no scheduler in it")

    def _client(self):
        from distributed import Client

        try:
            # the waiting thread bounds this; the client's own timeout is also how long it tries to
            # reconnect to a scheduler it lost
            return Client(self.address, direct_to_workers=True, timeout=self.timeout, security=self.security)
        except (OSError, TimeoutError) as exc:
            raise DistributedError(f"the Dask scheduler at {self.address} answered, but the client could not "
                                   f"connect: {_first_line(exc)}") from None


def _ssl_error(exc: BaseException | None) -> BaseException | None:
    """The TLS error behind ``exc`` (Dask wraps it), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
