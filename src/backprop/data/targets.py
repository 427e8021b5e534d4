"""Targets in the network's space and back: one-hot rows, a 0/1 column, or standardized numbers.

``meta`` is a model's description of its targets, as ``backprop train`` records it: ``task``
("classification" or "regression"), ``classes`` (the labels, in output order) and, for a
regression trained on standardized targets, ``target_standardize`` ({"mean": [...], "scale": [...]}).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from backprop.data.datasets import encode_labels
from backprop.errors import InvalidInputError


def encode(y: ArrayLike, meta: dict, n_out: int, dtype: DTypeLike) -> tuple[np.ndarray, np.ndarray]:
    """Raw targets -> (the network's target matrix Y, the truth to score against).

    Classes: one-hot rows (a 0/1 column for one sigmoid output) and the class indices.
    Numbers: the (standardized) target columns and the raw values.
    """
    if meta["task"] == "classification":
        idx = encode_labels(y, meta["classes"])
        if n_out == 1:
            return idx.astype(dtype).reshape(-1, 1), idx
        Y = np.zeros((idx.size, n_out), dtype=dtype)
        Y[np.arange(idx.size), idx] = 1
        return Y, idx
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(len(y), -1)
    if Y.shape[1] != n_out:
        raise InvalidInputError(f"the data has {Y.shape[1]} target columns but the model predicts {n_out}")
    ts = meta.get("target_standardize")
    if ts:
        Y = (Y - np.asarray(ts["mean"])) / np.asarray(ts["scale"])
    return Y.astype(dtype), y


def decode(yhat: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """Network outputs -> (predictions in the original labels/units, class probabilities or None)."""
    if meta["task"] == "classification":
        classes = np.asarray(meta["classes"], dtype=object)
        if yhat.shape[1] == 1:
            p = yhat[:, 0].astype(np.float64)
            return classes[(p >= 0.5).astype(np.intp)], np.c_[1 - p, p]
        return classes[yhat.argmax(axis=1)], yhat
    Y = yhat.astype(np.float64)
    ts = meta.get("target_standardize")
    if ts:
        Y = Y * np.asarray(ts["scale"]) + np.asarray(ts["mean"])
    return Y, None


def predicted_index(yhat: np.ndarray) -> np.ndarray:
    """The class index of each row of a classifier's outputs (p >= 0.5 for one sigmoid unit)."""
    return (yhat[:, 0] >= 0.5).astype(np.intp) if yhat.shape[1] == 1 else yhat.argmax(axis=1)


def one_row(y_raw: Any, meta: dict, n_out: int) -> Any:
    """One sample's target as a network takes it: a class index (several outputs), [index] (one
    sigmoid unit) or the (standardized) numbers."""
    classes = meta.get("classes")
    if meta.get("task", "classification" if classes else "regression") == "classification" and classes:
        idx = int(encode_labels([y_raw], classes)[0])
        return idx if n_out > 1 else [float(idx)]
    Y = np.reshape(np.asarray(y_raw, dtype=np.float64), (1, -1))
    ts = meta.get("target_standardize")
    if ts:  # a regression model learnt standardized targets
        Y = (Y - np.asarray(ts["mean"])) / np.asarray(ts["scale"])
    return Y[0]


__all__ = ["encode", "decode", "predicted_index", "one_row"]
