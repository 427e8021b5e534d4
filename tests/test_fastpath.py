"""The speed paths give the results of the plain NumPy path.

* ``backprop.fast.tiny``: tiny networks trained online run as generated straight-line Python.
* ``backprop.fast.fused.delta_rule_step``: the delta rule fused into the backward pass (BLAS
  xGEMM/xGER on NumPy's own OpenBLAS, or the NumPy fallback where that library is not found).

Oracles: the NumPy path of the engine itself (``_tiny.ENABLED = False``; ``backward_into`` followed
by ``param -= grad``), checked in turn against plain-Python loops and finite differences by the other
engine tests; and, for XOR, a plain-Python loop written here from the reference's equations.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import backprop
from backprop.core import losses
from backprop.errors import DivergenceError
from backprop.fast import blas as _blas
from backprop.fast import compiled as _compiled
from backprop.fast import fused as _fused
from backprop.fast import tiny as _tiny
from backprop.train.trainer import Trainer


@pytest.fixture(autouse=True)
def _no_compiled_epochs(monkeypatch):
    """These tests are about the generated-Python path: the compiled epochs (tests/test_compiled.py,
    taken first where numba is installed) are switched off."""
    monkeypatch.setattr(_compiled, "ENABLED", False)


CASES = [  # sizes, hidden, output, loss
    ([2, 4, 1], "sigmoid", "sigmoid", "mse"),
    ([2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([3, 5, 4, 3], "tanh", "softmax", "cross_entropy"),
    ([3, 6, 2], "relu", "identity", "mse"),
    ([3, 6, 1], "leaky_relu", "tanh", "mse"),
    ([3, 5, 2], ["relu"], "sigmoid", "binary_cross_entropy"),
    ([3, 4, 3, 2], ["identity", "sigmoid"], "relu", "mse"),
    ([4, 3], [], "softmax", "cross_entropy"),
]


def _data(sizes, output, seed=0, m=24):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    N = sizes[-1]
    if output == "softmax":
        Y = rng.integers(0, N, m)
    elif output == "sigmoid":
        Y = rng.integers(0, 2, (m, N))
    elif output == "tanh":
        Y = rng.uniform(-0.9, 0.9, (m, N))
    else:
        Y = rng.normal(size=(m, N))
    return X, Y


def _train(monkeypatch, enabled, case, dtype, *, epochs=6, l2=0.0, lr=0.05, **kw):
    sizes, hidden, output, loss = case
    monkeypatch.setattr(_tiny, "ENABLED", enabled)
    net = backprop.Network(sizes, hidden=hidden, output=output, seed=7, dtype=dtype)
    rng = np.random.default_rng(1)
    net.biases = [rng.normal(scale=0.3, size=b.shape).astype(dtype) for b in net.biases]  # off the kinks
    X, Y = _data(sizes, output)
    t = Trainer(net, loss=loss, epochs=epochs, lr=lr, mode="online", l2=l2, seed=3, **kw)
    h = t.run(X, Y)
    assert (t._tiny is not None) == enabled  # the path under test was really taken
    return net, h


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_tiny_path_matches_numpy_path_float64(monkeypatch, case, l2):
    fast, hf = _train(monkeypatch, True, case, "float64", l2=l2)
    slow, hs = _train(monkeypatch, False, case, "float64", l2=l2)
    for p, q in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hf.loss, hs.loss, rtol=1e-12, atol=1e-14)
    assert hf.n_updates == hs.n_updates == 6 * 24
    assert hf.lr == hs.lr


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
def test_tiny_path_matches_numpy_path_float32(monkeypatch, case):
    fast, hf = _train(monkeypatch, True, case, "float32")
    slow, hs = _train(monkeypatch, False, case, "float32")
    for p, q in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hf.loss, hs.loss, rtol=1e-4, atol=1e-6)


def test_tiny_path_with_schedule_and_no_shuffle(monkeypatch):
    case = CASES[0]
    kw = {"schedule": "invscaling", "power_t": 0.5, "shuffle": False}
    fast, hf = _train(monkeypatch, True, case, "float64", lr=0.5, **kw)
    slow, hs = _train(monkeypatch, False, case, "float64", lr=0.5, **kw)
    for p, q in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12)
    assert hf.lr == hs.lr and hf.lr[-1] < 0.5


def _xor_by_hand(W1, b1, W2, b2, order, lr):
    """The reference's online delta rule for a 2-H-1 sigmoid network with E = 1/2 (yhat - y)^2, in lists."""
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    Y = [0.0, 1.0, 1.0, 0.0]

    def sig(v):
        return 1.0 / (1.0 + math.exp(-v))

    H = len(b1)
    for i in order:
        x, y = X[i], Y[i]
        a = [sig(sum(x[p] * W1[p][j] for p in range(2)) + b1[j]) for j in range(H)]
        yhat = sig(sum(a[j] * W2[j][0] for j in range(H)) + b2[0])
        d_out = (yhat - y) * yhat * (1.0 - yhat)  # eq. (2)
        d_hid = [d_out * W2[j][0] * a[j] * (1.0 - a[j]) for j in range(H)]  # eq. (4)
        for j in range(H):
            W2[j][0] -= lr * d_out * a[j]  # eq. (5) with eq. (1)
            for p in range(2):
                W1[p][j] -= lr * d_hid[j] * x[p]
            b1[j] -= lr * d_hid[j]
        b2[0] -= lr * d_out
    return W1, b1, W2, b2


