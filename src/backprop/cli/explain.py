"""``backprop explain``: one backpropagation update worked out number by number (see
:func:`backprop.explain`), for a new network (``--layers``, ``--hidden``, ``--output``, ``--seed``)
or a saved model and rows of its data set (``--model``, ``--row``)."""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np
from rich.console import Console

from backprop.cli.common import SEED, dataset_of_model, parse_floats, parse_widths
from backprop.cli.errors import user_errors
from backprop.cli.model import load_checked
from backprop.data import targets
from backprop.data.datasets import apply_standardize
from backprop.errors import InvalidInputError
from backprop.model.network import Network
from backprop.see.explain import FORMATS, MAX_SAMPLES, MODES
from backprop.see.explain import explain as make_explanation

#: the learning rate of a new network's update (a saved model's own is used for it)
DEFAULT_LR = 0.5
#: other names of the formats: --format md is markdown
FORMAT_ALIASES = {"md": "markdown"}


@click.command("explain")
@click.option("--layers", default=None, metavar="L,M,N",
              help="Widths of a new network from input to output [default: 2,2,1].")
@click.option("--hidden", default=None, metavar="NAME[,NAME...]",
              help="Hidden activation g_h, one for all or one per hidden layer [default: sigmoid].")
@click.option("--output", "output_act", default=None, metavar="NAME",
              help="Output activation g_o [default: sigmoid].")
@click.option("--loss", default=None, help="mse, binary_cross_entropy or cross_entropy [default: mse, "
                                           "or the model's].")
@click.option("--seed", type=SEED, default=None, help="Seed of the new network's weights [default: 0].")
@click.option("--x", "x_text", default=None, metavar="X1,X2,...",
              help="The sample's inputs (batch modes: rows separated by ';').")
@click.option("--y", "y_text", default=None, metavar="Y1,...",
              help="Its target: one number per output, or a class index for a softmax output "
                   "(batch modes: one per row, separated by ';').")
@click.option("--lr", type=float, default=None,
              help=f"Learning rate eta of the delta rule (5) [default: the model's, else {DEFAULT_LR}].")
@click.option("--l1", type=float, default=0.0, show_default=True,
              help="An L1 penalty l1 sum |w|: the update adds its subgradient l1 sign(w) to each weight's "
                   "gradient, and the document shows that term.")
@click.option("--mode", type=click.Choice(MODES), default="online", show_default=True,
              help="online: one sample; batch: one update with the mean gradient of the samples (eq. 3); "
                   "minibatch: the first mini-batch of an epoch.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=None,
              help=f"Batch modes: how many samples (rows) [default: those given, at most {MAX_SAMPLES}].")
@click.option("--format", "fmt", type=click.Choice([*FORMATS, *FORMAT_ALIASES]), default="text",
              show_default=True, help="How to write the document (md: markdown).")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="A saved model to explain.")
@click.option("--row", type=int, default=None,
              help="With --model: the row (0 = first) of its data set (batch modes: the first row).")
@click.option("--data", default=None, help="With --row: the data set [default: the model's].")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="With --row: which part of the data set.")
@click.option("--all", "show_all", is_flag=True, help="Show every unit and weight of a large network.")
@click.option("--digits", type=click.IntRange(1, 15), default=4, show_default=True,
              help="Significant digits of the computed numbers.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the document to this file instead of the terminal.")
@user_errors
def explain(layers: Any, hidden: Any, output_act: Any, loss: Any, seed: Any, x_text: Any, y_text: Any,
            lr: Any, l1: Any, mode: Any, samples: Any, fmt: Any, model: Any, row: Any, data: Any, split: Any,
            show_all: Any, digits: Any, out: Any) -> Any:
    """Work out one backpropagation update, number by number, in the reference's notation.

    The forward pass (1)-(4), the error E, the error terms (i) and (ii) (eq. 4 per hidden layer),
    the weight updates (iii)/(iv) with old and new values, and the error after the update.
    """
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    batch = mode != "online"
    if samples is not None and not batch:
        raise InvalidInputError("--samples applies to --mode batch or minibatch")
    if model is not None:
        for name, val in (("--layers", layers), ("--hidden", hidden), ("--output", output_act),
                          ("--seed", seed)):
            if val is not None:
                raise InvalidInputError(f"{name} describes a new network; it does not apply with --model")
        net, x, y, note, lr, loss = _model_sample(model, row, data, split, x_text, y_text, lr, loss, batch,
                                                  samples)
    else:
        if row is not None or data is not None:
            raise InvalidInputError("--row and --data choose a row of a saved model's data set; give --model")
        net = _new_network(layers, hidden, output_act, seed)
        loss = loss or "mse"
        lr = DEFAULT_LR if lr is None else lr
        note = None
        x, y = _given_sample(net, x_text, y_text, batch, samples, 0 if seed is None else seed)
    kw = {"mode": mode, "samples": samples if batch else None, "l1": l1}
    if batch and samples is None:
        kw["samples"] = min(len(x), MAX_SAMPLES)
    doc = make_explanation(net, x, y, lr=lr, loss=loss, format=fmt, all=show_all, digits=digits, note=note,
                           **kw)
    if out is not None:
        doc.save(out)
        click.echo(f"wrote {out}")
    elif fmt == "text" and sys.stdout.isatty():
        Console(soft_wrap=True, highlight=False).print(doc)
    else:
        click.echo(str(doc), nl=False)


