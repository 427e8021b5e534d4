"""Activations and losses against independent formulas: the math module element by element,
finite differences of the forward functions, and PyTorch where installed."""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest

from backprop import activations, losses
from backprop.errors import InvalidInputError

# The oracle: g and g' per element from their definitions, in 40-digit decimal arithmetic (stdlib
# ``decimal``), so it has none of the cancellations a float64 formula has in the tails.
getcontext().prec = 40
ONE, HALF = Decimal(1), Decimal("0.5")
GC = Decimal(math.sqrt(2 / math.pi))  # the double constant the tanh-form GELU uses (as torch)
GK = Decimal("0.044715")


def _d_sig(x):
    return ONE / (ONE + (-x).exp())


def _d_tanh(x):
    e = (2 * x).exp()
    return (e - ONE) / (e + ONE)


def _d_gelu_t(x):
    return _d_tanh(GC * (x + GK * x**3))


EXACT = {
    "identity": (lambda x: x, lambda x: ONE),
    "sigmoid": (_d_sig, lambda x: _d_sig(x) * (ONE - _d_sig(x))),
    "tanh": (_d_tanh, lambda x: ONE - _d_tanh(x) ** 2),
    "relu": (lambda x: max(x, Decimal(0)), lambda x: ONE if x > 0 else Decimal(0)),
    "leaky_relu": (lambda x: x if x > 0 else Decimal("0.01") * x,
                   lambda x: ONE if x > 0 else Decimal("0.01")),
    "elu": (lambda x: x if x > 0 else x.exp() - ONE, lambda x: ONE if x > 0 else x.exp()),
    "softplus": (lambda x: (ONE + x.exp()).ln(), _d_sig),
    "gelu": (lambda x: HALF * x * (ONE + _d_gelu_t(x)),
             lambda x: (HALF * (ONE + _d_gelu_t(x))
                        + HALF * x * (ONE - _d_gelu_t(x) ** 2) * GC * (ONE + 3 * GK * x**2))),
}
# Tolerance: 1e-12 relative, or 1e-14 absolute (about 50 ulp of 1): float64 formulas such as
# (1 + tanh(h/2))/2 or expm1(h) + 1 keep absolute, not relative, accuracy where g or g' -> 0.
RTOL, ATOL = 1e-12, 1e-14


def exact(name, h, which):
    f = EXACT[name][which]
    return np.array([float(f(Decimal(float(v)))) for v in np.ravel(h)]).reshape(np.shape(h))


# grid without 0 (the kinks), |x| <= 30
GRID = np.concatenate([-np.geomspace(30, 1e-3, 40), np.geomspace(1e-3, 30, 40)])


def _fd(f, x, eps=1e-4):
    """Five-point central difference of an elementwise function."""
    return (8 * (f(x + eps) - f(x - eps)) - (f(x + 2 * eps) - f(x - 2 * eps))) / (12 * eps)


def test_registry():
    assert set(activations.ACTIVATIONS) == set(EXACT) | {"softmax"}
    assert set(activations.HIDDEN_ACTIVATIONS) == set(EXACT)
    for name in activations.ACTIVATIONS:
        g = activations.get(name)
        assert g.name == name and activations.get(g) is g
        assert g.elementwise == (name != "softmax")


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(InvalidInputError) as info:
        activations.get("swish")
    for name in ["swish"] + list(activations.ACTIVATIONS):
        assert name in str(info.value)


def test_forward_equals_exact_values(engine_hidden):
    g = activations.get(engine_hidden)
    h = GRID.reshape(4, -1).copy()
    h0 = h.copy()
    a = g.forward(h)
    np.testing.assert_array_equal(h, h0)  # the input is not touched
    np.testing.assert_allclose(a, exact(engine_hidden, h, 0), rtol=RTOL, atol=ATOL)
    out = np.empty_like(h)
    assert g.forward(h, out=out) is out
    np.testing.assert_array_equal(out, a)


