"""Subnormal numbers flushed to zero in what training writes (backprop.fast.denormals).

The one intended difference from the reference's arithmetic: every ``EVERY`` updates, a parameter
or optimizer moment smaller in magnitude than the smallest normal number becomes +0.0; everything
else keeps its bits. Oracles: the IEEE classification by NumPy's own comparisons against
``np.finfo(dtype).tiny``; the training loop with the flush switched off; the reference path
(core/reference.py) followed by the same flush.
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop
from backprop.core import reference as ref
from backprop.fast import denormals as _den
from backprop.train.trainer import Trainer

DTYPES = [np.float32, np.float64]


def _special_values(dtype):
    """Every kind of value: zeros of both signs, the edges of the subnormal range, normals, inf, nan."""
    fi = np.finfo(dtype)
    tiny, smallest_sub = fi.tiny, fi.smallest_subnormal
    largest_sub = np.nextafter(tiny, dtype(0))
    vals = [0.0, -0.0, smallest_sub, -smallest_sub, largest_sub, -largest_sub, tiny / 3, -tiny / 1000,
            tiny, -tiny, np.nextafter(tiny, dtype(1)), 1e-30, -1.5, 3.0e30, fi.max, -fi.max, np.inf, -np.inf,
            np.nan]
    return np.array(vals, dtype=dtype)


def _is_subnormal(a):
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormals_become_zero_and_every_other_value_keeps_its_bits(dtype):
    rng = np.random.default_rng(0)
    special = _special_values(dtype)
    # more than one block of the pass, with the special values scattered over all of them
    a = rng.standard_normal(3 * _den._BLOCK + 17).astype(dtype)
    where = rng.choice(a.size, size=40 * special.size, replace=False)
    a[where] = np.resize(special, where.size)
    before = a.copy()
    sub = _is_subnormal(before)
    assert sub.sum() == 40 * 6  # six of the special values are subnormal

    n = _den.flush_subnormals([a])

    assert n == sub.sum()
    assert np.all(a[sub] == 0) and not np.signbit(a[sub]).any()  # +0.0
    bits = a.view(np.uint32 if dtype == np.float32 else np.uint64)
    want = before.view(bits.dtype)
    np.testing.assert_array_equal(bits[~sub], want[~sub])  # zeros' signs, NaN payloads included
    assert _den.flush_subnormals([a]) == 0  # nothing left


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_layout_is_flushed_and_other_arrays_left_alone(dtype):
    special = _special_values(dtype)
    full = np.tile(special, (6, 1))
    strided = full[:, ::2]  # not contiguous: the plain-indexing way
    fortran = np.asfortranarray(np.tile(special, (3, 1)))
    readonly = special.copy()
    readonly.setflags(write=False)
    ints = np.arange(5)
    want_strided = np.where(_is_subnormal(strided), 0, strided)
    want_fortran = np.where(_is_subnormal(fortran), 0, fortran)
    n_sub = int(_is_subnormal(strided).sum() + _is_subnormal(fortran).sum())

    n = _den.flush_subnormals([strided, fortran, readonly, ints, np.empty(0, dtype)])

    assert n == n_sub
    np.testing.assert_array_equal(strided, want_strided)
    np.testing.assert_array_equal(fortran, want_fortran)
    assert not _is_subnormal(strided).any() and not _is_subnormal(fortran).any()
    assert _is_subnormal(readonly).sum() == 6  # a read-only array is not the engine's to change
    np.testing.assert_array_equal(ints, np.arange(5))


def test_adams_moments_are_flushed_as_their_one_flat_array():
    net = backprop.Network([5, 4, 3], hidden="relu", output="softmax", seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    t = Trainer(net, loss="cross_entropy", epochs=1, batch_size=10, optimizer="adam")
    t.run(X, y)
    arrays = _den.optimizer_arrays(t.optimizer.state)
    assert len(arrays) == 2  # m and v: the flat arrays, not their 4 views each
    assert {a.size for a in arrays} == {net.n_parameters}
    for slot, flat in zip(("m", "v"), arrays):
        for view in t.optimizer.state[slot].values():
            assert view.base is flat


def _dead_input_problem(dtype, m=64):
    """A network whose first input is always zero, its weights and their moments subnormal."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(m, 6)).astype(dtype)
    X[:, 0] = 0.0
    y = rng.integers(0, 3, m)
    net = backprop.Network([6, 8, 3], hidden="relu", output="softmax", seed=2, dtype=dtype)
    tiny = np.finfo(dtype).tiny
    net.weights[0][0] = tiny * np.linspace(-0.9, 0.9, 8)  # row 0: the dead input's weights
    return net, X, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["adam", "momentum", "sgd"])
