"""Connecting to a Dask cluster from a short text: ``local:N`` or a scheduler's address."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

from backprop.errors import InvalidInputError, InvalidTypeError

from .errors import NEEDS_DASK, DistributedError

#: seconds to wait for a scheduler to answer
CONNECT_TIMEOUT = 10
#: the most workers ``local:N`` starts (one process each)
MAX_LOCAL_WORKERS = 256

#: the scheduler's small HTTP server (health checks; the dashboard is off) on a free loopback port,
#: not on its default 8787, which another cluster on the machine may hold
LOOPBACK_HTTP = {"dashboard_address": "127.0.0.1:0"}

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(?:(tcp|tls)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})")
_USAGE = ("use local:N (a cluster of N worker processes on this machine, e.g. local:4) or the address of "
          "a running Dask scheduler, e.g. tcp://10.0.0.5:8786")


def parse(spec: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("address", "tcp://host:port")``; InvalidInputError for anything else."""
    if not isinstance(spec, str):
        raise InvalidTypeError(f"the Dask cluster must be given as text, got {type(spec).__name__}; {_USAGE}")
    text = spec.strip()
    m = _LOCAL.fullmatch(text)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise InvalidInputError(f"local:{n} asks for {n} workers; use 1 to {MAX_LOCAL_WORKERS}")
        return "local", n
    if text.startswith("local"):
        raise InvalidInputError(f"bad Dask cluster {spec!r}: local needs a number of workers; {_USAGE}")
    m = _ADDRESS.fullmatch(text)
    if m is None:
        raise InvalidInputError(f"bad Dask cluster {spec!r}; {_USAGE}")
    scheme, host, port = m.group(1) or "tcp", m.group(2), int(m.group(3))
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"bad Dask cluster {spec!r}: port {port} is not in 1..65535")
    return "address", f"{scheme}://{host}:{port}"


@contextlib.contextmanager
def connect(spec: str, *, timeout: float = CONNECT_TIMEOUT) -> Iterator:
    """A ``distributed.Client`` for ``spec``, closed (with its cluster, for ``local:N``) on exit.

    ``local:N``: a LocalCluster of N single-threaded worker processes listening on 127.0.0.1 only,
    without a dashboard. ``tcp://host:port`` (or ``host:port``, ``tls://...``): a running scheduler.
    A bad spec raises InvalidInputError; a scheduler that does not answer within ``timeout``
    seconds, DistributedError.
    """
    kind, value = parse(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InvalidInputError(NEEDS_DASK) from None
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster, direct_to_workers=True, timeout=timeout))
        else:
            try:
                client = Client(value, direct_to_workers=True, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise DistributedError(
                    f"no Dask scheduler answered at {value} within {timeout:g} s ({exc}); start one "
                    "(dask scheduler) and its workers (dask worker ADDRESS), or use local:N"
                ) from None
            stack.enter_context(client)
        yield client
