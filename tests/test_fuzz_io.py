"""Model and checkpoint files are untrusted input: fuzz the loaders.

``backprop.load`` and ``load_checkpoint`` get random bytes, mutated valid files (networks, estimators,
checkpoints), absurd header lengths, huge declared shapes, hostile JSON, any value of a document replaced
by another type, a huge number or a deep nesting, renamed and reshaped tensors, and pickle payloads.
Only a ModelFileError may come out (or, for a mutation that left the file valid, a working network or
estimator), no code runs, and memory stays in proportion to the file (tracemalloc). CSV files get the
same treatment: the reader works or raises its own error.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator

import backprop
from backprop.errors import BackpropError, InvalidInputError, ModelFileError
from backprop.train.checkpoint import load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """Bytes of a valid model file and of a valid checkpoint."""
    d = tmp_path_factory.mktemp("valid")
    net = backprop.Network([3, 4, 2], hidden="tanh", output="softmax", seed=0)
    backprop.save(net, d / "model.safetensors", loss="cross_entropy", classes=["a", "b"])
    t = Trainer(net, loss="cross_entropy", optimizer="adam", epochs=1, batch_size=4)
    t.run(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2)
    save_checkpoint(d / "run.ckpt", t, extra={"data": "x.csv"})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 iterations do not converge: on purpose
        est = backprop.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        est.fit(np.random.default_rng(1).normal(size=(12, 3)), np.arange(12) % 3)
    est.save(d / "est.safetensors")
    return {"model": (d / "model.safetensors").read_bytes(), "checkpoint": (d / "run.ckpt").read_bytes(),
            "estimator": (d / "est.safetensors").read_bytes()}


def _load_untrusted(data, path, loader):
    """Write ``data`` and load it: returns the result or None for a ModelFileError; any other exception
    fails. Also checks the memory the loader took: at most a few times the file, plus 2 MB."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        result = loader(path)
    except ModelFileError as exc:
        assert str(exc)
        result = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak <= 4 * len(data) + 2_000_000, f"loading {len(data)} bytes took {peak} bytes"
    return result


def _resume(state):
    """A checkpoint that loaded resumes the run it came from; one whose (valid) settings name another
    network, loss or optimizer is refused by the trainer, naming the difference."""
    trainer = Trainer(backprop.Network([3, 4, 2], hidden="tanh", output="softmax"), loss="cross_entropy",
                      optimizer="adam")
    try:
        trainer.load_state_dict(state)
    except InvalidInputError as exc:
        assert re.search("it was (made for the network|trained with (loss|optimizer))", str(exc)), exc


def _load_as(which, blob, path):
    """Load a crafted file as a checkpoint or a model: refused cleanly, or a valid network."""
    loader = load_checkpoint if which == "checkpoint" else backprop.load
    result = _load_untrusted(blob, path, loader)
    if result is not None and which != "checkpoint":
        _check_loaded_network(result)


def _check_loaded_network(net):
    if isinstance(net, BaseEstimator):  # a mutated estimator file that is still valid: it predicts
        X = np.ones((2, net.n_features_in_))
        try:
            assert net.predict(X).shape[0] == 2
        except InvalidInputError as exc:  # finite but huge weights: the output overflows, said clearly
            assert "not finite" in str(exc), exc
        return
    assert isinstance(net, backprop.Network)
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
    assert [w.shape for w in net.weights] == list(zip(net.sizes[:-1], net.sizes[1:]))


# -- random bytes ------------------------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=2048))
@example(data=b"")
@example(data=b"\x00" * 8)
@example(data=struct.pack("<Q", 2**64 - 1) + b"{}")
@example(data=struct.pack("<Q", 2) + b"{}")
@example(data=struct.pack("<Q", 2) + b"[]")
@example(data=b"\x80\x04K\x01.")
def test_random_bytes_are_refused(tmp_path, data):
    assert _load_untrusted(data, tmp_path / "x.safetensors", backprop.load) is None
    assert _load_untrusted(data, tmp_path / "x.ckpt", load_checkpoint) is None


# -- mutations of valid files ------------------------------------------------------------------------------
_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("length"), st.integers(0, 2**64 - 1), st.just(0)),
)


