"""Which code reads each kind of backprop file: the file layer knows kinds, not classes.

Every backprop file carries a ``kind`` tag ("network", "estimator", "checkpoint", ...). The module
that owns a kind registers its reader here; :func:`load` reads the container once and hands the
arrays and the JSON document to that reader. The file layer itself imports nothing above it: a
kind whose module has not been imported yet (the scikit-learn estimators, slow to import) is
named in ``PROVIDERS`` and imported by name on the first file of that kind.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop.errors import InvalidTypeError, ModelFileError
from backprop.io.container import read_file

#: a kind's reader: (arrays, document, path) -> the loaded object
Reader = Callable[[dict[str, np.ndarray], dict[str, Any], str], Any]

#: a type's writer: (object, path, **metadata) -> path
Writer = Callable[..., Any]

_READERS: dict[str, Reader] = {}
_WRITERS: dict[type, Writer] = {}
#: the module that registers each kind, imported when a file of that kind is first read
PROVIDERS = {"network": "backprop.model.files", "estimator": "backprop.sklearn.files"}


def register(kind: str, reader: Reader, *, cls: type | None = None, writer: Writer | None = None) -> None:
    """Make :func:`load` read files tagged ``kind`` with ``reader`` (and :func:`save` write
    instances of ``cls`` with ``writer``)."""
    _READERS[kind] = reader
    if cls is not None and writer is not None:
        _WRITERS[cls] = writer


def save(obj: Any, path: str | os.PathLike, **metadata: Any) -> Any:
    """Save a Network or a fitted estimator to ``path`` with the writer registered for its type."""
    for klass in type(obj).__mro__:
        if klass in _WRITERS:
            return _WRITERS[klass](obj, path, **metadata)
    raise InvalidTypeError(
        f"save needs a backprop Network (or a fitted backprop estimator), got {type(obj).__name__}")


def reader_for(kind: str, path: str = "") -> Reader:
    if kind not in _READERS and kind in PROVIDERS:
        importlib.import_module(PROVIDERS[kind])
    try:
        return _READERS[kind]
    except KeyError:
        raise ModelFileError(
            f"{path} holds a {kind!r}, not a network or an estimator (backprop.load opens: "
            f"{', '.join(sorted(set(_READERS) | set(PROVIDERS)))})"
        ) from None


def load(path: str | os.PathLike) -> Any:
    """Load any model file backprop writes: a Network, or a fitted MLPClassifier/MLPRegressor.

    Raises :class:`ModelFileError` for a missing, truncated, foreign or inconsistent file.
    """
    path = os.fspath(path)
    arrays, doc = read_file(path)
    return reader_for(doc["kind"], path)(arrays, doc, path)