def test_tiny_path_against_a_hand_written_loop(monkeypatch):
    monkeypatch.setattr(_tiny, "ENABLED", True)
    net = backprop.Network([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=4, dtype="float64")
    net.biases[0][:] = [0.1, -0.2, 0.3]
    start = [p.tolist() for p in net.weights + net.biases]
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    t = Trainer(net, loss="mse", epochs=5, lr=0.7, mode="online", shuffle=False)
    t.run(X, np.array([0.0, 1.0, 1.0, 0.0]))
    assert t._tiny is not None
    W1, W2, b1, b2 = start
    W1, b1, W2, b2 = _xor_by_hand(W1, b1, W2, b2, order=[0, 1, 2, 3] * 5, lr=0.7)
    for got, want in zip(net.weights + net.biases, (W1, W2, b1, b2)):
        np.testing.assert_allclose(got, np.array(want), rtol=1e-12, atol=1e-13)


def _resumable(case, dtype, seed=7):
    """A network of ``case`` and the 3-epoch online trainer the resume tests interrupt."""
    net = backprop.Network(case[0], hidden=case[1], output=case[2], seed=seed, dtype=dtype)
    return net, Trainer(net, loss=case[3], epochs=3, lr=0.1, mode="online", seed=3)


def _assert_resumes_to(t, fresh, X, Y, ref_net, ref):
    """``t``'s state, loaded into a fresh network and trainer, runs on to ``ref``'s very bits."""
    net2, t2 = fresh
    t2.load_state_dict(t.state_dict())
    h2 = t2.run(X, Y)
    assert not h2.interrupted and h2.n_updates == ref.history.n_updates
    for p, q in zip(net2.weights + net2.biases, ref_net.weights + ref_net.biases):
        assert np.array_equal(p, q)
    assert h2.loss == ref.history.loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiny_path_interrupt_and_resume_gives_the_same_bits(monkeypatch, dtype):
    monkeypatch.setattr(_tiny, "ENABLED", True)
    case = CASES[2]
    X, Y = _data(case[0], case[2])

    def make(seed=7):
        return _resumable(case, dtype, seed)

    ref_net, ref = make()
    ref.run(X, Y)
    _, t = make()
    # stop inside the second epoch: a callback cannot do it mid-epoch, so flip the flag by count
    real_begin = t.optimizer.begin_step

    def begin_step():
        if t.optimizer.t == 30:
            t.stop_requested = True
        return real_begin()

    t.optimizer.begin_step = begin_step
    h = t.run(X, Y)
    assert h.interrupted and t.pos == 7 and t.epoch == 1
    _assert_resumes_to(t, make(seed=99), X, Y, ref_net, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_whole_epochs_in_one_call_equal_epoch_by_epoch(monkeypatch, dtype, shuffle):
    """Constant-rate SGD with nothing between epochs runs many epochs per generated call; a no-op
    callback forces the epoch-by-epoch path. Same bits, same losses, same random stream after."""
    monkeypatch.setattr(_tiny, "ENABLED", True)
    calls = []
    real = _tiny.TinyTrainer.run_epochs
    monkeypatch.setattr(_tiny.TinyTrainer, "run_epochs", lambda self, tr: calls.append(1) or real(self, tr))
    case = CASES[0]
    X, Y = _data(case[0], case[2])
    runs = []
    for callbacks in ([], [lambda net, info: None]):
        net = backprop.Network(case[0], hidden=case[1], output=case[2], seed=7, dtype=dtype)
        t = Trainer(net, loss=case[3], epochs=40, lr=0.3, mode="online", seed=3, shuffle=shuffle,
                    callbacks=callbacks)
        h = t.run(X, Y)
        runs.append((net, h, t.rng.random(), t.optimizer.t))
    assert calls  # the one-call path was taken by the first run only
    (a, ha, ra, ta), (b, hb, rb, tb) = runs
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)
    assert ha.loss == hb.loss and ha.lr == hb.lr and ha.n_updates == hb.n_updates == 40 * 24
    assert ra == rb and ta == tb


def test_whole_epochs_in_one_call_round_an_overflowing_float32_parameter_to_infinity(monkeypatch):
    """The one-call path rounds its float32 parameters with struct's native "f", which must give
    infinity beyond float32's range, as an array('f') store (the epoch-by-epoch path) and NumPy do
    (struct's standard "<f" raises OverflowError instead). A rate of 1e40 pushes a weight past
    3.4e38 while E is still finite: both paths must fail alike, with the same weights."""
    monkeypatch.setattr(_tiny, "ENABLED", True)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    outcomes = []
    for callbacks in ([], [lambda net, info: None]):
        net = backprop.Network([2, 4, 1], hidden="sigmoid", output="sigmoid", seed=0, dtype="float32")
        t = Trainer(net, loss="mse", epochs=5, lr=1e40, mode="online", seed=1, shuffle=False,
                    callbacks=callbacks)
        with pytest.raises(DivergenceError) as info:
            t.run(X, Y)
        outcomes.append((str(info.value), net.weights + net.biases, t.history.n_updates))
    (msg_a, params_a, n_a), (msg_b, params_b, n_b) = outcomes
    assert msg_a == msg_b and n_a == n_b
    for p, q in zip(params_a, params_b):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_epochs_in_one_call_interrupt_and_resume_gives_the_same_bits(monkeypatch, dtype):
    monkeypatch.setattr(_tiny, "ENABLED", True)
    case = CASES[0]
    X, Y = _data(case[0], case[2])

    def make(seed=7):
        return _resumable(case, dtype, seed)

    ref_net, ref = make()
    ref.run(X, Y)
    _, t = make()

    class Rows(list):  # the training rows as the generated code reads them: stop inside update 31
        n = 0

        def __getitem__(self, i):
            Rows.n += 1
            if Rows.n == 31:
                t.stop_requested = True
            return list.__getitem__(self, i)

    real_init = _tiny.TinyTrainer.__init__

    def init(self, trainer, X, Y):
        real_init(self, trainer, X, Y)
        self.X = Rows(self.X)

    monkeypatch.setattr(_tiny.TinyTrainer, "__init__", init)
    h = t.run(X, Y)
    assert h.interrupted and t.pos == 7 and t.epoch == 1 and h.n_updates == 31
    monkeypatch.setattr(_tiny.TinyTrainer, "__init__", real_init)
    _assert_resumes_to(t, make(seed=99), X, Y, ref_net, ref)


def test_tiny_path_divergence_is_reported_like_the_numpy_path(monkeypatch):
    case = CASES[3]
    errors = []
    for enabled in (True, False):
        with pytest.raises(DivergenceError) as info:
            _train(monkeypatch, enabled, case, "float64", lr=1e3, epochs=50)
        errors.append(info.value)
    assert (errors[0].epoch, errors[0].step) == (errors[1].epoch, errors[1].step)


def test_tiny_path_is_only_taken_where_it_applies(monkeypatch):
    monkeypatch.setattr(_tiny, "ENABLED", True)
    X, Y = _data([2, 4, 1], "sigmoid")

    def path(sizes=(2, 4, 1), **kw):
        net = backprop.Network(list(sizes), hidden=kw.pop("hidden", "sigmoid"), output="sigmoid", seed=0)
        opts = {"loss": "mse", "epochs": 1, "lr": 0.1, "mode": "online"}
        opts.update(kw)
        t = Trainer(net, **opts)
        t.run(X[:, :sizes[0]] if sizes[0] <= 2 else np.ones((24, sizes[0])), Y)
        return t._tiny is not None

    assert path()
    assert not path(mode=None, batch_size=4)
    assert not path(optimizer="momentum")
    assert not path(on_step=lambda net, info: None)
    assert not path(record_gradients=True)
    assert not path(hidden="gelu")
    assert not path(sizes=(30, 30, 1))  # too large: NumPy is faster there


# -- the fused delta rule ------------------------------------------------------------------------
@pytest.mark.parametrize("m", [1, 2, 17])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_sgd_step_matches_backward_then_update(m, dtype):
    rng = np.random.default_rng(m)
    sizes = [7, 9, 5, 3]
    net = backprop.Network(sizes, hidden=["tanh", "relu"], output="softmax", seed=2, dtype=dtype)
    net.biases = [rng.normal(scale=0.3, size=b.shape).astype(dtype) for b in net.biases]
    other = net.copy()
    X = rng.normal(size=(m, 7)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, m)]
    loss = losses.get("cross_entropy")
    for _ in range(3):
        buf = net.buffers(m)
        net.forward_into(X, buf)
        _fused.delta_rule_step(X, Y, buf, net.weights, net.biases, net.activations, loss, 0.3)
        buf2 = other.buffers(m)
        other.forward_into(X, buf2)
        gw, gb = other.backward_into(X, Y, buf2, loss, scale=0.3)
        for p, g in zip(other.weights + other.biases, gw + gb):
            p -= g
        tol = 1e-12 if dtype == "float64" else 1e-5
        for d1, d2 in zip(buf.delta, buf2.delta):  # the same error terms (to rounding: a rank-1
            np.testing.assert_allclose(d1, d2, rtol=tol, atol=tol)  # update may use an FMA)
    for p, q in zip(net.weights + net.biases, other.weights + other.biases):
        np.testing.assert_allclose(p, q, rtol=tol, atol=tol)


