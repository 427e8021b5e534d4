"""cli: the backprop command line, one module per command."""

from backprop.cli.app import main

__all__ = ["main"]
