"""Compiled epochs for networks of any size (``backprop.fast.epochs``, the kernel ``fast.dense.epoch``:
every batch of an epoch in one numba call, the products on NumPy's OpenBLAS) give the results of the
NumPy path.

Oracles: the NumPy step of the same run (``compiled.ENABLED = False``: strategy "fused" for SGD,
"optimizer" for Adam), and the engine's plain path (``strategy.FAST = False``: every update as written,
``backward_into`` then ``opt.update``), itself checked against loops and finite differences by the
engine's tests. Both are independent of the kernel: no code of ``fast.dense`` runs in them.

Tolerances follow from the computation. The kernel makes the same BLAS products as the NumPy step
and the same elementwise operations in the same order, except where a transcendental function (exp,
log, tanh) is computed: the C library's against NumPy's vector versions, which may differ in the last
bit; the plain path also adds the products' terms in its own order. So each update may differ by a
few ulps per term of its longest sum (fan-in or batch size) -- relative eps x (fan-in + B) -- and
those differences add up over the updates: ``_tolerance`` (the same model as tests/test_compiled.py).
Adam divides by sqrt(v): a relative difference of the gradient is a relative difference of the step,
bounded by the rate, so the same model holds, scaled by the size of the parameters.

Where the *same* kernel runs both ways (one call per epoch against several, a stop and a resume
against an uninterrupted run) the parameters must agree bit for bit: the updates, their step sizes
and flushes are the same operations in the same order whatever the split (the per-call loss sums
only are added in another order when a call holds several batches).
"""

from __future__ import annotations

import contextlib
import ctypes

import numpy as np
import pytest

import backprop
from backprop.errors import DivergenceError
from backprop.fast import compiled as _compiled
from backprop.fast import denormals as _denormals
from backprop.fast import epochs as _epochs
from backprop.model.files import network_from_state
from backprop.train import strategy as _strategy
from backprop.train import trainer as _trainer_module
from backprop.train.checkpoint import load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer
from test_checkpoint import _StopAfterReads  # a Trainer that asks to stop after n reads of the flag
from test_compiled import _data as compiled_data
from test_compiled import _net, _tolerance  # eps x (fan-in + B) per update, x the size

pytest.importorskip("numba")  # the `fast` extra (in the `test` extra, so CI runs these)


@pytest.fixture(autouse=True)
def _always(monkeypatch):
    """Every eligible run here takes the compiled epochs, however short (the rule that waits for a run
    long enough to pay for numba's start has its own test), and the small networks here do not take
    the per-sample "compiled" path that plain SGD on a small network takes first."""
    monkeypatch.setattr(_compiled, "START_SECONDS", 0.0)
    monkeypatch.setattr(_compiled, "MAX_WORK", 0)