def test_fused_sgd_fit_matches_the_numpy_path(monkeypatch):
    """fit with plain SGD (fused) against fit with the fused BLAS calls switched off."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 6))
    y = rng.integers(0, 3, 50)
    nets = []
    for avail in (True, False):
        monkeypatch.setattr(_blas, "available", avail and _blas.available)
        net = backprop.Network([6, 8, 3], hidden="tanh", output="softmax", seed=1, dtype="float64")
        net.fit(X, y, loss="cross_entropy", epochs=4, batch_size=7, lr=0.2)
        nets.append(net)
    for p, q in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_masks_in_bool_give_the_bits_of_float_masks(dtype):
    """Training buffers hold ReLU's g' as a bool mask (a quarter of a float32 scratch); the oracle is
    the same backward pass with float scratch arrays, whose mask is 1.0/0.0: the same bits."""
    net = backprop.Network([6, 9, 7, 3], hidden=["relu", "tanh"], output="softmax", seed=2, dtype=dtype)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(11, 6)).astype(dtype), np.eye(3, dtype=dtype)[rng.integers(0, 3, 11)]
    loss = losses.get("cross_entropy")
    grads = []
    for float_masks in (False, True):
        buf = net.buffers(11, train=True)
        assert [t.dtype == bool for t in buf.tmp] == [True, False, False]
        if float_masks:
            buf.tmp = [np.empty(t.shape, dtype) for t in buf.tmp]
        net.forward_into(X, buf)
        gw, gb = net.backward_into(X, Y, buf, loss, scaled_deltas=False)
        grads.append([g.copy() for g in gw + gb])
        net._buffers.clear()
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_against_a_row_of_zeros_gives_the_bits_of_max_with_the_scalar(dtype):
    """ReLU's forward takes max(h, 0) against a broadcast row of zeros for float32 (NumPy's vector
    loop); the oracle is the textbook max(h, 0.0) with the scalar, on the values where the two
    could part: NaN, signed zeros, infinities, subnormals, in place and into another array."""
    special = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, -1e-45, 1e-310, -1e-310, 3.5, -2.25]
    rng = np.random.default_rng(0)
    h = np.concatenate([np.array(special * 9, dtype), rng.normal(size=11 * 30).astype(dtype)]).reshape(-1, 11)
    relu = backprop.core.activations.get("relu")
    expected = np.maximum(h, 0.0)
    for shape in [h.shape, (h.size,), (3, -1, 11)]:  # 39 rows of 11
        x = h.reshape(shape)
        got = relu.forward(x)
        assert got.dtype == dtype and got.tobytes() == expected.reshape(shape).tobytes()
        inplace = x.copy()
        assert relu.forward(inplace, out=inplace) is inplace and inplace.tobytes() == got.tobytes()
    assert relu.forward(np.float32(-2.0)) == 0.0  # a 0-d value: the scalar


@pytest.mark.parametrize("m", [2, 3, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradients_are_the_column_sums_of_delta(m, dtype):
    """The biases' gradient (eq. (3): the error terms summed over the rows) is a BLAS product
    ones^T delta; the oracle is math.fsum over each column (exact, then rounded), to m rounding
    errors of the column's sum of magnitudes."""
    from backprop.fast.passes import column_sums

    rng = np.random.default_rng(m)
    d = (rng.normal(size=(m, 37)) * rng.uniform(0.1, 10, size=37)).astype(dtype)
    got = column_sums(d, np.empty(37, dtype))
    exact = np.array([math.fsum(map(float, d[:, j])) for j in range(37)])
    bound = m * np.finfo(dtype).eps * np.abs(d.astype(np.float64)).sum(axis=0)
    assert np.all(np.abs(got - exact) <= bound)


