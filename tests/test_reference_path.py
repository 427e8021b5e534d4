"""backprop.core.reference: the readable path, one function per equation.

It is checked against the independent oracle of conftest.py (plain NumPy formulas), and the fast
path -- Network.trace, Network.gradient_sum and the fused delta rule of the training loop -- is
checked equal to it in float64. Tolerances: a few ulps per accumulated product, relative to the
size of the quantities compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import backprop
from backprop.core import reference as ref

EPS = np.finfo(np.float64).eps


def _problem(oracle, hidden, output, loss, sizes=(4, 6, 5, 3), m=9, seed=0):
    rng = np.random.default_rng(seed)
    sizes = list(sizes)
    if output == "softmax" and sizes[-1] < 2:
        sizes[-1] = 2
    net = oracle.random_net(rng, sizes, hidden, output)
    X = rng.normal(size=(m, sizes[0]))
    Y = oracle.random_targets(rng, output, loss, m, sizes[-1])
    return net, X, Y


def _close(a, b, n_terms):
    """Equal to the rounding of sums of n_terms products, relative to the arrays' size."""
    scale = max(1.0, float(np.abs(b).max()))
    assert_allclose(a, b, rtol=0, atol=8 * n_terms * EPS * scale)


def test_reference_backward_matches_the_independent_oracle(oracle, engine_hidden, engine_output_loss):
    output, loss = engine_output_loss
    net, X, Y = _problem(oracle, engine_hidden, output, loss)
    h, a = ref.forward_pass(net.weights, net.biases, net.activations, X)
    delta = ref.backward_pass(net.weights, net.activations, h, a, Y, loss)
    gw, gb = ref.gradients(X, a, delta)
    Ws, bs = oracle.params(net)
    want_d, want_w, want_b = oracle.backward(Ws, bs, oracle.act_names(net), loss, X, Y)
    width = max(net.sizes)
    for g, w in zip(delta + gw + gb, want_d + want_w + want_b):
        _close(g, w, width * X.shape[0])


def test_fast_trace_equals_the_reference_path(oracle, engine_hidden, engine_output_loss):
    output, loss = engine_output_loss
    net, X, Y = _problem(oracle, engine_hidden, output, loss, seed=1)
    t = net.trace(X, Y, loss=loss)
    h, a = ref.forward_pass(net.weights, net.biases, net.activations, X)
    delta = ref.backward_pass(net.weights, net.activations, h, a, Y, loss)
    gw, gb = ref.gradients(X, a, delta)
    n = max(net.sizes) * X.shape[0]
    for got, want in zip(t.h + t.a + t.delta + t.grad_weights + t.grad_biases, h + a + delta + gw + gb):
        _close(got, want, n)
    if loss == "mse":
        assert t.loss == pytest.approx(ref.mse(Y, a[-1]), rel=16 * n * EPS)


def test_gradient_sum_is_eq1_summed_and_splits_over_rows(oracle, engine_output_loss):
    output, loss = engine_output_loss
    net, X, Y = _problem(oracle, "tanh", output, loss, m=11, seed=2)
    gw, gb, loss_sum = net.gradient_sum(X, Y, loss=loss)
    h, a = ref.forward_pass(net.weights, net.biases, net.activations, X)
    delta = ref.backward_pass(net.weights, net.activations, h, a, Y, loss)
    inputs = [X] + a[:-1]
    n = max(net.sizes) * X.shape[0]
    for k in range(net.n_layers):  # eq. (1) sample by sample, summed in a loop
        want = sum(ref.sample_gradient(inputs[k][d], delta[k][d]) for d in range(X.shape[0]))
        _close(gw[k], want, n)
        _close(gb[k], delta[k].sum(axis=0), n)
    assert loss_sum == pytest.approx(net.loss(X, Y, loss=loss) * X.shape[0], rel=16 * n * EPS)
    parts = [net.gradient_sum(X[s], Y[s], loss=loss) for s in (slice(0, 4), slice(4, 5), slice(5, 11))]
    for k in range(net.n_layers):
        _close(sum(p[0][k] for p in parts), gw[k], n)
        _close(sum(p[1][k] for p in parts), gb[k], n)
    assert sum(p[2] for p in parts) == pytest.approx(loss_sum, rel=16 * n * EPS)


@pytest.mark.parametrize("m,batch_size", [(1, 1), (7, 7), (12, 5)])
def test_fused_delta_rule_equals_the_reference_update(oracle, engine_output_loss, m, batch_size):
    """Plain SGD is fused into the backward pass (eta folded into delta^o, one BLAS call per
    matrix); one epoch of it equals the reference's (i)-(iv) with eta explicit, batch by batch."""
    output, loss = engine_output_loss
    net, X, Y = _problem(oracle, "sigmoid", output, loss, m=m, seed=3)
    lr = 0.3
    Ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    for s in range(0, m, batch_size):
        Ws, bs = ref.sgd_update(Ws, bs, net.activations, X[s:s + batch_size], Y[s:s + batch_size], lr, loss)
    net.fit(X, Y, loss=loss, epochs=1, lr=lr, batch_size=batch_size, shuffle=False)
    n = max(net.sizes) * batch_size * (-(-m // batch_size))
    for got, want in zip(net.weights + net.biases, Ws + bs):
        _close(got, want, n)


def test_delta_rule_has_eta_explicit():
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    assert_allclose(ref.delta_rule(w, g, 0.1), [1.0 - 0.05, -2.0 - 0.025])


def test_the_worked_example_by_the_reference_functions():
    """The reference's two-layer example, eqs. (6)-(18): 2-3-1 sigmoid network, one online update,
    by the reference path and by Trainer.step, against a plain-float computation."""
    import math

    net = backprop.Network([2, 3, 1], hidden="sigmoid", output="sigmoid", dtype="float64", seed=0)
    x, y, lr = np.array([[0.05, 0.1]]), np.array([[1.0]]), 0.5
    V, v0, W, w0 = net.weights[0].copy(), net.biases[0].copy(), net.weights[1].copy(), net.biases[1].copy()
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    h_h = [v0[j] + sum(V[i, j] * x[0, i] for i in range(2)) for j in range(3)]
    a_h = [sig(t) for t in h_h]
    h_o = w0[0] + sum(W[j, 0] * a_h[j] for j in range(3))
    a_o = sig(h_o)
    d_o = a_o * (1 - a_o) * (a_o - y[0, 0])                          # (i) eq. (2)
    d_h = [a_h[j] * (1 - a_h[j]) * d_o * W[j, 0] for j in range(3)]   # (ii) eq. (4)
    new_W = [W[j, 0] - lr * d_o * a_h[j] for j in range(3)]           # (iii) eq. (1), (5)
    new_V = [[V[i, j] - lr * d_h[j] * x[0, i] for j in range(3)] for i in range(2)]
    Ws, bs = ref.sgd_update(net.weights, net.biases, net.activations, x, y, lr)
    assert_allclose(Ws[1][:, 0], new_W, rtol=1e-14)
    assert_allclose(Ws[0], new_V, rtol=1e-14)
    t = backprop.Trainer(net, loss="mse", lr=lr, epochs=1, mode="online")
    t.start(x, y)
    step = t.step(trace=True)
    assert_allclose(step.trace.delta[1][0, 0], d_o, rtol=1e-14)
    assert_allclose(step.trace.delta[0][0], d_h, rtol=1e-14)
    assert_allclose(step.weights_after[1][:, 0], new_W, rtol=1e-14)
    assert_allclose(step.weights_after[0], new_V, rtol=1e-14)
