"""The estimators' own behaviour: scikit-learn integration, persistence, and what the original lacks
(more activations, per-layer activations, mode, callbacks, validation loss, optimizer state kept by
warm_start and n_iter_ across calls with keep_optimizer_state=True, float32, live coefs_).

Oracles: the plain NumPy forward/backward pass of conftest.py (``oracle``), scikit-learn's own
utilities, and equalities between runs that must give the same result by definition.
"""

import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import backprop
from backprop import MLPClassifier, MLPRegressor
from backprop.errors import InvalidInputError, ModelFileError
from backprop.sklearn.files import load

EXTRA = ["leaky_relu", "elu", "softplus", "gelu", "sigmoid"]


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    """Small max_iter on purpose in most tests; tests about the warning re-enable it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _clf_data(n=120, seed=0, classes=("a", "b", "c")):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    y = np.asarray(classes)[np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])[:n] % len(classes)]
    return X, y


def _reg_data(n=100, seed=0, outputs=1):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    Y = np.tanh(X @ rng.normal(size=(4, outputs)))
    return X, (Y.ravel() if outputs == 1 else Y)


# -- scikit-learn integration -------------------------------------------------------------------------
def test_exported_from_package():
    assert backprop.MLPClassifier is MLPClassifier and backprop.MLPRegressor is MLPRegressor
    assert {"MLPClassifier", "MLPRegressor"} <= set(backprop.__all__)


def test_import_backprop_does_not_import_sklearn():
    """The estimators are loaded on first use: the CLI and the engine start without scikit-learn."""
    code = ("import sys, backprop; assert 'sklearn' not in sys.modules; "
            "backprop.MLPRegressor; assert 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_defaults_equal_sklearns():
    from sklearn.neural_network import MLPClassifier as Sk
    from sklearn.neural_network import MLPRegressor as SkR

    for ours, theirs in ((MLPClassifier(), Sk()), (MLPRegressor(), SkR())):
        mine = ours.get_params()
        assert mine.pop("mode") is None and mine.pop("callbacks") is None
        assert mine.pop("keep_optimizer_state") is False
        assert mine.pop("scoring") is None and mine.pop("class_weight", None) is None
        assert mine == theirs.get_params()


def test_pipeline_gridsearch_cross_val_score():
    X, y = _clf_data(150)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=30,
                                                         learning_rate_init=0.02, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.6)
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0],
                               "mlpclassifier__activation": ["relu", ["gelu"]]}, cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.predict(X).shape == (150,)
    Xr, yr = _reg_data()
    assert np.all(cross_val_score(MLPRegressor(hidden_layer_sizes=(8,), max_iter=50,
                                               learning_rate_init=0.02, random_state=0), Xr, yr,
                                  cv=3) > 0.5)


def test_joblib_pickle_round_trip(tmp_path):
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    back = joblib.load(path)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    # the copy trains on exactly like the original (optimizer state travelled too)
    clf.partial_fit(X, y)
    back.partial_fit(X, y)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    # the network's scratch buffers (here 5000 x 6 and 5000 x 3 floats) are not pickled
    clf.predict(np.zeros((5000, 4)))
    assert len(pickle.dumps(clf)) < 30_000


# -- model files: safetensors + JSON ------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_save_load_continues_exactly(tmp_path, solver):
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(6, 5), activation=["elu", "tanh"], solver=solver,
                        max_iter=4, random_state=0).fit(X, y)
    path = tmp_path / "clf.safetensors"
    clf.save(path)
    with open(path, "rb") as f:  # a safetensors file: 8-byte header length, then JSON
        n = int.from_bytes(f.read(8), "little")
        assert f.read(1) == b"{" and n < os.path.getsize(path)
    back = MLPClassifier.load(path)
    assert type(back) is MLPClassifier
    generic = backprop.load(path)  # the package-level loader opens estimator files as well
    assert type(generic) is MLPClassifier
    assert_array_equal(generic.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == clf.get_params()
    assert_array_equal(back.classes_, clf.classes_)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.loss_curve_ == clf.loss_curve_ and back.n_iter_ == clf.n_iter_ and back.t_ == clf.t_
    for _ in range(2):  # optimizer state (moments / velocities) restored: same continuation
        clf.partial_fit(X, y)
        back.partial_fit(X, y)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_save_load_regressor_float32_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _reg_data(outputs=2)
    df = pd.DataFrame(X.astype(np.float32), columns=["a", "b", "c", "d"])
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                       early_stopping=True).fit(df, y)
    path = tmp_path / "reg.safetensors"
    reg.save(path)
    back = load(path)
    assert type(back) is MLPRegressor
    assert list(back.feature_names_in_) == ["a", "b", "c", "d"]
    assert back.coefs_[0].dtype == np.float32
    assert back.best_loss_ is None and back.validation_scores_ == reg.validation_scores_
    assert_array_equal(back.predict(df), reg.predict(df))


def test_load_refuses_other_files(tmp_path):
    X, y = _reg_data()
    reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    path = tmp_path / "reg.safetensors"
    reg.save(path)
    with pytest.raises(ModelFileError, match="MLPRegressor, not a MLPClassifier"):
        MLPClassifier.load(path)
    net_path = tmp_path / "net.safetensors"
    backprop.Network([2, 3, 1], seed=0).save(net_path)
    with pytest.raises(ModelFileError):
        load(net_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load(bad)


# -- live parameters ----------------------------------------------------------------------------------
def test_coefs_are_the_live_parameters(oracle):
    X, y = _reg_data()
    reg = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", max_iter=3, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    new_W = [rng.normal(size=w.shape) for w in reg.coefs_]
    new_b = [rng.normal(size=b.shape) for b in reg.intercepts_]
    reg.coefs_ = new_W  # assigning new lists changes the model
    reg.intercepts_ = new_b
    _, a = oracle.forward(new_W, new_b, ["tanh", "identity"], X)
    assert_allclose(reg.predict(X), a[-1].ravel(), rtol=1e-12)
    reg.coefs_[1][:] = 0.0  # so does changing them in place
    assert_allclose(reg.predict(X), np.full(len(X), new_b[1][0]), rtol=1e-12)
    reg.coefs_ = [new_W[0]]  # wrong length or shape: a clear error
    with pytest.raises(InvalidInputError, match="coefs_"):
        reg.predict(X)
    reg.coefs_ = [new_W[0].T, new_W[1]]
    with pytest.raises(InvalidInputError, match=r"coefs_\[0\] has shape"):
        reg.predict(X)


def test_training_updates_the_assigned_arrays():
    X, y = _reg_data()
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    W = [w.copy() for w in reg.coefs_]
    reg.coefs_ = W
    reg.partial_fit(X, y)
    assert reg.coefs_ is W  # trained in place, the user's list is the model
    assert reg.predict(X).shape == (len(X),)


# -- dtypes, pandas, sparse ---------------------------------------------------------------------------
def test_float32_stays_float32_and_int_becomes_float64():
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X.astype(np.float32), y)
    assert all(p.dtype == np.float32 for p in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    reg.fit(np.round(X * 10).astype(np.int64), X[:, 0])
    assert reg.coefs_[0].dtype == np.float64 and reg.predict(X).dtype == np.float64
    reg.partial_fit(X.astype(np.float32), X[:, 0])  # a warm model keeps its dtype
    assert reg.coefs_[0].dtype == np.float64


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _clf_data()
    df = pd.DataFrame(X, columns=["w", "x", "y", "z"])
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(df, pd.Series(y))
    assert list(clf.feature_names_in_) == ["w", "x", "y", "z"]
    with pytest.warns(UserWarning, match="feature names"):
        assert_array_equal(clf.predict(X), clf.predict(df))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["x", "w", "y", "z"]])


def test_sparse_input_equals_dense():
    X, y = _clf_data()
    X[X < 0] = 0
    dense = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    sp = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(sparse.csr_matrix(X), y)
    assert_allclose(sp.predict_proba(sparse.csc_matrix(X)), dense.predict_proba(X), rtol=1e-12)


# -- tasks ------------------------------------------------------------------------------------------------
def test_binary_multilabel_and_multioutput_shapes():
    X, y = _clf_data(classes=("no", "yes"))
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert_array_equal(clf.predict(X), clf.classes_[(proba[:, 1] > 0.5).astype(int)])
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 1].astype(int)
    ml = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, Y)
    assert ml.predict(X).shape == Y.shape and ml.predict_proba(X).shape == Y.shape
    assert_array_equal(ml.predict(X), (ml.predict_proba(X) > 0.5).astype(int))
    Xr, Yr = _reg_data(outputs=3)
    assert MLPRegressor(hidden_layer_sizes=(5,), max_iter=3).fit(Xr, Yr).predict(Xr).shape == (100, 3)


def test_saturated_probabilities_stay_inside_0_1():
    X, y = _clf_data(classes=("no", "yes"))
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    clf.intercepts_[-1][:] = 80.0  # logistic(80) rounds to 1.0 in float64
    proba = clf.predict_proba(X)
    assert np.all(proba > 0) and np.all(proba < 1)
    assert np.all(np.isfinite(clf.predict_log_proba(X)))


# -- activations beyond the original ---------------------------------------------------------------
@pytest.mark.parametrize("activation", EXTRA + [["gelu", "softplus"], ["relu", "leaky_relu"]])
def test_extra_activations_one_sgd_step_against_oracle(oracle, activation):
    """One full-batch SGD step (momentum 0, alpha 0) equals W - lr * dE/dW of the plain oracle."""
    X, y = _reg_data(n=40, outputs=2)
    reg = MLPRegressor(hidden_layer_sizes=(5, 4), activation=activation, solver="sgd", momentum=0.0,
                       alpha=0.0, learning_rate_init=0.1, shuffle=False, random_state=0)
    reg.partial_fit(X, y)
    rng = np.random.default_rng(3)
    Ws = [rng.normal(0, 0.7, w.shape) for w in reg.coefs_]
    bs = [rng.normal(0, 0.5, b.shape) for b in reg.intercepts_]  # off the kinks at h = 0
    reg.coefs_, reg.intercepts_ = [w.copy() for w in Ws], [b.copy() for b in bs]
    reg.partial_fit(X, y)
    names = [activation] * 2 if isinstance(activation, str) else activation
    acts = [n for n in names] + ["identity"]
    _, gW, gb = oracle.backward(Ws, bs, acts, "mse", X, y)
    for got, p0, g in zip(reg.coefs_ + reg.intercepts_, Ws + bs, gW + gb):
        assert_allclose(got, p0 - 0.1 * g, rtol=1e-10, atol=1e-12)
    yhat = oracle.forward(Ws, bs, acts, X)[1][-1]
    assert reg.loss_ == pytest.approx(((y - yhat) ** 2).mean() / 2, rel=1e-12)


def test_sigmoid_is_logistic():
    X, y = _clf_data()
    a = MLPClassifier(hidden_layer_sizes=(5,), activation="sigmoid", max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(5,), activation="logistic", max_iter=5, random_state=0).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_activation_list_errors():
    X, y = _clf_data()
    with pytest.raises(ValueError, match="one per hidden layer"):
        MLPClassifier(hidden_layer_sizes=(5, 3), activation=["relu"]).fit(X, y)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLPClassifier(hidden_layer_sizes=(5,), activation=["swish"]).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)


# -- mode -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, batch_size", [("online", 1), ("batch", 80), ("minibatch", "auto")])
def test_mode_is_an_alias_of_the_batch_size(mode, batch_size):
    X, y = _reg_data(n=80)
    common = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.01, max_iter=3,
                  random_state=0)
    a = MLPRegressor(mode=mode, **common).fit(X, y)
    b = MLPRegressor(batch_size=batch_size, **common).fit(X, y)
    assert_array_equal(a.predict(X), b.predict(X))
    assert a.t_ == b.t_ == 3 * 80


def test_mode_conflicting_batch_size():
    X, y = _reg_data(n=30)
    with pytest.raises(ValueError, match="mode='online'"):
        MLPRegressor(mode="online", batch_size=8).fit(X, y)
    with pytest.raises(ValueError, match="mode='batch'"):
        MLPRegressor(mode="batch", batch_size=8).fit(X, y)
    with pytest.raises(ValueError, match="mode"):
        MLPRegressor(mode="stochastic").fit(X, y)


def test_batch_size_larger_than_data_is_clipped_with_warning():
    X, y = _reg_data(n=30)
    with pytest.warns(UserWarning, match="clipped"):
        a = MLPRegressor(hidden_layer_sizes=(3,), batch_size=500, max_iter=2, random_state=0).fit(X, y)
    b = MLPRegressor(hidden_layer_sizes=(3,), batch_size=30, max_iter=2, random_state=0).fit(X, y)
    assert_array_equal(a.predict(X), b.predict(X))


# -- callbacks, validation loss, convergence ---------------------------------------------------------
def test_callbacks_get_each_epoch_and_can_stop():
    X, y = _clf_data()
    seen = []

    def record(est, info):
        seen.append((est, dict(info)))

    def stop_at_3(est, info):
        return info["epoch"] < 3

    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0,
                        callbacks=[record, stop_at_3])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped by request: no warning
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(seen) == 3
    assert all(est is clf for est, _ in seen)
    assert [info["epoch"] for _, info in seen] == [1, 2, 3]
    assert [info["loss"] for _, info in seen] == clf.loss_curve_
    assert [info["t"] for _, info in seen] == [120, 240, 360]
    assert seen[0][1]["learning_rate"] == 0.001


def test_lbfgs_callbacks_per_iteration_and_stop():
    X, y = _reg_data()
    losses = []
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0,
                       callbacks=[lambda est, info: losses.append(info["loss"]) or len(losses) < 4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    assert len(losses) == 4 and reg.loss_curve_ == losses
    assert losses == sorted(losses, reverse=True)  # L-BFGS descends


def test_invscaling_rate_follows_samples_seen():
    X, y = _reg_data(n=50)
    rates = []
    MLPRegressor(hidden_layer_sizes=(3,), solver="sgd", learning_rate="invscaling", power_t=0.4,
                 learning_rate_init=0.1, max_iter=4, random_state=0,
                 callbacks=[lambda est, info: rates.append(info["learning_rate"])]).fit(X, y)
    assert rates == pytest.approx([0.1 / (50 * k + 1) ** 0.4 for k in (1, 2, 3, 4)], rel=1e-12)


def test_adaptive_rate_divides_by_5():
    X, y = _reg_data(n=50)
    rates = []
    # tol so large that no epoch counts as an improvement: every 2 epochs past the first, eta / 5
    MLPRegressor(hidden_layer_sizes=(3,), solver="sgd", learning_rate="adaptive", tol=1e3,
                 n_iter_no_change=1, learning_rate_init=0.1, max_iter=7, random_state=0,
                 callbacks=[lambda est, info: rates.append(info["learning_rate"])]).fit(X, y)
    assert rates == pytest.approx([0.1, 0.1, 0.02, 0.02, 0.004, 0.004, 0.0008], rel=1e-12)


def test_convergence_warning_and_tol_stop():
    X, y = _reg_data()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("always", ConvergenceWarning)
            MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=200, tol=10.0, n_iter_no_change=2,
                           random_state=0).fit(X, y)
    # no epoch improves by 10: epochs 2, 3, 4 count, and 3 > n_iter_no_change stops after epoch 4
    assert reg.n_iter_ == 4 and len(reg.loss_curve_) == 4


def test_validation_loss_curve_and_best_weights_restored():
    X, y = _clf_data(n=200, classes=("no", "yes"))
    clf = MLPClassifier(hidden_layer_sizes=(6,), early_stopping=True, validation_fraction=0.25,
                        n_iter_no_change=3, learning_rate_init=0.05, max_iter=60, random_state=0)
    seen = []
    clf.set_params(callbacks=[lambda est, info: seen.append(info)])
    clf.fit(X, y)
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == clf.n_iter_
    assert [i["validation_loss"] for i in seen] == clf.validation_loss_curve_
    assert [i["validation_score"] for i in seen] == clf.validation_scores_
    # the split scikit-learn makes: the random state after the initial weights, stratified
    rng = np.random.RandomState(0)
    for shape in [(4, 6), (6,), (6, 1), (1,)]:
        rng.uniform(-1, 1, shape)
    _, X_val, _, y_val = train_test_split(X, y, random_state=rng, test_size=0.25, stratify=y)
    # the best weights are restored: their validation accuracy is the best one
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # the validation loss is the log-loss on the held-out rows (checked at the restored weights)
    best = int(np.argmax(clf.validation_scores_))
    p = clf.predict_proba(X_val)[:, 1]
    t = (y_val == "yes").astype(float)
    p = np.clip(p, 1e-16, 1 - 1e-16)
    assert clf.validation_loss_curve_[best] == pytest.approx(
        -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), rel=1e-8)
    no_split = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    assert no_split.validation_loss_curve_ is None and no_split.validation_scores_ is None


def test_verbose_prints_progress(capsys):
    X, y = _reg_data()
    MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


# -- state across calls ---------------------------------------------------------------------------------
def test_partial_fit_counts_epochs_and_keeps_adam_state():
    X, y = _clf_data()
    common = dict(hidden_layer_sizes=(5,), shuffle=False, random_state=0, learning_rate_init=0.01,
                  keep_optimizer_state=True)
    inc = MLPClassifier(**common)
    for _ in range(3):
        inc.partial_fit(X, y, classes=["a", "b", "c"])
    assert inc.n_iter_ == 3 and inc.t_ == 3 * len(X) and len(inc.loss_curve_) == 3
    full = MLPClassifier(max_iter=3, **common).fit(X, y)
    assert_allclose(inc.predict_proba(X), full.predict_proba(X), rtol=1e-12)
    assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=1e-12)


def test_warm_start_keeps_adam_moments():
    X, y = _reg_data()
    common = dict(hidden_layer_sizes=(5,), shuffle=False, random_state=0, learning_rate_init=0.01,
                  n_iter_no_change=1000)
    warm = MLPRegressor(max_iter=3, warm_start=True, keep_optimizer_state=True, **common).fit(X, y)
    warm.set_params(max_iter=2).fit(X, y)
    once = MLPRegressor(max_iter=5, **common).fit(X, y)
    assert_allclose(warm.predict(X), once.predict(X), rtol=1e-12)
    assert warm.t_ == 5 * len(X) and len(warm.loss_curve_) == 5
    # the test can tell: scikit-learn starts a fresh Adam on a warm fit and ends elsewhere
    from sklearn.neural_network import MLPRegressor as SkRegressor

    sk = SkRegressor(max_iter=3, warm_start=True, **common).fit(X, y)
    sk.set_params(max_iter=2).fit(X, y)
    assert not np.allclose(sk.predict(X), once.predict(X), rtol=1e-6)


def test_warm_start_with_other_layer_sizes_is_refused():
    X, y = _reg_data()
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="same layer sizes"):
        reg.set_params(hidden_layer_sizes=(6,)).fit(X, y)


def test_partial_fit_errors():
    X, y = _clf_data()
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, X[:, 0])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)


def test_divergence_is_a_value_error():
    X, y = _reg_data()
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=1e4, max_iter=5,
                     random_state=0).fit(X * 1e3, y * 1e3)
