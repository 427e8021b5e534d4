"""The reference's ways to train (online, batch, mini-batch), the training options around them
(shuffling, history, early stopping, validation, callbacks, schedules, L2) and the errors a user can
cause. Updates are replayed with the oracle's own backward pass and the delta rule."""

import math

import numpy as np
import pytest
from sklearn.metrics import r2_score

import backprop
from backprop.errors import BackpropError, InvalidInputError, InvalidTypeError


def _data(rng, m, n_in=3, n_out=2):
    return rng.normal(size=(m, n_in)), rng.uniform(0, 1, (m, n_out))


def _sgd_step(oracle, Ws, bs, acts, loss, X, Y, lr, l2=0.0):
    """One delta-rule update, eq. (5), with the gradient averaged over the rows of X (eq. 3)."""
    _, gW, gb = oracle.backward(Ws, bs, acts, loss, X, Y)
    return ([W - lr * (g + l2 * W) for W, g in zip(Ws, gW)], [b - lr * g for b, g in zip(bs, gb)])


def _assert_params(net, Ws, bs, tol=1e-12):
    for got, want in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def _snapshots():
    """An on_step callback that keeps (info, weights, biases) after every update."""
    seen = []

    def on_step(net, info):
        seen.append((dict(info), [w.copy() for w in net.weights], [b.copy() for b in net.biases]))

    return seen, on_step


# -- the three modes ------------------------------------------------------------------------------
def test_online_updates_after_every_sample_in_data_order(oracle):
    rng = np.random.default_rng(0)
    net = oracle.random_net(rng, [3, 4, 2], "tanh", "sigmoid")
    X, Y = _data(rng, 6)
    Ws, bs = oracle.params(net)
    acts = oracle.act_names(net)
    seen, on_step = _snapshots()
    hist = net.fit(X, Y, loss="mse", mode="online", epochs=2, lr=0.3, shuffle=False, on_step=on_step)
    assert hist.n_updates == 12 and hist.updates_per_epoch == 6 and hist.batch_size == 1
    assert [s[0]["step"] for s in seen] == list(range(1, 7)) * 2
    assert [s[0]["epoch"] for s in seen] == [1] * 6 + [2] * 6
    assert all(s[0]["batch_size"] == 1 for s in seen)
    step = 0
    for _ in range(2):
        for d in range(6):  # sample d at step d: the data order
            Ws, bs = _sgd_step(oracle, Ws, bs, acts, "mse", X[d:d + 1], Y[d:d + 1], 0.3)
            _assert_params(_as_net(seen[step]), Ws, bs)
            step += 1
    _assert_params(net, Ws, bs)
    # the order matters, so the check above could tell a reordering apart
    Wr, br = oracle.params(oracle.random_net(np.random.default_rng(0), [3, 4, 2], "tanh", "sigmoid"))
    for d in reversed(range(6)):
        Wr, br = _sgd_step(oracle, Wr, br, acts, "mse", X[d:d + 1], Y[d:d + 1], 0.3)
    assert not np.allclose(Wr[0], seen[5][1][0], rtol=0, atol=1e-9)


def _as_net(snapshot):
    """A stand-in with .weights/.biases for _assert_params."""
    class _P:
        weights, biases = snapshot[1], snapshot[2]
    return _P


def test_batch_mode_is_one_step_with_the_mean_gradient(oracle):
    rng = np.random.default_rng(1)
    net = oracle.random_net(rng, [3, 5, 2], "relu", "softmax")
    X = rng.normal(size=(9, 3))
    Y = rng.dirichlet(np.ones(2), size=9)
    Ws, bs = oracle.params(net)
    acts = oracle.act_names(net)
    losses = []
    for _ in range(3):
        losses.append(oracle.net_loss(Ws, bs, acts, "cross_entropy", X, Y))
        Ws, bs = _sgd_step(oracle, Ws, bs, acts, "cross_entropy", X, Y, 0.2)
    hist = net.fit(X, Y, loss="cross_entropy", mode="batch", epochs=3, lr=0.2, shuffle=True, seed=5)
    assert hist.n_updates == 3 and hist.updates_per_epoch == 1 and hist.batch_size == 9
    _assert_params(net, Ws, bs)
    # the loss of an epoch is E of the batch before its update
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-12)


