"""A model file as ``evaluate``, ``predict`` and ``info`` use it.

``backprop.load`` opens two kinds of model file: a :class:`~backprop.Network` saved by
``backprop train`` or ``Network.save`` (its ``metadata`` says how its inputs were standardized and
what its outputs mean), and a fitted ``MLPClassifier``/``MLPRegressor`` saved by its ``save``
(it standardizes nothing and decodes its own outputs). :class:`Model` gives both the same face:
``outputs(X)`` (the network's outputs: class probabilities or numbers) for raw features ``X``, and
the description ``meta`` (task, classes, feature_names, target, loss).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from backprop.core.metrics import r2
from backprop.data import readers, targets
from backprop.data.datasets import apply_standardize
from backprop.errors import InvalidInputError
from backprop.io.registry import load
from backprop.model.network import Network

#: rows predicted at a time
CHUNK = 8192


class Model:
    """A loaded model file: a Network with its metadata, or a fitted scikit-learn-style estimator."""

    def __init__(self, path: str, obj: Any):
        self.path = path
        self.net: Network | None
        self.estimator: Any
        if isinstance(obj, Network):
            self.kind, self.net, self.estimator = "network", obj, None
            self.meta = _network_meta(obj)
            self.sizes = list(obj.sizes)
            self.dtype = obj.dtype
            self.n_outputs = self.sizes[-1]
        else:
            self.kind, self.net, self.estimator = "estimator", None, obj
            self.meta = _estimator_meta(obj, path)
            coefs = obj.coefs_
            self.sizes = [coefs[0].shape[0]] + [w.shape[1] for w in coefs]
            self.dtype = coefs[0].dtype
            # columns of outputs(): a binary classifier gives both classes' probabilities
            classes = self.meta.get("classes")
            self.n_outputs = len(classes) if classes else self.sizes[-1]
        self.n_features = self.sizes[0]

    @property
    def n_parameters(self) -> int:
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def check_features(self, X: np.ndarray, source: str) -> None:
        if X.shape[1] != self.n_features:
            trained = (self.meta.get("dataset") or {}).get("name")
            raise InvalidInputError(
                f"{source} has {X.shape[1]} features but the model expects {self.n_features}"
                + (f" (it was trained on {trained})" if trained else "")
            )

    def outputs(self, X: np.ndarray, source: str) -> np.ndarray:
        """The outputs for raw feature rows ``X``: class probabilities, or the network's numbers."""
        self.check_features(X, source)
        if self.net is not None:
            stats = self.meta.get("standardize")
            Xn = apply_standardize(X, stats, self.dtype) if stats else np.ascontiguousarray(X, self.dtype)
            return self.net.predict(Xn)
        est = self.estimator
        X = np.asarray(X, dtype=np.float64)
        with warnings.catch_warnings():
            # the columns were matched to the estimator's feature names already
            warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
            if self.meta["task"] == "classification":
                return np.asarray(est.predict_proba(X))
            return np.asarray(est.predict(X), dtype=np.float64).reshape(X.shape[0], -1)

    def scores(self, X: np.ndarray, y: np.ndarray, source: str) -> tuple[dict, np.ndarray, np.ndarray]:
        """Loss and accuracy or R^2 of the raw rows (X, y), the predicted class indices / values and
        the truth (class indices / values)."""
        self.check_features(X, source)
        Y, truth = targets.encode(y, self.meta, self.n_outputs, self.dtype)
        if self.net is not None:
            stats = self.meta.get("standardize")
            Xn = apply_standardize(X, stats, self.dtype) if stats else np.ascontiguousarray(X, self.dtype)
            return (*network_scores(self.net, self.meta["loss"], Xn, Y, truth, self.meta), truth)
        yhat = np.empty((X.shape[0], self.n_outputs), dtype=np.float64)
        total = 0.0
        for s in range(0, X.shape[0], CHUNK):
            yhat[s:s + CHUNK] = self.outputs(X[s:s + CHUNK], source)
            yb = Y[s:s + CHUNK]
            total += _estimator_loss(self.meta["loss"], yb, yhat[s:s + CHUNK]) * len(yb)
        return (*_metrics(self.meta, total / X.shape[0], yhat, truth), truth)


def network_scores(net: Any, loss: Any, X: np.ndarray, Y: np.ndarray, truth: np.ndarray,
                   meta: dict) -> tuple[dict, np.ndarray]:
    """Loss and accuracy or R^2 of rows already in the network's space (standardized X, encoded Y)."""
    yhat = np.empty((X.shape[0], net.sizes[-1]), dtype=np.float64)
    total = 0.0
    for s in range(0, X.shape[0], CHUNK):
        xb = X[s:s + CHUNK]
        total += net.loss(xb, Y[s:s + CHUNK], loss) * xb.shape[0]
        yhat[s:s + CHUNK] = net.predict(xb)
    return _metrics(meta, total / X.shape[0], yhat, truth)


