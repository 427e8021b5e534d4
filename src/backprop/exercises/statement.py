"""What a problem's statement says, independent of the format it is written in.

The renderers (:mod:`~backprop.exercises.markdown`, :mod:`~backprop.exercises.html`,
:mod:`~backprop.exercises.latex`, :mod:`~backprop.exercises.moodle`,
:mod:`~backprop.exercises.notebook`) lay these pieces out: the network and its training in
sentences, the weight tables (row i = 0 is the bias weight, input x_0 = 1), the samples, and the
asked entries grouped by quantity. Each sentence comes as plain text with Unicode math and as
LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backprop.exercises.misconceptions import QUANTITIES
from backprop.exercises.notation import NAMES, symbol, weight_letter
from backprop.exercises.problem import Problem

TITLE = "Backpropagation exercises"

_LOSS = {
    "mse": (
        "E = 1/(2m) Σ_d Σ_k (y_k − ŷ_k)² (the mean squared error)",
        r"$\mathcal{E} = \frac{1}{2m}\sum_{d=1}^{m}\sum_{k} (y_k - \hat{y}_k)^2$ (the mean squared error)",
    ),
    "binary_cross_entropy": (
        "E = −1/m Σ_d Σ_k [y_k ln ŷ_k + (1 − y_k) ln(1 − ŷ_k)] (binary cross-entropy; δᵒ = ŷ − y)",
        r"$\mathcal{E} = -\frac{1}{m}\sum_{d=1}^{m}\sum_k \left[y_k \ln \hat{y}_k "
        r"+ (1 - y_k)\ln(1 - \hat{y}_k)\right]$ (binary cross-entropy; $\delta^o = \hat{y} - y$)",
    ),
    "cross_entropy": (
        "E = −1/m Σ_d Σ_k y_k ln ŷ_k (cross-entropy of a softmax output; δᵒ = ŷ − y)",
        r"$\mathcal{E} = -\frac{1}{m}\sum_{d=1}^{m}\sum_k y_k \ln \hat{y}_k$ (cross-entropy "
        r"of a softmax output; $\delta^o = \hat{y} - y$)",
    ),
}


@dataclass
class Sentence:
    text: str  # Unicode
    tex: str  # LaTeX (text mode with $math$)


def num(v: float) -> str:
    """A given number as written on the sheet: 0.15, -0.1, 1."""
    s = f"{round(float(v), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def answer(v: float, decimals: int) -> str:
    return f"{float(v):.{decimals}f}"


def sentences(p: Problem, decimals: int) -> list[Sentence]:
    L, M, N = p.sizes
    units = f"{L} input{'s' if L > 1 else ''}, {M} hidden unit{'s' if M > 1 else ''}"
    outputs = f"{N} output{'s' if N > 1 else ''}"
    out = [
        Sentence(
            f"A {L}-{M}-{N} network: {units} with g_h = {p.hidden}, {outputs} with g_o = {p.output}.",
            f"A {L}-{M}-{N} network: {units} with $g_h$ = {p.hidden}, {outputs} with $g_o$ = {p.output}.",
        )
    ]
    text, tex = _LOSS[p.loss]
    out.append(Sentence(f"Error: {text}.", f"Error: {tex}."))
    if p.mode == "online":
        s = "Online training: one update on the one sample below, learning rate η = {lr}."
    elif p.mode == "batch":
        s = (
            f"Batch training: one update with the mean gradient of the m = {p.m} samples below (eq. 3), "
            "learning rate η = {lr}."
        )
    else:
        s = (
            f"Mini-batch training with batch size {p.m}, samples in the order given (no shuffling): "
            f"the first update, on samples 1 to {p.m} (eq. 3 over the mini-batch), learning rate η = {{lr}}."
        )
    lr = num(p.lr) if round(p.lr, 2) == p.lr else repr(p.lr)
    out.append(Sentence(s.format(lr=lr), s.replace("η", r"$\eta$").format(lr=lr)))
    out.append(
        Sentence(f"Give every answer to {decimals} decimals.", f"Give every answer to {decimals} decimals.")
    )
    return out


def weight_tables(p: Problem) -> list:
    """Per layer: (title, title tex, column heads, column heads tex, rows (row head, row head tex, cells))."""
    out = []
    names = {0: ("input → hidden", r"input $\to$ hidden"), 1: ("hidden → output", r"hidden $\to$ output")}
    for k, (W, b) in enumerate(zip(p.weights, p.biases)):
        w = weight_letter(k, p.n_layers)
        i_name = "i" if k == 0 else "j"
        j_name = "j" if k == 0 else "k"
        title = f"Weights {w}_{i_name}{j_name} ({names[k][0]})"
        title_tex = f"Weights ${w}_{{{i_name}{j_name}}}$ ({names[k][1]})"
        heads = [f"{j_name} = {j + 1}" for j in range(W.shape[1])]
        heads_tex = [f"${j_name} = {j + 1}$" for j in range(W.shape[1])]
        rows = [(f"{i_name} = 0 (bias)", f"${i_name} = 0$ (bias)", [num(v) for v in b])]
        rows += [
            (f"{i_name} = {i + 1}", f"${i_name} = {i + 1}$", [num(v) for v in W[i]])
            for i in range(W.shape[0])
        ]
        out.append((title, title_tex, heads, heads_tex, rows))
    return out


def samples_table(p: Problem) -> Any:
    """(heads, heads tex, rows) of the training samples (x_1..x_L, y_1..y_N)."""
    L, N = p.sizes[0], p.sizes[-1]
    heads = ["d"] + [f"x{_s(i + 1)}" for i in range(L)] + [f"y{_s(k + 1)}" for k in range(N)]
    heads_tex = ["$d$"] + [f"$x_{{{i + 1}}}$" for i in range(L)] + [f"$y_{{{k + 1}}}$" for k in range(N)]
    rows = [
        [str(d + 1)] + [num(v) for v in p.train_x[d]] + [num(v) for v in p.train_y[d]]
        for d in range(p.train_x.shape[0])
    ]
    return heads, heads_tex, rows


def _s(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def asked_groups(p: Problem) -> Any:
    """[(quantity, its name, [(index, layer, symbol, symbol tex), ...]), ...] in the order computed."""
    groups: dict = {}
    for q, idx, layer in p.asked_entries():
        groups.setdefault(q, []).append(
            (
                idx,
                layer,
                symbol(q, idx, layer, p.n_layers, p.m),
                symbol(q, idx, layer, p.n_layers, p.m, tex=True),
            )
        )
    return [(q, NAMES[q], groups[q]) for q in QUANTITIES if q in groups]


__all__ = [
    "sentences",
    "weight_tables",
    "samples_table",
    "asked_groups",
    "num",
    "answer",
    "Sentence",
    "TITLE",
]
