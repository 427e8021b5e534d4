"""Checks of user data: every problem becomes an error that names the argument and what to do."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from backprop.errors import InvalidInputError, InvalidTypeError

_DTYPES = ("float32", "float64")


def resolve_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise InvalidInputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def as_matrix(X: ArrayLike, name: str, dtype: DTypeLike, *, n_features: int | None = None,
              allow_1d_column: bool = False) -> np.ndarray:
    """``X`` as a C-contiguous 2-D float array of ``dtype`` with finite values."""
    if isinstance(X, (str, bytes)) or X is None:
        raise InvalidTypeError(f"{name} must be a 2-D array of numbers, got {type(X).__name__}")
    arr = _asarray(X, name)
    if (arr.dtype == object or arr.dtype.kind in "mM"
            or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)):
        raise InvalidInputError(
            f"{name} must hold numbers only, got dtype {arr.dtype}; convert or encode it first"
        )
    if np.iscomplexobj(arr):
        raise InvalidInputError(f"{name} holds complex numbers; only real numbers can be used")
    if arr.ndim == 1 and allow_1d_column:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} must be 2-D (rows are samples), got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{name} is empty: it has no rows")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name} has no columns")
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidInputError(
            f"{name} has {arr.shape[1]} columns but the network expects {n_features} "
            f"(its input width sizes[0])"
        )
    # a float64 value beyond float32's range becomes inf in the cast: reported below, not warned
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
        # a sum is finite only if every value is: one pass and no temporary as large as X
        # (an overflowing sum of finite values falls through to the exact check); the rows'
        # sums as a product with ones run on every BLAS thread, about twice as fast as X.sum()
        finite = bool(np.isfinite(out @ np.ones(out.shape[1], out.dtype)).all())
    if not finite and not np.isfinite(out).all():
        r, c = np.argwhere(~np.isfinite(out))[0]
        if np.isfinite(arr[r, c]):
            raise InvalidInputError(
                f"{name} holds a value too large for {np.dtype(dtype).name} (first at row {r}, "
                f"column {c}: {arr[r, c]!r}); rescale or standardize the data, or use dtype='float64'"
            )
        raise InvalidInputError(
            f"{name} contains NaN or infinity (first at row {r}, column {c}); "
            "remove or impute those values"
        )
    return out


def _asarray(X, name):
    """``np.asarray(X)``, with a clear error for ragged lists and other things that are not arrays."""
    try:
        return np.asarray(X)
    except Exception as exc:  # ragged lists, objects whose __array__ fails, ...
        raise InvalidInputError(f"{name} could not be read as an array of numbers: {exc}") from None


def as_targets(Y: ArrayLike, net: Any, m: int | None = None) -> np.ndarray:
    """Targets as an (m, N) array of the network's dtype.

    A 1-D ``Y`` is a column when the network has one output; with several outputs a 1-D array of
    integer class indices 0..N-1 is one-hot encoded.
    """
    N = net.sizes[-1]
    if isinstance(Y, (str, bytes)) or Y is None:
        raise InvalidTypeError(f"Y must be an array of targets, got {type(Y).__name__}")
    arr = _asarray(Y, "Y")
    if np.iscomplexobj(arr):
        raise InvalidInputError("Y holds complex numbers; only real numbers can be used")
    if arr.ndim == 1 and N > 1 and arr.size and arr.dtype.kind in "iuf":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or arr.min() < 0 or arr.max() >= N:
            raise InvalidInputError(
                f"1-D Y must hold class indices 0..{N - 1} for a network with {N} outputs; "
                f"pass a 2-D array of shape (m, {N}) for other targets"
            )
        onehot = np.zeros((arr.size, N), dtype=net.dtype)
        onehot[np.arange(arr.size), arr.astype(np.intp)] = 1
        arr = onehot
    Y = as_matrix(arr, "Y", net.dtype, n_features=None, allow_1d_column=True)
    if Y.shape[1] != N:
        raise InvalidInputError(
            f"Y has {Y.shape[1]} columns but the network has {N} outputs (sizes[-1])"
        )
    if m is not None and Y.shape[0] != m:
        raise InvalidInputError(f"X has {m} rows but Y has {Y.shape[0]}; they must match")
    return Y


def check_xy(X: ArrayLike, Y: ArrayLike, net: Any) -> tuple[np.ndarray, np.ndarray]:
    X = as_matrix(X, "X", net.dtype, n_features=net.sizes[0])
    Y = as_targets(Y, net, X.shape[0])
    out = net.output
    if out in ("softmax", "sigmoid") and ((Y < 0).any() or (Y > 1).any()):
        raise InvalidInputError(
            f"targets must lie in [0, 1] for a {out} output; use output='identity' for regression"
        )
    if out == "softmax" and not np.allclose(Y.sum(axis=1), 1.0, atol=1e-3):
        raise InvalidInputError(
            "targets of a softmax output must be one-hot (or probability) rows summing to 1"
        )
    return X, Y


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_nonneg_float(value: object, name: str) -> float:
    """``value`` as a float: a finite number >= 0 (else a clear error naming ``name``)."""
    x = math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            x = float(value)
        except OverflowError:  # an int beyond float's range
            pass
    if not (math.isfinite(x) and x >= 0):
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within [low, high] (an end is excluded when ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (lo or hi) else ""
        raise InvalidInputError(f"{name} must be a finite number{where}, got {value!r}")
    return value


def make_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """``np.random.default_rng(seed)`` with a clear error for a seed NumPy cannot use."""
    if isinstance(seed, (bool, float, str, bytes)):
        raise InvalidTypeError(f"{name} must be None or a non-negative int, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be None or a non-negative int, got {seed!r} ({exc})") from None


def check_callable(value: Any, name: str, *, allow_none: bool = True) -> Any:
    if (value is None and allow_none) or callable(value):
        return value
    raise InvalidTypeError(f"{name} must be a function, got {type(value).__name__}")
