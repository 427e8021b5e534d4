"""The reference's worked two-layer example, computed with plain Python loops over i, j, k.

Network L-M-N = 3-4-2, sigmoid hidden and output units, mse. As in the reference the bias is the
weight of a constant input: v[0][j] is v_0j (x_0 = 1) and w[0][k] is w_0k (a_0^h = 1); the engine
keeps these rows apart as ``biases``. Nothing here uses NumPy arithmetic or the engine: lists of
floats and ``math.exp`` only. The engine (float64) must agree to 1e-12.
"""

import math
import random

import numpy as np
import pytest

import backprop

L, M, N = 3, 4, 2
LR = 0.5
TOL = 1e-12


def g(z):
    """Sigmoid, the reference's g_h = g_o."""
    return 1.0 / (1.0 + math.exp(-z))


def g_prime(z):
    """Eq. (9)/(15): g'(z) = g(z)(1 - g(z))."""
    return g(z) * (1.0 - g(z))


def forward(x, v, w):
    """Steps 1-4 of the example for one sample; x has no x_0, it is prepended here."""
    xs = [1.0] + list(x)  # x_0 = 1
    hh = [sum(xs[i] * v[i][j] for i in range(L + 1)) for j in range(M)]  # 1. h_j^h
    ah = [g(hh[j]) for j in range(M)]  # 2. a_j^h
    a0 = [1.0] + ah  # a_0^h = 1 carries the bias w_0k
    ho = [sum(a0[j] * w[j][k] for j in range(M + 1)) for k in range(N)]  # 3. h_k^o
    yhat = [g(ho[k]) for k in range(N)]  # 4. yhat_k
    return xs, hh, ah, a0, ho, yhat


def sample_terms(x, y, v, w):
    """Summary (i)-(ii) and the per-sample gradients behind (iii)-(iv)."""
    xs, hh, ah, a0, ho, yhat = forward(x, v, w)
    delta_o = [(yhat[k] - y[k]) * g_prime(ho[k]) for k in range(N)]  # (i)
    delta_h = [g_prime(hh[j]) * sum(delta_o[k] * w[j + 1][k] for k in range(N))
               for j in range(M)]  # (ii); w[j + 1] is hidden neuron j's row (row 0 is the bias)
    dw = [[delta_o[k] * a0[j] for k in range(N)] for j in range(M + 1)]  # (iii): delta_k^o a_j^h
    dv = [[delta_h[j] * xs[i] for j in range(M)] for i in range(L + 1)]  # (iv): delta_j^h x_i
    err = 0.5 * sum((y[k] - yhat[k]) ** 2 for k in range(N))  # E_d
    return dict(hh=hh, ah=ah, ho=ho, yhat=yhat, delta_o=delta_o, delta_h=delta_h, dw=dw, dv=dv, err=err)


def update(v, w, samples, lr):
    """One update with the gradient averaged over ``samples`` (eq. 3), then the delta rule (eq. 5)."""
    m = len(samples)
    gv = [[0.0] * M for _ in range(L + 1)]
    gw = [[0.0] * N for _ in range(M + 1)]
    for x, y in samples:
        t = sample_terms(x, y, v, w)
        for i in range(L + 1):
            for j in range(M):
                gv[i][j] += t["dv"][i][j] / m
        for j in range(M + 1):
            for k in range(N):
                gw[j][k] += t["dw"][j][k] / m
    v = [[v[i][j] - lr * gv[i][j] for j in range(M)] for i in range(L + 1)]
    w = [[w[j][k] - lr * gw[j][k] for k in range(N)] for j in range(M + 1)]
    return v, w


def make_problem(seed, m):
    r = random.Random(seed)
    v = [[r.uniform(-1, 1) for _ in range(M)] for _ in range(L + 1)]
    w = [[r.uniform(-1, 1) for _ in range(N)] for _ in range(M + 1)]
    X = [[r.uniform(-2, 2) for _ in range(L)] for _ in range(m)]
    Y = [[r.uniform(0, 1) for _ in range(N)] for _ in range(m)]
    return v, w, X, Y


def engine_net(v, w):
    """The engine's network with the same parameters: weights = rows 1.., biases = row 0."""
    net = backprop.Network([L, M, N], hidden="sigmoid", output="sigmoid", dtype="float64", seed=0)
    net.weights[0][...] = v[1:]
    net.biases[0][...] = v[0]
    net.weights[1][...] = w[1:]
    net.biases[1][...] = w[0]
    return net


def assert_params(net, v, w):
    np.testing.assert_allclose(net.biases[0], v[0], rtol=0, atol=TOL)
    np.testing.assert_allclose(net.weights[0], v[1:], rtol=0, atol=TOL)
    np.testing.assert_allclose(net.biases[1], w[0], rtol=0, atol=TOL)
    np.testing.assert_allclose(net.weights[1], w[1:], rtol=0, atol=TOL)


