"""Ctrl-C before a command runs: while the command line's modules are imported.

The root package ``backprop`` imports nothing slow, so the first slow import of a ``backprop``
command is the one :func:`exit_on_interrupt` wraps; from then on the command group
(:class:`backprop.cli.errors.Group`) handles the interrupt. Only this module's standard-library
imports, and the interpreter's own start-up, come before it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: the conventional exit status of a program ended by SIGINT (128 + 2)
INTERRUPTED = 130


@contextlib.contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """A ``KeyboardInterrupt`` inside becomes one line ``error: interrupted`` on stderr and
    ``SystemExit(130)``; at an interactive prompt (someone importing the package by hand) it stays
    a ``KeyboardInterrupt``."""
    try:
        yield
    except KeyboardInterrupt:
        if hasattr(sys, "ps1") or sys.flags.interactive:
            raise
        try:
            sys.stderr.write("error: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: the status still says it
            pass
        raise SystemExit(INTERRUPTED) from None
