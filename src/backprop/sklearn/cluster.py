"""``fit`` on Dask arrays: the estimators train on the cluster of the active Dask client.

When X is a Dask array (or data frame), the rows stay on the workers:
:func:`backprop.distributed.train` runs the estimator's Trainer -- the same scikit-learn rules,
optimizer, batches and shuffling as a fit on NumPy arrays -- with each update's gradient summed
where the rows are. The targets are encoded
on the workers too (class labels to one-hot rows); only the distinct labels come to the driver.
The weights end where a fit on the same rows as NumPy arrays ends, to float rounding.

Not (yet) on a cluster: ``sample_weight``, ``early_stopping`` (its validation split is a shuffle
of the rows), ``solver='lbfgs'`` and multilabel targets; each is refused with a clear error.
Dask is optional: it is imported here only when a Dask array arrives.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer

from backprop.errors import InvalidInputError
from backprop.sklearn import rules as _rules


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection, without importing Dask."""
    return type(obj).__module__.startswith("dask")


def _one_hot(block, lb, dtype):
    return lb.transform(block).astype(dtype)


def _class_targets(est, y, incremental, dtype):
    """The classifier's labels as one-hot (or 0/1) rows, encoded block by block on the workers."""
    if is_dask(y):
        import dask.array as da

        if y.ndim != 1:
            raise InvalidInputError("multilabel targets as a Dask array are not supported; pass the "
                                    "labels as a 1-D array (or train on NumPy arrays)")
        labels = np.asarray(da.unique(y).compute())
    else:
        y = np.asarray(y)
        if y.ndim != 1:
            raise InvalidInputError("with a Dask X, pass the class labels as a 1-D array")
        labels = np.unique(y)
    if not hasattr(est, "classes_") or (not est.warm_start and not incremental):
        est._label_binarizer = LabelBinarizer().fit(labels)
        est.classes_ = est._label_binarizer.classes_
    elif est.warm_start and not incremental and set(labels) != set(est.classes_):
        raise InvalidInputError(
            "warm_start can only be used where `y` has the same classes as in the previous call "
            f"to fit. Previously got {est.classes_}, `y` has {labels}")
    elif len(np.setdiff1d(labels, est.classes_, assume_unique=True)):
        raise InvalidInputError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                f"{est.classes_}. 'y' has {labels}.")
    lb = est._label_binarizer
    n_out = lb.transform(lb.classes_[:1]).shape[1]
    if not is_dask(y):
        return _one_hot(y, lb, dtype), n_out
    return y.map_blocks(_one_hot, lb, dtype, dtype=dtype, chunks=(y.chunks[0], (n_out,)),
                        new_axis=1), n_out


def _value_targets(est, y, dtype):
    """The regressor's targets as a 2-D array of the network's dtype (lazily for Dask)."""
    y = y.astype(dtype) if is_dask(y) else np.asarray(y, dtype=dtype)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise InvalidInputError(f"y must be 1-D or 2-D, got shape {y.shape}")
    if est.loss == "poisson":
        negative = (y < 0).any()
        if bool(negative.compute() if is_dask(negative) else negative):
            raise InvalidInputError("loss='poisson' needs targets y >= 0; some are negative")
    return y, int(y.shape[1])


def _check(est, X, sample_weight):
    if sample_weight is not None:
        raise InvalidInputError("sample_weight is not supported when X is a Dask array; train on "
                                "NumPy arrays to weight the samples")
    if est.solver not in ("sgd", "adam"):
        raise InvalidInputError(f"solver={est.solver!r} trains on NumPy arrays only; with a Dask "
                                "array use solver='adam' or 'sgd'")
    if est.early_stopping:
        raise InvalidInputError("early_stopping=True is not supported when X is a Dask array (its "
                                "validation split shuffles the rows); set early_stopping=False")
    if getattr(X, "ndim", None) != 2:
        raise InvalidInputError(f"X must be a 2-D Dask array (rows are samples), got {type(X).__name__} "
                                f"of shape {getattr(X, 'shape', None)}")


def fit_dask(est: Any, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Any:
    """``fit``/``partial_fit`` of ``est`` on the Dask array X (rows on the active client's cluster)."""
    from backprop import distributed  # needs the dask extra

    columns = None
    if hasattr(X, "to_dask_array"):  # a Dask data frame: its columns are the features
        columns = [str(c) for c in X.columns] if all(isinstance(c, str) for c in X.columns) else None
        X = X.to_dask_array(lengths=True)
    if is_dask(y) and hasattr(y, "to_dask_array"):
        with warnings.catch_warnings():  # string labels become an object array: what the labels need
            warnings.filterwarnings("ignore", message=".*converting pandas extension dtypes",
                                    category=UserWarning)
            y = y.to_dask_array(lengths=True)
    _check(est, X, sample_weight)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()  # the row counts of the blocks (a small computation on the workers)
    hidden_sizes = est._hidden_sizes()
    hidden = est._hidden_activations(len(hidden_sizes))
    first_pass = est._first_pass(incremental)
    n_rows, n_features = int(X.shape[0]), int(X.shape[1])
    if first_pass:
        est.n_features_in_ = n_features
        est.__dict__.pop("feature_names_in_", None)
        if columns is not None:
            est.feature_names_in_ = np.asarray(columns, dtype=object)
    elif getattr(est, "n_features_in_", n_features) != n_features:
        raise InvalidInputError(f"X has {n_features} features, but {type(est).__name__} is expecting "
                                f"{est.n_features_in_} features as input.")
    dtype = np.dtype(X.dtype) if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if is_classifier(est):
        Y, n_outputs = _class_targets(est, y, incremental, dtype)
    else:
        Y, n_outputs = _value_targets(est, y, dtype)
    net = est._prepare_network(n_features, n_outputs, dtype, first_pass, hidden_sizes, hidden)
    trainer = _rules.make_trainer(est, n_rows, None, None, incremental)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        # the active client's cluster (a clear error when none is active)
        _rules.run(trainer, lambda: distributed.train(trainer, X.astype(net.dtype), Y))
    est._check_finite()
    return est
