"""Benchmark data: Fashion-MNIST read from gzip IDX files, or random data of the same shape.

The reader is deliberately tiny and independent of the library, so the benchmark measures the
engine and not a data loader. Arrays are cached as ``.npy`` in a scratch folder by the parent
process; every worker process loads the same bytes (``np.load``, no memory map, so the data is
resident before a worker records its baseline memory).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

FASHION_DIR = Path(os.environ.get("BACKPROP_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


def read_idx(path):
    """One gzip-compressed IDX file (the MNIST format) as a uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {data.size} bytes")
    return data.reshape(shape)


def fashion_available(root=FASHION_DIR):
    return all((Path(root) / name).is_file() for name in FILES.values())


def load_fashion(root=FASHION_DIR):
    """(X_train, y_train, X_test, y_test): images flattened to 784 uint8 columns, labels 0..9."""
    root = Path(root)
    arr = {key: read_idx(root / name) for key, name in FILES.items()}
    return (arr["train_images"].reshape(-1, 784), arr["train_labels"].astype(np.int64),
            arr["test_images"].reshape(-1, 784), arr["test_labels"].astype(np.int64))


def random_like_fashion(seed=0, m=60000):
    """Random images and labels of Fashion-MNIST's shape (when the files are not installed)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (m, 784), dtype=np.uint8), rng.integers(0, 10, m)


def prepare_cache(folder):
    """Write the benchmark's input arrays to ``folder``; return a description of the source."""
    folder = Path(folder)
    if fashion_available():
        X, y, _, _ = load_fashion()
        source = f"Fashion-MNIST training set ({FASHION_DIR})"
    else:
        X, y = random_like_fashion()
        source = "random data of Fashion-MNIST's shape (the dataset files were not found)"
    np.save(folder / "X_u8.npy", np.ascontiguousarray(X))
    np.save(folder / "y.npy", y.astype(np.int64))
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.uint8)
    np.save(folder / "xor_X.npy", xor)
    np.save(folder / "xor_y.npy", np.array([0, 1, 1, 0], dtype=np.int64))
    Xs, ys = synthetic_classes()
    np.save(folder / "synthetic_X.npy", Xs)
    np.save(folder / "synthetic_y.npy", ys)
    return source


def synthetic_classes(m=20000, n_features=100, n_classes=10, seed=0):
    """The estimator workloads' data: m rows, float32 features, classes as overlapping Gaussian clouds."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_classes, n_features)) * 0.5
    y = rng.integers(0, n_classes, m)
    X = (centers[y] + rng.standard_normal((m, n_features))).astype(np.float32)
    return X, y.astype(np.int64)


def load_cached(folder, kind, dtype):
    """(X, y) of a workload's data ("mnist", "xor" or "synthetic") from the cache, in ``dtype``.

    The images are scaled to [0, 1].
    """
    folder = Path(folder)
    if kind in ("xor", "synthetic"):
        return np.load(folder / f"{kind}_X.npy").astype(dtype), np.load(folder / f"{kind}_y.npy")
    X = np.load(folder / "X_u8.npy")
    Xf = np.empty(X.shape, dtype=dtype)
    np.divide(X, 255.0, out=Xf, casting="unsafe")
    return Xf, np.load(folder / "y.npy")


def one_hot(y, n, dtype):
    out = np.zeros((y.size, n), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out