CASES = [  # sizes, hidden, output, loss
    ([4, 6, 3], "tanh", "softmax", "cross_entropy"),
    ([4, 5, 2], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([4, 6, 5, 2], ["relu", "leaky_relu"], "identity", "mse"),
    ([4, 5, 2], "identity", "identity", "mse"),
]
M, B = 200, 16  # 12 batches of 16 and a last one of 8
EXPECT = {"epoch": "epoch", "plain": "plain"}


def _ids(case):
    return f"{case[0]}-{case[1]}-{case[2]}-{case[3]}".replace("'", "").replace(" ", "")


def _data(sizes, output, seed=0, m=M):
    return compiled_data(sizes, output, seed=seed, m=m)  # (the same random data as the small networks')


def _set_path(monkeypatch, path):
    """"epoch": the compiled epochs; "numpy": the NumPy step (numba paths off); "plain": as written."""
    monkeypatch.setattr(_strategy, "FAST", path != "plain")
    monkeypatch.setattr(_compiled, "ENABLED", path != "numpy")


def _numpy_name(optimizer):
    return "optimizer" if optimizer == "adam" else "fused"


def _train(monkeypatch, path, case, dtype, *, net=None, X=None, Y=None, epochs=3, optimizer="sgd",
           progress=None, **kw):
    """Train ``case`` on ``path`` (``progress``: the trainer's progress hook); returns (net, history,
    trainer), having checked the path was taken."""
    _set_path(monkeypatch, path)
    net = _net(case, dtype) if net is None else net
    if X is None:
        X, Y = _data(case[0], case[2])
    kw.setdefault("lr", 0.01 if optimizer == "adam" else 0.05)
    kw.setdefault("batch_size", B)
    t = Trainer(net, loss=case[3], epochs=epochs, optimizer=optimizer, seed=3, **kw)
    t.progress = progress
    h = t.run(X, Y)
    assert t.strategy is not None
    assert t.strategy.name == EXPECT.get(path, _numpy_name(optimizer))  # the path under test was taken
    return net, h, t


def _assert_close(fast, slow, n_updates, batch, dtype):
    for p, q in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        assert p.dtype == q.dtype == np.dtype(dtype) and p.shape == q.shape
        tol = _tolerance(slow, n_updates, batch, dtype, float(np.abs(q).max()))
        np.testing.assert_allclose(p, q, rtol=0, atol=tol)


def _assert_same_bits(a, b):
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert p.dtype == q.dtype and np.array_equal(p, q)


def _adam_state_close(sa, sb, net, n_updates, batch, dtype):
    for slot in ("m", "v"):
        assert set(sa[slot]) == set(sb[slot])
        for key, arr in sb[slot].items():
            got = np.asarray(sa[slot][key])
            assert got.dtype == arr.dtype == np.dtype(dtype)
            tol = _tolerance(net, n_updates, batch, dtype, 1.0) * float(np.abs(arr).max())
            np.testing.assert_allclose(got, arr, rtol=0, atol=tol)


# -- 1. the same results as the NumPy step and the plain path ------------------------------------
@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("l2", [0.0, 0.01])
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "in-order"])
def test_compiled_epochs_equal_the_numpy_and_plain_paths(monkeypatch, case, dtype, optimizer, l2, shuffle):
    kw = dict(optimizer=optimizer, l2=l2, shuffle=shuffle)
    fast, hf, tf = _train(monkeypatch, "epoch", case, dtype, **kw)
    upe = -(-M // B)
    assert hf.updates_per_epoch == upe
    for path in ("numpy", "plain"):
        slow, hs, ts = _train(monkeypatch, path, case, dtype, **kw)
        assert hf.n_updates == hs.n_updates == 3 * upe
        assert tf.optimizer.t == ts.optimizer.t == hs.n_updates
        _assert_close(fast, slow, hs.n_updates, B, dtype)
        # E per epoch: a mean over the rows of per-sample sums of the same kind
        tol = _tolerance(slow, hs.n_updates, B, dtype, 1.0)
        assert len(hf.loss) == len(hs.loss) == 3
        np.testing.assert_allclose(hf.loss, hs.loss, rtol=tol, atol=0)
        assert hf.lr == hs.lr and hf.epochs == hs.epochs == 3
        if optimizer == "adam":
            _adam_state_close(tf.optimizer.state, ts.optimizer.state, slow, hs.n_updates, B, dtype)
        # the same random numbers were drawn (the epochs' orders), and the generator is where it was
        assert tf.rng.bit_generator.state == ts.rng.bit_generator.state
        assert (tf.perm is None) == (ts.perm is None) == (not shuffle)
        if shuffle:
            assert np.array_equal(tf.perm, ts.perm)
    # and it trained: the parameters moved
    start = _net(case, dtype)
    assert not np.array_equal(fast.weights[0], start.weights[0])


# -- 2. several calls per epoch ---------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_several_calls_per_epoch_give_the_bits_of_one(monkeypatch, optimizer, dtype):
    """WORK small: one batch per call, or three; the parameters are the one call's bits (the same
    updates in the same order), E the same bits for one batch per call (the same sum, batch by batch)
    and to rounding for three (each call's sum is added to the epoch's: another order)."""
    case = CASES[2]
    calls = []
    real_run = _epochs.EpochRunner.run

    def counting(self, trainer, lo, hi):
        calls.append((lo, hi))
        return real_run(self, trainer, lo, hi)

    monkeypatch.setattr(_epochs.EpochRunner, "run", counting)
    runs = []
    n_par = _net(case, dtype).n_parameters
    for work in (_epochs.WORK, 1, 3 * B * n_par):
        monkeypatch.setattr(_epochs, "WORK", work)
        calls.clear()
        net, h, t = _train(monkeypatch, "epoch", case, dtype, optimizer=optimizer, l2=0.01)
        runs.append((net, h, t, len(calls)))
    (a, ha, ta, ca), (b, hb, tb, cb), (c, hc, tc, cc) = runs
    assert ca == 3 and cb == 3 * 13 and cc == 3 * 5  # per epoch: 1, 13 batches, ceil(13 / 3)
    for other, h, t in ((b, hb, tb), (c, hc, tc)):
        _assert_same_bits(a, other)
        assert h.n_updates == ha.n_updates and t.optimizer.t == ta.optimizer.t
        if optimizer == "adam":
            for slot in ("m", "v"):
                for key, arr in ta.optimizer.state[slot].items():
                    assert np.array_equal(t.optimizer.state[slot][key], arr)
    assert hb.loss == ha.loss
    np.testing.assert_allclose(hc.loss, ha.loss, rtol=4 * 13 * np.finfo(float).eps, atol=0)
    slow, hs, _ = _train(monkeypatch, "plain", case, dtype, optimizer=optimizer, l2=0.01)
    _assert_close(a, slow, hs.n_updates, B, dtype)


# -- 3. a stop between calls, a checkpoint, and the rest ---------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("reads", [5, 13, 23])  # inside epoch 1, after its last batch, inside epoch 2
def test_a_stop_between_calls_resumes_to_the_same_bits(monkeypatch, tmp_path, dtype, optimizer, reads):
    """One batch per call (WORK = 1): a stop request is seen after a call, inside an epoch; saved,
    loaded and continued by a new Trainer, the run ends with the uninterrupted run's bits: the same
    kernel on the same batches, the step sizes from the saved t, the flushes from the saved count.
    ``reads=13``: the stop comes after the call that trained the epoch's last batch, before the
    epoch's end is recorded (pos = m): the resumed run records it."""
    monkeypatch.setattr(_epochs, "WORK", 1)
    case = CASES[0]
    X, Y = _data(case[0], case[2])
    kw = dict(loss=case[3], batch_size=B, lr=0.05, epochs=4, seed=2, optimizer=optimizer, l2=0.01)
    ref_net = _net(case, dtype)
    ref_t = Trainer(ref_net, **kw)
    ref_h = ref_t.run(X, Y)
    assert ref_t.strategy is not None and ref_t.strategy.name == "epoch"
    t = _StopAfterReads(_net(case, dtype), reads=reads, **kw)
    h = t.run(X, Y)
    assert t.strategy is not None and t.strategy.name == "epoch"
    assert h.interrupted and h.epochs < 4 and 0 < h.n_updates < ref_h.n_updates
    assert 0 < t.pos <= M and t.pos % B in (0, M % B)  # inside an epoch (or before its end's bookkeeping)
    save_checkpoint(tmp_path / "c.ckpt", t)
    state, _ = load_checkpoint(tmp_path / "c.ckpt")
    net2 = network_from_state(state)
    t2 = Trainer(net2, **kw)
    t2.load_state_dict(state)
    h2 = t2.run(X, Y)
    assert t2.strategy is not None and t2.strategy.name == "epoch"
    assert not h2.interrupted and h2.n_updates == ref_h.n_updates and h2.epochs == 4
    assert t2.optimizer.t == ref_t.optimizer.t
    _assert_same_bits(net2, ref_net)
    if optimizer == "adam":
        for slot in ("m", "v"):
            for key, arr in ref_t.optimizer.state[slot].items():
                assert np.array_equal(t2.optimizer.state[slot][key], arr)
    # the interrupted epoch's E: the saved partial sum plus the rest, batch by batch: the same sum
    assert h2.loss == ref_h.loss


# -- 4. divergence ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_divergence_is_reported_where_the_numpy_path_reports_it(monkeypatch, dtype, optimizer):
    case = ([3, 8, 2], "relu", "identity", "mse")
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(M, 3)) * 30, rng.normal(size=(M, 2)) * 30
    # Adam's steps are about lr each: weights of sqrt(max) make products of two layers overflow
    lr = 1e4 if optimizer == "sgd" else float(np.sqrt(np.finfo(dtype).max))
    errors = {}
    for path in ("epoch", "numpy"):
        _set_path(monkeypatch, path)
        net = _net(case, dtype)
        t = Trainer(net, loss="mse", lr=lr, epochs=30, batch_size=B, optimizer=optimizer, seed=1)
        match = r"training diverged at epoch \d+, step \d+: .*smaller"
        with pytest.raises(DivergenceError, match=match) as ei:
            t.run(X, Y)
        assert t.strategy is not None
        assert t.strategy.name == ("epoch" if path == "epoch" else _numpy_name(optimizer))
        assert all(np.isfinite(p).all() for p in net.weights + net.biases)
        assert t.history.n_updates >= 1
        errors[path] = (ei.value.epoch, ei.value.step, t.history.n_updates, list(t.history.loss), net)
    (e1, s1, n1, l1, a), (e2, s2, n2, l2, b) = errors["epoch"], errors["numpy"]
    assert (e1, s1, n1) == (e2, s2, n2)
    assert len(l1) == len(l2)
    # the weights handed back: both restored to the start of the epoch, or both the last finite ones
    _assert_close(a, b, n2, B, dtype)


