"""Model files: safetensors + JSON metadata, checked on load, written atomically, never pickled.

Malformed files are built here byte by byte (``_safetensors_bytes``: 8-byte little-endian header
length, JSON header, raw data), independently of backprop.io's writer; files backprop writes are
read back with the safetensors library's own reader as the oracle of the format.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backprop
from backprop.errors import InvalidInputError, InvalidTypeError, ModelFileError
from backprop.io.container import FORMAT_VERSION, load_arrays, save_arrays

ST_CODE = {"float32": "F32", "float64": "F64", "int64": "I64", "float16": "F16", "uint8": "U8",
           "bool": "BOOL", "int32": "I32"}


def _safetensors_bytes(tensors, metadata=None, *, header_extra=None):
    """A safetensors file from {name: ndarray}; ``header_extra`` overrides header entries."""
    header, chunks, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST_CODE[arr.dtype.name], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    header.update(header_extra or {})
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _model_doc(net, tensors=None, **changes):
    """The metadata document backprop.io describes for ``net`` (built here, not by the library)."""
    if tensors is None:
        tensors = {}
        for k in range(net.n_layers):
            tensors[f"weights.{k}"] = {"dtype": net.dtype.name, "shape": list(net.weights[k].shape)}
            tensors[f"biases.{k}"] = {"dtype": net.dtype.name, "shape": list(net.biases[k].shape)}
    doc = {"format_version": 1, "library_version": "0.1.0", "kind": "network", "tensors": tensors,
           "meta": {"network": {"sizes": net.sizes, "hidden": net.hidden, "output": net.output,
                                "dtype": net.dtype.name, "seed": 3},
                    "metadata": {"loss": "cross_entropy"}}}
    doc.update(changes)
    return doc


def _arrays(net):
    out = {}
    for k in range(net.n_layers):
        out[f"weights.{k}"], out[f"biases.{k}"] = net.weights[k], net.biases[k]
    return out


@pytest.fixture
def net():
    n = backprop.Network([3, 5, 4, 2], hidden=["tanh", "relu"], output="softmax", seed=3)
    rng = np.random.default_rng(0)
    for b in n.biases:
        b[...] = rng.normal(size=b.shape)
    return n


# -- round trips ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_bit_identical_predictions(tmp_path, dtype):
    net = backprop.Network([4, 7, 3], hidden="gelu", output="softmax", seed=11, dtype=dtype)
    X = np.random.default_rng(1).normal(size=(50, 4))
    net.fit(X, np.arange(50) % 3, loss="cross_entropy", epochs=3, lr=0.1)
    path = tmp_path / "m.safetensors"
    backprop.save(net, path, classes=["a", "b", "c"], task="classification", loss="cross_entropy",
                  standardize={"mean": [0.1] * 4, "scale": [2.0] * 4}, history={"epochs": 3})
    loaded = backprop.load(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.sizes == net.sizes
    assert loaded.hidden == net.hidden and loaded.output == net.output
    assert np.array_equal(loaded.predict(X), net.predict(X))  # bit for bit
    for a, b in zip(loaded.weights + loaded.biases, net.weights + net.biases):
        assert a.dtype == b.dtype and np.array_equal(a, b) and a.flags.writeable
    assert loaded.metadata["classes"] == ["a", "b", "c"]
    assert loaded.metadata["standardize"]["scale"] == [2.0] * 4
    assert loaded.metadata["format_version"] == FORMAT_VERSION
    assert loaded.metadata["library_version"] == backprop.__version__


def test_net_save_method_and_loaded_network_trains_on(tmp_path, net):
    path = tmp_path / "m.safetensors"
    net.save(path, note="first")
    loaded = backprop.load(path)
    assert loaded.metadata["note"] == "first"
    loaded.save(path, extra=1)  # a loaded network keeps its metadata when saved again
    again = backprop.load(path)
    assert again.metadata["note"] == "first" and again.metadata["extra"] == 1
    X = np.random.default_rng(2).normal(size=(8, 3))
    again.fit(X, np.arange(8) % 2, loss="cross_entropy", epochs=2)  # usable for training
    assert np.isfinite(again.predict(X)).all()


def test_files_are_real_safetensors(tmp_path, net):
    """The safetensors library reads our file: same tensors, our JSON under the key 'backprop'."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = tmp_path / "m.safetensors"
    backprop.save(net, path, classes=[0, 1])
    tensors = load_file(str(path))
    assert set(tensors) == {"weights.0", "biases.0", "weights.1", "biases.1", "weights.2", "biases.2"}
    for k in range(net.n_layers):
        assert np.array_equal(tensors[f"weights.{k}"], net.weights[k])
        assert np.array_equal(tensors[f"biases.{k}"], net.biases[k])
    with safe_open(str(path), framework="numpy") as f:
        doc = json.loads(f.metadata()["backprop"])
    assert doc["format_version"] == FORMAT_VERSION and doc["kind"] == "network"
    assert doc["meta"]["network"]["sizes"] == [3, 5, 4, 2]
    assert doc["meta"]["metadata"]["classes"] == [0, 1]
    assert doc["tensors"]["weights.1"] == {"dtype": "float32", "shape": [5, 4]}


