"""The commands that show backpropagation: ``backprop explain`` and ``backprop plot``.

``cli.py`` registers them on the ``backprop`` group (``from .cli_see import explain, plot``).

* ``explain`` works out one online update in the reference's notation (see :mod:`backprop.explain`)
  for a new network (``--layers``, ``--hidden``, ``--output``, ``--seed``) or a saved model and one
  row of its data set (``--model``, ``--row``).
* ``plot`` draws a saved model's loss curves, decision regions, gradient flow or weight histograms
  (see :mod:`backprop.plots`).

Errors a user can cause print ``error: ...`` on one line of stderr and exit with status 2.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys

import click

from backprop.errors import BackpropError, InvalidInputError

_FORMATS = ("text", "markdown", "latex", "html")
_SUFFIX = {"text": ".txt", "markdown": ".md", "latex": ".tex", "html": ".html"}


def _fail(message):
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def _user_errors(f):
    """Turn the library's errors (and unwritable files) into ``error: ...`` and exit status 2."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except BackpropError as exc:
            _fail(str(exc).replace("\n", " "))
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))

    return wrapper


def _floats(text, option):
    """Numbers separated by commas and/or spaces."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise InvalidInputError(f"{option} needs at least one number, e.g. {option} 0.05,0.1")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise InvalidInputError(f"{option} must be numbers separated by commas, got {text!r}") from None


def _layers(text):
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise InvalidInputError(
            f"--layers must be widths separated by commas like 2,2,1, got {text!r}"
        ) from None
    return sizes


def _load_dataset(spec, where):
    """A data set from a spec string or a model's ``metadata["dataset"]`` ({"name": ..., options})."""
    from backprop.data import datasets

    if isinstance(spec, dict):
        opts = dict(spec)
        if isinstance(opts.get("options"), dict):  # {"name": ..., "options": {...}} as train saves it
            opts.update(opts.pop("options"))
        name = opts.pop("name", None) or opts.pop("path", None) or opts.pop("spec", None)
        if not name:
            raise InvalidInputError(f"{where} does not name its data set; give --data")
        accepted = set(inspect.signature(datasets.load).parameters) - {"spec"}
        return datasets.load(name, **{k: v for k, v in opts.items() if k in accepted and v is not None})
    return datasets.load(spec)


def _model_dataset(meta, data, model):
    if data is not None:
        return _load_dataset(data, "--data")
    spec = meta.get("dataset")
    if not spec:
        raise InvalidInputError(f"{model} does not record its data set; give one with --data")
    return _load_dataset(spec, model)


def _standardize(meta):
    stats = meta.get("standardize")
    if not stats:
        return None
    from backprop.data.datasets import apply_standardize

    return lambda X: apply_standardize(X, stats)


def _target_for(net, meta, y_raw):
    """A model's target for one row: a class index (one-hot by the engine) or the value(s)."""
    import numpy as np

    from backprop.data.datasets import encode_labels

    classes = meta.get("classes")
    if meta.get("task", "classification" if classes else "regression") == "classification" and classes:
        idx = int(encode_labels([y_raw], classes)[0])
        return idx if net.sizes[-1] > 1 else [float(idx)]
    stats = meta.get("target_standardize")
    if stats:  # a regression model learnt standardized targets
        from backprop.data.datasets import apply_standardize

        return apply_standardize(np.reshape(np.asarray(y_raw, dtype=float), (1, -1)), stats)[0]
    return y_raw


def _default_sample(net, seed):
    import numpy as np

    L, N = net.sizes[0], net.sizes[-1]
    x = [0.05, 0.1] if L == 2 else np.round(np.random.default_rng(seed).uniform(-1, 1, L), 2).tolist()
    if net.output == "softmax":
        return x, 0
    return x, [0.5 if net.output == "tanh" else 1.0] * N


@click.command("explain")
@click.option("--layers", default=None, metavar="L,M,N",
              help="Widths of a new network from input to output [default: 2,2,1].")
@click.option("--hidden", default=None, metavar="NAME[,NAME...]",
              help="Hidden activation g_h, one for all or one per hidden layer [default: sigmoid].")
@click.option("--output", "output_act", default=None, metavar="NAME",
              help="Output activation g_o [default: sigmoid].")
@click.option("--loss", default=None, help="mse, binary_cross_entropy or cross_entropy [default: mse, "
                                           "or the model's].")
@click.option("--seed", type=int, default=None, help="Seed of the new network's weights [default: 0].")
@click.option("--x", "x_text", default=None, metavar="X1,X2,...", help="The sample's inputs.")
@click.option("--y", "y_text", default=None, metavar="Y1,...",
              help="Its target: one number per output, or a class index for a softmax output.")
@click.option("--lr", type=float, default=0.5, show_default=True,
              help="Learning rate eta of the delta rule (5).")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="text", show_default=True)
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="A saved model to explain.")
@click.option("--row", type=int, default=None, help="With --model: the row (0 = first) of its data set.")
@click.option("--data", default=None, help="With --row: the data set [default: the model's].")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="With --row: which part of the data set.")
@click.option("--all", "show_all", is_flag=True, help="Show every unit and weight of a large network.")
@click.option("--digits", type=click.IntRange(1, 15), default=4, show_default=True,
              help="Significant digits of the computed numbers.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the document to this file instead of the terminal.")