def _mutate(data, mutations):
    b = bytearray(data)
    for kind, where, value in mutations:
        i = where % max(len(b), 1)
        if kind == "flip" and b:
            b[i] ^= value
        elif kind == "truncate":
            del b[i:]
        elif kind == "insert":
            b[i:i] = bytes([value])
        elif kind == "delete":
            del b[i:i + value]
        elif kind == "length" and len(b) >= 8:
            b[:8] = struct.pack("<Q", where)
    return bytes(b)


@FUZZ
@given(which=st.sampled_from(["model", "checkpoint", "estimator"]),
       mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_mutated_files_load_or_are_refused(valid, tmp_path, which, mutations):
    data = _mutate(valid[which], mutations)
    net = _load_untrusted(data, tmp_path / "m.safetensors", backprop.load)
    if net is not None:
        _check_loaded_network(net)
    result = _load_untrusted(data, tmp_path / "m.ckpt", load_checkpoint)
    if result is not None:
        state, extra = result
        assert isinstance(extra, dict)
        _resume(state)


# -- hostile headers ---------------------------------------------------------------------------------------
def _file(header, data=b""):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _doc_of(valid_bytes):
    n = struct.unpack("<Q", valid_bytes[:8])[0]
    return json.loads(valid_bytes[8:8 + n]), valid_bytes[8 + n:]


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)
_DIM = st.one_of(st.integers(-2, 2**66), st.sampled_from([2**31, 2**32, 2**63 - 1, 2**64]), st.floats(),
                 st.text(max_size=2))


@FUZZ
@given(which=st.sampled_from(["model", "checkpoint"]), tensor=st.sampled_from(["weights.0", "biases.1"]),
       dtype=st.one_of(st.sampled_from(["F32", "F64", "F16", "I64", "BOOL", "BF16", "F8_E4M3", "U8"]), _JSON),
       shape=st.one_of(st.lists(_DIM, max_size=5), _JSON),
       offsets=st.one_of(st.lists(st.one_of(st.integers(-5, 2**64), _JSON), max_size=3), _JSON))
def test_hostile_tensor_entries_are_refused_without_allocating(valid, tmp_path, which, tensor, dtype, shape,
                                                                offsets):
    header, data = _doc_of(valid[which])
    header[tensor] = {"dtype": dtype, "shape": shape, "data_offsets": offsets}
    blob = _file(header, data)
    net = _load_untrusted(blob, tmp_path / "h.safetensors", backprop.load)
    if net is not None:  # only if the entry happens to describe the same tensor
        _check_loaded_network(net)
    _load_untrusted(blob, tmp_path / "h.ckpt", load_checkpoint)


_DOC_PATHS = [
    (), ("format_version",), ("kind",), ("tensors",), ("tensors", "weights.0"),
    ("tensors", "weights.0", "shape"),
    ("tensors", "biases.1", "dtype"), ("meta",), ("meta", "network"), ("meta", "network", "sizes"),
    ("meta", "network", "hidden"), ("meta", "network", "output"), ("meta", "network", "dtype"),
    ("meta", "network", "seed"), ("meta", "metadata"), ("meta", "metadata", "classes"),
    # checkpoint fields
    ("meta", "format"), ("meta", "checkpoint_version"), ("meta", "trainer"), ("meta", "extra"),
    ("meta", "state"),
    ("meta", "state", "rng"), ("meta", "state", "rng", "state"), ("meta", "state", "optimizer"),
    ("meta", "state", "optimizer", "t"), ("meta", "state", "optimizer", "name"), ("meta", "state", "history"),
    ("meta", "state", "history", "loss"), ("meta", "state", "epoch"), ("meta", "state", "pos"),
    ("meta", "state", "best"), ("meta", "state", "epoch_grad"), ("meta", "state", "epoch_loss"),
]


