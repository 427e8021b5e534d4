"""The reference, equation by equation: backpropagation as the textbook writes it.

Each function is one equation of the project's reference (docs/reference.md), in its notation, on
NumPy arrays whose rows are samples (``a[d]`` is sample d's activation vector). Nothing here is
tuned: no buffers, nothing folded, eta written out in the delta rule. It is the path to read next
to the reference, and the oracle the fast path (:class:`backprop.model.network.Network` with
:mod:`backprop.fast`) is tested equal to, in float64.

One update of the general algorithm: (i) :func:`forward_pass`, (ii) :func:`backward_pass`,
(iii) :func:`batch_gradient` (eq. 3), (iv) :func:`delta_rule` (eq. 5); :func:`sgd_update` does
all four.
"""

from __future__ import annotations

import numpy as np

from backprop.core.activations import Activation
from backprop.core.losses import Loss

Arrays = list[np.ndarray]


def affine(a_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Forward pass, steps 1 and 3: h_j^k = sum_i w_ij^k a_i^{k-1} + w_0j^k (with x_0 = 1)."""
    return a_prev @ W + b


def activation(g: Activation, h: np.ndarray) -> np.ndarray:
    """Forward pass, steps 2 and 4: a_j^k = g(h_j^k)."""
    return g.forward(h.copy())


def mse(y: np.ndarray, yhat: np.ndarray) -> float:
    """E = 1/(2m) sum_d sum_k (y_k - yhat_k)^2: the reference's error function."""
    return float(np.sum((y - yhat) ** 2)) / (2 * y.shape[0])


def output_delta(g_o: Activation, h_o: np.ndarray, yhat: np.ndarray, y: np.ndarray,
                 loss: Loss | str = "mse") -> np.ndarray:
    """Eq. (2): delta_k^o = g'_o(h_k^o) (yhat_k - y_k).

    For cross-entropy with its own output (sigmoid, softmax) g'_o cancels and delta^o = yhat - y.
    A softmax output under the MSE multiplies by its Jacobian: delta^o = J^T (yhat - y)."""
    name = loss if isinstance(loss, str) else loss.name
    if name in ("binary_cross_entropy", "cross_entropy"):
        return yhat - y
    if g_o.elementwise:
        return g_o.derivative(h_o, yhat) * (yhat - y)
    J = g_o.derivative(h_o, yhat)  # (m, N, N): J[d, k, l] = d yhat_k / d h_l
    return np.einsum("dkl,dk->dl", J, yhat - y)


def hidden_delta(g_h: Activation, h: np.ndarray, a: np.ndarray, delta_next: np.ndarray,
                 W_next: np.ndarray) -> np.ndarray:
    """Eq. (4): delta_j^h = g'_h(h_j^h) sum_k delta_k^{h+1} w_jk^{h+1}."""
    return g_h.derivative(h, a) * (delta_next @ W_next.T)


def sample_gradient(a_prev_d: np.ndarray, delta_d: np.ndarray) -> np.ndarray:
    """Eq. (1) for one sample d: dE_d/dw_ij^k = delta_j^k a_i^{k-1} (an outer product)."""
    return np.outer(a_prev_d, delta_d)


def gradient_sum(a_prev: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Eq. (1) summed over the batch's samples: sum_d delta_j^k a_i^{k-1}, before eq. (3)'s 1/m.

    A sum over rows: partial sums over any split of the rows add up to it (data parallelism)."""
    return a_prev.T @ delta


def batch_gradient(a_prev: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Eq. (3): dE/dw_ij^k = 1/m sum_d dE_d/dw_ij^k."""
    return gradient_sum(a_prev, delta) / a_prev.shape[0]


def l1_subgradient(w: np.ndarray, l1: float) -> np.ndarray:
    """What an L1 penalty l1 sum |w| adds to eq. (3)'s gradient of a weight matrix: l1 sign(w).

    |w| has no derivative at 0; sign(0) = 0 is the subgradient taken there. Weights only: the
    biases carry no penalty (as with l2)."""
    return l1 * np.sign(w)


def delta_rule(w: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """Eq. (5): w <- w - eta dE/dw (a new array)."""
    return w - lr * grad


def forward_pass(weights: Arrays, biases: Arrays, acts: list[Activation], x: np.ndarray
                 ) -> tuple[Arrays, Arrays]:
    """(i) The forward pass: h^k and a^k of every layer, input to output."""
    h, a = [], []
    a_prev = x
    for W, b, g in zip(weights, biases, acts):
        h.append(affine(a_prev, W, b))
        a.append(activation(g, h[-1]))
        a_prev = a[-1]
    return h, a


def backward_pass(weights: Arrays, acts: list[Activation], h: Arrays, a: Arrays, y: np.ndarray,
                  loss: Loss | str = "mse") -> Arrays:
    """(ii) The backward pass: delta^o by eq. (2), then each hidden layer's delta by eq. (4)."""
    L = len(weights)
    delta = [np.empty(0)] * L
    delta[L - 1] = output_delta(acts[L - 1], h[L - 1], a[L - 1], y, loss)
    for k in range(L - 2, -1, -1):
        delta[k] = hidden_delta(acts[k], h[k], a[k], delta[k + 1], weights[k + 1])
    return delta


def gradients(x: np.ndarray, a: Arrays, delta: Arrays) -> tuple[Arrays, Arrays]:
    """(iii) Eq. (3) for every layer: the weights' gradients and the biases' (a_0 = x_0 = 1)."""
    inputs = [x] + a[:-1]
    grad_w = [batch_gradient(a_prev, d) for a_prev, d in zip(inputs, delta)]
    grad_b = [d.mean(axis=0) for d in delta]
    return grad_w, grad_b


def sgd_update(weights: Arrays, biases: Arrays, acts: list[Activation], x: np.ndarray, y: np.ndarray,
               lr: float, loss: Loss | str = "mse", l1: float = 0.0) -> tuple[Arrays, Arrays]:
    """One update of the general algorithm, (i)-(iv): new weights and biases by the delta rule
    (with ``l1``: on the gradient of E + l1 sum |w|, :func:`l1_subgradient`)."""
    h, a = forward_pass(weights, biases, acts, x)
    delta = backward_pass(weights, acts, h, a, y, loss)
    grad_w, grad_b = gradients(x, a, delta)
    if l1:
        grad_w = [g + l1_subgradient(W, l1) for W, g in zip(weights, grad_w)]
    return ([delta_rule(W, g, lr) for W, g in zip(weights, grad_w)],
            [delta_rule(b, g, lr) for b, g in zip(biases, grad_b)])
