"""ONNX export: onnxruntime's outputs against predict / predict_proba / `backprop predict`.

Every exported file passes ``onnx.checker.check_model(full_check=True)`` and is then run by
onnxruntime. The oracle is the model's own prediction. Tolerances: a forward pass's rounding error
is relative to the magnitudes it sums, so each output column is compared relative to its largest
magnitude (probabilities: to 1): ``|onnx - predict| <= rtol * max|predict|`` with rtol 1e-5 in
float32 and 1e-12 in float64 (the runtimes' own kernels -- tanh, exp, matmul -- differ in the last
bits, which a few layers grow by a small factor).
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import backprop
from backprop import MLPClassifier, MLPRegressor, Network
from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.errors import InvalidInputError, InvalidTypeError, ModelFileError
from backprop.onnx import OPSET, export, to_onnx
from clitools import one_error_line, run_cli

RTOL = {"float32": 1e-5, "float64": 1e-12}


def run_onnx(path_or_proto, X):
    """check_model(full_check) on the file, then onnxruntime's outputs by name."""
    proto = onnx.load(path_or_proto) if isinstance(path_or_proto, (str, os.PathLike)) else path_or_proto
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain for o in proto.opset_import} <= {"", "ai.onnx"}  # no ai.onnx.ml
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"X": X})))


def assert_close(got, want, dtype):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64).reshape(got.shape)
    scale = np.max(np.abs(want), axis=0)
    err = np.max(np.abs(got - want), axis=0)
    assert np.all(err <= RTOL[np.dtype(dtype).name] * scale), (err / scale).max()


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(64, 5)) * 2


# -- Networks: every activation, each hidden layer its own, every output -------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_every_hidden_activation_matches_predict(X, dtype, act):
    # the activation under test in the first layer, another in the second: layers keep their own
    other = "tanh" if act != "tanh" else "elu"
    net = Network([5, 7, 6, 3], hidden=[act, other], output="identity", seed=1, dtype=dtype)
    for w in net.weights:
        w *= 2  # large |h|: the saturated parts of every g are exercised
    out = run_onnx(to_onnx(net), X.astype(dtype))
    assert out["variable"].dtype == np.dtype(dtype)
    assert_close(out["variable"], net.predict(X), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "tanh", "relu", "softmax"])
def test_every_output_activation_matches_predict(X, dtype, output):
    net = Network([5, 8, 4], hidden="gelu", output=output, seed=2, dtype=dtype)
    out = run_onnx(to_onnx(net), X.astype(dtype))
    assert_close(out["variable"], net.predict(X), dtype)


def test_leaky_relu_and_elu_keep_their_alpha(X):
    net = Network([5, 6, 6, 2], hidden="relu", output="identity", seed=3, dtype="float64")
    net.activations[0] = backprop.activations.LeakyReLU(0.2)
    net.activations[1] = backprop.activations.ELU(0.5)
    out = run_onnx(to_onnx(net), X)
    assert_close(out["variable"], net.predict(X), "float64")


def test_softplus_and_elu_far_out(X):
    """|h| up to 1e3: softplus's log1p and elu's expm1 keep their digits (no exp overflow)."""
    net = Network([1, 2, 1], hidden="softplus", output="identity", seed=0, dtype="float64")
    net.weights[0][:] = [[1.0, -1.0]]
    net.weights[1][:] = [[1.0], [1.0]]
    x = np.array([[-1e3], [-40.0], [-1e-9], [0.0], [1e-9], [40.0], [1e3]])
    assert_close(run_onnx(to_onnx(net), x)["variable"], net.predict(x), "float64")
    net2 = Network([1, 1, 1], hidden="elu", output="identity", seed=0, dtype="float64")
    net2.weights[0][:] = 1.0
    net2.weights[1][:] = 1.0
    got = run_onnx(to_onnx(net2), x)["variable"]
    np.testing.assert_allclose(got, net2.predict(x), rtol=1e-12, atol=0)  # elementwise: expm1's digits


# -- models as `backprop predict` applies them: standardisation, classes, target statistics ---------------
def _classifier_net(dtype, n_out, classes, seed=4):
    out = "softmax" if n_out > 1 else "sigmoid"
    net = Network([5, 6, n_out], hidden="tanh", output=out, seed=seed, dtype=dtype)
    net.metadata = {"task": "classification", "classes": classes,
                    "loss": "cross_entropy" if n_out > 1 else "binary_cross_entropy",
                    "standardize": {"mean": [1, -2, 0.5, 3, 0], "scale": [2, 0.5, 1, 4, 1.5]}}
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("classes", [["setosa", "versicolor", "virginica"], [3, 1, 7], ["no", "yes"],
                                     [0.5, 2.5]])
def test_classifier_networks_give_labels_and_probabilities_as_predict(X, dtype, classes):
    from backprop.cli.model import Model
    from backprop.data import targets

    net = _classifier_net(dtype, len(classes) if len(classes) > 2 else 1, classes)
    m = Model("net", net)
    labels, proba = targets.decode(m.outputs(X, "X"), m.meta)  # what `backprop predict` computes
    out = run_onnx(to_onnx(net), X.astype(dtype))
    assert out["label"].tolist() == labels.tolist()
    assert_close(out["probabilities"], proba, dtype)


def test_regression_network_undoes_the_target_statistics(X):
    from backprop.cli.model import Model
    from backprop.data import targets

    net = Network([5, 6, 2], hidden="relu", output="identity", seed=5, dtype="float64")
    net.metadata = {"task": "regression", "target": ["a", "b"],
                    "standardize": {"mean": [0, 1, 2, 3, 4], "scale": [1, 2, 3, 4, 5]},
                    "target_standardize": {"mean": [10, -3], "scale": [5, 0.25]}}
    values, _ = targets.decode(Model("net", net).outputs(X, "X"), net.metadata)
    assert_close(run_onnx(to_onnx(net), X)["variable"], values, "float64")


def test_dtype_option_casts_the_graph(X):
    net = Network([5, 4, 3], hidden="sigmoid", output="softmax", seed=6, dtype="float64")
    out = run_onnx(to_onnx(net, dtype="float32"), X.astype(np.float32))
    assert out["variable"].dtype == np.float32  # no classes recorded: the outputs as numbers, as predict
    assert_close(out["variable"], net.predict(X), "float32")
    with pytest.raises(InvalidInputError, match="dtype"):
        to_onnx(net, dtype="float16")


# -- fitted estimators -------------------------------------------------------------------------------------
def _labels(X, kind):
    k = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return {"str": np.array(["cat", "dog", "emu"])[k], "int": np.array([10, -3, 7])[k],
            "bool": X[:, 3] > 0, "binary_str": np.array(["no", "yes"])[(X[:, 3] > 0).astype(int)]}[kind]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["str", "int", "bool", "binary_str"])
def test_fitted_classifier_matches_predict_and_predict_proba(X, dtype, kind):
    y = _labels(X, kind)
    Xd = X.astype(dtype)
    clf = MLPClassifier((7, 5), activation=["leaky_relu", "softplus"], max_iter=60, random_state=0).fit(Xd, y)
    out = run_onnx(to_onnx(clf), Xd)
    assert out["label"].tolist() == clf.predict(Xd).tolist()
    assert_close(out["probabilities"], clf.predict_proba(Xd), dtype)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_classifier_gives_the_indicator_matrix(X):
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] < 0].astype(int)
    clf = MLPClassifier((6,), max_iter=50, random_state=0).fit(X, Y)
    out = run_onnx(to_onnx(clf), X)
    np.testing.assert_array_equal(out["label"], clf.predict(X))
    assert_close(out["probabilities"], clf.predict_proba(X), "float64")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_fitted_regressor_with_several_outputs(X, dtype, loss):
    Y = np.c_[np.exp(0.3 * X[:, 0]), X[:, 1] ** 2, np.abs(X[:, 2])]
    Xd = X.astype(dtype)
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(8, 4), activation=["gelu", "sigmoid"], max_iter=80,
                       random_state=0).fit(Xd, Y)
    out = run_onnx(to_onnx(reg), Xd)
    assert out["variable"].shape == (len(X), 3)
    assert_close(out["variable"], reg.predict(Xd), dtype)


