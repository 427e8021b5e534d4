"""``backprop evaluate``: a model's loss, accuracy or R^2, confusion matrix, precision and recall."""

from __future__ import annotations

from typing import Any

import click
import numpy as np
from rich.table import Table

from backprop.cli.common import UI, data_options, debug_option, model_data, pop_data_options
from backprop.cli.errors import user_errors
from backprop.cli.heldout import SPLITS, pick_part
from backprop.cli.model import FIRST, load_model
from backprop.errors import InvalidInputError


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", required=False)
@click.option("--split", type=click.Choice(SPLITS),
              help="Part of DATA to evaluate (default: its test part if it has one; for the file the model "
                   "was trained on, unchanged, the rows held out of training, 'validation'; else all rows).")
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (loss, accuracy or r2, n, ...).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
@user_errors
def evaluate(model: Any, data: Any, split: Any, as_json: bool, quiet: bool, **kw: Any) -> Any:
    """Evaluate MODEL on DATA (default: the data it was trained on; built-ins: their test part).

    MODEL is a file written by `backprop train`, Network.save or MLPClassifier/MLPRegressor.save.
    """
    ui = UI(quiet, as_json)
    data_opts = pop_data_options(kw)
    m = load_model(model, FIRST)
    meta = m.meta
    data, ds = model_data(m, data, data_opts, require_target=True)
    X, y, split = pick_part(m, data, ds, split)
    if y is None:
        raise InvalidInputError(f"{data} has no target column {meta.get('target')!r} to evaluate against")
    result, pred, truth = m.scores(X, y, data)
    result = {"data": data, "split": split, **result}
    if meta["task"] == "classification":
        K = len(meta["classes"])
        cm = np.zeros((K, K), dtype=np.int64)
        np.add.at(cm, (truth, pred), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.diag(cm) / cm.sum(axis=0)
            recall = np.diag(cm) / cm.sum(axis=1)
        result["classes"] = meta["classes"]
        result["confusion_matrix"] = cm.tolist()
        result["precision"] = [None if np.isnan(v) else float(v) for v in precision]
        result["recall"] = [None if np.isnan(v) else float(v) for v in recall]
    ui.dump(result)
    if not (ui.quiet or ui.json):
        _print_evaluation(ui, result)
    return 0


def _print_evaluation(ui, r):
    part = {"all": "all rows", "validation": "the rows held out of training"}.get(r["split"],
                                                                                   f"{r['split']} part")
    ui.out.print(f"[bold]{r['data']}[/bold] ({part}, n = {r['n']:,})", soft_wrap=True)
    t = Table()
    t.add_column("loss", justify="right")
    if "accuracy" in r:
        t.add_column("accuracy", justify="right")
        t.add_row(f"{r['loss']:.4f}", f"{r['accuracy']:.2%}")
    else:
        t.add_column("R²", justify="right")
        t.add_column("RMSE", justify="right")
        t.add_row(f"{r['loss']:.4f}", f"{r['r2']:.4f}", f"{r['rmse']:.4g}")
    ui.out.print(t)
    if "confusion_matrix" not in r:
        return
    names = [str(c) for c in r["classes"]]
    if len(names) <= 20:
        ui.out.print("confusion matrix (rows: true class, columns: predicted class)", soft_wrap=True)
        short = max(map(len, names)) > 6  # long names: numbered columns, names on the rows only
        cm = Table()
        cm.add_column("")
        for k, n in enumerate(names):
            cm.add_column(str(k) if short else n, justify="right")
        for k, (n, row) in enumerate(zip(names, r["confusion_matrix"])):
            cm.add_row(f"{k} {n}" if short else n, *[str(v) for v in row])
        ui.out.print(cm)
    else:
        ui.out.print(f"confusion matrix: {len(names)} classes, see --json")
    pr = Table()
    for col in ("class", "precision", "recall", "n"):
        pr.add_column(col, justify="left" if col == "class" else "right")
    for n, p, rc, row in zip(names, r["precision"], r["recall"], r["confusion_matrix"]):
        pr.add_row(n, "-" if p is None else f"{p:.3f}", "-" if rc is None else f"{rc:.3f}", str(sum(row)))
    ui.out.print(pr)