@pytest.mark.parametrize("m", [2, 37])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_decay_added_by_blas_gives_the_gradient_of_the_plain_formula(monkeypatch, m, dtype):
    """With weight decay the gradient buffer is first l2 * W, and BLAS adds a^T delta to it
    (beta = 1); the oracle is the same backward pass in plain NumPy (BLAS calls off): a^T delta,
    then + l2 * W. The two differ only in the order of the sum, by rounding errors of the
    gradient's magnitude; the biases carry no decay and are bitwise equal."""
    net = backprop.Network([6, 9, 7, 3], hidden=["relu", "tanh"], output="softmax", seed=2, dtype=dtype)
    rng = np.random.default_rng(m)
    X, Y = rng.normal(size=(m, 6)).astype(dtype), np.eye(3, dtype=dtype)[rng.integers(0, 3, m)]
    loss = losses.get("cross_entropy")
    assert _blas.available, "NumPy's OpenBLAS was not found: the BLAS path is not tested"
    grads = []
    for blas in (True, False):
        monkeypatch.setattr(_blas, "available", blas)
        buf = net.buffers(m, train=True)
        net.forward_into(X, buf)
        gw, gb = net.backward_into(X, Y, buf, loss, scale=0.3, l2=0.05)
        grads.append(([g.copy() for g in gw], [g.copy() for g in gb]))
    eps = np.finfo(dtype).eps
    for fused, plain, W in zip(grads[0][0], grads[1][0], net.weights):
        assert np.abs(plain).max() > 0
        scale = np.abs(plain).max() + 0.3 * 0.05 * np.abs(W).max()
        np.testing.assert_allclose(fused, plain, rtol=0, atol=4 * (m + 2) * eps * scale)
    for fused, plain in zip(grads[0][1], grads[1][1]):
        assert np.array_equal(fused, plain)


