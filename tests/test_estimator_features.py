"""The estimators' ``transform``, ``class_weight`` and ``scoring``, against independent oracles and
scikit-learn's own checks.

* transform(X, layer) == the hidden activations of a plain NumPy forward pass written here (and
  the engine's trace of that layer);
* get_feature_names_out: named as scikit-learn's PCA names its features (``pca0`` -> ``mlpclassifier0``),
  one per unit of the layer transform returns; a Pipeline under set_output(transform="pandas");
* class_weight="balanced" == the sample weights of scikit-learn's ``compute_class_weight``; a dict
  with ``sample_weight`` == their product as ``sample_weight``; ``check_class_weight_classifiers``,
  ``check_class_weight_balanced_classifiers`` and ``..._balanced_linear_classifier``;
* scoring: early stopping keeps the weights of the epoch the scorer rates best, on data where
  the scorer and accuracy pick different epochs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.estimator_checks import (
    check_class_weight_balanced_classifiers,
    check_class_weight_balanced_linear_classifier,
    check_class_weight_classifiers,
)

import backprop
from backprop import MLPClassifier, MLPRegressor
from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.errors import InvalidInputError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# -- transform ---------------------------------------------------------------------------------------------
#: g of each hidden activation, written from its textbook formula (not the engine's form)
G = {
    "identity": lambda h: h,
    "sigmoid": lambda h: 1.0 / (1.0 + np.exp(-h)),
    "tanh": np.tanh,
    "relu": lambda h: np.where(h > 0, h, 0.0),
    "leaky_relu": lambda h: np.where(h > 0, h, 0.01 * h),
    "elu": lambda h: np.where(h > 0, h, np.expm1(np.minimum(h, 0))),
    "softplus": lambda h: np.log1p(np.exp(-np.abs(h))) + np.maximum(h, 0),
    "gelu": lambda h: 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3))),
}
assert set(G) == set(HIDDEN_ACTIVATIONS)


def _forward(est, X, acts):
    """a^1, ..., a^L of the hidden layers: h = a W + b, a = g(h), in float64."""
    a, out = np.asarray(X, np.float64), []
    for W, b, g in zip(est.coefs_[:-1], est.intercepts_[:-1], acts):
        a = G[g](a @ W.astype(np.float64) + b)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0)
    return X, y


@pytest.mark.parametrize("acts", [[g, "tanh"] for g in HIDDEN_ACTIVATIONS] + [["gelu", "elu"]])
def test_transform_is_the_hidden_activation_of_the_layer(data, acts):
    X, y = data
    clf = MLPClassifier((7, 5), activation=acts, max_iter=20, random_state=0).fit(X, y)
    want = _forward(clf, X, acts)
    for layer, k in ((0, 0), (1, 1), (-1, 1), (-2, 0)):
        got = clf.transform(X, layer=layer)
        assert got.shape == (len(X), clf.hidden_layer_sizes[k]) and got.dtype == np.float64
        np.testing.assert_allclose(got, want[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(clf.transform(X), clf.transform(X, layer=-1))


def test_transform_equals_the_engines_trace(data):
    X, y = data
    reg = MLPRegressor(hidden_layer_sizes=(6, 4, 3), activation=["relu", "softplus", "sigmoid"], max_iter=20,
                       random_state=0).fit(X, y.astype(float))
    trace = reg.network().trace(X, y.reshape(-1, 1).astype(float))
    for k in range(3):
        np.testing.assert_allclose(reg.transform(X, layer=k), trace.a[k], rtol=1e-12, atol=1e-15)


def test_transform_keeps_float32_and_refuses_bad_layers(data):
    X, y = data
    clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(X.astype(np.float32), y)
    assert clf.transform(X.astype(np.float32)).dtype == np.float32
    for bad in (1, -2, 0.5, True):
        with pytest.raises(InvalidInputError, match="layer"):
            clf.transform(X, layer=bad)
    with pytest.raises(Exception, match="not fitted"):
        MLPClassifier().transform(X)


def test_transform_inside_a_pipeline(data):
    """An MLP as the feature step of a Pipeline: fit_transform, then another estimator on a."""
    X, y = data
    mlp = MLPClassifier((8,), activation="gelu", max_iter=30, random_state=0)
    pipe = Pipeline([("features", mlp), ("lr", LogisticRegression(max_iter=500))]).fit(X, y)
    fitted = pipe.named_steps["features"]
    want = _forward(fitted, X, ["gelu"])[0]
    np.testing.assert_allclose(pipe[:-1].transform(X), want, rtol=1e-12, atol=1e-14)
    lr = LogisticRegression(max_iter=500).fit(fitted.transform(X), y)
    np.testing.assert_array_equal(pipe.predict(X), lr.predict(fitted.transform(X)))
    # fit_transform == fit().transform()
    np.testing.assert_array_equal(clone(mlp).fit_transform(X, y), clone(mlp).fit(X, y).transform(X))


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_feature_names_out_are_named_as_sklearns_own_feature_creating_transformers(data, Est):
    """get_feature_names_out: one name per unit of the layer transform returns (the last hidden
    layer), prefixed as scikit-learn prefixes PCA's (``pca0``, ...); set_output(transform="pandas")
    then gives a DataFrame with those columns (both failed: there was no get_feature_names_out)."""
    import pandas as pd
    from sklearn.decomposition import PCA
    from sklearn.exceptions import NotFittedError
    from sklearn.preprocessing import StandardScaler

    X, y = data
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])], index=np.arange(len(X)) + 100)
    with pytest.raises(NotFittedError):
        Est().get_feature_names_out()
    mlp = Est(hidden_layer_sizes=(7, 4), max_iter=20, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", mlp)])
    pipe.set_output(transform="pandas").fit(df, y)
    mlp, prefix = pipe.named_steps["mlp"], Est.__name__.lower()
    pca_names = PCA(n_components=4).fit(X).get_feature_names_out()  # scikit-learn's own convention
    want = [name.replace("pca", prefix) for name in pca_names]
    assert want == [f"{prefix}{j}" for j in range(4)]
    assert mlp.get_feature_names_out().tolist() == want and pipe.get_feature_names_out().tolist() == want
    assert mlp.get_feature_names_out(df.columns).tolist() == want  # the names fit saw: accepted
    with pytest.raises(ValueError, match="input_features"):
        mlp.get_feature_names_out(["a", "b", "c", "d", "e", "f"])
    out = pipe.transform(df)
    assert isinstance(out, pd.DataFrame) and out.columns.tolist() == want
    assert out.index.tolist() == df.index.tolist()
    scaled = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(out.to_numpy(), _forward(mlp, scaled, ["relu", "relu"])[-1],
                               rtol=1e-12, atol=1e-14)
    # another layer's width differs from the names: said, not a pandas length error
    with pytest.raises(InvalidInputError, match="set_output"):
        mlp.transform(pipe[:-1].transform(df), layer=0)
    a1 = mlp.set_output(transform="default").transform(pipe[:-1].transform(df), layer=0)
    assert isinstance(a1, np.ndarray) and a1.shape == (len(X), 7)


# -- class_weight ---------------------------------------------------------------------------------------
def _imbalanced(n=200, seed=0):
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               weights=[0.7, 0.2, 0.1], random_state=seed)
    return X, np.array(["a", "b", "c"])[y]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_balanced_equals_sample_weight_of_compute_class_weight(solver):
    X, y = _imbalanced()
    classes = np.unique(y)
    w = compute_class_weight("balanced", classes=classes, y=y)  # scikit-learn's, the oracle
    sw = w[np.searchsorted(classes, y)]
    kw = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0)
    a = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
    c = MLPClassifier(**kw).fit(X, y)  # and the weights do matter
    assert not np.allclose(a.coefs_[0], c.coefs_[0])


def test_balanced_multilabel_weights_are_the_product_over_labels():
    X, y = _imbalanced()
    Y = np.c_[y == "a", y == "c"].astype(int)
    sw = np.ones(len(Y))
    for j in range(Y.shape[1]):  # compute_class_weight per label column, multiplied (scikit-learn's rule)
        w = compute_class_weight("balanced", classes=np.array([0, 1]), y=Y[:, j])
        sw *= w[Y[:, j]]
    kw = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
    a = MLPClassifier(class_weight="balanced", **kw).fit(X, Y)
    b = MLPClassifier(**kw).fit(X, Y, sample_weight=sw)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-12, atol=1e-15)


def test_dict_class_weight_combines_with_sample_weight():
    X, y = _imbalanced()
    cw = {"a": 0.5, "b": 2.0, "c": 3.0}
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    kw = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0, early_stopping=True)
    a = MLPClassifier(class_weight=cw, **kw).fit(X, y, sample_weight=sw)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=sw * np.array([cw[v] for v in y]))
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
    assert a.validation_scores_ == b.validation_scores_


def test_class_weight_with_partial_fit_and_bad_values():
    X, y = _imbalanced()
    cw = {"a": 1.0, "b": 4.0, "c": 9.0}
    a = MLPClassifier((5,), class_weight=cw, random_state=0).partial_fit(X, y, classes=["a", "b", "c"])
    b = MLPClassifier((5,), random_state=0).partial_fit(X, y, classes=["a", "b", "c"],
                                                       sample_weight=[cw[v] for v in y])
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-12)
    with pytest.raises(InvalidInputError, match="partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=["a", "b", "c"])
    with pytest.raises(InvalidInputError, match="class_weight"):
        MLPClassifier(class_weight={"a": 1, "zzz": 2}, max_iter=2).fit(X, y)
    with pytest.raises(InvalidInputError, match="multilabel"):
        MLPClassifier(class_weight={0: 1.0, 1: 2.0}, max_iter=2).fit(X, np.c_[y == "a", y == "b"])
    with pytest.raises(InvalidParameterError):
        MLPClassifier(class_weight="even").fit(X, y)
    import dask.array as da  # the test extra has it
    with pytest.raises(InvalidInputError, match="Dask"):
        MLPClassifier(class_weight="balanced").fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))


def test_sklearn_check_class_weight_classifiers():
    check_class_weight_classifiers("MLPClassifier", MLPClassifier(random_state=0))


def test_sklearn_check_class_weight_balanced_classifiers():
    # imbalanced training data, a balanced test set: balancing must raise the weighted F1
    X, y = make_blobs(n_samples=[270, 30], centers=[[0, 0], [1.5, 1.5]], cluster_std=1.0, random_state=0)
    Xt, yt = make_blobs(n_samples=[150, 150], centers=[[0, 0], [1.5, 1.5]], cluster_std=1.0, random_state=1)
    check_class_weight_balanced_classifiers("MLPClassifier", MLPClassifier((10,), random_state=0), X, y, Xt,
                                            yt,
                                            weights=None)


class _CoefView(MLPClassifier):
    """The linear check compares ``coef_``: here, all the weights of the network as one vector."""

    @property
    def coef_(self):
        return np.concatenate([w.ravel() for w in self.coefs_ + self.intercepts_])


def test_sklearn_check_class_weight_balanced_linear_classifier():
    check_class_weight_balanced_linear_classifier("MLPClassifier", _CoefView((4,), random_state=0))


def test_class_weight_and_scoring_round_trip_through_files(tmp_path):
    X, y = _imbalanced()
    clf = MLPClassifier((4,), class_weight={"a": 1.0, "b": 2.5, "c": 0.0}, scoring="neg_log_loss",
                        early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    clf.save(tmp_path / "c.safetensors")
    back = backprop.load(tmp_path / "c.safetensors")
    assert back.class_weight == {"a": 1.0, "b": 2.5, "c": 0.0} and back.scoring == "neg_log_loss"
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    clf.set_params(scoring=lambda est, X, y: 0.0, class_weight={0: 1.0})  # code is not data
    clf.save(tmp_path / "d.safetensors")
    assert backprop.load(tmp_path / "d.safetensors").scoring is None


# -- scoring --------------------------------------------------------------------------------------------
class _Recorder:
    """A scorer callable that records what early stopping asks of it: balanced accuracy (its score)
    and plain accuracy (the default's) of the same predictions, and the weights they were made with."""

    def __init__(self):
        self.balanced, self.accuracy, self.weights = [], [], []

    def __call__(self, est, X, y):
        pred = est.predict(X)
        self.balanced.append(balanced_accuracy_score(y, pred))
        self.accuracy.append(accuracy_score(y, pred))
        self.weights.append([w.copy() for w in est.coefs_])
        return self.balanced[-1]


def test_early_stopping_keeps_the_epoch_the_scorer_rates_best():
    # rare positives: accuracy is best early (everything negative), balanced accuracy later
    X, y = make_classification(n_samples=600, n_features=5, n_informative=3, weights=[0.9, 0.1], flip_y=0.05,
                               class_sep=0.8, random_state=3)
    rec = _Recorder()
    clf = MLPClassifier((10,), solver="sgd", learning_rate_init=0.01, early_stopping=True,
                        validation_fraction=0.3, n_iter_no_change=40, max_iter=60, random_state=0,
                        scoring=rec).fit(X, y)
    assert clf.validation_scores_ == rec.balanced
    best = int(np.argmax(rec.balanced))
    assert clf.best_validation_score_ == rec.balanced[best]
    assert best != int(np.argmax(rec.accuracy))  # the case where the two disagree
    for w, kept in zip(clf.coefs_, rec.weights[best]):
        np.testing.assert_array_equal(w, kept)
    # the default keeps accuracy: the same run without a scorer scores the same epochs by accuracy
    # (until its own stopping rule ends it) and keeps the weights of accuracy's best epoch
    default = MLPClassifier(**{**clf.get_params(), "scoring": None}).fit(X, y)
    n = min(len(default.validation_scores_), len(rec.accuracy))
    np.testing.assert_allclose(default.validation_scores_[:n], rec.accuracy[:n], rtol=1e-12)
    assert int(np.argmax(default.validation_scores_)) != best
    assert not np.array_equal(default.coefs_[0], clf.coefs_[0])


def test_scorer_names_and_regressors():
    X, y = _imbalanced()
    clf = MLPClassifier((5,), early_stopping=True, scoring="neg_log_loss", max_iter=8, random_state=0)
    clf.fit(X, y)
    assert all(s < 0 for s in clf.validation_scores_)  # log-losses, negated: not accuracies
    Xr, yr = make_classification(n_samples=120, random_state=0)[0], np.linspace(0, 1, 120)
    reg = MLPRegressor(hidden_layer_sizes=(5,), early_stopping=True, scoring="neg_mean_absolute_error",
                       max_iter=8,
                       random_state=0).fit(Xr, yr)
    assert all(s < 0 for s in reg.validation_scores_)
    with pytest.raises(InvalidParameterError, match="scoring"):
        MLPClassifier(scoring="no_such_scorer").fit(X, y)


@pytest.mark.parametrize("weight", [-1.0, math.nan, math.inf])
def test_a_class_weight_that_is_negative_or_not_finite_is_refused(weight):
    # a negative weight ascends that class's loss; NaN and inf used to surface as sample_weight errors
    X, y = _imbalanced()
    with pytest.raises(InvalidInputError, match=r"class_weight .*finite number >= 0"):
        MLPClassifier((5,), class_weight={"a": weight, "b": 1.0, "c": 1.0}, max_iter=2).fit(X, y)


@pytest.mark.parametrize("result", [math.nan, "0.5x", None])
def test_a_scorer_that_returns_no_number_is_named(result):
    X, y = _imbalanced()
    clf = MLPClassifier((5,), early_stopping=True, max_iter=3, random_state=0,
                        scoring=lambda est, X, y: result)
    with pytest.raises(InvalidInputError, match="scoring must return a number"):
        clf.fit(X, y)