@pytest.mark.parametrize("m, B", [(10, 3), (10, 5), (7, 7), (11, 4)])
def test_minibatch_performs_ceil_m_over_B_updates(oracle, m, B):
    rng = np.random.default_rng(m * 100 + B)
    net = oracle.random_net(rng, [3, 4, 2], "sigmoid", "sigmoid")
    X, Y = _data(rng, m)
    Ws, bs = oracle.params(net)
    acts = oracle.act_names(net)
    seen, on_step = _snapshots()
    hist = net.fit(X, Y, loss="mse", batch_size=B, epochs=2, lr=0.5, shuffle=False, on_step=on_step)
    n = math.ceil(m / B)
    assert hist.updates_per_epoch == n and hist.n_updates == 2 * n and hist.batch_size == B
    sizes = [min(B, m - s) for s in range(0, m, B)]
    assert [s[0]["batch_size"] for s in seen] == sizes * 2
    for _ in range(2):
        for s in range(0, m, B):
            Ws, bs = _sgd_step(oracle, Ws, bs, acts, "mse", X[s:s + B], Y[s:s + B], 0.5)
    _assert_params(net, Ws, bs)


def test_ten_samples_in_batches_of_three_give_four_updates():
    net = backprop.Network([2, 3, 1], seed=0, dtype="float64")
    X = np.arange(20.0).reshape(10, 2) / 20
    hist = net.fit(X, X[:, :1], batch_size=3, epochs=1, mode="minibatch")
    assert hist.n_updates == 4 and hist.updates_per_epoch == 4


def test_default_batch_size_is_32_or_m():
    X = np.linspace(-1, 1, 100).reshape(50, 2)
    net = backprop.Network([2, 3, 1], output="identity", seed=0, dtype="float64")
    hist = net.fit(X, X[:, 0], epochs=1)
    assert hist.batch_size == 32 and hist.updates_per_epoch == 2
    hist = net.fit(X[:10], X[:10, 0], epochs=1)  # fewer samples than 32: no warning, B = m
    assert hist.batch_size == 10 and hist.updates_per_epoch == 1


def test_batch_size_larger_than_m_warns_and_clips(oracle):
    rng = np.random.default_rng(2)
    net = oracle.random_net(rng, [3, 4, 2], "tanh", "sigmoid")
    X, Y = _data(rng, 5)
    Ws, bs = _sgd_step(oracle, *oracle.params(net), oracle.act_names(net), "mse", X, Y, 0.1)
    with pytest.warns(UserWarning, match="batch_size=8.*5"):
        hist = net.fit(X, Y, batch_size=8, epochs=1, lr=0.1, shuffle=False)
    assert hist.batch_size == 5 and hist.n_updates == 1
    _assert_params(net, Ws, bs)


def test_shuffled_epochs_visit_every_sample_once_and_are_reproducible():
    """In a linear one-layer net an online step changes W by -lr x (yhat - y) and b by -lr (yhat - y),
    so the sample each step used can be read off the update: x = dW / db."""
    rng = np.random.default_rng(3)
    m = 8
    X = rng.normal(size=(m, 3))
    Y = rng.normal(size=m) * 5

    def visits(seed, shuffle=True):
        net = backprop.Network([3, 1], output="identity", seed=1, dtype="float64")
        prev = [(net.weights[0].copy(), net.biases[0].copy())]
        order = []

        def on_step(net, info):
            W, b = net.weights[0].copy(), net.biases[0].copy()
            x = ((prev[-1][0] - W) / (prev[-1][1] - b)).ravel()
            order.append(int(np.argmin(np.abs(X - x).sum(axis=1))))
            assert np.allclose(X[order[-1]], x, rtol=1e-8, atol=1e-8)
            prev.append((W, b))

        net.fit(X, Y, mode="online", epochs=3, lr=0.01, shuffle=shuffle, seed=seed, on_step=on_step)
        return order, net

    order, net_a = visits(seed=11)
    epochs = [order[i * m:(i + 1) * m] for i in range(3)]
    for e in epochs:
        assert sorted(e) == list(range(m))  # a permutation: every sample once per epoch
    assert epochs[0] != list(range(m)) and len(set(map(tuple, epochs))) == 3  # new orders each epoch
    order_b, net_b = visits(seed=11)
    assert order_b == order  # same seed: same orders, same weights
    np.testing.assert_array_equal(net_a.weights[0], net_b.weights[0])
    order_c, net_c = visits(seed=12)
    assert order_c != order
    assert visits(seed=11, shuffle=False)[0] == list(range(m)) * 3


