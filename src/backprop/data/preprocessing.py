"""Preprocessing: class labels to indices, per-feature standardization, and seeded train/test splits.

Standardization never lets NumPy overflow silently: statistics that overflow (values near 1e308,
squares past ~1e154) and standardized values that do not fit their dtype are an InvalidInputError
naming the column (no RuntimeWarning, no inf fed to training).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from backprop.data.dataset import Dataset
from backprop.errors import InvalidInputError


# -- labels ------------------------------------------------------------------------------------
def label_keys(y: ArrayLike) -> np.ndarray:
    """Labels as strings, the key that identifies a class across files (CSV "3" == npz 3)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return y.astype(np.int64).astype(str)
    return np.asarray([str(v) for v in y.tolist()]) if y.dtype == object else y.astype(str)


def find_classes(*label_arrays: ArrayLike | None) -> list:
    """Sorted distinct labels of the arrays (ints sort numerically, strings alphabetically)."""
    ys = [np.asarray(y) for y in label_arrays if y is not None]
    y = np.concatenate(ys) if len(ys) > 1 else ys[0]
    if y.dtype == object:
        y = y.astype(str)
    return [v.item() if isinstance(v, np.generic) else v for v in np.unique(y)]


def encode_labels(y: ArrayLike, classes: Sequence, *, where: str = "target") -> np.ndarray:
    """Class indices 0..K-1 of the labels ``y`` in ``classes``; an unknown label is an error."""
    index = {k: i for i, k in enumerate(label_keys(np.asarray(list(classes), dtype=object)))}
    keys = label_keys(y)
    out = np.empty(len(keys), dtype=np.intp)
    for i, k in enumerate(keys):
        j = index.get(k)
        if j is None:
            shown = ", ".join(map(repr, classes[:20])) + (" ..." if len(classes) > 20 else "")
            raise InvalidInputError(
                f"{where} row {i + 1} has the label {str(k)!r}, which the model cannot produce; "
                f"its classes are: {shown}"
            )
        out[i] = j
    return out


# -- standardization ---------------------------------------------------------------------------
def _column(j, names) -> str:
    return repr(names[j]) if names is not None and j < len(names) else str(j + 1)