def test_a_file_built_by_hand_loads(tmp_path, net):
    """An independent writer (this test's) produces a file backprop.load accepts."""
    path = tmp_path / "hand.safetensors"
    path.write_bytes(_safetensors_bytes(_arrays(net), {"backprop": json.dumps(_model_doc(net))}))
    loaded = backprop.load(path)
    X = np.random.default_rng(3).normal(size=(5, 3))
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert loaded.metadata["loss"] == "cross_entropy"


def test_save_arrays_round_trip(tmp_path):
    arrays = {"f16": np.arange(6, dtype=np.float16).reshape(2, 3), "i64": np.arange(-3, 3),
              "b": np.array([True, False, True]), "scalar": np.array(2.5), "empty": np.zeros((0, 4)),
              "u8": np.arange(250, 256, dtype=np.uint8), "big_endian": np.arange(3, dtype=">f4"),
              "strided": np.arange(20.0).reshape(4, 5)[:, ::2]}
    meta = {"rng": {"state": 2**100 + 7}, "list": [1.5, None, "x"]}
    path = tmp_path / "a.safetensors"
    save_arrays(path, arrays, meta, kind="checkpoint")
    got, got_meta = load_arrays(path, kind="checkpoint")
    assert got_meta == meta
    assert set(got) == set(arrays)
    for name, a in arrays.items():
        assert got[name].shape == a.shape and np.array_equal(got[name], a)
        assert got[name].dtype == a.dtype.newbyteorder("=")
    with pytest.raises(ModelFileError, match="holds a 'checkpoint', not a 'estimator'"):
        load_arrays(path, kind="estimator")
    with pytest.raises(ModelFileError, match="not a network"):
        backprop.load(path)


def test_save_refuses_what_it_cannot_store(tmp_path, net):
    path = tmp_path / "x.safetensors"
    with pytest.raises(InvalidInputError, match="complex128"):
        save_arrays(path, {"c": np.zeros(2, complex)})
    with pytest.raises(InvalidInputError, match="names must be non-empty strings"):
        save_arrays(path, {"": np.zeros(2)})
    with pytest.raises(InvalidInputError, match="JSON-serializable"):
        backprop.save(net, path, bad=object())
    with pytest.raises(InvalidTypeError, match="needs a backprop Network"):
        backprop.save({"weights": []}, path)
    assert not path.exists()


def test_writes_are_atomic(tmp_path, net, monkeypatch):
    """A save that fails half-way leaves the previous file as it was, and no temporary file behind."""
    import backprop.io.atomic

    path = tmp_path / "m.safetensors"
    backprop.save(net, path)
    before = path.read_bytes()
    other = backprop.Network([3, 2], output="sigmoid", seed=9)

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(backprop.io.atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        backprop.save(other, path)  # the new bytes were written to the temporary file, then it failed
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]
    monkeypatch.undo()
    assert backprop.load(path).sizes == [3, 5, 4, 2]


# -- refusing bad files ------------------------------------------------------------------------------------
def _write(tmp_path, data, name="bad.safetensors"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_wrong_shape_is_refused(tmp_path, net):
    arrays = _arrays(net)
    arrays["weights.1"] = np.zeros((4, 5), np.float32)  # transposed
    doc = _model_doc(net)
    doc["tensors"]["weights.1"]["shape"] = [4, 5]  # consistent with the bytes, not with the network
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match=r"tensor 'weights.1' has shape \[4, 5\], the \[3, 5, 4, 2\] "
                                             r"network needs \[5, 4\]"):
        backprop.load(p)
    # and a tensor that disagrees with the metadata's own table
    doc = _model_doc(net)
    doc["tensors"]["biases.0"]["shape"] = [6]
    p = _write(tmp_path, _safetensors_bytes(_arrays(net), {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match=r"'biases.0' has shape \[5\] but the metadata says \[6\]"):
        backprop.load(p)


def test_wrong_dtype_is_refused(tmp_path, net):
    arrays = _arrays(net)
    arrays["weights.0"] = arrays["weights.0"].astype(np.float64)
    doc = _model_doc(net)
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match="'weights.0' has dtype float64 but the metadata says 'float32'"):
        backprop.load(p)
    doc["tensors"]["weights.0"]["dtype"] = "float64"  # now consistent, but the network is float32
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match="has dtype float64, the network is float32"):
        backprop.load(p)