def test_shuffle_seed_defaults_to_the_network_seed():
    X = np.random.default_rng(0).normal(size=(20, 2))
    Y = (X[:, :1] > 0).astype(float)
    nets = [backprop.Network([2, 3, 1], seed=4, dtype="float64") for _ in range(2)]
    for net in nets:
        net.fit(X, Y, batch_size=4, epochs=2)
    np.testing.assert_array_equal(nets[0].weights[0], nets[1].weights[0])
    other = backprop.Network([2, 3, 1], seed=4, dtype="float64")
    other.fit(X, Y, batch_size=4, epochs=2, seed=99)
    assert not np.array_equal(other.weights[0], nets[0].weights[0])


def test_history_counts_and_fields(oracle):
    rng = np.random.default_rng(4)
    net = oracle.random_net(rng, [3, 4, 2], "elu", "sigmoid")
    X, Y = _data(rng, 23)
    hist = net.fit(X, Y, batch_size=5, epochs=4, lr=0.1)
    assert isinstance(hist, backprop.History)
    assert hist.epochs == 4 and len(hist.loss) == 4 and len(hist.lr) == 4
    assert hist.updates_per_epoch == 5 and hist.n_updates == 20 and hist.batch_size == 5
    assert hist.val_loss == [] and hist.metric is None and not hist.stopped_early
    assert hist.time > 0 and all(math.isfinite(v) for v in hist.loss)
    assert backprop.History.from_dict(hist.to_dict()) == hist


def test_trainer_runs_like_fit(oracle):
    rng = np.random.default_rng(5)
    X, Y = _data(rng, 12)
    a = oracle.random_net(rng, [3, 4, 2], "tanh", "sigmoid")
    b = a.copy()
    ha = a.fit(X, Y, batch_size=4, epochs=3, lr=0.2, seed=1)
    hb = backprop.Trainer(b, batch_size=4, epochs=3, lr=0.2, seed=1).run(X, Y)
    assert ha.loss == hb.loss
    _assert_params(b, a.weights, a.biases, tol=0)


# -- early stopping, validation, callbacks, schedules, L2 --------------------------------------
def _early_stopping_problem():
    """Batch gradient descent moves a linear net from 0 towards w*; the validation targets belong to
    w*/2, so the validation loss falls, then rises once the weights pass w*/2."""
    rng = np.random.default_rng(6)
    w_star = np.array([[2.0], [-1.0], [1.5]])
    X, Xv = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    net = backprop.Network([3, 1], output="identity", seed=0, dtype="float64")
    net.weights[0][...] = 0.0
    return net, X, X @ w_star, Xv, Xv @ (w_star / 2)


def test_early_stopping_restores_the_best_weights(oracle):
    net, X, Y, Xv, Yv = _early_stopping_problem()
    seen, on_step = _snapshots()
    patience = 3
    hist = net.fit(X, Y, mode="batch", epochs=200, lr=0.05, validation_data=(Xv, Yv),
                   early_stopping=patience, on_step=on_step)
    # validation history: E of the validation set and R^2 after every epoch
    val = [oracle.net_loss(s[1], s[2], ["identity"], "mse", Xv, Yv) for s in seen]
    np.testing.assert_allclose(hist.val_loss, val, rtol=1e-12)
    r2 = [r2_score(Yv, Xv @ s[1][0] + s[2][0]) for s in seen]
    np.testing.assert_allclose(hist.val_metric, r2, rtol=1e-10)
    assert hist.metric == "r2"
    best = int(np.argmin(val)) + 1
    assert 3 < best < len(seen) - 1  # the minimum lies inside the run: a real test of restoring
    assert hist.stopped_early and hist.best_epoch == best
    assert hist.epochs == len(seen) == best + patience
    _assert_params(net, seen[best - 1][1], seen[best - 1][2], tol=0)
    assert net.loss(Xv, Yv) == pytest.approx(min(val), rel=1e-12)


