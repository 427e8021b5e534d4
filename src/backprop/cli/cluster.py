"""``backprop train --dask``: the cluster's options, checked before any data is read, and the run.

The connection is bounded (``--dask-timeout``) and a signal while connecting or placing the data
ends the command at once (130 for SIGINT, 143 for SIGTERM) with one ``error:`` line. Dask's own
log lines are kept off the terminal for the run: what went wrong is said once, in the command's
error line; backprop's warnings (a shard rebuilt after a worker died) become ``warning:`` lines.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from backprop.cli.errors import one_line
from backprop.errors import InvalidInputError
from backprop.version import install_hint

#: keep in step with backprop.distributed.cluster.CONNECT_TIMEOUT (not imported here: it would load
#: the distributed package for every command)
DEFAULT_TIMEOUT = 10.0
#: loggers whose lines the command keeps off the terminal (Dask and the IO loop under it)
QUIET_LOGGERS = ("distributed", "tornado")
_TLS = ("dask_tls_ca_file", "dask_tls_cert", "dask_tls_key")


def dask_options(f: Callable) -> Callable:
    """The ``--dask`` option and the options of its connection."""
    for decorator in reversed((
        click.option("--dask", metavar="ADDRESS|local:N",
                     help="Compute the gradients on a Dask cluster: a scheduler's address (tcp://host:8786, "
                          "tls://host:8786) or local:N (N worker processes here). Needs the dask extra."),
        click.option("--dask-timeout", type=float, metavar="SECONDS",
                     help=f"Seconds for the whole handshake with the --dask scheduler, and for reconnecting "
                          f"to it when the connection drops [default: {DEFAULT_TIMEOUT:g}]."),
        click.option("--dask-tls-ca-file", type=click.Path(), metavar="PEM",
                     help="tls:// scheduler: the cluster's CA certificate."),
        click.option("--dask-tls-cert", type=click.Path(), metavar="PEM",
                     help="tls:// scheduler: this client's certificate."),
        click.option("--dask-tls-key", type=click.Path(), metavar="PEM",
                     help="tls:// scheduler: this client's private key (if not in the certificate file)."),
    )):
        f = decorator(f)
    return f


@dataclass
class DaskRun:
    """What ``--dask`` and its options asked for, checked."""

    spec: str
    timeout: float
    #: a ``distributed.Security`` from the --dask-tls-* files; None: Dask's configuration decides
    security: object = None


def pop_dask_options(kw: dict) -> DaskRun | None:
    """The checked ``--dask`` options (None without ``--dask``), removed from ``kw``."""
    spec, timeout = kw.pop("dask"), kw.pop("dask_timeout")
    tls = tuple(kw.pop(name) for name in _TLS)
    if spec is None:
        named = zip(("dask_timeout",) + _TLS, (timeout,) + tls)
        given = [f"--{name.replace('_', '-')}" for name, value in named if value is not None]
        if given:
            raise InvalidInputError(f"{', '.join(given)} can only be used with --dask")
        return None
    from backprop.distributed.cluster import MAX_CONNECT_TIMEOUT, parse  # light: no Dask is imported

    kind, address = parse(spec)  # an empty or malformed address is refused here, before the data are read
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif not (math.isfinite(timeout) and 0 < timeout <= MAX_CONNECT_TIMEOUT):
        raise InvalidInputError(f"--dask-timeout must be a positive number of seconds, at most "
                                f"{MAX_CONNECT_TIMEOUT:g} (a day), got {timeout}")
    if all(v is None for v in tls):
        return DaskRun(spec, float(timeout))
    if not (kind == "address" and str(address).startswith("tls://")):
        raise InvalidInputError(f"--dask-tls-* options need a tls:// scheduler address, not {spec!r}")
    from backprop.distributed.cluster import tls_security

    return DaskRun(spec, float(timeout), tls_security(*tls))  # the files are read now, before the data


def run(opts: DaskRun, trainer: Any, prep: dict, checkpoint: str | None, extra: dict, guard: Any) -> Any:
    """``trainer.run`` on the cluster; a signal before training started: one error line and its status."""
    try:  # optional: Dask is imported by backprop.distributed only when asked for
        from backprop import distributed
    except ImportError as exc:
        raise InvalidInputError(f"--dask needs Dask ({exc}): {install_hint('dask')}") from None

    def stop():
        return trainer.stop_requested

    try:
        with quiet_dask_logs(), distributed.connect(opts.spec, timeout=opts.timeout,
                                                    security=opts.security, stop=stop) as client:
            return distributed.train(trainer, prep["X"], prep["Y"], client=client, checkpoint=checkpoint,
                                     extra=extra, stop=stop)
    except InterruptedError as exc:
        if guard.signum is None:
            raise
        name = signal.Signals(guard.signum).name
        click.echo(f"error: {one_line(exc)} ({name}); nothing was trained", err=True)
        raise click.exceptions.Exit(guard.exit_status) from None


class _Warnings(logging.Handler):
    """backprop.distributed's warnings as the command line's ``warning:`` lines."""

    def emit(self, record):
        click.echo(f"warning: {one_line(record.getMessage())}", err=True)


@contextlib.contextmanager
def quiet_dask_logs() -> Iterator[None]:
    """Dask's loggers silent (a lost scheduler's "Failed to reconnect" would precede the command's
    one error line), backprop.distributed's warnings as ``warning:`` lines; all put back on exit."""
    with contextlib.suppress(ImportError):
        import distributed  # noqa: F401  (importing it installs its handlers: before they are replaced)
    saved = []
    # Dask gives some loggers (distributed.client, tornado.application, ...) a handler of their own:
    # each of them, and the top ones (where the records of the others end), get one that drops them
    names = [n for n in list(logging.Logger.manager.loggerDict)
             if any(n == top or n.startswith(top + ".") for top in QUIET_LOGGERS)]
    for lg in {logging.getLogger(n) for n in [*QUIET_LOGGERS, *names]}:
        if lg.name in QUIET_LOGGERS or lg.handlers:
            saved.append((lg, lg.handlers[:], lg.propagate))
            lg.handlers[:] = [logging.NullHandler()]
            lg.propagate = False
    ours = logging.getLogger("backprop.distributed")
    saved.append((ours, ours.handlers[:], ours.propagate))
    ours.handlers[:] = [_Warnings(logging.WARNING)]
    ours.propagate = False
    try:
        yield
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate
