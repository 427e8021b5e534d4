"""Every file backprop reads is validated whole: crafted headers, metadata and estimator documents.

Files are crafted here byte by byte (8-byte length, JSON header, raw data), independently of
backprop's writer. Memory is measured with tracemalloc against the file's size; the JSON cost
estimate of backprop.io.jsonscan is checked against what json.loads really allocates.
"""

from __future__ import annotations

import json
import re
import struct
import tracemalloc
import warnings

import numpy as np
import pytest

import backprop
from backprop.errors import InvalidInputError, ModelFileError
from backprop.io import jsonscan
from backprop.io.container import MAX_TENSORS
from backprop.train.checkpoint import load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer


def _split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _with_doc(data, change):
    """``data`` with its backprop document passed through ``change(doc)``."""
    header, body = _split(data)
    doc = json.loads(header["__metadata__"]["backprop"])
    change(doc)
    header["__metadata__"]["backprop"] = json.dumps(doc)
    return _join(header, body)


def _peak_load(path, loader=backprop.load):
    """(result or the ModelFileError, peak bytes traced while loading)."""
    tracemalloc.start()
    try:
        result = loader(path)
    except ModelFileError as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    net = backprop.Network([4, 5, 3], hidden="tanh", output="softmax", seed=0)
    X = np.random.default_rng(0).normal(size=(30, 4))
    h = net.fit(X, np.arange(30) % 3, loss="cross_entropy", epochs=2, lr=0.1)
    net.save(d / "net.safetensors", loss="cross_entropy", task="classification", classes=["a", "b", "c"],
             feature_names=["p", "q", "r", "s"], standardize={"mean": [0.0] * 4, "scale": [1.0] * 4},
             history=h.to_dict(), dataset={"name": "x.csv", "options": {"target": "y"}},
             training={"lr": 0.1, "layers": [5]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 3 iterations: on purpose
        est = backprop.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0)
        est.fit(X, np.arange(30) % 3)
    est.save(d / "est.safetensors")
    t = Trainer(backprop.Network([4, 5, 3], hidden="tanh", output="softmax", seed=1),
                loss="cross_entropy", optimizer="adam", epochs=1, batch_size=8)
    t.run(X, np.arange(30) % 3)
    save_checkpoint(d / "run.ckpt", t)
    return {k: (d / f).read_bytes() for k, f in
            (("net", "net.safetensors"), ("est", "est.safetensors"), ("ckpt", "run.ckpt"))} | {
        "X": X, "estimator": est}


# -- the JSON cost estimate -----------------------------------------------------------------------------
_JSON_SHAPES = {
    "empty lists": "[" + ",".join(["[]"] * 20000) + "]",
    "empty objects": "[" + ",".join(["{}"] * 20000) + "]",
    "small objects": "[" + ",".join(['{"a":{},"b":[1.5]}'] * 20000) + "]",
    "floats": "[" + ",".join(repr(0.1 * i) for i in range(20000)) + "]",
    "long ints": "[" + ",".join(["7" * 1000] * 200) + "]",
    "keys": "{" + ",".join(f'"k{i}":[]' for i in range(20000)) + "}",
    "strings": "[" + ",".join(f'"s{i}"' for i in range(20000)) + "]",
    "escaped wide strings": "[" + ",".join(f'"\\u0101\\ud83d\\ude00{i}"' for i in range(20000)) + "]",
    "one long escaped string": '["' + "x" * 300000 + '\\ud83d\\ude00"]',
    "nested": "[" * 30 + "]" * 30,
}


@pytest.mark.parametrize("name", list(_JSON_SHAPES))
def test_the_cost_estimate_bounds_what_json_loads_allocates(name):
    text = _JSON_SHAPES[name].encode()
    estimate = jsonscan.cost(text, budget=10**9)  # what the parse builds, beside the text itself
    decoded = text.decode()
    tracemalloc.start()
    try:
        value = json.loads(decoded)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del value
    assert peak <= estimate, f"{name}: json.loads took {peak} bytes, the estimate says {estimate}"


def test_depth_and_value_count_are_bounded_before_parsing():
    with pytest.raises(jsonscan.TooComplex, match="nests 33 levels"):
        jsonscan.cost(b"[" * 33 + b"]" * 33, budget=10**9)
    assert jsonscan.cost(b'["' + b"[" * 40 + b'"]', budget=10**9) > 0  # brackets inside a string
    with pytest.raises(jsonscan.TooComplex, match="more than 2,000,000 JSON values"):
        jsonscan.cost(b"[" + b"0," * 2_000_001 + b"0]", budget=10**9)


# -- headers: memory, entries, shapes -------------------------------------------------------------------
#: headers of about ``size`` bytes that parse into many small objects, or hold one big string
_CRAFTED_HEADERS = {
    "tiny objects": lambda size: b"{" + b",".join(b'"%d":{}' % i for i in range(size // 9)) + b"}",
    "empty lists": lambda size: b'{"a":[' + b",".join([b"[]"] * (size // 3)) + b"]}",
    "small numbers": lambda size: b'{"a":[' + b",".join([b"1"] * (size // 2)) + b"]}",
    "one string": lambda size: b'{"__metadata__":{"other":"' + b"x" * size + b'"}}',
    "deep": lambda size: b'{"a":' + b"[" * (size // 2) + b"]" * (size // 2) + b"}",
}


@pytest.mark.parametrize("which", list(_CRAFTED_HEADERS))
def test_a_30_mb_crafted_header_takes_at_most_5_times_its_size(tmp_path, which):
    path = tmp_path / "h.safetensors"
    path.write_bytes(_join(_CRAFTED_HEADERS[which](30_000_000)))
    size = path.stat().st_size
    result, peak = _peak_load(path)
    assert isinstance(result, ModelFileError)  # none of them is a backprop file
    assert peak < 5 * size, f"{which}: {size:,} bytes took {peak:,}"


def test_a_large_valid_history_loads_within_the_bound(tmp_path):
    net = backprop.Network([3, 2], output="softmax", seed=0)
    path = tmp_path / "long.safetensors"
    net.save(path, history={"loss": np.linspace(1, 0, 60_000).tolist()}, note="é")
    result, peak = _peak_load(path)
    assert isinstance(result, backprop.Network) and len(result.metadata["history"]["loss"]) == 60_000
    assert peak < 5 * path.stat().st_size + (1 << 20)


def test_too_many_tensors_are_refused(tmp_path, files):
    header, body = _split(files["net"])
    for i in range(MAX_TENSORS + 1):
        header[f"z{i}"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    path = tmp_path / "many.safetensors"
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError, match="more than the 10,000"):
        backprop.load(path)
    with pytest.raises(InvalidInputError, match="at most 10,000 arrays"):
        backprop.io.container.save_arrays(tmp_path / "no.safetensors",
                                          {f"a{i}": np.zeros(0) for i in range(MAX_TENSORS + 1)})


@pytest.mark.parametrize("shape", [[0, 2**62], [2**62, 0], [0, 2**31 + 1], [0, 2**30, 2**30, 2**30],
                                   [0] * 9, [2**64, 0]])
def test_zero_element_tensors_with_absurd_shapes_are_refused(tmp_path, files, shape):
    header, body = _split(files["net"])
    header["empty"] = {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}
    path = tmp_path / "z.safetensors"
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError, match="absurd|malformed"):
        backprop.load(path)
    with pytest.raises(ModelFileError, match="absurd|malformed"):
        load_checkpoint(path)


# -- a network's metadata --------------------------------------------------------------------------------
def _meta(change):
    def apply(doc):
        change(doc["meta"]["metadata"])
    return apply


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(feature_names=["a", "b", "c"]),
     "metadata 'feature_names' has 3 names but the network has 4 inputs"),
    (lambda m: m.update(feature_names=["a", "b", "c", 4]), r"'feature_names\[3\]' must be a string"),
    (lambda m: m.update(classes=["a", "b"]), "'classes' has 2 classes but the network has 3 outputs"),
    (lambda m: m.update(classes=["a", "a", "b"]), "'classes' repeats"),
    (lambda m: m.update(classes=[[1], 2, 3]), r"'classes\[0\]' must be"),
    (lambda m: m.update(classes=["a", 1, 2]), "'classes' mixes numbers and strings"),
    (lambda m: m.update(classes=[True, 1, 2]), "'classes' repeats"),  # True == 1 as labels
    (lambda m: m.update(classes=[1, 1.0, 2]), "'classes' repeats"),
    (lambda m: m.update(feature_names=["a", "b", "a", "c"]), "'feature_names' repeats"),
    (lambda m: m.update(standardize={"mean": [0.0] * 3, "scale": [1.0] * 4}),
     "'standardize.mean' has 3 means but the network has 4 inputs"),
    (lambda m: m.update(standardize={"mean": [0.0] * 4, "scale": [1.0, 0.0, 1.0, 1.0]}),
     r"'standardize.scale\[1\]' must be a finite number > 0"),
    (lambda m: m.update(standardize={"mean": [0.0, float("nan"), 0.0, 0.0], "scale": [1.0] * 4}),
     r"'standardize.mean\[1\]' must be a finite number"),
    (lambda m: m.update(standardize={"mean": [0.0] * 4}), "'standardize.scale' is missing"),
    (lambda m: m.update(standardize=True), "'standardize' must be"),
    (lambda m: m.update(target_standardize={"mean": [0.0], "scale": [1.0]}),
     "'target_standardize.mean' has 1 means but the network has 3 outputs"),
    (lambda m: m.update(task="clustering"), "'task' must be one of 'classification', 'regression'"),
    (lambda m: m.update(loss="hinge"), "'loss' must be one of"),
    (lambda m: m.update(loss="binary_cross_entropy"), "'loss' must be one of 'mse', 'cross_entropy'"),
    (lambda m: m["history"].update(loss=[0.5, "low"]), r"'history.loss\[1\]' must be a number"),
    (lambda m: m["history"].update(epochs=-1), "'history.epochs' must be an int >= 0"),
    (lambda m: m["history"].update(time=10**400), "'history.time' is an int too large"),
    (lambda m: m.update(dataset={"name": 3}), "'dataset.name' must be a string"),
    (lambda m: m.update(dataset={"name": "x", "options": {"evil": 1}}),
     "'dataset.options' has an unknown member"),
    (lambda m: m.update(dataset={"name": "x", "options": {"n_samples": -5}}),
     "'dataset.options.n_samples'"),
    (lambda m: m.update(training={"lr": {"a": 1}}), "'training.lr' must be"),
    (lambda m: m.update(training={"lr": "abc"}), "'training.lr' must be"),  # explain uses it as eta
    (lambda m: m.update(training={"lr": 0.0}), r"'training.lr' must be null or a finite number > 0"),
    (lambda m: m.update(training={"epochs": -3}), "'training.epochs' must be null or an int >= 0"),
    (lambda m: m.update(target=["y1", "y2"]), "'target' has 2 names but the network has 3 outputs"),
])
def test_crafted_network_metadata_is_refused_naming_the_field(tmp_path, files, change, message):
    path = tmp_path / "m.safetensors"
    path.write_bytes(_with_doc(files["net"], _meta(change)))
    with pytest.raises(ModelFileError, match=message):
        backprop.load(path)
    # and save refuses to write the same metadata (so it never writes what load refuses)
    net = backprop.Network([4, 5, 3], hidden="tanh", output="softmax", seed=0)
    meta = json.loads(json.dumps(backprop.load(_write(tmp_path, files["net"])).metadata))  # a deep copy
    del meta["format_version"], meta["library_version"]
    change(meta)
    with pytest.raises(InvalidInputError, match=message):
        net.save(tmp_path / "out.safetensors", **meta)
    assert not (tmp_path / "out.safetensors").exists()


def test_the_dataset_options_schema_names_exactly_the_keywords_of_datasets_load():
    """The CLI passes a model's recorded data set options to datasets.load: the schema must know
    each of its keywords (and no other, which load would refuse with a TypeError)."""
    import inspect

    from backprop.io.schema import DATASET_OPTIONS

    keywords = {name for name, p in inspect.signature(backprop.datasets.load).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(DATASET_OPTIONS.fields) == keywords


def _write(tmp_path, data, name="w.safetensors"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_valid_metadata_loads_and_unknown_keys_are_the_callers(tmp_path, files):
    path = _write(tmp_path, _with_doc(files["net"], _meta(lambda m: m.update(note={"free": [1, "x"]}))))
    net = backprop.load(path)
    assert net.metadata["note"] == {"free": [1, "x"]}
    assert net.metadata["feature_names"] == ["p", "q", "r", "s"]
    X = files["X"]
    assert net.predict(X).shape == (len(X), 3)


# -- save refuses what load would refuse ------------------------------------------------------------------
@pytest.mark.parametrize("which, k", [("weights", 1), ("biases", 0)])
def test_network_save_refuses_non_finite_weights(tmp_path, which, k):
    net = backprop.Network([3, 4, 2], seed=0)
    getattr(net, which)[k][0] = np.inf if which == "biases" else np.nan
    path = tmp_path / "n.safetensors"
    with pytest.raises(InvalidInputError, match=rf"{which}\[{k}\] contains NaN or infinity; "):
        net.save(path)
    with pytest.raises(InvalidInputError, match=rf"{which}\[{k}\] contains NaN or infinity"):
        backprop.save(net, path)
    assert not path.exists()


def test_estimator_save_refuses_non_finite_weights(tmp_path, files):
    import copy

    est = copy.deepcopy(files["estimator"])
    est.coefs_[1][0, 0] = np.nan
    path = tmp_path / "e.safetensors"
    with pytest.raises(InvalidInputError, match=r"coefs_\[1\] contains NaN or infinity"):
        est.save(path)
    assert not path.exists()


def test_save_refuses_metadata_too_deep_to_read_back(tmp_path):
    deep = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InvalidInputError, match="nests"):
        backprop.Network([2, 1], seed=0).save(tmp_path / "d.safetensors", note=deep)


# -- estimator files ---------------------------------------------------------------------------------------
def _est_meta(change):
    def apply(doc):
        change(doc["meta"])
    return apply


@pytest.mark.parametrize("change, message", [
    (lambda m: m["params"].update(hidden_layer_sizes=[10**6]), "'params.hidden_layer_sizes' is"),
    (lambda m: m.update(net_spec=[[4, 10**6, 3], ["relu"], "float64"]), "hidden_layer_sizes"),
    (lambda m: (m.update(net_spec=[[4, 10**6, 3], ["relu"], "float64"]),
                m["params"].update(hidden_layer_sizes=[10**6])), "'coefs.0' has shape"),
    (lambda m: m["fitted"].update(predict="boom"), "'fitted' has an unknown member 'predict'"),
    (lambda m: m["fitted"].update(__class__="x"), "'fitted' has an unknown member"),
    (lambda m: m["fitted"].update(n_iter_="3"), "'fitted.n_iter_' must be an int"),
    (lambda m: m["fitted"].update(loss_curve_=[1, [2]]), r"'fitted.loss_curve_\[1\]'"),
    (lambda m: m["fitted"].update(n_features_in_=7), "'fitted.n_features_in_' is 7"),
    (lambda m: m["fitted"].update(out_activation_="identity"), "not an output of a MLPClassifier"),
    (lambda m: m["classes"].update(dtype="V1000000000"), "'classes.dtype'"),
    (lambda m: m["classes"].update(dtype="<U1000000"), "'classes.dtype' '<U1000000' is not a dtype"),
    (lambda m: m["classes"].update(dtype="<U1", values=["a", "b", 3]), "'classes.values' mixes numbers and"),
    (lambda m: m["classes"].update(dtype="<U1", values=[1, 2, 3]), r"'classes.values\[0\]' must be a string"),
    (lambda m: m["classes"].update(dtype="|i1", values=[0, 1, 300]), r"'classes.values\[2\]' must be an int"),
    (lambda m: m["classes"].update(dtype="|O"), r"'classes.dtype' '\|O' is not a dtype"),
    (lambda m: m["classes"].update(dtype="O", values=[0, "a", 2.5]), "'classes.values' mixes"),
    (lambda m: m["classes"].update(dtype="<f8", values=[1, 1.0, 2]), "'classes.values' repeats"),
    (lambda m: m["classes"].update(dtype="|b1", values=[True, 1, 2]), "'classes.values' repeats"),
    (lambda m: m["classes"].update(values=[0, 1]), "'classes.values' has 2 multiclass classes"),
    (lambda m: m["classes"].update(y_type="continuous"), "'classes.y_type'"),
    (lambda m: m["params"].update(evil=1), "'params.evil' is not a parameter"),
    (lambda m: m["params"].update(callbacks=["os.system"]), "'params.callbacks' must be null"),
    (lambda m: m["params"].update(random_state=2**40), "'params' are invalid"),
    (lambda m: m["params"].update(alpha={"float": "1e999999"}), r"'params.alpha' must be"),
    (lambda m: m["params"].update(class_weight={"float": "nan"}), "'params' are invalid"),
    (lambda m: m["params"].update(class_weight={"labels": [0, 1], "weights": [1.0]}), "2 labels but 1"),
    (lambda m: m["optimizer"]["hyper"].update(momentum=0.5), "'optimizer.hyper' has an unknown member"),
    (lambda m: m["optimizer"].update(t=-1), "'optimizer.t'"),
    (lambda m: m.update(format_version="1"), "'format_version' must be an int"),
    (lambda m: m.update(format_version=99), "newer backprop"),
    (lambda m: m.pop("fitted"), "'fitted' is missing"),
    (lambda m: m.update(feature_names_in=["a"]), "'feature_names_in' has 1 names but the network has 4"),
])
def test_crafted_estimator_documents_are_refused_before_building(tmp_path, files, change, message):
    path = _write(tmp_path, _with_doc(files["est"], _est_meta(change)))
    result, peak = _peak_load(path)
    assert isinstance(result, ModelFileError), result
    assert re.search(message, str(result)), str(result)
    assert peak < 10 * path.stat().st_size + (2 << 20)  # nothing of the declared size was built


def test_estimator_arrays_are_checked(tmp_path, files):
    header, body = _split(files["est"])
    header["opt.m.w.7"] = header.pop("opt.m.w.1")  # a moment of a layer the network lacks
    doc = json.loads(header["__metadata__"]["backprop"])
    doc["tensors"]["opt.m.w.7"] = doc["tensors"].pop("opt.m.w.1")
    header["__metadata__"]["backprop"] = json.dumps(doc)
    with pytest.raises(ModelFileError, match="'opt.m.w.7' that no part"):
        backprop.load(_write(tmp_path, _join(header, body)))


def test_a_valid_estimator_file_still_round_trips(tmp_path, files):
    est = backprop.load(_write(tmp_path, files["est"]))
    X = files["X"]
    assert np.array_equal(est.predict(X), files["estimator"].predict(X))
    assert np.array_equal(est.predict_proba(X), files["estimator"].predict_proba(X))


# -- checkpoints ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda d: d["meta"]["state"].update(epoch_loss=10**400), "epoch_loss"),
    (lambda d: d["meta"]["state"]["optimizer"].update(name="rmsprop"), "'state.optimizer.name' must be"),
    (lambda d: d["meta"]["state"]["optimizer"].update(lr0=10**400), "lr0"),
    (lambda d: d["meta"]["state"]["history"].update(loss=[0.1, None]), r"'state.history.loss\[1\]'"),
    (lambda d: d["meta"]["state"]["history"].update(metric=5), "'state.history.metric'"),
    (lambda d: d["meta"]["trainer"].update(lr={"x": 1}), "'trainer.lr'"),
    (lambda d: d["meta"]["state"].update(best={"score": "high", "epoch": 1}), "'state.best.score'"),
    (lambda d: d["meta"]["state"].update(rng={"bit_generator": "PCG64", "state": [1]}), "random generator"),
])
def test_crafted_checkpoints_give_model_file_errors(tmp_path, files, change, message):
    path = _write(tmp_path, _with_doc(files["ckpt"], change), "c.ckpt")
    with pytest.raises(ModelFileError, match=message):
        load_checkpoint(path)


def test_save_checkpoint_refuses_a_diverged_trainer(tmp_path):
    t = Trainer(backprop.Network([2, 2], seed=0), epochs=1)
    t.run(np.zeros((4, 2)), np.zeros((4, 2)))
    t.net.weights[0][0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="'weights.0' contains NaN or infinity"):
        save_checkpoint(tmp_path / "c.ckpt", t)
    assert not (tmp_path / "c.ckpt").exists()
