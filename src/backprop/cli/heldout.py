"""The rows of a data file that a model did not train on, for ``evaluate`` and ``predict``.

``backprop train`` records in the model (metadata ``dataset.split``, see
:func:`backprop.cli.prepare.split_record`) how many rows the file had, the seed and fraction that
drew the validation rows, a digest of those rows and the file's size and SHA-256. Given a file with
those bytes again (under any name), ``evaluate`` and ``predict`` default to the held-out rows
(the "validation" part), found by replaying the split; the digest checks the replay. A file the
model names that has changed since, or a model without the record (an older backprop), gets one
``warning:`` line and every row.
"""

from __future__ import annotations

import os
from typing import Any

import click
import numpy as np

from backprop.cli.common import pick_split, same_file
from backprop.cli.errors import one_line
from backprop.cli.prepare import rows_digest, split_rows
from backprop.data import readers, targets
from backprop.errors import InvalidInputError

#: the --split choices of evaluate and predict
SPLITS = ["train", "validation", "test", "all"]


def warn(message: str) -> None:
    click.echo(f"warning: {one_line(message)}", err=True)


def _replay(model, data, ds, record):
    """(training rows, held-out rows) of ``ds`` by the model's record, or (None, why not)."""
    n = ds.X.shape[0]
    if n != record["rows"]:
        return None, (f"{data} holds the bytes {model.path} was trained on but was read into {n} rows, not "
                      f"the {record['rows']} of training (other --target/--test-fraction options?)")
    class_idx = None
    if record["stratified"]:
        if ds.y is None or model.meta.get("task") != "classification":
            return None, f"{data} was read without its target column, which the held-out rows depend on"
        class_idx = targets.encode(ds.y, model.meta, len(model.meta["classes"]), np.float32)[1]
    fit, val = split_rows(n, record["validation_rows"], record["seed"], class_idx)
    if rows_digest(val) != record["validation_sha256"]:
        return None, f"the rows of {data} held out of training could not be found again (another version?)"
    return (fit, val), None


def held_out(model: Any, data: Any, ds: Any, verb: str = "scoring") -> Any:
    """``((training rows, held-out rows), None)`` when ``data`` is the file ``model`` was trained on,
    unchanged, and it records the split; else ``(None, warning or None)``."""
    if not isinstance(data, str) or not os.path.isfile(data) or model.kind != "network":
        return None, None  # a built-in set, or an estimator (fitted on arrays it does not record)
    recorded = model.meta.get("dataset") or {}
    named = data == recorded.get("name") or same_file(data, recorded.get("name"))
    record = recorded.get("split")
    n = ds.X.shape[0]
    if record is None or "file" not in record:
        if named:
            return None, (f"{model.path} does not record which rows of {data} it was trained on (a model of "
                          f"an older backprop): {verb} all {n:,} rows, the training rows included")
        return None, None
    fp = record["file"]
    same = os.path.getsize(data) == fp["bytes"] and readers.file_fingerprint(data)["sha256"] == fp["sha256"]
    if not same:
        if named:
            return None, (f"{data} has changed since {model.path} was trained on it (its size or SHA-256 "
                          f"differs): {verb} all {n:,} rows")
        return None, None
    if record["validation_rows"] == 0:
        return None, (f"{model.path} was trained on every row of {data} (--val-fraction 0): {verb} all "
                      f"{n:,} rows, the training rows included")
    rows, why = _replay(model, data, ds, record)
    return rows, (None if rows is not None else f"{why}: {verb} all {n:,} rows")


def pick_part(model: Any, data: Any, ds: Any, split: str | None, verb: str = "scoring") -> Any:
    """(X, y, split name) of the part of ``ds`` to score: ``split`` when given; else the test part
    of a data set that has one, else the rows the model did not train on (see :func:`held_out`),
    else all rows (with a warning where those include the training rows)."""
    if ds.has_test or split in ("test", "all"):
        if split == "validation":
            raise InvalidInputError(f"{data} has a test part; use --split test (the rows held out of "
                                    "training), or --split train")
        return pick_split(ds, split)
    rows, warning = held_out(model, data, ds, verb)
    if rows is None:
        if split == "validation":
            why = warning or f"{model.path} was not trained on {data}"
            raise InvalidInputError(f"--split validation: {why}")
        if warning and split is None:
            warn(warning)
        return pick_split(ds, "all" if split is None else split)
    chosen = rows[1] if split in (None, "validation") else rows[0]
    y = None if ds.y is None else ds.y[chosen]
    return ds.X[chosen], y, split or "validation"


__all__ = ["SPLITS", "held_out", "pick_part", "warn"]
