"""The delta rule, eq. (5), fused into the backward pass: W <- W - (eta/m) a^T delta, in place.

The plain path (``Network.backward_into`` then ``SGD.update``) writes eq. (3)'s gradient to a
buffer and subtracts eta times it. Here eta/m is folded into the small output error term of
eq. (2) once -- every later quantity is linear in it -- and each weight matrix is then changed by
one BLAS call (``blas.gemm_update``, a rank-1 ``blas.ger_update`` for a single sample): two fewer
passes over every weight matrix, and no gradient buffers. The next error term, eq. (4), is
computed before the weights it needs change.

:func:`backprop.train.strategy.choose` is the one place that decides when this path is taken
(plain SGD, BLAS found, the rules allow it, no L2 term, no gradient recording).
:func:`subtract` is the rest of the same strategy where the gradient is not fused: eta already
folded into it, eq. (5) is one subtraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.fast import blas as _blas
from backprop.fast.passes import column_sums, g_prime


def delta_rule_step(x: np.ndarray, y: np.ndarray, buf: Any, weights: Sequence[np.ndarray],
                    biases: Sequence[np.ndarray], activations: Sequence[Any], loss: Any, lr: float) -> None:
    """Backward pass and delta rule of one batch whose forward pass is in ``buf``; ``weights`` and
    ``biases`` are changed in place.

    The error terms left in ``buf.delta`` are those of ``Network.backward_into`` with
    ``scale=lr`` (eta/m folded into delta^o)."""
    L = len(weights)
    m = x.shape[0]
    d = buf.delta[L - 1]
    loss.output_delta(y, buf.a[L - 1], buf.h[L - 1], activations[L - 1], d, buf.tmp[L - 1])  # eq. (2)
    c = lr / m
    if c != 1.0:
        d *= c
    for k in range(L - 1, -1, -1):
        a_prev = x if k == 0 else buf.a[k - 1]
        W, b = weights[k], biases[k]
        if k > 0:
            d_prev = buf.delta[k - 1]
            np.matmul(d, W.T, out=d_prev)  # eq. (4) with this step's (old) weights ...
            g_prime(activations[k - 1], buf.h[k - 1], buf.a[k - 1], d_prev, buf.tmp[k - 1])  # ... * g'_h
        if not (W.flags.writeable and _blas.usable(a_prev, d, W)):
            W -= a_prev.T @ d  # an unusual array (user-assigned): plain NumPy
        elif m == 1:
            _blas.ger_update(a_prev, d, W)  # the (1, n) rows themselves: the same buffers every step
        else:
            _blas.gemm_update(a_prev, d, W)
        if m == 1:
            b -= d.reshape(-1)
        else:
            b -= column_sums(d, buf.gb[k])
        if k > 0:
            d = d_prev


def subtract(param: np.ndarray, scaled_grad: np.ndarray) -> None:
    """Eq. (5) for a gradient that already carries eta (folded into delta^o): w <- w - eta dE/dw."""
    param -= scaled_grad
