"""Compiled whole epochs for small networks (``backprop.fast.compiled``, numba) give the results of
the NumPy path.

Oracles: the engine's plain path (``strategy.FAST = False``: every update as written, ``backward_into``
then ``param -= lr * grad``), itself checked against loops and finite differences by the engine's
tests; and the reference's own algorithm (``core.reference.sgd_update``) batch by batch in the row
orders a fresh generator of the same seed draws. Tolerances follow from the computation: the
compiled epoch adds each sum in another order than BLAS, so each update may differ by a few ulps
per term of its longest sum (fan-in or batch size) -- relative eps x (fan-in + B) -- and those
differences add up over the updates: ``_tolerance``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import backprop
from backprop.core import reference as ref
from backprop.errors import DivergenceError
from backprop.fast import compiled as _compiled
from backprop.fast import epochs as _epochs
from backprop.fast import tiny as _tiny
from backprop.model.files import network_from_state
from backprop.train import strategy as _strategy
from backprop.train.checkpoint import load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer
from test_checkpoint import _StopAfterReads  # a Trainer that asks to stop after n reads of the flag

pytest.importorskip("numba")  # the `fast` extra (in the `test` extra, so CI runs these)

@pytest.fixture(autouse=True)
def _always(monkeypatch):
    """Every eligible run here takes the compiled path, however short (the rule that waits for a run
    long enough to pay for numba's start has its own test)."""
    monkeypatch.setattr(_compiled, "START_SECONDS", 0.0)
    # the compiled epochs of any size (fast.epochs, tests/test_epochs.py) would take the larger runs
    monkeypatch.setattr(_epochs, "ENABLED", False)


CASES = [  # sizes, hidden, output, loss
    ([2, 4, 1], "sigmoid", "sigmoid", "mse"),
    ([2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([3, 5, 4, 3], "tanh", "softmax", "cross_entropy"),
    ([3, 6, 2], "relu", "identity", "mse"),
    ([3, 6, 1], "leaky_relu", "tanh", "mse"),
    ([3, 4, 3, 2], ["identity", "sigmoid"], "relu", "mse"),
    ([4, 3], [], "softmax", "cross_entropy"),
]
MODES = {"online": dict(mode="online"), "minibatch": dict(batch_size=5), "batch": dict(mode="batch")}
M = 24


def _data(sizes, output, seed=0, m=M):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    N = sizes[-1]
    if output == "softmax":
        Y = np.eye(N)[rng.integers(0, N, m)]
    elif output == "sigmoid":
        Y = rng.integers(0, 2, (m, N)).astype(float)
    elif output == "tanh":
        Y = rng.uniform(-0.9, 0.9, (m, N))
    else:
        Y = rng.normal(size=(m, N))
    return X, Y


def _net(case, dtype, seed=7):
    sizes, hidden, output, _ = case
    net = backprop.Network(sizes, hidden=hidden, output=output, seed=seed, dtype=dtype)
    rng = np.random.default_rng(1)
    net.biases = [rng.normal(scale=0.3, size=b.shape).astype(dtype) for b in net.biases]  # off the kinks
    return net


def _train(monkeypatch, path, case, dtype, mode, *, epochs=6, **kw):
    """Train ``case`` on the "compiled" or the "plain" path; returns (net, history, trainer)."""
    monkeypatch.setattr(_strategy, "FAST", path == "compiled")
    net = _net(case, dtype)
    X, Y = _data(case[0], case[2])
    t = Trainer(net, loss=case[3], epochs=epochs, lr=kw.pop("lr", 0.05), seed=3, **MODES[mode], **kw)
    h = t.run(X, Y)
    assert t.strategy is not None and t.strategy.name == path  # the path under test was really taken
    return net, h, t


def _tolerance(net, n_updates, B, dtype, scale):
    """eps x (longest sum of an update: fan-in or batch) per update, over all updates, x the size."""
    eps = np.finfo(dtype).eps
    return 8 * n_updates * (max(net.sizes) + B) * eps * max(1.0, scale)


def _assert_close(fast, slow, n_updates, B, dtype):
    for p, q in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        assert p.dtype == q.dtype == np.dtype(dtype)
        tol = _tolerance(slow, n_updates, B, dtype, float(np.abs(q).max()))
        np.testing.assert_allclose(p, q, rtol=0, atol=tol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_compiled_epochs_equal_the_plain_path_float64(monkeypatch, case, mode, l2):
    fast, hf, tf = _train(monkeypatch, "compiled", case, "float64", mode, l2=l2)
    slow, hs, ts = _train(monkeypatch, "plain", case, "float64", mode, l2=l2)
    assert hf.n_updates == hs.n_updates == 6 * ts.updates_per_epoch
    _assert_close(fast, slow, hs.n_updates, ts.batch_size, "float64")
    # E per epoch: a mean over the rows of per-sample sums of the same kind
    tol = _tolerance(slow, hs.n_updates, ts.batch_size, "float64", 1.0)
    np.testing.assert_allclose(hf.loss, hs.loss, rtol=tol, atol=0)
    assert hf.lr == hs.lr and hf.epochs == hs.epochs == 6
    assert tf.optimizer.t == ts.optimizer.t == hs.n_updates
    # the same random numbers were drawn (the epochs' orders), and the generator is where it was
    assert tf.rng.random() == ts.rng.random()
    assert np.array_equal(tf.perm, ts.perm)


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_compiled_epochs_equal_the_plain_path_float32(monkeypatch, case, mode):
    """float32 parameters: the compiled epoch computes in float64 and rounds each stored parameter
    to float32, the NumPy path computes in float32: they agree to float32's rounding."""
    fast, hf, _ = _train(monkeypatch, "compiled", case, "float32", mode, l2=0.01)
    slow, hs, ts = _train(monkeypatch, "plain", case, "float32", mode, l2=0.01)
    _assert_close(fast, slow, hs.n_updates, ts.batch_size, "float32")
    tol = _tolerance(slow, hs.n_updates, ts.batch_size, "float32", 1.0)
    np.testing.assert_allclose(hf.loss, hs.loss, rtol=tol, atol=0)


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("B", [1, 5, M])
def test_compiled_epochs_follow_the_reference_algorithm(case, B):
    """(i)-(iv) of the reference, batch by batch, in the orders rng.permutation(m) draws each epoch
    from a generator of the run's seed: the compiled run's parameters."""
    net = _net(case, "float64")
    X, Y = _data(case[0], case[2])
    Ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    rng = np.random.default_rng(5)
    epochs, lr = 4, 0.1
    for _ in range(epochs):
        order = rng.permutation(M)
        for s in range(0, M, B):
            rows = order[s:s + B]
            Ws, bs = ref.sgd_update(Ws, bs, net.activations, X[rows], Y[rows], lr, case[3])
    t = Trainer(net, loss=case[3], epochs=epochs, lr=lr, batch_size=B, seed=5)
    t.run(X, Y)
    assert t.strategy is not None and t.strategy.name == "compiled"
    n_updates = epochs * -(-M // B)
    for got, want in zip(net.weights + net.biases, Ws + bs):
        tol = _tolerance(net, n_updates, B, "float64", float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_compiled_epochs_without_shuffling_and_over_several_calls(monkeypatch):
    """Epochs split over many compiled calls (a small WORK) give the run of one call, bit for bit,
    and shuffle=False visits the rows in their order (the plain path's result)."""
    case = CASES[2]
    runs = []
    for work in (1 << 30, 1):  # all epochs in one call; one epoch per call
        monkeypatch.setattr(_compiled, "WORK", work)
        net, h, t = _train(monkeypatch, "compiled", case, "float64", "minibatch", epochs=7, shuffle=False)
        runs.append((net, h))
    (a, ha), (b, hb) = runs
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)
    assert ha.loss == hb.loss
    slow, hs, ts = _train(monkeypatch, "plain", case, "float64", "minibatch", epochs=7, shuffle=False)
    _assert_close(a, slow, hs.n_updates, ts.batch_size, "float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_stop_between_compiled_calls_resumes_to_the_same_bits(monkeypatch, tmp_path, dtype):
    monkeypatch.setattr(_compiled, "WORK", 1)  # one epoch per call
    case = CASES[2]
    X, Y = _data(case[0], case[2])
    kw = dict(loss=case[3], batch_size=5, lr=0.1, epochs=9, seed=2)
    ref_net = _net(case, dtype)
    ref_t = Trainer(ref_net, **kw)
    ref_h = ref_t.run(X, Y)
    t = _StopAfterReads(_net(case, dtype), reads=4, **kw)
    h = t.run(X, Y)
    assert t.strategy is not None and t.strategy.name == "compiled"
    assert h.interrupted and 0 < h.epochs < 9 and t.pos == 0
    save_checkpoint(tmp_path / "c.ckpt", t)
    state, _ = load_checkpoint(tmp_path / "c.ckpt")
    net2 = network_from_state(state)
    t2 = Trainer(net2, **kw)
    t2.load_state_dict(state)
    h2 = t2.run(X, Y)
    assert not h2.interrupted and h2.n_updates == ref_h.n_updates
    for p, q in zip(net2.weights + net2.biases, ref_net.weights + ref_net.biases):
        assert np.array_equal(p, q)
    assert h2.loss == ref_h.loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["online", "minibatch"])
def test_divergence_on_the_compiled_path(dtype, mode):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 2)) * 10
    Y = rng.normal(size=(12, 1)) * 10
    net = backprop.Network([2, 3, 1], hidden="relu", output="identity", seed=0, dtype=dtype)
    t = Trainer(net, lr=1e3, epochs=50, **MODES[mode])
    with pytest.raises(DivergenceError, match=r"training diverged at epoch \d+, step \d+: .*smaller"):
        t.run(X, Y)
    assert t.strategy is not None and t.strategy.name == "compiled"
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
    assert t.history.n_updates >= 1


def _chosen(net, X, Y, **kw):
    t = Trainer(net, **{"epochs": 1, "mode": "online", **kw})
    t.start(X, Y)
    assert t.strategy is not None
    return t.strategy.name


def test_unsupported_runs_fall_back_to_the_other_paths(monkeypatch):
    X, Y = _data([2, 3, 1], "sigmoid")
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    assert _chosen(net, X, Y) == "compiled"
    assert _chosen(net, X, Y, batch_size=4, mode=None) == "compiled"
    # nothing may happen between the updates or epochs but recording E: the other paths
    assert _chosen(net, X, Y, callbacks=[lambda n, i: None]) == "tiny"
    assert _chosen(net, X, Y, schedule="invscaling") == "tiny"
    assert _chosen(net, X, Y, on_step=lambda n, i: None) == "fused"
    assert _chosen(net, X, Y, validation_data=(X, Y)) == "tiny"
    assert _chosen(net, X, Y, early_stopping=3) == "tiny"
    assert _chosen(net, X, Y, record_gradients=True) in ("fused", "optimizer")
    # only plain SGD without an L1 term
    assert _chosen(net, X, Y, optimizer="momentum") == "optimizer"
    assert _chosen(net, X, Y, optimizer="adam") == "optimizer"
    assert _chosen(net, X, Y, l1=0.01) == "optimizer"
    # activations and losses the kernel has
    elu = backprop.Network([2, 3, 1], hidden="elu", output="sigmoid", seed=0)
    assert _chosen(elu, X, Y) == "fused"
    soft = backprop.Network([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    assert _chosen(soft, X, np.eye(2)[(X[:, 0] > 0).astype(int)], loss="mse") == "fused"
    # switched off, or numba missing: the paths of before
    monkeypatch.setattr(_compiled, "ENABLED", False)
    assert _chosen(net, X, Y) == "tiny"
    monkeypatch.setattr(_compiled, "ENABLED", True)
    monkeypatch.setattr(_tiny, "ENABLED", False)
    monkeypatch.setattr(_compiled, "available", lambda: False)
    assert _chosen(net, X, Y) == "fused"


def test_a_broken_numba_falls_back(monkeypatch):
    """numba installed but failing to import: the run takes the NumPy path, and the failure is
    remembered (not retried every run)."""
    monkeypatch.setattr(_compiled, "_kernels", None)
    monkeypatch.setattr(_compiled, "_failed", False)
    monkeypatch.setitem(sys.modules, "backprop.fast.kernels", None)  # import raises ImportError
    monkeypatch.delattr(backprop.fast, "kernels", raising=False)
    X, Y = _data([2, 3, 1], "sigmoid")
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    assert _chosen(net, X, Y, mode=None, batch_size=4) == "fused"
    assert _compiled._failed and not _compiled.available()


def test_networks_over_the_threshold_take_the_numpy_path():
    for B in (1, 16, 64, 256):
        limit = _compiled.max_parameters(B)
        assert limit * B <= _compiled.MAX_WORK
        for hidden, want in ((1, "compiled"), (limit, "fused")):  # 6 h + h + 2 + ... parameters
            sizes = [4, hidden, 2]
            net = backprop.Network(sizes, hidden="relu", output="softmax", seed=0)
            X, Y = _data(sizes, "softmax", m=max(B, 8))
            fits = net.n_parameters <= limit
            assert fits == (want == "compiled")
            name = _chosen(net, X, Y, loss="cross_entropy", batch_size=B, mode=None)
            assert name == want or (want == "fused" and name == "tiny")  # tiny: online, <= 200


def test_large_networks_never_import_numba():
    """README's first command trains digits' 64-256-128-10 network: numba stays unimported (lazy)."""
    code = ("import sys, numpy as np, backprop\n"
            "rng = np.random.default_rng(0)\n"
            "X, y = rng.normal(size=(64, 64)), rng.integers(0, 10, 64)\n"
            "net = backprop.Network([64, 256, 128, 10], hidden='relu', output='softmax', seed=0)\n"
            "net.fit(X, y, loss='cross_entropy', epochs=1, batch_size=32)\n"
            "small = backprop.Network([2, 3, 1], hidden='tanh', output='sigmoid', seed=0)\n"
            "assert 'numba' not in sys.modules, 'numba imported by a large network'\n"
            "small.fit(X[:, :2], (X[:, :1] > 0) * 1.0, epochs=2, mode='online')\n"
            "assert 'numba' not in sys.modules, 'numba imported by a short run'\n"
            "small.fit(X[:, :2], (X[:, :1] > 0) * 1.0, epochs=20000, mode='online')  # ~3 s saved\n"
            "print('numba' in sys.modules)\n")
    env = dict(os.environ)
    env.pop("BACKPROP_NO_COMPILE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"  # and the small one did use it


def test_numba_starts_only_for_a_run_that_pays_for_it(monkeypatch):
    """Before numba runs in a process, a run takes the compiled path only when the predicted saving
    exceeds numba's start; once it runs, every eligible run does."""
    monkeypatch.setattr(_compiled, "START_SECONDS", 0.5)
    monkeypatch.setattr(_compiled, "_kernels", None)  # as in a fresh process
    X, Y = _data([2, 3, 1], "sigmoid")  # 24 rows
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    short, long = 100, 100_000  # epochs: ~2,400 and ~2.4 million sample visits
    for epochs in (short, long):
        tiny = _compiled.saving(net.n_parameters, 1, epochs * M, tiny=True)
        numpy = _compiled.saving(net.n_parameters, 8, epochs * M, tiny=False)
        assert (tiny >= 0.5, numpy >= 0.5) == ((False, False) if epochs == short else (True, True))
    assert _chosen(net, X, Y, epochs=short) == "tiny" and _compiled._kernels is None
    assert _chosen(net, X, Y, epochs=short, batch_size=8, mode=None) == "fused"
    assert _chosen(net, X, Y, epochs=long) == "compiled" and _compiled._kernels is not None
    assert _chosen(net, X, Y, epochs=short) == "compiled"  # numba runs now: no start to pay
    # the model: the NumPy step's per-batch cost makes online runs gain most
    assert _compiled.saving(17, 1, 10**6, tiny=False) > _compiled.saving(17, 1, 10**6, tiny=True) > 0
    assert _compiled.saving(5000, 64, 10**6, tiny=False) < 0


# -- Adam in one compiled pass (fast.kernels.adam_segment through fast.adam.FlatAdam) ------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [dict(batch_size=7),
                                dict(batch_size=4, l2=1e-3, schedule="exponential", gamma=0.9),
                                dict(mode="online", beta_1=0.8, beta_2=0.99, epsilon=1e-6)],
                         ids=["minibatch", "l2-exponential", "online-betas"])
def test_adam_in_one_compiled_pass_gives_the_bits_of_adam_as_written(monkeypatch, dtype, kw):
    """The same operations per element in the same order, scalars cast to the arrays' dtype as NumPy
    casts Python floats: bit for bit ``Adam.update`` as written (strategy.FAST off), parameters and
    moments."""
    X, Y = _data([5, 8, 6, 3], "softmax", m=30)
    runs = []
    for fast in (True, False):
        monkeypatch.setattr(_strategy, "FAST", fast)
        net = backprop.Network([5, 8, 6, 3], hidden=["tanh", "relu"], output="softmax", seed=1, dtype=dtype)
        t = Trainer(net, loss="cross_entropy", epochs=3, lr=0.01, optimizer="adam", seed=2, **kw)
        t.run(X, Y)
        assert t.strategy is not None
        assert (t.strategy.flat is not None and t.strategy.flat.kernels is not None) == fast
        runs.append((net, t.optimizer.state))
    (a, sa), (b, sb) = runs
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert p.dtype == np.dtype(dtype) and np.array_equal(p, q)
    for slot in ("m", "v"):
        for key, arr in sb[slot].items():
            assert np.array_equal(sa[slot][key], arr)
    assert not np.array_equal(a.weights[0], _net(CASES[2], dtype).weights[0])


def test_adam_starts_numba_only_for_a_run_that_pays_for_it(monkeypatch):
    monkeypatch.setattr(_compiled, "START_SECONDS", 0.5)
    monkeypatch.setattr(_compiled, "_kernels", None)  # as in a fresh process
    assert _compiled.adam_kernels(50_000, 500) is None  # 25 ms to save: README's digits run
    assert _compiled.adam_kernels(535_818, 59) is None  # one epoch of 784-512-256-10 at B = 1024
    assert _compiled.adam_kernels(535_818, 20 * 469) is not None  # 20 epochs at B = 128: ~5 s
    assert _compiled.adam_kernels(1, 1) is not None  # numba runs now
    monkeypatch.setattr(_compiled, "ENABLED", False)
    assert _compiled.adam_kernels(535_818, 10**6) is None