def test_early_stopping_min_delta_and_training_loss():
    net, X, Y, _, _ = _early_stopping_problem()
    seen, on_step = _snapshots()
    # without validation data the training loss is watched; no epoch improves it by 1e9
    hist = net.fit(X, Y, mode="batch", epochs=50, lr=0.05, early_stopping=2, min_delta=1e9, on_step=on_step)
    assert hist.stopped_early and hist.epochs == 3 and hist.best_epoch == 1
    _assert_params(net, seen[-1][1], seen[-1][2], tol=0)  # nothing to restore without validation data


def test_validation_accuracy_for_a_classifier(oracle):
    rng = np.random.default_rng(7)
    net = oracle.random_net(rng, [2, 5, 3], "tanh", "softmax")
    X, Xv = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    yv = (Xv[:, 0] > 0).astype(int) + (Xv[:, 1] > 0)
    seen, on_step = _snapshots()
    hist = net.fit(X, y, loss="cross_entropy", mode="batch", epochs=4, lr=0.5, validation_data=(Xv, yv),
                   on_step=on_step)
    assert hist.metric == "accuracy"
    acc = [np.mean(oracle.forward(s[1], s[2], ["tanh", "softmax"], Xv)[1][-1].argmax(1) == yv) for s in seen]
    np.testing.assert_allclose(hist.val_metric, acc)
    Yv = np.eye(3)[yv]
    val = [oracle.net_loss(s[1], s[2], ["tanh", "softmax"], "cross_entropy", Xv, Yv) for s in seen]
    np.testing.assert_allclose(hist.val_loss, val, rtol=1e-12)


def test_callbacks_see_each_epoch_and_false_stops():
    X = np.random.default_rng(8).normal(size=(10, 2))
    Y = (X[:, :1] > 0).astype(float)
    infos = []

    def cb(net, info):
        infos.append(info)
        return False if info["epoch"] == 3 else None  # None (or True) continues

    net = backprop.Network([2, 3, 1], seed=0, dtype="float64")
    hist = net.fit(X, Y, epochs=10, batch_size=5, callbacks=[cb])
    assert hist.epochs == 3 and len(hist.loss) == 3 and hist.n_updates == 6
    assert [i["epoch"] for i in infos] == [1, 2, 3]
    assert [i["loss"] for i in infos] == hist.loss
    assert [i["n_updates"] for i in infos] == [2, 4, 6]
    hist = backprop.Network([2, 3, 1], seed=0).fit(X, Y, epochs=4, callbacks=[lambda n, i: True])
    assert hist.epochs == 4


def test_schedule_callable_sets_each_steps_learning_rate(oracle):
    rng = np.random.default_rng(9)
    net = oracle.random_net(rng, [3, 4, 2], "sigmoid", "sigmoid")
    X, Y = _data(rng, 10)
    calls = []

    def schedule(step, epoch):
        calls.append((step, epoch))
        return 0.5 / step

    seen, on_step = _snapshots()
    hist = net.fit(X, Y, batch_size=5, epochs=2, lr=0.1, schedule=schedule, shuffle=False, on_step=on_step)
    assert calls == [(1, 0), (2, 0), (3, 1), (4, 1)]  # global step count, 0-based epoch
    assert [s[0]["lr"] for s in seen] == [0.5, 0.25, 0.5 / 3, 0.125]
    assert hist.lr == [0.25, 0.125]
    Ws, bs = oracle.params(oracle.random_net(np.random.default_rng(9), [3, 4, 2], "sigmoid", "sigmoid"))
    t = 0
    for _ in range(2):
        for s in (0, 5):
            t += 1
            Ws, bs = _sgd_step(oracle, Ws, bs, oracle.act_names(net), "mse", X[s:s + 5], Y[s:s + 5], 0.5 / t)
    _assert_params(net, Ws, bs)


