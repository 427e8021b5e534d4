"""scikit-learn's semantics across calls, its private API that user code reads, and the one loop.

Oracle: scikit-learn's own MLP, run side by side with ours from the same parameters.

* ``fit`` with ``warm_start`` starts a new optimizer and ``n_iter_`` anew, ``partial_fit``
  continues the optimizer, one epoch per call (``n_iter_ == 1``); ``keep_optimizer_state=True``
  keeps it on warm fits too and counts ``n_iter_`` across calls.
* ``_optimizer.learning_rate`` (read and set), ``_loss_grad_lbfgs``, weights assigned to an
  unfitted estimator, a diverging fit with ``early_stopping`` (NaN recorded, best weights back).
* ``sgd``/``adam`` train through :class:`backprop.Trainer` with :class:`SklearnRules`.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import LabelBinarizer

import backprop
from backprop import MLPClassifier, MLPRegressor
from backprop.sklearn.rules import SklearnRules
from test_sklearn_parity import _fit_rounding


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=90, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    return X, np.tanh(X @ rng.normal(size=(4, 2)))


def _assert_match(ours, sk, n_rows):
    # the parity tests' rounding bound, for all the epochs of all calls (n_iter_ counts the last)
    rel = max(1e-12, _fit_rounding(sk, n_rows) * len(sk.loss_curve_) / max(1, sk.n_iter_))
    assert ours.t_ == sk.t_ and ours.n_iter_ == sk.n_iter_
    assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=rel)
    for a, b in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        assert_allclose(a, b, rtol=0, atol=rel * max(1.0, float(np.abs(b).max())))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_warm_start_fits_like_sklearn(solver):
    X, y = _data()
    common = dict(hidden_layer_sizes=(6,), solver=solver, learning_rate_init=0.01, batch_size=32,
                  random_state=0, warm_start=True, n_iter_no_change=1000)
    sk, ours = SkRegressor(max_iter=3, **common), MLPRegressor(max_iter=3, **common)
    for est in (sk, ours):
        est.fit(X, y)
        est.set_params(max_iter=2).fit(X, y)  # a new optimizer; n_iter_ counts this fit only
    assert ours.n_iter_ == 2 and len(ours.loss_curve_) == 5
    _assert_match(ours, sk, len(X))
    # keep_optimizer_state: as one fit of 5 epochs (in data order: each fit draws its shuffles
    # anew from random_state)
    common["shuffle"] = False
    kept = MLPRegressor(max_iter=3, keep_optimizer_state=True, **common).fit(X, y)
    kept.set_params(max_iter=2).fit(X, y)
    assert kept.n_iter_ == 5 and kept.t_ == ours.t_
    once = MLPRegressor(max_iter=5, **{**common, "warm_start": False}).fit(X, y)
    assert_allclose(kept.predict(X), once.predict(X), rtol=1e-12)  # one optimizer all along
    fresh = MLPRegressor(max_iter=3, **common).fit(X, y)
    fresh.set_params(max_iter=2).fit(X, y)
    assert not np.allclose(fresh.predict(X), once.predict(X), rtol=1e-6)


def test_partial_fit_like_sklearn_and_kept_counter():
    X, y = _data()
    common = dict(hidden_layer_sizes=(5,), learning_rate_init=0.01, batch_size=40, random_state=1)
    sk, ours = SkRegressor(**common), MLPRegressor(**common)
    kept = MLPRegressor(keep_optimizer_state=True, **common)
    for _ in range(3):
        for est in (sk, ours, kept):
            est.partial_fit(X, y)
        assert ours.n_iter_ == sk.n_iter_ == 1
    _assert_match(ours, sk, len(X))  # Adam's moments continue through partial_fit in both
    assert kept.n_iter_ == 3 and kept.t_ == ours.t_
    assert_allclose(kept.predict(X), ours.predict(X), rtol=1e-12)


@pytest.mark.parametrize("learning_rate", ["adaptive", "invscaling", "constant"])
def test_optimizer_learning_rate_like_sklearn(tmp_path, learning_rate):
    X, y = _data()
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate=learning_rate, tol=0.5,
                  n_iter_no_change=1, learning_rate_init=0.05, max_iter=12, random_state=0)
    sk, ours = SkRegressor(**params).fit(X, y), MLPRegressor(**params).fit(X, y)
    assert ours._optimizer.learning_rate == pytest.approx(sk._optimizer.learning_rate, rel=1e-12)
    if learning_rate != "constant":
        assert ours._optimizer.learning_rate < 0.05  # the schedule changed it
    path = tmp_path / "reg.safetensors"
    ours.save(path)
    back = backprop.load(path)
    assert back._optimizer.learning_rate == ours._optimizer.learning_rate
    for est in (sk, ours, back):  # setting it sets the next updates' eta
        est._optimizer.learning_rate = 0.2
        est.partial_fit(X, y)
    _assert_match(back, ours, len(X))
    _assert_match(ours, sk, len(X))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_loss_grad_lbfgs_like_sklearn(n_classes, weighted):
    rng = np.random.RandomState(0)
    X = rng.rand(12, 5)
    y = np.arange(12) % n_classes
    Y = LabelBinarizer().fit_transform(y)
    sw = rng.randint(1, 4, size=12).astype(float) if weighted else None
    params = dict(hidden_layer_sizes=(6,), activation="tanh", solver="lbfgs", alpha=0.1, max_iter=1,
                  random_state=1)
    sk, ours = SkClassifier(**params).fit(X, y), MLPClassifier(**params).fit(X, y)
    theta = np.random.default_rng(2).normal(size=sum(p.size for p in sk.coefs_ + sk.intercepts_))
    got = {}
    for name, est in (("sk", sk), ("ours", ours)):
        coef_grads = [np.empty_like(c) for c in est.coefs_]
        intercept_grads = [np.empty_like(b) for b in est.intercepts_]
        value, grad = est._loss_grad_lbfgs(theta, X, Y, sw, [X] + [None] * 2, [None] * 2,
                                           coef_grads, intercept_grads)
        got[name] = value, grad, coef_grads + intercept_grads
    assert got["ours"][0] == pytest.approx(got["sk"][0], rel=1e-12)
    assert_allclose(got["ours"][1], got["sk"][1], rtol=1e-10, atol=1e-14)
    for a, b in zip(got["ours"][2], got["sk"][2]):
        assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    # the parameters became theta, as in scikit-learn
    assert_allclose(np.concatenate([p.ravel() for p in ours.coefs_ + ours.intercepts_]), theta)


def test_assigned_weights_on_unfitted_estimator_then_partial_fit():
    X, y = _data(n=30)
    params = dict(hidden_layer_sizes=(3,), activation="logistic", solver="sgd", momentum=0.0,
                  alpha=0.01, learning_rate_init=0.1, shuffle=False)
    rng = np.random.default_rng(3)
    coefs = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    intercepts = [rng.normal(size=3), rng.normal(size=2)]
    sk, ours = SkRegressor(**params), MLPRegressor(**params)
    for est in (sk, ours):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
    # what scikit-learn's own code needs beside the weights (its test_fit sets them too)
    sk.n_outputs_, sk.n_layers_, sk.out_activation_ = 2, 3, "identity"
    sk.t_, sk.n_iter_, sk.loss_curve_, sk.best_loss_, sk._no_improvement_count = 0, 0, [], np.inf, 0
    sk.partial_fit(X, y)
    ours.partial_fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        assert_allclose(a, b, rtol=1e-12)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-12)
    assert ours.t_ == sk.t_ == 30 and ours.n_iter_ == sk.n_iter_ == 1


def test_diverging_fit_with_early_stopping_records_nan():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 8, size=(150, 4))
    y = X @ rng.normal(size=4)
    params = dict(hidden_layer_sizes=(20,), activation="identity", solver="sgd",
                  learning_rate_init=1.0, max_iter=20, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sk = SkRegressor(**params).fit(X, y)
        ours = MLPRegressor(**params).fit(X, y)
    k = len(ours.validation_scores_)
    assert np.isnan(ours.validation_scores_[-1]) and isinstance(ours.validation_scores_[-1], float)
    assert np.isnan(sk.validation_scores_[k - 1])  # scikit-learn's first NaN epoch is ours
    assert_allclose(ours.validation_scores_[:-1], sk.validation_scores_[:k - 1], rtol=1e-9)
    assert ours.n_iter_ == k == len(ours.loss_curve_) and np.isnan(ours.loss_)
    assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=1e-9)
    for a, b in zip(ours.coefs_, sk.coefs_):  # the best weights are back, as in scikit-learn
        assert_allclose(a, b, rtol=1e-9)
    assert np.isfinite(ours.predict(X)).all()


def test_stochastic_solvers_train_through_the_trainer(monkeypatch):
    seen = []
    run = backprop.Trainer.run

    def spy(self, X, Y):
        seen.append((type(self.rules), self.epochs, self.optimizer))
        return run(self, X, Y)

    monkeypatch.setattr(backprop.Trainer, "run", spy)
    X, y = _data()
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=4, n_iter_no_change=100, random_state=0)
    est.fit(X, y)
    est.partial_fit(X, y)
    assert [(r, e) for r, e, _ in seen] == [(SklearnRules, 4), (SklearnRules, 1)]
    assert seen[0][2] is seen[1][2] is est._optimizer  # partial_fit continued fit's optimizer
    assert est.n_iter_ == 1 and est.t_ == 5 * len(X)
