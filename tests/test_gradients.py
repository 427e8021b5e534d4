"""Backpropagated gradients (``trace``) against central finite differences, and ``gradcheck``.

The finite differences are the oracle's own: a five-point stencil of a forward pass written from the
textbook formulas, evaluated in extended precision, so the check needs nothing of the engine but
its parameters and its ``trace``.
"""

import numpy as np
import pytest

import backprop
from backprop import activations

TOL = 1e-6
KINK_MARGIN = 0.05  # |h| of kinked units kept this far from 0: perturbations of 2e-4 cannot cross it


def _problem(oracle, rng, hidden, output, loss, depth=None):
    """A random network (random depth/widths, random biases) and data away from ReLU-type kinks."""
    n_hidden = int(rng.integers(1, 4)) if depth is None else depth
    n_out = int(rng.integers(2, 5)) if output == "softmax" else int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 5))] + [int(rng.integers(1, 6)) for _ in range(n_hidden)] + [n_out]
    m = int(rng.integers(1, 7))
    hidden_names = hidden if isinstance(hidden, list) else [hidden] * n_hidden
    for _ in range(200):
        net = oracle.random_net(rng, sizes, hidden_names, output)
        X = rng.normal(size=(m, sizes[0]))
        hs, _ = oracle.forward(net.weights, net.biases, oracle.act_names(net), X)
        if all(np.abs(h).min() > KINK_MARGIN for h, name in zip(hs, hidden_names) if name in oracle.KINKED):
            break
    else:
        pytest.fail("could not draw a problem away from the kinks")
    Y = oracle.random_targets(rng, output, loss, m, n_out)
    return net, X, Y


def _check_against_fd(oracle, net, X, Y, loss):
    acts = oracle.act_names(net)
    tr = net.trace(X, Y, loss=loss)
    fW, fb = oracle.fd_grads(net.weights, net.biases, acts, loss, X, Y)
    errs = [oracle.rel_err(g, n) for g, n in zip(tr.grad_weights + tr.grad_biases, fW + fb)]
    assert max(errs) < TOL, f"{net}: relative errors {errs}"
    # the loss the gradients belong to is the oracle's E as well
    E = oracle.net_loss(net.weights, net.biases, acts, loss, X, Y)
    assert tr.loss == pytest.approx(E, rel=1e-12, abs=1e-15)
    return tr


def test_every_hidden_activation_is_covered(oracle):
    assert set(activations.HIDDEN_ACTIVATIONS) == set(oracle.HIDDEN)
    assert set(backprop.losses.LOSSES) == {loss for _, loss in oracle.OUTPUT_LOSS_PAIRS}


@pytest.mark.parametrize("seed", [0, 1])
def test_trace_gradients_vs_finite_differences(oracle, engine_hidden, engine_output_loss, seed):
    output, loss = engine_output_loss
    rng = np.random.default_rng([seed, oracle.HIDDEN.index(engine_hidden),
                                 oracle.OUTPUT_LOSS_PAIRS.index(engine_output_loss)])
    net, X, Y = _problem(oracle, rng, engine_hidden, output, loss)
    _check_against_fd(oracle, net, X, Y, loss)
    # the users' tool agrees on the same problem
    assert backprop.gradcheck(net, X, Y, loss=loss, max_checks=None).ok()


@pytest.mark.parametrize("output, loss", [("identity", "mse"), ("softmax", "cross_entropy"),
                                          ("sigmoid", "binary_cross_entropy")])
def test_mixed_hidden_activations_and_no_hidden_layer(oracle, output, loss):
    rng = np.random.default_rng(7)
    net, X, Y = _problem(oracle, rng, ["gelu", "relu", "tanh", "elu"], output, loss, depth=4)
    _check_against_fd(oracle, net, X, Y, loss)
    net, X, Y = _problem(oracle, rng, [], output, loss, depth=0)  # a single layer: sizes [L, N]
    assert net.n_layers == 1
    _check_against_fd(oracle, net, X, Y, loss)


