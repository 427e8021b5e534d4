"""numba kernels: whole epochs of a small network in one compiled call (see :mod:`backprop.fast.compiled`),
and Adam's update in one pass (see :mod:`backprop.fast.adam`).

With :mod:`backprop.fast.dense` (the compiled epochs of larger networks, which reuses
:func:`adam_segment`), the only module of the package that imports numba; :mod:`backprop.fast.compiled`
imports it lazily, when a small network starts training. Every function is compiled once per argument types
(float64 or float32 parameters) and kept in numba's on-disk cache (``cache=True``: next to this
file, or in the user's cache directory where this one is not writable, or ``NUMBA_CACHE_DIR``), so
a later process loads it in a fraction of a second. One thread (no ``parallel=True``): no second
thread pool beside the BLAS one. ``error_model="numpy"``: a division follows IEEE arithmetic as
NumPy's does (no zero check, which would also keep LLVM from vectorizing the loop); no ``fastmath``:
every operation is rounded as written, with no fused multiply-add, as NumPy computes it.

The arithmetic is that of the NumPy path (``Network.forward_into``, ``core.losses``,
``core.activations``, ``Network.backward_into``), one sample at a time, in float64 scalars; the
gradient of eq. (1) is summed over the batch and eq. (5) applied once per batch, with the weights
of that batch's forward pass (as eq. (3) has it). Parameters are stored in their own dtype (a
float32 network's are rounded to float32 at each update, as the NumPy path stores them). Sums are
added in another order than BLAS adds them: float64 results agree with the NumPy path to rounding.

Layout (built by ``compiled.Layout``): all parameters in one flat array ``P``, weights[k] row by
row (w_ij^k at ``offw[k] + i n_k + j``) then biases[k] (at ``offb[k] + j``); the per-sample work
arrays ``Hs`` (h), ``As`` (a, with a^0 = x) and ``D`` (delta) hold layer k's n_k values from
``offa[k]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# activation codes (compiled.ACTIVATIONS maps the names)
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
# loss codes (compiled.LOSSES)
MSE, BINARY_CROSS_ENTROPY, CROSS_ENTROPY = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _g(code, alpha, h):
    """a = g(h), elementwise, as core.activations computes it."""
    if code == SIGMOID:
        return math.tanh(h * 0.5) * 0.5 + 0.5  # (1 + tanh(h/2)) / 2: never overflows
    if code == TANH:
        return math.tanh(h)
    if code == RELU:
        return 0.0 if h <= 0.0 else h  # NaN passes through, as in np.maximum
    if code == LEAKY_RELU:
        ah = h * alpha
        return ah if h < ah else h
    return h


@njit(cache=True, error_model="numpy")
def _g_prime(code, alpha, h, a):
    """g'(h), from h or a = g(h) as the activation's ``backward`` does."""
    if code == SIGMOID:
        return (1.0 - a) * a
    if code == TANH:
        return 1.0 - a * a
    if code == RELU:
        return 1.0 if a > 0.0 else 0.0
    if code == LEAKY_RELU:
        return (1.0 if h > 0.0 else 0.0) * (1.0 - alpha) + alpha
    return 1.0


@njit(cache=True, error_model="numpy")
def _logaddexp0(v):
    """log(1 + e^v), as np.logaddexp(0, v)."""
    if v > 0.0:
        return v + math.log1p(math.exp(-v))
    return math.log1p(math.exp(v))


@njit(cache=True, error_model="numpy")
def _forward(P, X, d, sizes, offw, offb, offa, acts, alphas, Hs, As):
    """Step (i) for sample ``d``: h^k = a^{k-1} W^k + b^k (the sum first, then the bias) and
    a^k = g(h^k), except a softmax output's (the loss computes it)."""
    for i in range(sizes[0]):
        As[i] = X[d, i]
    for k in range(sizes.size - 1):
        n_in, n_out = sizes[k], sizes[k + 1]
        ai, ao, w0 = offa[k], offa[k + 1], offw[k]
        for j in range(n_out):
            s = 0.0
            for i in range(n_in):
                s += As[ai + i] * P[w0 + i * n_out + j]
            Hs[ao + j] = s + P[offb[k] + j]
        if acts[k] != SOFTMAX:
            for j in range(n_out):
                As[ao + j] = _g(acts[k], alphas[k], Hs[ao + j])


@njit(cache=True, error_model="numpy")
def _output(Y, d, o, N, code, alpha, loss, Hs, As, D):
    """E of sample ``d`` (the squared error without its 1/2) and the output error terms, eq. (2)."""
    value = 0.0
    if loss == CROSS_ENTROPY:  # softmax output: E = sum_k y_k (logsumexp(h) - h_k); delta = yhat - y
        shift = Hs[o]
        for j in range(1, N):
            if Hs[o + j] > shift:
                shift = Hs[o + j]
        s = 0.0
        for j in range(N):
            As[o + j] = math.exp(Hs[o + j] - shift)
            s += As[o + j]
        lse = math.log(s) + shift
        for j in range(N):
            As[o + j] /= s
            value += Y[d, j] * (lse - Hs[o + j])
            D[o + j] = As[o + j] - Y[d, j]
    elif loss == BINARY_CROSS_ENTROPY:  # sigmoid output: E = log(1 + e^h) - y h; delta = yhat - y
        for j in range(N):
            h = Hs[o + j]
            value += _logaddexp0(h) - Y[d, j] * h
            D[o + j] = As[o + j] - Y[d, j]
    else:  # squared error: delta = (yhat - y) g'_o(h)
        for j in range(N):
            r = As[o + j] - Y[d, j]
            value += r * r
            D[o + j] = r * _g_prime(code, alpha, Hs[o + j], As[o + j])
    return value


