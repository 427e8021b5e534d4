"""``backprop info``: a model file's architecture, activations, loss, parameters and training."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from backprop.cli.common import UI, debug_option, jsonable
from backprop.cli.errors import user_errors
from backprop.cli.model import load_model

#: the estimator parameters `info` shows
ESTIMATOR_SETTINGS = ("solver", "learning_rate_init", "learning_rate", "batch_size", "alpha", "max_iter",
                      "early_stopping", "random_state")


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the architecture and metadata as JSON.")
@debug_option
@user_errors
def info(model: Any, as_json: bool) -> Any:
    """Show MODEL's architecture, activations, loss, parameter count and training history.

    MODEL is a file written by `backprop train`, Network.save or MLPClassifier/MLPRegressor.save.
    """
    m = load_model(model)
    ui = UI(False, as_json)
    names = _activation_names(m)
    layers = [{"layer": k + 1, "in": m.sizes[k], "out": m.sizes[k + 1], "activation": names[k],
               "parameters": (m.sizes[k] + 1) * m.sizes[k + 1]} for k in range(len(m.sizes) - 1)]
    doc = {"model": model, "kind": m.kind, "sizes": list(m.sizes), "layers": layers, "dtype": m.dtype.name,
           "n_parameters": m.n_parameters, "metadata": m.meta if m.net is not None else _estimator_doc(m)}
    ui.dump(doc)
    if as_json:
        return 0
    what = f"{m.meta['estimator']} ({m.kind})" if m.estimator is not None else "network"
    ui.out.print(f"[bold]{model}[/bold]: {'-'.join(map(str, m.sizes))} {what}, {m.dtype.name}",
                 soft_wrap=True)
    t = Table()
    for col in ("layer", "in", "out", "activation", "parameters"):
        t.add_column(col, justify="left" if col == "activation" else "right")
    for L in layers:
        t.add_row(str(L["layer"]), str(L["in"]), str(L["out"]), L["activation"], f"{L['parameters']:,}")
    t.add_row("", "", "", "total", f"{m.n_parameters:,}")
    ui.out.print(t)
    ui.out.print(_details(m) if m.net is not None else _estimator_details(m))
    return 0


def _activation_names(m):
    if m.net is not None:
        return [a.name for a in m.net.activations]
    est = m.estimator
    n_hidden = len(m.sizes) - 2
    hidden = [est.activation] * n_hidden if isinstance(est.activation, str) else list(est.activation)
    return [str(h) for h in hidden] + [str(est.out_activation_)]


def _estimator_doc(m):
    est = m.estimator
    fitted = {k: getattr(est, k) for k in ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
                                           "loss_curve_", "validation_scores_") if hasattr(est, k)}
    return jsonable_tree(dict(m.meta, params=est.get_params(deep=False), fitted=fitted))


def jsonable_tree(obj: Any) -> Any:
    """Parameters and fitted attributes as JSON values (tuples as lists, NumPy scalars as numbers,
    anything else -- a callback, a random state -- by its repr)."""
    if isinstance(obj, dict):
        return {str(k): jsonable_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable_tree(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    try:
        return jsonable(obj)
    except TypeError:
        return repr(obj)


def _details(m):
    meta = m.meta
    d = _details_table()
    d.add_row("loss", str(meta.get("loss")))
    d.add_row("task", str(meta.get("task")))
    _classes_row(d, meta)
    ds = meta.get("dataset") or {}
    if ds:
        opts = ", ".join(f"{k}={v}" for k, v in (ds.get("options") or {}).items() if v is not None)
        d.add_row("data", f"{ds.get('name')}" + (f" ({opts})" if opts else ""))
        split = ds.get("split")
        if split:
            fp = split.get("file")
            held = f"{split['validation_rows']:,} of {split['rows']:,} rows (seed {split['seed']})"
            d.add_row("held out", held + (f"; file of {fp['bytes']:,} bytes, SHA-256 {fp['sha256'][:16]}..."
                                          if fp else ""))
    _features_row(d, meta.get("feature_names") or [])
    d.add_row("standardized", "yes" if meta.get("standardize") else "no")
    hist = meta.get("history") or {}
    if hist:
        line = (f"{hist.get('epochs', 0)} epochs, {hist.get('n_updates', 0):,} updates, "
                f"{hist.get('time', 0):.1f} s")
        if hist.get("loss"):
            line += f"; final loss {hist['loss'][-1]:.4f}"
        if hist.get("val_metric"):
            line += f", validation {hist.get('metric')} {hist['val_metric'][-1]:.4f}"
        if hist.get("stopped_early"):
            line += f"; stopped early (best epoch {hist.get('best_epoch')})"
        if hist.get("interrupted"):
            line += "; interrupted"
        d.add_row("training", line)
    tr = meta.get("training") or {}
    if tr:
        keys = ["optimizer", "lr", "schedule", "batch_size", "mode", "l2", "seed"]
        if tr.get("schedule") in ("exponential", "invscaling"):  # its parameter, next to it
            keys.insert(3, "gamma" if tr["schedule"] == "exponential" else "power_t")
        if tr.get("l1"):  # shown only when used (files before L1 have none)
            keys.insert(keys.index("l2") + 1, "l1")
        d.add_row("settings", ", ".join(f"{k}={tr[k]}" for k in keys if tr.get(k) is not None))
    d.add_row("format",
              f"version {meta.get('format_version')}, written by backprop {meta.get('library_version')}")
    return d


def _estimator_details(m):
    est, meta = m.estimator, m.meta
    d = _details_table()
    d.add_row("loss", str(meta["loss"]))
    d.add_row("task", meta["task"])
    _classes_row(d, meta)
    names = meta.get("feature_names")
    if names:
        _features_row(d, names)
    else:
        d.add_row("features", f"{m.n_features} (fitted on an array: columns are taken by position)")
    line = f"{getattr(est, 'n_iter_', 0)} epochs, {getattr(est, 't_', 0):,} samples seen"
    if getattr(est, "loss_", None) is not None:
        line += f"; final loss {est.loss_:.4f}"
    if getattr(est, "best_validation_score_", None) is not None:
        line += f", best validation score {est.best_validation_score_:.4f}"
    d.add_row("training", line)
    params = est.get_params(deep=False)
    d.add_row("settings", ", ".join(f"{k}={params[k]}" for k in ESTIMATOR_SETTINGS if k in params))
    return d


def _details_table():
    d = Table(show_header=False, box=None)
    d.add_column(style="bold")
    d.add_column()
    return d


def _classes_row(d, meta):
    if meta.get("classes") is not None:
        cl = [str(c) for c in meta["classes"]]
        d.add_row("classes", ", ".join(cl[:20]) + (f" ... ({len(cl)})" if len(cl) > 20 else ""))


def _features_row(d, names):
    more = " ..." if len(names) > 8 else ""
    d.add_row("features", f"{len(names)}: " + ", ".join(map(str, names[:8])) + more)
