"""``backprop info|evaluate|predict`` on files written by MLPClassifier.save / MLPRegressor.save.

Oracles: the estimator itself (predict, predict_proba, score) and scikit-learn's metrics, on the data
the test wrote.
"""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, mean_squared_error, r2_score

import backprop
from clitools import one_error_line, run_cli


def _write_csv(path, header, columns):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(zip(*columns))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 3))
    labels = np.array(["ant", "bee", "cat"])[np.argmax(X * [1.0, 1.5, 0.7], axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations only: ConvergenceWarning
        frame = pd.DataFrame(X, columns=["u", "v", "w"])
        clf = backprop.MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0).fit(frame, labels)
        binary = backprop.MLPClassifier(hidden_layer_sizes=(5,), max_iter=40, random_state=1)
        binary.fit(X, X[:, 0] > 0)
        reg = backprop.MLPRegressor(hidden_layer_sizes=(6,), max_iter=60, random_state=0)
        reg.fit(X, X @ [1.0, 2.0, -1.0])
    clf.save("clf.safetensors")
    binary.save("bin.safetensors")
    reg.save("reg.safetensors")
    # the classifier's files: features in another order (matched by name), the label last or named
    _write_csv("animals.csv", ["w", "u", "v", "label"], [*X[:, [2, 0, 1]].T, labels])
    _write_csv("labelled.csv", ["label", "v", "w", "u"], [labels, *X[:, [1, 2, 0]].T])
    _write_csv("numbers.csv", ["a", "b", "c", "t"], [*X.T, X @ [1.0, 2.0, -1.0]])
    _write_csv("features.csv", ["a", "b", "c"], list(X.T))
    return tmp_path, X, labels, clf, binary, reg


def test_info_describes_an_estimator_file(folder, capsys):
    _, X, labels, clf, _, reg = folder
    status, out, err = run_cli(["info", "clf.safetensors"], capsys)
    assert status == 0, err
    for text in ("3-8-3", "MLPClassifier", "relu", "softmax", "ant, bee, cat", "u, v, w",
                 f"{3 * 8 + 8 + 8 * 3 + 3:,}"):
        assert text in out, text
    status, out, err = run_cli(["info", "reg.safetensors", "--json"], capsys)
    assert status == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "estimator" and doc["sizes"] == [3, 6, 1]
    assert doc["n_parameters"] == sum(w.size + b.size for w, b in zip(reg.coefs_, reg.intercepts_))
    assert doc["metadata"]["params"]["hidden_layer_sizes"] == [6]
    assert doc["metadata"]["fitted"]["n_iter_"] == reg.n_iter_


def test_evaluate_an_estimator_file_matches_the_estimator(folder, capsys):
    _, X, labels, clf, binary, reg = folder
    status, out, err = run_cli(["evaluate", "clf.safetensors", "animals.csv", "--json"], capsys)
    assert status == 0, err
    r = json.loads(out)
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    assert r["n"] == 90 and r["classes"] == ["ant", "bee", "cat"]
    assert r["accuracy"] == pytest.approx(clf.score(frame, labels), abs=1e-12)
    expected = log_loss(labels, clf.predict_proba(frame), labels=clf.classes_)
    assert r["loss"] == pytest.approx(expected, rel=1e-9)
    status, out, err = run_cli(["evaluate", "clf.safetensors", "labelled.csv", "--target", "label", "--json"],
                               capsys)
    assert status == 0, err
    assert json.loads(out)["confusion_matrix"] == r["confusion_matrix"]
    status, out, err = run_cli(["evaluate", "reg.safetensors", "numbers.csv", "--json"], capsys)
    assert status == 0, err
    r = json.loads(out)
    y = X @ [1.0, 2.0, -1.0]
    assert r["r2"] == pytest.approx(reg.score(X, y), rel=1e-9)
    assert r["loss"] == pytest.approx(mean_squared_error(y, reg.predict(X)) / 2, rel=1e-9)
    assert r["r2"] == pytest.approx(r2_score(y, reg.predict(X)), rel=1e-9)


def test_predict_with_an_estimator_file_gives_the_estimators_predictions(folder, capsys):
    _, X, labels, clf, binary, reg = folder
    status, out, err = run_cli(["predict", "clf.safetensors", "animals.csv", "--proba", "--chunk-size", "7"],
                               capsys)
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction", "proba_ant", "proba_bee", "proba_cat"]
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    assert [r[0] for r in rows[1:]] == list(clf.predict(frame))
    assert np.allclose([[float(v) for v in r[1:]] for r in rows[1:]], clf.predict_proba(frame), rtol=1e-5)
    # fitted on an array: the file's columns by position
    status, out, err = run_cli(["predict", "bin.safetensors", "features.csv"], capsys)
    assert status == 0, err
    assert [r[0] for r in csv.reader(out.splitlines())][1:] == [str(v) for v in binary.predict(X)]
    status, out, err = run_cli(["predict", "reg.safetensors", "numbers.csv", "--target", "t", "--out",
                                "p.csv"], capsys)
    assert status == 0 and out == "", err
    with open("p.csv", newline="") as f:
        values = [float(r[0]) for r in list(csv.reader(f))[1:]]
    assert np.allclose(values, reg.predict(X), rtol=1e-12)


def test_estimator_file_errors_are_one_line(folder, capsys):
    tmp_path = folder[0]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in [
        (["evaluate", "clf.safetensors", "numbers.csv"], "lacks the model's feature column(s) u, v, w"),
        (["predict", "reg.safetensors", "animals.csv", "--out", "p.csv"],
         "has 4 feature columns but the model expects 3"),
        (["predict", "reg.safetensors", "numbers.csv", "--proba"], "--proba needs a classification model"),
        (["explain", "--model", "clf.safetensors", "--row", "0"], "explain works out updates of a Network"),
        (["plot", "clf.safetensors"], "plot draws Networks"),
    ]:
        status, out, err = run_cli(args, capsys)
        assert status == 2, (args, err)
        assert message in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_multilabel_estimator_file_is_refused_with_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = backprop.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(
            X, np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int))
    est.save(tmp_path / "multi.safetensors")
    status, _, err = run_cli(["info", tmp_path / "multi.safetensors"], capsys)
    assert status == 2 and "multilabel" in one_error_line(err)