# -- files: backprop train, Network.save, the estimators' save; the CLI command -----------------------------
def test_cli_export_of_a_trained_model_equals_cli_predict(tmp_path, capsys):
    model, onnx_path, pred = tmp_path / "m.safetensors", tmp_path / "m.onnx", tmp_path / "p.csv"
    code, _, err = run_cli(["train", "iris", "--epochs", "5", "--out", model], capsys)
    assert code == 0, err
    code, out, err = run_cli(["export", model, "--format", "onnx", "--out", onnx_path], capsys)
    assert code == 0, err
    assert f"opset {OPSET}" in out and "outputs label, probabilities" in out
    code, _, err = run_cli(["predict", model, "iris", "--split", "all", "--proba", "--out", pred], capsys)
    assert code == 0, err
    rows = [line.split(",") for line in pred.read_text().splitlines()[1:]]
    X, _ = backprop.datasets.load("iris").part("all")
    res = run_onnx(str(onnx_path), X.astype(np.float32))
    assert res["label"].tolist() == [r[0] for r in rows]
    # the CSV keeps 6 significant digits
    np.testing.assert_allclose(res["probabilities"], np.array([r[1:] for r in rows], float), rtol=1e-5,
                               atol=1e-6)


def test_cli_export_of_a_trained_regression_model_equals_cli_predict(tmp_path, capsys):
    model, onnx_path, pred = tmp_path / "r.safetensors", tmp_path / "r.onnx", tmp_path / "p.csv"
    code, _, err = run_cli(["train", "sin", "--epochs", "3", "--dtype", "float64", "--out", model], capsys)
    assert code == 0, err
    assert run_cli(["export", model, "--out", onnx_path], capsys)[0] == 0
    assert run_cli(["predict", model, "sin", "--split", "all", "--out", pred], capsys)[0] == 0
    X, _ = backprop.datasets.load("sin").part("all")
    want = np.array([float(line) for line in pred.read_text().splitlines()[1:]])  # repr(): every digit
    assert_close(run_onnx(str(onnx_path), X)["variable"][:, 0], want, "float64")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_saved_network_and_estimator_files_export(X, tmp_path):
    net = _classifier_net("float64", 3, ["a", "b", "c"])
    net.save(tmp_path / "net.safetensors")
    export(tmp_path / "net.safetensors", tmp_path / "net.onnx")
    assert run_onnx(str(tmp_path / "net.onnx"), X)["label"].tolist() == \
        run_onnx(to_onnx(net), X)["label"].tolist()
    y = _labels(X, "str")
    clf = MLPClassifier((5,), activation="elu", max_iter=30, random_state=0).fit(X, y)
    clf.save(tmp_path / "clf.safetensors")
    assert export(tmp_path / "clf.safetensors", tmp_path / "clf.onnx") == tmp_path / "clf.onnx"
    out = run_onnx(str(tmp_path / "clf.onnx"), X)
    assert out["label"].tolist() == clf.predict(X).tolist()
    assert_close(out["probabilities"], clf.predict_proba(X), "float64")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "clf.onnx")).metadata_props}
    assert json.loads(meta["backprop.classes"]) == ["cat", "dog", "emu"]


# -- refused: crafted, non-finite, not a model; never a half-written file ------------------------------------
def test_cli_dtype_option(tmp_path, capsys, X):
    net = _classifier_net("float32", 3, ["a", "b", "c"])
    net.save(tmp_path / "m.safetensors")
    code, out, err = run_cli(["export", tmp_path / "m.safetensors", "--dtype", "float64", "--out",
                              tmp_path / "m.onnx"], capsys)
    assert code == 0 and "float64" in out, err
    res = run_onnx(str(tmp_path / "m.onnx"), X)  # float64 input
    assert res["probabilities"].dtype == np.float64
    assert_close(res["probabilities"], _classifier_net("float32", 3, ["a", "b", "c"]).predict(
        (X - [1, -2, 0.5, 3, 0]) / [2, 0.5, 1, 4, 1.5]), "float32")