def test_blas_gemm_add_adds_the_product_to_what_the_array_holds():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        a, d = rng.normal(size=(13, 5)).astype(dtype), rng.normal(size=(13, 4)).astype(dtype)
        G = rng.normal(size=(5, 4)).astype(dtype)
        expected = G.astype(np.float64) + a.astype(np.float64).T @ d.astype(np.float64)
        _blas.gemm_add(a, d, G)
        tol = 16 * np.finfo(dtype).eps * np.abs(expected).max()  # 13 terms of the sum, and G
        np.testing.assert_allclose(G, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("optimizer,l2", [("sgd", 0.0), ("adam", 1e-3), ("momentum", 0.0)])
def test_a_smaller_batch_runs_in_the_first_rows_of_a_larger_ones_buffers(monkeypatch, optimizer, l2):
    """The epoch's last, smaller batch (and predict's last chunk) runs in the first rows of the
    full batch's buffers, not in a set of its own. The oracle: the same training and prediction
    with a new set of buffers for every size -- the same bits."""
    from backprop.model import network

    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(50, 6)), np.eye(3)[rng.integers(0, 3, 50)]  # 50 = 3 x 16 + 2
    results = []
    for views in (True, False):
        net = backprop.Network([6, 9, 7, 3], hidden=["relu", "tanh"], output="softmax", seed=2)
        if not views:
            monkeypatch.setattr(network.Buffers, "first_rows", lambda self, m, net=net: network.Buffers(
                net.sizes, m, net.dtype, net.activations, train=self.train))
        net.fit(X, Y, loss="cross_entropy", epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, l2=l2)
        full, last = net._buffers[(16, "train")], net._buffers[(2, "train")]
        arrays = [(a, b) for name in ("h", "a", "delta", "tmp") for a, b in zip(getattr(full, name),
                                                                                 getattr(last, name))]
        assert all(np.shares_memory(a, b) for a, b in arrays) == views
        assert all(b.flags.c_contiguous and b.shape[0] == 2 for _, b in arrays)
        results.append([p.copy() for p in net.weights + net.biases] + [net.predict(X, chunk=16)])
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    assert np.array_equal(results[0][-1], net.predict(X))  # one chunk: no smaller rest


