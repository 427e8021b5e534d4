"""Data files as Datasets: CSV/TSV (also gzip-compressed), .npz and Parquet; columns to numbers.

Feature columns must be numbers; class labels may be strings and keep their original values.
Every problem a file can have is an InvalidInputError naming the file, column and row: non-numeric
or non-finite cells, a corrupt archive or compressed stream, a binary file given as CSV, a missing
header (``header=False`` reads a file without one). .npz files are read without pickle.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike

from backprop.data.csvfile import CSV_SUFFIXES, CsvReader
from backprop.data.dataset import Dataset
from backprop.errors import InvalidInputError

#: target columns of integers with at most this many distinct values are classes, not numbers
MAX_INT_CLASSES = 50
#: the first bytes of a zip archive (a .npz file): a local file header, or an empty archive
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: the most bytes of arrays a .npz may declare (16 GiB): more is a corrupt or hostile archive
MAX_NPZ_BYTES = 1 << 34


def file_fingerprint(path: str | os.PathLike) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of a file's bytes: what a model records of the file
    it was trained on, to know that file again (under any name) and to notice that it changed."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def file_format(path: str | os.PathLike) -> str | None:
    """"csv", "npz" or "parquet" from the file name (a trailing .gz is looked through), else None."""
    p = os.fspath(path).lower()
    p = p.removesuffix(".gz")
    if p.endswith(CSV_SUFFIXES):
        return "csv"
    if p.endswith(".npz"):
        return "npz"
    if p.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def check_file(path: str) -> str:
    """The format of the existing data file ``path`` (see :func:`file_format`)."""
    if not os.path.exists(path):
        raise InvalidInputError(f"data file {path!r} does not exist")
    if os.path.isdir(path):
        raise InvalidInputError(f"{path!r} is a folder, not a data file")
    fmt = file_format(path)
    if fmt is None:
        raise InvalidInputError(
            f"unknown data file type of {path!r}; use .csv, .tsv, .npz or .parquet (.csv.gz works too)"
        )
    return fmt


def load_file(path: str | os.PathLike, *, target: str | Sequence[str] | None = None,
              task: str | None = None, require_target: bool = True,
              feature_names: Sequence[str] | None = None, header: bool | None = None) -> Dataset:
    """Load a CSV/TSV, .npz or Parquet file as a :class:`Dataset` (no test part).

    ``target`` names the target column (default: the last; for .npz the array ``y``).
    ``feature_names``, when given, selects those columns as the features (in that order).
    ``header`` (CSV/TSV only): None (default) reads the first line as the column names and refuses
    a first line that is numbers like the data (a file without a header) with a hint at
    --no-header; True takes the first line as the names without that check; False reads every line
    as data and names the columns "0", "1", ..., so ``target`` is then a column number as a string
    ("0" is the first column; default still the last) and ``options`` records ``{"header": False}``.
    """
    path = os.fspath(path)
    fmt = check_file(path)
    if header is False and fmt != "csv":
        raise InvalidInputError(f"--no-header applies to CSV/TSV files, not to the {fmt} file {path}")
    if fmt == "npz":
        ds = _load_npz(path, require_target=require_target, feature_names=feature_names)
    else:
        if fmt == "csv":
            ds = _load_csv(path, target=target, require_target=require_target, feature_names=feature_names,
                           header=header)
        else:
            names, columns = _read_parquet_columns(path)
            ds = _table_dataset(path, names, columns, target=target, require_target=require_target,
                                feature_names=feature_names)
    if ds.y is not None:
        ds.task = task or guess_task(ds.y)
        if ds.task == "regression":
            ds.y = _numeric_target(ds.y, ds.target, path)
        elif ds.y.dtype.kind == "f":
            _finite_target(ds.y, ds.target, path)
    elif task:
        ds.task = task
    ds.options = {"header": False} if header is False else {}
    return ds


def _finite_target(y, name, path):
    bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    if bad.any():
        raise InvalidInputError(
            f"target {name!r} of {path} holds NaN or infinity at row {int(np.flatnonzero(bad)[0]) + 1}; "
            "remove or impute it"
        )


def guess_task(y: ArrayLike) -> str:
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
    with np.errstate(over="ignore", invalid="ignore"):  # float128 beyond float64 becomes inf
        y = y.astype(np.float64)
    _finite_target(y, name, path)
    return y


def _load_npz(path, *, require_target, feature_names):
    arrays = _npz_arrays(path)
    if "X" not in arrays:
        raise InvalidInputError(f"{path} has no array 'X' (arrays: {', '.join(arrays) or 'none'})")
    X = _npz_matrix(arrays["X"], "X", path)
    names = ([str(n) for n in np.ravel(arrays["feature_names"]).tolist()] if "feature_names" in arrays
             else [f"x{i}" for i in range(X.shape[1])])
    if len(names) != X.shape[1]:
        raise InvalidInputError(
            f"{path}: feature_names has {len(names)} names but X has {X.shape[1]} columns"
        )
    _finite_matrix(X, "X", path, names)
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
        _finite_matrix(ds.X_test, "X_test", path, names)
        if "y_test" in arrays:
            ds.y_test = _npz_target(arrays["y_test"], path, "y_test", ds.X_test.shape[0])
        elif y is not None:
            raise InvalidInputError(f"{path} has X_test but no y_test")
    return ds


def _npz_arrays(path):
    """The arrays of a .npz file: its magic bytes and declared sizes checked first, no pickle."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic not in ZIP_MAGIC:
        raise InvalidInputError(
            f"{path} is not a .npz file: a .npz is a zip archive of arrays, as numpy.savez writes "
            f"(its first bytes are {magic.hex() or 'none: it is empty'})"
        )
    try:
        # our own handle: np.load leaks the one it opens when the zip directory is unreadable
        with open(path, "rb") as f:
            with zipfile.ZipFile(f) as zf:  # sizes from the directory, before anything is inflated
                size = sum(info.file_size for info in zf.infolist())
            if size > MAX_NPZ_BYTES:
                raise InvalidInputError(f"{path} declares {size:,} bytes of arrays, more than the "
                                        f"{MAX_NPZ_BYTES:,} a .npz may hold here")
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except InvalidInputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InvalidInputError(
                f"cannot read {path}: {exc} (object arrays are refused: no pickle)"
            ) from None
        raise InvalidInputError(f"{path} is not a valid .npz file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise InvalidInputError(f"cannot read {path} as .npz: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, zlib.error, MemoryError, ...
        raise InvalidInputError(f"{path} is not a valid .npz file: {exc}") from None


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
    with np.errstate(over="ignore", invalid="ignore"):  # float128 beyond float64 becomes inf
        return X.astype(np.float64)


def _finite_matrix(X, name, path, names):
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InvalidInputError(f"{path}: {name} holds NaN or infinity at row {r + 1}, column {c + 1} "
                                f"({names[c]!r}); remove or impute it")


def _npz_target(y, path, name, m):
    if y.ndim not in (1, 2) or y.shape[0] != m:
        raise InvalidInputError(f"{path}: {name} has shape {y.shape} but there are {m} rows of X")
    if y.dtype.kind not in "iufbUS":
        raise InvalidInputError(f"{path}: {name} must hold numbers or strings, got dtype {y.dtype}")
    if y.dtype.kind == "S":
        y = y.astype(str)
    return y


class _Columns(list):
    """Column arrays plus the file line of each row (None for files without lines)."""

    def __init__(self, cols, lines=None) -> None:
        super().__init__(cols)
        self.lines = lines

    def where(self, i):
        return f"row {i + 1}" + (f" (line {self.lines[i]})" if self.lines is not None else "")


def _read_parquet_columns(path):
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInputError(
            f"reading Parquet files like {path} needs pyarrow: pip install pyarrow (or convert to CSV)"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's own error classes
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
    if target is not None and not isinstance(target, str):
        target = str(target)  # a column number of a file read with header=False
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


def _load_csv(path, *, target, require_target, feature_names, header):
    """A Dataset from a CSV/TSV file, converted chunk by chunk (the text is never held whole)."""
    with CsvReader(path, header=header) as r:
        header = r.header
        t, feat_idx = _choose_columns(path, header, target=target, require_target=require_target,
                                      feature_names=feature_names)
        Xs, ys, all_lines = [], [], []
        offset = 0
        for rows, lines in r.chunks():
            table = np.array(rows, dtype=str)

            def where(i, offset=offset, lines=lines) -> str:
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
                raise InvalidInputError(
                    f"target column {name!r} of {path} is empty at {where(int(empty[0]))}"
                )
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


def _all_float(col) -> bool:
    try:
        col.astype(np.float64)
    except (ValueError, OverflowError):
        return False
    return True


def feature_indices(header: Sequence[str], feature_names: Sequence[str], path: str | os.PathLike, *,
                    target: str | Sequence[str] | None = None) -> list[int]:
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


def numeric_column(col: ArrayLike, name: str, path: str | os.PathLike,
                   where: Callable[[int], str] = lambda i: f"row {i + 1}") -> np.ndarray:
    """A column as float64; the first non-numeric or non-finite value is an error naming it.

    Text beyond float64 ("1e400") reads as infinity and is refused like "inf" and "nan".
    """
    col = np.asarray(col)
    if col.dtype.kind in "iufb":
        with np.errstate(over="ignore", invalid="ignore"):
            out = col.astype(np.float64)
    else:
        try:
            out = col.astype(np.float64)
        except (ValueError, OverflowError, TypeError):
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
            f"column {name!r} of {path} holds NaN or infinity at {where(i)} ({col[i]!s:.20}; a number "
            "beyond ±1.8e308 reads as infinity); remove or impute it"
        )
    return out


def iter_feature_chunks(path: str | os.PathLike, feature_names: Sequence[str], *,
                        target: str | Sequence[str] | None = None, chunk_rows: int = 8192,
                        header: bool | None = None) -> Iterator[np.ndarray]:
    """Yield float64 feature chunks of a data file, streaming CSV/TSV files ``chunk_rows`` at a time.

    Columns are matched to the model's ``feature_names`` by name when all are present, else by
    position (ignoring the ``target`` column if the file has it). ``header`` as in :func:`load_file`.
    """
    path = os.fspath(path)
    fmt = check_file(path)
    if fmt != "csv":
        ds = load_file(path, target=target, require_target=False, feature_names=feature_names,
                       header=header)
        for s in range(0, ds.X.shape[0], chunk_rows):
            yield ds.X[s:s + chunk_rows]
        return
    if target is not None and not isinstance(target, str):
        target = str(target)
    with CsvReader(path, header=header) as r:
        idx = feature_indices(r.header, feature_names, path, target=target)
        any_rows = False
        for rows, lines in r.chunks(chunk_rows):
            any_rows = True
            table = np.array(rows, dtype=str)
            lines = np.asarray(lines)

            def where(i, lines=lines) -> str:
                return f"line {lines[i]}"

            X = np.empty((len(rows), len(idx)), dtype=np.float64)
            for i, j in enumerate(idx):
                X[:, i] = numeric_column(table[:, j], r.header[j], path, where)
            yield X
        if not any_rows:
            raise InvalidInputError(f"{path} has a header but no data rows")
