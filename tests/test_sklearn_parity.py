"""Parity with scikit-learn's own MLP (the oracle): same parameters after the same training.

* One full-batch step from identical ``coefs_``/``intercepts_`` (SGD without momentum, then Adam
  over a few steps), for the regressor, the binary, multiclass and multilabel classifier and every
  activation both libraries have, with and without the L2 penalty: parameters agree to 1e-10.
* Whole fits from the same ``random_state`` (initialisation, shuffling, validation split,
  schedules, early stopping, sample weights): every fitted attribute agrees.
* On digits, test accuracy at least scikit-learn's with the same hyperparameters and seeds.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from backprop import MLPClassifier, MLPRegressor

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
TASKS = ["regression", "binary", "multiclass", "multilabel"]


def _data(task, n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    if task == "regression":
        return X, X @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(n, 2))
    if task == "binary":
        return X, (X[:, 0] + X[:, 1] > 0).astype(int)
    if task == "multiclass":
        return X, np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.4, 0.4])]
    return X, np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5].astype(int)


def _pair(task, **params):
    """(scikit-learn's estimator, ours) with the same parameters."""
    if task == "regression":
        return SkRegressor(**params), MLPRegressor(**params)
    return SkClassifier(**params), MLPClassifier(**params)


def _partial_fit(est, X, y, task):
    if task == "regression":
        return est.partial_fit(X, y)
    classes = np.arange(y.shape[1]) if task == "multilabel" else np.unique(y)
    return est.partial_fit(X, y, classes=classes)


def _random_parameters(est, rng):
    """New random coefs_/intercepts_ of the estimator's shapes (biases non-zero)."""
    coefs = [rng.normal(0, 1 / np.sqrt(w.shape[0]), w.shape) for w in est.coefs_]
    intercepts = [rng.normal(0, 0.5, b.shape) for b in est.intercepts_]
    return coefs, intercepts


def _assert_same_parameters(ours, theirs, atol=1e-10, rtol=0.0):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype
        assert_allclose(a, b, rtol=rtol, atol=atol)


def _fit_rounding(est, n_rows):
    """How far two correct implementations may drift apart over a whole fit, relative to the
    parameters' size: each update sums at most ``batch + widest layer`` products (eq. (3) over the
    batch, eq. (4)/(forward) over a layer), each sum may round by that many ulps (in any order a
    BLAS kernel chooses), and the drift of every update is carried into the next ones. A factor 4
    covers the few passes (forward, backward, optimizer) per update."""
    eps = np.finfo(est.coefs_[0].dtype).eps
    batch = (n_rows if est.solver == "lbfgs"
             else min(n_rows, 200 if est.batch_size == "auto" else est.batch_size))
    updates = est.n_iter_ * -(-n_rows // batch)
    widest = max(max(c.shape) for c in est.coefs_)
    return 4 * eps * updates * (batch + widest)


def _assert_fit_parameters_match(ours, theirs, n_rows):
    """Parameters of two whole fits agree to the rounding such fits allow, relative to their size."""
    rel = _fit_rounding(theirs, n_rows)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype
        assert_allclose(a, b, rtol=0, atol=rel * max(1.0, float(np.abs(b).max())))


def _plain_forward(coefs, intercepts, X, hidden, out):
    """Independent forward pass in NumPy for the loss oracle."""
    g = {"identity": lambda h: h, "logistic": lambda h: 1 / (1 + np.exp(-h)), "tanh": np.tanh,
         "relu": lambda h: np.maximum(h, 0)}
    a = X
    for k, (W, b) in enumerate(zip(coefs, intercepts)):
        h = a @ W + b
        a = g[hidden](h) if k < len(coefs) - 1 else g[out](h)
    return a


@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task", TASKS)
def test_one_sgd_step_from_identical_parameters(task, activation, alpha):
    X, y = _data(task)
    params = dict(hidden_layer_sizes=(6, 4), activation=activation, solver="sgd", momentum=0.0,
                  alpha=alpha, learning_rate_init=0.1, shuffle=False, random_state=0)
    sk, ours = _pair(task, **params)
    _partial_fit(sk, X, y, task)  # creates the parameters (and a stateless SGD optimizer)
    _partial_fit(ours, X, y, task)
    coefs, intercepts = _random_parameters(sk, np.random.default_rng(1))
    for est in (sk, ours):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
    _partial_fit(sk, X, y, task)  # one epoch = one step: 60 samples < 200 ('auto' batch size)
    _partial_fit(ours, X, y, task)
    _assert_same_parameters(ours, sk)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-12)
    moved = max(np.abs(c - c0).max() for c, c0 in zip(ours.coefs_, coefs))
    assert moved > 1e-4  # the step did something
    if task == "regression" and alpha == 0.0:
        # loss_ is computed before the step: ((y - yhat)^2).mean() / 2 at the assigned parameters
        yhat = _plain_forward(coefs, intercepts, X, activation, "identity")
        assert ours.loss_ == pytest.approx(((y - yhat) ** 2).mean() / 2, rel=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task", TASKS)
def test_adam_steps_from_identical_parameters(task, activation):
    X, y = _data(task)
    params = dict(hidden_layer_sizes=(6, 4), activation=activation, alpha=0.01,
                  learning_rate_init=0.01, shuffle=False, random_state=0, max_iter=1,
                  warm_start=True)
    sk, ours = _pair(task, solver="adam", **params)
    ours.set_params(solver="sgd", momentum=0.0)
    _partial_fit(sk, X, y, task)
    _partial_fit(ours, X, y, task)
    coefs, intercepts = _random_parameters(sk, np.random.default_rng(2))
    for est in (sk, ours):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
    # a fresh Adam at these parameters: scikit-learn makes one on every fit (warm_start keeps the
    # weights); ours starts a new optimizer on the change of solver (partial_fit keeps the last one)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
    ours.set_params(solver="adam")
    _partial_fit(ours, X, y, task)
    for _ in range(3):
        _partial_fit(sk, X, y, task)
        _partial_fit(ours, X, y, task)
    _assert_same_parameters(ours, sk)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_minibatch_penalty_scaled_by_batch_size(task):
    """alpha / n_batch on unequal batches (32 + 28 samples), with momentum, one epoch."""
    X, y = _data(task)
    params = dict(hidden_layer_sizes=(5,), activation="tanh", solver="sgd", momentum=0.9,
                  alpha=0.3, batch_size=32, learning_rate_init=0.05, shuffle=False,
                  random_state=3)
    sk, ours = _pair(task, **params)
    _partial_fit(sk, X, y, task)
    _partial_fit(ours, X, y, task)
    _assert_same_parameters(ours, sk)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-12)


FIT_CONFIGS = {
    "adam": dict(solver="adam"),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.01),
    "sgd-momentum": dict(solver="sgd", nesterovs_momentum=False, learning_rate_init=0.01),
    "sgd-invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                           learning_rate_init=0.2, power_t=0.3),
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05,
                         tol=1e-2, n_iter_no_change=2),
    "early-stopping": dict(solver="adam", early_stopping=True, n_iter_no_change=3,
                           learning_rate_init=0.01, validation_fraction=0.2),
    "minibatch-alpha": dict(solver="adam", batch_size=32, alpha=0.1, activation="tanh"),
    "no-shuffle-logistic": dict(solver="adam", batch_size=50, shuffle=False, activation="logistic"),
    "converges-on-tol": dict(solver="adam", tol=0.05, n_iter_no_change=2),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("config", list(FIT_CONFIGS))
