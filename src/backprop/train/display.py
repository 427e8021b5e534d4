"""Rich display in notebooks: the HTML pieces every table shares, and :class:`History`'s table.

Jupyter (JupyterLab, Notebook 7, VS Code, Colab) shows an object's ``_repr_html_()``. The
pieces here -- a matrix shown in full when it is small and as its shape and a few statistics when
it is not, numbers with a fixed number of significant digits, a loss curve as an inline SVG --
keep every table bounded in size, whatever the network's width or the run's length, and escape
every string that may come from the user (class labels, feature names).

``backprop.model.display`` (Network, Trace) and ``backprop.sklearn.display`` (the estimators) build
on these pieces; :func:`history_html` is what ``History._repr_html_`` shows.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backprop.errors import InvalidTypeError

#: Significant digits of the numbers in the tables (tests parse them back at this precision).
DIGITS = 6
#: A matrix is shown entry by entry only up to this many rows, columns and entries.
MAX_ROWS, MAX_COLS, MAX_CELLS = 8, 12, 96
#: Points of a loss curve drawn in the inline SVG (longer runs are subsampled).
MAX_POINTS = 200
#: Items of a list of strings (class labels, feature names) shown before "... and n more".
MAX_ITEMS = 20
#: Characters of one such string shown (a longer one is cut with an ellipsis).
MAX_CHARS = 60

CSS = """<style>
.backprop-repr { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 0.9rem; }
.backprop-repr table { border-collapse: collapse; margin: 0.3rem 0 0.6rem 0; }
.backprop-repr th, .backprop-repr td { border: 1px solid #ddd; padding: 0.15rem 0.45rem; text-align: right;
  font-variant-numeric: tabular-nums; }
