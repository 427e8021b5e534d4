"""Optimizers and learning-rate schedules against scikit-learn's formulas (a NumPy transcription, and
scikit-learn's own optimizer classes), driven through the optimizer protocol and through ``fit``."""

import math

import numpy as np
import pytest

import backprop
from backprop import optimizers
from backprop.errors import InvalidInputError
from backprop.fast.adam import FlatAdam
from backprop.train.trainer import Trainer

KEYS = [("w", 0), ("b", 0), ("w", 1)]


def _grads(rng, n_steps):
    shapes = [(3, 4), (4,), (4, 2)]
    return [[rng.normal(size=s) for s in shapes] for _ in range(n_steps)]


def _run(opt, params, grad_seq):
    """Drive an optimizer as the training loop does: begin_step, then update every parameter."""
    for grads in grad_seq:
        scale = opt.begin_step()
        for key, p, g in zip(KEYS, params, grads):
            opt.update(key, p, g.copy() * (1.0 if scale is None else scale))  # the buffer is scratch
    return params


@pytest.mark.parametrize("name, kw", [
    ("sgd", {}), ("momentum", {"momentum": 0.9}), ("momentum", {"momentum": 0.5}),
    ("nesterov", {"momentum": 0.9}), ("adam", {}), ("adam", {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}),
])
def test_updates_equal_sklearn_formulas(oracle, name, kw):
    rng = np.random.default_rng(0)
    grad_seq = _grads(rng, 6)
    start = [rng.normal(size=g.shape) for g in grad_seq[0]]
    lr = 0.03
    got = _run(optimizers.get(name, lr, **kw), [p.copy() for p in start], grad_seq)
    want, state = [p.copy() for p in start], {}
    skw = {"momentum": kw.get("momentum", 0.9), "b1": kw.get("beta_1", 0.9), "b2": kw.get("beta_2", 0.999),
           "eps": kw.get("epsilon", 1e-8)}
    for grads in grad_seq:
        want = [p + u for p, u in zip(want, oracle.sklearn_updates(name, grads, state, lr, **skw))]
    for g, w, s in zip(got, want, start):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)
        assert not np.allclose(g, s)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_updates_equal_sklearns_own_optimizers(name):
    so = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    rng = np.random.default_rng(1)
    grad_seq = _grads(rng, 5)
    start = [rng.normal(size=g.shape) for g in grad_seq[0]]
    ref = [p.copy() for p in start]
    if name == "adam":
        sk = so.AdamOptimizer(ref, learning_rate_init=0.01)
        ours = optimizers.get("adam", 0.01)
    else:
        sk = so.SGDOptimizer(ref, learning_rate_init=0.01, momentum=0.8, nesterov=name == "nesterov")
        ours = optimizers.get(name, 0.01, momentum=0.8)
    for grads in grad_seq:
        sk.update_params(ref, [g.copy() for g in grads])
    got = _run(ours, [p.copy() for p in start], grad_seq)
    for g, w in zip(got, ref):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_sgd_is_the_delta_rule():
    opt = optimizers.get("sgd", 0.25)
    assert opt.begin_step() is None  # plain gradients
    p = np.array([1.0, 2.0])
    opt.update(("w", 0), p, np.array([4.0, -8.0]))
    np.testing.assert_array_equal(p, [0.0, 4.0])  # w <- w - eta dE/dw, eq. (5)


def test_adam_defaults_to_sklearns_learning_rate():
    assert optimizers.Adam().lr0 == 0.001


@pytest.mark.parametrize("schedule, kw, lr_of", [
    ("constant", {}, lambda t, e: 0.2),
    ("invscaling", {"power_t": 0.5}, lambda t, e: 0.2 / t**0.5),
    ("invscaling", {"power_t": 0.25}, lambda t, e: 0.2 / t**0.25),
    ("exponential", {"gamma": 0.9}, lambda t, e: 0.2 * 0.9**e),
])
def test_named_schedules(schedule, kw, lr_of):
    opt = optimizers.get("sgd", 0.2, schedule=schedule, **kw)
    seen = []
    for epoch in range(3):
        opt.epoch = epoch
        for _ in range(4):
            opt.begin_step()
            seen.append(opt.lr)
    want = [lr_of(t, e) for t, e in zip(range(1, 13), np.repeat(range(3), 4))]
    np.testing.assert_allclose(seen, want, rtol=1e-15)