def test_l2_gradient_is_the_derivative_of_the_penalised_loss(oracle):
    """One batch SGD step with l2: (w - w_new)/lr = d/dw [E + (l2/2) sum w^2]; biases not penalised."""
    rng = np.random.default_rng(10)
    net = oracle.random_net(rng, [3, 4, 2], "tanh", "sigmoid")
    X, Y = _data(rng, 7)
    Ws, bs = oracle.params(net)
    acts = oracle.act_names(net)
    lr, l2 = 0.1, 0.3
    net.fit(X, Y, mode="batch", epochs=1, lr=lr, l2=l2)
    penalty = lambda Ws_: (l2 / 2) * sum((W**2).sum() for W in Ws_)  # noqa: E731
    fW, fb = oracle.fd_grads(Ws, bs, acts, "mse", X, Y, extra=penalty)
    for W0, W1, f in zip(Ws, net.weights, fW):
        assert oracle.rel_err((W0 - W1) / lr, f) < 1e-6
    for b0, b1, f in zip(bs, net.biases, fb):
        assert oracle.rel_err((b0 - b1) / lr, f) < 1e-6
    # and exactly the replayed step
    W2, b2 = _sgd_step(oracle, Ws, bs, acts, "mse", X, Y, lr, l2=l2)
    _assert_params(net, W2, b2)


# -- errors a user can cause ---------------------------------------------------------------------
def _net(**kw):
    return backprop.Network([2, 3, 1], seed=0, **kw)


X2 = np.zeros((4, 2))
Y1 = np.zeros((4, 1))
ALL_ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu", "softmax"]


def _nan_X():
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    return X