.backprop-repr th { background: #f4f4f4; text-align: center; }
.backprop-repr td.name { text-align: left; }
.backprop-repr caption { text-align: left; font-weight: bold; padding: 0.2rem 0; }
.backprop-repr .stats { color: #444; }
.backprop-repr details { margin: 0.2rem 0 0.4rem 0; }
</style>"""


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML (element content and quoted attributes), cut to MAX_CHARS."""
    s = str(value)
    if len(s) > MAX_CHARS:
        s = s[:MAX_CHARS - 1] + "…"
    return _html.escape(s, quote=True)


def num(v: Any) -> str:
    """One number with :data:`DIGITS` significant digits (plain text, ASCII minus sign)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return esc(v)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{DIGITS}g}"


def sym(base: str, sub: str = "", sup: str = "") -> str:
    """A symbol of the reference with its index and layer, e.g. ``sym("δ", "j", "2")`` = δ_j^2."""
    out = base
    if sup:
        out += f"<sup>{sup}</sup>"
    if sub:
        out += f"<sub>{sub}</sub>"
    return out


def items(values: Sequence[Any]) -> str:
    """A list of user strings (labels, names), escaped and bounded."""
    values = list(values)
    shown = ", ".join(esc(v) for v in values[:MAX_ITEMS])
    if len(values) > MAX_ITEMS:
        shown += f", … and {len(values) - MAX_ITEMS} more"
    return shown


def stats(a: np.ndarray) -> str:
    """The shape of ``a`` and a few statistics: what a table shows of a large matrix."""
    a = np.asarray(a, dtype=np.float64)
    shape = "×".join(str(n) for n in a.shape) or "scalar"
    if a.size == 0:
        return f'<span class="stats">{shape}, empty</span>'
    return (f'<span class="stats">{shape}: min {num(a.min())}, mean {num(a.mean())}, '
            f'max {num(a.max())}, mean |·| {num(np.abs(a).mean())}, sd {num(a.std())}</span>')


def small(a: np.ndarray) -> bool:
    """Whether a matrix is shown entry by entry."""
    a = np.atleast_2d(np.asarray(a))
    return a.ndim == 2 and a.shape[0] <= MAX_ROWS and a.shape[1] <= MAX_COLS and a.size <= MAX_CELLS


def matrix(a: np.ndarray, *, caption: str, row_label: str, col_label: str, row_start: int = 1,
           col_start: int = 1, row_names: Sequence[str] | None = None, data: dict | None = None) -> str:
    """A matrix as a table -- row ``row_label`` = row_start, ..., column ``col_label`` = col_start, ...
    -- when it is small, else its caption and :func:`stats`. ``caption`` is trusted HTML (symbols);
    ``data`` becomes ``data-*`` attributes that name what the table holds."""
    attrs = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in (data or {}).items())
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if not small(a):
        return f"<div{attrs}><b>{caption}</b>: {stats(a)}</div>"
    head = "".join(f"<th>{col_label} = {col_start + j}</th>" for j in range(a.shape[1]))
    rows = []
    for i, row in enumerate(a):
        name = row_names[i] if row_names is not None else f"{row_label} = {row_start + i}"
        rows.append(f"<tr><th>{name}</th>" + "".join(f"<td>{num(v)}</td>" for v in row) + "</tr>")
    return (f"<table{attrs}><caption>{caption}</caption><tr><th></th>{head}</tr>"
            + "".join(rows) + "</table>")


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "") -> str:
    """A plain table; the cells are trusted HTML (escape user strings with :func:`esc` first)."""
    cap = f"<caption>{caption}</caption>" if caption else ""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="name">{c}</td>' if n == 0 else f"<td>{c}</td>"
                                    for n, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def sparkline(series: Mapping[str, Sequence[float]], *, width: int = 320, height: int = 90) -> str:
    """Curves per epoch as an inline SVG (no script, no external file), at most MAX_POINTS each;
    a logarithmic axis when every value is positive and they span more than two decades."""
    clean = {k: np.asarray([float(v) for v in vals], dtype=np.float64)
             for k, vals in series.items() if len(vals)}
    finite = np.concatenate([v[np.isfinite(v)] for v in clean.values()]) if clean else np.empty(0)
    if finite.size == 0:
        return ""
    log = bool((finite > 0).all() and finite.max() / finite.min() > 100)
    tf = np.log10 if log else (lambda x: x)
    lo, hi = float(tf(finite.min())), float(tf(finite.max()))
    hi = hi if hi > lo else lo + 1.0
    colours = ("#0877bd", "#f59322", "#555")
    lines, legend = [], []
    n_max = max(len(v) for v in clean.values())
    for c, (name, vals) in enumerate(clean.items()):
        idx = np.unique(np.linspace(0, len(vals) - 1, min(len(vals), MAX_POINTS)).round().astype(int))
        pts = []
        for i in idx:
            v = vals[i]
            if not np.isfinite(v) or (log and v <= 0):
                continue
            x = 4 + (width - 8) * (i / max(n_max - 1, 1))
            y = 4 + (height - 8) * (1 - (float(tf(v)) - lo) / (hi - lo))
            pts.append(f"{x:.1f},{y:.1f}")
        colour = colours[c % len(colours)]
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{" ".join(pts)}"/>')
        legend.append(f'<span style="color:{colour}">━ {esc(name)}</span>')
    scale = "log scale" if log else "linear scale"
    return (f'<div><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" style="border:1px solid #ddd">{"".join(lines)}</svg><br/>'
            f'{" ".join(legend)} <span class="stats">(per epoch, {scale}: {num(10**lo if log else lo)} '
            f'to {num(10**hi if log else hi)})</span></div>')


def expect(obj: Any, name: str, module: str, helper: str) -> None:
    """Refuse anything but a ``backprop.<name>`` (or a subclass), named, before an attribute is read.

    By class name and module along the MRO: the class's own module imports this one, so importing
    the class here would be a cycle."""
    if not any(c.__name__ == name and c.__module__ == module for c in type(obj).__mro__):
        raise InvalidTypeError(f"{helper}: expected a backprop.{name}, got {type(obj).__name__}")


def wrap(title: str, body: str) -> str:
    """One displayed object: its CSS, a title line (trusted HTML) and the body."""
    return f'<div class="backprop-repr">{CSS}<div><b>{title}</b></div>{body}</div>'


def history_html(history: Any) -> str:
    """A :class:`History` as HTML: what the run did, its loss curve, and (when recorded) the last
    epoch's mean |δ| and ‖∂E/∂w‖ per layer."""
    expect(history, "History", "backprop.train.history", "history_html")
    h = history

    def last(xs):
        return num(xs[-1]) if xs else "–"

    rows = [["epochs", str(h.epochs)], ["updates", str(h.n_updates)],
            ["updates per epoch", str(h.updates_per_epoch)], ["batch size B", str(h.batch_size)],
            ["training loss E (last epoch)", last(h.loss)]]
    if h.val_loss:
        rows.append(["validation loss (last epoch)", last(h.val_loss)])
    if h.val_metric:
        rows.append([f"validation {esc(h.metric or 'metric')} (last epoch)", last(h.val_metric)])
    if h.best_epoch is not None:
        rows.append(["best epoch", str(h.best_epoch)])
    if h.lr:
        rows.append(["learning rate η (last epoch)", last(h.lr)])
    flags = [n for n, on in (("stopped early", h.stopped_early), ("interrupted", h.interrupted)) if on]
    if flags:
        rows.append(["ended", ", ".join(flags)])
    rows.append(["time", f"{h.time:.3g} s"])
    body = table(["", "value"], rows)
    curves = {"training E": h.loss}
    if h.val_loss:
        curves["validation E"] = h.val_loss
    body += sparkline(curves)
    if h.mean_abs_delta and h.grad_norm:
        d, g = h.mean_abs_delta[-1], h.grad_norm[-1]
        L = len(d)
        layer_rows = [[f"k = {k + 1}" + (" (output)" if k == L - 1 else ""), num(d[k]), num(g[k])]
                      for k in range(L)]
        body += table(["layer", "mean |" + sym("δ", "j", "k") + "|", "‖∂E/∂" + sym("w", "ij", "k") + "‖"],
                      layer_rows, caption="error terms and gradients, last epoch")
    title = f"History: {h.epochs} epoch{'s' if h.epochs != 1 else ''}"
    return wrap(title, body)


__all__ = ["history_html", "expect", "matrix", "table", "stats", "sparkline", "esc", "num", "sym", "items",
           "wrap", "DIGITS", "MAX_ROWS", "MAX_COLS", "MAX_CELLS", "MAX_ITEMS"]