# -- 5. the exponential schedule ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_exponential_schedule_equals_the_numpy_path(monkeypatch, dtype, optimizer):
    case = CASES[0]
    kw = dict(optimizer=optimizer, schedule="exponential", gamma=0.7, epochs=4, l2=0.001)
    fast, hf, tf = _train(monkeypatch, "epoch", case, dtype, **kw)
    slow, hs, ts = _train(monkeypatch, "numpy", case, dtype, **kw)
    assert hf.lr == hs.lr and len(set(hf.lr)) == 4  # a rate per epoch, each a different one
    assert tf.optimizer.lr == ts.optimizer.lr
    _assert_close(fast, slow, hs.n_updates, B, dtype)
    np.testing.assert_allclose(hf.loss, hs.loss, rtol=_tolerance(slow, hs.n_updates, B, dtype, 1.0), atol=0)
    plain, hp, _ = _train(monkeypatch, "plain", case, dtype, **kw)
    _assert_close(fast, plain, hp.n_updates, B, dtype)
    # a constant rate gives other weights: the schedule was applied
    const, _, _ = _train(monkeypatch, "epoch", case, dtype, **{**kw, "schedule": "constant"})
    assert not np.allclose(const.weights[0], fast.weights[0], rtol=1e-3, atol=0)


# -- 6. subnormals are flushed as on the NumPy path -----------------------------------------------
def _subnormals(arrays):
    n = 0
    for a in arrays:
        a = np.asarray(a)
        n += int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))
    return n