ERRORS = [
    # (id, call, error class, words the message must contain)
    ("sizes-too-short", lambda: backprop.Network([3]), InvalidInputError, ["sizes", "at least"]),
    ("sizes-zero-width", lambda: backprop.Network([3, 0, 1]), InvalidInputError, ["sizes[1]", "at least 1"]),
    ("sizes-string", lambda: backprop.Network("3,2"), InvalidTypeError, ["sizes"]),
    ("sizes-float", lambda: backprop.Network([3, 2.5, 1]), InvalidTypeError, ["sizes[1]", "int"]),
    ("unknown-hidden", lambda: backprop.Network([2, 3, 1], hidden="sigmod"), InvalidInputError,
     ["sigmod", "hidden"] + ALL_ACTS[:-1]),
    ("unknown-output", lambda: backprop.Network([2, 3, 1], output="softmaxx"), InvalidInputError,
     ["softmaxx", "output"] + ALL_ACTS),
    ("softmax-hidden", lambda: backprop.Network([2, 3, 1], hidden="softmax"), InvalidInputError,
     ["softmax", "output layer"]),
    ("hidden-count", lambda: backprop.Network([2, 3, 3, 1], hidden=["relu"]), InvalidInputError,
     ["hidden", "2 hidden layers"]),
    ("softmax-one-unit", lambda: backprop.Network([2, 3, 1], output="softmax"), InvalidInputError,
     ["softmax", "2 units"]),
    ("dtype", lambda: backprop.Network([2, 1], dtype="float16"), InvalidInputError, ["dtype", "float32"]),
    ("unknown-loss", lambda: _net().fit(X2, Y1, loss="mae"), InvalidInputError,
     ["mae", "mse", "binary_cross_entropy", "cross_entropy"]),
    ("unknown-optimizer", lambda: _net().fit(X2, Y1, optimizer="rmsprop"), InvalidInputError,
     ["rmsprop", "sgd", "momentum", "nesterov", "adam"]),
    ("unknown-mode", lambda: _net().fit(X2, Y1, mode="stochastic"), InvalidInputError,
     ["stochastic", "online", "batch", "minibatch"]),
    ("unknown-schedule", lambda: _net().fit(X2, Y1, schedule="cosine"), InvalidInputError,
     ["cosine", "constant", "invscaling", "exponential"]),
    ("ce-on-sigmoid", lambda: _net().fit(X2, Y1, loss="cross_entropy"), InvalidInputError,
     ["cross_entropy", "sigmoid", "softmax"]),
    ("bce-on-identity", lambda: _net(output="identity").fit(X2, Y1, loss="binary_cross_entropy"),
     InvalidInputError, ["binary_cross_entropy", "identity", "sigmoid"]),
    ("ce-trace-on-identity", lambda: _net(output="identity").trace(X2, Y1, loss="cross_entropy"),
     InvalidInputError, ["cross_entropy", "identity"]),
    ("lr-zero", lambda: _net().fit(X2, Y1, lr=0), InvalidInputError, ["lr", "positive"]),
    ("lr-negative", lambda: _net().fit(X2, Y1, lr=-0.1), InvalidInputError, ["lr", "positive"]),
    ("lr-nan", lambda: _net().fit(X2, Y1, lr=float("nan")), InvalidInputError, ["lr"]),
    ("lr-string", lambda: _net().fit(X2, Y1, lr="0.1"), BackpropError, ["lr"]),
    ("epochs-zero", lambda: _net().fit(X2, Y1, epochs=0), InvalidInputError, ["epochs", "at least 1"]),
    ("epochs-float", lambda: _net().fit(X2, Y1, epochs=2.5), InvalidTypeError, ["epochs", "integer"]),
    ("batch-size-zero", lambda: _net().fit(X2, Y1, batch_size=0), InvalidInputError,
     ["batch_size", "at least 1"]),
    ("batch-size-negative", lambda: _net().fit(X2, Y1, batch_size=-3), InvalidInputError, ["batch_size"]),
    ("online-with-batch-size", lambda: _net().fit(X2, Y1, mode="online", batch_size=2), InvalidInputError,
     ["online", "batch_size"]),
    ("batch-with-batch-size", lambda: _net().fit(X2, Y1, mode="batch", batch_size=2), InvalidInputError,
     ["batch", "batch_size"]),
    ("nan-in-X", lambda: _net().fit(_nan_X(), Y1), InvalidInputError, ["X", "NaN", "row 2", "column 1"]),
    ("inf-in-Y", lambda: _net(output="identity").fit(X2, np.array([[0.0], [np.inf], [0], [0]])),
     InvalidInputError, ["Y", "infinity"]),
    ("row-mismatch", lambda: _net().fit(np.zeros((5, 2)), np.zeros((4, 1))), InvalidInputError,
     ["5 rows", "4"]),
    ("feature-mismatch", lambda: _net().fit(np.zeros((4, 3)), Y1), InvalidInputError,
     ["X", "3 columns", "2"]),
    ("output-mismatch", lambda: _net().fit(X2, np.zeros((4, 2))), InvalidInputError, ["Y", "2 columns", "1"]),
    ("predict-features", lambda: _net().predict(np.zeros((4, 5))), InvalidInputError, ["X", "5 columns"]),
    ("X-1d", lambda: _net().fit(np.zeros(4), Y1), InvalidInputError, ["X", "2-D"]),
    ("X-strings", lambda: _net().fit(np.array([["a", "b"]] * 4), Y1), InvalidInputError, ["X", "numbers"]),
    ("X-none", lambda: _net().predict(None), InvalidTypeError, ["X"]),
    ("X-empty", lambda: _net().fit(np.zeros((0, 2)), np.zeros((0, 1))), InvalidInputError, ["X", "empty"]),
    ("sigmoid-targets", lambda: _net().fit(X2, np.full((4, 1), 2.0)), InvalidInputError,
     ["[0, 1]", "sigmoid"]),
    ("class-index-range",
     lambda: backprop.Network([2, 3, 3], output="softmax").fit(X2, np.array([0, 1, 3, 1])),
     InvalidInputError, ["class indices", "0..2"]),
    ("validation-data", lambda: _net().fit(X2, Y1, validation_data=X2), InvalidInputError,
     ["validation_data"]),
    ("validation-shape", lambda: _net().fit(X2, Y1, validation_data=(np.zeros((3, 4)), np.zeros((3, 1)))),
     InvalidInputError, ["X", "4 columns"]),
    ("early-stopping-zero", lambda: _net().fit(X2, Y1, early_stopping=0), InvalidInputError,
     ["early_stopping"]),
    ("l2-negative", lambda: _net().fit(X2, Y1, l2=-1.0), InvalidInputError, ["l2", ">= 0"]),
    ("init", lambda: backprop.Network([2, 1], init="glorot"), InvalidInputError, ["init", "xavier", "he"]),
]


