"""The user's own arrays as a playground data set: ``widget(X=..., y=...)``.

They are checked here and stored as the page stores an uploaded CSV file (a header ``x1, ..., xn,
y`` and the numbers written exactly, ``repr``), so that the playground treats them as it treats an
upload: classification for labels (strings, booleans, few distinct integers), regression for other
numbers, a validation share of ``val_fraction``, inputs standardized.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError
from backprop.playground import export as _export

FILENAME = "X, y"  # how the page names the data set in its list


def _column_names(X: Any, n: int) -> list[str]:
    cols = getattr(X, "columns", None)  # a data frame's own names
    names = [str(c) for c in cols] if cols is not None and len(cols) == n else [f"x{j + 1}" for j in range(n)]
    if len(set(names + ["y"])) != n + 1:
        names = [f"x{j + 1}" for j in range(n)]
    return names


def _check_rows(v: Any, name: str) -> None:
    """A sized ``v`` (array, list, data frame) with more rows than the playground takes: refused
    from its length alone."""
    try:
        n = len(v)
    except TypeError:  # a scalar or an iterator: np.asarray decides below
        return
    if n > _export.MAX_ROWS:
        raise InvalidInputError(f"{name} has {n} rows; the playground takes 4 to {_export.MAX_ROWS}: "
                                "give a sample of the rows")


def _inputs(X: Any) -> np.ndarray:
    """X as floats of shape (rows, features), or a clear error."""
    try:
        Xa = np.asarray(X)
        complex_ = Xa.dtype.kind == "c"  # float64 of it would drop the imaginary parts with a warning
        if not complex_:
            Xa = Xa.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise InvalidInputError("X must hold numbers only (an array of shape (rows, features))") from None
    if complex_:
        raise InvalidInputError("X holds complex numbers; give real numbers (an array of shape "
                                "(rows, features))")
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)  # one feature
    if Xa.ndim != 2 or Xa.shape[1] == 0:
        raise InvalidInputError(f"X must be a 2-D array of shape (rows, features), got shape {Xa.shape}")
    bad = np.argwhere(~np.isfinite(Xa))
    if bad.size:
        raise InvalidInputError(f"X holds {Xa[tuple(bad[0])]} at row {bad[0][0]}, column {bad[0][1]}: "
                                "only finite numbers can be trained on")
    return Xa


def _targets(y: Any) -> np.ndarray:
    """y of shape (rows,): numbers or labels (byte strings as their text), or a clear error."""
    ya = np.asarray(y)
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1:
        raise InvalidInputError(f"y must be one target per row (shape (rows,)), got shape {ya.shape}")
    if ya.dtype.kind == "f" and not np.all(np.isfinite(ya)):
        i = int(np.argwhere(~np.isfinite(ya))[0][0])
        raise InvalidInputError(f"y holds {ya[i]} at row {i}: targets must be finite")
    if ya.dtype.kind not in "biufUSO":
        raise InvalidInputError(f"y must hold numbers or labels, got values of type {ya.dtype}")
    if ya.dtype.kind == "S":  # byte-string labels: their text (else the CSV would hold "b'a'")
        try:
            ya = np.char.decode(ya, "utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("y holds byte strings that are not UTF-8 text; give str labels") from None
    return ya


def check_arrays(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X as floats of shape (rows, features), y of shape (rows,), the feature names), or a clear error."""
    if X is None or y is None:
        raise InvalidInputError("give both X (the inputs, one row per sample) and y (one target per row)")
    _check_rows(X, "X")  # before any copy: 10^7 rows are refused without allocating for them
    _check_rows(y, "y")
    Xa = _inputs(X)
    ya = np.asarray(y)
    if ya.ndim >= 1 and len(ya) != len(Xa):
        raise InvalidInputError(f"X has {len(Xa)} rows but y has {len(ya)}: one target per row")
    ya = _targets(ya)
    if not 4 <= len(Xa) <= _export.MAX_ROWS:
        raise InvalidInputError(f"X and y have {len(Xa)} rows; the playground takes 4 to {_export.MAX_ROWS}")
    return Xa, ya, _column_names(X, Xa.shape[1])


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # the shortest text that reads back as the same float
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v.item() if isinstance(v, np.generic) else v)


def to_csv(X: np.ndarray, y: np.ndarray, names: list[str]) -> bytes:
    """The rows as CSV text: the header, then each row's features and target written exactly."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([*names, "y"])
    for row, target in zip(X.tolist(), y.tolist()):
        w.writerow([*(repr(v) for v in row), _cell(target)])
    return out.getvalue().encode("utf-8")


def store_arrays(folder: str, X: Any, y: Any) -> dict:
    """Check X and y and store them in ``folder`` like an upload (see ``export.store_upload``)."""
    Xa, ya, names = check_arrays(X, y)
    info = _export.store_upload(folder, to_csv(Xa, ya, names), "arrays.csv")
    info["filename"] = FILENAME
    return info