def _adam_arrays(state):
    return [a for slot in ("m", "v") for a in state.get(slot, {}).values()]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_subnormals_are_flushed_as_on_the_numpy_path(monkeypatch, optimizer):
    """float32, an input column that is zero in (almost) every row: the weights of that column decay
    geometrically (SGD: the L2 term alone, x (1 - lr l2) per update; Adam: their gradient is zero after
    the first batch, so m decays x beta_1 per update) through the subnormal range. The run ends on a
    flush (n_updates a multiple of denormals.EVERY): without the flush subnormals are left (the set-up
    makes them), with it none, on either path, and both paths agree."""
    case = ([3, 4, 2], "tanh", "identity", "mse")
    dtype = "float32"
    if optimizer == "sgd":
        m, epochs = 256, 20  # 16 updates per epoch, 320 updates: 0.75^k passes 2^-126 at k ~ 300
        kw = dict(optimizer="sgd", lr=0.25, l2=1.0, batch_size=16, shuffle=True, epochs=epochs)
    else:
        m, epochs = 16 * 400, 1  # 400 updates, in order: only the first batch sees the column
        kw = dict(optimizer="adam", lr=1e-3, beta_1=0.8, batch_size=16, shuffle=False, epochs=epochs)
    X, Y = _data(case[0], case[2], m=m)
    X[:, 1] = 0.0
    if optimizer == "adam":
        X[:16, 1] = 1.0
    assert (m // 16 * epochs) % _denormals.EVERY == 0
    results = {}
    for flush in (False, True):
        monkeypatch.setattr(_denormals, "ENABLED", flush)
        for path in ("epoch", "numpy"):
            net, h, t = _train(monkeypatch, path, case, dtype, X=X, Y=Y, **kw)
            watched = ([net.weights[0][1]] if optimizer == "sgd"
                       else [t.optimizer.state["m"][("w", 0)][1]])
            arrays = net.weights + net.biases + _adam_arrays(t.optimizer.state)
            results[flush, path] = (net, h, _subnormals(arrays), _subnormals(watched), t)
    for path in ("epoch", "numpy"):
        assert results[False, path][3] > 0  # the set-up makes subnormals, which the flush then removes
        assert results[True, path][2] == 0
    for flush in (False, True):
        a, ha, na, _, ta = results[flush, "epoch"]
        b, hb, nb, _, tb = results[flush, "numpy"]
        assert na == nb
        _assert_close(a, b, hb.n_updates, 16, dtype)
        # the watched entries: flushed to the same zeros
        for p, q in zip(a.weights + a.biases, b.weights + b.biases):
            assert np.array_equal(p == 0, q == 0)


def test_validation_early_stopping_and_callbacks_between_epochs(monkeypatch):
    """Validation, early stopping and callbacks run between the compiled calls: the NumPy path's
    validation losses, best epoch and restored weights."""
    case = CASES[0]
    Xv, Yv = _data(case[0], case[2], seed=9, m=50)
    seen = {}
    runs = {}
    for path in ("epoch", "numpy"):
        seen[path] = []
        kw = dict(optimizer="adam", lr=0.05, epochs=12, validation_data=(Xv, Yv), early_stopping=2,
                  callbacks=[lambda n, i, p=path: seen[p].append(i["epoch"])])
        runs[path] = _train(monkeypatch, path, case, "float64", **kw)
    (a, ha, _), (b, hb, _) = runs["epoch"], runs["numpy"]
    assert seen["epoch"] == seen["numpy"] == list(range(1, ha.epochs + 1))
    assert ha.epochs == hb.epochs < 12 and ha.best_epoch == hb.best_epoch
    assert ha.stopped_early and hb.stopped_early
    tol = _tolerance(b, hb.n_updates, B, "float64", 1.0)
    np.testing.assert_allclose(ha.val_loss, hb.val_loss, rtol=tol, atol=0)
    _assert_close(a, b, hb.n_updates, B, "float64")


# -- 7. runs that do not take the compiled epochs -------------------------------------------------
def _chosen(net, X, Y, **kw):
    t = Trainer(net, **{"epochs": 1, "batch_size": B, **kw})
    t.start(X, Y)
    assert t.strategy is not None
    return t.strategy.name


def test_runs_the_kernel_does_not_have_take_the_numpy_step(monkeypatch):
    X, Y = _data([4, 6, 3], "softmax")
    net = backprop.Network([4, 6, 3], hidden="tanh", output="softmax", seed=0)
    kw = dict(loss="cross_entropy")
    assert _chosen(net, X, Y, **kw) == "epoch"
    assert _chosen(net, X, Y, optimizer="adam", **kw) == "epoch"
    assert _chosen(net, X, Y, l2=0.1, **kw) == "epoch"
    # a per-update hook, gradient recording, an L1 term
    assert _chosen(net, X, Y, on_step=lambda n, i: None, **kw) == "fused"
    assert _chosen(net, X, Y, optimizer="adam", on_step=lambda n, i: None, **kw) == "optimizer"
    assert _chosen(net, X, Y, record_gradients=True, **kw) in ("fused", "optimizer")
    assert _chosen(net, X, Y, optimizer="adam", record_gradients=True, **kw) == "optimizer"
    assert _chosen(net, X, Y, l1=0.01, **kw) == "optimizer"
    assert _chosen(net, X, Y, optimizer="adam", l1=0.01, **kw) == "optimizer"
    # other optimizers and schedules
    assert _chosen(net, X, Y, optimizer="momentum", **kw) == "optimizer"
    assert _chosen(net, X, Y, schedule="invscaling", **kw) == "fused"
    # batch size 1
    assert _chosen(net, X, Y, batch_size=1, **kw) in ("fused", "tiny")
    assert _chosen(net, X, Y, batch_size=1, optimizer="adam", **kw) == "optimizer"
    assert _chosen(net, X, Y, batch_size=2, optimizer="adam", **kw) == "epoch"  # MIN_BATCH
    # units and losses the kernel has not
    elu = backprop.Network([4, 6, 3], hidden="elu", output="softmax", seed=0)
    assert _chosen(elu, X, Y, **kw) == "fused"
    assert _chosen(elu, X, Y, optimizer="adam", **kw) == "optimizer"
    sig = backprop.Network([4, 6, 3], hidden="tanh", output="sigmoid", seed=0)
    assert _chosen(sig, X, Y, loss="binary_cross_entropy") == "epoch"
    assert _chosen(sig, X, Y, loss="mse") == "fused"
    assert _chosen(sig, X, Y, loss="mse", optimizer="adam") == "optimizer"
    soft = backprop.Network([4, 6, 3], hidden="tanh", output="softmax", seed=0)
    assert _chosen(soft, X, Y, loss="mse") == "fused"
    # what happens between epochs does not matter (one call trains within an epoch)
    assert _chosen(net, X, Y, callbacks=[lambda n, i: None], **kw) == "epoch"
    assert _chosen(net, X, Y, validation_data=(X, Y), early_stopping=2, **kw) == "epoch"
    # switched off: the paths of before
    monkeypatch.setattr(_compiled, "ENABLED", False)
    assert _chosen(net, X, Y, **kw) == "fused"
    assert _chosen(net, X, Y, optimizer="adam", **kw) == "optimizer"
    monkeypatch.setattr(_compiled, "ENABLED", True)
    monkeypatch.setattr(_strategy, "FAST", False)
    assert _chosen(net, X, Y, **kw) == "plain"


def test_numba_starts_only_for_a_run_that_pays_for_it(monkeypatch):
    """Before numba runs in a process, a run takes the compiled epochs only when its updates x the
    saving per update exceed numba's start; once it runs, every eligible run does."""
    monkeypatch.undo()  # the real START_SECONDS and MAX_WORK
    monkeypatch.setattr(_compiled, "MAX_WORK", 0)
    monkeypatch.setattr(_compiled, "_kernels", None)  # as in a fresh process
    start = _compiled.START_SECONDS
    assert start > 0
    X, Y = _data([4, 6, 3], "softmax")  # 200 rows: 13 updates per epoch at B = 16
    net = backprop.Network([4, 6, 3], hidden="tanh", output="softmax", seed=0)
    upe = -(-M // B)
    short = 1
    long = int(np.ceil(start / _epochs.SAVING_PER_UPDATE / upe)) + 1
    assert short * upe * _epochs.SAVING_PER_UPDATE < start <= long * upe * _epochs.SAVING_PER_UPDATE
    assert _chosen(net, X, Y, epochs=short, optimizer="adam", loss="cross_entropy") == "optimizer"
    assert _chosen(net, X, Y, epochs=short, loss="cross_entropy") == "fused"
    assert _compiled._kernels is None  # numba not started by them
    assert _chosen(net, X, Y, epochs=long, optimizer="adam", loss="cross_entropy") == "epoch"
    assert _compiled._kernels is not None
    assert _chosen(net, X, Y, epochs=short, loss="cross_entropy") == "epoch"  # numba runs now
    assert _chosen(net, X, Y, epochs=short, optimizer="adam", loss="cross_entropy") == "epoch"


# -- 8. scikit-learn's estimators -----------------------------------------------------------------
def _spy(monkeypatch):
    names = []
    real = _strategy.choose

    def choose(trainer, X, Y):
        s = real(trainer, X, Y)
        names.append(s.name)
        return s

    monkeypatch.setattr(_strategy, "choose", choose)
    return names


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_sklearn_estimators_equal_the_numpy_path(monkeypatch, kind, solver):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(M, 5))
    if kind == "classifier":
        y = rng.integers(0, 3, M)  # three classes: softmax and log-loss
        cls = backprop.MLPClassifier
    else:
        y = X @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(M, 2))
        cls = backprop.MLPRegressor
    params = dict(hidden_layer_sizes=(7, 5), solver=solver, batch_size=B, max_iter=4, random_state=0,
                  learning_rate_init=0.01, tol=0.0, n_iter_no_change=100)
    if solver == "sgd":
        # scikit-learn's default momentum is not plain SGD: the NumPy step
        names = _spy(monkeypatch)
        cls(**params).fit(X, y)
        assert names == ["optimizer"], names
        params["momentum"] = 0.0
    fits = {}
    for path in ("epoch", "numpy"):
        _set_path(monkeypatch, path)
        names = _spy(monkeypatch)
        est = cls(**params).fit(X, y)
        # (scikit-learn's rules never fuse SGD into the backward pass: "optimizer" for both)
        assert names and set(names) == {"epoch" if path == "epoch" else "optimizer"}, names
        fits[path] = est
    a, b = fits["epoch"], fits["numpy"]
    assert a.n_iter_ == b.n_iter_ == 4 and a.t_ == b.t_
    sizes = [5, 7, 5, 3 if kind == "classifier" else 2]
    n_updates = 4 * -(-M // B)
    rel = 8 * n_updates * (max(sizes) + B) * np.finfo(float).eps  # _tolerance's model
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(p, q, rtol=0, atol=rel * max(1.0, float(np.abs(q).max())))
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rel, atol=0)
    # sample weights: a batch's L2 term depends on its rows' weights, not on its row count alone
    _set_path(monkeypatch, "epoch")
    names = _spy(monkeypatch)
    cls(**params).fit(X, y, sample_weight=rng.uniform(0.5, 2.0, M))
    assert names and "epoch" not in names, names


