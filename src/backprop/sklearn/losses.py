"""The pieces scikit-learn's MLP has and the engine does not: its output units and its losses.

* ``exp`` output units (the Poisson regressor's log link) and logistic output units through
  scipy's ``expit``;
* scikit-learn's loss values (probabilities clipped to [eps, 1-eps], squared error averaged over
  the outputs too) with the canonical error term delta^o = yhat - y (eq. 2), weighted per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, xlogy

from backprop.core import activations as _act
from backprop.core import losses as _losses


class Exp(_act.Activation):
    """g(h) = e^h, the Poisson regressor's output (log link); g'(h) = g(h)."""

    name = "exp"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.exp(h, out=out)

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        delta *= a


class Logistic(_act.Sigmoid):
    """The output units' logistic g: scipy's ``expit`` (small probabilities keep their relative
    precision, which the engine's tanh form loses), with the engine's g' (from a).

    A logistic unit's probability lies strictly inside (0, 1), but in floating point it rounds
    to exactly 1 from h = 37 on (float64). It is kept at the nearest values eps/2 and 1 - eps/2
    whose complements are exact, so neither p nor 1 - p of ``predict_proba`` is ever 0 or 1 and
    ``predict_log_proba`` stays finite. The change (at most 1.1e-16) is below every rounding
    error of training and below the clipping scikit-learn applies in its log-loss.
    """

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = expit(h, out=out)
        half_eps = np.finfo(out.dtype).eps / 2
        return np.clip(out, half_eps, 1 - half_eps, out=out)


def output_unit(name: str) -> str | _act.Activation:
    """The engine's output activation for scikit-learn's ``out_activation_`` name."""
    cls = {"exp": Exp, "logistic": Logistic}.get(name)
    return name if cls is None else cls()


#: ``SklearnLoss.value``'s default: the weights of the current batch (``set_batch``)
BATCH = object()


class SklearnLoss(_losses.Loss):
    """scikit-learn's losses: its value, and the canonical error term delta^o = yhat - y (eq. 2).

    ``weights`` (set per batch) are the sample weights times m / sum(weights): the engine divides
    the summed gradients by the batch size m (eq. 3), scikit-learn by the weights' sum.
    ``sample_weight`` (set per batch too) are the raw weights the loss value is averaged with.
    """

    def __init__(self, kind: str):
        self.name = kind  # squared_error, log_loss (softmax), binary_log_loss (logistic), poisson
        #: the compiled epoch computes the unweighted log-loss and squared error (fast.epochs)
        self.kernel = {"log_loss": "sk_log_loss", "squared_error": "sk_squared_error"}.get(kind)
        self.weights: np.ndarray | None = None
        self.sample_weight: np.ndarray | None = None
        #: work arrays of :meth:`_log_loss`, by (shape, dtype): the loss is computed on every batch
        self._work: dict = {}

    def set_batch(self, sample_weight: np.ndarray | None) -> float | None:
        """Weights of the next batch's rows (None: unweighted); returns their sum (m without)."""
        self.sample_weight = sample_weight
        if sample_weight is None:
            self.weights = None
            return None
        sw_sum = float(sample_weight.sum())
        self.weights = (sample_weight * (sample_weight.shape[0] / sw_sum)).reshape(-1, 1)
        return sw_sum

    def value(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray | None = None,
              sample_weight: Any = BATCH) -> float:
        if sample_weight is BATCH:  # the training loop's call: this batch's weights
            sample_weight = self.sample_weight
        if self.name == "squared_error":
            return float(0.5 * _average(np.square(y - yhat), sample_weight).mean())
        if self.name == "poisson":
            return float(_average(xlogy(y, y / yhat) - y + yhat, sample_weight).sum())
        if sample_weight is None and _plain_pair(y, yhat):
            return self._log_loss(y, yhat)
        eps = np.finfo(yhat.dtype).eps
        p = np.clip(yhat, eps, 1 - eps)
        per = xlogy(y, p)
        if self.name == "binary_log_loss":
            per += xlogy(1 - y, 1 - p)
        return float(-_average(per, sample_weight).sum())

    def _log_loss(self, y: np.ndarray, yhat: np.ndarray) -> float:
        """The unweighted log-loss as :meth:`value` computes it, in preallocated arrays and with
        y log p for xlogy(y, p): p is clipped to [eps, 1 - eps], so log p is finite and the two differ
        only where y = 0 (-0.0 against 0.0, the same sum) and by the rounding of the logarithm
        (NumPy's against scipy's); the sums are the same reductions in the same order."""
        key = (yhat.shape, yhat.dtype)
        work = self._work.get(key)
        if work is None:
            if len(self._work) > 4:  # batches of many sizes (partial_fit): keep a few
                self._work.clear()
            binary = self.name == "binary_log_loss"
            eps = np.finfo(yhat.dtype).eps  # clip's bounds, as value() has them
            work = self._work[key] = (np.empty_like(yhat), np.empty(yhat.shape[1], yhat.dtype),
                                      np.empty_like(yhat) if binary else None,
                                      np.empty_like(yhat) if binary else None, eps, 1 - eps,
                                      np.intp(yhat.shape[0]))
        t, col, u, w, lo, hi, m = work
        np.clip(yhat, lo, hi, out=t)
        if u is not None:  # + (1 - y) log(1 - p)
            np.subtract(1, t, out=u)
            np.log(u, out=u)
        np.log(t, out=t)
        np.multiply(y, t, out=t)
        if u is not None and w is not None:
            np.subtract(1, y, out=w)
            np.multiply(w, u, out=u)
            t += u
        # mean over the rows as ndarray.mean computes it (a sum down the columns, then a division by
        # the count as an np.intp: in float64, rounded into col), summed over the outputs
        np.add.reduce(t, axis=0, out=col)
        np.true_divide(col, m, out=col, casting="unsafe")
        return float(-np.add.reduce(col))

    def output_delta(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray, g_o: Any, out: np.ndarray,
                     tmp: np.ndarray) -> np.ndarray:
        np.subtract(yhat, y, out=out)
        if self.weights is not None:
            out *= self.weights
        return out


def _plain_pair(y: np.ndarray, yhat: np.ndarray) -> bool:
    """y and yhat are 2-D C-contiguous arrays of one floating dtype and shape (the training loop's
    batches): the loss can be computed in place."""
    return (isinstance(y, np.ndarray) and isinstance(yhat, np.ndarray) and yhat.ndim == 2
            and y.shape == yhat.shape and y.dtype == yhat.dtype and yhat.dtype.kind == "f"
            and y.flags.c_contiguous and yhat.flags.c_contiguous)


def _average(per, sample_weight):
    """scikit-learn's np.average(per, weights=sample_weight, axis=0); without weights that is
    per.mean(axis=0) -- the same bits, without np.average's checks on every batch."""
    if sample_weight is None:
        return per.mean(axis=0)
    return np.average(per, weights=sample_weight, axis=0)


def sum_sq(arrays: Sequence[np.ndarray]) -> float:
    """sum of w^2 over all arrays (the L2 penalty's ||W||^2). ``np.vdot`` of a contiguous array with
    itself is scikit-learn's ``np.dot(w.ravel(), w.ravel())`` (the same dot function) in one call."""
    return sum(float(np.vdot(w, w)) for w in arrays)
