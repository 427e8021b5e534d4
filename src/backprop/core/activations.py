"""Activation functions g and their derivatives g', side by side.

Each activation computes ``a = g(h)`` and, for the backward pass, multiplies an incoming
error signal by ``g'(h)`` in place -- the factor ``g'_o(h_i^m)`` of eq. (2) and ``g'_h(h_j^h)`` of
eq. (4). Where the derivative is cheaper from the cached output ``a`` (sigmoid, tanh, relu, elu)
it is computed from ``a``. Every formula is written so that ``|h|`` up to 1e4 neither overflows
nor warns.

``derivative(h, a)`` returns ``g'(h)`` as a new array (for traces, explanations and tests);
``backward(h, a, delta, tmp)`` does ``delta *= g'(h)`` without allocating (``tmp`` is scratch
space of ``delta``'s shape), which is what the training loop calls.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from backprop.errors import InvalidInputError


class Activation:
    """An activation function g with its derivative g'."""

    name = ""
    #: Which initialisation suits it: "xavier" (Glorot) for saturating, "he" for ReLU-like.
    init = "xavier"
    #: False only for softmax, whose derivative is a Jacobian, not a per-unit factor.
    elementwise = True

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``a = g(h)``, written into ``out`` when given."""
        raise NotImplementedError

    def derivative(self, h: np.ndarray, a: np.ndarray | None = None) -> np.ndarray:
        """Return ``g'(h)`` as a new array; ``a = g(h)`` is reused when passed."""
        if a is None:
            a = self.forward(h)
        d = np.ones_like(h)
        self.backward(h, a, d, np.empty_like(h))
        return d

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        """In place: ``delta *= g'(h)`` (eqs. 2 and 4). ``tmp`` is scratch of the same shape."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class Identity(Activation):
    name = "identity"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return h.copy()
        np.copyto(out, h)
        return out

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        pass  # g' = 1


class Sigmoid(Activation):
    """g(h) = 1 / (1 + e^-h);  g'(h) = g(h) (1 - g(h)), eq. (9)/(15)."""

    name = "sigmoid"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        # 1/(1+e^-h) == (1 + tanh(h/2)) / 2, which never overflows for any h.
        out = np.multiply(h, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.subtract(1.0, a, out=tmp)
        tmp *= a
        delta *= tmp


class Tanh(Activation):
    """g(h) = tanh(h);  g'(h) = 1 - g(h)^2."""

    name = "tanh"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.tanh(h, out=out)

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        delta *= tmp


class ReLU(Activation):
    """g(h) = max(h, 0);  g'(h) = 1 for h > 0, else 0."""

    name = "relu"
    init = "he"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.maximum(h, _zero_for(h), out=out)

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(a, 0.0, out=tmp)  # a > 0 exactly where h > 0; writes 1.0/0.0 (or True/False)
        delta *= tmp


class LeakyReLU(Activation):
    """g(h) = h for h > 0, else alpha h;  g'(h) = 1 or alpha."""

    name = "leaky_relu"
    init = "he"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = float(alpha)

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.multiply(h, self.alpha, out=out)
        return np.maximum(h, out, out=out)  # valid because 0 <= alpha < 1

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(h, 0.0, out=tmp)
        tmp *= 1.0 - self.alpha
        tmp += self.alpha
        delta *= tmp


class ELU(Activation):
    """g(h) = h for h > 0, else alpha (e^h - 1);  g'(h) = 1, else g(h) + alpha."""

    name = "elu"
    init = "he"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.minimum(h, 0.0, out=out)  # e^h only of the non-positive part: no overflow
        np.expm1(out, out=out)
        out *= self.alpha
        np.copyto(out, h, where=h > 0)
        return out

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.add(a, self.alpha, out=tmp)
        np.copyto(tmp, 1.0, where=h > 0)
        delta *= tmp


class Softplus(Activation):
    """g(h) = log(1 + e^h);  g'(h) = sigmoid(h)."""

    name = "softplus"
    init = "he"

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.logaddexp(0.0, h, out=out)

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        _SIGMOID.forward(h, out=tmp)
        delta *= tmp


class GELU(Activation):
    """Gaussian error linear unit, tanh form (as ``torch.nn.GELU(approximate="tanh")``).

    g(h) = h/2 (1 + tanh(u)),  u = c (h + 0.044715 h^3),  c = sqrt(2/pi);
    g'(h) = (1 + tanh u)/2 + h/2 (1 - tanh^2 u) c (1 + 3 * 0.044715 h^2).
    """

    name = "gelu"
    init = "he"
    _C = math.sqrt(2.0 / math.pi)
    _K = 0.044715

    def _tanh_u(self, h, out):
        np.multiply(h, h, out=out)
        out *= self._K
        out += 1.0
        out *= h
        out *= self._C
        return np.tanh(out, out=out)

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = self._tanh_u(h, np.empty_like(h) if out is None else out)
        out += 1.0
        out *= h
        out *= 0.5
        return out

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        # Not from a: the tanh term cannot be recovered from g(h) cheaply.
        t = self._tanh_u(h, tmp)
        sech2 = 1.0 - t * t
        poly = self._C * (1.0 + 3.0 * self._K * h * h)
        np.add(t, 1.0, out=tmp)
        tmp *= 0.5
        tmp += 0.5 * h * sech2 * poly
        delta *= tmp


class Softmax(Activation):
    """g(h)_k = e^{h_k} / sum_l e^{h_l}, for the output layer.

    Its derivative is a Jacobian, J_kl = a_k (1[k=l] - a_l), so ``backward`` multiplies by J^T:
    ``delta <- a * (delta - sum_l delta_l a_l)``. With cross-entropy the loss module uses the
    simplified error term ``a - y`` instead.
    """

    name = "softmax"
    elementwise = False

    def forward(self, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        shift = h.max(axis=-1, keepdims=True)  # e^{h - max} <= 1: no overflow
        out = np.subtract(h, shift, out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    def derivative(self, h: np.ndarray, a: np.ndarray | None = None) -> np.ndarray:
        """The Jacobian per sample, shape ``(m, N, N)``: ``J[d, k, l] = da_k / dh_l``."""
        if a is None:
            a = self.forward(h)
        eye = np.eye(a.shape[-1], dtype=a.dtype)
        return a[..., :, None] * (eye - a[..., None, :])

    def backward(self, h: np.ndarray, a: np.ndarray, delta: np.ndarray, tmp: np.ndarray) -> None:
        np.multiply(delta, a, out=tmp)
        s = tmp.sum(axis=-1, keepdims=True)
        delta -= s
        delta *= a


_SIGMOID = Sigmoid()

ACTIVATIONS = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, GELU, Softmax)
}
#: Names a hidden layer may use (softmax couples the units of a layer and is for outputs only).
HIDDEN_ACTIVATIONS = tuple(n for n in ACTIVATIONS if n != "softmax")


def get(name: str | Activation, *, where: str = "activation") -> Activation:
    """Return a new activation object for ``name`` (or ``name`` itself if it is one)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise InvalidInputError(
            f"unknown {where} {name!r}; valid names are: {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]()


def _zero_for(h):
    """The 0 of max(h, 0). For float32 arrays a broadcast row of zeros: NumPy runs maximum of two
    arrays in its vector loop, twice as fast in cache as against the scalar 0 (the same bits).
    For float64 the row measured slower out of cache, so the scalar stays."""
    if isinstance(h, np.ndarray) and h.dtype == np.float32 and h.ndim:
        return _zeros(h.shape[-1], h.dtype)
    return 0.0


@functools.lru_cache(maxsize=32)
def _zeros(n, dtype):
    z = np.zeros(n, dtype)
    z.setflags(write=False)
    return z