# -- 9. arrays a user assigned --------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_non_contiguous_parameters_fall_back_to_the_numpy_step(monkeypatch, optimizer):
    """A user's Fortran-ordered weight matrix. Assigned before the run, it is converted to C order
    (``check_parameters``) and the kernel trains it; assigned between epochs (a callback), the kernel,
    which takes C-ordered arrays only, declines (status 1, nothing touched) and the NumPy step trains
    the rest: either way the NumPy path's results."""
    case = CASES[0]
    outcomes = []
    real_run = _epochs.EpochRunner.run

    def spying(self, trainer, lo, hi):
        out = real_run(self, trainer, lo, hi)
        outcomes.append(out)
        return out

    def to_fortran(net, info):
        if info["epoch"] == 1:
            net.weights[0] = np.asfortranarray(net.weights[0])
            assert not net.weights[0].flags.c_contiguous

    monkeypatch.setattr(_epochs.EpochRunner, "run", spying)
    for when in ("before", "between epochs"):
        runs = {}
        for path in ("epoch", "numpy"):
            net = _net(case, "float64")
            kw = dict(optimizer=optimizer, l2=0.01)
            if when == "before":
                net.weights[0] = np.asfortranarray(net.weights[0])
                assert not net.weights[0].flags.c_contiguous
            else:
                kw["callbacks"] = [to_fortran]
            outcomes.clear()
            runs[path] = _train(monkeypatch, path, case, "float64", net=net, **kw)
            if path == "epoch":
                got = [(o.status, o.rows, o.updates) for o in outcomes]
                if when == "before":  # converted: the kernel trains every epoch
                    assert got == [(0, M, 13)] * 3
                else:  # the kernel trains epoch 1, then declines at once, touching nothing
                    assert got[0] == (0, M, 13) and got[1:] == [(1, 0, 0)] * 2
            else:
                assert outcomes == []
        (a, ha, ta), (b, hb, tb) = runs["epoch"], runs["numpy"]
        assert ha.n_updates == hb.n_updates == 3 * 13 and ta.optimizer.t == tb.optimizer.t
        _assert_close(a, b, hb.n_updates, B, "float64")
        np.testing.assert_allclose(ha.loss, hb.loss, rtol=_tolerance(b, hb.n_updates, B, "float64", 1.0),
                                   atol=0)
        slow, hs, _ = _train(monkeypatch, "plain", case, "float64", optimizer=optimizer, l2=0.01)
        _assert_close(a, slow, hs.n_updates, B, "float64")