@_user_errors
def explain(layers, hidden, output_act, loss, seed, x_text, y_text, lr, fmt, model, row, data, split,
            show_all, digits, out):
    """Work out one online backpropagation update, number by number, in the reference's notation.

    The forward pass (1)-(4), the error E, the error terms (i) and (ii) (eq. 4 per hidden layer),
    the weight updates (iii)/(iv) with old and new values, and the error after the update.
    """
    from backprop.see.explain import explain as make_explanation
    from backprop.model.network import Network

    if model is not None:
        for name, val in (("--layers", layers), ("--hidden", hidden), ("--output", output_act),
                          ("--seed", seed)):
            if val is not None:
                raise InvalidInputError(f"{name} describes a new network; it does not apply with --model")
        from backprop.io.registry import load

        import numpy as np

        net = load(model)
        meta = getattr(net, "metadata", None) or {}
        loss = loss or meta.get("loss") or "mse"
        transform = _standardize(meta)
        if row is not None:
            if x_text is not None or y_text is not None:
                raise InvalidInputError("give either --row or --x/--y, not both")
            ds = _model_dataset(meta, data, model)
            X, Y = ds.part(split)
            if Y is None:
                raise InvalidInputError(f"the data set {ds.name!r} has no target column to explain against")
            if not 0 <= row < X.shape[0]:
                raise InvalidInputError(f"--row must lie in 0..{X.shape[0] - 1} for the {split} part of "
                                        f"{ds.name!r}, got {row}")
            x = X[row:row + 1]
            y_raw = Y[row]
            if np.ndim(y_raw) == 0:
                y_raw = y_raw.item()
            y = _target_for(net, meta, y_raw)
            note = (f"The sample is row {row} of the {split} part of the data set {ds.name!r} "
                    f"(target {y_raw!r})" + (", standardized as in training: x = (row - mean) / scale."
                                             if transform is not None else "."))
            if meta.get("target_standardize") and not meta.get("classes"):
                note += " The target is standardized with the training statistics too, as the model " \
                        "learnt it."
        else:
            if x_text is None or y_text is None:
                raise InvalidInputError(
                    "with --model give --row N (a row of its data set) or both --x and --y"
                )
            x = [_floats(x_text, "--x")]
            y = _floats(y_text, "--y")
            note = ("The inputs given are standardized as in training: x = (given - mean) / scale."
                    if transform is not None else None)
            if net.output == "softmax" and len(y) == 1:
                y = int(y[0])
        x = np.asarray(x, dtype=float)
        if transform is not None:
            x = transform(x)
        x = x[0]
    else:
        if row is not None or data is not None:
            raise InvalidInputError("--row and --data choose a row of a saved model's data set; give --model")
        sizes = _layers(layers or "2,2,1")
        hid = (hidden or "sigmoid").split(",")
        n_hidden = max(len(sizes) - 2, 0)
        hid = hid[0] if len(hid) == 1 else hid
        if n_hidden == 0:
            hid = "sigmoid"
        net = Network(sizes, hidden=hid, output=output_act or "sigmoid", seed=0 if seed is None else seed,
                      dtype="float64")
        loss = loss or "mse"
        note = None
        x, y = _default_sample(net, 0 if seed is None else seed)
        if x_text is not None:
            x = _floats(x_text, "--x")
        if y_text is not None:
            y = _floats(y_text, "--y")
            if net.output == "softmax" and len(y) == 1:
                y = int(y[0])
    doc = make_explanation(net, x, y, lr=lr, loss=loss, format=fmt, all=show_all, digits=digits,
                           note=note)
    if out is not None:
        doc.save(out)
        click.echo(f"wrote {out}")
    elif fmt == "text" and sys.stdout.isatty():
        from rich.console import Console

        Console(soft_wrap=True, highlight=False).print(doc)
    else:
        click.echo(str(doc), nl=False)


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
@_user_errors
def plot(model, what, out, data, split, dpi):
    """Draw a saved model's training curves, decision regions, gradients or weights.

    loss: training/validation loss and metric per epoch (the saved history). boundary: decision
    regions of a 2-D classifier with its data points. gradients: mean |delta| and gradient norm per
    layer (a model trained with recorded gradients). weights: a histogram per layer.
    """
    from backprop.see import plots
    from backprop.io.registry import load

    net = load(model)
    meta = getattr(net, "metadata", None) or {}
    if out is None:
        stem = os.path.splitext(model)[0]
        out = f"{stem}-{what}.png"
    if what in ("loss", "gradients"):
        history = meta.get("history")
        if not history:
            raise InvalidInputError(f"{model} has no training history in its metadata (save it with "
                                    "history=..., as backprop train does)")
        if what == "loss":
            plots.plot_loss(history, out, dpi=dpi)
        else:
            plots.plot_gradients(history, out, dpi=dpi)
    elif what == "weights":
        plots.plot_weights(net, out, dpi=dpi)
    else:
        ds = _model_dataset(meta, data, model)
        X, y = ds.part(split)
        if y is None:
            raise InvalidInputError(f"the data set {ds.name!r} has no target column to colour the points")
        classes = meta.get("classes") or ds.classes
        sizes = "-".join(map(str, net.sizes))
        plots.plot_boundary(net, X, y, out, transform=_standardize(meta), classes=classes, dpi=dpi,
                            title=f"{ds.name}: decision regions of the {sizes} network")
    click.echo(f"wrote {out}")


@click.group()
def _standalone():
    """backprop explain / plot (standalone entry, for when the main CLI is not installed)."""


_standalone.add_command(explain)
_standalone.add_command(plot)

if __name__ == "__main__":  # pragma: no cover - python -m backprop.cli_see
    _standalone()
