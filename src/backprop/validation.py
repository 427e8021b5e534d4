"""Checks of user data: every problem becomes an error that names the argument and what to do."""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidInputError, InvalidTypeError

_DTYPES = ("float32", "float64")


def resolve_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise InvalidInputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def as_matrix(X, name, dtype, *, n_features=None, allow_1d_column=False):
    """``X`` as a C-contiguous 2-D float array of ``dtype`` with finite values."""
    if isinstance(X, (str, bytes)) or X is None:
        raise InvalidTypeError(f"{name} must be a 2-D array of numbers, got {type(X).__name__}")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(f"{name} could not be read as an array of numbers: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
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
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]}); "
            "remove or impute those values"
        )
    return arr


def as_targets(Y, net, m=None):
    """Targets as an (m, N) array of the network's dtype.

    A 1-D ``Y`` is a column when the network has one output; with several outputs a 1-D array of
    integer class indices 0..N-1 is one-hot encoded.
    """
    N = net.sizes[-1]
    if isinstance(Y, (str, bytes)) or Y is None:
        raise InvalidTypeError(f"Y must be an array of targets, got {type(Y).__name__}")
    arr = np.asarray(Y)
    if arr.ndim == 1 and N > 1 and arr.size and np.issubdtype(arr.dtype, np.number):
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


def check_xy(X, Y, net):
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


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_nonneg_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
