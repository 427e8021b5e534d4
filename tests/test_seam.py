"""The seam between the training loop and a network, and the fast strategies behind it.

* ``Network`` is a ``Trainable`` (backprop.train.trainable): the protocol the Trainer uses.
* The strategies of ``backprop.train.strategy`` against the optimizers as written (``FAST`` off):
  bit for bit where the arithmetic is exact (eta/m a power of two: folding it into delta^o rounds
  nothing), to rounding where BLAS adds in another order.
* ``fast.tiny`` reports an outcome and writes none of the run's state.
* The Trainer makes all its attributes in ``__init__``.
* ``Network.forward_all``: chunks, per-layer outputs, E, the finiteness check.
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop
from backprop.errors import InvalidInputError
from backprop.fast import compiled as _compiled
from backprop.fast import tiny as _tiny
from backprop.train import strategy
from backprop.train.rules import Rules
from backprop.train.trainable import Trainable
from backprop.train.trainer import Trainer


def _data(m=32, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n_in)), np.eye(n_out)[rng.integers(0, n_out, m)]


@pytest.fixture(autouse=True)
def _no_compiled_epochs(monkeypatch):
    """The strategies here are those of NumPy and the generated Python; the compiled epochs of small
    networks (taken first where numba is installed) have their own tests (tests/test_compiled.py)."""
    monkeypatch.setattr(_compiled, "ENABLED", False)


class _Unfused(Rules):
    fused = False  # eq. (3)'s gradient into buffers, then the update (as scikit-learn's rules)


def _train(fast, monkeypatch, dtype="float64", **kw):
    monkeypatch.setattr(strategy, "FAST", fast)
    X, Y = _data()
    net = backprop.Network([5, 8, 6, 3], hidden=["tanh", "relu"], output="softmax", seed=1, dtype=dtype)
    t = Trainer(net, loss="cross_entropy", epochs=3, seed=2, **kw)
    t.run(X, Y)
    return net, t


def test_network_is_trainable():
    assert isinstance(backprop.Network([2, 3, 1]), Trainable)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("record", [False, True])
def test_eta_in_the_error_term_gives_the_bits_of_sgd_as_written(monkeypatch, dtype, record):
    """eta = 0.25 and B = 8: eta/m = 2^-5 scales exactly, so folding it into delta^o (then one
    subtraction) and SGD.update's w - eta * grad give the same bits."""
    runs = [_train(fast, monkeypatch, dtype, lr=0.25, batch_size=8, rules=_Unfused(), record_gradients=record)
            for fast in (True, False)]
    (a, ta), (b, tb) = runs
    assert ta.strategy.delta_rule and not ta.strategy.fused and tb.strategy.name == "plain"
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)
    assert ta.history.loss == tb.history.loss
    if record:
        assert ta.history.grad_norm == tb.history.grad_norm
        assert ta.history.mean_abs_delta == tb.history.mean_abs_delta


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_delta_rule_gives_sgd_as_written_to_rounding(monkeypatch, dtype):
    """The fused step subtracts a^T delta by BLAS (beta = 1, maybe with FMA): the same values as
    SGD as written up to rounding errors of the weights' size, per update."""
    (a, ta), (b, tb) = (_train(fast, monkeypatch, dtype, lr=0.1, batch_size=7) for fast in (True, False))
    assert ta.strategy.name == "fused" and tb.strategy.name == "plain"
    eps = np.finfo(dtype).eps
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(p, q, rtol=0, atol=200 * eps * max(1.0, float(np.abs(q).max())))


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "nesterov"])
def test_other_optimizers_give_the_bits_of_the_optimizer_as_written(monkeypatch, optimizer):
    (a, ta), (b, tb) = (_train(fast, monkeypatch, "float32", lr=0.01, batch_size=8, optimizer=optimizer,
                               l2=1e-3) for fast in (True, False))
    assert (ta.strategy.flat is not None) == (optimizer == "adam") and tb.strategy.flat is None
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)