# -- 10. the passes split over the BLAS pool (fast.team) -----------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_passes_split_over_the_blas_threads_give_the_bits_of_one_thread(monkeypatch, case, dtype, optimizer):
    """Every pass split however small (SPLIT_MIN = 1): the gather of the batch's rows, bias + g, g'
    with the bias sums (two blocks of rows per batch of 100), Adam's update -- on OpenBLAS's own
    threads (``gotoblas_pthread``), against each pass on the calling thread: the same bits, as the
    parts write disjoint elements and the sums' blocks are added in one order. The second part's
    descriptor shows the pool was used wherever OpenBLAS runs two threads."""
    from backprop.fast import blas as _blas
    from backprop.fast import dense as _dense
    from backprop.fast import team as _team

    runners = []
    real_init = _epochs.EpochRunner.__init__

    def keep(self, *a, **kw):
        real_init(self, *a, **kw)
        runners.append(self)

    monkeypatch.setattr(_epochs.EpochRunner, "__init__", keep)
    monkeypatch.setattr(_dense, "SPLIT_MIN", 1)
    # every BLAS thread, as for a large network (a small one gets one thread, and then one part)
    monkeypatch.setattr(_trainer_module, "blas_threads", lambda *a: contextlib.nullcontext())
    threads = _blas.get_threads() or 1
    runs = []
    for pooled in (True, False):
        if not pooled:
            monkeypatch.setattr(_dense, "team_function", lambda: (_team.ALONE, 1))
        runners.clear()
        net, h, t = _train(monkeypatch, "epoch", case, dtype, optimizer=optimizer, l2=0.01, batch_size=100)
        assert len(runners) == 1
        split = runners[0].desc[1, 0] != 0  # a second part was described: the pass went to the pool
        assert split == (pooled and threads >= 2 and _blas.team_function() is not None)
        runs.append((net, h, t))
    (a, ha, ta), (b, hb, tb) = runs
    _assert_same_bits(a, b)
    assert ha.loss == hb.loss and ha.n_updates == hb.n_updates == 3 * 2
    if optimizer == "adam":
        for slot in ("m", "v"):
            for key, arr in tb.optimizer.state[slot].items():
                assert np.array_equal(ta.optimizer.state[slot][key], arr)
    slow, hs, _ = _train(monkeypatch, "plain", case, dtype, optimizer=optimizer, l2=0.01, batch_size=100)
    _assert_close(a, slow, hs.n_updates, 100, dtype)