def test_derivative_equals_exact_values_and_finite_differences(engine_hidden):
    g = activations.get(engine_hidden)
    h = GRID.reshape(4, -1).copy()
    d = g.derivative(h)
    np.testing.assert_allclose(d, exact(engine_hidden, h, 1), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(d, _fd(g.forward, h), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g.derivative(h, g.forward(h)), d, rtol=1e-14, atol=1e-16)  # cached output
    # backward multiplies delta in place, writing nothing else
    delta = np.random.default_rng(0).normal(size=h.shape)
    want = delta * d
    h0 = h.copy()
    a = g.forward(h)
    a0 = a.copy()
    g.backward(h, a, delta, np.empty_like(h))
    np.testing.assert_allclose(delta, want, rtol=1e-13, atol=1e-16)
    np.testing.assert_array_equal(h, h0)
    np.testing.assert_array_equal(a, a0)


def test_float32_in_float32_out(engine_hidden):
    g = activations.get(engine_hidden)
    h = GRID.astype(np.float32).reshape(2, -1)
    a, d = g.forward(h), g.derivative(h)
    assert a.dtype == d.dtype == np.float32
    np.testing.assert_allclose(a, g.forward(h.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d, g.derivative(h.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_gelu_is_the_tanh_approximation_of_x_phi_x():
    g = activations.get("gelu")
    x = np.linspace(-6, 6, 101)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.max(np.abs(g.forward(x) - exact)) < 1e-3


def test_activations_equal_torch(engine_hidden):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ref = {
        "identity": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.01), "elu": lambda t: F.elu(t, 1.0),
        "softplus": lambda t: F.softplus(t, threshold=40.0),  # exact in float64 above 40
        "gelu": lambda t: F.gelu(t, approximate="tanh"),
    }[engine_hidden]
    x = np.concatenate([GRID, [-1e4, -100.0, 100.0, 1e4]])
    t = torch.tensor(x, requires_grad=True)
    a = ref(t)
    a.sum().backward()
    g = activations.get(engine_hidden)
    np.testing.assert_allclose(g.forward(x), a.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(g.derivative(x), t.grad.numpy(), rtol=RTOL, atol=ATOL)


# -- softmax ----------------------------------------------------------------------------------
def test_softmax_forward_equals_math():
    g = activations.get("softmax")
    h = np.random.default_rng(1).normal(size=(5, 4)) * 3
    want = [[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in h]
    np.testing.assert_allclose(g.forward(h), want, rtol=1e-14)
    np.testing.assert_allclose(g.forward(h + 123.0), want, rtol=1e-12)  # shift invariance
    np.testing.assert_allclose(g.forward(h).sum(axis=1), 1.0, rtol=1e-15)


def test_softmax_jacobian_and_backward_vs_finite_differences():
    g = activations.get("softmax")
    rng = np.random.default_rng(2)
    h = rng.normal(size=(3, 4))
    J = g.derivative(h)
    assert J.shape == (3, 4, 4)
    eps = 1e-4
    for d in range(3):
        for j in range(4):
            def f(s, d=d, j=j):
                hh = h[d].copy()
                hh[j] += s
                return g.forward(hh[None])[0]
            col = (8 * (f(eps) - f(-eps)) - (f(2 * eps) - f(-2 * eps))) / (12 * eps)
            np.testing.assert_allclose(J[d, :, j], col, rtol=1e-9, atol=1e-12)  # J[d, k, j] = da_k/dh_j
    delta = rng.normal(size=(3, 4))
    want = np.einsum("dk,dkl->dl", delta, J)  # delta^T J: the chain rule through softmax
    a = g.forward(h)
    g.backward(h, a, delta, np.empty_like(h))
    np.testing.assert_allclose(delta, want, rtol=1e-12, atol=1e-15)


# -- losses -------------------------------------------------------------------------------------
def test_loss_registry_and_unknown_name():
    assert set(losses.LOSSES) == {"mse", "binary_cross_entropy", "cross_entropy"}
    for name in losses.LOSSES:
        lo = losses.get(name)
        assert lo.name == name and losses.get(lo) is lo
    with pytest.raises(InvalidInputError) as info:
        losses.get("hinge")
    for name in ["hinge", "mse", "binary_cross_entropy", "cross_entropy"]:
        assert name in str(info.value)


def test_loss_output_pairs():
    losses.get("mse").check_output("softmax")  # mse fits every output
    losses.get("binary_cross_entropy").check_output("sigmoid")
    losses.get("cross_entropy").check_output("softmax")
    for loss, out in [("binary_cross_entropy", "softmax"), ("binary_cross_entropy", "identity"),
                      ("cross_entropy", "sigmoid"), ("cross_entropy", "tanh")]:
        with pytest.raises(InvalidInputError, match=loss):
            losses.get(loss).check_output(out)


def _math_losses(Y, H, out):
    """E from the definitions, per element with the math module."""
    m = len(Y)
    if out == "softmax":
        P = [[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in H]
    elif out == "sigmoid":
        P = [[1 / (1 + math.exp(-v)) for v in row] for row in H]
    else:
        P = [[v for v in row] for row in H]
    mse = sum((y - p) ** 2 for yr, pr in zip(Y, P) for y, p in zip(yr, pr)) / (2 * m)
    pairs = [(y, p) for yr, pr in zip(Y, P) for y, p in zip(yr, pr)]
    bce = -sum(y * math.log(p) + (1 - y) * math.log(1 - p) for y, p in pairs) / m
    ce = -sum(y * math.log(p) for yr, pr in zip(Y, P) for y, p in zip(yr, pr)) / m
    return np.array(P), mse, bce, ce


def test_loss_values_equal_definitions():
    rng = np.random.default_rng(3)
    H = rng.normal(size=(6, 3)) * 2
    Y = rng.uniform(0, 1, (6, 3))
    P, mse, bce, _ = _math_losses(Y, H, "sigmoid")
    assert losses.get("mse").value(Y, P, H) == pytest.approx(mse, rel=1e-14)
    assert losses.mse(Y, P) == pytest.approx(mse, rel=1e-14)
    assert losses.get("binary_cross_entropy").value(Y, P, H) == pytest.approx(bce, rel=1e-13)
    assert losses.binary_cross_entropy(Y, H) == pytest.approx(bce, rel=1e-13)
    Ys = rng.dirichlet(np.ones(3), size=6)
    P, mse, _, ce = _math_losses(Ys, H, "softmax")
    assert losses.get("cross_entropy").value(Ys, P, H) == pytest.approx(ce, rel=1e-13)
    assert losses.cross_entropy(Ys, H) == pytest.approx(ce, rel=1e-13)
    assert losses.get("mse").value(Ys, P, H) == pytest.approx(mse, rel=1e-14)
    # the reference's single-sample sum of squares, 1/2 sum_k (yhat_k - y_k)^2, and 1-D input
    assert losses.mse([1.0, 2.0], [1.5, 0.0]) == pytest.approx((0.25 + 4.0) / 4)
    assert losses.mse(np.array([[1.0, 2.0]]), np.array([[1.5, 0.0]])) == pytest.approx((0.25 + 4.0) / 2)


@pytest.mark.parametrize("output, loss", [("identity", "mse"), ("sigmoid", "mse"), ("tanh", "mse"),
                                          ("softmax", "mse"), ("gelu", "mse"),
                                          ("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy")])
def test_output_delta_is_m_times_dE_dh(output, loss):
    """delta^o_d = dE_d/dh_d (eq. 2), i.e. m dE/dh for E averaged over m rows (finite differences)."""
    rng = np.random.default_rng(4)
    m, n = 5, 3
    H = rng.normal(size=(m, n))
    Y = rng.dirichlet(np.ones(n), size=m) if output == "softmax" else rng.uniform(0, 1, (m, n))
    g, lo = activations.get(output), losses.get(loss)
    E = lambda Hx: lo.value(Y, g.forward(Hx), Hx)  # noqa: E731
    out = np.empty_like(H)
    lo.output_delta(Y, g.forward(H), H, g, out, np.empty_like(H))
    eps = 1e-4
    num = np.empty_like(H)
    for d in range(m):
        for k in range(n):
            def e(s, d=d, k=k):
                Hx = H.copy()
                Hx[d, k] += s
                return E(Hx)
            num[d, k] = (8 * (e(eps) - e(-eps)) - (e(2 * eps) - e(-2 * eps))) / (12 * eps)
    np.testing.assert_allclose(out, m * num, rtol=1e-8, atol=1e-11)
    if loss != "mse":  # the simplified error term of a matched pair
        np.testing.assert_allclose(out, g.forward(H) - Y, rtol=1e-15)
