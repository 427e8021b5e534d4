"""Data sets for the command line: built-in sets and user files, with train/test splits.

Built-ins:

* ``xor``, ``circles``, ``moons``, ``spirals``, ``gaussians``: 2-D classification, generated from a
  seed (options ``n_samples``, ``noise``, ``seed``, and ``classes`` for spirals/gaussians).
* ``sin``: 1-D regression, y = sin(x) + noise on x in [-pi, pi].
* ``digits`` (8x8 images, 1,797 samples) and ``iris`` (150 flowers): the copies shipped with
  scikit-learn, read straight from its data folder (no import of scikit-learn needed).
* ``fashion-mnist``: the real 60,000 + 10,000 28x28 images, read from the IDX files of the Debian
  package ``dataset-fashion-mnist`` (folder: the ``data_dir`` option, else ``$BACKPROP_FASHION_MNIST``,
  else ``/usr/share/datasets/fashion-mnist``).

Every built-in has a fixed test part: fashion-mnist its official 10,000 test images, the others a
seeded 25 % split (stratified for classes), so a model trained on a built-in's training part can be
evaluated on exactly the same test part later.

Files: CSV/TSV (first line is the header; ``target`` names the target column, default the last;
gzip-compressed ``.csv.gz`` too), ``.npz`` (arrays ``X`` and ``y``, optionally ``X_test``/``y_test``
and ``feature_names``) and Parquet (needs pyarrow). Feature columns must be numbers; class labels may
be strings and keep their original values.

All errors a user can cause are :class:`backprop.errors.InvalidInputError` naming the file, column and
row.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import importlib.util
import io
import os
import struct

import numpy as np

from backprop.errors import InvalidInputError

#: where the Debian package ``dataset-fashion-mnist`` installs the IDX files
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "BACKPROP_FASHION_MNIST"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]

#: the 2-D generated sets and their defaults
GENERATED = {
    "xor": {"n_samples": 400, "noise": 0.15},
    "circles": {"n_samples": 400, "noise": 0.08},
    "moons": {"n_samples": 400, "noise": 0.15},
    "spirals": {"n_samples": 600, "noise": 0.2, "classes": 2},
    "gaussians": {"n_samples": 400, "noise": 1.0, "classes": 3},
    "sin": {"n_samples": 400, "noise": 0.05},
}
BUILTINS = tuple(GENERATED) + ("digits", "iris", "fashion-mnist")
#: image sets: pixels scaled to [0, 1], no standardization by default
IMAGE_SETS = ("digits", "fashion-mnist")
#: test fraction of the fixed split of the built-ins other than fashion-mnist
BUILTIN_TEST_FRACTION = 0.25
SPLIT_SEED = 0

CSV_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
#: target columns of integers with at most this many distinct values are classes, not numbers
MAX_INT_CLASSES = 50


@dataclasses.dataclass
class Dataset:
    """A data set with its training part and (optionally) its test part.

    ``X`` is float (rows are samples); ``y`` holds the raw targets: labels (1-D, any dtype: ints,
    strings) for classification, floats (1-D or 2-D) for regression, or None when a file has no
    target column (prediction). ``options`` reproduces the data set (recorded in a model's metadata).
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    task: str  # "classification" | "regression"
    feature_names: list
    target: str | list | None = None
    kind: str = "tabular"  # "tabular" | "image"
    options: dict = dataclasses.field(default_factory=dict)
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: list | None = None  # known class order (built-ins), else None: sorted unique labels

    @property
    def has_test(self):
        return self.X_test is not None

    def part(self, split):
        """(X, y) of ``split``: "train", "test" or "all" (both parts stacked)."""
        if split == "train":
            return self.X, self.y
        if split == "test":
            if self.X_test is None:
                raise InvalidInputError(f"data set {self.name!r} has no test part; use --split all "
                                        "or give --test-fraction")
            return self.X_test, self.y_test
        if split == "all":
            if self.X_test is None:
                return self.X, self.y
            y = None if self.y is None else np.concatenate([self.y, self.y_test])
            return np.concatenate([self.X, self.X_test]), y
        raise InvalidInputError(f"split must be 'train', 'test' or 'all', got {split!r}")


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def load(spec, *, target=None, test_fraction=None, test_file=None, task=None, data_dir=None,
         n_samples=None, noise=None, seed=None, classes=None, split_seed=SPLIT_SEED,
         require_target=True, feature_names=None):
    """Load a built-in data set (by name) or a data file (by path) with its train/test split.

    ``test_fraction`` splits a file (or overrides a built-in's fixed fraction) with ``split_seed``;
    ``test_file`` is a second file used as the test part. ``task`` ("classification" or
    "regression") overrides the guess made from the target column. ``feature_names`` picks a
    file's feature columns by name (a model's features); without ``require_target`` a file may
    lack the target column (``y`` is then None).
    """
    spec = os.fspath(spec)
    if test_fraction is not None:
        test_fraction = float(test_fraction)
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInputError(
                f"--test-fraction must lie strictly between 0 and 1, got {test_fraction:g}"
            )
    if task is not None and task not in ("classification", "regression"):
        raise InvalidInputError(f"task must be 'classification' or 'regression', got {task!r}")
    key = spec.lower()
    if key in BUILTINS and not os.path.exists(spec):
        if target is not None:
            raise InvalidInputError(f"--target applies to data files, not to the built-in {key!r}")
        if test_file is not None:
            raise InvalidInputError(f"--test-data applies to data files, not to the built-in {key!r}")
        ds = _builtin(key, data_dir=data_dir, n_samples=n_samples, noise=noise, seed=seed,
                      classes=classes, test_fraction=test_fraction, split_seed=split_seed)
        if task is not None and task != ds.task:
            raise InvalidInputError(f"built-in data set {key!r} is a {ds.task} task, not {task}")
        return ds
    for opt, val in (("n_samples", n_samples), ("noise", noise), ("data_seed", seed), ("classes", classes)):
        if val is not None:
            raise InvalidInputError(f"--{opt.replace('_', '-')} applies to the generated built-in data "
                                    f"sets ({', '.join(GENERATED)}), not to the file {spec!r}")
    ds = load_file(spec, target=target, task=task, require_target=require_target, feature_names=feature_names)
    if test_file is not None and test_fraction is not None:
        raise InvalidInputError("give either --test-data or --test-fraction, not both")
    if test_file is not None:
        test = load_file(test_file, target=ds.target, task=ds.task, require_target=require_target,
                         feature_names=ds.feature_names)
        ds.X_test, ds.y_test = test.X, test.y
        ds.options["test_file"] = os.fspath(test_file)
    elif test_fraction is not None:
        _split(ds, test_fraction, split_seed)
    return ds


def _split(ds, test_fraction, split_seed):
    """Move a seeded (stratified for classes) ``test_fraction`` of ``ds``'s rows to its test part."""
    m = ds.X.shape[0]
    n_test = int(round(test_fraction * m))
    if n_test < 1 or n_test >= m:
        raise InvalidInputError(f"--test-fraction {test_fraction:g} of {m} rows leaves an empty part")
    rng = np.random.default_rng(split_seed)
    if ds.task == "classification" and ds.y is not None:
        test_idx = _stratified_indices(ds.y, n_test, rng)
    else:
        test_idx = np.sort(rng.permutation(m)[:n_test])
    mask = np.zeros(m, dtype=bool)
    mask[test_idx] = True
    ds.X_test, ds.X = ds.X[mask], ds.X[~mask]
    if ds.y is not None:
        ds.y_test, ds.y = ds.y[mask], ds.y[~mask]
    ds.options["test_fraction"] = test_fraction
    ds.options["split_seed"] = split_seed


def _stratified_indices(y, n_test, rng):
    """Exactly ``n_test`` row indices, drawn from every class in proportion to its size.

    Each class gets the floor of its share, the rows left over go to the largest remainders
    (Hamilton's method); every class keeps at least one training row.
    """
    keys = _label_keys(y)
    uniq, inverse = np.unique(keys, return_inverse=True)
    m = len(keys)
    sizes = np.bincount(inverse, minlength=len(uniq))
    share = n_test * sizes / m
    take = np.floor(share).astype(int)
    for c in np.argsort(-(share - take), kind="stable")[: n_test - take.sum()]:
        take[c] += 1
    take = np.minimum(take, sizes - 1)
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:take[c]] for c in range(len(uniq))]
    idx = np.concatenate(chosen) if chosen else np.array([], dtype=np.intp)
    if idx.size == 0:
        idx = rng.permutation(m)[:n_test]
    return np.sort(idx)