@njit(cache=True, error_model="numpy")
def _backward(P, sizes, offw, offb, offa, acts, alphas, G, Hs, As, D):
    """From the output layer back: eq. (1)'s a_i^{k-1} delta_j^k added to ``G`` (summed over the
    batch), and eq. (4), delta_i^{k-1} = g'(h_i^{k-1}) sum_j delta_j^k w_ij^k."""
    for k in range(sizes.size - 2, -1, -1):
        n_in, n_out = sizes[k], sizes[k + 1]
        ai, ao, w0 = offa[k], offa[k + 1], offw[k]
        for i in range(n_in):
            a = As[ai + i]
            row = w0 + i * n_out
            for j in range(n_out):
                G[row + j] += a * D[ao + j]
        for j in range(n_out):
            G[offb[k] + j] += D[ao + j]
        if k > 0:
            for i in range(n_in):
                row = w0 + i * n_out
                s = 0.0
                for j in range(n_out):
                    s += D[ao + j] * P[row + j]
                D[ai + i] = s * _g_prime(acts[k - 1], alphas[k - 1], Hs[ai + i], As[ai + i])


@njit(cache=True, error_model="numpy")
def _step(P, G, n_weights, c, c_l2, t, every, tiny):
    """Eq. (5) on eq. (3)'s mean: w <- w - c (sum of eq. (1)) - c_l2 w (weights only), with c = eta/m
    and c_l2 = eta l2; then, after update ``t`` a multiple of ``every``, subnormals to +0."""
    if c_l2:
        for q in range(n_weights):
            P[q] -= c * G[q] + c_l2 * P[q]
    else:
        for q in range(n_weights):
            P[q] -= c * G[q]
    for q in range(n_weights, P.size):
        P[q] -= c * G[q]
    if every and t % every == 0:
        for q in range(P.size):
            if P[q] != 0.0 and abs(P[q]) < tiny:
                P[q] = 0.0


@njit(cache=True, error_model="numpy")
def sgd_epochs(P, S, X, Y, orders, shuffled, sizes, offw, offb, offa, acts, alphas, loss, B, lr, l2,
               losses, G, Hs, As, D, t0, every, tiny):
    """``losses.size`` whole epochs of constant-rate SGD (eq. (5), with the L2 term ``l2``).

    Epoch e visits the rows in the order ``orders[e]`` (``shuffled``) or their own; each batch of
    ``B`` rows (the last one smaller) sums eq. (1) in ``G``, then every parameter takes one step
    of eq. (5) on eq. (3)'s mean. ``S`` gets the parameters at the start of each epoch, epoch e's
    mean E goes to ``losses[e]``. Returns (epoch reached, position in it, its summed E, status,
    value, updates made): status 0 all done, 2 a batch's E was not finite (value; nothing of that
    batch applied), 3 a parameter was not finite at the end of the epoch.

    Subnormal parameters (0 < |w| < ``tiny``) become +0 after every update whose number (counting
    ``t0`` updates made before this call) is a multiple of ``every`` (0: never), as
    ``fast.denormals.after_update`` does on the other paths."""
    m = X.shape[0]
    L = sizes.size - 1
    o, N = offa[L], sizes[L]
    t = 0
    for e in range(losses.size):
        S[:] = P
        el = 0.0
        pos = 0
        while pos < m:
            end = min(pos + B, m)
            b = end - pos
            G[:] = 0.0
            total = 0.0
            for r in range(pos, end):
                d = orders[e, r] if shuffled else r
                _forward(P, X, d, sizes, offw, offb, offa, acts, alphas, Hs, As)
                total += _output(Y, d, o, N, acts[L - 1], alphas[L - 1], loss, Hs, As, D)
                _backward(P, sizes, offw, offb, offa, acts, alphas, G, Hs, As, D)
            value = total / (2.0 * b) if loss == MSE else total / b
            if not math.isfinite(value):
                return e, pos, el, 2, value, t
            t += 1
            _step(P, G, offb[0], lr / b, l2 * lr, t0 + t, every, tiny)
            el += value * b
            pos = end
        losses[e] = el / m
        for q in range(P.size):
            if not math.isfinite(P[q]):
                return e, m, el, 3, 0.0, t
    return losses.size, 0, 0.0, 0, 0.0, t


@njit(cache=True, error_model="numpy")
def adam_segment(P, G, M, V, b1, b2, c1, c2, eps, lr_t):
    """Adam's moments and step for one flat parameter ``P`` in one pass: per element the operations
    of ``fast.adam.adam_step`` and ``param -= step`` in their order (m <- b1 m + c1 g,
    v <- b2 v + (g g) c2, w <- w - (m / (sqrt(v) + eps)) lr_t, with c1 = 1 - b1, c2 = 1 - b2), so
    the same bits when the scalars are of the arrays' dtype (as NumPy casts Python floats)."""
    for q in range(P.size):
        g = G[q]
        m = M[q] * b1 + g * c1
        v = V[q] * b2 + (g * g) * c2
        M[q] = m
        V[q] = v
        P[q] -= (m / (np.sqrt(v) + eps)) * lr_t
