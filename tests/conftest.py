"""Shared oracles of the engine tests.

Everything here is written independently of ``backprop``'s own code: activation formulas and losses
as plain NumPy expressions of their textbook definitions, a straightforward (allocating, unoptimised)
forward/backward pass, and central finite differences computed in extended precision
(``np.longdouble``, 64-bit mantissa on x86) so their rounding noise (~1e-15) stays far below the
1e-6 relative tolerance even for gradients of size 1e-8.

Tests get the helpers through the ``oracle`` fixture (a namespace), so no test module imports
another.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

import backprop

GELU_C = math.sqrt(2.0 / math.pi)  # the double constant torch and the engine use
GELU_K = 0.044715

#: (output activation, loss) pairs the engine supports
OUTPUT_LOSS_PAIRS = [
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
]
HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
#: activations with a kink (in g or g') at h = 0: finite differences need |h| away from it
KINKED = {"relu", "leaky_relu", "elu"}


# -- activations: g and g' as plain formulas ---------------------------------------------------
def _sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def act_forward(name, h):
    """a = g(h), textbook formula (fine for moderate |h|; not meant for the stability tests)."""
    if name == "identity":
        return h.copy()
    if name == "sigmoid":
        return _sigmoid(h)
    if name == "tanh":
        return np.tanh(h)
    if name == "relu":
        return np.where(h > 0, h, 0 * h)
    if name == "leaky_relu":
        return np.where(h > 0, h, 0.01 * h)
    if name == "elu":
        return np.where(h > 0, h, np.expm1(np.minimum(h, 0)))
    if name == "softplus":
        return np.log1p(np.exp(h))
    if name == "gelu":
        return 0.5 * h * (1.0 + np.tanh(GELU_C * (h + GELU_K * h**3)))
    if name == "softmax":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise KeyError(name)


def act_derivative(name, h):
    """g'(h) elementwise (softmax excluded: its derivative is a Jacobian)."""
    one = np.ones_like(h)
    if name == "identity":
        return one
    if name == "sigmoid":
        s = _sigmoid(h)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(h) ** 2
    if name == "relu":
        return np.where(h > 0, one, 0 * one)
    if name == "leaky_relu":
        return np.where(h > 0, one, 0.01 * one)
    if name == "elu":
        return np.where(h > 0, one, np.exp(np.minimum(h, 0)))
    if name == "softplus":
        return _sigmoid(h)
    if name == "gelu":
        u = GELU_C * (h + GELU_K * h**3)
        t = np.tanh(u)
        return 0.5 * (1 + t) + 0.5 * h * (1 - t**2) * GELU_C * (1 + 3 * GELU_K * h**2)
    raise KeyError(name)


# -- losses ---------------------------------------------------------------------------------------
def loss_value(loss, Y, yhat, h):
    """E summed over outputs, averaged over the m rows (mse: the reference's 1/(2m))."""
    m = Y.shape[0]
    if loss == "mse":
        return ((Y - yhat) ** 2).sum() / (2 * m)
    if loss == "binary_cross_entropy":
        p = _sigmoid(h)
        return -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum() / m
    if loss == "cross_entropy":
        z = h - h.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -(Y * logp).sum() / m
    raise KeyError(loss)


# -- a plain forward/backward pass ---------------------------------------------------------------
def forward(Ws, bs, acts, X):
    """Lists h, a (one array per layer), h^k = a^{k-1} W^k + b^k."""
    hs, as_ = [], []
    a = X
    for W, b, act in zip(Ws, bs, acts):
        h = a @ W + b
        a = act_forward(act, h)
        hs.append(h)
        as_.append(a)
    return hs, as_


def net_loss(Ws, bs, acts, loss, X, Y):
    hs, as_ = forward(Ws, bs, acts, X)
    return loss_value(loss, Y, as_[-1], hs[-1])


def backward(Ws, bs, acts, loss, X, Y):
    """(deltas, grad_W, grad_b): per-sample error terms (eqs. 2, 4) and mean gradients (eqs. 1, 3)."""
    hs, as_ = forward(Ws, bs, acts, X)
    m = X.shape[0]
    yhat, hL = as_[-1], hs[-1]
    if loss == "mse":
        g = yhat - Y  # dE_d/dyhat
        if acts[-1] == "softmax":
            # delta_l = sum_k g_k J_kl with J_kl = a_k (1[k=l] - a_l)
            d = np.einsum("dk,dkl->dl", g, yhat[:, :, None] * (np.eye(yhat.shape[1]) - yhat[:, None, :]))
        else:
            d = g * act_derivative(acts[-1], hL)
    else:
        d = yhat - Y
    deltas = [None] * len(Ws)
    deltas[-1] = d
    for k in range(len(Ws) - 1, 0, -1):
        deltas[k - 1] = (deltas[k] @ Ws[k].T) * act_derivative(acts[k - 1], hs[k - 1])
    a_prev = [X] + as_[:-1]
    gW = [ap.T @ dk / m for ap, dk in zip(a_prev, deltas)]
    gb = [dk.sum(axis=0) / m for dk in deltas]
    return deltas, gW, gb