# ---------------------------------------------------------------------------------------------
# labels and standardization
# ---------------------------------------------------------------------------------------------
def _label_keys(y):
    """Labels as strings, the key that identifies a class across files (CSV "3" == npz 3)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return y.astype(np.int64).astype(str)
    return np.asarray([str(v) for v in y.tolist()]) if y.dtype == object else y.astype(str)


def find_classes(*label_arrays):
    """Sorted distinct labels of the arrays (ints sort numerically, strings alphabetically)."""
    ys = [np.asarray(y) for y in label_arrays if y is not None]
    y = np.concatenate(ys) if len(ys) > 1 else ys[0]
    if y.dtype == object:
        y = y.astype(str)
    return [v.item() if isinstance(v, np.generic) else v for v in np.unique(y)]


def encode_labels(y, classes, *, where="target"):
    """Class indices 0..K-1 of the labels ``y`` in ``classes``; an unknown label is an error."""
    index = {k: i for i, k in enumerate(_label_keys(np.asarray(list(classes), dtype=object)))}
    keys = _label_keys(y)
    out = np.empty(len(keys), dtype=np.intp)
    for i, k in enumerate(keys):
        j = index.get(k)
        if j is None:
            shown = ", ".join(map(repr, classes[:20])) + (" ..." if len(classes) > 20 else "")
            raise InvalidInputError(
                f"{where} row {i + 1} has the label {str(k)!r}, which the model cannot produce; "
                f"its classes are: {shown}"
            )
        out[i] = j
    return out


def fit_standardize(X):
    """Per-feature mean and scale (standard deviation; 1 for constant features) as lists."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[~(scale > 1e-12)] = 1.0  # constant feature: nothing to divide
    return {"mean": mean.tolist(), "scale": scale.tolist()}


