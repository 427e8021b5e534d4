"""IDX files (the MNIST format) and Fashion-MNIST, read from the IDX files of its Debian package.

Headers are checked against the bytes that follow before anything is allocated; truncated,
over-long, corrupt (gzip) or malformed files are an InvalidInputError naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np
from numpy.typing import ArrayLike

from backprop.data.dataset import Dataset
from backprop.errors import InvalidInputError
from backprop.io.atomic import atomic_write_bytes

#: where the Debian package ``dataset-fashion-mnist`` installs the IDX files
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "BACKPROP_FASHION_MNIST"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]


#: IDX type code -> big-endian NumPy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAX_IDX_BYTES = 1 << 34  # 16 GiB: anything larger is a corrupt header


def read_idx(path: str | os.PathLike) -> np.ndarray:
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
    except FileNotFoundError:
        raise InvalidInputError(f"IDX file {path} does not exist") from None
    except EOFError as exc:  # a gzip stream cut short
        raise InvalidInputError(f"cannot read IDX file {path}: the gzip data is truncated ({exc})") from None
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputError(f"cannot read IDX file {path}: the gzip data is corrupt ({exc})") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None


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


def write_idx(path: str | os.PathLike, array: ArrayLike) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz); used by tests and tools."""
    arr = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise InvalidInputError(f"IDX cannot store dtype {arr.dtype}")
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data += arr.astype(IDX_TYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data)
    atomic_write_bytes(path, data)


def fashion_mnist_dir(data_dir: str | os.PathLike | None = None) -> str:
    """The folder of the fashion-mnist IDX files: argument, else environment variable, else default."""
    return os.fspath(data_dir) if data_dir else os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR


def fashion_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
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
    side = round(float(np.sqrt(n_pixels)))
    names = ([f"pixel_{r}_{c}" for r in range(side) for c in range(side)] if side * side == n_pixels
             else [f"pixel_{i}" for i in range(n_pixels)])
    return Dataset("fashion-mnist", parts["train"][0], parts["train"][1], "classification", names, "label",
                   kind="image", X_test=parts["test"][0], y_test=parts["test"][1],
                   classes=list(FASHION_MNIST_CLASSES))