def test_trace_deltas_are_the_per_sample_error_terms(oracle):
    rng = np.random.default_rng(3)
    for output, loss in oracle.OUTPUT_LOSS_PAIRS:
        net, X, Y = _problem(oracle, rng, "tanh", output, loss, depth=2)
        tr = net.trace(X, Y, loss=loss)
        deltas, gW, gb = oracle.backward(net.weights, net.biases, oracle.act_names(net), loss, X, Y)
        hs, as_ = oracle.forward(net.weights, net.biases, oracle.act_names(net), X)
        for k in range(net.n_layers):
            np.testing.assert_allclose(tr.h[k], hs[k], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(tr.a[k], as_[k], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(tr.delta[k], deltas[k], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(tr.grad_weights[k], gW[k], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(tr.grad_biases[k], gb[k], rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(tr.x, X)
        # the plain backward oracle (used by other tests) agrees with finite differences too
        fW, fb = oracle.fd_grads(net.weights, net.biases, oracle.act_names(net), loss, X, Y)
        assert max(oracle.rel_err(a, b) for a, b in zip(gW + gb, fW + fb)) < TOL


def test_float32_trace_is_float32_and_close(oracle):
    rng = np.random.default_rng(11)
    net64, X, Y = _problem(oracle, rng, "sigmoid", "sigmoid", "mse", depth=2)
    net32 = backprop.Network(net64.sizes, hidden="sigmoid", output="sigmoid", dtype="float32")
    net32.weights = [w.astype(np.float32) for w in net64.weights]
    net32.biases = [b.astype(np.float32) for b in net64.biases]
    tr32 = net32.trace(X, Y, loss="mse")
    tr64 = net64.trace(X, Y, loss="mse")
    for g32, g64 in zip(tr32.grad_weights + tr32.grad_biases + tr32.a,
                        tr64.grad_weights + tr64.grad_biases + tr64.a):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-6)


def test_the_harness_detects_a_small_gradient_error(oracle):
    """The comparison above can fail: a gradient off by 1e-4 (relative) is caught."""
    rng = np.random.default_rng(5)
    net, X, Y = _problem(oracle, rng, "tanh", "identity", "mse", depth=1)
    tr = net.trace(X, Y, loss="mse")
    fW, _ = oracle.fd_grads(net.weights, net.biases, oracle.act_names(net), "mse", X, Y)
    assert oracle.rel_err(tr.grad_weights[0], fW[0]) < TOL
    assert oracle.rel_err(tr.grad_weights[0] * (1 + 1e-4), fW[0]) > TOL


# -- backprop.gradcheck, the users' tool -------------------------------------------------------
@pytest.mark.parametrize("seed, hidden, output, loss", [
    (0, "sigmoid", "sigmoid", "mse"), (1, "relu", "softmax", "cross_entropy"),
    (2, "gelu", "identity", "mse"), (3, "elu", "sigmoid", "binary_cross_entropy"),
    (4, "softplus", "softmax", "mse"), (5, "relu", "identity", "mse"),
])
def test_gradcheck_passes_for_correct_gradients(oracle, seed, hidden, output, loss):
    rng = np.random.default_rng(seed)
    net, X, Y = _problem(oracle, rng, hidden, output, loss, depth=2)
    res = backprop.gradcheck(net, X, Y, loss=loss, max_checks=None)
    assert len(res.weights) == len(res.biases) == net.n_layers
    assert res.max_error < TOL and res.ok()
    assert "worst relative error" in str(res)


def test_gradcheck_works_on_a_float32_network(oracle):
    rng = np.random.default_rng(2)
    net = oracle.random_net(rng, [3, 5, 2], "tanh", "softmax", dtype="float32")
    X = rng.normal(size=(4, 3))
    Y = rng.dirichlet(np.ones(2), size=4)
    before = [w.copy() for w in net.weights]
    res = backprop.gradcheck(net, X, Y, loss="cross_entropy")
    assert res.ok()
    assert net.dtype == np.float32 and net.weights[0].dtype == np.float32  # the user's net untouched
    for w, b in zip(net.weights, before):
        np.testing.assert_array_equal(w, b)


def _wrong_tanh_backward(self, h, a, delta, tmp):
    delta *= 1.0 - a * a * 0.9  # g' should be 1 - a^2


@pytest.mark.parametrize("where", ["hidden", "output"])
def test_gradcheck_reports_a_wrong_gradient(oracle, monkeypatch, where):
    rng = np.random.default_rng(4)
    hidden, output = ("tanh", "identity") if where == "hidden" else ("sigmoid", "tanh")
    net, X, Y = _problem(oracle, rng, hidden, output, "mse", depth=1)
    assert backprop.gradcheck(net, X, Y, loss="mse").ok()
    monkeypatch.setattr(activations.Tanh, "backward", _wrong_tanh_backward)
    res = backprop.gradcheck(net, X, Y, loss="mse")
    assert res.max_error > 1e-3
    assert not res.ok()
    if where == "output":
        assert res.weights[-1] > 1e-3  # the output layer's own gradient is wrong


def test_gradcheck_accepts_dead_units(oracle):
    """A ReLU unit that never fires has an exactly-zero gradient; finite differences of equal losses
    must not turn that into a failure through rounding."""
    rng = np.random.default_rng(8)
    net = oracle.random_net(rng, [3, 6, 4, 2], "relu", "softmax")
    net.biases[0][:3] = -50.0  # three dead units in the first hidden layer
    X = rng.normal(size=(5, 3))
    Y = rng.dirichlet(np.ones(2), size=5)
    tr = net.trace(X, Y, loss="cross_entropy")
    assert np.all(tr.grad_weights[0][:, :3] == 0) and np.all(tr.grad_weights[1][:3] == 0)
    res = backprop.gradcheck(net, X, Y, loss="cross_entropy", max_checks=None)
    assert res.ok(), str(res)


def test_predict_in_chunks_equals_the_oracle(oracle):
    rng = np.random.default_rng(9)
    net = oracle.random_net(rng, [4, 7, 3], "gelu", "softmax")
    X = rng.normal(size=(5000, 4))  # more rows than one chunk of 4096
    _, as_ = oracle.forward(net.weights, net.biases, oracle.act_names(net), X)
    np.testing.assert_allclose(net.predict(X), as_[-1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.predict(X, chunk=333), as_[-1], rtol=1e-12, atol=1e-15)
