"""The reference's symbols for a network of any depth, and the formulas of its activations.

Two weight layers are the reference's worked example: inputs x_i, hidden h_j^h / a_j^h, outputs
h_k^o / ŷ_k, weights v and w. One layer: x_i, h_k^o, ŷ_k and w_ik. Deeper: hidden layer k gets
superscript k and its incoming weights w^k, as in the reference's general notation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop.see.document import Code, Para
from backprop.see.mathnodes import Fn, Frac, Name, Num, Paren, Pow, Row, Sum, Sym, Txt


class Names:
    """The reference's symbols for a network of ``L`` weight layers (engine layer index k).

    Two layers: inputs x_i, hidden h_j^h/a_j^h, outputs h_k^o/ŷ_k, weights v and w (the worked
    example). One layer: x_i, h_k^o, ŷ_k and w_ik. Deeper: hidden layer k gets superscript k,
    its incoming weights w^k; the output keeps o and ŷ.
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = sizes
        self.L = len(sizes) - 1
        self.wide = max(sizes) >= 10

    def idx(self, *ii: int | str) -> str:
        if self.wide and all(isinstance(i, int) for i in ii):
            return ",".join(str(i) for i in ii)
        return "".join(str(i) for i in ii)

    def tag(self, k: int) -> str:
        if k == self.L - 1:
            return "o"
        return "h" if self.L == 2 else str(k + 1)

    def h(self, k: int, j: int | str) -> Sym:
        return Sym("h", self.idx(j), self.tag(k))

    def a(self, k: int, j: int | str) -> Sym:
        """Output of layer k (k = -1: the input x)."""
        if k < 0:
            return Sym("x", self.idx(j))
        if k == self.L - 1:
            return Sym("y", self.idx(j), hat=True)
        return Sym("a", self.idx(j), self.tag(k))

    def w(self, k: int, i: int | str, j: int | str) -> Sym:
        base = "v" if (self.L == 2 and k == 0) else "w"
        return Sym(base, self.idx(i, j), str(k + 1) if self.L > 2 else None)

    def delta(self, k: int, j: int | str) -> Sym:
        return Sym("δ", self.idx(j), self.tag(k))

    def g(self, k: int, *, prime: bool = False) -> Sym:
        return Sym("g", "o" if k == self.L - 1 else "h", prime=prime)

    def letter(self, k: int) -> str:
        """Index letter of the units of layer k in the generic formulas."""
        if k < 0:
            return "i"
        if k == self.L - 1:
            return "k"
        return "j"

    def src_letter(self, k: int) -> str:
        """Index letter of the inputs of layer k: i, except j (hidden) into the output layer."""
        return "j" if (k == self.L - 1 and self.L > 1) else "i"

    def count(self, k: int) -> Sym:
        """Symbol for the number of units of layer k (k = -1: inputs): L, M, N as in the reference's
        example, N_k (the reference's N_h) for the hidden layers of deeper networks."""
        if self.L <= 2:
            return Sym({-1: "L", 0: "M" if self.L == 2 else "N", 1: "N"}[k])
        if k == self.L - 1:
            return Sym("N")
        return Sym("L") if k < 0 else Sym("N", str(k + 1))

    def wname(self, k: int) -> Sym:
        """The weights of layer k as a whole: v, w or w^k."""
        return Sym("v" if (self.L == 2 and k == 0) else "w", None, str(k + 1) if self.L > 2 else None)


def describe_activation(act: Any, names: Names, k: int) -> Row:
    """``g(z) = ...`` for the paragraph introducing eq. (2)/(4)."""
    z = Sym("z")
    g = names.g(k)
    rhs = {
        "sigmoid": Frac(Num(1, exact=True), Row(Num(1, exact=True), "+", Pow(Sym("e"), Row("neg", z)))),
        "tanh": Fn(Name("tanh"), z),
        "relu": Fn(Name("max"), Row(Num(0, exact=True), ",", z)),
        "leaky_relu": Fn(Name("max"), Row(Num(0.01, exact=True), "*", z, ",", z)),
        "identity": z,
        "softplus": Fn(Name("ln"), Row(Num(1, exact=True), "+", Pow(Sym("e"), z))),
        "elu": Txt("z for z > 0, else e^z - 1"),
        "gelu": Row(Frac(z, Num(2, exact=True)), Paren(Row(Num(1, exact=True), "+", Fn(
            Name("tanh"), Row(Pow(Frac(Num(2, exact=True), Sym("π")), Frac(Num(1, exact=True),
                                                                             Num(2, exact=True))),
                              Paren(Row(z, "+", Num(0.044715, exact=True), "*",
                                        Pow(z, Num(3, exact=True))))))))),
    }.get(act.name)
    if act.name == "softmax":
        return Row(Fn(g, Sym("z", "k")), "=", Frac(Pow(Sym("e"), Sym("z", "k")),
                                                   Row(Sum("l"), Pow(Sym("e"), Sym("z", "l")))))
    return Row(Fn(g, z), "=", rhs)


def notation_para(L: int) -> Para:
    """The paragraph that says which symbol is which weight, for ``L`` weight layers."""
    one = Num(1, exact=True)
    if L == 2:
        return Para(
            "Notation of the reference's example: ", Sym("v", "ij"),
            " is the weight from input i to hidden unit j, ", Sym("w", "jk"),
            " the weight from hidden unit j to output k. The bias is the weight of a constant "
            "input: ", Sym("v", "0j"), " with ", Row(Sym("x", "0"), "=", one),
            " and ", Sym("w", "0k"), " with ", Row(Sym("a", "0", "h"), "=", one),
            " (the engine keeps them apart in ", Code("net.biases"), ").")
    if L == 1:
        return Para(
            Sym("w", "ik"), " is the weight from input i to output k; the bias is ",
            Sym("w", "0k"), ", the weight of the constant input ", Row(Sym("x", "0"), "=", one), ".")
    return Para(
        "Notation of the reference: ", Sym("w", "ij", "k"),
        " links neuron i of layer k-1 to neuron j of layer k (layer 0 is the input x, "
        f"layer {L} the output, written ", Sym("h", "k", "o"), ", ", Sym("y", "k", hat=True),
        ", ", Sym("δ", "k", "o"), "). The bias is ", Sym("w", "0j", "k"),
        ", the weight of a constant ", Row(Sym("a", "0", "k-1"), "=", one),
        " (", Row(Sym("x", "0"), "=", one), ").")


__all__ = ["Names", "describe_activation", "notation_para"]