def apply_standardize(X, stats, dtype=None):
    """(X - mean) / scale with the statistics of :func:`fit_standardize` (a new array)."""
    dtype = np.result_type(np.asarray(X).dtype, np.float32) if dtype is None else dtype
    mean = np.asarray(stats["mean"], dtype=np.float64)
    scale = np.asarray(stats["scale"], dtype=np.float64)
    if mean.shape != (np.shape(X)[1],) or scale.shape != mean.shape:
        raise InvalidInputError(
            f"the data has {np.shape(X)[1]} features but the standardization statistics have {mean.size}"
        )
    return ((np.asarray(X, dtype=np.float64) - mean) / scale).astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# built-ins
# ---------------------------------------------------------------------------------------------
def _builtin(name, *, data_dir, n_samples, noise, seed, classes, test_fraction, split_seed):
    if name in GENERATED:
        opts = dict(GENERATED[name])
        if n_samples is not None:
            opts["n_samples"] = int(n_samples)
        if noise is not None:
            opts["noise"] = float(noise)
        if classes is not None:
            if "classes" not in opts:
                raise InvalidInputError(f"--classes applies to spirals and gaussians, not to {name!r}")
            opts["classes"] = int(classes)
        opts["seed"] = 0 if seed is None else int(seed)
        ds = _generate(name, **opts)
        ds.options.update(opts)
    else:
        generated_opts = (("n_samples", n_samples), ("noise", noise), ("data_seed", seed),
                          ("classes", classes))
        for opt, val in generated_opts:
            if val is not None:
                raise InvalidInputError(f"--{opt.replace('_', '-')} applies to the generated data sets "
                                        f"({', '.join(GENERATED)}), not to {name!r}")
        if name == "digits":
            ds = _digits()
        elif name == "iris":
            ds = _iris()
        else:
            if test_fraction is not None:
                raise InvalidInputError("fashion-mnist has an official test split; --test-fraction does "
                                        "not apply to it")
            return fashion_mnist(data_dir)
    _split(ds, BUILTIN_TEST_FRACTION if test_fraction is None else test_fraction, split_seed)
    if test_fraction is None:  # the fixed split is implied by the name
        del ds.options["test_fraction"], ds.options["split_seed"]
    return ds


