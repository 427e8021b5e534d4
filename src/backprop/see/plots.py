"""Figures of training: loss curves, decision regions, gradient flow and weight histograms.

Every function draws on a bare :class:`matplotlib.figure.Figure` (the Agg renderer, never pyplot's
global state or a window), so it works on a server with no display, and writes the file atomically;
without a path it returns the Figure, which a notebook shows inline (``_repr_png_``).
The format follows the file name: ``.png``, ``.svg`` or ``.pdf``. A PNG is ``figsize * dpi`` pixels.

* :func:`plot_loss` -- training and validation E (and the validation metric) per epoch.
* :func:`plot_boundary` -- the decision regions of a classifier of 2-D inputs with its data points,
  in the colours of the TensorFlow Playground.
* :func:`plot_gradients` -- mean |delta| (eqs. 2 and 4) and the norm of dE/dw (eq. 3) per layer and
  epoch, from ``fit(..., record_gradients=True)``; several runs side by side show the vanishing
  error terms of a deep sigmoid network next to a ReLU one.
* :func:`plot_weights` -- a histogram of the weights (and bias weights w_0j) of each layer.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from backprop.data.datasets import encode_labels
from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.io.atomic import atomic_write_bytes
from backprop.model.network import Network

FORMATS = ("png", "svg", "pdf")
#: the TensorFlow Playground's orange (negative / class 0) and blue (positive / class 1)
ORANGE, BLUE = "#f59322", "#0877bd"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _format_of(path):
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise InvalidInputError(
            f"cannot tell the image format of {os.fspath(path)!r}: end the file name in "
            + ", ".join("." + f for f in FORMATS)
        )
    return ext


@functools.cache
def _figure_class():
    """A matplotlib Figure that shows itself in a notebook (``_repr_png_``) without pyplot: a
    front end displays it inline whether or not matplotlib's inline backend has been set up."""
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        def _repr_png_(self):
            buf = io.BytesIO()
            self.savefig(buf, format="png")
            return buf.getvalue()

    # a module-level name (see __getattr__ below), so a figure pickles and unpickles
    NotebookFigure.__module__, NotebookFigure.__qualname__ = __name__, "NotebookFigure"
    return NotebookFigure


