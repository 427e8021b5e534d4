"""Quality figures beside the loss: accuracy for classifiers, R^2 for regressors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(Y: np.ndarray, Yhat: np.ndarray, output: str) -> float:
    """Fraction of rows predicted right: argmax for softmax, every unit at 0.5 for sigmoid."""
    if output == "softmax":
        return float(np.mean(Y.argmax(axis=1) == Yhat.argmax(axis=1)))
    return float(np.mean(np.all((Yhat >= 0.5) == (Y >= 0.5), axis=1)))


def r2(Y: np.ndarray, Yhat: np.ndarray) -> float:
    """Coefficient of determination, averaged uniformly over the outputs (as scikit-learn does)."""
    Y = np.asarray(Y, dtype=np.float64)
    Yhat = np.asarray(Yhat, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # huge errors: inf, not a warning
        ss_res = ((Y - Yhat) ** 2).sum(axis=0)
        ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        per = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                       np.where(ss_res == 0, 1.0, 0.0))
    return float(per.mean())


def metric_for(output: str) -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    """The metric that fits an output activation: ('accuracy', fn) or ('r2', fn)."""
    if output in ("softmax", "sigmoid"):
        return "accuracy", lambda Y, Yhat: accuracy(Y, Yhat, output)
    return "r2", r2