@pytest.mark.parametrize("task", ["regression", "multiclass", "multilabel"])
def test_whole_fit_matches(task, config, weighted):
    X, y = _data(task, n=150, seed=4)
    sw = np.random.RandomState(5).randint(0, 4, X.shape[0]).astype(float) if weighted else None
    params = dict(hidden_layer_sizes=(7, 4), random_state=1, max_iter=25, **FIT_CONFIGS[config])
    sk, ours = _pair(task, **params)
    with warnings.catch_warnings(record=True) as w_sk:
        warnings.simplefilter("always", ConvergenceWarning)
        sk.fit(X, y, sample_weight=sw)
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sw)
    assert [type(w.message) for w in w_ours] == [type(w.message) for w in w_sk]
    assert ours.n_iter_ == sk.n_iter_ and ours.t_ == sk.t_
    _assert_fit_parameters_match(ours, sk, X.shape[0])
    rel = max(1e-12, _fit_rounding(sk, X.shape[0]))
    assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=rel)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=rel)
    if sk.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=rel)
    if sk.validation_scores_ is None:
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None
    else:
        assert_allclose(ours.validation_scores_, sk.validation_scores_, rtol=rel)
        assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=rel)
    method = "predict" if task == "regression" else "predict_proba"
    out = getattr(sk, method)(X)
    assert_allclose(getattr(ours, method)(X), out, rtol=0, atol=rel * max(1.0, float(np.abs(out).max())))
    if task != "regression":
        np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_binary_fit_and_predict_proba_match(activation):
    X, y = _data("binary", n=120)
    sk, ours = _pair("binary", hidden_layer_sizes=(6,), activation=activation, random_state=7,
                     max_iter=30, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert ours.out_activation_ == sk.out_activation_ == "logistic"
    assert ours.n_outputs_ == sk.n_outputs_ == 1
    proba = ours.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    assert_allclose(proba, sk.predict_proba(X), rtol=0, atol=_fit_rounding(sk, X.shape[0]))
    assert_allclose(ours.predict_log_proba(X), sk.predict_log_proba(X), rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    _assert_fit_parameters_match(ours, sk, X.shape[0])


def test_output_activation_and_sizes_follow_the_task():
    for task, out, n_out in (("regression", "identity", 2), ("binary", "logistic", 1),
                             ("multiclass", "softmax", 3), ("multilabel", "logistic", 3)):
        X, y = _data(task)
        sk, ours = _pair(task, hidden_layer_sizes=(3,), max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk.fit(X, y)
            ours.fit(X, y)
        assert ours.out_activation_ == sk.out_activation_ == out
        assert ours.n_outputs_ == sk.n_outputs_ == n_out
        assert ours.n_layers_ == sk.n_layers_ == 3
        if task != "regression":
            np.testing.assert_array_equal(ours.classes_, sk.classes_)


def test_poisson_regression_matches():
    X, y = _data("regression", n=100)
    y = np.exp(y[:, 0] / 3)
    sk, ours = _pair("regression", loss="poisson", hidden_layer_sizes=(6,), random_state=0,
                     max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert ours.out_activation_ == sk.out_activation_ == "exp"
    _assert_fit_parameters_match(ours, sk, X.shape[0])
    assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-12)
    assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-12)


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_lbfgs_matches(task):
    """Same loss and gradients into the same scipy L-BFGS-B; a well-conditioned problem (alpha=1)
    so rounding differences (1e-16) are not amplified by the line searches."""
    X, y = _data(task, n=80)
    sk, ours = _pair(task, solver="lbfgs", hidden_layer_sizes=(5,), activation="tanh", alpha=1.0,
                     max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    _assert_same_parameters(ours, sk, atol=1e-7)


def test_float32_training_matches_in_float32():
    X, y = _data("multiclass", n=100)
    X = X.astype(np.float32)
    sk, ours = _pair("multiclass", hidden_layer_sizes=(6,), random_state=0, max_iter=10,
                     learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    _assert_same_parameters(ours, sk, atol=1e-5)
    assert ours.predict_proba(X).dtype == np.float32


def test_digits_accuracy_at_least_sklearns():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    params = dict(hidden_layer_sizes=(32,), max_iter=40, learning_rate_init=0.003)
    ours_acc, sk_acc = [], []
    for seed in range(3):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed,
                                                  stratify=y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours_acc.append(MLPClassifier(random_state=seed, **params).fit(X_tr, y_tr).score(X_te, y_te))
            sk_acc.append(SkClassifier(random_state=seed, **params).fit(X_tr, y_tr).score(X_te, y_te))
    assert np.mean(sk_acc) > 0.9  # a meaningful comparison: both learned the task
    assert np.mean(ours_acc) >= np.mean(sk_acc) - 0.01