def test_schedules_reach_fit(oracle):
    """Through fit, every update uses the schedule's rate: replayed with the oracle's gradients."""
    rng = np.random.default_rng(2)
    net = oracle.random_net(rng, [2, 3, 1], "tanh", "identity")
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    Ws, bs = oracle.params(net)
    rates = []
    hist = net.fit(X, Y, mode="batch", epochs=4, lr=0.3, schedule="exponential", gamma=0.5,
                   on_step=lambda n, info: rates.append(info["lr"]))
    assert rates == [0.3, 0.15, 0.075, 0.0375] and hist.lr == rates
    for lr in rates:
        _, gW, gb = oracle.backward(Ws, bs, ["tanh", "identity"], "mse", X, Y)
        Ws = [W - lr * g for W, g in zip(Ws, gW)]
        bs = [b - lr * g for b, g in zip(bs, gb)]
    for got, want in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_state_dict_round_trip_continues_exactly(name):
    rng = np.random.default_rng(3)
    grad_seq = _grads(rng, 6)
    start = [rng.normal(size=g.shape) for g in grad_seq[0]]
    whole = _run(optimizers.get(name, 0.05, schedule="invscaling"), [p.copy() for p in start], grad_seq)
    first = optimizers.get(name, 0.05, schedule="invscaling")
    half = _run(first, [p.copy() for p in start], grad_seq[:3])
    second = optimizers.get(name, 0.05, schedule="invscaling")
    second.load_state_dict(first.state_dict())
    rest = _run(second, half, grad_seq[3:])
    for a, b in zip(whole, rest):
        np.testing.assert_array_equal(a, b)


def _flat_adam_run(opt, flat, params, grads, keys=KEYS, all_at_once=False):
    """One step of the fast Adam (backprop.fast.adam) on ``opt``'s state, as the training loop runs it."""
    opt.begin_step()
    args = (opt.beta_1, opt.beta_2, opt.epsilon, opt.step_size())
    if all_at_once:
        return flat.update_all(opt.state, keys, params, grads, *args)
    for key, p, g in zip(keys, params, grads):
        flat.update(opt.state, key, p, g, *args)
    return None


def test_adam_reusing_its_buffers_gives_the_bits_of_fresh_arrays():
    """The fast Adam keeps flat views of the arrays of the last step (the training loop passes the
    same buffers every step). The oracle: the optimizer as written, on fresh gradient arrays each
    time. A state loaded between steps and a pickled optimizer must not reuse the views of the old
    moments."""
    import pickle

    rng = np.random.default_rng(5)
    grad_seq = _grads(rng, 8)
    start = [rng.normal(size=g.shape) for g in grad_seq[0]]
    oracle = optimizers.get("adam", 0.05)
    fresh = _run(oracle, [p.copy() for p in start], grad_seq)
    opt, flat = optimizers.get("adam", 0.05), FlatAdam()
    params = [p.copy() for p in start]
    bufs = [np.empty_like(p) for p in params]  # one gradient buffer per parameter, reused
    for i, grads in enumerate(grad_seq):
        if i == 3:  # moments replaced by a loaded state: fresh arrays, the same values
            opt.load_state_dict(opt.state_dict())
        if i == 5:
            opt = pickle.loads(pickle.dumps(opt))
        for buf, g in zip(bufs, grads):
            np.copyto(buf, g)
        _flat_adam_run(opt, flat, params, bufs)
    for a, b in zip(fresh, params):
        np.testing.assert_array_equal(a, b)
    for slot in ("m", "v"):  # the moments the state holds are those that were updated
        for key in KEYS:
            np.testing.assert_array_equal(opt.state[slot][key], oracle.state[slot][key])
    # parameters replaced after the copy are the ones updated, not those the views were made of
    assert all(views.param is p for views, p in zip(flat.views.values(), params))
    # one scratch buffer, the size of the largest parameter, shared by all
    assert flat.scratch.size == max(p.size for p in params)
    assert all(np.shares_memory(views.scratch, flat.scratch) for views in flat.views.values())


