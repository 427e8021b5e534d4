"""The driver's side of the data: what the user passed, as row blocks the workers compute or read.

Nothing here computes the data on the driver. Every input becomes a list of Dask tasks, one per
row block, each giving a pair (X block, Y block) on whatever worker runs it:

* Dask arrays ``X`` and ``Y``, chunked by rows (Y is rechunked to X's row chunks; columns are
  joined into one chunk);
* a Dask data frame ``X`` with a target column (``target``, or ``Y`` as a column name; default
  the last column), or a data frame of features and a Dask series/frame ``Y`` with the same
  partitions;
* a folder (or glob, or list) of Parquet or CSV files that the workers read themselves;
* NumPy arrays (the command line's files): split into one block per worker and sent once.

The blocks are checked on the workers (:func:`backprop.distributed.shard.prepare_block`).
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.data.datasets import find_classes
from backprop.errors import BackpropError, InvalidInputError, InvalidTypeError

from .shard import BlockSpec

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".tsv.gz")


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection (array, data frame, series), without importing Dask."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "__dask_graph__")


def row_blocks(net: Any, X: Any, Y: Any | None = None, *, target: str | Sequence[str] | None = None,
               classes: Sequence | None = None, n_blocks: int = 1) -> tuple[list, Any]:
    """``(blocks, spec)``: ``blocks`` a list of Dask delayed pairs (x, y) -- y None when the pair is
    one pandas partition holding the target column too -- and ``spec`` the :class:`BlockSpec`."""
    spec = BlockSpec(tuple(net.sizes), net.output, net.dtype.name)
    if isinstance(X, (str, os.PathLike)) or (isinstance(X, (list, tuple)) and X
                                             and all(isinstance(p, (str, os.PathLike)) for p in X)):
        X = read_files(X)
    if _is_frame(X):
        return _frame_blocks(net, spec, X, Y, target=target, classes=classes)
    if target is not None:
        raise InvalidInputError("target names a column of a data frame or of files; "
                                "with arrays pass the targets as Y")
    if Y is None:
        raise InvalidInputError("Y is missing: pass the targets as a second array (or X as a data frame "
                                "or a folder of files with a target column)")
    if is_dask(X):
        return _array_blocks(X, Y), spec
    if is_dask(Y):
        raise InvalidTypeError("X is a NumPy array but Y a Dask collection; pass both as Dask arrays")
    return _numpy_blocks(X, Y, n_blocks), spec


def _is_frame(X) -> bool:
    return is_dask(X) and hasattr(X, "npartitions") and hasattr(X, "columns")


def _array_blocks(X, Y):
    import dask.array as da

    if not isinstance(X, da.Array):
        raise InvalidTypeError(f"X must be a Dask array or data frame, got {type(X).__name__}")
    if X.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (rows are samples), got a Dask array of shape {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = _compute(X.compute_chunk_sizes)  # row counts of each block (a small computation on the workers)
    if not isinstance(Y, da.Array):
        if _is_frame(Y) or is_dask(Y):
            Y = _compute(Y.to_dask_array().compute_chunk_sizes)
        else:  # targets given as a NumPy array next to a Dask X: small enough to send once
            Y = da.from_array(np.asarray(Y), chunks=(X.chunks[0],) + tuple((n,) for n in np.shape(Y)[1:]))
    if Y.ndim not in (1, 2):
        raise InvalidInputError(f"Y must be 1-D or 2-D, got a Dask array of shape {Y.shape}")
    if any(np.isnan(c) for c in Y.chunks[0]):
        Y = _compute(Y.compute_chunk_sizes)
    if Y.shape[0] != X.shape[0]:
        raise InvalidInputError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; they must match")
    X = X.rechunk({1: -1})
    Y = Y.rechunk({0: X.chunks[0]} | ({1: -1} if Y.ndim == 2 else {}))
    xs, ys = X.to_delayed().ravel(), Y.to_delayed().ravel()
    return list(zip(xs, ys))


def _numpy_blocks(X, Y, n_blocks):
    from dask import delayed

    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (rows are samples), got an array of shape {X.shape}")
    if len(Y) != len(X):
        raise InvalidInputError(f"X has {len(X)} rows but Y has {len(Y)}; they must match")
    edges = np.linspace(0, len(X), max(1, min(n_blocks, len(X))) + 1).astype(int)
    # pure data in the graph (not scattered): the scheduler can hand it out again after a worker dies
    return [(delayed(X[a:b], name=f"backprop-x-{a}-{id(X)}"), delayed(Y[a:b], name=f"backprop-y-{a}-{id(Y)}"))
            for a, b in itertools.pairwise(edges)]


def _frame_blocks(net, spec, X, Y, *, target, classes):
    import dataclasses

    if Y is not None and not isinstance(Y, str):
        if target is not None:
            raise InvalidInputError("pass either Y or target, not both")
        if not is_dask(Y) or not hasattr(Y, "npartitions"):
            raise InvalidTypeError("with a Dask data frame X, Y must be a Dask series or frame, "
                                   "or the name of a column")
        if Y.npartitions != X.npartitions:
            raise InvalidInputError(f"X has {X.npartitions} partitions but Y {Y.npartitions}; "
                                    "they must be split the same way")
        _check_numeric(X, list(X.columns))
        return list(zip(X.to_delayed(), Y.to_delayed())), spec
    name = Y if isinstance(Y, str) else target
    columns = [str(c) for c in X.columns]
    if name is None:
        if len(columns) < 2:
            raise InvalidInputError("the data has one column only; it needs feature columns and a target")
        name = columns[-1]  # default target: the last column, as for files
    if name not in columns:
        raise InvalidInputError(f"target column {name!r} is not in the data; its columns are: "
                                + ", ".join(columns))
    features = [c for c in columns if c != name]
    _check_numeric(X, features)
    if net.sizes[-1] > 1:
        if classes is None:
            # the distinct labels: a small result computed on the workers
            classes = find_classes(np.asarray(_compute(X[name].unique().compute)))
        classes = tuple(classes)
        if len(classes) != net.sizes[-1]:
            raise InvalidInputError(
                f"target column {name!r} has {len(classes)} classes but the network has {net.sizes[-1]} "
                "outputs (sizes[-1]); build the network with one output per class"
            )
    else:
        classes = None
    spec = dataclasses.replace(spec, columns=tuple(features), target=name, classes=classes)
    return [(part, None) for part in X.to_delayed()], spec


def _compute(work):
    """``work()``, a small computation on the cluster; a failure of the data is an InvalidInputError."""
    try:
        return work()
    except BackpropError:
        raise
    except Exception as exc:  # a file that cannot be read or parsed, a failing task of the user's graph
        raise InvalidInputError(f"the workers could not compute or read the training data: "
                                f"{type(exc).__name__}: {exc}") from None


def _check_numeric(frame, features):
    bad = [c for c in features if not np.issubdtype(np.dtype(frame.dtypes[c]), np.number)
           and np.dtype(frame.dtypes[c]) != bool] if features else []
    if bad:
        raise InvalidInputError(f"feature columns must hold numbers; not numeric: {', '.join(map(str, bad))}")


def read_files(where: Any) -> Any:
    """A Dask data frame over the Parquet or CSV files in ``where`` (a folder, a glob, or a list);
    the workers read the files (they must see the same paths)."""
    import dask.dataframe as dd

    if isinstance(where, (list, tuple)):
        paths = [os.fspath(p) for p in where]
    else:
        where = os.fspath(where)
        if os.path.isdir(where):
            paths = sorted(os.path.join(where, f) for f in os.listdir(where)
                           if f.lower().endswith(_PARQUET + _CSV))
        else:
            paths = sorted(glob.glob(where))
        if not paths:
            raise InvalidInputError(f"no Parquet or CSV files in {where!r}; use a folder of .parquet or .csv "
                                    "files, a glob like data/*.csv, or a list of paths")
    kinds = {"parquet" if p.lower().endswith(_PARQUET) else "csv" if p.lower().endswith(_CSV) else None
             for p in paths}
    if None in kinds or len(kinds) != 1:
        raise InvalidInputError("the files must all be Parquet (.parquet) or all CSV (.csv, .tsv); "
                                f"got {paths[:5]}")
    try:
        if kinds == {"parquet"}:
            return dd.read_parquet(paths)
        sep = "\t" if paths[0].lower().endswith((".tsv", ".tsv.gz")) else ","
        compression = "gzip" if paths[0].lower().endswith(".gz") else None
        return dd.read_csv(paths, sep=sep, compression=compression,
                           blocksize=None if compression else "64MB")
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the data files {paths[:3]}: {exc}") from None