def _generate(name, *, n_samples, noise, seed, classes=None):
    if n_samples < 8:
        raise InvalidInputError(f"--n-samples must be at least 8, got {n_samples}")
    if not np.isfinite(noise) or noise < 0:
        raise InvalidInputError(f"--noise must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    m = n_samples
    if name == "xor":
        corners = rng.integers(0, 2, size=(m, 2))
        X = corners + rng.normal(0.0, noise, (m, 2))
        y = corners[:, 0] ^ corners[:, 1]
    elif name == "circles":  # outer circle radius 1 (class 0), inner radius 0.5 (class 1)
        y = np.arange(m) % 2
        t = rng.uniform(0, 2 * np.pi, m)
        r = np.where(y == 0, 1.0, 0.5)
        X = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(0.0, noise, (m, 2))
    elif name == "moons":  # two interleaving half circles
        y = np.arange(m) % 2
        t = rng.uniform(0, np.pi, m)
        X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                     np.c_[1 - np.cos(t), 0.5 - np.sin(t)]) + rng.normal(0.0, noise, (m, 2))
    elif name == "spirals":
        if classes < 2:
            raise InvalidInputError(f"--classes must be at least 2, got {classes}")
        y = np.arange(m) % classes
        r = rng.uniform(0.05, 1.0, m)
        t = 3 * np.pi * r + 2 * np.pi * y / classes
        X = np.c_[r * np.cos(t), r * np.sin(t)] * 2 + rng.normal(0.0, noise * 0.1, (m, 2))
    elif name == "gaussians":
        if classes < 2:
            raise InvalidInputError(f"--classes must be at least 2, got {classes}")
        y = np.arange(m) % classes
        angle = 2 * np.pi * np.arange(classes) / classes
        centers = 3.0 * np.c_[np.cos(angle), np.sin(angle)]
        X = centers[y] + rng.normal(0.0, noise, (m, 2))
    elif name == "sin":
        x = rng.uniform(-np.pi, np.pi, m)
        return Dataset(name, x.reshape(-1, 1), np.sin(x) + rng.normal(0.0, noise, m), "regression",
                       ["x"], "y")
    else:  # pragma: no cover - guarded by the caller
        raise InvalidInputError(f"unknown generated data set {name!r}")
    return Dataset(name, X, y.astype(np.int64), "classification", ["x1", "x2"], "class",
                   classes=sorted(set(y.tolist())))