def _flat_grads(rng, shapes):
    """Gradients as consecutive views of one flat array, as the network's buffers are."""
    flat = rng.normal(size=sum(int(np.prod(s)) for s in shapes))
    views, o = [], 0
    for s in shapes:
        n = int(np.prod(s))
        views.append(flat[o:o + n].reshape(s))
        o += n
    return flat, views


def test_adam_update_all_on_one_flat_array_gives_the_bits_of_update_one_by_one(monkeypatch):
    """The fast Adam treats consecutive gradient views as one array (11 passes over it, then one
    subtraction per parameter). The oracle: the optimizer's update() per parameter on copies of
    the same values. Row blocks (forced) split the flat array across parameter boundaries; a loaded
    state, and gradients that are not one flat array, are handled too."""
    from backprop.fast import parallel as par

    rng = np.random.default_rng(11)
    shapes = [(40, 30), (30,), (30, 500), (500,), (3, 7)]  # 1,200 + 15,000 + ...: blocks cross them
    keys = [("w", 1), ("b", 1), ("w", 0), ("b", 0), ("w", 2)]
    start = [rng.normal(size=s) for s in shapes]
    for force in (None, True):
        monkeypatch.setattr(par, "FORCE", force)
        monkeypatch.setattr(par, "MIN_SIZE", 64 if force else par.MIN_SIZE)
        one, flat_opt, fast = optimizers.get("adam", 0.01), optimizers.get("adam", 0.01), FlatAdam()
        p_one, p_flat = [p.copy() for p in start], [p.copy() for p in start]
        flat, views = _flat_grads(rng, shapes)
        for step in range(6):
            values = [rng.normal(size=s) for s in shapes]
            if step == 3:  # a loaded state: the moments are fresh arrays, made views again
                flat_opt.load_state_dict(flat_opt.state_dict())
            one.begin_step()
            for key, p, g in zip(keys, p_one, values):
                one.update(key, p, g.copy())
            for view, g in zip(views, values):
                view[...] = g
            assert _flat_adam_run(flat_opt, fast, p_flat, views, keys, all_at_once=True)
            assert fast.whole.G is flat  # the flat path was taken
        for a, b in zip(p_one, p_flat):
            np.testing.assert_array_equal(a, b)
        for slot in ("m", "v"):
            for key in keys:
                np.testing.assert_array_equal(one.state[slot][key], flat_opt.state[slot][key])
    # gradients that are separate arrays: not taken (the caller updates one by one)
    opt, fast, params = optimizers.get("adam", 0.01), FlatAdam(), [p.copy() for p in start]
    assert not _flat_adam_run(opt, fast, params, [rng.normal(size=s) for s in shapes], keys, all_at_once=True)
    assert fast.whole.G is None
    assert all(np.array_equal(a, b) for a, b in zip(params, start))