def test_fused_sgd_handles_an_unusual_weight_array():
    """A user-assigned Fortran-ordered weight matrix still gets the right update."""
    rng = np.random.default_rng(0)
    net = backprop.Network([4, 3, 2], hidden="tanh", output="identity", seed=0, dtype="float64")
    other = net.copy()
    net.weights[0] = np.asfortranarray(net.weights[0])
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    loss = losses.get("mse")
    for n in (net, other):
        buf = n.buffers(5)
        n.forward_into(X, buf)
        _fused.delta_rule_step(X, Y, buf, n.weights, n.biases, n.activations, loss, 0.1)
    for p, q in zip(net.weights + net.biases, other.weights + other.biases):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-14)


# -- elementwise work split by rows over threads (fast.parallel) ---------------------------------
@pytest.fixture
def split_everything(monkeypatch):
    """Split wherever the work allows, over 3 threads (uneven blocks), from small sizes up."""
    from backprop.fast import parallel as _par

    monkeypatch.setattr(_par, "FORCE", True)
    monkeypatch.setattr(_par, "MIN_SIZE", 64)
    monkeypatch.setattr(_par, "threads", lambda: 3)
    return _par


def _steps(sizes, hidden, output, loss, optimizer, dtype, m=37, steps=3):
    rng = np.random.default_rng(11)
    net = backprop.Network(sizes, hidden=hidden, output=output, seed=5, dtype=dtype)
    net.biases = [rng.normal(scale=0.3, size=b.shape).astype(dtype) for b in net.biases]
    X = rng.normal(size=(m, sizes[0]))
    Y = _data(sizes, output, seed=2, m=m)[1]
    t = Trainer(net, loss=loss, epochs=steps, lr=0.05, batch_size=10, optimizer=optimizer, seed=3)
    h = t.run(X, Y)
    return net, h, net.predict(X), net.trace(X[:9], Y[:9], loss=loss)


ALL_HIDDEN = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "gelu", "identity"]


@pytest.mark.parametrize("hidden", ALL_HIDDEN)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_work_split_by_rows_gives_the_same_bits(monkeypatch, split_everything, hidden, optimizer, dtype):
    """Training, predict and trace with every elementwise pass split in row blocks over threads give
    bitwise the results of one pass (ufuncs are elementwise: no summation order changes)."""
    case = ([13, 17, 9, 4], [hidden, "tanh"], "softmax", "cross_entropy")
    calls = []
    real = split_everything._split
    monkeypatch.setattr(split_everything, "_split", lambda *a: calls.append(1) or real(*a))
    split = _steps(*case, optimizer, dtype)
    assert calls  # the split path was really taken
    monkeypatch.setattr(split_everything, "FORCE", False)
    whole = _steps(*case, optimizer, dtype)
    (n1, h1, p1, t1), (n2, h2, p2, t2) = split, whole
    for p, q in zip(n1.weights + n1.biases, n2.weights + n2.biases):
        assert np.array_equal(p, q)
    assert h1.loss == h2.loss
    assert np.array_equal(p1, p2)
    for a, b in zip(t1.h + t1.a + t1.delta + t1.grad_weights, t2.h + t2.a + t2.delta + t2.grad_weights):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("output", ["sigmoid", "identity", "softmax"])
