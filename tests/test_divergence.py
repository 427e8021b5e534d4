"""Divergence: a non-finite loss or weight stops training with a DivergenceError that names the epoch and
the step and suggests a smaller learning rate; the network is left at finite parameters; and no NumPy
warning escapes however wild the learning rate (pytest turns warnings into errors).

The oracle of the exact epoch and of the parameters left behind is a plain float64 re-implementation of
batch gradient descent (the ``oracle`` fixture of conftest.py), not the engine's own loop.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backprop
from backprop.errors import BackpropError, DivergenceError, InvalidInputError
from backprop.fast import compiled as _compiled
from backprop.train.trainer import Trainer


def _finite(net):
    return all(np.isfinite(p).all() for p in net.weights + net.biases)


def _oracle_divergence(oracle, net, X, Y, lr, max_epochs):
    """Plain batch gradient descent in float64 until the loss or a weight stops being finite.

    Returns (epoch, what, weights, biases): the 1-based epoch where it happened, "loss" or "weight",
    and the last parameters that were all finite.
    """
    Ws = [w.astype(np.float64) for w in net.weights]
    bs = [b.astype(np.float64) for b in net.biases]
    acts = oracle.act_names(net)
    with np.errstate(all="ignore"):
        for epoch in range(1, max_epochs + 1):
            if not math.isfinite(oracle.net_loss(Ws, bs, acts, "mse", X, Y)):
                return epoch, "loss", Ws, bs
            _, gW, gb = oracle.backward(Ws, bs, acts, "mse", X, Y)
            new_W = [W - lr * g for W, g in zip(Ws, gW)]
            new_b = [b - lr * g for b, g in zip(bs, gb)]
            if not all(np.isfinite(p).all() for p in new_W + new_b):
                return epoch, "weight", Ws, bs
            Ws, bs = new_W, new_b
    return None


@pytest.mark.parametrize("lr, scale, what", [
    (0.5, 10.0, "loss"),     # weights grow step by step until the output overflows
    (1e308, 3.0, "weight"),  # the first update already overflows the weights
])
def test_batch_divergence_names_the_epoch_and_leaves_the_last_finite_weights(oracle, lr, scale, what):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2)) * scale
    Y = rng.normal(size=(20, 1)) * scale
    net = backprop.Network([2, 3, 1], hidden="identity", output="identity", seed=1, dtype="float64")
    expected = _oracle_divergence(oracle, net, X, Y, lr, 500)
    assert expected is not None and expected[1] == what
    epoch, _, Ws, bs = expected
    with pytest.raises(DivergenceError) as info:
        net.fit(X, Y, lr=lr, epochs=500, mode="batch", shuffle=False)
    err = info.value
    assert err.epoch == epoch and err.step == 1
    msg = str(err)
    assert f"epoch {epoch}, step 1" in msg and "smaller learning rate" in msg and f"lr={lr:g}" in msg
    assert ("loss became" if what == "loss" else "weight became non-finite") in msg
    assert _finite(net)
    # batch mode: the last finite parameters are those after epoch - 1 updates
    for got, want in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(got, want, rtol=1e-9)
    assert err.history.n_updates == (epoch - 1 if what == "loss" else epoch)
    assert len(err.history.loss) == epoch - 1  # the epochs that did complete


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_minibatch_divergence_mid_epoch_restores_finite_weights(optimizer):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4))
    Y = rng.normal(size=(64, 2))
    net = backprop.Network([4, 16, 2], hidden="relu", output="identity", seed=2)
    steps = []
    with pytest.raises(DivergenceError) as info:
        net.fit(X, Y, lr=1e37, optimizer=optimizer, batch_size=8, epochs=3,
                on_step=lambda n, i: steps.append((i["epoch"], i["step"])))
    err = info.value
    assert 1 <= err.step <= 8 and err.epoch >= 1
    # the step reported is the one after the last completed update (a non-finite loss there), or the
    # last completed one when the epoch-end check found its weights non-finite
    done = steps[-1] if steps else (1, 0)
    assert (err.epoch, err.step) in {(done[0], done[1] + 1), (done[0] + 1, 1), done}
    assert _finite(net)
    assert str(err).startswith(f"training diverged at epoch {err.epoch}, step {err.step}")


def test_interruption_right_after_a_step_that_broke_the_weights_does_not_hand_back_nan():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(16, 3)) * 10
    Y = rng.normal(size=(16, 1)) * 10
    net = backprop.Network([3, 5, 1], hidden="identity", output="identity", seed=0, dtype="float64")
    start = [p.copy() for p in net.weights + net.biases]
    t = Trainer(net, lr=1e308, batch_size=4, epochs=5, shuffle=False)
    t.on_step = lambda n, info: setattr(t, "stop_requested", True)
    with pytest.raises(DivergenceError, match="epoch 1, step 1: a weight became non-finite") as info:
        t.run(X, Y)
    assert info.value.epoch == 1 and info.value.step == 1
    for got, want in zip(net.weights + net.biases, start):
        np.testing.assert_array_equal(got, want)  # the weights at the start of the epoch


def test_data_too_large_for_the_initial_network_says_so():
    X = np.full((8, 2), 1e160)
    net = backprop.Network([2, 3, 1], hidden="identity", output="identity", seed=0, dtype="float64")
    with pytest.raises(DivergenceError,
                       match="epoch 1, step 1.*inputs or targets are too large; standardize"):
        net.fit(X, np.ones(8), lr=0.1)
    assert _finite(net)


def test_non_finite_initial_weights_are_refused_before_training():
    net = backprop.Network([2, 3, 1], seed=0)
    net.biases[1][0] = np.nan
    with pytest.raises(InvalidInputError, match=r"net.biases\[1\] contains NaN"):
        net.fit(np.ones((4, 2)), np.ones(4) / 2)


def test_prediction_that_overflows_is_an_error_not_a_warning_or_nan():
    net = backprop.Network([2, 3, 1], hidden="relu", output="identity", seed=0)
    net.weights[0][...] = 1.0  # h = x1 + x2 overflows float32 for the second row
    net.weights[1][...] = 1.0
    with pytest.raises(InvalidInputError, match="output is not finite for row 1 of X.*standardize"):
        net.predict(np.array([[1.0, 1.0], [3e38, 3e38]]))
    net.weights[0][0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="weights are not finite"):
        net.predict(np.ones((2, 2)))
    # loss and trace report a non-finite value without a warning
    assert not math.isfinite(net.loss(np.ones((2, 2)), np.ones(2)))


@pytest.mark.parametrize("h", [100.0, 1e3, 1e4])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_preactivations_give_no_warnings(h, dtype):
    """exp/log in activations and losses use stable forms: no overflow warning and finite losses for
    |h| up to 1e4, the documented range (naive e^h overflows float32 from 89 and float64 from 710).
    Beyond it the public entry points (fit, predict, loss) run under np.errstate: tested above."""
    from backprop import activations, losses
    z = np.array([[-h, 0.0, h], [h, h, -h]], dtype=dtype)
    for name in activations.ACTIVATIONS:
        act = activations.get(name)
        a = act.forward(z.copy())
        if name in ("sigmoid", "tanh", "softmax"):
            assert np.isfinite(a).all(), name
        d = np.ones_like(z)
        act.backward(z, a, d, np.empty_like(z))
    y01 = np.array([[0, 0, 1], [1, 0, 0]], dtype=dtype)
    for loss, out in (("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")):
        value = losses.get(loss).value(y01, activations.get(out).forward(z.copy()), z)
        assert math.isfinite(value) and value >= 0


# -- property: whatever the hyperparameters, never NaN weights, never a warning -----------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log_lr=st.floats(-2, 300),
    optimizer=st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
    hidden=st.sampled_from(["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]),
    head=st.sampled_from([("identity", "mse"), ("sigmoid", "binary_cross_entropy"),
                          ("softmax", "cross_entropy"), ("softmax", "mse"), ("tanh", "mse")]),
    batch=st.sampled_from([1, 3, 16, None]),
    dtype=st.sampled_from(["float32", "float64"]),
    x_scale=st.sampled_from([1.0, 1e3, 1e20]),
    stop_at=st.one_of(st.none(), st.integers(1, 40)),
    seed=st.integers(0, 2**16),
)
def test_wild_training_never_leaves_nan_and_never_warns(log_lr, optimizer, hidden, head, batch, dtype,
                                                        x_scale, stop_at, seed):
    output, loss = head
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 3)) * x_scale
    if output == "identity":
        Y = rng.normal(size=(16, 2)) * x_scale
    elif output == "tanh":
        Y = rng.uniform(-1, 1, size=(16, 2))
    else:
        Y = rng.integers(0, 2, size=16)
    net = backprop.Network([3, 5, 2], hidden=hidden, output=output, seed=seed, dtype=dtype)
    t = Trainer(net, loss=loss, lr=10.0 ** log_lr, optimizer=optimizer, batch_size=batch, epochs=4)
    if stop_at is not None:
        t.on_step = lambda n, info: setattr(t, "stop_requested", t.history.n_updates >= stop_at)
    try:
        h = t.run(X, Y)
    except DivergenceError as err:
        assert isinstance(err.epoch, int) and isinstance(err.step, int)
        assert 1 <= err.epoch <= 4 and 1 <= err.step <= h_updates_per_epoch(batch)
        assert "smaller learning rate" in str(err) or "standardize" in str(err)
    else:
        # a stop asked for at the very last update still skips that epoch's end: interrupted too
        assert h.interrupted == (stop_at is not None and stop_at <= h.updates_per_epoch * 4)
        assert all(math.isfinite(v) for v in h.loss)
    assert _finite(net)
    try:
        yhat = net.predict(X)
    except InvalidInputError as err:  # finite but huge weights may overflow: said clearly
        assert "not finite" in str(err)
    else:
        assert np.isfinite(yhat).all()


def h_updates_per_epoch(batch, m=16):
    B = m if batch is None else min(batch, m)  # the default batch of 32 is cut to m without a warning
    return -(-m // B)


def test_divergence_error_is_a_backprop_error():
    assert issubclass(DivergenceError, BackpropError) and issubclass(DivergenceError, FloatingPointError)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_on_the_fast_online_path(monkeypatch, dtype):
    """Tiny networks trained online with SGD run in plain Python floats: same error, finite weights.
    (Where numba is installed they take compiled epochs first: tests/test_compiled.py.)"""
    monkeypatch.setattr(_compiled, "ENABLED", False)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 2)) * 10
    Y = rng.normal(size=(12, 1)) * 10
    net = backprop.Network([2, 3, 1], hidden="relu", output="identity", seed=0, dtype=dtype)
    t = Trainer(net, lr=1e3, mode="online", epochs=50)
    diverged = r"training diverged at epoch \d+, step \d+: .*smaller learning rate"
    with pytest.raises(DivergenceError, match=diverged):
        t.run(X, Y)
    assert t._tiny is not None  # the fast path was the one that diverged
    assert _finite(net)
    assert 1 <= t.history.n_updates


def test_cli_divergence_is_one_error_line_and_writes_no_model(tmp_path, capsys):
    from backprop.cli import main

    out = tmp_path / "m.safetensors"
    with pytest.raises(SystemExit) as info:
        main.main(args=["train", "sin", "--layers", "8", "--optimizer", "sgd", "--lr", "1e30", "--quiet",
                        "--out", str(out), "--checkpoint", str(tmp_path / "c.ckpt")])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("error: training diverged at epoch 1, step ") and "smaller learning rate" in err
    assert os.listdir(tmp_path) == []
