"""The estimators' per-batch loss in preallocated arrays (``SklearnLoss._log_loss``) against the
computation it replaces: scikit-learn's ``-np.average(xlogy(y, clip(p)), axis=0).sum()``.

The two differ only by the rounding of the logarithm (NumPy's log against scipy's inside xlogy,
each within a few ulp) and in the sign of zero terms (y = 0); the row sums, the division by m and
the sum over outputs are the same reductions in the same order. Every term has one sign, so the
difference is bounded by a few eps of |E| plus the roundings of the sums, (rows + outputs) eps.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import xlogy

from backprop import MLPClassifier
from backprop.sklearn import losses as _losses
from backprop.sklearn.losses import SklearnLoss, sum_sq


def _reference(kind, y, yhat, sample_weight=None):
    """scikit-learn's log_loss / binary_log_loss (sklearn.neural_network._base), as written there."""
    eps = np.finfo(yhat.dtype).eps
    p = np.clip(yhat, eps, 1 - eps)
    per = xlogy(y, p)
    if kind == "binary_log_loss":
        per += xlogy(1 - y, 1 - p)
    return float(-np.average(per, weights=sample_weight, axis=0).sum())


def _tol(dtype, rows, outputs):
    return (4 + rows + outputs) * np.finfo(dtype).eps


def _data(rng, rows, outputs, dtype, kind, soft):
    if kind == "log_loss":
        yhat = rng.random((rows, outputs)) ** 3
        yhat /= yhat.sum(axis=1, keepdims=True)
        yhat[0, 0], yhat[1, :] = 0.0, 0.0  # probabilities the clipping keeps from 0
        yhat[1, 1] = 1.0
        y = np.zeros((rows, outputs))
        y[np.arange(rows), rng.integers(0, outputs, rows)] = 1.0
    else:  # one logistic unit per label
        yhat = rng.random((rows, outputs))
        yhat[0, 0], yhat[1, 0] = 0.0, 1.0
        y = (rng.random((rows, outputs)) < 0.5).astype(float)
    if soft:  # targets that are not 0/1 (the loss is defined for them too)
        y = rng.random((rows, outputs))
        if kind == "log_loss":
            y /= y.sum(axis=1, keepdims=True)
    return y.astype(dtype), yhat.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,outputs", [("log_loss", 10), ("binary_log_loss", 1), ("binary_log_loss", 3)])
@pytest.mark.parametrize("rows", [2, 32, 257])
@pytest.mark.parametrize("soft", [False, True])
def test_the_in_place_log_loss_equals_scikit_learns_formula(dtype, kind, outputs, rows, soft):
    rng = np.random.default_rng(rows + outputs)
    loss = SklearnLoss(kind)
    loss.set_batch(None)
    for _ in range(2):  # the second call reuses the work arrays
        y, yhat = _data(rng, rows, outputs, dtype, kind, soft)
        ours = loss.value(y, yhat)
        assert_allclose(ours, _reference(kind, y, yhat), rtol=_tol(dtype, rows, outputs), atol=0)
    assert ((rows, outputs), np.dtype(dtype)) in loss._work  # the in-place path ran


def test_weighted_and_mixed_dtype_batches_keep_scikit_learns_formula():
    rng = np.random.default_rng(3)
    y, yhat = _data(rng, 40, 5, np.float64, "log_loss", False)
    sw = rng.random(40)
    loss = SklearnLoss("log_loss")
    assert loss.value(y, yhat, sample_weight=sw) == _reference("log_loss", y, yhat, sw)
    y32 = y.astype(np.float32)  # xlogy then computes in float64: not the in-place path
    assert loss.value(y32, yhat) == _reference("log_loss", y32, yhat)
    assert loss._work == {}


def test_the_in_place_loss_keeps_a_few_work_arrays():
    loss = SklearnLoss("log_loss")
    rng = np.random.default_rng(0)
    for rows in range(2, 20):
        y, yhat = _data(rng, rows, 3, np.float64, "log_loss", False)
        loss.value(y, yhat, sample_weight=None)
    assert 1 <= len(loss._work) <= 5


def test_sum_sq_is_scikit_learns_penalty_sum():
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        ws = [rng.standard_normal(s).astype(dtype) for s in ((100, 256), (256, 128), (128, 10))]
        theirs = np.sum(np.array([np.dot(s.ravel(), s.ravel()) for s in ws]))  # scikit-learn's line
        assert_allclose(sum_sq(ws), theirs, rtol=3 * np.finfo(dtype).eps)
        assert sum_sq(ws) == sum(float(np.dot(w.ravel(), w.ravel())) for w in ws)  # the old code's bits


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 4])
def test_a_fit_reports_the_same_losses_with_and_without_the_in_place_loss(monkeypatch, n_classes):
    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((300, 6))
    y = rng.integers(0, n_classes, 300)
    params = dict(hidden_layer_sizes=(8,), solver="adam", batch_size=32, max_iter=4, tol=0.0,
                  n_iter_no_change=100, random_state=0)
    fast = MLPClassifier(**params).fit(X, y)
    monkeypatch.setattr(_losses, "_plain_pair", lambda y, yhat: False)
    slow = MLPClassifier(**params).fit(X, y)
    # the losses do not feed back into training: the same weights, the losses to rounding
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_):
        np.testing.assert_array_equal(a, b)
    outputs = 1 if n_classes == 2 else n_classes
    assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=_tol(np.float64, 32, outputs), atol=0)
