"""Files in and out of the playground: uploaded CSV files, model files and explain documents."""

from __future__ import annotations

import os
import secrets
from typing import Any

from backprop.data.datasets import CSV_SUFFIXES, CsvReader
from backprop.errors import InvalidInputError
from backprop.io.atomic import atomic_write_bytes
from backprop.playground import config as _config
from backprop.playground import features as _features
from backprop.see.explain import explain

MAX_ROWS = 50_000
MEDIA = {"text": ("text/plain; charset=utf-8", "txt"), "markdown": ("text/markdown; charset=utf-8", "md"),
         "latex": ("application/x-latex; charset=utf-8", "tex"), "html": ("text/html; charset=utf-8", "html")}


def store_upload(folder: str, data: bytes, filename: str) -> dict:
    """Write an uploaded CSV into ``folder`` under a name of our own; its columns and row count."""
    shown = os.path.basename(filename or "data.csv")[:120] or "data.csv"
    suffix = os.path.splitext(shown)[1].lower()
    if suffix not in CSV_SUFFIXES:
        raise InvalidInputError(f"{shown!r} is not a CSV file: upload a .csv (or .tsv) file with a "
                                "header line")
    if not data.strip():
        raise InvalidInputError(f"{shown} is empty: it needs a header line and data rows")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{shown} is not UTF-8 text (byte {exc.start}): save it as UTF-8 "
                                "CSV") from None
    path = os.path.join(folder, f"upload-{secrets.token_hex(6)}{suffix}")
    atomic_write_bytes(path, data)
    try:
        with CsvReader(path) as reader:
            columns = list(reader.header)
            rows = sum(len(chunk) for chunk, _ in reader.chunks())
    except InvalidInputError as exc:
        os.remove(path)
        raise InvalidInputError(str(exc).replace(path, shown)) from None
    if len(columns) < 2:
        os.remove(path)
        raise InvalidInputError(f"{shown} has {len(columns)} column; it needs feature columns and a "
                                "target column")
    if not 4 <= rows <= MAX_ROWS:
        os.remove(path)
        raise InvalidInputError(f"{shown} has {rows} data rows; the playground takes 4 to {MAX_ROWS}")
    return {"path": path, "filename": shown, "columns": columns, "rows": rows}


def _metadata(session) -> dict:
    """What ``backprop predict``/``evaluate`` need to use the exported network on raw data."""
    d, cfg = session.data, session.cfg
    meta = {"task": d.task, "feature_names": d.feature_names, "target": d.target, "loss": d.loss,
            "standardize": d.standardize, "dataset": {"name": cfg["data"], "options": {}},
            "training": {**{k: cfg[k] for k in ("layers", "hidden", "mode", "batch_size", "lr",
                                                "optimizer", "l2", "l1", "seed")},
                         "output": d.output, "loss": d.loss},
            "history": session.trainer.history.to_dict(), "source": "playground"}
    if d.classes is not None:
        meta["classes"] = d.classes
    if d.task == "regression" and session.net.output == "identity":
        meta["target_standardize"] = d.target_standardize
    if cfg["data"] in _config.BUILTINS:
        # what datasets.load needs to draw the same rows and the same test part again
        opts = {"n_samples": cfg["n_samples"], "seed": cfg["data_seed"], "noise": cfg["noise"],
                "test_fraction": cfg["val_fraction"] or None}
        meta["dataset"]["options"] = {k: v for k, v in opts.items() if v is not None}
    if d.features is not None and d.features != _features.DEFAULT:
        # the inputs are feature columns (x1^2, sin(x1), ...), not the data's own: `backprop predict`
        # reads them by these names from a CSV; the data set itself has only x1, x2, so it is not recorded
        meta["input_features"] = {"features": list(d.features), "names": list(d.feature_names),
                                  "computed_from": list(d.raw_names)}
        del meta["dataset"]
    return meta


def model_bytes(session: Any, folder: str) -> bytes:
    """The current network as a model file (``backprop.load`` reads it)."""
    path = os.path.join(folder, f"model-{secrets.token_hex(6)}.safetensors")
    session.net.save(path, **_metadata(session))
    try:
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.remove(path)


def explain_text(session: Any, fmt: str, sample: int = 0) -> tuple[str, str, str]:
    """The explain document of one sample of the last update, worked out on the weights it used.

    Before any update: the first training row on the current weights. Returns (text, media type, suffix).
    """
    if fmt not in MEDIA:
        raise InvalidInputError(f"unknown format {fmt!r}; choose one of: {', '.join(MEDIA)}")
    net, s = session.net, session.last
    if s is None:
        x, y, lr, note = session.data.X[0], session.data.Y[0], session.cfg["lr"], None
    else:
        if isinstance(sample, bool) or not 0 <= sample < len(s["batch"]):
            raise InvalidInputError(f"sample must be from 0 to {len(s['batch']) - 1}, got {sample!r}")
        net = session.net.copy()  # the network as it was before that update
        net.weights = [w.copy() for w in s["weights_before"]]
        net.biases = [b.copy() for b in s["biases_before"]]
        x, y, lr = s["x"][sample], s["y"][sample], s["lr"]
        m = len(s["batch"])
        note = (f"Training row {int(s['batch'][sample])}, sample {sample + 1} of the {m} in update "
                f"{s['n_update']} ({session.cfg['mode']} mode)."
                + (f" That update averaged the {m} samples' gradients, eq. (3); this document works out "
                   "the online update of this sample alone." if m > 1 else ""))
    doc = explain(net, x, y, lr=lr, loss=session.data.loss, format=fmt, note=note)
    media, ext = MEDIA[fmt]
    return str(doc), media, ext
