"""Trainer.step and Trainer.run_source: the step-level API the playground and the distributed
trainer build on. Each is checked against the whole-run loop it must equal, and the numbers a step
reports against an independent trace of the same rows with the same weights."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import backprop
from backprop.errors import InvalidInputError

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam"]
MODES = [dict(mode="online"), dict(batch_size=4), dict(mode="batch")]


def _setup(seed=0, m=10, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    Y = np.tanh(X @ rng.normal(size=(3, 2)))
    net = backprop.Network([3, 5, 2], hidden="tanh", output="identity", seed=seed, dtype=dtype)
    return net, X, Y


def _kw(optimizer, mode, **more):
    return dict(loss="mse", epochs=3, lr=0.05, optimizer=optimizer, seed=7, **mode, **more)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("mode", MODES, ids=["online", "minibatch", "batch"])
def test_steps_make_exactly_the_updates_of_run(optimizer, mode):
    net, X, Y = _setup()
    ref = net.copy()
    ref_trainer = backprop.Trainer(ref, **_kw(optimizer, mode, l2=0.01))
    ref_trainer.run(X, Y)
    t = backprop.Trainer(net, **_kw(optimizer, mode, l2=0.01))
    t.start(X, Y)
    n = 0
    while True:
        s = t.step()
        n += 1
        if s.done:
            break
    assert n == 3 * t.updates_per_epoch
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        if ref_trainer._tiny is None and ref_trainer._compiled is None:
            assert_array_equal(a, b)  # the very same arithmetic
        else:  # run() took the plain-Python or compiled path of small networks: other rounding
            assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert_allclose(t.history.loss, ref_trainer.history.loss, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="training is over"):
        t.step()


def test_a_step_reports_its_rows_trace_and_weights():
    net, X, Y = _setup(seed=1, m=9)
    t = backprop.Trainer(net, loss="mse", epochs=2, lr=0.1, batch_size=4, seed=3)
    t.start(X, Y)
    perm = np.random.default_rng(3).permutation(9)  # the trainer's seeded shuffle
    expected_rows = [perm[0:4], perm[4:8], perm[8:9]]
    for i, rows in enumerate(expected_rows):
        before = net.copy()
        s = t.step(trace=True)
        assert (s.epoch, s.step, s.epoch_done, s.done) == (1, i + 1, i == 2, False)
        assert_array_equal(s.batch, rows)
        oracle = before.trace(X[rows], Y[rows], loss="mse")  # same rows, same weights
        for got, want in zip(s.trace.h + s.trace.a + s.trace.delta + s.trace.grad_weights,
                             oracle.h + oracle.a + oracle.delta + oracle.grad_weights):
            assert_array_equal(got, want)
        assert s.loss == oracle.loss and s.lr == 0.1
        for w0, w1, g, b0, b1, gb in zip(s.weights_before, s.weights_after, oracle.grad_weights,
                                         s.biases_before, s.biases_after, oracle.grad_biases):
            assert_allclose(w1, w0 - 0.1 * g, rtol=1e-14, atol=1e-16)  # the delta rule, eq. (5)
            assert_allclose(b1, b0 - 0.1 * gb, rtol=1e-14, atol=1e-16)
        assert_array_equal(s.weights_after[0], net.weights[0])
    assert t.history.epochs == 1 and len(t.history.loss) == 1


def test_traced_steps_train_like_untraced_ones():
    net, X, Y = _setup(seed=2)
    ref = net.copy()
    backprop.Trainer(ref, **_kw("adam", dict(batch_size=3))).run(X, Y)
    t = backprop.Trainer(net, **_kw("adam", dict(batch_size=3)))
    t.start(X, Y)
    while not t.step(trace=True).done:
        pass
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_step_before_start_is_a_clear_error():
    net, X, Y = _setup()
    with pytest.raises(InvalidInputError, match="start"):
        backprop.Trainer(net).step()


class _Split:
    """A gradient source holding its rows in two shards, each summed by its own network copy."""

    def __init__(self, net, X, Y, cut):
        self.n_rows = X.shape[0]
        self.shards = [(np.arange(0, cut), X[:cut], Y[:cut]), (np.arange(cut, len(X)), X[cut:], Y[cut:])]
        self.net = net.copy()
        self.calls = 0

    def gradient_sum(self, rows, weights, biases):
        self.calls += 1
        for k in range(self.net.n_layers):
            self.net.weights[k][...] = weights[k]
            self.net.biases[k][...] = biases[k]
        total = None
        for idx, Xs, Ys in self.shards:
            mine = np.flatnonzero(np.isin(idx, rows))
            if mine.size == 0:
                continue
            part = self.net.gradient_sum(Xs[mine], Ys[mine])
            total = part if total is None else (
                [a + b for a, b in zip(total[0], part[0])], [a + b for a, b in zip(total[1], part[1])],
                total[2] + part[2])
        return total


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("mode", MODES, ids=["online", "minibatch", "batch"])
def test_run_source_equals_run_to_rounding(optimizer, mode):
    net, X, Y = _setup(seed=4, m=11)
    ref = net.copy()
    h_ref = backprop.Trainer(ref, **_kw(optimizer, mode, l2=0.02)).run(X, Y)
    source = _Split(net, X, Y, cut=6)
    h = backprop.Trainer(net, **_kw(optimizer, mode, l2=0.02)).run_source(source)
    assert source.calls == h_ref.n_updates == h.n_updates
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(h.loss, h_ref.loss, rtol=1e-10)


def test_traced_steps_record_gradients_like_run():
    net, X, Y = _setup(seed=5)
    ref = net.copy()
    kw = dict(loss="mse", epochs=2, lr=0.05, batch_size=4, seed=1, record_gradients=True)
    h_ref = backprop.Trainer(ref, **kw).run(X, Y)
    t = backprop.Trainer(net, **kw)
    t.start(X, Y)
    while not t.step(trace=True).done:
        pass
    assert len(t.history.mean_abs_delta) == 2 and min(min(e) for e in t.history.mean_abs_delta) > 0
    assert_allclose(t.history.mean_abs_delta, h_ref.mean_abs_delta, rtol=1e-10)
    assert_allclose(t.history.grad_norm, h_ref.grad_norm, rtol=1e-10)


class _Failing(_Split):
    """A source whose workers are lost at one update (it raises there, like a cluster gone)."""

    def __init__(self, *args, fail_at, **kw):
        super().__init__(*args, **kw)
        self.fail_at = fail_at

    def gradient_sum(self, rows, weights, biases):
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise RuntimeError("the cluster lost its workers")
        return super().gradient_sum(rows, weights, biases)


@pytest.mark.parametrize("fail_at", [1, 4, 5, 7])  # 3 updates an epoch: 4 and 7 are an epoch's first
def test_a_source_that_fails_leaves_a_state_that_resumes_exactly(fail_at):
    """The state saved after a failed update -- also the first of an epoch, whose row order is
    already drawn -- resumes to the weights of an uninterrupted run."""
    net, X, Y = _setup(seed=6, m=11)
    kw = dict(loss="mse", epochs=3, lr=0.05, batch_size=4, optimizer="adam", seed=2)
    ref = net.copy()
    backprop.Trainer(ref, **kw).run(X, Y)
    t = backprop.Trainer(net, **kw)
    with pytest.raises(RuntimeError, match="lost its workers"):
        t.run_source(_Failing(net, X, Y, cut=5, fail_at=fail_at))
    state = t.state_dict()
    resumed = net.copy()
    t2 = backprop.Trainer(resumed, **kw)
    t2.load_state_dict(state)
    t2.run(X, Y)
    for a, b in zip(resumed.weights + resumed.biases, ref.weights + ref.biases):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