def _new_network(layers, hidden, output_act, seed):
    sizes = parse_widths(layers or "2,2,1", "--layers", example="2,2,1", allow_empty=False)
    hid = (hidden or "sigmoid").split(",")
    hid = hid[0] if len(hid) == 1 else hid
    if len(sizes) <= 2:
        hid = "sigmoid"
    return Network(sizes, hidden=hid, output=output_act or "sigmoid", seed=0 if seed is None else seed,
                   dtype="float64")


def _default_sample(net, seed):
    L, N = net.sizes[0], net.sizes[-1]
    x = [0.05, 0.1] if L == 2 else np.round(np.random.default_rng(seed).uniform(-1, 1, L), 2).tolist()
    if net.output == "softmax":
        return x, 0
    return x, [0.5 if net.output == "tanh" else 1.0] * N


def _rows(text, option):
    return [parse_floats(part, option) for part in text.split(";") if part.strip()]


def _target(values, net):
    """--y numbers: a class index for a softmax network given one number, else the numbers."""
    return int(values[0]) if net.output == "softmax" and len(values) == 1 else values


def _given_sample(net, x_text, y_text, batch, samples, seed):
    """(x, y) of a new network: --x/--y, or the defaults (the worked example's sample for 2 inputs;
    batch modes: that many random rows)."""
    if not batch:
        x, y = _default_sample(net, seed)
        if x_text is not None:
            x = parse_floats(x_text, "--x")
        if y_text is not None:
            y = _target(parse_floats(y_text, "--y"), net)
        return x, y
    rng = np.random.default_rng(seed)
    if x_text is not None:
        X = _rows(x_text, "--x")
    else:
        X = np.round(rng.uniform(-1, 1, (samples or 4, net.sizes[0])), 2).tolist()
    if y_text is not None:
        Y = [_target(r, net) for r in _rows(y_text, "--y")]
    else:
        Y = [_default_sample(net, seed)[1] for _ in X]
    if len(Y) != len(X):
        raise InvalidInputError(f"--x gives {len(X)} rows but --y gives {len(Y)} targets")
    return X, Y


def _model_sample(path, row, data, split, x_text, y_text, lr, loss, batch, samples):
    """(net, x, y, note, lr, loss) for a saved model: its own learning rate and loss unless given."""
    net = load_checked(path, "--model")
    if not isinstance(net, Network):
        raise InvalidInputError(f"{path} holds a {type(net).__name__}; explain works out updates of a "
                                "Network (saved by backprop train or Network.save)")
    meta = dict(getattr(net, "metadata", None) or {})
    loss = loss or meta.get("loss") or "mse"
    training = meta.get("training") or {}
    if lr is None:
        lr = training.get("lr") or DEFAULT_LR
    stats = meta.get("standardize")
    if row is not None:
        if x_text is not None or y_text is not None:
            raise InvalidInputError("give either --row or --x/--y, not both")
        x, y_raw, note = _data_rows(net, meta, path, row, data, split, batch, samples)
        y = [targets.one_row(v, meta, net.sizes[-1]) for v in y_raw] if batch else \
            targets.one_row(y_raw, meta, net.sizes[-1])
        if stats:
            note += " The inputs are standardized as in training: x = (row - mean) / scale."
        if meta.get("target_standardize") and not meta.get("classes"):
            note += " The target is standardized with the training statistics too, as the model learnt it."
    else:
        if x_text is None or y_text is None:
            raise InvalidInputError("with --model give --row N (a row of its data set) or both --x and --y")
        if batch:
            x, y = _rows(x_text, "--x"), [_target(r, net) for r in _rows(y_text, "--y")]
        else:
            x, y = [parse_floats(x_text, "--x")], _target(parse_floats(y_text, "--y"), net)
        note = ("The inputs given are standardized as in training: x = (given - mean) / scale."
                if stats else None)
    if "lr" in training and lr == training["lr"]:
        opt = training.get("optimizer")
        note = (note + " " if note else "") + (
            f"The learning rate is the model's own, eta = {lr:g}" +
            (f" (it trained with {opt}; this is one plain delta-rule step)."
             if opt and opt != "sgd" else "."))
    x = np.asarray(x, dtype=float)
    if stats:
        x = apply_standardize(x, stats)
    return net, (x if batch else x[0]), y, note, lr, loss


def _data_rows(net, meta, path, row, data, split, batch, samples):
    """Raw rows of the model's data set and a sentence about them (with the target class)."""
    ds = dataset_of_model(data, meta, path)
    X, Y = ds.part(split)
    if Y is None:
        raise InvalidInputError(f"the data set {ds.name!r} has no target column to explain against")
    if not 0 <= row < X.shape[0]:
        raise InvalidInputError(f"--row must lie in 0..{X.shape[0] - 1} for the {split} part of "
                                f"{ds.name!r}, got {row}")
    K = (samples or MAX_SAMPLES) if batch else 1
    rows = slice(row, min(row + K, X.shape[0]))
    raw = [v.item() if np.ndim(v) == 0 and hasattr(v, "item") else v for v in Y[rows]]
    where = f"of the {split} part of the data set {ds.name!r}"
    if batch:
        note = f"The samples are rows {rows.start}..{rows.stop - 1} {where}."
        return X[rows], raw, note
    note = f"The sample is row {row} {where} (target {raw[0]!r}"
    classes = meta.get("classes")
    if classes and net.output == "softmax":
        k = int(targets.one_row(raw[0], meta, net.sizes[-1]))
        note += f": class {k} of {len(classes)}, the one-hot target y has y_{k + 1} = 1"
    note += ")."
    return X[rows], raw[0], note