def _sklearn_data(filename):
    """Path of a file in scikit-learn's data folder, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("scikit-learn is needed for this data set: pip install scikit-learn")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", filename)
    if not os.path.exists(path):
        raise InvalidInputError(f"scikit-learn's data file {path} is missing; reinstall scikit-learn")
    return path


def _digits():
    data = np.loadtxt(_sklearn_data("digits.csv.gz"), delimiter=",")
    X, y = data[:, :-1] / 16.0, data[:, -1].astype(np.int64)  # pixels 0..16 -> [0, 1]
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset("digits", X, y, "classification", names, "digit", kind="image",
                   classes=list(range(10)))


def _iris():
    path = _sklearn_data("iris.csv")
    with open(path) as f:
        first = next(csv.reader(f))
    names = first[2:]
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    X, y = data[:, :4], np.asarray(names, dtype=object)[data[:, 4].astype(int)].astype(str)
    return Dataset("iris", X, y, "classification",
                   ["sepal_length", "sepal_width", "petal_length", "petal_width"], "species",
                   classes=list(names))


def fashion_mnist_dir(data_dir=None):
    """The folder of the fashion-mnist IDX files: argument, else environment variable, else default."""
    return os.fspath(data_dir) if data_dir else os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR


def fashion_mnist(data_dir=None):
    """Fashion-MNIST: 60,000 training and 10,000 test images (784 pixels in [0, 1]), 10 classes."""
    folder = fashion_mnist_dir(data_dir)
    parts = {}
    for split, (images, labels) in FASHION_MNIST_FILES.items():
        paths = []
        for stem in (images, labels):
            for cand in (stem + ".gz", stem):
                if os.path.exists(os.path.join(folder, cand)):
                    paths.append(os.path.join(folder, cand))
                    break
            else:
                raise InvalidInputError(
                    f"fashion-mnist file {stem}.gz not found in {folder}; install the data set with "
                    f"`apt-get install dataset-fashion-mnist`, or point --data-dir or "
                    f"${FASHION_MNIST_ENV} at a folder holding the IDX files"
                )
        X, y = read_idx(paths[0]), read_idx(paths[1])
        if X.ndim != 3 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise InvalidInputError(
                f"fashion-mnist files in {folder} do not match: images {X.shape}, labels {y.shape}"
            )
        if y.size and (y.min() < 0 or y.max() > 9):
            raise InvalidInputError(f"fashion-mnist labels in {paths[1]} must lie in 0..9")
        X = X.reshape(X.shape[0], -1).astype(np.float32)
        X *= np.float32(1 / 255)
        labels_ = np.asarray(FASHION_MNIST_CLASSES, dtype=object)[y.astype(np.intp)].astype(str)
        parts[split] = (X, labels_)
    n_pixels = parts["train"][0].shape[1]
    side = int(round(np.sqrt(n_pixels)))
    names = ([f"pixel_{r}_{c}" for r in range(side) for c in range(side)] if side * side == n_pixels
             else [f"pixel_{i}" for i in range(n_pixels)])
    return Dataset("fashion-mnist", parts["train"][0], parts["train"][1], "classification", names, "label",
                   kind="image", X_test=parts["test"][0], y_test=parts["test"][1],
                   classes=list(FASHION_MNIST_CLASSES))


# ---------------------------------------------------------------------------------------------
# IDX files (the MNIST format)
# ---------------------------------------------------------------------------------------------
#: IDX type code -> big-endian NumPy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAX_IDX_BYTES = 1 << 34  # 16 GiB: anything larger is a corrupt header


def read_idx(path):
    """Read an IDX file (plain or gzip-compressed, detected from its first bytes) into an array.

    Layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float,
    0x0E double), the number of dimensions, one big-endian uint32 per dimension, then the values
    big-endian in C order. Truncated, over-long or malformed files raise InvalidInputError.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as f:
                    return _read_idx_stream(f, path)
            return _read_idx_stream(raw, path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # corrupt gzip stream, unreadable file
        if isinstance(exc, FileNotFoundError):
            raise InvalidInputError(f"IDX file {path} does not exist") from None
        raise InvalidInputError(f"cannot read IDX file {path}: {exc}") from None


def _read_idx_stream(f, path):
    head = f.read(4)
    if len(head) < 4:
        raise InvalidInputError(f"{path} is not an IDX file: it is shorter than the 4-byte header")
    if head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES:
        raise InvalidInputError(
            f"{path} is not an IDX file: bad magic number {head.hex()} (expected 0000 + type code + ndim)"
        )
    dtype = np.dtype(IDX_TYPES[head[2]])
    ndim = head[3]
    if ndim == 0:
        raise InvalidInputError(f"{path}: IDX header declares 0 dimensions")
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise InvalidInputError(f"{path} is truncated: the header declares {ndim} dimensions")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    n_bytes = dtype.itemsize
    for d in dims:
        n_bytes *= d
    if n_bytes > _MAX_IDX_BYTES:
        raise InvalidInputError(f"{path}: IDX header declares an absurd size {dims}")
    data = f.read(n_bytes)
    if len(data) < n_bytes:
        raise InvalidInputError(
            f"{path} is truncated: the header declares shape {dims} ({n_bytes} bytes of data) "
            f"but only {len(data)} bytes follow"
        )
    if f.read(1):
        raise InvalidInputError(
            f"{path} has extra bytes after the {n_bytes} bytes of data its header declares"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz); used by tests and tools."""
    arr = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise InvalidInputError(f"IDX cannot store dtype {arr.dtype}")
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data += arr.astype(IDX_TYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data)
    from backprop.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def file_format(path):
    p = os.fspath(path).lower()
    if p.endswith(".gz"):
        p = p[:-3]
    if p.endswith(CSV_SUFFIXES):
        return "csv"
    if p.endswith(".npz"):
        return "npz"
    if p.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def _check_file(path):
    if not os.path.exists(path):
        raise InvalidInputError(
            f"{path!r} is neither a data file nor a built-in data set; built-ins are: {', '.join(BUILTINS)}"
        )
    if os.path.isdir(path):
        raise InvalidInputError(f"{path!r} is a folder, not a data file")
    fmt = file_format(path)
    if fmt is None:
        raise InvalidInputError(
            f"unknown data file type of {path!r}; use .csv, .tsv, .npz or .parquet (.csv.gz works too)"
        )
    return fmt


def load_file(path, *, target=None, task=None, require_target=True, feature_names=None):
    """Load a CSV/TSV, .npz or Parquet file as a :class:`Dataset` (no test part).

    ``target`` names the target column (default: the last; for .npz the array ``y``).
    ``feature_names``, when given, selects those columns as the features (in that order).
    """
    path = os.fspath(path)
    fmt = _check_file(path)
    if fmt == "npz":
        ds = _load_npz(path, require_target=require_target, feature_names=feature_names)
    else:
        if fmt == "csv":
            ds = _load_csv(path, target=target, require_target=require_target, feature_names=feature_names)
        else:
            header, columns = _read_parquet_columns(path)
            ds = _table_dataset(path, header, columns, target=target, require_target=require_target,
                                feature_names=feature_names)
    if ds.y is not None:
        ds.task = task or guess_task(ds.y)
        if ds.task == "regression":
            ds.y = _numeric_target(ds.y, ds.target, path)
        elif ds.y.dtype.kind == "f":
            if not np.all(np.isfinite(ds.y)):
                raise InvalidInputError(f"target {ds.target!r} of {path} holds NaN or infinity")
    elif task:
        ds.task = task
    ds.options = {}
    return ds


def guess_task(y):
    """"classification" for strings, bools and columns of few distinct integers; else "regression"."""
    y = np.asarray(y)
    if y.ndim > 1:
        return "regression"
    if y.dtype.kind in "OUSb":
        return "classification"
    if y.dtype.kind in "iu":
        return "classification" if len(np.unique(y)) <= MAX_INT_CLASSES else "regression"
    with np.errstate(invalid="ignore"):
        integral = bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    if integral and len(np.unique(y)) <= MAX_INT_CLASSES and len(np.unique(y)) < max(3, y.size // 2):
        return "classification"
    return "regression"


def _numeric_target(y, name, path):
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        for i, v in enumerate(y.tolist()):
            try:
                float(v)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"target {name!r} of {path} is not numeric at row {i + 1} ({v!r}): a regression "
                    "needs numbers (use --task classification for labels)"
                ) from None
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        i = int(np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).any(axis=1))[0])
        raise InvalidInputError(f"target {name!r} of {path} holds NaN or infinity at row {i + 1}")
    return y


def _load_npz(path, *, require_target, feature_names):
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc} (object arrays are refused: no pickle)") from None
    except (OSError, EOFError) as exc:
        raise InvalidInputError(f"cannot read {path} as .npz: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise InvalidInputError(f"{path} is not a valid .npz file: {exc}") from None
    if "X" not in arrays:
        raise InvalidInputError(f"{path} has no array 'X' (arrays: {', '.join(arrays) or 'none'})")
    X = _npz_matrix(arrays["X"], "X", path)
    names = ([str(n) for n in arrays["feature_names"].tolist()] if "feature_names" in arrays
             else [f"x{i}" for i in range(X.shape[1])])
    if len(names) != X.shape[1]:
        raise InvalidInputError(
            f"{path}: feature_names has {len(names)} names but X has {X.shape[1]} columns"
        )
    if feature_names is not None and X.shape[1] != len(feature_names):
        raise InvalidInputError(
            f"{path}: X has {X.shape[1]} columns but {len(feature_names)} features are expected"
        )
    y = arrays.get("y")
    if y is None and require_target:
        raise InvalidInputError(f"{path} has no array 'y' (the targets)")
    if y is not None:
        y = _npz_target(y, path, "y", X.shape[0])
    ds = Dataset(path, X, y, "classification", names, "y")
    if "X_test" in arrays:
        ds.X_test = _npz_matrix(arrays["X_test"], "X_test", path, X.shape[1])
        if "y_test" in arrays:
            ds.y_test = _npz_target(arrays["y_test"], path, "y_test", ds.X_test.shape[0])
        elif y is not None:
            raise InvalidInputError(f"{path} has X_test but no y_test")
    return ds


def _npz_matrix(X, name, path, n_features=None):
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise InvalidInputError(f"{path}: {name} must be 2-D (rows are samples), got shape {X.shape}")
    if X.dtype.kind not in "iufb":
        raise InvalidInputError(f"{path}: {name} must hold numbers, got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise InvalidInputError(f"{path}: {name} has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise InvalidInputError(f"{path}: {name} has {X.shape[1]} columns, expected {n_features}")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InvalidInputError(f"{path}: {name} holds NaN or infinity at row {r + 1}, column {c + 1}")
    return X


def _npz_target(y, path, name, m):
    if y.ndim not in (1, 2) or y.shape[0] != m:
        raise InvalidInputError(f"{path}: {name} has shape {y.shape} but there are {m} rows of X")
    if y.dtype.kind not in "iufbUS":
        raise InvalidInputError(f"{path}: {name} must hold numbers or strings, got dtype {y.dtype}")
    if y.dtype.kind == "S":
        y = y.astype(str)
    return y


# -- CSV / Parquet as columns ------------------------------------------------------------------
def _open_text(path):
    raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _delimiter(path):
    p = os.fspath(path).lower()
    if p.endswith(".gz"):
        p = p[:-3]
    return "\t" if p.endswith((".tsv", ".tab")) else ","


class CsvReader:
    """Rows of a CSV/TSV file in chunks, with the file line number of each row (for messages)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._f = _open_text(self.path)
        self._reader = csv.reader(self._f, delimiter=_delimiter(self.path))
        try:
            self.header = next(self._reader)
        except StopIteration:
            self.close()
            raise InvalidInputError(f"{self.path} is empty: it needs a header line and data rows") from None
        except (UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
            self.close()
            raise InvalidInputError(f"cannot read {self.path} as CSV: {exc}") from None
        self.header = [h.strip() for h in self.header]
        if not any(self.header):
            self.close()
            raise InvalidInputError(f"{self.path}: the first line must be a header naming the columns")
        seen = set()
        for h in self.header:
            if h in seen:
                self.close()
                raise InvalidInputError(f"{self.path}: column name {h!r} appears twice in the header")
            seen.add(h)

    def chunks(self, size=8192):
        """Yield (rows, line_numbers) with up to ``size`` rows each; blank lines are skipped."""
        n = len(self.header)
        rows, lines = [], []
        try:
            for row in self._reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != n:
                    raise InvalidInputError(
                        f"{self.path}: line {self._reader.line_num} has {len(row)} fields but the header "
                        f"has {n}"
                    )
                rows.append(row)
                lines.append(self._reader.line_num)
                if len(rows) >= size:
                    yield rows, lines
                    rows, lines = [], []
        except (UnicodeDecodeError, csv.Error, EOFError) as exc:
            raise InvalidInputError(f"cannot read {self.path} as CSV: {exc}") from None
        except OSError as exc:
            raise InvalidInputError(f"cannot read {self.path}: {exc}") from None
        if rows:
            yield rows, lines

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Columns(list):
    """Column arrays plus the file line of each row (None for files without lines)."""

    def __init__(self, cols, lines=None):
        super().__init__(cols)
        self.lines = lines

    def where(self, i):
        return f"row {i + 1}" + (f" (line {self.lines[i]})" if self.lines is not None else "")


def _read_parquet_columns(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInputError(
            f"reading Parquet files like {path} needs pyarrow: pip install pyarrow (or convert to CSV)"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's own error classes
        raise InvalidInputError(f"cannot read {path} as Parquet: {exc}") from None
    header = [str(n) for n in table.column_names]
    if table.num_rows == 0:
        raise InvalidInputError(f"{path} has no rows")
    cols = []
    for name in table.column_names:
        col = table.column(name).to_numpy(zero_copy_only=False)
        if col.dtype == object:
            col = np.array(["" if v is None else str(v) for v in col.tolist()], dtype=str)
        cols.append(col)
    return header, _Columns(cols)


def _choose_columns(path, header, *, target, require_target, feature_names):
    """(target column index or None, feature column indices) of a table with this header."""
    if target is not None:
        if target in header:
            t = header.index(target)
        elif require_target:
            raise InvalidInputError(
                f"target column {target!r} is not in {path}; its columns are: {', '.join(header)}"
            )
        else:
            t = None
    elif feature_names is None:
        t = len(header) - 1  # default target: the last column
        if t < 1:
            raise InvalidInputError(f"{path} has one column only; it needs feature columns and a target")
    else:
        t = None
    if feature_names is not None:
        feat_idx = feature_indices(header, feature_names, path, target=target)
    else:
        feat_idx = [j for j in range(len(header)) if j != t]
    if not feat_idx:
        raise InvalidInputError(f"{path} has no feature columns besides the target {header[t]!r}")
    return t, feat_idx


def _table_dataset(path, header, columns, *, target, require_target, feature_names):
    """A Dataset from whole columns (Parquet)."""
    t, feat_idx = _choose_columns(path, header, target=target, require_target=require_target,
                                  feature_names=feature_names)
    X = np.empty((len(columns[0]), len(feat_idx)), dtype=np.float64)
    for i, j in enumerate(feat_idx):
        X[:, i] = numeric_column(columns[j], header[j], path, columns.where)
    y = None if t is None else _labels_column(columns[t], header[t], path, columns.where)
    names = [header[j] for j in feat_idx]
    return Dataset(path, X, y, "classification", names, header[t] if t is not None else target)


def _load_csv(path, *, target, require_target, feature_names):
    """A Dataset from a CSV/TSV file, converted chunk by chunk (the text is never held whole)."""
    with CsvReader(path) as r:
        header = r.header
        t, feat_idx = _choose_columns(path, header, target=target, require_target=require_target,
                                      feature_names=feature_names)
        Xs, ys, all_lines = [], [], []
        offset = 0
        for rows, lines in r.chunks():
            table = np.array(rows, dtype=str)

            def where(i, offset=offset, lines=lines):
                return f"row {offset + i + 1} (line {lines[i]})"

            X = np.empty((len(rows), len(feat_idx)), dtype=np.float64)
            for i, j in enumerate(feat_idx):
                X[:, i] = numeric_column(table[:, j], header[j], path, where)
            Xs.append(X)
            if t is not None:
                ys.append(table[:, t].copy())
                all_lines.extend(lines)
            offset += len(rows)
    if not Xs:
        raise InvalidInputError(f"{path} has a header but no data rows")
    y = None
    if t is not None:
        lines = np.asarray(all_lines)
        y = _labels_column(np.concatenate(ys), header[t], path,
                           lambda i: f"row {i + 1} (line {lines[i]})")
    names = [header[j] for j in feat_idx]
    return Dataset(path, np.concatenate(Xs), y, "classification", names,
                   header[t] if t is not None else target)


def _labels_column(y, name, path, where):
    """A target column: strings that are all integers (or numbers) become numbers; no empty values."""
    if y.dtype.kind in "US":
        y = _maybe_int_labels(y)
        if y.dtype.kind == "U":
            empty = np.flatnonzero(np.char.str_len(np.char.strip(y)) == 0)
            if len(empty):
                raise InvalidInputError(f"target column {name!r} of {path} is empty at {where(int(empty[0]))}")
    return y


def _maybe_int_labels(y):
    """Strings that are all integers become int64 (so classes sort 1, 2, 10); others stay strings."""
    stripped = np.char.strip(y)
    try:
        as_int = stripped.astype(np.int64)
    except (ValueError, OverflowError):
        try:
            return stripped.astype(np.float64) if _all_float(stripped) else y
        except (ValueError, OverflowError):
            return y
    return as_int


def _all_float(col):
    try:
        col.astype(np.float64)
    except (ValueError, OverflowError):
        return False
    return True


def feature_indices(header, feature_names, path, *, target=None):
    """Column indices of the model's features: by name if all are present; by position only when
    no name matches at all (a file with other column names); a partial match is an error, since
    using the columns by position would silently feed one feature in place of another."""
    if all(n in header for n in feature_names):
        return [header.index(n) for n in feature_names]
    others = [j for j, h in enumerate(header) if h != target]
    missing = [n for n in feature_names if n not in header]
    if len(others) == len(feature_names) and len(missing) == len(feature_names):
        return others
    if len(others) == len(feature_names):
        raise InvalidInputError(
            f"{path} lacks the model's feature column(s) {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}; rename its columns to the model's feature names"
        )
    raise InvalidInputError(
        f"{path} has {len(others)} feature columns but the model expects {len(feature_names)} "
        f"(missing by name: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''})"
    )


def numeric_column(col, name, path, where=lambda i: f"row {i + 1}"):
    """A column as float64; the first non-numeric or non-finite value is an error naming it."""
    col = np.asarray(col)
    if col.dtype.kind in "iufb":
        out = col.astype(np.float64)
    else:
        try:
            out = col.astype(np.float64)
        except (ValueError, OverflowError):
            for i, v in enumerate(col.tolist()):
                try:
                    float(v)
                except (TypeError, ValueError):
                    shown = "an empty value" if not str(v).strip() else f"{v!r}"
                    raise InvalidInputError(
                        f"column {name!r} of {path} is not numeric: {shown} at {where(i)}; feature "
                        "columns must hold numbers (encode categories as numbers, or pick the "
                        "target with --target)"
                    ) from None
            raise  # pragma: no cover - astype and float() agree
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"column {name!r} of {path} holds NaN or infinity at {where(i)}; remove or impute it"
        )
    return out


def iter_feature_chunks(path, feature_names, *, target=None, chunk_rows=8192):
    """Yield float64 feature chunks of a data file, streaming CSV/TSV files ``chunk_rows`` at a time.

    Columns are matched to the model's ``feature_names`` by name when all are present, else by
    position (ignoring the ``target`` column if the file has it).
    """
    path = os.fspath(path)
    fmt = _check_file(path)
    if fmt != "csv":
        ds = load_file(path, target=target, require_target=False, feature_names=feature_names)
        for s in range(0, ds.X.shape[0], chunk_rows):
            yield ds.X[s:s + chunk_rows]
        return
    with CsvReader(path) as r:
        idx = feature_indices(r.header, feature_names, path, target=target)
        any_rows = False
        for rows, lines in r.chunks(chunk_rows):
            any_rows = True
            table = np.array(rows, dtype=str)
            lines = np.asarray(lines)

            def where(i, lines=lines):
                return f"line {lines[i]}"

            X = np.empty((len(rows), len(idx)), dtype=np.float64)
            for i, j in enumerate(idx):
                X[:, i] = numeric_column(table[:, j], r.header[j], path, where)
            yield X
        if not any_rows:
            raise InvalidInputError(f"{path} has a header but no data rows")
