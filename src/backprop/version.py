"""The package version (its own module, so every layer can read it without importing the package).

pyproject.toml reads ``__version__`` from here, so the installed metadata and the package agree.
The distribution -- the name on the package index and in ``pip install`` -- is
:data:`DISTRIBUTION`; the import name and the command stay ``backprop`` (as scikit-learn's
distribution installs ``sklearn``); :func:`install_hint` is how a message tells the user to
install an extra.
"""

__version__ = "0.1.0"

#: the distribution's name ("backprop" on the package index is an unrelated project)
DISTRIBUTION = "backprop-explicit"


def install_hint(extra: str) -> str:
    """The commands that install ``extra``: from the package index, and from a clone of the source."""
    return f"pip install '{DISTRIBUTION}[{extra}]' (from a clone of the source: pip install -e '.[{extra}]')"