def test_the_choice_of_strategy(monkeypatch):
    X, Y = _data(24, 2, 1)
    Y = Y[:, :1]

    def chosen(sizes=(2, 3, 1), **kw):
        net = backprop.Network(list(sizes), hidden="tanh", output="sigmoid", seed=0)
        t = Trainer(net, **{"epochs": 1, "mode": "online", **kw})
        t.start(X, Y)
        return t.strategy.name, t.strategy.whole_epochs

    assert chosen() == ("tiny", True)
    assert chosen(callbacks=[lambda net, info: None]) == ("tiny", False)
    assert chosen(schedule="invscaling") == ("tiny", False)
    assert chosen(mode=None, batch_size=4)[0] == "fused"
    assert chosen(rules=_Unfused())[0] == "optimizer"
    assert chosen(optimizer="adam")[0] == "optimizer"
    monkeypatch.setattr(strategy, "FAST", False)
    assert chosen()[0] == "plain"


def test_the_tiny_path_reports_and_writes_nothing_of_the_run(monkeypatch):
    """run_epoch / run_epochs get a Run and return an outcome; the Run is left as it was."""
    monkeypatch.setattr(_tiny, "ENABLED", True)
    X, Y = _data(8, 2, 1)
    Y = Y[:, :1]
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0, dtype="float64")
    t = Trainer(net, epochs=2, mode="online", lr=0.5)
    t.start(X, Y)
    tiny = _tiny.TinyTrainer(t, X, Y)
    before = [p.copy() for p in net.weights + net.biases]

    class Stop:
        stop_requested = False

    run = _tiny.Run(stop=Stop(), optimizer=t.optimizer, perm=None, pos=3, epoch_loss=1.5)
    out = tiny.run_epoch(run)
    assert (out.pos, out.updates, out.status) == (8, 5, 0) and out.epoch_loss > 1.5
    assert (run.pos, run.epoch_loss) == (3, 1.5)
    assert not all(np.array_equal(p, q) for p, q in zip(before, net.weights + net.biases))
    run = _tiny.Run(stop=Stop(), orders=None, n_epochs=3, lr=0.5)
    out = tiny.run_epochs(run)
    assert (out.done, out.updates, out.status, len(out.losses)) == (3, 24, 0, 3)
    assert run.orders is None and run.n_epochs == 3


@pytest.mark.parametrize("kw", [{"mode": "online"}, {"batch_size": 8, "optimizer": "adam"},
                                {"batch_size": 8, "record_gradients": True, "early_stopping": 1}])
def test_the_trainer_makes_all_its_attributes_in_init(kw):
    X, Y = _data(24, 2, 1)
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    t = Trainer(net, epochs=3, validation_data=(X, Y[:, :1]), **kw)
    made = set(vars(t))
    t.run(X, Y[:, :1])
    t.load_state_dict(t.state_dict())
    assert set(vars(t)) == made


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_all_in_chunks_gives_the_bits_of_one_pass_with_layers_and_loss(dtype):
    """Oracle: the trace of all rows at once (one buffer set): the same a^k and yhat bit for bit
    (rows are independent); E as net.loss computes it, to the rounding of the chunks' weighted sum."""
    X, Y = _data(50, 5, 3, seed=4)
    X, Y = X.astype(dtype), Y.astype(dtype)
    net = backprop.Network([5, 8, 6, 3], hidden=["tanh", "relu"], output="softmax", seed=1, dtype=dtype)
    out = net.forward_all(X, Y=Y, loss=net.check_loss("cross_entropy"), chunk=16, layers=True)
    tr = net.trace(X, Y, "cross_entropy")
    assert len(out.layers) == 3 and out.layers[-1] is out.yhat
    for got, want in zip(out.layers, tr.a):
        assert np.array_equal(got, want)
    assert out.loss == pytest.approx(tr.loss, rel=10 * float(np.finfo(dtype).eps))
    assert net.forward_all(X).loss is None and net.forward_all(X).layers is None


def test_forward_all_checks_finiteness_only_when_asked():
    net = backprop.Network([2, 3, 1], hidden="tanh", output="identity", seed=0, dtype="float64")
    net.weights[1][:] = np.inf
    X = np.ones((3, 2))
    with pytest.raises(InvalidInputError, match="not finite for row 0"):
        net.forward_all(X)
    assert not np.isfinite(net.forward_all(X, check_finite=False).yhat).any()