def test_one_online_update_eq_11_18():
    v, w, X, Y = make_problem(1, 1)
    # one sample: (iii) w_jk <- w_jk - eta delta_k^o a_j^h, (iv) v_ij <- v_ij - eta delta_j^h x_i
    t = sample_terms(X[0], Y[0], v, w)
    v1 = [[v[i][j] - LR * t["delta_h"][j] * ([1.0] + X[0])[i] for j in range(M)] for i in range(L + 1)]
    w1 = [[w[j][k] - LR * t["delta_o"][k] * ([1.0] + t["ah"])[j] for k in range(N)] for j in range(M + 1)]
    net = engine_net(v, w)
    hist = net.fit(X, Y, loss="mse", mode="online", epochs=1, lr=LR, shuffle=False)
    assert hist.n_updates == 1
    assert_params(net, v1, w1)
    assert abs(hist.loss[0] - t["err"]) < TOL  # E_d of the sample, before the update
    assert v1 != v and w1 != w  # the update did something


def test_online_epoch_updates_after_every_sample_in_order():
    v, w, X, Y = make_problem(2, 5)
    net = engine_net(v, w)
    hist = net.fit(X, Y, loss="mse", mode="online", epochs=1, lr=LR, shuffle=False)
    assert hist.n_updates == 5
    for x, y in zip(X, Y):
        v, w = update(v, w, [(x, y)], LR)
    assert_params(net, v, w)


def test_one_batch_update_eq_3_and_5():
    v, w, X, Y = make_problem(3, 6)
    E = sum(sample_terms(x, y, v, w)["err"] for x, y in zip(X, Y)) / len(X)
    net = engine_net(v, w)
    hist = net.fit(X, Y, loss="mse", mode="batch", epochs=1, lr=LR, shuffle=False)
    assert hist.n_updates == 1 and hist.updates_per_epoch == 1
    assert abs(hist.loss[0] - E) < TOL
    v, w = update(v, w, list(zip(X, Y)), LR)
    assert_params(net, v, w)


@pytest.mark.parametrize("m, B", [(7, 3), (8, 4), (5, 2)])
def test_one_minibatch_epoch(m, B):
    v, w, X, Y = make_problem(4 + m, m)
    net = engine_net(v, w)
    sizes = []
    hist = net.fit(X, Y, loss="mse", batch_size=B, epochs=1, lr=LR, shuffle=False,
                   on_step=lambda net_, info: sizes.append(info["batch_size"]))
    n_updates = math.ceil(m / B)
    assert hist.n_updates == n_updates == len(sizes)
    expected_sizes = [B] * (m // B) + ([m % B] if m % B else [])
    assert sizes == expected_sizes
    data = list(zip(X, Y))
    for s in range(0, m, B):
        v, w = update(v, w, data[s:s + B], LR)  # the last, smaller batch averaged over its own size
    assert_params(net, v, w)


def test_trace_matches_loops():
    m = 5
    v, w, X, Y = make_problem(5, m)
    net = engine_net(v, w)
    tr = net.trace(X, Y, loss="mse")
    terms = [sample_terms(x, y, v, w) for x, y in zip(X, Y)]
    for d, t in enumerate(terms):
        np.testing.assert_allclose(tr.h[0][d], t["hh"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.a[0][d], t["ah"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.h[1][d], t["ho"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.a[1][d], t["yhat"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.yhat[d], t["yhat"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.delta[1][d], t["delta_o"], rtol=0, atol=TOL)  # (i)
        np.testing.assert_allclose(tr.delta[0][d], t["delta_h"], rtol=0, atol=TOL)  # (ii)
    mean = lambda key, rows, cols: [[sum(t[key][r][c] for t in terms) / m for c in range(cols)]  # noqa: E731
                                    for r in range(rows)]
    gv, gw = mean("dv", L + 1, M), mean("dw", M + 1, N)
    np.testing.assert_allclose(tr.grad_weights[0], gv[1:], rtol=0, atol=TOL)
    np.testing.assert_allclose(tr.grad_biases[0], gv[0], rtol=0, atol=TOL)
    np.testing.assert_allclose(tr.grad_weights[1], gw[1:], rtol=0, atol=TOL)
    np.testing.assert_allclose(tr.grad_biases[1], gw[0], rtol=0, atol=TOL)
    # E = 1/(2m) sum_d sum_k (y - yhat)^2
    E = sum((y[k] - t["yhat"][k]) ** 2 for y, t in zip(Y, terms) for k in range(N)) / (2 * m)
    assert abs(tr.loss - E) < TOL
    assert abs(net.loss(X, Y, "mse") - E) < TOL
    np.testing.assert_allclose(net.predict(X), [t["yhat"] for t in terms], rtol=0, atol=TOL)
    # trace updates nothing
    assert_params(net, v, w)
