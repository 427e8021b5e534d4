"""Loss functions E and the error term of the output layer, eq. (2).

All losses are summed over the N outputs and averaged over the m samples of a batch:

* ``mse``: the reference's E = 1/(2m) sum_d sum_k (y_k - yhat_k)^2; for one sample that is the
  worked example's sum of squares 1/2 sum_k (yhat_k - y_k)^2. Its output error term is eq. (2),
  delta_k = g'_o(h_k) (yhat_k - y_k), and it fits every output activation.
* ``binary_cross_entropy`` for sigmoid outputs and ``cross_entropy`` for softmax outputs, computed
  from the pre-activations h by log-sum-exp so they stay finite; with their own output activation
  the factor g'_o cancels and eq. (2) simplifies to delta_k = yhat_k - y_k.

Each loss is a small object with ``value(y, yhat, h)`` and ``output_delta(y, yhat, h, g_o, out)``;
the plain functions :func:`mse`, :func:`binary_cross_entropy` and :func:`cross_entropy` evaluate
them on arrays.
"""

from __future__ import annotations

import numpy as np

from backprop.core.activations import Activation
from backprop.errors import InvalidInputError


class Loss:
    name = ""
    #: the compiled epoch's code for this loss (``backprop.fast.epochs``): set by each class whose
    #: value and error term the kernel computes, not inherited by a subclass that may differ
    kernel: str | None = None
    #: Output activations this loss fits; None means any.
    outputs: tuple[str, ...] | None = None

    def value(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray) -> float:
        """E for the batch: summed over outputs, averaged over the m rows."""
        raise NotImplementedError

    def output_delta(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray, g_o: Activation, out: np.ndarray,
                     tmp: np.ndarray) -> np.ndarray:
        """Write the per-sample output error terms delta^o (eq. 2) into ``out``."""
        raise NotImplementedError

    def check_output(self, output_name: str) -> None:
        if self.outputs is not None and output_name not in self.outputs:
            fits = " or ".join(self.outputs)
            raise InvalidInputError(
                f"loss {self.name!r} does not fit output activation {output_name!r}: "
                f"use output={fits!r} with it, or loss='mse'"
            )

    def __repr__(self) -> str:
        return f"<loss {self.name}>"


class MSE(Loss):
    """E = 1/(2m) sum_d sum_k (y_k - yhat_k)^2 and delta^o = g'_o(h^o) (yhat - y), eq. (2)."""

    name = "mse"
    kernel = "mse"

    def value(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray | None = None) -> float:
        diff = yhat - y
        return float(np.vdot(diff, diff)) / (2.0 * yhat.shape[0])

    def output_delta(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray, g_o: Activation, out: np.ndarray,
                     tmp: np.ndarray) -> np.ndarray:
        np.subtract(yhat, y, out=out)
        g_o.backward(h, yhat, out, tmp)
        return out


class BinaryCrossEntropy(Loss):
    """E = -1/m sum_d sum_k [y log yhat + (1 - y) log(1 - yhat)] with yhat = sigmoid(h).

    Written as log(1 + e^h) - y h (log-sum-exp), so it is finite for any h; delta^o = yhat - y.
    """

    name = "binary_cross_entropy"
    kernel = "binary_cross_entropy"
    outputs = ("sigmoid",)

    def value(self, y: np.ndarray, yhat: np.ndarray | None, h: np.ndarray) -> float:
        per = np.logaddexp(0.0, h)
        per -= y * h
        return float(per.sum()) / h.shape[0]

    def output_delta(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray, g_o: Activation, out: np.ndarray,
                     tmp: np.ndarray) -> np.ndarray:
        return np.subtract(yhat, y, out=out)


class CrossEntropy(Loss):
    """E = -1/m sum_d sum_k y_k log yhat_k with yhat = softmax(h).

    Written as sum_k y_k (logsumexp(h) - h_k), finite for any h; delta^o = yhat - y.
    """

    name = "cross_entropy"
    kernel = "cross_entropy"
    outputs = ("softmax",)

    def value(self, y: np.ndarray, yhat: np.ndarray | None, h: np.ndarray) -> float:
        shift = h.max(axis=1, keepdims=True)
        lse = np.log(np.exp(h - shift).sum(axis=1, keepdims=True)) + shift
        return float(np.sum(y * (lse - h))) / h.shape[0]

    def output_delta(self, y: np.ndarray, yhat: np.ndarray, h: np.ndarray, g_o: Activation, out: np.ndarray,
                     tmp: np.ndarray) -> np.ndarray:
        return np.subtract(yhat, y, out=out)


LOSSES = {cls.name: cls for cls in (MSE, BinaryCrossEntropy, CrossEntropy)}


def get(name: str | Loss) -> Loss:
    """Return the loss object for ``name`` (or ``name`` itself if it is one)."""
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str) or name not in LOSSES:
        raise InvalidInputError(f"unknown loss {name!r}; valid names are: {', '.join(LOSSES)}")
    return LOSSES[name]()


def _as2d(a):
    a = np.asarray(a, dtype=float)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def mse(y: np.ndarray, yhat: np.ndarray) -> float:
    """The reference's mean squared error E = 1/(2m) sum_d sum_k (y - yhat)^2 (1-D input: N = 1)."""
    return MSE().value(_as2d(y), _as2d(yhat))


def binary_cross_entropy(y: np.ndarray, h: np.ndarray) -> float:
    """Binary cross-entropy of targets ``y`` and sigmoid pre-activations (logits) ``h``."""
    h = _as2d(h)
    return BinaryCrossEntropy().value(_as2d(y), None, h)


def cross_entropy(y: np.ndarray, h: np.ndarray) -> float:
    """Cross-entropy of one-hot targets ``y`` and softmax pre-activations (logits) ``h``."""
    h = _as2d(h)
    return CrossEntropy().value(_as2d(y), None, h)
