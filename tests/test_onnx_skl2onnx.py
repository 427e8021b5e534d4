"""skl2onnx pipelines with backprop's estimators (``backprop.onnx.register``).

``skl2onnx.to_onnx(Pipeline([StandardScaler(), MLPClassifier(...)]), X[:1])`` for every hidden
activation and per-layer lists, float32 and float64, classifiers (string labels) and regressors
(several outputs); onnxruntime's outputs against the pipeline's predict / predict_proba with the
tolerances of tests/test_onnx.py (relative to each output column's largest magnitude).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skl2onnx
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import backprop.onnx
from backprop import MLPClassifier, MLPRegressor
from backprop.core.activations import HIDDEN_ACTIVATIONS

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


@pytest.fixture(scope="module", autouse=True)
def registered():
    backprop.onnx.register()


def _data(n=120):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 4)) * [1, 10, 0.1, 3] + [0, 50, 1, -2]  # scales the StandardScaler removes
    k = (X[:, 0] > 0).astype(int) + (X[:, 1] > 50)
    return X, np.array(["red", "green", "blue"])[k]


def _run(proto, X):
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: X})


def _check_close(got, want, dtype):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64).reshape(np.shape(got))
    scale = np.max(np.abs(want), axis=0)
    err = np.max(np.abs(got - want), axis=0)
    assert np.all(err <= RTOL[np.dtype(dtype)] * scale), (err / scale).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [*HIDDEN_ACTIVATIONS, "logistic", ["relu", "gelu"], ["softplus", "elu"]])
def test_classifier_pipeline_converts(dtype, act):
    X, y = _data()
    X = X.astype(dtype)
    hidden = (6, 5) if isinstance(act, list) else (6,)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(hidden, activation=act, max_iter=40, random_state=0))]).fit(X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1], options={id(pipe.steps[-1][1]): {"zipmap": False}})
    label, proba = _run(proto, X)
    assert label.tolist() == pipe.predict(X).tolist()
    assert proba.dtype == dtype
    _check_close(proba, pipe.predict_proba(X), dtype)


def test_the_plain_call_with_zipmap_works():
    """The call exactly as a user writes it: skl2onnx's ZipMap gives one {class: p} per row."""
    X, y = _data()
    X = X.astype(np.float32)
    clf = MLPClassifier((5,), activation="leaky_relu", max_iter=30, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", clf)]).fit(X, y)
    label, maps = _run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert label.tolist() == pipe.predict(X).tolist()
    proba = pipe.predict_proba(X)
    got = np.array([[m[c] for c in clf.classes_] for m in maps])
    _check_close(got, proba, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_and_integer_labels(dtype):
    X, y = _data()
    X = X.astype(dtype)
    for labels in (np.where(y == "red", 4, 9), y == "red"):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("mlp", MLPClassifier((4,), activation="tanh", max_iter=30, random_state=0))])
        pipe.fit(X, labels)
        label, proba = _run(skl2onnx.to_onnx(pipe, X[:1], options={id(pipe[-1]): {"zipmap": False}}), X)
        np.testing.assert_array_equal(label, pipe.predict(X).astype(np.int64))
        _check_close(proba, pipe.predict_proba(X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["relu", "sigmoid", ["elu", "softplus"]])
def test_regressor_pipeline_with_several_outputs(dtype, act):
    X, _ = _data()
    X = X.astype(dtype)
    Y = np.c_[X[:, 0] * 2, np.sin(X[:, 2] * 10), X[:, 3] ** 2]
    hidden = (7, 5) if isinstance(act, list) else (7,)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPRegressor(hidden_layer_sizes=hidden, activation=act, max_iter=60,
                                          random_state=0))]).fit(X, Y)
    (v,) = _run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert v.shape == (len(X), 3) and v.dtype == dtype
    _check_close(v, pipe.predict(X), dtype)


def test_estimator_alone_converts():
    X, y = _data()
    clf = MLPClassifier((5,), activation="gelu", max_iter=30, random_state=0).fit(X, y)
    label, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert label.tolist() == clf.predict(X).tolist()
    _check_close(proba, clf.predict_proba(X), np.float64)


def test_without_skl2onnx_register_says_how_to_get_it(monkeypatch):
    import importlib.util

    from backprop.onnx import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "skl2onnx" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install skl2onnx"):
        backprop.onnx.register()
