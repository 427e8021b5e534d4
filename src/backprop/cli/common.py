"""What the commands share: options, output, paths, layer widths and data for a model."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from typing import Any

import click
import numpy as np
from click.core import ParameterSource
from rich.console import Console

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.data import datasets
from backprop.errors import InvalidInputError

#: seeds are non-negative (NumPy's generators refuse the others)
SEED = click.IntRange(0, 2**63 - 1)
#: the most points a generated data set may have, and the most classes of spirals/gaussians
MAX_SAMPLES = 10_000_000
MAX_CLASSES = 1000
#: the most parameters a network of the command line may have (a float32 weight index fits an int32)
MAX_PARAMETERS = 2**31 - 1
#: arrays per parameter while training: weights, gradients and two optimizer moments (adam)
TRAINING_COPIES = 4


# -- options ----------------------------------------------------------------------------------------
def debug_option(f: Callable) -> Callable:
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                        help="Show the full traceback of an error.")(f)


def data_options(f: Callable) -> Callable:
    """The options that choose and shape a data set (keyword arguments of ``datasets.load``)."""
    opts = [
        click.option("--target", help="Target column of a CSV/TSV/Parquet file (default: the last column; "
                                      "with --no-header its index)."),
        click.option("--task", type=click.Choice(["classification", "regression"]),
                     help="Override the task guessed from the target column."),
        click.option("--test-fraction", type=float,
                     help="Hold out this fraction of a file's rows as its test part (seeded, stratified)."),
        click.option("--test-data", "test_file", type=click.Path(dir_okay=False),
                     help="A second file used as the test part."),
        click.option("--no-header", "no_header", is_flag=True, default=None,
                     help="The CSV file has no header line: its columns are named 0, 1, ..."),
        click.option("--n-samples", type=click.IntRange(1, MAX_SAMPLES),
                     help="Generated data sets: number of points."),
        click.option("--noise", type=float, help="Generated data sets: noise level."),
        click.option("--data-seed", type=SEED, help="Generated data sets: seed of the generator."),
        click.option("--classes", "n_classes", type=click.IntRange(2, MAX_CLASSES),
                     help="spirals/gaussians: number of classes."),
        click.option("--data-dir", type=click.Path(file_okay=False),
                     help="Folder of the fashion-mnist IDX files (default: $BACKPROP_FASHION_MNIST or "
                          "/usr/share/datasets/fashion-mnist)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


_DATA_KEYS = {"target": "target", "task": "task", "test_fraction": "test_fraction", "test_file": "test_file",
              "no_header": "header", "n_samples": "n_samples", "noise": "noise", "data_seed": "seed",
              "n_classes": "classes", "data_dir": "data_dir"}


def pop_data_options(kw: dict) -> dict:
    """The data options of a command as keyword arguments of :func:`backprop.datasets.load`."""
    out = {}
    for opt, key in _DATA_KEYS.items():
        v = kw.pop(opt, None)
        if v is not None:
            out[key] = v
    if out.pop("header", None):
        out["header"] = False
    return out


def explicit(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (on the command line or in the environment)."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


# -- output -----------------------------------------------------------------------------------------
class UI:
    """Where output goes: progress on stderr (when it is a terminal), tables or JSON on stdout."""

    def __init__(self, quiet: bool = False, as_json: bool = False, progress: bool | None = None):
        self.quiet, self.json = quiet, as_json
        self.err = Console(stderr=True, force_terminal=True if progress else None, highlight=False)
        self.out = Console(highlight=False, soft_wrap=False)
        self.progress = (not quiet) and (progress if progress is not None else self.err.is_terminal)

    def note(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def table(self, *renderables: Any) -> None:
        """Print tables and lines (str: rich markup) on stdout, unless --quiet or --json."""
        if not (self.quiet or self.json):
            for r in renderables:
                for item in r if isinstance(r, list) else [r]:
                    self.out.print(item, soft_wrap=isinstance(item, str))

    def dump(self, obj: Any) -> None:
        if self.json:
            click.echo(json.dumps(obj, default=jsonable))


def jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


# -- paths ------------------------------------------------------------------------------------------
def check_out_path(path: str, what: str = "--out") -> str:
    """Fail before any work if ``path`` cannot be written (missing folder, a folder itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InvalidInputError(f"{what} {path!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInputError(f"{what} {path!r}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InvalidInputError(f"{what} {path!r}: folder {folder} is not writable")
    return path


def same_file(a: str | None, b: str | None) -> bool:
    """Whether both paths are given and name one existing file."""
    if not a or not b:
        return False
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


# -- numbers ----------------------------------------------------------------------------------------
def parse_widths(text: str, option: str = "--layers", *, example: str = "128, 64",
                 allow_empty: bool = True) -> list[int]:
    """Comma-separated positive layer widths ('' / 'none' / '0': no layers, where allowed)."""
    text = text.strip()
    if allow_empty and text in ("", "none", "0"):
        return []
    try:
        widths = [int(t) for t in text.split(",")]
    except ValueError:
        widths = None
    if not widths or any(w < 1 for w in widths):
        raise InvalidInputError(f"{option} must be comma-separated positive widths like {example}, "
                                f"got {text!r}")
    return widths


def parse_hidden(text: str, n_hidden: int) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in HIDDEN_ACTIVATIONS:
            raise InvalidInputError(f"--hidden: unknown activation {n!r}; valid names are: "
                                    f"{', '.join(HIDDEN_ACTIVATIONS)}")
    if len(names) == 1:
        return names * n_hidden
    if len(names) != n_hidden:
        raise InvalidInputError(
            f"--hidden lists {len(names)} activations but --layers has {n_hidden} hidden layers"
        )
    return names


def parse_floats(text: str, option: str) -> list[float]:
    """Numbers separated by commas and/or spaces."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise InvalidInputError(f"{option} needs at least one number, e.g. {option} 0.05,0.1")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise InvalidInputError(f"{option} must be numbers separated by commas, got {text!r}") from None


def check_network_size(sizes: list[int], dtype: Any, option: str = "--layers") -> int:
    """The parameter count of a network of these widths; refused before anything is allocated when
    it exceeds :data:`MAX_PARAMETERS` or the memory training it would need."""
    n = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    shown = "-".join(map(str, sizes))
    if n > MAX_PARAMETERS:
        raise InvalidInputError(f"{option}: a {shown} network has {n:,} parameters, more than the "
                                f"{MAX_PARAMETERS:,} backprop trains; use narrower layers")
    need = n * np.dtype(dtype).itemsize * TRAINING_COPIES
    free = available_memory()
    if free is not None and need > free:
        raise InvalidInputError(f"{option}: a {shown} network has {n:,} parameters; training it needs about "
                                f"{need / 2**30:.1f} GiB but {free / 2**30:.1f} GiB of memory are free; "
                                "use narrower layers")
    return n


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# -- data -------------------------------------------------------------------------------------------
_LOAD_KEYS = set(inspect.signature(datasets.load).parameters) - {"spec"}


def load_data(spec: str, **options: Any) -> Any:
    """``datasets.load(spec, **options)``, leaving out None and the keys it does not take (a model's
    metadata may record options of another version)."""
    return datasets.load(spec, **{k: v for k, v in options.items() if k in _LOAD_KEYS and v is not None})


def recorded_dataset(spec: dict, where: str) -> Any:
    """The data set of a model's ``metadata["dataset"]`` ({"name": ..., "options": {...}})."""
    opts = dict(spec)
    if isinstance(opts.get("options"), dict):
        opts.update(opts.pop("options"))
    name = opts.pop("name", None) or opts.pop("path", None) or opts.pop("spec", None)
    if not name:
        raise InvalidInputError(f"{where} does not name its data set; give --data")
    return load_data(name, **opts)


def dataset_of_model(data: Any, meta: dict, where: str) -> Any:
    """The data set ``data`` names (--data), else the one the model's metadata records."""
    spec = data if data is not None else meta.get("dataset")
    if not spec:
        raise InvalidInputError(f"{where} does not record its data set; give one with --data")
    return recorded_dataset(spec if isinstance(spec, dict) else {"name": spec}, where)


def pick_split(ds: Any, split: str | None) -> Any:
    if split is None:
        split = "test" if ds.has_test else "all"
    X, y = ds.part(split)
    return X, y, split


def model_data(model: Any, data: Any, data_opts: dict, *, require_target: bool) -> Any:
    """(name, data set) for a loaded model: ``data`` (default: the set the model records) read with the
    options it was trained with when it is that set, and the model's feature columns."""
    meta = model.meta
    recorded = meta.get("dataset") or {}
    if data is None:
        data = recorded.get("name")
        if not data:
            raise InvalidInputError("give DATA: the model does not record which data it was trained on")
        if data.lower() not in datasets.BUILTINS and not os.path.exists(data):
            # the recorded path is relative to the folder training ran in, not necessarily this one
            raise InvalidInputError(f"give DATA: the model was trained on {data!r}, which is not found from "
                                    "this folder (the path is relative to where training ran)")
    opts = {}
    if data == recorded.get("name") and isinstance(recorded.get("options"), dict):
        opts.update(recorded["options"])
        if recorded.get("header") is False:
            opts["header"] = False
    if data.lower() not in datasets.BUILTINS or os.path.exists(data):
        opts.setdefault("target", meta.get("target"))
        opts["feature_names"] = meta.get("feature_names")
        if opts["feature_names"] is None and not require_target:  # columns by position, none the target
            opts["feature_names"] = placeholder_names(model.n_features)
        opts["require_target"] = require_target
        if require_target and meta.get("task"):
            opts["task"] = meta["task"]
    else:
        opts.pop("target", None)
    opts.update(data_opts)
    names = opts.get("feature_names")
    if require_target and names is not None and opts.get("target") is None:
        # no recorded target (an estimator): the file's last column, the features by name
        opts["feature_names"] = None
        ds = load_data(data, **opts)
        _align_features(ds, names, data)
        return data, ds
    return data, load_data(data, **opts)


def _align_features(ds, names, source):
    """Put the feature columns of ``ds`` in the order of the model's ``names``."""
    have = list(ds.feature_names)
    missing = [n for n in names if n not in have]
    if missing:
        raise InvalidInputError(f"{source} lacks the model's feature column(s) {', '.join(missing[:10])}; "
                                f"its columns are: {', '.join(map(str, have))} (the last one is the target)")
    order = [have.index(n) for n in names]
    ds.X = ds.X[:, order]
    if ds.X_test is not None:
        ds.X_test = ds.X_test[:, order]
    ds.feature_names = list(names)


def placeholder_names(n: int) -> list[str]:
    """Feature names of a model that knows none (an estimator fitted on an array): x0, x1, ...; a
    file's columns are then taken by position."""
    return [f"x{i}" for i in range(n)]
