"""Check backpropagation against central finite differences: a tool for users, not only tests."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from backprop.core import losses as _losses
from backprop.model.network import Network


@dataclasses.dataclass
class GradcheckResult:
    """Worst relative error per layer between backprop's and the numerical gradient."""

    weights: list  # one float per layer
    biases: list

    @property
    def max_error(self) -> float:
        return max(self.weights + self.biases)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error < tol

    def __str__(self) -> str:
        rows = [f"layer {k}: weights {w:.2e}  biases {b:.2e}"
                for k, (w, b) in enumerate(zip(self.weights, self.biases))]
        return "\n".join(rows + [f"worst relative error: {self.max_error:.2e}"])


def gradcheck(net: Network, X: ArrayLike, Y: ArrayLike, loss: str | _losses.Loss = "mse", *,
              eps: float = 1e-4, max_checks: int = 200, seed: int = 0) -> GradcheckResult:
    """Compare ``net.trace`` gradients with central finite differences of E.

    The five-point stencil (E(w-2e) - 8E(w-e) + 8E(w+e) - E(w+2e)) / 12e has a truncation error of
    order e^4, so a larger step e = 1e-4 keeps rounding noise near 1e-12 as well.

    The check runs on a float64 copy of ``net``. Per layer at most ``max_checks`` weights (chosen
    at random with ``seed``) and biases are perturbed; pass ``max_checks=None`` for all of them.
    The relative error of a pair is |g - n| / max(|g| + |n|, floor) with floor = max(1e-8, 1e-3 |E|):
    a float64 difference quotient of E carries rounding noise up to about 1e-10 |E| (measured: 4e-11),
    so gradients below the floor are compared absolutely, since no finite difference resolves them
    better (an exactly-zero gradient of a dead unit would otherwise fail on noise alone).
    """
    net64 = net.copy()
    net64.dtype = np.dtype(np.float64)
    net64.weights = [w.astype(np.float64) for w in net.weights]
    net64.biases = [b.astype(np.float64) for b in net.biases]
    tr = net64.trace(X, Y, loss=loss)
    rng = np.random.default_rng(seed)
    X64 = tr.x
    Y64 = np.asarray(Y, dtype=np.float64)
    floor = max(1e-8, 1e-3 * abs(tr.loss))

    def error(params, grads):
        worst = []
        for p, g in zip(params, grads):
            flat, gflat = p.reshape(-1), g.reshape(-1)
            idx = np.arange(flat.size)
            if max_checks is not None and flat.size > max_checks:
                idx = rng.choice(flat.size, max_checks, replace=False)
            err = 0.0
            for i in idx:
                old = flat[i]
                e = []
                for step in (-2, -1, 1, 2):
                    flat[i] = old + step * eps
                    e.append(net64.loss(X64, Y64, loss))
                flat[i] = old
                # differences first: equal losses (a dead unit) give exactly 0, not rounding of 7E
                num = (8 * (e[2] - e[1]) - (e[3] - e[0])) / (12 * eps)
                err = max(err, abs(gflat[i] - num) / max(abs(gflat[i]) + abs(num), floor))
            worst.append(err)
        return worst

    return GradcheckResult(error(net64.weights, tr.grad_weights), error(net64.biases, tr.grad_biases))
