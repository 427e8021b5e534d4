"""Math expression nodes: each renders as Unicode text, LaTeX and MathML.

A formula of the explain document is a small tree of these nodes (symbols, numbers, operators,
rows, fractions, sums, ...). The renderers (``render_text``, ``render_tex``, ``render_html``) ask
each node for its own rendering, so a formula is written once and shown in every format.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Iterable
from typing import Any

_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,"))
_SUP = dict(zip("0123456789+-=()hoknijLMN", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ʰᵒᵏⁿⁱʲᴸᴹᴺ"))
_GREEK_TEX = {"∂": r"\partial", "δ": r"\delta", "η": r"\eta", "σ": r"\sigma", "E": r"\mathcal{E}",
              "π": r"\pi", "λ": r"\lambda"}
_GREEK_MML = {"E": "ℰ"}


#: how text() writes scripts now: [ascii, fell_back] -- see formula_text
_SCRIPTS = [False, False]


def _script(s, table, mark):
    """``s`` in Unicode sub/superscript characters, or ``_x``/``_(xy)`` when one is missing (or
    when :func:`formula_text` asks for that notation throughout)."""
    if not _SCRIPTS[0] and all(c in table for c in s):
        return "".join(table[c] for c in s)
    _SCRIPTS[1] = True
    whole = len(s) == 1 or (s[0] == "(" and s[-1] == ")" and "(" not in s[1:-1])  # x^(1): a sample
    return f"{mark}{s}" if whole else f"{mark}({s})"


def formula_text(*nodes: Node, ascii: bool = False) -> list[str]:
    """The text of ``nodes`` with every script in Unicode sub/superscript characters (h₁ʰ), or with
    ``ascii`` in the ``_``/``^`` notation throughout (h_1^h, w_(ij)^k)."""
    old = list(_SCRIPTS)
    try:
        _SCRIPTS[:] = [ascii, False]
        return [n.text() for n in nodes]
    finally:
        _SCRIPTS[:] = old


def unicode_scripts_suffice(nodes: Iterable[Node]) -> bool:
    """Whether Unicode has a sub/superscript character for every script of ``nodes`` (there is no
    subscript d, for one: the batch formulas' E_d need the ``_`` notation)."""
    old = list(_SCRIPTS)
    try:
        _SCRIPTS[:] = [False, False]
        for n in nodes:
            n.text()
        return not _SCRIPTS[1]
    finally:
        _SCRIPTS[:] = old


def _mml_tokens(s):
    """MathML for a short script string such as ``01``, ``k=1`` or ``12,3``."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c.isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            out.append(f"<mn>{s[i:j]}</mn>")
            i = j
            continue
        if c.isalpha():
            out.append(f"<mi>{_html.escape(_GREEK_MML.get(c, c))}</mi>")
        else:
            out.append(f"<mo>{_html.escape(c.replace('-', '−'))}</mo>")
        i += 1
    return out[0] if len(out) == 1 else "<mrow>" + "".join(out) + "</mrow>"


class Node:
    """A math node: one formula (or part of one) in three renderings."""

    def text(self) -> str:
        raise NotImplementedError

    def tex(self) -> str:
        raise NotImplementedError

    def mml(self) -> str:
        raise NotImplementedError


class Sym(Node):
    """A symbol with optional subscript, superscript, hat and prime: h_j^h, ŷ_k, g'_o."""

    def __init__(self, base: Any, sub: Any | None = None, sup: Any | None = None, *, hat: bool = False,
                 prime: bool = False) -> None:
        self.base, self.sub, self.sup, self.hat, self.prime = base, sub, sup, hat, prime

    def text(self) -> str:
        s = ("ŷ" if self.base == "y" else self.base + "\u0302") if self.hat else self.base
        if self.prime:
            s += "'"
        if self.sub:
            s += _script(self.sub, _SUB, "_")
        if self.sup:
            s += _script(self.sup, _SUP, "^")
        return s

    def tex(self) -> str:
        s = _GREEK_TEX.get(self.base, self.base)
        if self.hat:
            s = rf"\hat{{{s}}}"
        if self.prime:
            s += "'"
        if self.sub:
            s += f"_{{{self.sub}}}"
        if self.sup:
            s += f"^{{{self.sup}}}"
        return s

    def mml(self) -> str:
        base = f"<mi>{_html.escape(_GREEK_MML.get(self.base, self.base))}</mi>"
        if self.hat:
            base = f'<mover accent="true">{base}<mo>^</mo></mover>'
        sup = _mml_tokens(self.sup) if self.sup else None
        if self.prime:
            sup = "<mo>′</mo>" if sup is None else f"<mrow><mo>′</mo>{sup}</mrow>"
        if self.sub and sup:
            return f"<msubsup>{base}{_mml_tokens(self.sub)}{sup}</msubsup>"
        if self.sub:
            return f"<msub>{base}{_mml_tokens(self.sub)}</msub>"
        if sup:
            return f"<msup>{base}{sup}</msup>"
        return base


def fmt_number(v: float, digits: int) -> str:
    """``v`` to ``digits`` significant digits, trailing zeros kept (they say how exact it is)."""
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    s = f"{v:#.{digits}g}"
    return s[:-1] if s.endswith(".") else s


def fmt_exact(v: float) -> str:
    """A user-given value (input, target, eta) as short as it is exact to float32 precision."""
    v = float(v)
    return "0" if v == 0 else f"{v:.6g}"


class Num(Node):
    """A number; ``exact`` ones (inputs, targets, eta, the constant 1) are printed in full."""

    def __init__(self, value: float, digits: int = 4, *, exact: bool = False) -> None:
        self.value = float(value)
        self.s = fmt_exact(value) if exact else fmt_number(value, digits)

    def text(self) -> str:
        return self.s

    def _parts(self):
        mant, _, exp = self.s.partition("e")
        return mant, (int(exp) if exp else None)

    def tex(self) -> str:
        mant, exp = self._parts()
        return mant if exp is None else rf"{mant}\times 10^{{{exp}}}"

    def mml(self) -> str:
        mant, exp = self._parts()
        neg = mant.startswith("-")
        out = ("<mo>−</mo>" if neg else "") + f"<mn>{mant.lstrip('-')}</mn>"
        if exp is not None:
            e = f"<mrow><mo>−</mo><mn>{-exp}</mn></mrow>" if exp < 0 else f"<mn>{exp}</mn>"
            out += f"<mo>×</mo><msup><mn>10</mn>{e}</msup>"
        return f"<mrow>{out}</mrow>" if (neg or exp is not None) else out


OPS = {
    "=": (" = ", "=", "="),
    "+": (" + ", "+", "+"),
    "-": (" - ", "-", "−"),
    "neg": ("-", "-", "−"),
    "*": ("·", r"\cdot", "·"),
    "<-": (" ← ", r"\leftarrow", "←"),
    ",": (", ", ",\\ ", ","),
    ">": (" > ", ">", "&gt;"),
    "<=": (" ≤ ", r"\le", "≤"),
}


class Op(Node):
    """An operator or relation by name (a key of :data:`OPS`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.t, self.x, self.m = OPS[name]

    def text(self) -> str:
        return self.t

    def tex(self) -> str:
        return self.x

    def mml(self) -> str:
        return f"<mo>{self.m}</mo>"


def _negative(node: Node) -> bool:
    return isinstance(node, Num) and node.s.startswith("-")


class Row(Node):
    """Nodes side by side; plain strings become operators."""

    def __init__(self, *items: Any) -> None:
        nodes = [Op(i) if isinstance(i, str) else i for i in items]
        # a negative number after +, - or · is parenthesised: a - (-b), never a - -b
        self.items = [Paren(i) if n and _negative(i) and isinstance(nodes[n - 1], Op)
                      and nodes[n - 1].name in ("+", "-", "*") else i for n, i in enumerate(nodes)]

    def text(self) -> str:
        out = []
        for n, item in enumerate(self.items):
            prev = self.items[n - 1] if n else None
            # a thin space between juxtaposed factors (δₖᵒ wⱼₖ), none before a call's parenthesis
            if prev is not None and not isinstance(prev, (Op, Sum)) and not isinstance(item, (Op, Paren)):
                out.append(" ")
            out.append(item.text())
        return "".join(out)

    def tex(self) -> str:
        return " ".join(i.tex() for i in self.items)

    def mml(self) -> str:
        return "<mrow>" + "".join(i.mml() for i in self.items) + "</mrow>"


class Paren(Node):
    def __init__(self, inner: Node, kind: str = "()") -> None:
        self.inner, self.kind = inner, kind

    def text(self) -> str:
        return self.kind[0] + self.inner.text() + self.kind[1]

    def tex(self) -> str:
        return rf"\left{self.kind[0]} {self.inner.tex()} \right{self.kind[1]}"

    def mml(self) -> str:
        return f"<mrow><mo>{self.kind[0]}</mo>{self.inner.mml()}<mo>{self.kind[1]}</mo></mrow>"


class Frac(Node):
    def __init__(self, num: Any, den: Any) -> None:
        self.num, self.den = num, den

    def text(self) -> str:
        def p(n):
            t = n.text()
            ops = isinstance(n, Row) and any(isinstance(i, (Op, Sum)) for i in n.items)
            return f"({t})" if ops else t

        return f"{p(self.num)}/{p(self.den)}"

    def tex(self) -> str:
        return rf"\frac{{{self.num.tex()}}}{{{self.den.tex()}}}"

    def mml(self) -> str:
        return f"<mfrac>{self.num.mml()}{self.den.mml()}</mfrac>"


class Half(Node):
    def text(self) -> str:
        return "½"

    def tex(self) -> str:
        return r"\tfrac{1}{2}"

    def mml(self) -> str:
        return "<mfrac><mn>1</mn><mn>2</mn></mfrac>"


class Pow(Node):
    """``base^exp``; e^x is written exp(x) in plain text."""

    def __init__(self, base: Any, exp: Any) -> None:
        self.base, self.exp = base, exp

    def text(self) -> str:
        e = self.exp.text()
        if isinstance(self.base, Sym) and self.base.base == "e":
            return f"exp({e})"
        b = self.base.text()
        if isinstance(self.base, (Row, Frac)) or (isinstance(self.base, Num) and self.base.value < 0):
            b = f"({b})"
        return b + _script(e, _SUP, "^")

    def tex(self) -> str:
        b = self.base.tex()
        if isinstance(self.base, Num) and self.base.value < 0:
            b = rf"\left({b}\right)"
        return f"{{{b}}}^{{{self.exp.tex()}}}"

    def mml(self) -> str:
        b = self.base.mml()
        if isinstance(self.base, Num) and self.base.value < 0:
            b = f"<mrow><mo>(</mo>{b}<mo>)</mo></mrow>"
        return f"<msup>{b}{self.exp.mml()}</msup>"


class Sum(Node):
    """The operator Σ with limits: ``Sum("i=0", Sym("L"))`` (its summand follows in a Row)."""

    def __init__(self, lo: Any, hi: Any | None = None) -> None:
        self.lo, self.hi = lo, hi

    def text(self) -> str:
        s = "Σ" + _script(self.lo, _SUB, "_")
        if self.hi is not None:
            s += _script(self.hi.text(), _SUP, "^")
        return s + " "

    def tex(self) -> str:
        hi = "" if self.hi is None else f"^{{{self.hi.tex()}}}"
        return rf"\sum_{{{self.lo}}}{hi}"

    def mml(self) -> str:
        if self.hi is None:
            return f"<munder><mo>∑</mo>{_mml_tokens(self.lo)}</munder>"
        return f"<munderover><mo>∑</mo>{_mml_tokens(self.lo)}{self.hi.mml()}</munderover>"


class Txt(Node):
    """Words inside a formula."""

    def __init__(self, s: str) -> None:
        self.s = s

    def text(self) -> str:
        return self.s

    def tex(self) -> str:
        return rf"\text{{{tex_escape(self.s)}}}"

    def mml(self) -> str:
        return f"<mtext>{_html.escape(self.s)}</mtext>"


class Dots(Node):
    def text(self) -> str:
        return "…"

    def tex(self) -> str:
        return r"\dots"

    def mml(self) -> str:
        return "<mo>…</mo>"


class Partial(Node):
    """∂ followed by a symbol: ∂ŷ_l."""

    def __init__(self, sym: Node) -> None:
        self.sym = sym

    def text(self) -> str:
        return "∂" + self.sym.text()

    def tex(self) -> str:
        return r"\partial " + self.sym.tex()

    def mml(self) -> str:
        return f"<mrow><mo>∂</mo>{self.sym.mml()}</mrow>"


class Fn(Node):
    """A function applied to an argument: g_h(h_1^h), σ(0.1), ln 0.3."""

    def __init__(self, name: Node, arg: Node) -> None:
        self.name = Sym(name) if isinstance(name, str) else name
        self.arg = arg

    def text(self) -> str:
        return f"{self.name.text()}({self.arg.text()})"

    def tex(self) -> str:
        return rf"{self.name.tex()}\left({self.arg.tex()}\right)"

    def mml(self) -> str:
        return f"<mrow>{self.name.mml()}<mo>(</mo>{self.arg.mml()}<mo>)</mo></mrow>"


class Name(Sym):
    """An upright function name: tanh, ln, max."""

    def tex(self) -> str:
        if self.base in ("tanh", "ln", "max", "exp"):
            return rf"\{self.base}"
        return rf"\operatorname{{{self.base}}}"

    def mml(self) -> str:
        return f"<mi>{self.base}</mi>"


_TEX_TEXT = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             # pdflatex has no glyphs for these in text mode: the math-mode symbols instead
             "η": r"$\eta$", "δ": r"$\delta$", "σ": r"$\sigma$", "π": r"$\pi$", "Σ": r"$\Sigma$",
             "λ": r"$\lambda$",
             "≤": r"$\le$", "≥": r"$\ge$", "←": r"$\leftarrow$", "→": r"$\rightarrow$",
             "×": r"$\times$", "·": r"$\cdot$", "−": "-", "…": r"\dots{}", "∂": r"$\partial$",
             "ŷ": r"$\hat{y}$", "½": r"$\frac{1}{2}$", "‖": r"$\|$"}


def tex_escape(s: str) -> str:
    """``s`` as LaTeX text: special characters escaped, Greek letters and math signs as math."""
    return "".join(_TEX_TEXT.get(c, c) for c in s)


__all__ = ["Node", "Sym", "Num", "Op", "Row", "Paren", "Frac", "Half", "Pow", "Sum", "Txt", "Dots",
           "Partial", "Fn", "Name", "OPS", "fmt_number", "fmt_exact", "tex_escape"]
