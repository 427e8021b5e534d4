"""Numerical stability: pre-activations up to |h| = 1e4 give finite values and no NumPy warnings.

No ``np.errstate`` anywhere: NumPy's default (warn on overflow, invalid, divide by zero) is in force
and every warning is an error here, so a single overflowing ``exp`` fails the test.
"""

import math
import warnings

import numpy as np
import pytest

import backprop
from backprop import activations, losses

EXTREME = np.array([-1e4, -1e3, -710.0, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 710.0, 1e3, 1e4])
DTYPES = ["float32", "float64"]

# g at the extremes from the definitions (limits taken by hand)
LIMITS = {
    "identity": (-1e4, 1e4), "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1e4),
    "leaky_relu": (-100.0, 1e4), "elu": (-1.0, 1e4), "softplus": (0.0, 1e4), "gelu": (0.0, 1e4),
}
# g' at the extremes
DLIMITS = {
    "identity": (1.0, 1.0), "sigmoid": (0.0, 0.0), "tanh": (0.0, 0.0), "relu": (0.0, 1.0),
    "leaky_relu": (0.01, 1.0), "elu": (0.0, 1.0), "softplus": (0.0, 1.0), "gelu": (0.0, 1.0),
}


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_at_extreme_pre_activations(engine_hidden, dtype):
    g = activations.get(engine_hidden)
    h = np.tile(EXTREME.astype(dtype), (3, 1))
    a = g.forward(h)
    d = g.derivative(h, a)
    d2 = g.derivative(h)  # without the cached output too
    for arr in (a, d, d2):
        assert arr.dtype == np.dtype(dtype) and np.isfinite(arr).all()
    np.testing.assert_allclose(d, d2, rtol=1e-6, atol=1e-30)
    lo, hi = LIMITS[engine_hidden]
    np.testing.assert_allclose(a[:, [0, -1]], [[lo, hi]] * 3, rtol=1e-6, atol=1e-30)
    dlo, dhi = DLIMITS[engine_hidden]
    np.testing.assert_allclose(d[:, [0, -1]], [[dlo, dhi]] * 3, rtol=1e-6, atol=1e-30)
    # in place, with the training loop's buffers
    delta = np.ones_like(h)
    g.backward(h, a, delta, np.empty_like(h))
    np.testing.assert_allclose(delta, d, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_at_extreme_pre_activations(dtype):
    g = activations.get("softmax")
    h = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [710.0, 0.0, -710.0]], dtype=dtype)
    a = g.forward(h)
    assert np.isfinite(a).all() and a.dtype == np.dtype(dtype)
    np.testing.assert_allclose(a, [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0], [1, 0, 0]], atol=1e-6)
    J = g.derivative(h, a)
    assert np.isfinite(J).all()
    delta = np.ones_like(h) * np.array([1.0, -2.0, 3.0], dtype=dtype)
    g.backward(h, a, delta, np.empty_like(h))
    assert np.isfinite(delta).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_at_extreme_logits(dtype):
    h = np.array([[1e4], [-1e4], [1e4], [-1e4], [0.0]], dtype=dtype)
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0]], dtype=dtype)
    yhat = activations.get("sigmoid").forward(h)
    bce = losses.get("binary_cross_entropy")
    # -[y log p + (1-y) log(1-p)] per row: 0, 0, 1e4, 1e4, log 2
    assert bce.value(y, yhat, h) == pytest.approx((2e4 + math.log(2)) / 5, rel=1e-6)
    hs = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype)
    ys = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=dtype)
    ce = losses.get("cross_entropy")
    # row 1: -log softmax_2 = 2e4; row 2: 0.5 * 2e4 + 0.5 * 0
    assert ce.value(ys, activations.get("softmax").forward(hs), hs) == pytest.approx(1.5e4, rel=1e-6)
    assert losses.binary_cross_entropy(y, h) == pytest.approx((2e4 + math.log(2)) / 5, rel=1e-6)
    assert losses.cross_entropy(ys, hs) == pytest.approx(1.5e4, rel=1e-6)
    assert losses.mse(np.zeros(2), np.array([1e4, -1e4])) == pytest.approx(1e8 / 2)
    for lo in (bce, ce, losses.get("mse")):
        out = np.empty_like(h if lo is bce else hs)
        args = (y, yhat, h) if lo is bce else (ys, activations.get("softmax").forward(hs), hs)
        g_o = activations.get("sigmoid" if lo is bce else "softmax")
        lo.output_delta(*args, g_o, out, np.empty_like(out))
        assert np.isfinite(out).all()


def _scale_to_extremes(net, X, target=1e4):
    """Rescale each layer's (W, b) so that its largest |h| over X is exactly ``target``.

    h^k is linear in (W^k, b^k), so scaling both by s scales h^k by s; layers are done in order."""
    for k in range(net.n_layers):
        hk = net.trace(X, np.zeros((X.shape[0], net.sizes[-1])) + _valid_target(net), loss="mse").h[k]
        s = target / np.abs(hk).max()
        net.weights[k] *= s
        net.biases[k] *= s


def _valid_target(net):
    return 1.0 / net.sizes[-1] if net.output == "softmax" else 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_networks_with_huge_pre_activations_stay_finite(oracle, engine_hidden, engine_output_loss, dtype):
    output, loss = engine_output_loss
    rng = np.random.default_rng([oracle.HIDDEN.index(engine_hidden),
                                 oracle.OUTPUT_LOSS_PAIRS.index(engine_output_loss)])
    sizes = [3, 5, 4, 3]
    net = oracle.random_net(rng, sizes, engine_hidden, output, dtype=dtype)
    X = rng.normal(size=(6, 3)) * 10
    _scale_to_extremes(net, X)
    Y = oracle.random_targets(rng, output, loss, 6, sizes[-1])
    Y[:, 0] = 1.0 if output != "softmax" else Y[:, 0]
    tr = net.trace(X, Y, loss=loss)
    for h in tr.h:
        assert np.abs(h).max() == pytest.approx(1e4, rel=1e-3)  # the extremes were really reached
    assert math.isfinite(tr.loss)
    for arr in tr.h + tr.a + tr.delta + tr.grad_weights + tr.grad_biases:
        assert arr.dtype == np.dtype(dtype) and np.isfinite(arr).all()
    assert np.isfinite(net.predict(X)).all()
    assert math.isfinite(net.loss(X, Y, loss))
    if output in ("sigmoid", "softmax", "tanh"):
        assert np.all(np.abs(net.predict(X)) <= 1.0)


def test_divergence_is_reported_not_warned():
    X = np.linspace(-100, 100, 20).reshape(-1, 1)
    net = backprop.Network([1, 1], output="identity", seed=0, dtype="float64")
    with pytest.raises(backprop.DivergenceError) as info:
        net.fit(X, 3 * X, mode="batch", epochs=500, lr=10.0)
    err = info.value
    assert "lr" in str(err) and err.epoch >= 1 and err.step >= 1
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