@pytest.mark.parametrize("call, cls, words", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_user_errors_raise_backprop_errors_with_useful_messages(call, cls, words):
    with pytest.raises(cls) as info:
        call()
    assert isinstance(info.value, BackpropError)
    msg = str(info.value)
    missing = [w for w in words if w not in msg]
    assert not missing, f"message {msg!r} lacks {missing}"


def test_a_failed_fit_leaves_the_network_unchanged():
    net = _net(dtype="float64")
    before = [w.copy() for w in net.weights]
    with pytest.raises(InvalidInputError):
        net.fit(_nan_X(), Y1, lr=0.5)
    with pytest.raises(InvalidInputError):
        net.fit(X2, Y1, lr=-1)
    for w, b in zip(net.weights, before):
        np.testing.assert_array_equal(w, b)


def test_errors_are_builtin_types_too():
    with pytest.raises(ValueError):
        backprop.Network([3])
    with pytest.raises(TypeError):
        backprop.Network([3, 2.5, 1])


@pytest.mark.parametrize("method", ["predict", "trace", "loss", "fit"])
def test_user_assigned_parameters_are_checked(method):
    net = _net(dtype="float64")
    call = {"predict": lambda: net.predict(X2), "trace": lambda: net.trace(X2, Y1),
            "loss": lambda: net.loss(X2, Y1), "fit": lambda: net.fit(X2, Y1, epochs=1)}[method]
    net.weights[0] = np.zeros((4, 3))
    with pytest.raises(InvalidInputError, match=r"weights\[0\].*\(4, 3\).*\(2, 3\)"):
        call()
    net.weights[0] = [[0.0] * 3] * 2
    with pytest.raises(InvalidTypeError, match=r"weights\[0\].*NumPy array"):
        call()
    # an array of another float dtype is taken over in the network's dtype
    net.weights[0] = np.full((2, 3), 0.5, dtype=np.float32)
    call()
    assert net.weights[0].dtype == np.float64


def test_record_gradients_in_batch_mode(oracle):
    rng = np.random.default_rng(12)
    net = oracle.random_net(rng, [3, 4, 2], "tanh", "sigmoid")
    X, Y = _data(rng, 7)
    deltas, gW, gb = oracle.backward(*oracle.params(net), oracle.act_names(net), "mse", X, Y)
    hist = net.fit(X, Y, mode="batch", epochs=1, lr=0.1, record_gradients=True)
    norms = [math.sqrt((g**2).sum() + (b**2).sum()) for g, b in zip(gW, gb)]
    np.testing.assert_allclose(hist.grad_norm[0], norms, rtol=1e-12)
    np.testing.assert_allclose(hist.mean_abs_delta[0], [np.abs(d).mean() for d in deltas], rtol=1e-12)


def test_epoch_loss_is_the_size_weighted_mean_of_the_batch_losses(oracle):
    """History.loss: each batch's E before its update, weighted by the batch's size, over m."""
    rng = np.random.default_rng(13)
    net = oracle.random_net(rng, [3, 4, 2], "sigmoid", "sigmoid")
    X, Y = _data(rng, 10)
    Ws, bs = oracle.params(net)
    acts = oracle.act_names(net)
    total = 0.0
    for s in range(0, 10, 4):
        total += oracle.net_loss(Ws, bs, acts, "mse", X[s:s + 4], Y[s:s + 4]) * len(X[s:s + 4])
        Ws, bs = _sgd_step(oracle, Ws, bs, acts, "mse", X[s:s + 4], Y[s:s + 4], 0.5)
    hist = net.fit(X, Y, batch_size=4, epochs=1, lr=0.5, shuffle=False)
    assert hist.loss[0] == pytest.approx(total / 10, rel=1e-12)