def test_work_split_predict_output_layers(split_everything, output):
    rng = np.random.default_rng(3)
    net = backprop.Network([5, 40, 30], hidden="relu", output=output, seed=1)
    X = rng.normal(size=(301, 5)).astype(np.float32)
    got = net.predict(X)
    split_everything.FORCE = False
    assert np.array_equal(got, net.predict(X))


def test_for_rows_covers_every_row_once_and_reraises(split_everything):
    seen = np.zeros(1001, int)

    def mark(lo, hi):
        seen[lo:hi] += 1

    split_everything.for_rows(mark, 1001, 10**6)
    assert (seen == 1).all()

    def boom(lo, hi):
        if lo > 0:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        split_everything.for_rows(boom, 1001, 10**6)


def test_for_rows_workers_see_the_callers_errstate(split_everything):
    """A worker thread runs in the caller's context: np.errstate(over="raise") reaches it."""
    import threading
    import time

    caller = threading.get_ident()
    x = np.empty(4000, np.float32)
    workers = set()

    def overflow_off_the_caller(lo, hi):
        if threading.get_ident() != caller:  # only a worker's blocks overflow
            workers.add(threading.get_ident())
            x[lo:hi] *= 10
        else:
            time.sleep(0.001)  # leave blocks for a worker to take

    for _ in range(200):  # until a worker has taken a block (the caller may take them all)
        x.fill(3e38)
        workers.clear()
        try:
            with np.errstate(over="raise"):
                split_everything.for_rows(overflow_off_the_caller, x.size, x.size)
            raised = False
        except FloatingPointError:
            raised = True
        if workers:
            assert raised
            break
    assert workers


def test_for_rows_chooses_by_time_without_changing_results(monkeypatch):
    """Left to itself (FORCE None) a call site times both ways and keeps the faster; every call
    still covers each row exactly once."""
    from backprop.fast import parallel as _par

    monkeypatch.setattr(_par, "FORCE", None)
    monkeypatch.setattr(_par, "threads", lambda: 2)
    monkeypatch.setattr(_par, "_stats", {})
    x = np.zeros((500, 300))

    def inc(lo, hi):
        x[lo:hi] += 1.0

    for _ in range(100):
        _par.for_rows(inc, 500, x.size)
    assert (x == 100).all()
    (site,) = _par._stats.values()
    assert site.calls == 100 and all(site.times)  # both ways were timed


def test_adam_update_is_bitwise_the_plain_formula(split_everything):
    """The blocked Adam step against its formula written out in whole-array NumPy (scikit-learn's form)."""
    from backprop.train.optimizers import Adam

    rng = np.random.default_rng(0)
    # below and above the size from which the step runs in row blocks (_par.MIN_SIZE elements)
    for dtype, shape in itertools.product((np.float32, np.float64), ((61, 23), (300, 250))):
        p = rng.normal(size=shape).astype(dtype)
        m, v = np.zeros_like(p), np.zeros_like(p)
        opt = Adam(lr=0.01)
        q = p.copy()
        for _ in range(4):
            g = rng.normal(size=p.shape).astype(dtype)
            opt.begin_step()
            b1, b2, t = opt.beta_1, opt.beta_2, opt.t
            m = b1 * m + (1 - b1) * g
            gg = g * g
            gg *= 1 - b2
            v = b2 * v + gg
            lr_t = opt.lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            denom = np.sqrt(v)
            denom += opt.epsilon
            step = m / denom
            step *= lr_t
            q = q - step
            opt.update(("w", 0), p, g.copy())
        assert np.array_equal(p, q)


def test_blas_calls_reuse_arguments_only_for_the_same_arrays():
    """The prepared arguments of a fused call belong to the very arrays passed: a new array at the
    same id, or another shape, gets its own."""
    if not _blas.available:  # another platform: the engine never calls them
        assert not _blas.usable(np.ones((2, 2)))
        return
    rng = np.random.default_rng(1)
    for m in (3, 5, 3):
        a, d = rng.normal(size=(m, 4)), rng.normal(size=(m, 2))
        W = rng.normal(size=(4, 2))
        want = W - a.T @ d
        _blas.gemm_update(a, d, W)
        np.testing.assert_allclose(W, want, rtol=1e-13, atol=1e-13)
        want = W - np.outer(a[0], d[0])
        _blas.ger_update(a[0], d[0], W)
        np.testing.assert_allclose(W, want, rtol=1e-13, atol=1e-13)
