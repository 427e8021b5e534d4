"""What every step of the walk-through needs: the network, one sample's row of the engine's trace,
and how its numbers are printed (digits, and which units are shown in a large network)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backprop.see.mathnodes import Dots, Node, Num, Paren, Row, Sym
from backprop.see.notation import Names


class Context:
    """One sample (row ``row`` of ``trace``) of the update being worked out.

    ``trace`` is the engine's ``net.trace`` of the whole batch before the update (one row in
    online mode); ``y`` the sample's target row as the engine sees it. ``flags`` is shared by the
    contexts of all samples of a document: ``flags["summarised"]`` records that something was cut.
    """

    #: the L1 penalty's lambda_1 of the update shown (0: none; explain sets it)
    l1: float = 0.0

    def __init__(self, net: Any, trace: Any, y: np.ndarray, lr: float, loss: Any, digits: int, limit: int,
                 row: int = 0, flags: dict | None = None) -> None:
        self.net, self.t, self.lr, self.loss = net, trace, lr, loss
        self.Y = y  # every row's target
        self.digits, self.limit, self.row = digits, limit, row
        self.nm = Names(net.sizes)
        self.L = net.n_layers
        self.flags = {"summarised": False} if flags is None else flags
        # g'(h) of every elementwise layer, by the engine's own activation objects
        self._gprime_all = [
            act.derivative(h, a) if act.elementwise else None
            for act, h, a in zip(net.activations, trace.h, trace.a)
        ]

    def for_row(self, row: int) -> Context:
        """The same document's context for another sample."""
        other = object.__new__(Context)
        other.__dict__.update(self.__dict__)
        other.row = row
        return other

    # -- the sample's values --------------------------------------------------------------------
    @property
    def x(self) -> np.ndarray:
        return self.t.x[self.row]

    @property
    def y(self) -> np.ndarray:
        return self.Y[self.row]

    def h(self, k: int, j: int) -> float:
        return float(self.t.h[k][self.row, j - 1])

    def a(self, k: int, j: int) -> float:
        return float(self.t.a[k][self.row, j - 1])

    def delta(self, k: int, j: int) -> float:
        return float(self.t.delta[k][self.row, j - 1])

    def gprime(self, k: int, j: int) -> float:
        gp = self._gprime_all[k]
        assert gp is not None, "g' of an elementwise layer"  # softmax's is a matrix, not shown this way
        return float(gp[self.row, j - 1])

    def value_of(self, k: int, j: int) -> float:
        """a_j of layer k (k = -1: x_j); j = 0 is the constant 1 of the bias."""
        if j == 0:
            return 1.0
        if k < 0:
            return float(self.t.x[self.row, j - 1])
        return self.a(k, j)

    @staticmethod
    def weight(net: Any, k: int, i: int, j: int) -> float:
        """w_ij of layer k in ``net`` (i = 0: the bias)."""
        return float(net.biases[k][j - 1] if i == 0 else net.weights[k][i - 1, j - 1])

    # -- printing -------------------------------------------------------------------------------
    @property
    def summarised(self) -> bool:
        return self.flags["summarised"]

    def n(self, v: float) -> Num:
        return Num(v, self.digits)

    def nf(self, v: float) -> Node:
        """A number as a factor: negative ones in parentheses."""
        node = self.n(v)
        return Paren(node) if node.value < 0 else node

    def shown(self, n: int) -> tuple[range, bool]:
        """The units 1..n shown of a layer of n, and whether some were cut."""
        if n > self.limit:
            self.flags["summarised"] = True
            return range(1, self.limit + 1), True
        return range(1, n + 1), False

    def links(self, n: int) -> tuple[range, bool]:
        """The inputs 0..n (0: the bias) shown of a unit with n inputs, and whether some were cut."""
        last = min(n, self.limit)
        if last < n:
            self.flags["summarised"] = True
        return range(0, last + 1), last < n

    def num_of(self, k: int, j: int) -> Node:
        """a_j of layer k as a factor (inputs and the bias's 1 printed exactly)."""
        if j == 0 or k < 0:
            node = Num(self.value_of(k, j), exact=True)
            return Paren(node) if node.value < 0 else node
        return self.nf(self.value_of(k, j))

    def src(self, k: int, i: int) -> Node:
        """Symbol of input i of layer k; i = 0 is the bias input x_0 = 1 / a_0 = 1."""
        return self.nm.a(k - 1, i) if (k > 0 or i) else Sym("x", self.nm.idx(0))

    def terms(self, n: int, make: Callable) -> Row:
        """``make(i)`` for i = 0..n joined by +, cut after ``limit`` links with an ellipsis."""
        items: list = []
        last = n if n <= self.limit else self.limit
        for i in range(0, last + 1):
            if items:
                items.append("+")
            items.extend(make(i))
        if last < n:
            self.flags["summarised"] = True
            items += ["+", Dots()]
        return Row(*items)

    def targets_terms(self, make: Callable) -> Row:
        """``make(k)`` for the outputs k = 1..N joined by + (cut like :meth:`terms`)."""
        return self.terms(self.net.sizes[-1] - 1, lambda i: make(i + 1))

    def vector(self, values: np.ndarray, exact: bool = True) -> Node:
        """``(v_1, v_2, ...)`` of a row of values, cut after ``limit`` with an ellipsis."""
        idx, cut = self.shown(len(values))
        nums = [Num(values[i - 1], exact=True) if exact else self.n(values[i - 1]) for i in idx]
        items = [x for n, v in enumerate(nums) for x in ((",", v) if n else (v,))]
        return Paren(Row(*items, *([",", Dots()] if cut else [])))


__all__ = ["Context"]
