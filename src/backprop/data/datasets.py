"""Data sets for the command line: built-in sets and user files, with train/test splits.

This module is the public face of :mod:`backprop.data` (``backprop.datasets``); the code lives in
one module per concept:

* :mod:`~backprop.data.builtins`: the named sets (``BUILTINS``) and :func:`load`, the entry point
  for a name or a file.
* :mod:`~backprop.data.generators`: ``xor``, ``circles``, ``moons``, ``spirals``, ``gaussians``
  (2-D classification), ``sin`` (1-D regression), ``plane`` and ``multigauss`` (regression on the
  plane), generated from a seed (options ``n_samples``, ``noise``, ``seed``, and ``classes`` for
  spirals/gaussians).
* :mod:`~backprop.data.idx`: IDX files and ``fashion-mnist``, the real 60,000 + 10,000 28x28
  images of the Debian package ``dataset-fashion-mnist`` (folder: the ``data_dir`` option, else
  ``$BACKPROP_FASHION_MNIST``, else ``/usr/share/datasets/fashion-mnist``).
* :mod:`~backprop.data.readers` and :mod:`~backprop.data.csvfile`: CSV/TSV (first line is the
  header unless ``header=False``; ``target`` names the target column, default the last;
  gzip-compressed ``.csv.gz`` too), ``.npz`` (arrays ``X`` and ``y``, optionally
  ``X_test``/``y_test`` and ``feature_names``) and Parquet (needs pyarrow).
* :mod:`~backprop.data.preprocessing`: class labels, standardization and seeded splits.
* :mod:`~backprop.data.dataset`: the :class:`Dataset` record.

``digits`` (8x8 images, 1,797 samples) and ``iris`` (150 flowers) are scikit-learn's copies.
All errors a user can cause are :class:`backprop.errors.InvalidInputError` naming the file, column
and row (or the option and its allowed range).
"""

from __future__ import annotations

from backprop.data.builtins import BUILTIN_TEST_FRACTION, BUILTINS, IMAGE_SETS, SPLIT_SEED, load
from backprop.data.csvfile import CSV_SUFFIXES, CsvReader
from backprop.data.dataset import Dataset
from backprop.data.generators import GENERATED
from backprop.data.idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_ENV,
    FASHION_MNIST_FILES,
    IDX_TYPES,
    fashion_mnist,
    fashion_mnist_dir,
    read_idx,
    write_idx,
)
from backprop.data.preprocessing import apply_standardize, encode_labels, find_classes, fit_standardize
from backprop.data.readers import (
    MAX_INT_CLASSES,
    feature_indices,
    file_format,
    guess_task,
    iter_feature_chunks,
    load_file,
    numeric_column,
)

__all__ = [
    "BUILTINS", "BUILTIN_TEST_FRACTION", "CSV_SUFFIXES", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR",
    "FASHION_MNIST_ENV", "FASHION_MNIST_FILES", "GENERATED", "IDX_TYPES", "IMAGE_SETS", "MAX_INT_CLASSES",
    "SPLIT_SEED", "CsvReader", "Dataset", "apply_standardize", "encode_labels", "fashion_mnist",
    "fashion_mnist_dir", "feature_indices", "file_format", "find_classes", "fit_standardize", "guess_task",
    "iter_feature_chunks", "load", "load_file", "numeric_column", "read_idx", "write_idx",
]