def __getattr__(name):
    if name == "NotebookFigure":  # created on first use: matplotlib is imported only when drawing
        return _figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _figure(figsize, dpi):
    Figure = _figure_class()

    try:
        w, h = (float(v) for v in figsize)
    except (TypeError, ValueError):
        raise InvalidInputError(f"figsize must be (width, height) in inches, got {figsize!r}") from None
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise InvalidInputError(f"figsize must be two positive numbers, got {figsize!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise InvalidInputError(f"dpi must be a positive number, got {dpi!r}")
    return Figure(figsize=(w, h), dpi=dpi, layout="constrained")


def _save(fig, path, dpi):
    """Render ``fig`` in memory (Agg), then write it atomically; returns the path -- or, without a
    path, the Figure itself (a notebook shows it inline)."""
    if path is None:
        return fig
    fmt = _format_of(path)
    buf = io.BytesIO()
    # a fixed date keeps SVG/PDF output reproducible
    meta = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    atomic_write_bytes(path, buf.getvalue())
    return os.fspath(path)


def _whole_epochs(ax) -> None:
    """Epoch axes count whole epochs: no tick at 1.5."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _history_dict(history, what: str = "history"):
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, dict):
        return history
    raise InvalidTypeError(
        f"{what} must be a backprop History or its to_dict(), got {type(history).__name__}"
    )


def _as_history_list(histories, labels):
    """(label, history dict) pairs from a History, a list of them, or a {label: History} dict."""
    if hasattr(histories, "to_dict") or (isinstance(histories, dict) and "loss" in histories):
        items = [histories]
    elif isinstance(histories, dict):
        if labels is None:
            labels = list(histories)
        items = list(histories.values())
    else:
        items = list(histories)
    if not items:
        raise InvalidInputError("plot_gradients needs at least one history")
    if labels is None:
        labels = [None] * len(items) if len(items) == 1 else [f"run {i + 1}" for i in range(len(items))]
    labels = list(labels)
    if len(labels) != len(items):
        raise InvalidInputError(f"got {len(labels)} labels for {len(items)} histories")
    return [(lab, _history_dict(hist)) for lab, hist in zip(labels, items)]


# ---------------------------------------------------------------------------------------------
# loss curves
# ---------------------------------------------------------------------------------------------
def plot_loss(history: Any, path: str | os.PathLike | None = None, *, title: str | None = None,
              figsize: tuple[float, float] = (10, 4), dpi: float = 100, log: bool | None = None) -> Any:
    """Training and validation loss per epoch (and the validation metric beside it).

    ``history`` is a :class:`backprop.History` or its ``to_dict()`` (a model's
    ``metadata["history"]``). ``log`` chooses a logarithmic loss axis (default: when the loss
    spans more than two decades). Returns ``path``, or the Figure when ``path`` is None.
    """
    hist = _history_dict(history)
    loss = [float(v) for v in hist.get("loss") or []]
    if not loss:
        raise InvalidInputError("the history has no epochs to plot (its 'loss' list is empty)")
    val_loss = [float(v) for v in hist.get("val_loss") or []]
    val_metric = [float(v) for v in hist.get("val_metric") or []]
    metric = hist.get("metric") or "metric"
    fig = _figure(figsize, dpi)
    axes = fig.subplots(1, 2) if val_metric else [fig.subplots(1, 1)]
    ax = axes[0]
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, color=BLUE, lw=2, label="training", marker="o" if len(loss) < 30 else None, ms=3)
    if val_loss:
        ax.plot(np.arange(1, len(val_loss) + 1), val_loss, color=ORANGE, lw=2, label="validation",
                marker="o" if len(val_loss) < 30 else None, ms=3)
    positive = [v for v in loss + val_loss if v > 0 and math.isfinite(v)]
    if log is None:
        log = bool(positive) and len(positive) == len(loss + val_loss) and max(positive) / min(positive) > 100
    if log:
        ax.set_yscale("log")
    best = hist.get("best_epoch")
    if best:
        for a in axes:
            a.axvline(best, color="0.5", ls="--", lw=1, label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    _whole_epochs(ax)
    ax.set_ylabel("loss E")
    ax.set_title("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if val_metric:
        ax2 = axes[1]
        ax2.plot(np.arange(1, len(val_metric) + 1), val_metric, color=ORANGE, lw=2,
                 marker="o" if len(val_metric) < 30 else None, ms=3, label=f"validation {metric}")
        ax2.set_xlabel("epoch")
        _whole_epochs(ax2)
        ax2.set_ylabel(metric)
        ax2.set_title(f"validation {metric}")
        ax2.grid(True, alpha=0.3)
        ax2.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------------------------------
# decision regions
# ---------------------------------------------------------------------------------------------
def _labels_to_index(y, n_classes, classes=None):
    """Class indices of ``y``: labels, 0/1 values, or one-hot / probability rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    if classes is not None:
        return encode_labels(y, list(classes), where="y")
    if y.dtype.kind in "fc":
        if n_classes == 2 and np.all((y >= 0) & (y <= 1)):
            return (y >= 0.5).astype(int)
        if np.all(y == np.round(y)):
            return y.astype(int)
        raise InvalidInputError("y must hold class labels (or 0/1 targets) to colour the points")
    if y.dtype.kind in "iub":
        return y.astype(int)
    _, idx = np.unique(y.astype(str), return_inverse=True)
    return idx


def plot_boundary(net: Any, X: ArrayLike, y: ArrayLike, path: str | os.PathLike | None = None, *,
                  transform: Callable | None = None, classes: Sequence | None = None,
                  resolution: int = 200, title: str | None = None, figsize: tuple[float, float] = (6, 5),
                  dpi: float = 100, margin: float = 0.1) -> Any:
    """Decision regions of ``net`` over the plane of the 2-D inputs ``X``, with the points (X, y).

    ``transform`` maps the plotted coordinates to the network's inputs (e.g. the standardization
    fitted at training); ``classes`` lists the labels in the order of the network's outputs.
    A softmax network shows the region of each class (paler where it is less sure), a one-output
    sigmoid network the probability of class 1 from orange (0) to blue (1) with the 0.5 contour,
    any other one-output network its output value. Returns ``path``, or the Figure when ``path``
    is None.
    """
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap, to_rgb

    if not isinstance(net, Network):
        raise InvalidTypeError(f"net must be a backprop.Network, got {type(net).__name__}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise InvalidInputError(
            f"plot_boundary draws inputs with 2 features; X has shape {X.shape} "
            "(use a 2-D data set such as moons, circles, spirals or xor)"
        )
    if y is None:
        raise InvalidInputError("plot_boundary needs the targets y to colour the data points")
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise InvalidInputError("X must have at least one row and finite values")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 10 <= resolution <= 2000:
        raise InvalidInputError(f"resolution must be an integer from 10 to 2000, got {resolution!r}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum((hi - lo) * margin, 1e-3)
    lo, hi = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    inputs = transform(grid) if transform is not None else grid
    if np.shape(inputs)[1] != net.sizes[0]:
        raise InvalidInputError(
            f"the network takes {net.sizes[0]} inputs but the plane has 2 coordinates; "
            "plot_boundary needs a network of 2-D inputs"
        )
    P = net.predict(inputs).astype(np.float64)
    n_out = net.sizes[-1]
    fig = _figure(figsize, dpi)
    ax = fig.subplots()
    extent = (lo[0], hi[0], lo[1], hi[1])
    playground = LinearSegmentedColormap.from_list("playground", [ORANGE, "#e8eaeb", BLUE])
    if net.output == "softmax" or n_out > 1:
        k = max(n_out, 2)
        base = [ORANGE, BLUE] if k == 2 else [tuple(c) for c in _tab_colors(k)]
        cls = P.argmax(axis=1) if n_out > 1 else (P[:, 0] >= 0.5).astype(int)
        conf = P.max(axis=1) if n_out > 1 else np.abs(P[:, 0] - 0.5) * 2
        # pale where unsure: blend each class colour with white by the confidence
        lo_c = 1.0 / k
        alpha = np.clip((conf - lo_c) / (1 - lo_c + 1e-12), 0, 1) * 0.55 + 0.15
        rgb = np.array([to_rgb(base[c]) for c in cls])
        img = 1 - alpha[:, None] * (1 - rgb)
        ax.imshow(img.reshape(resolution, resolution, 3), origin="lower", extent=extent, aspect="auto",
                  interpolation="bilinear")
        if n_out == 2:  # the smooth curve where both classes are equally likely
            ax.contour(gx, gy, (P[:, 1] - P[:, 0]).reshape(gx.shape), levels=[0.0], colors="0.25",
                       linewidths=1.0)
        else:
            ax.contour(gx, gy, cls.reshape(gx.shape), levels=np.arange(k) + 0.5, colors="0.25",
                       linewidths=0.8)
        y_idx = _labels_to_index(y, k, classes)
        point_cmap = ListedColormap(base)
        colours = base
    elif net.output == "sigmoid":
        p = P[:, 0].reshape(gx.shape)
        im = ax.imshow(p, origin="lower", extent=extent, aspect="auto", cmap=playground, vmin=0, vmax=1,
                       alpha=0.75)
        ax.contour(gx, gy, p, levels=[0.5], colors="0.2", linewidths=1.2)
        fig.colorbar(im, ax=ax, label="ŷ (probability of class 1)")
        y_idx = _labels_to_index(y, 2, classes)
        point_cmap = ListedColormap([ORANGE, BLUE])
        colours = [ORANGE, BLUE]
        k = 2
    else:
        v = P[:, 0].reshape(gx.shape)
        im = ax.imshow(v, origin="lower", extent=extent, aspect="auto", cmap=playground, alpha=0.75)
        fig.colorbar(im, ax=ax, label="ŷ")
        yv = np.asarray(y, dtype=np.float64).reshape(-1)
        ax.scatter(X[:, 0], X[:, 1], c=yv, cmap=playground, norm=im.norm, edgecolors="white",
                   linewidths=0.6, s=22)
        y_idx = None
    if y_idx is not None:
        if len(y_idx) != X.shape[0]:
            raise InvalidInputError(f"X has {X.shape[0]} rows but y has {len(y_idx)}")
        ax.scatter(X[:, 0], X[:, 1], c=y_idx, cmap=point_cmap, vmin=-0.5, vmax=k - 0.5,
                   edgecolors="white", linewidths=0.6, s=22)
        _class_legend(ax, _class_names(y, k, classes), colours)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or f"{boundary_title(net)} of the {'-'.join(map(str, net.sizes))} network")
    return _save(fig, path, dpi)


def boundary_title(net: Any) -> str:
    """What :func:`plot_boundary` draws for ``net``: a classifier's decision regions, or the output
    value of a network of numbers (regression has no decisions)."""
    if net.output in ("softmax", "sigmoid") or net.sizes[-1] > 1:
        return "decision regions"
    return "output ŷ over the plane"


def _class_names(y, k, classes=None):
    """The label of each class index, as :func:`_labels_to_index` numbers them."""
    if classes is not None:
        return [str(c) for c in classes]
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind not in "fciub":
        return [str(c) for c in np.unique(y.astype(str))]
    return [str(i) for i in range(k)]


def _class_legend(ax, names, colours) -> None:
    """A legend naming each class in the colour of its points."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", markersize=6, markerfacecolor=colour,
                      markeredgecolor="white", label=name) for name, colour in zip(names, colours)]
    ax.legend(handles=handles, title="class", loc="best", fontsize=8, title_fontsize=8, framealpha=0.85)


def _tab_colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N)[:3] for i in range(k)]


# ---------------------------------------------------------------------------------------------
# gradient flow
# ---------------------------------------------------------------------------------------------
def plot_gradients(histories: Any, path: str | os.PathLike | None = None, *,
                   labels: Sequence[str] | None = None, title: str | None = None,
                   figsize: tuple[float, float] | None = None, dpi: float = 100) -> Any:
    """Mean |delta| and the gradient norm of each layer per epoch, for one or several runs.

    ``histories``: a History (or its dict) recorded with ``fit(..., record_gradients=True)``, a
    list of them (``labels`` names them), or a ``{label: history}`` dict. The runs share the
    logarithmic y axes, so a deep sigmoid network's error terms shrinking towards the input layer
    (eq. 4 multiplies by g'_h <= 1/4 per layer) stand next to a ReLU network's. Returns ``path``,
    or the Figure when ``path`` is None.
    """
    runs = _as_history_list(histories, labels)
    for lab, hist in runs:
        if not hist.get("mean_abs_delta") or not hist.get("grad_norm"):
            name = f" {lab!r}" if lab else ""
            raise InvalidInputError(
                f"the history{name} has no gradient records: train with "
                "`backprop train --record-gradients` (in Python: fit(..., record_gradients=True)) "
                "and keep that history"
            )
    n = len(runs)
    if figsize is None:
        figsize = (4.5 * n + 1, 6)
    fig = _figure(figsize, dpi)
    axes = fig.subplots(2, n, sharey="row", squeeze=False)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for c, (lab, hist) in enumerate(runs):
        for r, (key, ylabel) in enumerate((("mean_abs_delta", "mean |δ| per layer"),
                                           ("grad_norm", "‖∂E/∂w‖ per layer"))):
            data = np.asarray(hist[key], dtype=np.float64)  # (epochs, layers)
            if data.ndim != 2:
                raise InvalidInputError(f"history[{key!r}] must be a list (epochs) of lists (layers)")
            ax = axes[r][c]
            L = data.shape[1]
            epochs = np.arange(1, data.shape[0] + 1)
            for k in range(L):
                vals = np.where(data[:, k] > 0, data[:, k], np.nan)  # zeros cannot sit on a log axis
                name = f"layer {k + 1}" + (" (output)" if k == L - 1 else (" (input side)" if k == 0 else ""))
                ax.plot(epochs, vals, color=cmap(k / max(L - 1, 1)), lw=2, label=name,
                        marker="o" if len(epochs) < 30 else None, ms=3)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if c == 0:
                ax.set_ylabel(ylabel)
            _whole_epochs(ax)
            ax.set_xlabel("epoch")
            if r == 0 and lab:
                ax.set_title(str(lab))
            if r == 0 and c == 0:
                ax.legend(fontsize=8)
    fig.suptitle(title or "error terms and gradients per layer")
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------
def plot_weights(net: Any, path: str | os.PathLike | None = None, *, bins: int = 40,
                 title: str | None = None, figsize: tuple[float, float] | None = None, dpi: float = 100,
                 cols: int = 4) -> Any:
    """A histogram of each layer's weights w_ij^k, with its bias weights w_0j^k. Returns ``path``,
    or the Figure when ``path`` is None."""
    if not isinstance(net, Network):
        raise InvalidTypeError(f"net must be a backprop.Network, got {type(net).__name__}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidInputError(f"bins must be a positive integer, got {bins!r}")
    L = net.n_layers
    ncols = min(L, cols)
    nrows = -(-L // ncols)
    if figsize is None:
        figsize = (3.6 * ncols + 0.5, 3.0 * nrows + 0.6)
    fig = _figure(figsize, dpi)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for k in range(L):
        ax = axes[k]
        W = np.asarray(net.weights[k], dtype=np.float64).ravel()
        b = np.asarray(net.biases[k], dtype=np.float64).ravel()
        name = ("v" if k == 0 else "w") if L == 2 else f"w^{{{k + 1}}}"
        edges = np.histogram_bin_edges(np.concatenate([W, b]), bins=bins)  # same bins for both
        ax.hist(W, bins=edges, color=BLUE, alpha=0.8, label=f"weights (n={W.size})")
        if np.any(b != b[0]) or b[0] != 0:
            ax.hist(b, bins=edges, color=ORANGE, alpha=0.7, label=f"biases (n={b.size})")
        else:
            ax.axvline(0.0, color=ORANGE, lw=2, label=f"biases: all 0 (n={b.size})")
        ax.set_title(f"layer {k + 1}: ${name}$, {net.sizes[k]}×{net.sizes[k + 1]}, "
                     f"sd {W.std():.3g}", fontsize=9)
        ax.set_xlabel("value")
        ax.set_ylabel("count")  # of weights (biases) per bin
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[L:]:
        ax.set_visible(False)
    fig.suptitle(title or f"weights of the {'-'.join(map(str, net.sizes))} network")
    return _save(fig, path, dpi)


__all__ = ["plot_loss", "plot_boundary", "plot_gradients", "plot_weights", "FORMATS"]
