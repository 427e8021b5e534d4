"""The explain and plot commands under their former module name, and a group of just those two
(``python -m backprop.cli.see``)."""

from __future__ import annotations

import click

from backprop.cli.errors import Group
from backprop.cli.explain import explain
from backprop.cli.plot import plot


@click.group(cls=Group)
def _standalone():
    """backprop explain / plot."""


_standalone.add_command(explain)
_standalone.add_command(plot)

if __name__ == "__main__":  # pragma: no cover - python -m backprop.cli.see
    _standalone()