def test_adam_in_bounded_blocks_gives_the_bits_of_one_block_and_bounds_its_memory(monkeypatch):
    """The fast Adam's (1 - b1) g transient is made in blocks of at most ``BLOCK`` elements, so a
    large update needs no second parameter-sized array. The oracle for the values: the same steps
    with blocks larger than every array (one block each), bit for bit. For the memory:
    tracemalloc's peak during one update of 2**20 float64 elements (8 MiB) stays under two blocks."""
    import tracemalloc

    from backprop.fast import adam as fast_adam

    rng = np.random.default_rng(12)
    shapes = [(70, 30), (30,), (30, 500), (500,)]  # blocks of 777 cross every boundary
    keys = [("w", 1), ("b", 1), ("w", 0), ("b", 0)]
    start = [rng.normal(size=s) for s in shapes]
    steps = [[rng.normal(size=s) for s in shapes] for _ in range(4)]
    results = []
    for block in (777, 10**9):
        monkeypatch.setattr(fast_adam, "BLOCK", block)
        flat_opt, one = optimizers.get("adam", 0.01), optimizers.get("adam", 0.01)
        fast_all, fast_one = FlatAdam(), FlatAdam()
        p_flat, p_one = [p.copy() for p in start], [p.copy() for p in start]
        flat, views = _flat_grads(rng, shapes)
        for values in steps:
            for view, g in zip(views, values):
                view[...] = g
            assert _flat_adam_run(flat_opt, fast_all, p_flat, views, keys, all_at_once=True)
            # per parameter: the large one in blocks
            _flat_adam_run(one, fast_one, p_one, [g.copy() for g in values], keys)
        results.append(p_flat + p_one)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)

    monkeypatch.setattr(fast_adam, "BLOCK", 1 << 14)
    n = 1 << 20
    param, flat = np.zeros(n), np.ones(n)
    grad = flat[:]  # the same view every step, as the network's buffers are
    opt, fast = optimizers.get("adam", 0.01), FlatAdam()
    for _ in range(2):  # the second step: moments and views exist, only the step's own memory
        flat[...] = 1.0
        opt.begin_step()
        args = (opt.beta_1, opt.beta_2, opt.epsilon, opt.step_size())
        tracemalloc.start()
        assert fast.update_all(opt.state, [("w", 0)], [param], [grad], *args)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 2 * (1 << 14) * 8 + 65536, peak
    assert np.all(param < 0)


def test_training_with_adam_on_one_flat_array_equals_the_optimizer_as_written(monkeypatch):
    """Trainer.run with Adam takes the fast Adam on the network's flat gradient buffers; the oracle
    is the same run with the optimizer as written (``strategy.FAST`` off): the same bits."""
    from backprop.train import strategy

    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(90, 12)), np.eye(4)[rng.integers(0, 4, 90)]
    nets = []
    for fast in (True, False):
        monkeypatch.setattr(strategy, "FAST", fast)
        net = backprop.Network([12, 16, 8, 4], hidden="relu", output="softmax", seed=4)
        trainer = Trainer(net, epochs=3, batch_size=16, optimizer="adam", lr=0.01, loss="cross_entropy",
                          l2=1e-3, seed=5)
        trainer.run(X, Y)
        assert (trainer.strategy.flat is not None) == fast  # the path under test was taken
        nets.append(net)
    for p, q in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(p, q)


def test_get_errors_and_options():
    with pytest.raises(InvalidInputError) as info:
        optimizers.get("rmsprop", 0.1)
    for name in ["rmsprop", "sgd", "momentum", "nesterov", "adam"]:
        assert name in str(info.value)
    opt = optimizers.get("adam", 0.01, momentum=0.3, beta_1=0.7)  # options it does not take are ignored
    assert isinstance(opt, optimizers.Adam) and opt.beta_1 == 0.7
    assert optimizers.get(opt, 0.5) is opt
    assert isinstance(optimizers.get("nesterov", 0.1), optimizers.Momentum)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), True, "0.1", None])
def test_learning_rate_must_be_positive_and_finite(lr):
    with pytest.raises(InvalidInputError, match="lr"):
        optimizers.get("sgd", lr)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_fit_with_optimizers_reduces_the_loss(name):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 3))
    Y = np.tanh(X @ np.array([[1.0], [-2.0], [0.5]]))
    net = backprop.Network([3, 8, 1], hidden="tanh", output="identity", seed=0, dtype="float64")
    start = net.loss(X, Y)
    hist = net.fit(X, Y, optimizer=name, lr=0.01, epochs=30, batch_size=16)
    assert hist.n_updates == 120
    assert net.loss(X, Y) < start / 5
    assert math.isfinite(hist.loss[-1])
