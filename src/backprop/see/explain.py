"""One update worked out with the engine's own numbers in the reference's notation.

:func:`explain` walks the reference's worked example (docs/reference.md, eqs. (6)-(18)). In online
mode (the default) for one sample: the forward pass (1)-(4), the error E, the error terms of its
summary (i) and (ii) -- eq. (4) once per hidden layer in deeper networks -- and the updates
(iii)/(iv), the delta rule (5), with the old and the new value of every weight, and the error after
the update. In batch and mini-batch mode for a few samples: each sample's error terms and gradient,
eq. (1), their mean, eq. (3), and the delta rule (5) applied to the mean.

Every number comes from the engine: ``net.trace`` gives h, a, delta, E and the batch gradient; the
derivatives g' come from the activation objects the engine uses; the new weights come from one
SGD step of ``fit`` on a copy of the network (the network passed in is not modified).

The document is built once as a list of blocks (:mod:`backprop.see.document`) holding math nodes
(:mod:`backprop.see.mathnodes`), and rendered as terminal text (with colour through rich),
Markdown with LaTeX, a LaTeX document or a standalone HTML page whose equations are MathML.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from backprop.core.losses import Loss
from backprop.core.validation import check_nonneg_float, check_xy
from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.io.atomic import atomic_write_bytes
from backprop.model.network import Network
from backprop.see.context import Context
from backprop.see.mathnodes import fmt_number
from backprop.see.render_html import render_html, render_html_fragment
from backprop.see.render_tex import render_latex, render_markdown
from backprop.see.render_text import render_text, text_lines
from backprop.see.walkthrough import batch_document, online_document
from backprop.train.batching import MODES
from backprop.train.optimizers import check_lr

FORMATS = ("text", "markdown", "latex", "html")
#: Units per layer (and links per unit) shown when a network is summarised.
DEFAULT_LIMIT = 4
#: The most samples a batch document works out one by one (it stays readable).
MAX_SAMPLES = 8

_TITLES = {"online": "Backpropagation, one online update worked out",
           "batch": "Backpropagation, one batch update worked out",
           "minibatch": "Backpropagation, one mini-batch update worked out"}


class Explanation:
    """The worked example of one update; ``str()`` is the document in ``format``.

    Renders itself in Jupyter as HTML whose formulas are MathML (``_repr_markdown_`` gives the
    Markdown with LaTeX to front ends that prefer it) and,
    through rich, in colour in a terminal. Other renderings: :meth:`to_text`, :meth:`to_markdown`,
    :meth:`to_latex`, :meth:`to_html`. ``before``/``after`` are the engine's traces of the
    sample(s) before and after the update, ``net_after`` the updated copy of the network, ``mode``
    "online", "batch" or "minibatch" and ``samples`` the number of samples worked out.
    """

    title = _TITLES["online"]

    def __init__(self, blocks: Sequence, format: str | None, before: Any, after: Any, net_after: Any, *,
                 mode: str = "online") -> None:
        self.blocks, self.format = blocks, format
        self.before, self.after, self.net_after = before, after, net_after
        self.mode = mode
        self.samples = int(before.x.shape[0])
        self.title = _TITLES[mode]

    @property
    def loss_before(self) -> float:
        return float(self.before.loss)

    @property
    def loss_after(self) -> float:
        return float(self.after.loss)

    def to_text(self) -> str:
        return render_text(self.blocks, self.title)

    def to_markdown(self) -> str:
        return render_markdown(self.blocks, self.title)

    def to_latex(self) -> str:
        return render_latex(self.blocks, self.title)

    def to_html(self) -> str:
        return render_html(self.blocks, self.title)

    def render(self, format: str | None = None) -> str:
        format = _check_format(format or self.format)
        return {"text": self.to_text, "markdown": self.to_markdown, "latex": self.to_latex,
                "html": self.to_html}[format]()

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return (f"<Explanation ({self.mode}, {self.format}): E {fmt_number(self.loss_before, 4)} -> "
                f"{fmt_number(self.loss_after, 4)}; print() it to read it>")

    def _repr_markdown_(self):
        return self.to_markdown()

    def _repr_html_(self):
        # the worked example with its formulas as MathML: browsers render it natively, offline
        return render_html_fragment(self.blocks, self.title)

    def __rich_console__(self, console, options):
        """The text rendering in colour; paragraphs wrapped to the terminal (at most 100 columns),
        equation rows left whole so their columns stay aligned."""
        from rich.text import Text

        out = Text()
        for line in text_lines(self.blocks, self.title, width=max(40, min(options.max_width, 100))):
            for s, style in line:
                out.append(s, style=style or None)
            out.append("\n")
        yield out

    def save(self, path: str | os.PathLike, format: str | None = None) -> str | os.PathLike:
        """Write the document (in ``format``, default this one's) to ``path`` atomically."""
        atomic_write_bytes(path, self.render(format).encode("utf-8"))
        return path


def _check_format(format):
    if format not in FORMATS:
        raise InvalidInputError(f"unknown format {format!r}; valid formats are: {', '.join(FORMATS)}")
    return format


def _one_row(values, name, width, what):
    """``values`` as one row of ``width`` numbers (a scalar, a list, or a 1 x width array)."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be numbers, got {values!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise InvalidInputError(f"explain walks one sample: {name} must be one row, got shape {arr.shape} "
                                "(mode='batch' works out an update of several samples)")
    if arr.size != width:
        raise InvalidInputError(f"{name} has {arr.size} value{'s' if arr.size != 1 else ''} but the network "
                                f"has {width} {what}")
    return arr


def _one_sample(net, x, y):
    """(X, Y) of one row each, as the engine sees them."""
    xr = _one_row(x, "x", net.sizes[0], "inputs (sizes[0])")
    try:
        yr = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"y must be numbers (or a class index), got {y!r}") from None
    N = net.sizes[-1]
    if yr.ndim == 0 and N > 1:
        Y = np.asarray([y])  # a class index, one-hot encoded by the engine
    else:
        Y = _one_row(yr, "y", N, "outputs (sizes[-1]); a softmax network also takes a class index"
                     if net.output == "softmax" else "outputs (sizes[-1])").reshape(1, -1)
    return check_xy(xr.reshape(1, -1), Y, net)


def _samples(samples, m, mode):
    """How many of the m rows a batch document works out."""
    if samples is None:
        return min(m, MAX_SAMPLES)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise InvalidInputError(f"samples must be a positive integer, got {samples!r}")
    what = "the batch size" if mode == "minibatch" else "the number of samples"
    if samples > MAX_SAMPLES:
        raise InvalidInputError(
            f"samples={samples} is too many to work out one by one: {what} must be at most "
            f"{MAX_SAMPLES} (each sample gets its own forward and backward pass in the document)")
    if samples > m:
        raise InvalidInputError(f"samples={samples} but X has only {m} row{'s' if m != 1 else ''}")
    return int(samples)


def explain(net: Network, x: ArrayLike, y: ArrayLike, *, lr: float, loss: str | Loss = "mse",
            format: str = "markdown", all: bool = False, digits: int = 4, limit: int = DEFAULT_LIMIT,
            note: str | None = None, mode: str = "online", samples: int | None = None,
            l1: float = 0.0) -> Explanation:
    """Work out one update of ``net`` in the reference's notation: online for one sample (x, y),
    or one (mini-)batch update for the first rows of (X, Y).

    Parameters
    ----------
    net : Network (not modified).
    x : online: one sample, ``sizes[0]`` numbers; batch/minibatch: the rows X (m x sizes[0]).
    y : its target: ``sizes[-1]`` numbers, or a class index for a network with several outputs
        (batch/minibatch: one target row, or class index, per row of X).
    lr : the learning rate eta of the delta rule, eq. (5).
    loss : "mse" (the reference's E), "binary_cross_entropy" or "cross_entropy".
    format : "markdown" (LaTeX math, for notebooks and docs), "text", "latex" or "html".
    all : show every unit and weight; otherwise layers wider than ``limit`` are cut after
        ``limit`` units (and unit sums after ``limit`` links).
    digits : significant digits of the computed numbers.
    limit : units per layer shown when the network is summarised.
    note : an optional sentence about the sample(s), shown after the introduction.
    mode : "online" (one sample, the reference's worked example), "batch" (one update with the
        mean gradient of the first ``samples`` rows, eq. 3) or "minibatch" (the first mini-batch
        of an epoch: ``samples`` is the batch size).
    samples : batch/minibatch: how many rows (at most :data:`MAX_SAMPLES`; default all of them,
        up to that many).
    l1 : an L1 penalty lambda_1 sum |w| on the weights: the update adds its subgradient
        lambda_1 sign(w) to each weight's gradient, and the document shows that term (0: none).

    Returns an :class:`Explanation` whose ``str()`` is the document.
    """
    if not isinstance(net, Network):
        raise InvalidTypeError(f"net must be a backprop.Network, got {type(net).__name__}")
    _check_format(format)
    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    lr = check_lr(lr)
    l1 = check_nonneg_float(l1, "l1")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise InvalidInputError(f"digits must be an integer from 1 to 15, got {digits!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
    loss_obj = net.check_loss(loss)
    if mode == "online":
        if samples not in (None, 1):
            raise InvalidInputError(f"mode='online' works out one sample; samples={samples!r} needs "
                                    "mode='batch' or 'minibatch'")
        X, Y = _one_sample(net, x, y)
        m_total = 1
    else:
        X, Y = check_xy(x, y, net)
        m_total = X.shape[0]
        K = _samples(samples, m_total, mode)
        X, Y = X[:K], Y[:K]
    before = net.trace(X, Y, loss_obj)
    net_after = net.copy()
    # the engine's own update: one step of plain SGD on these rows, the delta rule (5)
    net_after.fit(X, Y, loss=loss_obj, epochs=1, lr=lr, batch_size=X.shape[0], optimizer="sgd",
                  shuffle=False, l1=l1)
    after = net_after.trace(X, Y, loss_obj)
    ctx = Context(net, before, Y.astype(float), lr, loss_obj, digits, 10**9 if all else limit)
    ctx.l1 = l1
    if mode == "online":
        blocks = online_document(ctx, net_after, after, note)
    else:
        blocks = batch_document(ctx, net_after, after, mode=mode, m_total=m_total, note=note)
    return Explanation(blocks, format, before, after, net_after, mode=mode)


__all__ = ["explain", "Explanation", "FORMATS", "MODES", "MAX_SAMPLES", "DEFAULT_LIMIT", "fmt_number"]
