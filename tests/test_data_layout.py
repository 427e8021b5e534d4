"""backprop.datasets stays the public face of backprop.data after the split into one module per concept."""

from __future__ import annotations

import ast
import pathlib

import pytest

import backprop
import backprop.data.datasets as facade
from backprop import datasets

#: every public name backprop.datasets had before the split (issue 10): all must stay importable
PUBLIC = [
    "BUILTINS", "BUILTIN_TEST_FRACTION", "CSV_SUFFIXES", "CsvReader", "Dataset", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR", "FASHION_MNIST_ENV", "FASHION_MNIST_FILES", "GENERATED", "IDX_TYPES", "IMAGE_SETS",
    "MAX_INT_CLASSES", "SPLIT_SEED", "apply_standardize", "encode_labels", "fashion_mnist",
    "fashion_mnist_dir", "feature_indices", "file_format", "find_classes", "fit_standardize", "guess_task",
    "iter_feature_chunks", "load", "load_file", "numeric_column", "read_idx", "write_idx",
]
DATA = pathlib.Path(backprop.__file__).parent / "data"
#: imports a function may make: optional dependencies only
OPTIONAL = {"pyarrow", "pyarrow.parquet"}


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_still_exported(name):
    assert backprop.datasets is datasets is facade
    assert name in facade.__all__
    obj = getattr(facade, name)
    home = getattr(obj, "__module__", None)
    if home is not None and callable(obj):  # defined in its concept's module, re-exported unchanged
        assert home.startswith("backprop.data.") and home != "backprop.data.datasets"


def test_the_facade_exports_nothing_unlisted():
    assert sorted(facade.__all__) == sorted(PUBLIC)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.py")), ids=lambda p: p.name)
def test_modules_are_small_and_import_at_the_top(path):
    text = path.read_text()
    assert len(text.splitlines()) < 500, f"{path.name} has grown past 500 lines: split it by concept"
    tree = ast.parse(text)
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    names = {node.module or ""}
                else:
                    continue
                assert names <= OPTIONAL, f"{path.name}:{node.lineno} imports {names} inside {fn.name}"