def test_training_flushes_dead_weights_and_changes_nothing_else(monkeypatch, dtype, optimizer):
    """The dead input's weights contribute exactly 0 to every h (0 x w) and nothing else depends on
    them: flushed or not, every other parameter and moment must keep the same bits."""
    runs = {}
    for enabled in (True, False):
        monkeypatch.setattr(_den, "ENABLED", enabled)
        net, X, y = _dead_input_problem(dtype)
        t = Trainer(net, loss="cross_entropy", epochs=2, batch_size=4, optimizer=optimizer, l2=1e-3,
                    lr=0.01, shuffle=False)
        t.run(X, y)
        assert t.history.n_updates == 2 * _den.EVERY  # 2 x 64 / 4: flushed after updates 16 and 32
        runs[enabled] = (net, t.optimizer.state)
    (on, state_on), (off, state_off) = runs[True], runs[False]
    for p in on.weights + on.biases:
        assert not _is_subnormal(p).any()
    if optimizer != "adam":  # l2 only shrinks them: subnormal for ever without the flush, 0 with it
        assert _is_subnormal(off.weights[0][0]).all()
        assert on.weights[0][0].tobytes() == np.zeros(8, dtype).tobytes()
    for a, b in zip(on.weights + on.biases, off.weights + off.biases):
        a, b = a.copy(), b.copy()
        if a.shape == on.weights[0].shape:
            a[0], b[0] = 0, 0
        assert a.tobytes() == b.tobytes()
    assert state_on.keys() == state_off.keys()
    for slot in state_on:
        for key, a in state_on[slot].items():
            assert not _is_subnormal(a).any()
            a, b = a.copy(), state_off[slot][key].copy()
            if key == ("w", 0):
                a[0], b[0] = 0, 0
            assert a.tobytes() == b.tobytes()


def test_training_without_subnormals_is_bitwise_unchanged_by_the_flush(monkeypatch):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(96, 5)), rng.integers(0, 3, 96)
    params = {}
    for enabled in (True, False):
        monkeypatch.setattr(_den, "ENABLED", enabled)
        net = backprop.Network([5, 7, 3], hidden="tanh", output="softmax", seed=4, dtype="float32")
        Trainer(net, loss="cross_entropy", epochs=3, batch_size=8, optimizer="adam", l2=1e-4).run(X, y)
        params[enabled] = net.weights + net.biases
    for a, b in zip(params[True], params[False]):
        assert a.tobytes() == b.tobytes()


def test_fast_path_equals_the_reference_path_followed_by_the_flush():
    """float64, plain SGD (the fused BLAS path) with subnormal weights: the reference's (i)-(iv), batch
    by batch, then the flush after update EVERY, gives the training loop's parameters."""
    net, X, y = _dead_input_problem(np.float64, m=2 * _den.EVERY)
    net.weights[0][0] = 1e-310  # subnormal in float64; SGD without L2 never changes it (gradient 0)
    Y = np.eye(3)[y]
    Ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    lr = 0.2
    for s in range(0, X.shape[0], 2):
        Ws, bs = ref.sgd_update(Ws, bs, net.activations, X[s:s + 2], Y[s:s + 2], lr, "cross_entropy")
    assert np.all(Ws[0][0] == 1e-310)
    _den.flush_subnormals(Ws + bs)
    net.fit(X, Y, loss="cross_entropy", epochs=1, lr=lr, batch_size=2, shuffle=False)
    eps = np.finfo(np.float64).eps
    for got, want in zip(net.weights + net.biases, Ws + bs):
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=8 * 6 * 2 * _den.EVERY * eps * scale)
    np.testing.assert_array_equal(net.weights[0][0], 0)


def test_the_flush_runs_every_EVERY_updates_and_can_be_switched_off(monkeypatch):
    calls = []
    monkeypatch.setattr(_den, "flush_subnormals", lambda arrays: calls.append(len(list(arrays))) or 0)
    for n in range(1, 3 * _den.EVERY + 1):
        _den.after_update(n, [np.zeros(2)], {})
    assert len(calls) == 2 * 3  # parameters and state, at updates EVERY, 2 EVERY, 3 EVERY
    calls.clear()
    monkeypatch.setattr(_den, "ENABLED", False)
    _den.after_update(_den.EVERY, [np.zeros(2)], {})
    assert calls == []