def fit_standardize(X: ArrayLike, names: list | None = None) -> dict:
    """Per-feature mean and scale (standard deviation; 1 for constant features) as lists.

    ``names`` (the column names) only improve the messages. Non-finite values, and values so large
    that their mean or variance overflows float64, are an InvalidInputError naming the column.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise InvalidInputError(f"standardization needs a 2-D array with rows, got shape {X.shape}")
    finite = np.isfinite(X)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise InvalidInputError(f"column {_column(c, names)} holds NaN or infinity at row {r + 1}; "
                                "remove or impute it")
    with np.errstate(over="ignore", invalid="ignore"):  # np.std squares: overflows past ~1e154
        mean, scale = X.mean(axis=0), X.std(axis=0)
    bad = ~(np.isfinite(mean) & np.isfinite(scale))
    if bad.any():
        c = int(np.flatnonzero(bad)[0])
        peak = float(np.abs(X[:, c]).max())
        raise InvalidInputError(
            f"column {_column(c, names)} has values too large to standardize (up to {peak:.3g} in "
            "magnitude: their mean or squares overflow float64); rescale the column, e.g. to other "
            "units or a logarithm"
        )
    scale[~(scale > 1e-12)] = 1.0  # constant feature: nothing to divide
    return {"mean": mean.tolist(), "scale": scale.tolist()}


def apply_standardize(X: ArrayLike, stats: dict, dtype: DTypeLike | None = None,
                      names: list | None = None) -> np.ndarray:
    """(X - mean) / scale with the statistics of :func:`fit_standardize` (a new array).

    A result that overflows (values far outside the range the statistics were fitted on, or beyond
    what ``dtype`` holds) is an InvalidInputError naming the column; ``names`` improve the message.
    """
    dtype = np.result_type(np.asarray(X).dtype, np.float32) if dtype is None else np.dtype(dtype)
    mean = np.asarray(stats["mean"], dtype=np.float64)
    scale = np.asarray(stats["scale"], dtype=np.float64)
    if np.ndim(X) != 2 or mean.shape != (np.shape(X)[1],) or scale.shape != mean.shape:
        n = np.shape(X)[1] if np.ndim(X) == 2 else f"shape {np.shape(X)} of"
        raise InvalidInputError(
            f"the data has {n} features but the standardization statistics have {mean.size}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        Z = ((np.asarray(X, dtype=np.float64) - mean) / scale).astype(dtype, copy=False)
        ok = np.isfinite(Z)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        Xf = np.asarray(X, dtype=np.float64)
        what = ("holds NaN or infinity" if not np.isfinite(Xf[r, c]) else
                f"has values too large to standardize ({Xf[r, c]:.6g}, with mean {mean[c]:.6g} and "
                f"scale {scale[c]:.6g}, is beyond the range of {dtype.name})")
        raise InvalidInputError(f"column {_column(c, names)} {what} at row {r + 1}")
    return Z


# -- splits ------------------------------------------------------------------------------------
def split(ds: Dataset, test_fraction: float, split_seed: int) -> None:
    """Move a seeded (stratified for classes) ``test_fraction`` of ``ds``'s rows to its test part."""
    m = ds.X.shape[0]
    n_test = round(test_fraction * m)
    if n_test < 1 or n_test >= m:
        raise InvalidInputError(f"--test-fraction {test_fraction:g} of {m} rows leaves an empty part")
    rng = np.random.default_rng(split_seed)
    if ds.task == "classification" and ds.y is not None:
        test_idx = stratified_indices(ds.y, n_test, rng)
    else:
        test_idx = np.sort(rng.permutation(m)[:n_test])
    mask = np.zeros(m, dtype=bool)
    mask[test_idx] = True
    ds.X_test, ds.X = ds.X[mask], ds.X[~mask]
    if ds.y is not None:
        ds.y_test, ds.y = ds.y[mask], ds.y[~mask]
    ds.options["test_fraction"] = test_fraction
    ds.options["split_seed"] = split_seed


def class_quotas(sizes: np.ndarray, n: int) -> np.ndarray:
    """How many of ``n`` rows each class of ``sizes`` rows gives: the floor of its share, the rows
    left over to the largest remainders (Hamilton's method, ties to the first class); every class
    keeps at least one row."""
    share = n * sizes / sizes.sum()
    take = np.floor(share).astype(np.int64)
    take[np.argsort(-(share - take), kind="stable")[: n - take.sum()]] += 1
    return np.minimum(take, np.maximum(sizes - 1, 0))


def stratified_indices(y: ArrayLike, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``n_test`` row indices, drawn from every class in proportion to its size
    (:func:`class_quotas`; the classes in the order of their labels as strings), each class's rows
    by a permutation of its own."""
    keys = label_keys(y)
    uniq, inverse = np.unique(keys, return_inverse=True)
    m = len(keys)
    take = class_quotas(np.bincount(inverse, minlength=len(uniq)), n_test)
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:take[c]] for c in range(len(uniq))]
    idx = np.concatenate(chosen) if chosen else np.array([], dtype=np.intp)
    if idx.size == 0:
        idx = rng.permutation(m)[:n_test]
    return np.sort(idx)


def stratified_rows(idx: np.ndarray, n_val: int, rng: np.random.Generator) -> np.ndarray:
    """``n_val`` seeded random rows of the class indices ``idx`` with the classes in proportion
    (:func:`class_quotas`, classes in index order), sorted: on small data a plain random draw can
    leave a class nearly out of the validation rows. One permutation of all rows draws them (so
    this is not :func:`stratified_indices`, whose draws, and so whose splits, differ; the command
    line's validation rows have been drawn this way since they were stratified)."""
    quota = class_quotas(np.bincount(idx), n_val)
    perm = rng.permutation(idx.size)
    rows = [perm[idx[perm] == k][:q] for k, q in enumerate(quota)]
    return np.sort(np.concatenate(rows))
