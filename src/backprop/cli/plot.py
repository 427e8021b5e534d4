"""``backprop plot``: a saved model's loss curves, decision regions, gradient flow or weights (see
:mod:`backprop.see.plots`)."""

from __future__ import annotations

import os
from typing import Any

import click

from backprop.cli.common import dataset_of_model
from backprop.cli.errors import user_errors
from backprop.cli.model import load_checked
from backprop.data.datasets import apply_standardize
from backprop.errors import InvalidInputError
from backprop.model.network import Network
from backprop.see import plots


@click.command("plot")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--what", type=click.Choice(["loss", "boundary", "gradients", "weights"]), default="loss",
              show_default=True, help="Which figure to draw.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Image file (.png, .svg or .pdf) [default: MODEL-WHAT.png beside the model].")
@click.option("--data", default=None, help="For boundary: the data set [default: the model's].")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="For boundary: which part of the data set to draw.")
@click.option("--dpi", type=click.IntRange(10, 1000), default=100, show_default=True)
@user_errors
def plot(model: Any, what: Any, out: Any, data: Any, split: Any, dpi: Any) -> Any:
    """Draw a saved model's training curves, decision regions, gradients or weights.

    loss: training/validation loss and metric per epoch (the saved history). boundary: decision
    regions of a 2-D classifier with its data points. gradients: mean |delta| and gradient norm per
    layer (a model trained with `backprop train --record-gradients`). weights: a histogram per layer.
    """
    net = load_checked(model)
    if not isinstance(net, Network):
        raise InvalidInputError(f"{model} holds a {type(net).__name__}; plot draws Networks (saved by "
                                "backprop train or Network.save)")
    meta = getattr(net, "metadata", None) or {}
    if out is None:
        out = f"{os.path.splitext(model)[0]}-{what}.png"
    if what in ("loss", "gradients"):
        history = meta.get("history")
        if not history:
            raise InvalidInputError(f"{model} has no training history in its metadata (save it with "
                                    "history=..., as backprop train does)")
        if what == "loss":
            plots.plot_loss(history, out, dpi=dpi)
        else:
            if not (history.get("mean_abs_delta") and history.get("grad_norm")):
                raise InvalidInputError(f"{model} has no gradient records: train it with `backprop train "
                                        "--record-gradients` (in Python: fit(..., record_gradients=True))")
            plots.plot_gradients(history, out, dpi=dpi)
    elif what == "weights":
        plots.plot_weights(net, out, dpi=dpi)
    else:
        ds = dataset_of_model(data, meta, model)
        X, y = ds.part(split)
        if y is None:
            raise InvalidInputError(f"the data set {ds.name!r} has no target column to colour the points")
        classes = meta.get("classes") or ds.classes
        stats = meta.get("standardize")
        transform = (lambda A: apply_standardize(A, stats)) if stats else None
        sizes = "-".join(map(str, net.sizes))
        plots.plot_boundary(net, X, y, out, transform=transform, classes=classes, dpi=dpi,
                            title=f"{ds.name}: {plots.boundary_title(net)} of the {sizes} network")
    click.echo(f"wrote {out}")
