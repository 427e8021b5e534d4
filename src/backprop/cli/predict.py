"""``backprop predict``: one CSV row of predictions (labels, optionally probabilities) per input row.

CSV files are streamed chunk by chunk. The output is written atomically to ``--out``, or to stdout
only once every row is predicted: an error half-way prints the error line and nothing else.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from typing import Any

import click

from backprop.cli.common import (
    check_out_path,
    data_options,
    debug_option,
    model_data,
    placeholder_names,
    pop_data_options,
    same_file,
)
from backprop.cli.errors import user_errors
from backprop.cli.heldout import SPLITS, pick_part
from backprop.cli.model import FIRST, load_model
from backprop.data import datasets, targets
from backprop.errors import InvalidInputError
from backprop.io.atomic import atomic_open

#: predictions kept in memory before the stdout buffer moves to a temporary file
SPOOL_BYTES = 16 * 2**20


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option("--out", type=click.Path(), help="CSV file to write (default: standard output).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@click.option("--split", type=click.Choice(SPLITS),
              help="Part of DATA (default: a built-in's test part; for the file the model was trained on, "
                   "unchanged, the rows held out of training; else all rows).")
@click.option("--chunk-size", type=click.IntRange(1, 10_000_000), default=8192, show_default=True,
              help="Rows read and predicted at a time (CSV files are streamed).")
@data_options
@debug_option
@user_errors
def predict(model: Any, data: Any, out: Any, proba: Any, split: Any, chunk_size: Any,
            **kw: Any) -> Any:
    """Predict DATA (a file or a built-in) with MODEL and write one CSV row per input row.

    Class labels come out as the original labels of the training data. MODEL is a file written by
    `backprop train`, Network.save or MLPClassifier/MLPRegressor.save.
    """
    data_opts = pop_data_options(kw)
    m = load_model(model, FIRST)
    meta = m.meta
    recorded = meta.get("dataset") or {}
    if data == recorded.get("name") and recorded.get("header") is False:  # the file it trained on
        data_opts.setdefault("header", False)
    if proba and meta["task"] != "classification":
        raise InvalidInputError("--proba needs a classification model; this one predicts numbers")
    if out is not None:
        out = check_out_path(out)
        if same_file(out, data):
            raise InvalidInputError(f"--out {out!r} is the input file; choose another name")
        if same_file(out, model):  # the predictions would replace the model
            raise InvalidInputError(f"--out {out!r} is the model file itself; choose another name")
    data, chunks = _input_chunks(m, data, data_opts, split, chunk_size)
    header = _prediction_header(meta, m.sizes[-1], proba)
    sep = "\t" if out and out.lower().endswith((".tsv", ".tab")) else ","

    def write_all(f):
        w = csv.writer(f, delimiter=sep, lineterminator="\n")
        w.writerow(header)
        for X in chunks:
            w.writerows(_prediction_rows(m, X, data, proba))

    _write_out(out, write_all)
    return 0


def _input_chunks(m, data, data_opts, split, chunk_size):
    """``(data, chunks of feature rows)``: a CSV file streamed, unless it may be the training file
    (its held-out rows are the default), anything else read whole and its part picked."""
    meta = m.meta
    stream = (os.path.exists(data) and datasets.file_format(data) == "csv"
              and (split == "all" or (split is None and not _may_be_training_file(m, data)))
              and not data_opts.get("test_fraction") and not data_opts.get("test_file"))
    if stream:
        for key in ("n_samples", "noise", "seed", "classes", "data_dir"):
            if key in data_opts:
                raise InvalidInputError(f"--{key.replace('_', '-')} does not apply to the file {data!r}")
        names = meta.get("feature_names") or placeholder_names(m.n_features)
        chunks = datasets.iter_feature_chunks(data, names, target=data_opts.get("target", meta.get("target")),
                                              chunk_rows=chunk_size, header=data_opts.get("header"))
        return data, chunks
    data, ds = model_data(m, data, data_opts, require_target=False)
    X, _, split = pick_part(m, data, ds, split, "predicting")
    if split == "validation":
        click.echo(f"note: predicting the {X.shape[0]:,} rows of {data} held out of training (its "
                   "validation part, in file order); --split all predicts every row", err=True)
    return data, (X[s:s + chunk_size] for s in range(0, X.shape[0], chunk_size))


def _prediction_rows(m, X, data, proba):
    """The CSV rows of one chunk: labels (and probabilities), or the predicted numbers."""
    meta = m.meta
    values, p = targets.decode(m.outputs(X, data), meta)
    if meta["task"] == "classification":
        cols = [[str(v) for v in values.tolist()]]
        if proba:
            assert p is not None  # a classifier's probabilities
            cols += [[f"{v:.6g}" for v in p[:, k].tolist()] for k in range(p.shape[1])]
    else:
        cols = [[repr(v) for v in values[:, k].tolist()] for k in range(values.shape[1])]
    return zip(*cols)


def _write_out(out, write_all):
    """Run ``write_all`` into ``out`` atomically, or into a spool copied to stdout only once it is
    complete (an error half-way leaves nothing written)."""
    if out is None:
        with tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8", newline="") as buf:
            write_all(buf)
            buf.seek(0)
            shutil.copyfileobj(buf, sys.stdout)
        sys.stdout.flush()
    else:
        with atomic_open(out, "wb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write_all(text)
            text.flush()
            text.detach()


def _may_be_training_file(m, data) -> bool:
    """Whether ``data`` may be the file ``m`` was trained on (it is then read whole, to find the
    rows held out of training): it has the recorded size, or the recorded name."""
    recorded = m.meta.get("dataset") or {}
    record = recorded.get("split") or {}
    size = (record.get("file") or {}).get("bytes")
    return m.kind == "network" and (data == recorded.get("name") or same_file(data, recorded.get("name"))
                                    or (size is not None and os.path.getsize(data) == size))


def _prediction_header(meta, n_out, proba):
    target = meta.get("target")
    if meta["task"] == "classification":
        cols = [target if isinstance(target, str) and target else "prediction"]
        if proba:
            cols += [f"proba_{c}" for c in meta["classes"]]
        return cols
    if isinstance(target, list) and len(target) == n_out:
        return [str(t) for t in target]
    if n_out == 1:
        return [target if isinstance(target, str) and target else "prediction"]
    return [f"prediction_{k}" for k in range(n_out)]