def fd_grads(Ws, bs, acts, loss, X, Y, eps=1e-4, extra=None):
    """Five-point central differences of E in extended precision; ``extra(Ws)`` adds a penalty."""
    ld = np.longdouble
    Ws = [np.array(W, dtype=ld) for W in Ws]
    bs = [np.array(b, dtype=ld) for b in bs]
    X, Y = np.asarray(X, dtype=ld), np.asarray(Y, dtype=ld)
    e = ld(eps)

    def E():
        v = net_loss(Ws, bs, acts, loss, X, Y)
        return v + extra(Ws) if extra is not None else v

    out = []
    for group in (Ws, bs):
        grads = []
        for p in group:
            g = np.zeros(p.shape, dtype=ld)
            flat, gflat = p.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                old = flat[i]
                vals = []
                for s in (-2, -1, 1, 2):
                    flat[i] = old + s * e
                    vals.append(E())
                flat[i] = old
                # differences first, so equal losses give exactly 0
                gflat[i] = (8 * (vals[2] - vals[1]) - (vals[3] - vals[0])) / (12 * e)
            grads.append(g.astype(np.float64))
        out.append(grads)
    return out[0], out[1]


def rel_err(g, n, floor=1e-8):
    """max |g - n| / max(|g| + |n|, floor): relative, but absolute for gradients below ``floor``."""
    g, n = np.asarray(g, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if g.size == 0:
        return 0.0
    return float(np.max(np.abs(g - n) / np.maximum(np.abs(g) + np.abs(n), floor)))


# -- optimizers: scikit-learn's update formulas ---------------------------------------------------
def sklearn_updates(name, grads, state, lr, *, momentum=0.9, b1=0.9, b2=0.999, eps=1e-8):
    """scikit-learn's SGDOptimizer/AdamOptimizer._get_updates, transcribed: returns the additive updates."""
    if name in ("momentum", "nesterov"):
        vel = state.setdefault("v", [np.zeros_like(g) for g in grads])
        upd = [momentum * v - lr * g for v, g in zip(vel, grads)]
        state["v"] = upd
        if name == "nesterov":
            upd = [momentum * v - lr * g for v, g in zip(state["v"], grads)]
        return upd
    if name == "adam":
        t = state["t"] = state.get("t", 0) + 1
        ms = state.setdefault("m", [np.zeros_like(g) for g in grads])
        vs = state.setdefault("vv", [np.zeros_like(g) for g in grads])
        state["m"] = ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, grads)]
        state["vv"] = vs = [b2 * v + (1 - b2) * g**2 for v, g in zip(vs, grads)]
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        return [-lr_t * m / (np.sqrt(v) + eps) for m, v in zip(ms, vs)]
    assert name == "sgd"
    return [-lr * g for g in grads]


# -- random problems ---------------------------------------------------------------------------
def random_targets(rng, output, loss, m, n):
    if output == "softmax":
        return rng.dirichlet(np.ones(n), size=m)  # probability rows
    if output == "sigmoid":
        Y = rng.uniform(0, 1, (m, n))
        Y[: m // 2] = np.round(Y[: m // 2])  # some hard 0/1 targets too
        return Y
    if output == "tanh":
        return rng.uniform(-1, 1, (m, n))
    return rng.normal(size=(m, n))


def random_net(rng, sizes, hidden, output, *, dtype="float64", bias_scale=0.5, weight_scale=1.0):
    """A Network with random weights and random (non-zero) biases."""
    net = backprop.Network(sizes, hidden=hidden, output=output, seed=int(rng.integers(1 << 31)),
                           dtype=dtype)
    for k in range(net.n_layers):
        net.weights[k][...] = rng.normal(0, weight_scale / math.sqrt(sizes[k]), net.weights[k].shape)
        net.biases[k][...] = rng.normal(0, bias_scale, net.biases[k].shape)
    return net


def params(net):
    return [w.copy() for w in net.weights], [b.copy() for b in net.biases]


def act_names(net):
    return [a.name for a in net.activations]


@pytest.fixture
def oracle():
    return types.SimpleNamespace(
        act_forward=act_forward, act_derivative=act_derivative, loss_value=loss_value,
        forward=forward, net_loss=net_loss, backward=backward, fd_grads=fd_grads, rel_err=rel_err,
        random_targets=random_targets, sklearn_updates=sklearn_updates, random_net=random_net,
        params=params, act_names=act_names,
        OUTPUT_LOSS_PAIRS=OUTPUT_LOSS_PAIRS, HIDDEN=HIDDEN, KINKED=KINKED,
    )


def pytest_generate_tests(metafunc):
    """``engine_hidden`` runs a test for every hidden activation, ``engine_output_loss`` for every
    compatible (output activation, loss) pair."""
    if "engine_hidden" in metafunc.fixturenames:
        metafunc.parametrize("engine_hidden", HIDDEN)
    if "engine_output_loss" in metafunc.fixturenames:
        metafunc.parametrize("engine_output_loss", OUTPUT_LOSS_PAIRS,
                             ids=[f"{o}-{loss}" for o, loss in OUTPUT_LOSS_PAIRS])


@pytest.fixture(autouse=True)
def _numba_as_in_a_fresh_process(monkeypatch):
    """Whether a run takes a compiled path depends on whether numba already runs in the process
    (``fast.compiled.running``); every test starts as a fresh process would, so none depends on
    which tests ran before it in the same worker."""
    from backprop.fast import compiled

    monkeypatch.setattr(compiled, "_kernels", None)
