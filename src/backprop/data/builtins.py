"""The named data sets (BUILTINS) and :func:`load`, the one entry point for a name or a data file.

Every built-in has a fixed test part: fashion-mnist its official 10,000 test images, the others a
seeded 25 % split (stratified for classes), so a model trained on a built-in's training part can be
evaluated on exactly the same test part later. digits and iris are the copies shipped with
scikit-learn, read straight from its data folder (no import of scikit-learn needed).
"""

from __future__ import annotations

import csv
import importlib.util
import os
from collections.abc import Sequence

import numpy as np

from backprop.data.dataset import Dataset
from backprop.data.generators import GENERATED, generate, generated_options
from backprop.data.idx import fashion_mnist
from backprop.data.options import check_seed
from backprop.data.preprocessing import split
from backprop.data.readers import load_file
from backprop.errors import InvalidInputError

BUILTINS = tuple(GENERATED) + ("digits", "iris", "fashion-mnist")
#: image sets: pixels scaled to [0, 1], no standardization by default
IMAGE_SETS = ("digits", "fashion-mnist")
#: test fraction of the fixed split of the built-ins other than fashion-mnist
BUILTIN_TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load(spec: str | os.PathLike, *, target: str | Sequence[str] | None = None,
         test_fraction: float | None = None, test_file: str | os.PathLike | None = None,
         task: str | None = None, data_dir: str | os.PathLike | None = None, n_samples: int | None = None,
         noise: float | None = None, seed: int | None = None, classes: int | None = None,
         split_seed: int = SPLIT_SEED, require_target: bool = True,
         feature_names: Sequence[str] | None = None, header: bool | None = None) -> Dataset:
    """Load a built-in data set (by name) or a data file (by path) with its train/test split.

    ``test_fraction`` splits a file (or overrides a built-in's fixed fraction) with ``split_seed``;
    ``test_file`` is a second file used as the test part. ``task`` ("classification" or
    "regression") overrides the guess made from the target column. ``feature_names`` picks a
    file's feature columns by name (a model's features); without ``require_target`` a file may
    lack the target column (``y`` is then None). ``header`` is for CSV/TSV files (the data file
    and ``test_file`` alike), see :func:`backprop.data.readers.load_file`: False reads a file
    without a header line, its columns named "0", "1", ... (``target="0"`` is the first column).
    """
    spec = os.fspath(spec)
    test_fraction = _check_test_fraction(test_fraction)
    split_seed = check_seed("split_seed", split_seed)
    if task is not None and task not in ("classification", "regression"):
        raise InvalidInputError(f"task must be 'classification' or 'regression', got {task!r}")
    key = spec.lower()
    if key in BUILTINS and not os.path.exists(spec):
        for opt, given in (("--target", target is not None), ("--test-data", test_file is not None)):
            if given:
                raise InvalidInputError(f"{opt} applies to data files, not to the built-in {key!r}")
        if header is False:
            raise InvalidInputError(f"--no-header applies to CSV/TSV files, not to the built-in {key!r}")
        ds = _builtin(key, data_dir=data_dir, n_samples=n_samples, noise=noise, seed=seed,
                      classes=classes, test_fraction=test_fraction, split_seed=split_seed)
        if task is not None and task != ds.task:
            raise InvalidInputError(f"built-in data set {key!r} is a {ds.task} task, not {task}")
        return ds
    _no_generator_options(spec, n_samples=n_samples, noise=noise, data_seed=seed, classes=classes)
    if not os.path.exists(spec):
        raise InvalidInputError(
            f"{spec!r} is neither a data file nor a built-in data set; built-ins are: {', '.join(BUILTINS)}"
        )
    if test_file is not None and test_fraction is not None:
        raise InvalidInputError("give either --test-data or --test-fraction, not both")
    ds = load_file(spec, target=target, task=task, require_target=require_target, feature_names=feature_names,
                   header=header)
    if test_file is not None:
        test = load_file(test_file, target=ds.target, task=ds.task, require_target=require_target,
                         feature_names=ds.feature_names, header=header)
        ds.X_test, ds.y_test = test.X, test.y
        ds.options["test_file"] = os.fspath(test_file)
    elif test_fraction is not None:
        split(ds, test_fraction, split_seed)
    return ds


def _no_generator_options(spec, **given):
    """A file takes none of the generated sets' options."""
    for opt, val in given.items():
        if val is not None:
            raise InvalidInputError(f"--{opt.replace('_', '-')} applies to the generated built-in data "
                                    f"sets ({', '.join(GENERATED)}), not to the file {spec!r}")


def _check_test_fraction(test_fraction):
    """``test_fraction`` as a float strictly between 0 and 1 (or None)."""
    if test_fraction is None:
        return None
    try:
        test_fraction = float(test_fraction)
    except (TypeError, ValueError):
        raise InvalidInputError(f"--test-fraction must be a number, got {test_fraction!r}") from None
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"--test-fraction must lie strictly between 0 and 1, got {test_fraction:g}")
    return test_fraction


def _builtin(name, *, data_dir, n_samples, noise, seed, classes, test_fraction, split_seed):
    if name in GENERATED:
        opts = generated_options(name, n_samples=n_samples, noise=noise, seed=seed, classes=classes)
        ds = generate(name, **opts)
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
    split(ds, BUILTIN_TEST_FRACTION if test_fraction is None else test_fraction, split_seed)
    if test_fraction is None:  # the fixed split is implied by the name
        del ds.options["test_fraction"], ds.options["split_seed"]
    return ds


def _sklearn_data(filename):
    """Path of a file in scikit-learn's data folder, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("scikit-learn is needed for this data set: pip install scikit-learn")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "datasets", "data", filename)
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
