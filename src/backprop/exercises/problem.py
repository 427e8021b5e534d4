"""One exercise: a small network, its samples, one update's quantities and which are asked.

The layout is the playground's ``/api/step``: ``weights[k]`` is ``net.weights[k]`` (fan-in x
fan-out, v_ij for k = 0 and w_jk for k = 1 in the reference's two-layer network), ``biases[k]``
``net.biases[k]``, and ``h[k]``, ``a[k]``, ``delta[k]`` are (samples x units) for the layer that
``weights[k]`` feeds; ``yhat`` (samples x outputs) is ``a[-1]``; ``E`` a number;
``grad_weights``/``grad_biases``/``weights_after``/``biases_after`` are laid out like the weights
and biases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop.exercises.misconceptions import QUANTITIES

HIDDEN = ("sigmoid", "tanh", "relu", "identity")
OUTPUT = ("sigmoid", "tanh", "identity", "softmax")
LOSSES = ("mse", "binary_cross_entropy", "cross_entropy")
MODES = ("online", "batch", "minibatch")
#: What a sheet may ask, by topic (``--ask``): the quantities each stands for.
TOPICS = {
    "forward": ("h", "a", "yhat", "E"),
    "delta": ("delta",),
    "gradients": ("grad_weights", "grad_biases"),
    "update": ("weights_after", "biases_after"),
}
TOPICS["all"] = tuple(q for t in ("forward", "delta", "gradients", "update") for q in TOPICS[t])

#: Bounds of an exercise (hand-workable; also what a key file may hold).
MAX_UNITS = 6
MAX_ROWS = 8


@dataclass
class Problem:
    """One exercise. ``x``/``y`` are the rows of the update (the mini-batch in minibatch mode),
    ``train_x``/``train_y`` the training set the sheet shows, ``batch`` the update's row indices."""

    sizes: list[int]
    hidden: str
    output: str
    loss: str
    lr: float
    mode: str
    batch_size: int
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    train_x: np.ndarray
    train_y: np.ndarray
    asked: tuple[str, ...]
    values: dict = field(default_factory=dict)  # the quantities of the update (QUANTITIES)

    @property
    def batch(self) -> list[int]:
        return list(range(self.batch_size))

    @property
    def x(self) -> np.ndarray:
        return self.train_x[: self.batch_size]

    @property
    def y(self) -> np.ndarray:
        return self.train_y[: self.batch_size]

    @property
    def m(self) -> int:
        return self.batch_size

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def shape_of(self, name: str) -> list:
        """The layout of quantity ``name``: a list of per-layer shapes, or one shape, or () for E."""
        s, m = self.sizes, self.m
        layers = range(len(s) - 1)
        if name in ("h", "a", "delta"):
            return [(m, s[k + 1]) for k in layers]
        if name in ("grad_weights", "weights_after"):
            return [(s[k], s[k + 1]) for k in layers]
        if name in ("grad_biases", "biases_after"):
            return [(s[k + 1],) for k in layers]
        if name == "yhat":
            return [(m, s[-1])]  # one array, written here as a one-entry list of shapes
        return [()]

    def entries(self, name: str) -> Iterator[tuple[tuple[int, ...], int]]:
        """(index path, layer) of every entry of quantity ``name`` as laid out in JSON."""
        layered = name not in ("yhat", "E")
        for k, shape in enumerate(self.shape_of(name)):
            for idx in itertools.product(*(range(n) for n in shape)):
                yield ((k, *idx) if layered else idx), (k if layered else self.n_layers - 1)

    def asked_entries(self) -> Any:
        """(name, index, layer) of every value the sheet asks for. With ``yhat`` asked, a's output
        layer is ``yhat`` and is asked (and graded) once, as ``yhat``."""
        for name in QUANTITIES:
            if name not in self.asked:
                continue
            for idx, layer in self.entries(name):
                if name == "a" and "yhat" in self.asked and layer == self.n_layers - 1:
                    continue
                yield name, idx, layer

    def value(self, name: str, idx: tuple, values: dict | None = None) -> float:
        return lookup((values or self.values)[name], idx)

    def to_json(self, index: int) -> dict:
        d = {
            "id": index,
            "sizes": list(self.sizes),
            "hidden": self.hidden,
            "output": self.output,
            "loss": self.loss,
            "lr": self.lr,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "weights": _lists(self.weights),
            "biases": _lists(self.biases),
            "train_x": self.train_x.tolist(),
            "train_y": self.train_y.tolist(),
            "batch": self.batch,
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "asked": list(self.asked),
        }
        for q in QUANTITIES:
            v = self.values[q]
            d[q] = _digits(
                float(v) if q == "E" else (np.asarray(v, float).tolist() if q == "yhat" else _lists(v))
            )
        return d


def lookup(v: Any, idx: tuple) -> float:
    """The entry at index path ``idx`` of a quantity (nested lists/arrays, or a number for E)."""
    for i in idx:
        v = v[i]
    return float(v)


def _digits(v):
    """12 significant digits: the same file on every machine (BLAS may differ in the last bits)."""
    if isinstance(v, list):
        return [_digits(x) for x in v]
    return float(f"{v:.12g}")


def _lists(arrays) -> list:
    return [np.asarray(a, dtype=float).tolist() for a in arrays]


__all__ = ["Problem", "HIDDEN", "OUTPUT", "LOSSES", "MODES", "TOPICS", "lookup", "MAX_UNITS", "MAX_ROWS"]
