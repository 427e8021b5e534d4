"""Built-in data sets, the IDX reader, data files (CSV/TSV, .npz, Parquet), splits and standardization.

IDX files are written here byte by byte with ``struct`` (independently of ``datasets.write_idx``);
digits and iris are compared with scikit-learn's own loaders.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys

import numpy as np
import pytest

from backprop import datasets
from backprop.errors import InvalidInputError

IDX_CODE = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def _idx_bytes(arr):
    """The IDX encoding of ``arr``: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    arr = np.asarray(arr)
    code = IDX_CODE[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


# -- IDX -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader_reads_every_type(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    arr = (rng.normal(size=(3, 4, 2)) * 50).astype(dtype)
    data = _idx_bytes(arr)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")  # gzip is detected from the bytes
    path.write_bytes(gzip.compress(data) if compress else data)
    got = datasets.read_idx(path)
    assert got.shape == (3, 4, 2) and np.array_equal(got, arr)
    assert got.dtype.isnative


def test_idx_reader_matches_its_writer(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    datasets.write_idx(tmp_path / "w.gz", arr)
    assert gzip.decompress((tmp_path / "w.gz").read_bytes()) == _idx_bytes(arr)


@pytest.mark.parametrize("data, message", [
    (b"", "shorter than the 4-byte header"),
    (b"\x00\x00\x08", "shorter than the 4-byte header"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab", "bad magic number"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", "bad magic number"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated: the header declares 3 dimensions"),
    (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + b"abcd", r"truncated: .* declares shape \(2, 3"),
    (b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + b"\0" * 9, "extra bytes"),
    (b"\x00\x00\x0e\x03" + struct.pack(">III", 2**31, 2**31, 2**31), "absurd size"),
])
def test_malformed_idx_files_are_refused(tmp_path, data, message):
    p = tmp_path / "bad.idx"
    p.write_bytes(data)
    with pytest.raises(InvalidInputError, match=message):
        datasets.read_idx(p)


def test_corrupt_gzip_and_missing_idx_are_refused(tmp_path):
    good = gzip.compress(_idx_bytes(np.zeros((10, 10), np.uint8)))
    p = tmp_path / "cut.gz"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(InvalidInputError, match="cannot read IDX file"):
        datasets.read_idx(p)
    p.write_bytes(good[:2] + b"\xff" * 30)
    with pytest.raises(InvalidInputError, match="cannot read IDX file"):
        datasets.read_idx(p)
    with pytest.raises(InvalidInputError, match="does not exist"):
        datasets.read_idx(tmp_path / "nope")


def _tiny_fashion(folder, n_train=12, n_test=5, compress=True):
    rng = np.random.default_rng(1)
    folder.mkdir(exist_ok=True)
    parts = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        X = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        for name, arr in ((f"{stem}-images-idx3-ubyte", X), (f"{stem}-labels-idx1-ubyte", y)):
            data = _idx_bytes(arr)
            if compress:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        parts[stem] = (X, y)
    return parts


def test_fashion_mnist_from_folder_option_and_environment(tmp_path, monkeypatch):
    parts = _tiny_fashion(tmp_path / "env")
    monkeypatch.setenv("BACKPROP_FASHION_MNIST", str(tmp_path / "env"))
    ds = datasets.load("fashion-mnist")
    X, _ = parts["train"]
    assert ds.X.shape == (12, 784) and ds.X_test.shape == (5, 784)
    assert np.allclose(ds.X, X.reshape(12, -1) / 255.0)
    assert ds.X.min() >= 0 and ds.X.max() <= 1
    assert list(ds.y[:3]) == ["T-shirt/top", "Trouser", "Pullover"]  # the official label names
    assert ds.classes[9] == "Ankle boot" and len(ds.classes) == 10 and ds.kind == "image"
    # the option beats the environment variable; plain (not gzipped) files work too
    _tiny_fashion(tmp_path / "opt", n_train=7, n_test=3, compress=False)
    ds = datasets.load("fashion-mnist", data_dir=tmp_path / "opt")
    assert ds.X.shape == (7, 784) and ds.y_test.shape == (3,)
    with pytest.raises(InvalidInputError, match="official test split"):
        datasets.load("fashion-mnist", test_fraction=0.2)


def test_missing_fashion_mnist_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_FASHION_MNIST", str(tmp_path / "absent"))
    with pytest.raises(InvalidInputError, match="apt-get install dataset-fashion-mnist"):
        datasets.load("fashion-mnist")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="train-labels-idx1-ubyte.gz not found"):
        datasets.load("fashion-mnist", data_dir=tmp_path / "half")


@pytest.mark.skipif(not os.path.exists(datasets.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_has_the_official_split(monkeypatch):
    monkeypatch.delenv("BACKPROP_FASHION_MNIST", raising=False)
    ds = datasets.load("fashion-mnist")
    assert ds.X.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    counts = {c: int((ds.y_test == c).sum()) for c in ds.classes}
    assert set(counts.values()) == {1000}  # the official test set: 1,000 images per class


# -- built-ins -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["xor", "circles", "moons", "spirals", "gaussians", "sin", "plane",
                                  "multigauss"])
def test_generated_sets_are_seeded_and_take_their_options(name):
    a = datasets.load(name, n_samples=80, seed=3)
    b = datasets.load(name, n_samples=80, seed=3)
    c = datasets.load(name, n_samples=80, seed=4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    X, y = a.part("all")
    assert X.shape == (80, 1 if name == "sin" else 2) and len(y) == 80
    assert a.X.shape[0] == 60 and a.X_test.shape[0] == 20  # the fixed 25 % test part
    assert a.options["n_samples"] == 80 and a.options["seed"] == 3
    quiet = datasets.load(name, n_samples=80, seed=3, noise=0.0)
    noisy_y = name in ("sin", "plane", "multigauss")  # the noise is on the target, not on x
    assert not np.array_equal(quiet.y if noisy_y else quiet.X, a.y if noisy_y else a.X)
    if name == "sin":
        assert a.task == "regression"
        assert np.allclose(quiet.y, np.sin(quiet.X[:, 0]))
    elif name in ("plane", "multigauss"):  # on [-1, 1]^2, the target a function of the point
        assert a.task == "regression" and np.all(np.abs(X) <= 1) and a.feature_names == ["x1", "x2"]
        x1, x2 = quiet.X[:, 0], quiet.X[:, 1]
        if name == "plane":
            assert np.allclose(quiet.y, (x1 + x2) / 2)
        else:  # five Gaussian bumps, sd 0.3: +1 at (-0.5, 0.5), (0.5, -0.5); -1 at the others; +0.5 at 0
            def bump(c1, c2):
                return np.exp(-((x1 - c1) ** 2 + (x2 - c2) ** 2) / 0.18)
            want = bump(-0.5, 0.5) - bump(0.5, 0.5) - bump(-0.5, -0.5) + bump(0.5, -0.5) + 0.5 * bump(0, 0)
            assert np.allclose(quiet.y, want)
    else:
        assert a.task == "classification" and set(np.unique(y)) == set(a.classes)


def test_generated_shapes_follow_their_definition():
    circles = datasets.load("circles", n_samples=200, noise=0.0)
    X, y = circles.part("all")
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(r[y == 0], 1.0) and np.allclose(r[y == 1], 0.5)
    xor = datasets.load("xor", n_samples=200, noise=0.0)
    X, y = xor.part("all")
    assert np.array_equal(y, (X[:, 0].round() != X[:, 1].round()).astype(int))
    g = datasets.load("gaussians", n_samples=90, classes=5)
    assert len(g.classes) == 5
    s = datasets.load("spirals", n_samples=90, classes=3)
    assert sorted(s.classes) == [0, 1, 2]
    with pytest.raises(InvalidInputError, match="--classes applies to spirals and gaussians"):
        datasets.load("moons", classes=3)
    with pytest.raises(InvalidInputError, match="--noise must be a finite number"):
        datasets.load("moons", noise=-1)


def test_digits_and_iris_are_scikit_learns():
    from sklearn.datasets import load_digits, load_iris

    ref = load_digits()
    ds = datasets.load("digits")
    X, y = ds.part("all")
    assert X.shape == (1797, 64) and ds.X_test.shape[0] == round(0.25 * 1797) and ds.kind == "image"
    order = np.lexsort(np.c_[X * 16, y].T)
    ref_order = np.lexsort(np.c_[ref.data, ref.target].T)
    assert np.array_equal(X[order] * 16, ref.data[ref_order])
    assert np.array_equal(y[order], ref.target[ref_order])
    ref = load_iris()
    ds = datasets.load("iris")
    X, y = ds.part("all")
    assert ds.classes == list(ref.target_names)
    names = ref.target_names[ref.target]
    order, ref_order = np.lexsort(np.c_[X].T), np.lexsort(np.c_[ref.data].T)
    assert np.array_equal(X[order], ref.data[ref_order])
    assert np.array_equal(y[order], names[ref_order])


def test_builtin_split_is_fixed_stratified_and_disjoint():
    a, b = datasets.load("iris"), datasets.load("iris")
    assert np.array_equal(a.X_test, b.X_test)
    for c in a.classes:  # every class in both parts, in proportion
        assert 10 <= (a.y == c).sum() <= 40 and 10 <= (a.y_test == c).sum() <= 15
    train = {tuple(r) + (c,) for r, c in zip(a.X, a.y)}
    test = {tuple(r) + (c,) for r, c in zip(a.X_test, a.y_test)}
    assert len(train) + len(test) == 149  # iris has one duplicated flower
    other = datasets.load("iris", test_fraction=0.5)
    assert other.X_test.shape[0] == 75 and other.options["test_fraction"] == 0.5


# -- files ---------------------------------------------------------------------------------------------------
def test_csv_with_string_labels_and_target_choice(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("colour,w,h,size\nred,1.5,2,10\nblue,3,4,20\nred,5,-6e-1,30\ngreen,7,8,40\n")
    ds = datasets.load(p, target="colour")
    assert ds.task == "classification" and ds.feature_names == ["w", "h", "size"]
    assert list(ds.y) == ["red", "blue", "red", "green"]
    assert np.array_equal(ds.X, [[1.5, 2, 10], [3, 4, 20], [5, -0.6, 30], [7, 8, 40]])
    assert datasets.find_classes(ds.y) == ["blue", "green", "red"]
    with pytest.raises(InvalidInputError, match="column 'colour' of .* is not numeric: 'red' at row 1 "
                                                r"\(line 2\)"):
        datasets.load(p)  # default target: the last column, so 'colour' is a feature


def test_tsv_gzip_and_integer_labels(tmp_path):
    p = tmp_path / "d.tsv.gz"
    p.write_bytes(gzip.compress(b"a\tb\tlabel\n1\t2\t10\n3\t4\t2\n5\t6\t10\n7\t8\t1\n"))
    ds = datasets.load(p)
    assert ds.task == "classification" and ds.y.dtype.kind == "i"
    assert datasets.find_classes(ds.y) == [1, 2, 10]  # numeric order, not "1", "10", "2"
    idx = datasets.encode_labels(ds.y, [1, 2, 10])
    assert list(idx) == [2, 1, 2, 0]
    # a float column with many values is a regression target
    q = tmp_path / "r.csv"
    q.write_text("x,y\n" + "".join(f"{i},{i * 0.37:.3f}\n" for i in range(30)))
    assert datasets.load(q).task == "regression"


@pytest.mark.parametrize("text, message", [
    ("a,b,y\n1,2,c\n3,,d\n", r"column 'b' of .* is not numeric: an empty value at row 2 \(line 3\)"),
    ("a,b,y\n1,2,c\n\n3,x,d\n", r"column 'b' of .* is not numeric: 'x' at row 2 \(line 4\)"),
    ("a,b,y\n1,2,c\n3,inf,d\n", r"column 'b' of .* holds NaN or infinity at row 2"),
    ("a,b,y\n1,2,c\n3,4\n", "line 3 has 2 fields but the header has 3"),
    ("", "is empty"),
    ("a,b,y\n", "header but no data rows"),
    ("a,a,y\n1,2,3\n", "column name 'a' appears twice"),
    ("y\n1\n2\n", "one column only"),
])
def test_malformed_csv_files_name_the_problem(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        datasets.load(p)


def test_missing_target_column_lists_the_columns(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,y\n1,2,3\n")
    with pytest.raises(InvalidInputError, match="column 'label' is not in .*; its columns are: a, b, y"):
        datasets.load(p, target="label")


def test_not_a_data_file(tmp_path):
    with pytest.raises(InvalidInputError, match="neither a data file nor a built-in data set; built-ins are"):
        datasets.load(tmp_path / "nope.csv")
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    with pytest.raises(InvalidInputError, match="unknown data file type"):
        datasets.load(tmp_path / "d.xlsx")
    (tmp_path / "u.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(InvalidInputError, match="cannot read .* as CSV"):
        datasets.load(tmp_path / "u.csv")


def test_npz_files(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.array(["a", "b"] * 10)
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X[:4], y_test=y[:4])
    ds = datasets.load(tmp_path / "d.npz")
    assert np.array_equal(ds.X, X) and list(ds.y) == list(y) and ds.X_test.shape == (4, 3)
    assert ds.feature_names == ["x0", "x1", "x2"]
    np.savez(tmp_path / "obj.npz", X=X, y=np.array([{"a": 1}] * 20, dtype=object))
    with pytest.raises(InvalidInputError, match="no pickle"):
        datasets.load(tmp_path / "obj.npz")
    np.savez(tmp_path / "nox.npz", data=X)
    with pytest.raises(InvalidInputError, match="has no array 'X'"):
        datasets.load(tmp_path / "nox.npz")
    np.savez(tmp_path / "short.npz", X=X, y=y[:5])
    with pytest.raises(InvalidInputError, match=r"y has shape \(5,\) but there are 20 rows"):
        datasets.load(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError, match="junk.npz"):
        datasets.load(tmp_path / "junk.npz")


def test_parquet_files(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"a": [1.0, 2.0, 3.0, 4.0], "b": [4, 5, 6, 7], "label": ["x", "y", "x", "y"]})
    pq.write_table(table, tmp_path / "d.parquet")
    ds = datasets.load(tmp_path / "d.parquet")
    assert np.array_equal(ds.X, [[1, 4], [2, 5], [3, 6], [4, 7]]) and list(ds.y) == ["x", "y", "x", "y"]


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(InvalidInputError, match="needs pyarrow: pip install pyarrow"):
        datasets.load(tmp_path / "d.parquet")


def test_file_splits_by_fraction_or_second_file(tmp_path):
    lines = "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "d.csv").write_text("u,v,t\n" + lines)
    ds = datasets.load(tmp_path / "d.csv", test_fraction=0.25)
    assert ds.X.shape[0] == 30 and ds.X_test.shape[0] == 10
    assert sorted(ds.part("all")[0][:, 0]) == list(range(40))
    assert set(ds.X[:, 0]).isdisjoint(ds.X_test[:, 0])
    again = datasets.load(tmp_path / "d.csv", test_fraction=0.25)
    assert np.array_equal(again.X_test, ds.X_test)  # the same seeded split every time
    (tmp_path / "t.csv").write_text("t,v,u\nb,1,100\na,2,101\n")  # other column order: matched by name
    ds = datasets.load(tmp_path / "d.csv", test_file=tmp_path / "t.csv")
    assert np.array_equal(ds.X_test, [[100, 1], [101, 2]]) and list(ds.y_test) == ["b", "a"]
    with pytest.raises(InvalidInputError, match="either --test-data or --test-fraction"):
        datasets.load(tmp_path / "d.csv", test_file=tmp_path / "t.csv", test_fraction=0.2)
    with pytest.raises(InvalidInputError, match="strictly between 0 and 1"):
        datasets.load(tmp_path / "d.csv", test_fraction=1.0)


def test_streamed_chunks_match_the_whole_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 3))
    rows = "".join(f"{float(r[2])!r},{i},{float(r[0])!r},{float(r[1])!r}\n" for i, r in enumerate(X))
    (tmp_path / "p.csv").write_text("c,id,a,b\n" + rows)
    chunks = list(datasets.iter_feature_chunks(tmp_path / "p.csv", ["a", "b", "c"], chunk_rows=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    assert np.array_equal(np.concatenate(chunks), X)  # columns picked by name, values exact
    with pytest.raises(InvalidInputError, match="expects 2"):
        list(datasets.iter_feature_chunks(tmp_path / "p.csv", ["q", "r"]))
    (tmp_path / "bad.csv").write_text("a,b,c\n" + "1,2,3\n" * 7 + "1,zz,3\n")
    with pytest.raises(InvalidInputError, match="column 'b' of .* is not numeric: 'zz' at line 9"):
        list(datasets.iter_feature_chunks(tmp_path / "bad.csv", ["a", "b", "c"], chunk_rows=3))


# -- labels and standardization ------------------------------------------------------------------------------
def test_encode_labels_and_unknown_labels():
    assert list(datasets.encode_labels(np.array(["b", "a", "c"]), ["a", "b", "c"])) == [1, 0, 2]
    assert list(datasets.encode_labels(np.array([3, 1]), [1, 3])) == [1, 0]
    assert list(datasets.encode_labels(np.array(["3", "1"]), [1, 3])) == [1, 0]  # CSV text vs int classes
    with pytest.raises(InvalidInputError, match="row 2 has the label 'bird', which the model cannot produce; "
                                                "its classes are: 'cat', 'dog'"):
        datasets.encode_labels(np.array(["cat", "bird"]), ["cat", "dog"])


def test_standardize_statistics():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(5, 3, 200), np.full(200, 7.0), rng.uniform(-1, 1, 200)]
    stats = datasets.fit_standardize(X)
    Z = datasets.apply_standardize(X, stats, np.float64)
    assert np.allclose(Z[:, [0, 2]].mean(axis=0), 0, atol=1e-12)
    assert np.allclose(Z[:, [0, 2]].std(axis=0), 1)
    assert stats["scale"][1] == 1.0 and np.all(Z[:, 1] == 0)  # a constant feature is only centred
    assert np.allclose(stats["mean"][0], X[:, 0].mean()) and np.allclose(stats["scale"][0], X[:, 0].std())
    with pytest.raises(InvalidInputError, match="has 2 features but the standardization statistics have 3"):
        datasets.apply_standardize(X[:, :2], stats)


def test_feature_columns_by_name_by_position_or_refused():
    from backprop.data.datasets import feature_indices

    # every name present: by name, whatever the order
    assert feature_indices(["b", "y", "a"], ["a", "b"], "f.csv", target="y") == [2, 0]
    # no name present (a file named otherwise): by position, target skipped
    assert feature_indices(["p", "q", "y"], ["a", "b"], "f.csv", target="y") == [0, 1]
    # some present, some not: one feature would silently stand in for another -> refused
    with pytest.raises(InvalidInputError, match="lacks the model's feature column"):
        feature_indices(["a", "c", "y"], ["a", "b"], "f.csv", target="y")