def test_the_pool_is_found_tested_and_switched_off_by_the_variable(monkeypatch):
    """``team.function()``: gotoblas_pthread's address and the pool's thread count where NumPy's OpenBLAS is a
    pthreads build with two threads or more (its self-test ran every part), the stand-in and one part
    with ``BACKPROP_NO_THREADS=1`` or one thread."""
    from backprop.fast import blas as _blas
    from backprop.fast import team as _team

    threads = _blas.get_threads() or 1
    fn, parts = _team.function()
    lib_fn = _blas.team_function()
    if lib_fn is not None and threads >= 2:
        assert fn == ctypes.cast(lib_fn, ctypes.c_void_p).value and parts == min(threads, _team.MAX_PARTS)
        assert _team._self_test(fn, 2)
    else:
        assert fn == _team.ALONE and parts == 1
    monkeypatch.setenv("BACKPROP_NO_THREADS", "1")
    assert _team.function() == (_team.ALONE, 1)
    monkeypatch.delenv("BACKPROP_NO_THREADS")
    monkeypatch.setattr(_blas, "get_threads", lambda: 1)
    assert _team.function() == (_team.ALONE, 1)


# -- 11. the progress hook inside an epoch ----------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_progress_hook_reports_each_call_and_changes_no_bit(monkeypatch, optimizer):
    """A display's hook (``Trainer.progress``, as ``backprop train``'s batch bar has it) keeps the
    compiled epochs: three batches per call, it is called after every call with the epoch's rows and
    updates so far (as the call reported them), ending at the epoch's totals and the loss the history
    records; its running loss is the NumPy step's (on_step's batches, to the paths' rounding); and the
    run ends with the bits of the same run without the hook."""
    case, dtype = CASES[0], "float64"
    calls = []
    real_run = _epochs.EpochRunner.run

    def counting(self, trainer, lo, hi):
        out = real_run(self, trainer, lo, hi)
        calls.append((trainer.epoch + 1, lo + out.rows, trainer.history.n_updates + out.updates))
        return out

    monkeypatch.setattr(_epochs.EpochRunner, "run", counting)
    monkeypatch.setattr(_epochs, "WORK", 3 * B * _net(case, dtype).n_parameters)
    plain, h0, _ = _train(monkeypatch, "epoch", case, dtype, optimizer=optimizer)
    calls_without = list(calls)
    calls.clear()
    seen = []
    net, h, t = _train(monkeypatch, "epoch", case, dtype, optimizer=optimizer, progress=seen.append)
    _assert_same_bits(net, plain)
    assert h.loss == h0.loss and calls == calls_without
    within = [i for i in seen if i.get("within_epoch")]
    assert [(i["epoch"], i["rows"], i["n_updates"]) for i in within] == calls  # one report per call
    upe = h.updates_per_epoch
    for epoch in (1, 2, 3):
        mine = [i for i in within if i["epoch"] == epoch]
        rows = [i["rows"] for i in mine]
        assert len(mine) > 1 and rows == sorted(set(rows)) and rows[-1] == M
        assert all(i["step"] == i["n_updates"] - (epoch - 1) * upe and i["steps"] == upe and i["m"] == M
                   for i in mine)
        assert mine[-1]["step"] == upe and mine[-1]["loss"] == h.loss[epoch - 1]
    per_epoch = [i for i in seen if "within_epoch" not in i]
    assert [i["epoch"] for i in per_epoch] == [1, 2, 3] and [i["loss"] for i in per_epoch] == h.loss
    # the running loss: the mean E of the rows so far, as the NumPy step's batches add it up
    batches = []
    slow, hs, _ = _train(monkeypatch, "numpy", case, dtype, optimizer=optimizer,
                         on_step=lambda n, info: batches.append(info))
    tol = _tolerance(slow, hs.n_updates, B, dtype, 1.0)
    for i in within:
        mine = [b for b in batches if b["epoch"] == i["epoch"] and b["step"] <= i["step"]]
        assert sum(b["batch_size"] for b in mine) == i["rows"]
        mean = sum(b["loss"] * b["batch_size"] for b in mine) / i["rows"]
        assert i["loss"] == pytest.approx(mean, rel=tol, abs=0)
