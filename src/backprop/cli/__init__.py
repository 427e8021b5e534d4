"""cli: the backprop command line, one module per command.

Importing the commands takes a while (NumPy, SciPy, rich, click): a Ctrl-C then would end the
program with Python's ``KeyboardInterrupt`` traceback. The import runs under
:func:`~backprop.cli.interrupt.exit_on_interrupt` instead: one line ``error: interrupted`` and
status 130, as a Ctrl-C anywhere else in a command gives.
"""

from backprop.cli.interrupt import exit_on_interrupt

with exit_on_interrupt():
    from backprop.cli.app import main

__all__ = ["main"]
