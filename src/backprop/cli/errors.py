"""The command line's one error policy.

Errors a user can cause -- a :class:`~backprop.errors.BackpropError`, a click usage error, an
``OSError`` on a path they gave, a numeric overflow their data causes, a network too large for
memory, output the terminal's encoding cannot show -- print exactly one line ``error: ...`` on
stderr and exit with status 2. Anything else is a bug: one line ``error: internal error: ...`` and
status 1. ``--debug`` (or ``BACKPROP_DEBUG=1``) prints the traceback before that line. Ctrl-C exits
with 130.

Commands are wrapped with :func:`user_errors`, which turns the user's errors into
:class:`UserError` (a click exception with status 2), so a command invoked on its own (click's
test runner, another group) follows the same policy as ``backprop COMMAND``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any, cast

import click

from backprop.cli.interrupt import INTERRUPTED
from backprop.errors import BackpropError

#: the exit status of an error the user can fix, of a bug (an interrupt: INTERRUPTED, 130)
USER, INTERNAL = 2, 1

#: NumPy's floating-point warnings (np.seterr's "warn"): raised as errors inside the commands
NUMPY_FLOAT_WARNING = r"(overflow|invalid value|divide by zero|underflow) encountered"
#: click >= 8.2 raises this for a group called without a command; older versions print the help
_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


def one_line(message: object) -> str:
    return " ".join(str(message).split())


class UserError(click.ClickException):
    """An error the user can fix: ``error: MESSAGE`` on one line of stderr, exit status 2."""

    exit_code = USER

    def show(self, file: Any | None = None) -> None:
        click.echo(f"error: {one_line(self.format_message())}", err=True, file=file)


def describe(exc: BaseException) -> str | None:
    """The one-line message of a user's error, or None when ``exc`` is a bug."""
    if isinstance(exc, UserError):
        return exc.format_message()
    if isinstance(exc, BackpropError):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.filename:
            return f"{exc.strerror or exc}: {exc.filename}"
        return str(exc.strerror or exc)
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller network, batch size or data set"
    if isinstance(exc, UnicodeEncodeError):  # files are written as UTF-8: this is the terminal or pipe
        return (f"the output's encoding ({exc.encoding}) cannot show {ascii(exc.object[exc.start:exc.end])}; "
                "set PYTHONIOENCODING=utf-8")
    if isinstance(exc, (RuntimeWarning, FloatingPointError)):
        return (f"numeric overflow ({one_line(exc)}): the data holds values too large to compute with; "
                "scale them down")
    return None


def user_errors(f: Callable) -> Callable:
    """Run a command's callback under the policy: its user errors become :class:`UserError`."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs):
        with warnings.catch_warnings():
            # a NumPy overflow is the data's fault: one error line, not a warning and then an error
            warnings.filterwarnings("error", NUMPY_FLOAT_WARNING, RuntimeWarning)
            try:
                return f(*args, **kwargs)
            except click.ClickException:
                raise
            except (BackpropError, OSError, MemoryError, RuntimeWarning, FloatingPointError,
                    UnicodeEncodeError) as exc:
                raise UserError(cast(str, describe(exc))) from exc  # these types always have words

    return wrapper


def _print_error(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"error: {one_line(message)}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {one_line(message)}", err=True)


def debug_requested(argv: list[str]) -> bool:
    head = argv[:argv.index("--")] if "--" in argv else argv
    return "--debug" in head or os.environ.get("BACKPROP_DEBUG", "") not in ("", "0")


class _Interrupted(Exception):
    """Ctrl-C inside a command, carried past click (which prints an empty line for it first)."""


class Group(click.Group):
    """A click group that applies the policy to everything its commands raise, then exits."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted() from exc

    def main(self, args: Any | None = None, prog_name: Any | None = None, complete_var: Any | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        debug = debug_requested(argv)
        old_show = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            rv = super().main(argv, prog_name or "backprop", complete_var, standalone_mode=False, **extra)
            status = rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:
            status = exc.exit_code
        except (_Interrupted, click.Abort, KeyboardInterrupt):
            _print_error("interrupted", debug)
            status = INTERRUPTED
        except _NoArgsIsHelp as exc:  # plain `backprop`: the help, as --help gives it
            click.echo(exc.ctx.get_help())
            status = 0
        except click.ClickException as exc:
            msg = exc.format_message()
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None:
                msg += f" (see '{ctx.command_path} --help')"
            _print_error(msg, debug)
            status = USER
        except Exception as exc:
            words = describe(exc)
            if words is not None:
                _print_error(words, debug)
                status = USER
            else:  # a bug: still one line, the traceback with --debug
                _print_error(f"internal error: {type(exc).__name__}: {exc} "
                             "(run with --debug for the traceback)", debug)
                status = INTERNAL
        finally:
            warnings.showwarning = old_show
        try:
            sys.stdout.flush()
        except OSError:  # stdout closed early (`backprop predict ... | head`)
            pass
        sys.exit(status)


__all__ = ["UserError", "user_errors", "Group", "describe", "one_line", "USER", "INTERNAL", "INTERRUPTED"]