@FUZZ
@given(which=st.sampled_from(["model", "checkpoint"]), where=st.sampled_from(_DOC_PATHS), value=_JSON)
def test_hostile_metadata_is_refused(valid, tmp_path, which, where, value):
    """Replace one part of backprop's JSON document (format version, kind, architecture, state...)."""
    header, data = _doc_of(valid[which])
    doc = json.loads(header["__metadata__"]["backprop"])
    if not where:
        doc = value
    else:
        node = doc
        for k in where[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[where[-1]] = value
    header["__metadata__"]["backprop"] = json.dumps(doc)
    blob = _file(header, data)
    net = _load_untrusted(blob, tmp_path / "d.safetensors", backprop.load)
    if net is not None:
        _check_loaded_network(net)
    result = _load_untrusted(blob, tmp_path / "d.ckpt", load_checkpoint)
    if result is not None:
        _resume(result[0])


@pytest.mark.parametrize("declared", [2**64 - 1, 2**63, 10**12, 10**8 + 1, 5_000])
def test_absurd_header_lengths_are_refused_without_reading_them(tmp_path, declared):
    blob = struct.pack("<Q", declared) + b'{"__metadata__": {}}'
    assert _load_untrusted(blob, tmp_path / "a.safetensors", backprop.load) is None
    assert _load_untrusted(blob, tmp_path / "a.ckpt", load_checkpoint) is None


@pytest.mark.parametrize("shape", [[2**20, 2**20], [2**62, 4], [2**40, 2**40, 2**40], [0, 2**63], [2**64, 0]])
def test_huge_declared_shapes_are_refused_without_allocating(valid, tmp_path, shape):
    header, data = _doc_of(valid["model"])
    for name in ("weights.0",):
        header[name]["shape"] = shape
    doc = json.loads(header["__metadata__"]["backprop"])
    doc["tensors"]["weights.0"]["shape"] = shape  # the metadata agrees, only the bytes are missing
    if shape[0] > 0:
        doc["meta"]["network"]["sizes"][:2] = shape[:2]
    header["__metadata__"]["backprop"] = json.dumps(doc)
    blob = _file(header, data)
    assert _load_untrusted(blob, tmp_path / "s.safetensors", backprop.load) is None


def test_a_declared_network_larger_than_its_tensors_is_refused(valid, tmp_path):
    """Architecture in the metadata says 10^6 x 10^6, tensors are tiny: refused before building it."""
    header, data = _doc_of(valid["model"])
    doc = json.loads(header["__metadata__"]["backprop"])
    doc["meta"]["network"]["sizes"] = [10**6, 10**6, 2]
    header["__metadata__"]["backprop"] = json.dumps(doc)
    assert _load_untrusted(_file(header, data), tmp_path / "big.safetensors", backprop.load) is None


def test_deeply_nested_json_is_refused(tmp_path):
    deep = b"[" * 200_000 + b"]" * 200_000
    blob = struct.pack("<Q", len(deep)) + deep
    assert _load_untrusted(blob, tmp_path / "n.safetensors", backprop.load) is None
    header = {"__metadata__": {"backprop": "[" * 100_000 + "]" * 100_000}}
    assert _load_untrusted(_file(header), tmp_path / "n2.safetensors", backprop.load) is None


class _Evil:
    """Unpickling this would create a file: a loader that unpickles runs attacker code."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_payloads_are_refused_and_never_run(tmp_path, protocol):
    target = tmp_path / "pwned"
    payload = pickle.dumps({"weights.0": _Evil(str(target))}, protocol=protocol)
    for name, loader in (("m.safetensors", backprop.load), ("c.ckpt", load_checkpoint)):
        assert _load_untrusted(payload, tmp_path / name, loader) is None
    # a PyTorch-style zip holding a pickle, and a pickle behind a safetensors-like length
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload)
    assert _load_untrusted(buf.getvalue(), tmp_path / "z.safetensors", backprop.load) is None
    assert _load_untrusted(struct.pack("<Q", len(payload)) + payload, tmp_path / "p.safetensors",
                           backprop.load) is None
    assert not target.exists()


def test_special_paths_are_refused(tmp_path):
    for path in (tmp_path, tmp_path / "missing.safetensors", "/dev/null"):
        with pytest.raises(ModelFileError):
            backprop.load(path)
        with pytest.raises(ModelFileError):
            load_checkpoint(path)


def test_tensor_values_nan_in_a_model_file_is_refused(valid, tmp_path):
    header, data = _doc_of(valid["model"])
    begin, end = header["weights.0"]["data_offsets"]
    data = bytearray(data)
    data[begin:begin + 4] = struct.pack("<f", float("nan"))
    with pytest.raises(ModelFileError, match="NaN"):
        _file_load(tmp_path, _file(header, bytes(data)))


def _file_load(tmp_path, blob):
    p = tmp_path / "f.safetensors"
    p.write_bytes(blob)
    return backprop.load(p)


# -- CSV files -----------------------------------------------------------------------------------------------
_CELL = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats().map(repr), st.sampled_from(
    ["", " ", "nan", "inf", "-inf", "1e400", "NaN", "\"1,5\"", "\"", "a", "é", "1;2", "\t", "0x1F", "1_000",
     "True"]),
    st.text(max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=4), min_size=0, max_size=6),
       header=st.lists(st.sampled_from(["a", "b", "y", "", "a", "target", "é"]), min_size=0, max_size=4),
       target=st.sampled_from([None, "y", "a", "missing"]), raw=st.one_of(st.none(), st.binary(max_size=64)),
       suffix=st.sampled_from([".csv", ".tsv"]))
def test_malformed_csv_files_load_or_give_their_own_error(tmp_path, rows, header, target, raw, suffix):
    from backprop import datasets

    path = tmp_path / f"data{suffix}"
    sep = "," if suffix == ".csv" else "\t"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join(sep.join(r) for r in [header] + rows) + "\n", encoding="utf-8")
    try:
        ds = datasets.load_file(str(path), target=target)  # a NumPy warning would fail the test too
    except BackpropError as exc:
        assert str(exc)
        return
    assert np.isfinite(np.asarray(ds.X, dtype=np.float64)).all()
    assert len(ds.X) == len(ds.y) and len(ds.X) >= 1


# -- every value of the documents replaced: other types, huge numbers, deep nesting, renamed tensors ---------
def _paths(node, prefix=()):
    """Every path to a value inside a JSON document (dict keys and list indices)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:8]):
            yield from _paths(v, prefix + (i,))


