"""Bad data files and absurd options: one clear InvalidInputError naming the file, column, row or option.

Corrupt compressed streams, binary files given as CSV, a .npz that is no zip archive, a CSV without a
header line (refused; ``header=False`` reads it), non-finite and overflowing values, and generator
counts of 10**20. Every check runs with warnings as errors: a NumPy RuntimeWarning fails it too.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings
import zipfile

import numpy as np
import pytest

from backprop import datasets
from backprop.errors import InvalidInputError


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _csv_text(rows=300, sep=","):
    return "".join(sep.join(r) + "\n" for r in [("a", "b", "label")] +
                   [(str(i), str(i * 0.5), "xy"[i % 2]) for i in range(rows)])


# -- compressed and binary inputs ---------------------------------------------------------------------------
def _corrupt_gzips():
    yield "truncated", None, "gzip data is truncated"
    yield "cut-header", None, "gzip data is truncated|gzip data is corrupt"
    yield "garbage", None, "gzip data is corrupt"
    yield "bad-crc", None, "gzip data is corrupt"
    yield "bad-method", None, "gzip data is corrupt"


@pytest.mark.parametrize("name, message", [(n, m) for n, _, m in _corrupt_gzips()])
@pytest.mark.parametrize("suffix", [".csv.gz", ".tsv.gz", ".csv"])  # gzip is found from the bytes, any name
def test_corrupt_gzip_input_is_a_clean_error_naming_the_file(tmp_path, name, message, suffix):
    sep = "\t" if ".tsv" in suffix else ","
    good = gzip.compress(_csv_text(sep=sep).encode())
    data = {"truncated": good[: len(good) // 2], "cut-header": good[:6],
            "garbage": good[:10] + bytes(range(256)) * 2, "bad-crc": good[:-8] + b"\0" * 8,
            "bad-method": b"\x1f\x8b\x09" + b"\0" * 40}[name]
    p = tmp_path / f"{name}{suffix}"
    p.write_bytes(data)
    with pytest.raises(InvalidInputError, match=message) as err:
        datasets.load(p)
    assert str(p) in str(err.value)
    with pytest.raises(InvalidInputError, match=message):  # the streaming reader of `predict` too
        list(datasets.iter_feature_chunks(p, ["a", "b"]))


def test_intact_gzip_reads_like_the_plain_file(tmp_path):
    (tmp_path / "d.csv").write_text(_csv_text())
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(_csv_text().encode()))
    plain, packed = datasets.load(tmp_path / "d.csv"), datasets.load(tmp_path / "d.csv.gz")
    assert np.array_equal(plain.X, packed.X) and np.array_equal(plain.y, packed.y)


@pytest.mark.parametrize("data, message", [
    (bytes(range(256)) * 8, r"not UTF-8 text \(byte 0x80\); is it a binary file"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not UTF-8 text|NUL byte"),
    (b"a,b,y\n1,\x002,3\n", r"line 2 holds a NUL byte; is it a binary file"),
    (b"a\x00,b,y\n1,2,3\n", r"line 1 holds a NUL byte"),
    ("a,b,y\n1,2,3\n".encode("utf-16"), "not UTF-8 text"),
])
def test_binary_file_given_as_csv_is_refused(tmp_path, data, message):
    p = tmp_path / "binary.csv"
    p.write_bytes(data)
    with pytest.raises(InvalidInputError, match=message) as err:
        datasets.load(p)
    assert str(p) in str(err.value)


def test_other_formats_given_as_csv_say_what_they_are(tmp_path):
    text = _csv_text().encode()
    np.save(tmp_path / "a.npy", np.zeros(3))
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("d.csv", text)
    cases = {"bzip2-compressed": bz2.compress(text), "xz-compressed": lzma.compress(text),
             "a zip archive": (tmp_path / "a.zip").read_bytes(),
             "a NumPy .npy file": (tmp_path / "a.npy").read_bytes()}
    for what, data in cases.items():
        p = tmp_path / "d.csv"
        p.write_bytes(data)
        with pytest.raises(InvalidInputError, match=f"cannot read .*d.csv as CSV: it is {what}.*gzip") as err:
            datasets.load(p)
        assert str(p) in str(err.value)


def test_parquet_that_is_not_parquet_or_holds_non_finite_values(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (tmp_path / "junk.parquet").write_bytes(b"PAR1 but nothing else")
    with pytest.raises(InvalidInputError, match=r"cannot read .*junk\.parquet as Parquet"):
        datasets.load(tmp_path / "junk.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0, float("inf"), 4.0], "y": [0, 1, 0, 1]}),
                   tmp_path / "inf.parquet")
    with pytest.raises(InvalidInputError, match=r"column 'a' of .*inf\.parquet holds NaN or infinity at "
                                                r"row 3"):
        datasets.load(tmp_path / "inf.parquet")
    pq.write_table(pa.table({"a": [1.0, None, 3.0, 4.0], "y": [0, 1, 0, 1]}), tmp_path / "null.parquet")
    with pytest.raises(InvalidInputError, match=r"column 'a' of .*null\.parquet holds NaN or infinity at "
                                                r"row 2"):
        datasets.load(tmp_path / "null.parquet")


def test_npz_that_is_not_a_zip_archive(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((3, 2)))
    cases = {
        "junk.npz": b"not a zip at all",
        "empty.npz": b"",
        "npy.npz": (tmp_path / "plain.npy").read_bytes(),  # a .npy file under a .npz name
        "gz.npz.gz": gzip.compress(b"junk"),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(InvalidInputError, match=r"is not a \.npz file: a \.npz is a zip archive") as err:
            datasets.load(p)
        assert str(p) in str(err.value)


def test_npz_with_a_corrupt_member_is_refused(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, X=np.arange(600.0).reshape(200, 3), y=np.arange(200) % 2)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("X.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)  # the compressed bytes
    data[start + 10:start + 60] = b"\xa5" * 50
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError) as err:
        datasets.load(bad)
    assert str(bad) in str(err.value)
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(good.read_bytes()[: len(data) // 2])
    with pytest.raises(InvalidInputError, match="cut.npz"):
        datasets.load(truncated)


def test_npz_declaring_absurd_sizes_is_refused_before_inflating(tmp_path):
    p = tmp_path / "bomb.npz"
    np.savez(p, X=np.zeros((2, 2)), y=np.zeros(2), a=np.zeros(1), b=np.zeros(1), c=np.zeros(1))
    data = bytearray(p.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # every central directory entry declares 4 GiB uncompressed: 20 GiB in all
        data[at + 24:at + 28] = (0xFFFFFFF0).to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    p.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match=r"bomb\.npz declares [\d,]+ bytes of arrays, more than"):
        datasets.load(p)


# -- a CSV file without a header line -----------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "1,2,3\n4,5,6\n7,8,9\n10,11,12\n",
    "0.5,1e-3,1\n0.25,2e-3,0\n",
    "5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n6.3,3.3,6.0,2.5,virginica\n",  # iris as UCI ships it
    "-1,2\n",  # one line only: no data rows either
])
def test_csv_without_header_is_refused_with_a_hint(tmp_path, text):
    p = tmp_path / "nohead.csv"
    p.write_text(text)
    with pytest.raises(InvalidInputError, match="seems to have no header line.*--no-header") as err:
        datasets.load(p)
    assert str(p) in str(err.value) and text.split(",")[0] in str(err.value)  # the first line is shown


@pytest.mark.parametrize("text, names", [
    ("x,y,label\n1,2,a\n3,4,b\n", ["x", "y"]),
    ("2019,2020,region\n1.5,2.5,north\n3,4,south\n", ["2019", "2020"]),  # years: integer names
    ("0,1,2\n4.5,5,6\n7,8,9\n", ["0", "1"]),  # what pandas writes for unnamed columns
])
def test_headers_that_are_names_are_read(tmp_path, text, names):
    p = tmp_path / "d.csv"
    p.write_text(text)
    ds = datasets.load(p)
    assert ds.feature_names == names and ds.X.shape == (2, 2)


def test_header_false_reads_every_line_as_data(tmp_path):
    rows = [[1.5, 2, 0], [3, 4.25, 1], [5, 6, 0], [7, 8, 1]]
    text = "".join(",".join(map(str, r)) + "\n" for r in rows)
    (tmp_path / "d.csv").write_text(text)
    ds = datasets.load(tmp_path / "d.csv", header=False)
    assert ds.feature_names == ["0", "1"] and ds.target == "2"  # default target: the last column
    assert np.array_equal(ds.X, np.array(rows)[:, :2]) and list(ds.y) == [0, 1, 0, 1]
    assert ds.options == {"header": False}  # recorded, so the model's data can be read again
    ds = datasets.load(tmp_path / "d.csv", header=False, target="0")  # the target by column number
    assert ds.feature_names == ["1", "2"] and np.array_equal(ds.y, np.array(rows)[:, 0])
    assert datasets.load(tmp_path / "d.csv", header=False, target=0).target == "0"
    (tmp_path / "t.csv").write_text("9,10,1\n11,12,0\n")  # a test file without a header as well
    ds = datasets.load(tmp_path / "d.csv", header=False, test_file=tmp_path / "t.csv")
    assert np.array_equal(ds.X_test, [[9, 10], [11, 12]]) and list(ds.y_test) == [1, 0]
    chunks = list(datasets.iter_feature_chunks(tmp_path / "d.csv", ["0", "1"], target="2", header=False,
                                               chunk_rows=3))
    assert np.array_equal(np.concatenate(chunks), np.array(rows)[:, :2]) and len(chunks) == 2
    (tmp_path / "g.tsv.gz").write_bytes(gzip.compress(text.replace(",", "\t").encode()))
    assert np.array_equal(datasets.load(tmp_path / "g.tsv.gz", header=False).X, np.array(rows)[:, :2])


def test_header_false_messages_and_where_it_does_not_apply(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(InvalidInputError, match="line 2 has 2 fields but the first row has 3"):
        datasets.load(tmp_path / "ragged.csv", header=False)
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(InvalidInputError, match="is empty"):
        datasets.load(tmp_path / "blank.csv", header=False)
    (tmp_path / "d.csv").write_text("1,2\n3,4\n")
    with pytest.raises(InvalidInputError, match="target column '5' is not in"):
        datasets.load(tmp_path / "d.csv", header=False, target="5")
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.arange(4))
    with pytest.raises(InvalidInputError, match="--no-header applies to CSV/TSV files"):
        datasets.load(tmp_path / "d.npz", header=False)
    with pytest.raises(InvalidInputError, match="--no-header applies to CSV/TSV files, not to the built-in"):
        datasets.load("xor", header=False)
    # header=True takes the first line as names without the check
    assert datasets.load(tmp_path / "d.csv", header=True).feature_names == ["1"]


# -- values that are not finite or overflow -----------------------------------------------------------------
@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "NaN", "1e400", "-1e999"])
def test_non_finite_cells_are_refused_naming_row_and_column(tmp_path, cell):
    p = tmp_path / "d.csv"
    p.write_text(f"a,b,y\n1,2,0\n3,4,1\n5,{cell},0\n")
    with pytest.raises(InvalidInputError, match=r"column 'b' of .*d\.csv holds NaN or infinity at row 3 "
                                                r"\(line 4\)"):
        datasets.load(p)
    q = tmp_path / "r.csv"  # in a regression target
    q.write_text("a,y\n" + "".join(f"{i},{i * 0.31}\n" for i in range(30)) + f"1,{cell}\n")
    with pytest.raises(InvalidInputError, match=r"target 'y' of .*r\.csv holds NaN or infinity at row 31"):
        datasets.load(q, task="regression")


def test_non_finite_npz_values_name_row_and_column(tmp_path):
    X = np.ones((5, 3))
    X[3, 1] = np.inf
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(5) % 2, feature_names=np.array(["p", "q", "r"]))
    with pytest.raises(InvalidInputError, match=r"d\.npz: X holds NaN or infinity at row 4, "
                                                r"column 2 \('q'\)"):
        datasets.load(tmp_path / "d.npz")
    y = np.linspace(0, 1, 5)
    y[2] = np.nan
    np.savez(tmp_path / "t.npz", X=np.ones((5, 3)), y=y)
    with pytest.raises(InvalidInputError, match=r"target 'y' of .*t\.npz holds NaN or infinity at row 3"):
        datasets.load(tmp_path / "t.npz")


def test_huge_finite_cells_are_read_but_not_standardized(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("a,b,y\n1e308,1,0\n-1e308,2,1\n1.5e308,3,0\n1e200,4,1\n")
    ds = datasets.load(p)  # finite values: read as they are
    assert ds.X[0, 0] == 1e308 and ds.X[2, 0] == 1.5e308
    with pytest.raises(InvalidInputError, match="column 'a' has values too large to standardize"):
        datasets.fit_standardize(ds.X, ds.feature_names)
    with pytest.raises(InvalidInputError, match="column 1 has values too large to standardize"):
        datasets.fit_standardize(ds.X)  # without names: the column's number
    # squares overflow long before the values do: 1e200**2 is beyond float64
    with pytest.raises(InvalidInputError, match="column 'b' has values too large"):
        datasets.fit_standardize(np.array([[0.0, 1e200], [1.0, -1e200]]), ["a", "b"])


def test_standardizing_huge_but_fitting_values_is_exact():
    X = np.array([[1e150, 1.0], [3e150, 2.0], [-2e150, 4.0]])
    stats = datasets.fit_standardize(X)
    Z = datasets.apply_standardize(X, stats, np.float64)
    mean = sum(X[:, 0].tolist()) / 3  # a plain loop as the oracle
    sd = (sum(((v - mean) / 1e150) ** 2 for v in X[:, 0].tolist()) / 3) ** 0.5 * 1e150
    assert np.isclose(stats["mean"][0], mean, rtol=1e-14) and np.isclose(stats["scale"][0], sd, rtol=1e-14)
    assert np.allclose(Z[:, 0], (X[:, 0] - mean) / sd, rtol=1e-14)


def test_applying_standardization_that_overflows_names_the_column():
    stats = {"mean": [0.0, -1e308], "scale": [1.0, 1.0]}  # row 1 fits (1e308), row 2 does not
    with pytest.raises(InvalidInputError, match=r"column 'w' has values too large to standardize \(1e\+308.*"
                                                r"float64\) at row 2"):
        datasets.apply_standardize(np.array([[0.0, 0.0], [1.0, 1e308]]), stats, np.float64, names=["v", "w"])
    # finite in float64 but beyond float32, the training dtype
    with pytest.raises(InvalidInputError, match="column 1 has values too large.*float32"):
        datasets.apply_standardize(np.array([[1e300, 0.0]]), {"mean": [0, 0], "scale": [1, 1]}, np.float32)
    with pytest.raises(InvalidInputError, match="column 2 holds NaN or infinity at row 1"):
        datasets.apply_standardize(np.array([[0.0, np.nan]]), {"mean": [0, 0], "scale": [1, 1]})
    with pytest.raises(InvalidInputError, match=r"column 'b' holds NaN or infinity at row 2"):
        datasets.fit_standardize(np.array([[0.0, 1.0], [1.0, np.inf]]), ["a", "b"])


# -- absurd generator options -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw, message", [
    ("xor", {"n_samples": 10**20}, "--n-samples must be an integer from 8 to 10,000,000"),
    ("moons", {"n_samples": 1e20}, "--n-samples must be an integer from 8 to 10,000,000"),
    ("sin", {"n_samples": -400}, "--n-samples must be an integer from 8"),
    ("xor", {"n_samples": 7}, "--n-samples must be an integer from 8"),
    ("xor", {"n_samples": 50.5}, "--n-samples must be an integer"),
    ("xor", {"n_samples": float("nan")}, "--n-samples must be an integer"),
    ("xor", {"n_samples": "many"}, "--n-samples must be an integer"),
    ("spirals", {"classes": 10**20}, "--classes must be an integer from 2 to 300"),  # 600 samples: 2 a class
    ("gaussians", {"classes": 1}, "--classes must be an integer from 2 to 200"),
    ("gaussians", {"classes": -3, "n_samples": 10**7}, "--classes must be an integer from 2 to 1,000"),
    ("circles", {"seed": -1}, "--data-seed must be an integer from 0 to 9,223,372,036,854,775,807"),
    ("circles", {"seed": 2**64}, "--data-seed must be an integer from 0"),
    ("xor", {"noise": float("inf")}, "--noise must be a finite number from 0 to"),
    ("xor", {"noise": 1e300}, "--noise must be a finite number from 0 to"),
    ("xor", {"split_seed": -5}, "split_seed must be an integer from 0"),
])
def test_absurd_generator_options_are_refused_before_allocating(name, kw, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        datasets.load(name, **kw)
    shown = kw[next(iter(kw))]
    if isinstance(shown, int) and abs(shown) >= 1000:  # the value given is repeated, readably
        assert f"{shown:,}" in str(err.value)


def test_generator_bounds_themselves_are_accepted():
    assert datasets.load("xor", n_samples=8, seed=2**63 - 1).X.shape[0] + 2 == 8
    s = datasets.load("spirals", n_samples=40, classes=20, noise=0.0)
    assert sorted(s.classes) == list(range(20)) and s.options["classes"] == 20
    assert datasets.load("xor", n_samples=1e2).options["n_samples"] == 100  # an integral float is a count