def test_missing_and_extra_tensors_are_refused(tmp_path, net):
    arrays = _arrays(net)
    del arrays["biases.2"]
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(_model_doc(net))}))
    with pytest.raises(ModelFileError, match="missing tensor 'biases.2'"):
        backprop.load(p)
    doc = _model_doc(net)
    del doc["tensors"]["biases.2"]
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match=r"missing tensor 'biases.2' of the \[3, 5, 4, 2\] network"):
        backprop.load(p)
    arrays = _arrays(net)
    arrays["sneaky"] = np.zeros(3, np.float32)
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(_model_doc(net))}))
    with pytest.raises(ModelFileError, match="tensors its metadata does not list: sneaky"):
        backprop.load(p)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format_version=FORMAT_VERSION + 1), r"newer backprop \(format version 2.*upgrade"),
    (lambda d: d.update(format_version="1"), "format_version is '1'"),
    (lambda d: d.pop("tensors"), "the 'tensors' table is missing"),
    (lambda d: d["meta"].pop("network"), "metadata 'network' is missing"),
    (lambda d: d["meta"]["network"].pop("output"), "metadata 'network.output' is missing"),
    (lambda d: d["meta"]["network"].update(hidden=["tanh", "swish"]),
     r"'network.hidden\[1\]' must be one of .*got 'swish'"),
    (lambda d: d["meta"]["network"].update(sizes=[3, 5, 4], hidden=["tanh"]),
     "tensors a \\[3, 5, 4\\] network does not use"),
    (lambda d: d["meta"]["network"].update(sizes=[3, 5, 4]),
     r"'network.hidden' names 2 activations but the sizes"),
    (lambda d: d["meta"]["network"].update(sizes=[3, 5, 4, 0]),
     r"'network.sizes\[3\]' must be an int from 1"),
    (lambda d: d["meta"]["network"].update(dtype="float16"),
     "'network.dtype' must be one of 'float32', 'float64'"),
    (lambda d: d.update(kind="checkpoint"), "holds a 'checkpoint', not a network"),
    # an estimator file loads as an estimator: a network's tensors under that tag are refused too
    (lambda d: d.update(kind="estimator"), "not a backprop estimator file"),
])
def test_bad_metadata_is_refused(tmp_path, net, change, message):
    doc = _model_doc(net)
    change(doc)
    p = _write(tmp_path, _safetensors_bytes(_arrays(net), {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match=message):
        backprop.load(p)


@pytest.mark.parametrize("metadata, message", [
    (None, "not a backprop model"),
    ({"other": "x"}, "not a backprop model"),
    ({"backprop": "{not json"}, "backprop metadata is not valid JSON"),
    ({"backprop": "[1, 2]"}, "not a JSON object"),
])
def test_foreign_safetensors_are_refused(tmp_path, net, metadata, message):
    p = _write(tmp_path, _safetensors_bytes(_arrays(net), metadata))
    with pytest.raises(ModelFileError, match=message):
        backprop.load(p)


def test_truncated_files_are_refused(tmp_path, net):
    good = tmp_path / "good.safetensors"
    backprop.save(net, good, classes=["x", "y"])
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    for cut in sorted({0, 1, 7, 8, 9, 8 + n // 2, 8 + n, 8 + n + 1, len(data) - 4, len(data) - 1}):
        p = _write(tmp_path, data[:cut])
        with pytest.raises(ModelFileError, match="truncated|not a safetensors|only"):
            backprop.load(p)


def test_non_safetensors_files_are_refused(tmp_path):
    class Boom:
        def __reduce__(self):  # would run on unpickling: it must never be unpickled
            return (os.remove, (str(tmp_path / "canary"),))

    (tmp_path / "canary").write_text("alive")
    cases = {
        "text": (b"hello, this is not a model\n" * 3, "not a safetensors file"),
        "pickle": (pickle.dumps({"w": Boom()}, protocol=4), "pickle; backprop never loads pickles"),
        "zip": (b"PK\x03\x04" + b"\0" * 40, "zip archive"),
        "json": (struct.pack("<Q", 4) + b"[1] ", "not a JSON object"),
        "binary": (struct.pack("<Q", 6) + b"\xff\xfe{}  ", "header is not valid JSON"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(ModelFileError, match=message):
            backprop.load(_write(tmp_path, data, name))
    assert (tmp_path / "canary").read_text() == "alive"
    with pytest.raises(ModelFileError, match="does not exist"):
        backprop.load(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="is a folder"):
        backprop.load(tmp_path)


def test_absurd_header_length_and_huge_shapes_are_refused_without_allocating(tmp_path, net):
    p = _write(tmp_path, struct.pack("<Q", 2**63 + 5) + b"{}" + b"\0" * 100)
    with pytest.raises(ModelFileError, match="absurd header length"):
        backprop.load(p)
    huge = {"weights.0": {"dtype": "F64", "shape": [10**12, 10**12], "data_offsets": [0, 8]}}
    doc = _model_doc(net)
    doc["meta"]["network"]["sizes"] = [10**12, 10**12]
    doc["tensors"] = {"weights.0": {"dtype": "float64", "shape": [10**12, 10**12]}}
    p = _write(tmp_path, _safetensors_bytes({}, {"backprop": json.dumps(doc)}, header_extra=huge) + b"\0" * 8)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="declares shape .* absurd"):
            backprop.load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
    # a network declared far larger than its (consistent) tensors: refused before it is built
    doc = _model_doc(net)
    doc["meta"]["network"].update(sizes=[10**6, 10**6, 2], hidden=["tanh"])
    p = _write(tmp_path, _safetensors_bytes(_arrays(net), {"backprop": json.dumps(doc)}))
    with pytest.raises(ModelFileError, match="network needs"):
        backprop.load(p)


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}, "occupies 4 bytes"),
    ({"dtype": "F32", "shape": [2], "data_offsets": [0, 10**9]}, "truncated or corrupt"),
    ({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}, "malformed"),
    ({"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}, "malformed"),
    ({"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}, "unsupported dtype 'BF16'"),
    ({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}, "truncated or corrupt"),
    ("nonsense", "malformed"),
])
def test_bad_tensor_entries_are_refused(tmp_path, net, entry, message):
    arrays = _arrays(net)
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(_model_doc(net))},
                                            header_extra={"biases.0": entry}))
    with pytest.raises(ModelFileError, match=message):
        backprop.load(p)


def test_non_finite_weights_are_refused(tmp_path, net):
    arrays = _arrays(net)
    arrays["weights.2"] = arrays["weights.2"].copy()
    arrays["weights.2"][1, 1] = np.nan
    p = _write(tmp_path, _safetensors_bytes(arrays, {"backprop": json.dumps(_model_doc(net))}))
    with pytest.raises(ModelFileError, match="'weights.2' holds NaN or infinity"):
        backprop.load(p)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_bytes_load_or_raise_model_file_error(tmp_path_factory, data):
    """Flipping, deleting or inserting bytes anywhere: a working network or ModelFileError, nothing else."""
    tmp = tmp_path_factory.mktemp("fuzz")
    net = backprop.Network([2, 3, 2], hidden="tanh", output="softmax", seed=1)
    good = tmp / "g.safetensors"
    backprop.save(net, good, classes=["a", "b"])
    blob = bytearray(good.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        op = data.draw(st.sampled_from(["set", "del", "ins"]))
        if op == "set":
            blob[i] = data.draw(st.integers(0, 255))
        elif op == "del":
            del blob[i]
        else:
            blob.insert(i, data.draw(st.integers(0, 255)))
    p = tmp / "f.safetensors"
    p.write_bytes(bytes(blob))
    try:
        loaded = backprop.load(p)
    except ModelFileError as exc:
        assert str(exc)
        return
    out = loaded.predict(np.ones((2, loaded.sizes[0])))
    assert out.shape == (2, loaded.sizes[-1])


def test_write_errors_name_the_file_asked_for(tmp_path, net, monkeypatch):
    """A folder given as the file, or a folder one may not write in, is named as the user gave it,
    not by the temporary file beside it (which the user never asked for)."""
    import backprop.io.atomic

    with pytest.raises(IsADirectoryError) as info:
        backprop.save(net, tmp_path)
    assert info.value.filename == str(tmp_path) and info.value.filename2 is None
    assert os.listdir(tmp_path) == []

    def denied(prefix, suffix, dir):  # what mkstemp raises in a read-only folder (tests may run as root)
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "x1y2" + suffix))

    monkeypatch.setattr(backprop.io.atomic.tempfile, "mkstemp", denied)
    path = tmp_path / "m.safetensors"
    with pytest.raises(PermissionError) as info:
        backprop.save(net, path)
    assert info.value.filename == str(path)