def _deep(depth):
    v = []
    for _ in range(depth):
        v = [v]
    return v


_REPLACEMENT = st.one_of(
    _JSON,
    st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1, -1, 0, 10**12, 1e308, -0.0, "", "x" * 1000, [],
                     {}, None, True, [0] * 5000, _deep(40), _deep(31), {"float": "nan"}, {"float": [1]}]),
)
FUZZ_DOC = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ_DOC
@given(which=st.sampled_from(["model", "checkpoint", "estimator"]), pick=st.integers(0, 10**6),
       value=_REPLACEMENT, in_header=st.booleans())
def test_any_value_of_any_document_replaced_loads_or_is_refused(valid, tmp_path, which, pick, value,
                                                                 in_header):
    """One value anywhere -- in the safetensors header or in backprop's JSON document -- replaced by
    another type, a huge number or a deep nesting: a working object or a ModelFileError."""
    header, data = _doc_of(valid[which])
    doc = json.loads(header["__metadata__"]["backprop"])
    root = header if in_header else doc
    paths = [p for p in _paths(root) if p and p != ("__metadata__",)]
    path = paths[pick % len(paths)]
    node = root
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    if not in_header:
        header["__metadata__"]["backprop"] = json.dumps(doc)
    _load_as(which, _file(header, data), tmp_path / "v.safetensors")


@FUZZ_DOC
@given(which=st.sampled_from(["model", "checkpoint", "estimator"]), pick=st.integers(0, 10**6),
       op=st.sampled_from(["rename", "swap", "flatten", "transpose", "extra-dim", "drop"]),
       name=st.one_of(st.text(max_size=12), st.sampled_from(["weights.9", "biases.0", "coefs.1", "opt.m.w.0",
                                                             "opt.m.w.x", "perm", "best.0", "__metadata__"])))
def test_renamed_or_reshaped_tensors_load_or_are_refused(valid, tmp_path, which, pick, op, name):
    """Tensors renamed (to another tensor's name, to nonsense) or reshaped (same bytes, other shape),
    in the header alone or in the header and the document's table together."""
    header, data = _doc_of(valid[which])
    doc = json.loads(header["__metadata__"]["backprop"])
    names = sorted(k for k in header if k != "__metadata__")
    target = names[pick % len(names)]
    entry = header[target]
    if op == "rename" and name not in header:
        header[name] = header.pop(target)
        if pick % 2:
            doc["tensors"][name] = doc["tensors"].pop(target)
    elif op == "swap":
        other = names[(pick // 7) % len(names)]
        header[target], header[other] = header[other], header[target]
    elif op in ("flatten", "transpose", "extra-dim"):
        shape = entry["shape"]
        entry["shape"] = ([int(np.prod(shape))] if op == "flatten" else shape[::-1] if op == "transpose"
                          else [1] + shape)
        if pick % 2:
            doc["tensors"][target]["shape"] = entry["shape"]
    elif op == "drop":
        del header[target]
    header["__metadata__"]["backprop"] = json.dumps(doc)
    _load_as(which, _file(header, data), tmp_path / "t.safetensors")