def _metrics(meta, loss, yhat, truth):
    out = {"loss": float(loss), "n": int(yhat.shape[0])}
    if meta["task"] == "classification":
        pred = targets.predicted_index(yhat)
        out["accuracy"] = float(np.mean(pred == truth))
        return out, pred
    values, _ = targets.decode(yhat, meta)
    truth = np.asarray(truth, dtype=np.float64).reshape(len(values), -1)
    out["r2"] = r2(truth, values)
    out["rmse"] = float(np.sqrt(np.mean((truth - values) ** 2)))
    return out, values


def _estimator_loss(kind, Y, P) -> float:
    """The estimator's own loss of rows: log loss, half the squared error, or the Poisson deviance."""
    if kind == "log_loss":
        p = np.clip(np.sum(Y * P, axis=1), np.finfo(np.float64).eps, 1.0)
        return float(-np.mean(np.log(p)))
    if kind == "poisson":
        P = np.maximum(P, np.finfo(np.float64).tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0) / P), 0.0)
        return float(np.mean(ylogy - Y + P))
    return float(np.mean((Y - P) ** 2) / 2)


def load_model(path: str, what: str = "MODEL") -> Model:
    """The model in ``path`` (ModelFileError for anything that is not one)."""
    return Model(str(path), load_checked(path, what))


def load_checked(path: str, what: str = "MODEL") -> Any:
    """``backprop.load(path)``, after :func:`check_model_file`."""
    check_model_file(path, what)
    return load(path)


#: how evaluate and predict name their MODEL argument in the error: the data is the second one
FIRST = "the first argument (MODEL)"
#: what a file that is not a model most likely is, by its name
_DATA_KINDS = {"csv": "a CSV/TSV data file", "npz": "a NumPy .npz data file",
               "parquet": "a Parquet data file"}


def check_model_file(path: str, what: str = "MODEL") -> None:
    """Refuse a file that cannot be a model file (a data file given in the model's place: the
    arguments swapped), saying so, before the container reader reports its bytes.

    A model file (safetensors) starts with its header's length (8 bytes, little-endian) and the
    header, a JSON object: ``{``. Pickles and zip archives are left to the reader, which names them.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return  # the reader reports a missing or unreadable file
    if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04" or len(head) < 9:
        return
    if head[8:9] == b"{":  # a header: a model file, maybe truncated (the reader says so)
        return
    kind = _DATA_KINDS.get(readers.file_format(path) or "")
    if kind is None and all(32 <= c < 127 or c in b"\t\r\n" for c in head):
        kind = "a text file"
    swapped = kind is not None and what == FIRST
    raise InvalidInputError(f"{what} must be a model file (written by `backprop train` or .save); "
                            f"{path!r} is {kind + ', ' if kind else ''}not a safetensors model file"
                            + ("; give the model first, then the data" if swapped else ""))


def _network_meta(net: Network) -> dict:
    meta = dict(getattr(net, "metadata", None) or {})
    if meta.get("task") not in ("classification", "regression"):
        meta["task"] = ("classification" if net.output in ("softmax", "sigmoid") and meta.get("classes")
                        else "regression")
    if meta["task"] == "classification" and not meta.get("classes"):
        meta["classes"] = list(range(max(2, net.sizes[-1])))
    if not meta.get("feature_names"):
        meta["feature_names"] = [f"x{i}" for i in range(net.sizes[0])]
    meta.setdefault("loss", "mse" if net.output != "softmax" else "cross_entropy")
    return meta


def _estimator_meta(est, path) -> dict:
    """What an estimator file says about its data, in the terms of a Network's metadata."""
    classifier = hasattr(est, "classes_")
    meta = {"loss": "log_loss" if classifier else est.loss, "standardize": None, "target": None,
            "estimator": type(est).__name__}
    names = getattr(est, "feature_names_in_", None)
    meta["feature_names"] = [str(n) for n in names] if names is not None else None
    if classifier:
        multiclass = est.out_activation_ == "softmax"
        if not multiclass and est.n_outputs_ != 1:
            raise InvalidInputError(f"{path} holds a multilabel {type(est).__name__}; the command line "
                                    "evaluates single-label classifiers only (use it from Python)")
        meta["task"] = "classification"
        meta["classes"] = [c.item() if isinstance(c, np.generic) else c for c in est.classes_]
    else:
        meta["task"] = "regression"
    return meta


__all__ = ["Model", "load_model", "load_checked", "check_model_file", "network_scores"]