def _crafted(valid: bytes, edit) -> bytes:
    """A copy of a model file whose safetensors header was changed by ``edit(header, data)``."""
    n = struct.unpack("<Q", valid[:8])[0]
    header, data = json.loads(valid[8:8 + n]), bytearray(valid[8 + n:])
    edit(header, data)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(data)


def _nan_weight(header, data):
    begin = header["weights.0"]["data_offsets"][0]
    data[begin:begin + 8] = struct.pack("<d", float("nan"))


def _zero_scale(header, data):
    doc = json.loads(header["__metadata__"]["backprop"])
    doc["meta"]["metadata"]["standardize"]["scale"][0] = 0
    header["__metadata__"]["backprop"] = json.dumps(doc)


@pytest.mark.parametrize("edit", [_nan_weight, _zero_scale])
def test_crafted_files_are_refused_with_one_error_line_and_nothing_written(tmp_path, capsys, edit):
    good = tmp_path / "good.safetensors"
    _classifier_net("float64", 3, ["a", "b", "c"]).save(good)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(_crafted(good.read_bytes(), edit))
    with pytest.raises(ModelFileError):
        export(bad, tmp_path / "x.onnx")
    out = tmp_path / "old.onnx"
    out.write_bytes(b"the old file")
    code, _, err = run_cli(["export", bad, "--out", out], capsys)
    assert code == 2
    assert "bad.safetensors" in one_error_line(err)
    assert out.read_bytes() == b"the old file"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.safetensors", "good.safetensors", "old.onnx"]


def test_non_finite_or_inconsistent_objects_are_refused(X, tmp_path):
    net = Network([5, 3, 2], hidden="relu", output="identity", seed=0)
    net.weights[1][0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or infinity"):
        export(net, tmp_path / "n.onnx")
    net = Network([5, 3, 2], hidden="relu", output="softmax", seed=0)
    net.metadata = {"task": "classification", "classes": ["a", "b", "c"]}
    with pytest.raises(InvalidInputError, match="classes"):
        export(net, tmp_path / "n.onnx")
    net = Network([5, 3, 3], hidden="relu", output="softmax", seed=0)
    net.metadata = {"task": "classification", "classes": ["a", 1, 2]}
    with pytest.raises(InvalidInputError, match="mix"):  # the metadata schema refuses mixed labels first
        export(net, tmp_path / "n.onnx")
    net.metadata = {"standardize": {"mean": [0] * 5, "scale": [1, 1, -1, 1, 1]}}
    with pytest.raises(InvalidInputError, match="scale"):
        export(net, tmp_path / "n.onnx")
    with pytest.raises(InvalidInputError, match="not fitted"):
        export(MLPClassifier(), tmp_path / "n.onnx")
    with pytest.raises(InvalidTypeError, match="Network"):
        export(object(), tmp_path / "n.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_errors_are_one_line(tmp_path, capsys):
    code, _, err = run_cli(["export", tmp_path / "missing.safetensors", "--out", tmp_path / "m.onnx"], capsys)
    assert code == 2 and "does not exist" in one_error_line(err)
    model = tmp_path / "m.safetensors"
    Network([2, 2, 1], seed=0).save(model)
    code, _, err = run_cli(["export", model, "--out", model], capsys)
    assert code == 2 and "model file itself" in one_error_line(err)
    code, _, err = run_cli(["export", model, "--out", tmp_path / "no" / "m.onnx"], capsys)
    assert code == 2 and "does not exist" in one_error_line(err)


def test_an_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    """The bytes go to a temporary file renamed at the end: a failure half-way leaves nothing."""
    net = Network([3, 2, 1], seed=0)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export(net, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_missing_onnx_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from backprop.onnx import deps

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(deps.MissingDependencyError,
                       match=r"pip install 'backprop-explicit\[onnx\]' .*pip install -e '\.\[onnx\]'"):
        deps.require("onnx", "backprop.onnx")
