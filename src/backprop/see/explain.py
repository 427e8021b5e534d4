"""One online update, worked out with the engine's own numbers in the reference's notation.

:func:`explain` walks the reference's example (``shared/reference/backpropagation.md``) for one
sample: the forward pass (1)-(4), the error E, the error terms of its summary (i) and (ii) -- eq. (4)
once per hidden layer in deeper networks -- and the updates (iii)/(iv), the delta rule (5), with the
old and the new value of every weight, and finally the error after the update.

Every number comes from the engine: ``net.trace`` gives h, a, delta and E; the derivatives g' come
from the activation objects the engine uses; the new weights come from one online SGD step of
``fit`` on a copy of the network (the network passed in is not modified).

The document is built once as a small tree of blocks and math nodes, and rendered as terminal text
(with colour through rich), Markdown with LaTeX, a LaTeX document or a standalone HTML page whose
equations are MathML (rendered natively by browsers, so it opens offline with no script).
"""

from __future__ import annotations

import html as _html
import math

import numpy as np

from backprop.io.atomic import atomic_write_bytes
from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.model.network import Network
from backprop.train.optimizers import _check_lr
from backprop.core.validation import check_xy

FORMATS = ("text", "markdown", "latex", "html")
#: Units per layer (and links per unit) shown when a network is summarised.
DEFAULT_LIMIT = 4

# ---------------------------------------------------------------------------------------------
# Math nodes: each renders as Unicode text, LaTeX and MathML.
# ---------------------------------------------------------------------------------------------

_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,"))
_SUP = dict(zip("0123456789+-=()hoknijLMN", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ʰᵒᵏⁿⁱʲᴸᴹᴺ"))
_GREEK_TEX = {"∂": r"\partial", "δ": r"\delta", "η": r"\eta", "σ": r"\sigma", "E": r"\mathcal{E}",
              "π": r"\pi"}
_GREEK_MML = {"E": "ℰ"}


def _script(s, table, mark):
    """``s`` in Unicode sub/superscript characters, or ``_x``/``_(xy)`` when one is missing."""
    if all(c in table for c in s):
        return "".join(table[c] for c in s)
    return f"{mark}{s}" if len(s) == 1 else f"{mark}({s})"


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


class _M:
    """A math node."""

    def text(self) -> str:
        raise NotImplementedError

    def tex(self) -> str:
        raise NotImplementedError

    def mml(self) -> str:
        raise NotImplementedError


class Sym(_M):
    """A symbol with optional subscript, superscript, hat and prime: h_j^h, ŷ_k, g'_o."""

    def __init__(self, base, sub=None, sup=None, *, hat=False, prime=False):
        self.base, self.sub, self.sup, self.hat, self.prime = base, sub, sup, hat, prime

    def text(self):
        s = ("ŷ" if self.base == "y" else self.base + "\u0302") if self.hat else self.base
        if self.prime:
            s += "'"
        if self.sub:
            s += _script(self.sub, _SUB, "_")
        if self.sup:
            s += _script(self.sup, _SUP, "^")
        return s

    def tex(self):
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

    def mml(self):
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


def fmt_number(v, digits):
    """``v`` to ``digits`` significant digits, trailing zeros kept (they say how exact it is)."""
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    s = f"{v:#.{digits}g}"
    return s[:-1] if s.endswith(".") else s


def _fmt_exact(v):
    """A user-given value (input, target, eta) as short as it is exact to float32 precision."""
    v = float(v)
    return "0" if v == 0 else f"{v:.6g}"


class Num(_M):
    """A number; ``exact`` ones (inputs, targets, eta, the constant 1) are printed in full."""

    def __init__(self, value, digits=4, *, exact=False):
        self.value = float(value)
        self.s = _fmt_exact(value) if exact else fmt_number(value, digits)

    def text(self):
        return self.s

    def _parts(self):
        mant, _, exp = self.s.partition("e")
        return mant, (int(exp) if exp else None)

    def tex(self):
        mant, exp = self._parts()
        return mant if exp is None else rf"{mant}\times 10^{{{exp}}}"

    def mml(self):
        mant, exp = self._parts()
        neg = mant.startswith("-")
        out = ("<mo>−</mo>" if neg else "") + f"<mn>{mant.lstrip('-')}</mn>"
        if exp is not None:
            e = f"<mrow><mo>−</mo><mn>{-exp}</mn></mrow>" if exp < 0 else f"<mn>{exp}</mn>"
            out += f"<mo>×</mo><msup><mn>10</mn>{e}</msup>"
        return f"<mrow>{out}</mrow>" if (neg or exp is not None) else out


_OPS = {
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


class Op(_M):
    def __init__(self, name):
        self.t, self.x, self.m = _OPS[name]

    def text(self):
        return self.t

    def tex(self):
        return self.x

    def mml(self):
        return f"<mo>{self.m}</mo>"


class Row(_M):
    """Nodes side by side; plain strings become operators."""

    def __init__(self, *items):
        self.items = [Op(i) if isinstance(i, str) else i for i in items]

    def text(self):
        out = []
        for n, item in enumerate(self.items):
            prev = self.items[n - 1] if n else None
            # a thin space between juxtaposed factors (δₖᵒ wⱼₖ), none before a call's parenthesis
            if prev is not None and not isinstance(prev, (Op, Sum)) and not isinstance(item, (Op, Paren)):
                out.append(" ")
            out.append(item.text())
        return "".join(out)

    def tex(self):
        return " ".join(i.tex() for i in self.items)

    def mml(self):
        return "<mrow>" + "".join(i.mml() for i in self.items) + "</mrow>"


class Paren(_M):
    def __init__(self, inner, kind="()"):
        self.inner, self.kind = inner, kind

    def text(self):
        return self.kind[0] + self.inner.text() + self.kind[1]

    def tex(self):
        return rf"\left{self.kind[0]} {self.inner.tex()} \right{self.kind[1]}"

    def mml(self):
        return f"<mrow><mo>{self.kind[0]}</mo>{self.inner.mml()}<mo>{self.kind[1]}</mo></mrow>"


class Frac(_M):
    def __init__(self, num, den):
        self.num, self.den = num, den

    def text(self):
        def p(n):
            t = n.text()
            ops = isinstance(n, Row) and any(isinstance(i, (Op, Sum)) for i in n.items)
            return f"({t})" if ops else t

        return f"{p(self.num)}/{p(self.den)}"

    def tex(self):
        return rf"\frac{{{self.num.tex()}}}{{{self.den.tex()}}}"

    def mml(self):
        return f"<mfrac>{self.num.mml()}{self.den.mml()}</mfrac>"


class Half(_M):
    def text(self):
        return "½"

    def tex(self):
        return r"\tfrac{1}{2}"

    def mml(self):
        return "<mfrac><mn>1</mn><mn>2</mn></mfrac>"


class Pow(_M):
    """``base^exp``; e^x is written exp(x) in plain text."""

    def __init__(self, base, exp):
        self.base, self.exp = base, exp

    def text(self):
        e = self.exp.text()
        if isinstance(self.base, Sym) and self.base.base == "e":
            return f"exp({e})"
        b = self.base.text()
        if isinstance(self.base, (Row, Frac)) or (isinstance(self.base, Num) and self.base.value < 0):
            b = f"({b})"
        return b + _script(e, _SUP, "^")

    def tex(self):
        b = self.base.tex()
        if isinstance(self.base, Num) and self.base.value < 0:
            b = rf"\left({b}\right)"
        return f"{{{b}}}^{{{self.exp.tex()}}}"

    def mml(self):
        b = self.base.mml()
        if isinstance(self.base, Num) and self.base.value < 0:
            b = f"<mrow><mo>(</mo>{b}<mo>)</mo></mrow>"
        return f"<msup>{b}{self.exp.mml()}</msup>"


class Sum(_M):
    """The operator Σ with limits: ``Sum("i=0", Sym("L"))`` (its summand follows in a Row)."""

    def __init__(self, lo, hi=None):
        self.lo, self.hi = lo, hi

    def text(self):
        s = "Σ" + _script(self.lo, _SUB, "_")
        if self.hi is not None:
            s += _script(self.hi.text(), _SUP, "^")
        return s + " "

    def tex(self):
        hi = "" if self.hi is None else f"^{{{self.hi.tex()}}}"
        return rf"\sum_{{{self.lo}}}{hi}"

    def mml(self):
        if self.hi is None:
            return f"<munder><mo>∑</mo>{_mml_tokens(self.lo)}</munder>"
        return f"<munderover><mo>∑</mo>{_mml_tokens(self.lo)}{self.hi.mml()}</munderover>"


class Txt(_M):
    """Words inside a formula."""

    def __init__(self, s):
        self.s = s

    def text(self):
        return self.s

    def tex(self):
        return rf"\text{{{_tex_escape(self.s)}}}"

    def mml(self):
        return f"<mtext>{_html.escape(self.s)}</mtext>"


class Dots(_M):
    def text(self):
        return "…"

    def tex(self):
        return r"\dots"

    def mml(self):
        return "<mo>…</mo>"


class Partial(_M):
    """∂ followed by a symbol: ∂ŷ_l."""

    def __init__(self, sym):
        self.sym = sym

    def text(self):
        return "∂" + self.sym.text()

    def tex(self):
        return r"\partial " + self.sym.tex()

    def mml(self):
        return f"<mrow><mo>∂</mo>{self.sym.mml()}</mrow>"


class Fn(_M):
    """A function applied to an argument: g_h(h_1^h), σ(0.1), ln 0.3."""

    def __init__(self, name, arg):
        self.name = Sym(name) if isinstance(name, str) else name
        self.arg = arg

    def text(self):
        return f"{self.name.text()}({self.arg.text()})"

    def tex(self):
        return rf"{self.name.tex()}\left({self.arg.tex()}\right)"

    def mml(self):
        return f"<mrow>{self.name.mml()}<mo>(</mo>{self.arg.mml()}<mo>)</mo></mrow>"


class Name(Sym):
    """An upright function name: tanh, ln, max."""

    def tex(self):
        if self.base in ("tanh", "ln", "max", "exp"):
            return rf"\{self.base}"
        return rf"\operatorname{{{self.base}}}"

    def mml(self):
        return f"<mi>{self.base}</mi>"


# ---------------------------------------------------------------------------------------------
# Document blocks
# ---------------------------------------------------------------------------------------------

class Heading:
    def __init__(self, title):
        self.title = title


class Para:
    """A paragraph: plain strings, math nodes (inline), ``Label`` and ``Code`` parts."""

    def __init__(self, *parts, note=False):
        self.parts, self.note = parts, note


class Label(str):
    """An equation label such as ``(i)``, shown bold."""


class Code(str):
    """An identifier of the library (``net.trace``), shown as code."""


class Eq:
    """``lhs rel part_1 = part_2 = ... = value`` -- one aligned line; ``note`` follows it."""

    def __init__(self, lhs, parts, rel="=", note=None):
        self.lhs, self.parts, self.rel, self.note = lhs, list(parts), rel, note


class Eqs:
    def __init__(self, rows):
        self.rows = list(rows)


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------

def _tex_escape(s):
    rep = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(rep.get(c, c) for c in s)


def _wrap(segs, width):
    """Fill styled segments into lines of at most ``width`` characters.

    Formulas stay whole, and nothing breaks where no space is (a formula and its full stop).
    """
    words = []  # each word: list of (text, style) pieces written without a space between them
    space = True
    for text, style, atomic in segs:
        pieces = [text] if atomic else text.split(" ")
        for n, w in enumerate(pieces):
            if n:
                space = True
            if not w:
                continue
            if space or not words:
                words.append([])
            words[-1].append((w, style))
            space = False
    lines, line, col = [], [], 0
    for word in words:
        size = sum(len(t) for t, _ in word)
        if line and col + 1 + size > width:
            lines.append(line)
            line, col = [], 0
        if line:
            line.append((" ", ""))
            col += 1
        line += word
        col += size
    if line:
        lines.append(line)
    return lines


def _text_lines(blocks, title, width=100):
    """Lines of (string, rich style) segments."""
    lines = [[(title, "bold")], [("=" * len(title), "bold")]]
    for b in blocks:
        if isinstance(b, Heading):
            lines.append([])
            lines.append([(b.title, "bold underline")])
        elif isinstance(b, Para):
            segs = []
            for p in b.parts:
                if isinstance(p, Label):
                    segs.append((str(p), "bold cyan", True))
                elif isinstance(p, _M):
                    segs.append((p.text(), "magenta", True))
                else:
                    segs.append((str(p), "dim" if b.note else "", False))
            lines += _wrap(segs, width)
        elif isinstance(b, Eqs):
            lhs = [r.lhs.text() for r in b.rows]
            width_l = max(len(s) for s in lhs)
            for r, left in zip(b.rows, lhs):
                if not r.parts:  # an ellipsis line of a summarised layer
                    lines.append([("    " + left.rjust(width_l), "dim")])
                    continue
                segs = [("    " + left.rjust(width_l), "bold"), (_OPS[r.rel][0], "")]
                for n, part in enumerate(r.parts):
                    if n:
                        segs.append((" = ", ""))
                    last = n == len(r.parts) - 1
                    segs.append((part.text(), "bold green" if last else ""))
                if r.note:
                    segs.append(("   " + r.note, "dim"))
                lines.append(segs)
    return lines


def render_text(blocks, title):
    return "\n".join("".join(s for s, _ in line) for line in _text_lines(blocks, title)) + "\n"


def _inline_md(parts, math=lambda m: f"${m.tex()}$", code=lambda c: f"`{c}`",
               label=lambda s: f"**{s}**", plain=lambda s: s):
    out = []
    for p in parts:
        if isinstance(p, Label):
            out.append(label(p))
        elif isinstance(p, Code):
            out.append(code(p))
        elif isinstance(p, _M):
            out.append(math(p))
        else:
            out.append(plain(str(p)))
    return "".join(out)


def _tex_row(r):
    if not r.parts:
        return r"\vdots &"
    rhs = " = ".join(p.tex() for p in r.parts)
    note = rf" \quad \text{{{_tex_escape(r.note)}}}" if r.note else ""
    return f"{r.lhs.tex()} &{_OPS[r.rel][1]} {rhs}{note}"


def render_markdown(blocks, title):
    out = [f"# {title}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            out += [f"## {b.title}", ""]
        elif isinstance(b, Para):
            s = _inline_md(b.parts)
            out += [f"*{s}*" if b.note else s, ""]
        elif isinstance(b, Eqs):
            out.append("$$")
            out.append(r"\begin{aligned}")
            out += [_tex_row(r) + r" \\" for r in b.rows]
            out.append(r"\end{aligned}")
            out += ["$$", ""]
    return "\n".join(out)


def render_latex(blocks, title):
    out = [
        r"\documentclass[11pt]{article}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage{amsmath,amssymb}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\allowdisplaybreaks",
        r"\begin{document}",
        rf"\section*{{{_tex_escape(title)}}}",
        "",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            out += [rf"\subsection*{{{_tex_escape(b.title)}}}", ""]
        elif isinstance(b, Para):
            s = _inline_md(b.parts, code=lambda c: rf"\texttt{{{_tex_escape(c)}}}",
                           label=lambda s: rf"\textbf{{{s}}}", plain=_tex_escape)
            out += [rf"\emph{{{s}}}" if b.note else s, ""]
        elif isinstance(b, Eqs):
            out.append(r"\begin{align*}")
            out += [_tex_row(r) + (r" \\" if i < len(b.rows) - 1 else "") for i, r in enumerate(b.rows)]
            out += [r"\end{align*}", ""]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


_CSS = """
.backprop-explain { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5;
  max-width: 72rem; margin: 0 auto; padding: 0 1rem 2rem; color: #1b1b1b; }
.backprop-explain h1 { font-size: 1.5rem; }
.backprop-explain h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; margin-top: 1.6rem; }
.backprop-explain table.eqs { border-collapse: collapse; margin: 0.4rem 0 0.8rem 1.5rem; }
.backprop-explain table.eqs td { padding: 0.15rem 0.3rem; white-space: nowrap; vertical-align: middle; }
.backprop-explain td.lhs { text-align: right; }
.backprop-explain td.rhs { text-align: left; }
.backprop-explain td.note { color: #666; font-size: 0.9em; }
.backprop-explain .note { color: #555; font-style: italic; }
.backprop-explain .label { font-weight: bold; }
.backprop-explain math { font-size: 1.1em; }
"""


def _html_inline(parts):
    return _inline_md(
        parts,
        math=lambda m: f"<math>{m.mml()}</math>",
        code=lambda c: f"<code>{_html.escape(c)}</code>",
        label=lambda s: f'<span class="label">{_html.escape(s)}</span>',
        plain=_html.escape,
    )


def render_html_fragment(blocks, title, *, style=True):
    out = ['<div class="backprop-explain">']
    if style:
        out.append(f"<style>{_CSS}</style>")
    out.append(f"<h1>{_html.escape(title)}</h1>")
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h2>{_html.escape(b.title)}</h2>")
        elif isinstance(b, Para):
            cls = ' class="note"' if b.note else ""
            out.append(f"<p{cls}>{_html_inline(b.parts)}</p>")
        elif isinstance(b, Eqs):
            out.append('<table class="eqs">')
            for r in b.rows:
                if not r.parts:
                    out.append('<tr><td class="lhs"><math><mo>⋮</mo></math></td><td></td></tr>')
                    continue
                rhs = Row(Op(r.rel), *[x for n, p in enumerate(r.parts)
                                       for x in ((Op("="), p) if n else (p,))])
                note = f'<td class="note">{_html.escape(r.note)}</td>' if r.note else ""
                out.append(f'<tr><td class="lhs"><math>{r.lhs.mml()}</math></td>'
                           f'<td class="rhs"><math>{rhs.mml()}</math></td>{note}</tr>')
            out.append("</table>")
    out.append("</div>")
    return "\n".join(out)


def render_html(blocks, title):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        f"<title>{_html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + render_html_fragment(blocks, title, style=False)
        + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------
# The walk-through
# ---------------------------------------------------------------------------------------------

class _Names:
    """The reference's symbols for a network of ``L`` weight layers (engine layer index k).

    Two layers: inputs x_i, hidden h_j^h/a_j^h, outputs h_k^o/ŷ_k, weights v and w (the worked
    example). One layer: x_i, h_k^o, ŷ_k and w_ik. Deeper: hidden layer k gets superscript k,
    its incoming weights w^k; the output keeps o and ŷ.
    """

    def __init__(self, sizes):
        self.sizes = sizes
        self.L = len(sizes) - 1
        self.wide = max(sizes) >= 10

    def idx(self, *ii):
        if self.wide and all(isinstance(i, int) for i in ii):
            return ",".join(str(i) for i in ii)
        return "".join(str(i) for i in ii)

    def tag(self, k):
        if k == self.L - 1:
            return "o"
        return "h" if self.L == 2 else str(k + 1)

    def h(self, k, j):
        return Sym("h", self.idx(j), self.tag(k))

    def a(self, k, j):
        """Output of layer k (k = -1: the input x)."""
        if k < 0:
            return Sym("x", self.idx(j))
        if k == self.L - 1:
            return Sym("y", self.idx(j), hat=True)
        return Sym("a", self.idx(j), self.tag(k))

    def w(self, k, i, j):
        base = "v" if (self.L == 2 and k == 0) else "w"
        return Sym(base, self.idx(i, j), str(k + 1) if self.L > 2 else None)

    def delta(self, k, j):
        return Sym("δ", self.idx(j), self.tag(k))

    def g(self, k, *, prime=False):
        return Sym("g", "o" if k == self.L - 1 else "h", prime=prime)

    def letter(self, k):
        """Index letter of the units of layer k in the generic formulas."""
        if k < 0:
            return "i"
        if k == self.L - 1:
            return "k"
        return "j"

    def src_letter(self, k):
        """Index letter of the inputs of layer k: i, except j (hidden) into the output layer."""
        return "j" if (k == self.L - 1 and self.L > 1) else "i"

    def count(self, k):
        """Symbol for the number of units of layer k (k = -1: inputs): L, M, N as in the reference's
        example, N_k (the reference's N_h) for the hidden layers of deeper networks."""
        if self.L <= 2:
            return Sym({-1: "L", 0: "M" if self.L == 2 else "N", 1: "N"}[k])
        if k == self.L - 1:
            return Sym("N")
        return Sym("L") if k < 0 else Sym("N", str(k + 1))

    def wname(self, k):
        """The weights of layer k as a whole: v, w or w^k."""
        return Sym("v" if (self.L == 2 and k == 0) else "w", None, str(k + 1) if self.L > 2 else None)


def _describe_activation(act, names, k):
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


class _Builder:
    def __init__(self, net, x, y, before, after_net, after, lr, loss, digits, limit, note=None):
        self.net, self.x, self.y, self.lr, self.note = net, x, y, lr, note
        self.t, self.net2, self.t2 = before, after_net, after
        self.loss, self.digits, self.limit = loss, digits, limit
        self.nm = _Names(net.sizes)
        self.L = net.n_layers
        self.summarised = False
        # g'(h) of every elementwise layer, by the engine's own activation objects
        self.gprime = [
            act.derivative(h, a)[0] if act.elementwise else None
            for act, h, a in zip(net.activations, before.h, before.a)
        ]

    # -- helpers --------------------------------------------------------------------------------
    def n(self, v):
        return Num(v, self.digits)

    def nf(self, v):
        """A number as a factor: negative ones in parentheses."""
        node = self.n(v)
        return Paren(node) if node.value < 0 else node

    def shown(self, n):
        if n > self.limit:
            self.summarised = True
            return range(1, self.limit + 1), True
        return range(1, n + 1), False

    def value_of(self, k, j):
        """a_j of layer k (k = -1: x_j); j = 0 is the constant 1 of the bias."""
        if j == 0:
            return 1.0
        if k < 0:
            return float(self.t.x[0, j - 1])
        return float(self.t.a[k][0, j - 1])

    def num_of(self, k, j):
        """a_j of layer k as a factor (inputs and the bias's 1 printed exactly)."""
        if j == 0 or k < 0:
            node = Num(self.value_of(k, j), exact=True)
            return Paren(node) if node.value < 0 else node
        return self.nf(self.value_of(k, j))

    def src(self, k, i):
        """Symbol of input i of layer k; i = 0 is the bias input x_0 = 1 / a_0 = 1."""
        return self.nm.a(k - 1, i) if (k > 0 or i) else Sym("x", self.nm.idx(0))

    def weight(self, net, k, i, j):
        return float(net.biases[k][j - 1] if i == 0 else net.weights[k][i - 1, j - 1])

    def terms(self, n, make):
        """``make(i)`` for i = 0..n joined by +, cut after ``limit`` links with an ellipsis."""
        items = []
        last = n if n <= self.limit else self.limit
        for i in range(0, last + 1):
            if items:
                items.append("+")
            items.extend(make(i))
        if last < n:
            self.summarised = True
            items += ["+", Dots()]
        return Row(*items)

    # -- the document ---------------------------------------------------------------------------
    def build(self):
        blocks = self.intro()
        blocks += self.forward()
        blocks += self.error()
        blocks += self.backward()
        blocks += self.updates()
        blocks += self.after()
        blocks.append(Para(
            "Every number above comes from the engine: ", Code("net.trace"), " for the forward and "
            "backward pass, the activation objects for g', and one online step of ", Code("fit"),
            " (optimizer sgd, the delta rule) on a copy of the network for the new weights; the "
            "network itself is unchanged.", note=True))
        if self.summarised:
            blocks.insert(2, Para(
                f"A large network: only the first {self.limit} units of each layer and the first "
                f"{self.limit} links into each unit are shown (… marks the rest); all=True "
                "(--all) shows everything.", note=True))
        return blocks

    def intro(self):
        net, nm = self.net, self.nm
        acts = ", ".join(net.hidden) or "(none)"
        sizes = "-".join(str(s) for s in net.sizes)
        xs, cut = self.shown(net.sizes[0])
        ys, cut_y = self.shown(net.sizes[-1])
        xv = lambda i: Num(self.x[i - 1], exact=True)  # noqa: E731
        xvec = Row(*[x for i in xs for x in ((",", xv(i)) if i > 1 else (xv(i),))],
                   *([",", Dots()] if cut else []))
        yvec = Row(*[x for i in ys for x in (
            (",", Num(self.y[i - 1], exact=True)) if i > 1 else (Num(self.y[i - 1], exact=True),))],
            *([",", Dots()] if cut_y else []))
        blocks = [Para(
            f"Network {sizes} (", Row(nm.count(-1), "=", Num(net.sizes[0], exact=True)),
            " input" + ("s" if net.sizes[0] > 1 else "") + ", " + (f"{self.L - 1} hidden layer{'s' if self.L > 2 else ''}, " if self.L > 1 else ""),
            Row(Sym("N"), "=", Num(net.sizes[-1], exact=True)),
            " output" + ("s" if net.sizes[-1] > 1 else "") + "), hidden activation ",
            Code(acts), ", output activation ", Code(net.output), ", loss ", Code(self.loss.name),
            ", learning rate ", Row(Sym("η"), "=", Num(self.lr, exact=True)), ". One online update "
            "for the sample ", Row(Sym("x"), "=", Paren(xvec)), " with target ",
            Row(Sym("y"), "=", Paren(yvec)), ".")]
        if self.note:
            blocks.append(Para(self.note))
        if self.L == 2:
            notation = Para(
                "Notation of the reference's example: ", Sym("v", "ij"),
                " is the weight from input i to hidden unit j, ", Sym("w", "jk"),
                " the weight from hidden unit j to output k. The bias is the weight of a constant "
                "input: ", Sym("v", "0j"), " with ", Row(Sym("x", "0"), "=", Num(1, exact=True)),
                " and ", Sym("w", "0k"), " with ", Row(Sym("a", "0", "h"), "=", Num(1, exact=True)),
                " (the engine keeps them apart in ", Code("net.biases"), ").")
        elif self.L == 1:
            notation = Para(
                Sym("w", "ik"), " is the weight from input i to output k; the bias is ",
                Sym("w", "0k"), ", the weight of the constant input ",
                Row(Sym("x", "0"), "=", Num(1, exact=True)), ".")
        else:
            notation = Para(
                "Notation of the reference: ", Sym("w", "ij", "k"),
                " links neuron i of layer k-1 to neuron j of layer k (layer 0 is the input x, "
                f"layer {self.L} the output, written ", Sym("h", "k", "o"), ", ", Sym("y", "k", hat=True),
                ", ", Sym("δ", "k", "o"), "). The bias is ", Sym("w", "0j", "k"),
                ", the weight of a constant ", Row(Sym("a", "0", "k-1"), "=", Num(1, exact=True)),
                " (", Row(Sym("x", "0"), "=", Num(1, exact=True)), ").")
        return blocks + [notation]

    def forward(self):
        net, nm, t = self.net, self.nm, self.t
        blocks = [Heading("Forward pass, (1)-(4)")]
        for k in range(self.L):
            out = k == self.L - 1
            eq_h, eq_a = ("(3)", "(4)") if out and self.L > 1 else ("(1)", "(2)")
            where = "" if self.L <= 2 else (" (output layer)" if out else f" (layer {k + 1})")
            u, s = nm.letter(k), nm.src_letter(k)
            generic_src = Sym("x", s) if k == 0 else nm.a(k - 1, s)
            generic = Row(nm.h(k, u), "=", Sum(f"{s}=0", nm.count(k - 1)),
                          generic_src, nm.w(k, s, u))
            blocks.append(Para(Label(eq_h), where + " ", generic,
                               ": the affine transformation, bias included."))
            n_in = net.sizes[k]
            units, cut = self.shown(net.sizes[k + 1])
            rows = []
            for j in units:
                sym = self.terms(n_in, lambda i, j=j: (self.src(k, i), "*", nm.w(k, i, j)))
                nums = self.terms(n_in, lambda i, j=j: (self.num_of(k - 1, i), "*",
                                                        self.nf(self.weight(net, k, i, j))))
                rows.append(Eq(nm.h(k, j), [sym, nums, self.n(t.h[k][0, j - 1])]))
            if cut:
                rows.append(Eq(Dots(), []))
            blocks.append(Eqs(rows))
            act = net.activations[k]
            blocks.append(Para(Label(eq_a), where + " ", Row(nm.a(k, u), "=", Fn(nm.g(k), nm.h(k, u))),
                               " with ", Code(act.name), ": ", _describe_activation(act, nm, k), "."))
            rows = []
            for j in units:
                if act.name == "softmax":
                    n_out = net.sizes[-1]
                    den = self.terms(n_out - 1, lambda i: (Pow(Sym("e"), self.n(t.h[k][0, i])),))
                    rows.append(Eq(nm.a(k, j), [
                        Frac(Pow(Sym("e"), nm.h(k, j)),
                             Row(Sum("l=1", Sym("N")), Pow(Sym("e"), nm.h(k, "l")))),
                        Frac(Pow(Sym("e"), self.n(t.h[k][0, j - 1])), den),
                        self.n(t.a[k][0, j - 1])]))
                else:
                    rows.append(Eq(nm.a(k, j), [Fn(nm.g(k), nm.h(k, j)),
                                                Fn(nm.g(k), self.n(t.h[k][0, j - 1])),
                                                self.n(t.a[k][0, j - 1])]))
            if cut:
                rows.append(Eq(Dots(), []))
            blocks.append(Eqs(rows))
        return blocks

    def _targets_terms(self, make):
        N = self.net.sizes[-1]
        return self.terms(N - 1, lambda i: make(i + 1))

    def error(self):
        t, L = self.t, self.L - 1
        yh = lambda k: self.n(t.a[L][0, k - 1])  # noqa: E731
        yv = lambda k: Num(self.y[k - 1], exact=True)  # noqa: E731
        name = self.loss.name
        E = Sym("E")
        yk, yhk = Sym("y", "k"), Sym("y", "k", hat=True)
        if name == "mse":
            generic = Row(E, "=", Half(), Sum("k=1", Sym("N")),
                          Pow(Paren(Row(yhk, "-", yk)), Num(2, exact=True)))
            sub = Row(Half(), Paren(self._targets_terms(
                lambda k: (Pow(Paren(Row(yh(k), "-", yv(k))), Num(2, exact=True)),)), "[]"))
            text = "the reference's sum of squares"
        elif name == "binary_cross_entropy":
            generic = Row(E, "=", "neg", Sum("k=1", Sym("N")), Paren(Row(
                yk, Fn(Name("ln"), yhk), "+", Paren(Row(Num(1, exact=True), "-", yk)),
                Fn(Name("ln"), Row(Num(1, exact=True), "-", yhk))), "[]"))
            sub = Row("neg", Paren(self._targets_terms(lambda k: (
                yv(k), "*", Fn(Name("ln"), yh(k)), "+", Num(1 - self.y[k - 1], exact=True), "*",
                Fn(Name("ln"), Row(Num(1, exact=True), "-", yh(k))))), "[]"))
            text = "binary cross-entropy (summed over the outputs)"
        else:
            generic = Row(E, "=", "neg", Sum("k=1", Sym("N")), yk, Fn(Name("ln"), yhk))
            sub = Row("neg", Paren(self._targets_terms(
                lambda k: (yv(k), "*", Fn(Name("ln"), yh(k)))), "[]"))
            text = "cross-entropy"
        return [Heading("Error"),
                Para("The error of this sample, ", text, ": ", generic, "."),
                Eqs([Eq(E, [sub, self.n(t.loss)])])]

    def _gprime_row(self, k, j):
        """g'(h_j) of layer k, substituted where the activation allows it."""
        act = self.net.activations[k]
        h, a = float(self.t.h[k][0, j - 1]), float(self.t.a[k][0, j - 1])
        gp = self.n(self.gprime[k][j - 1])
        lhs = Fn(self.nm.g(k, prime=True), self.nm.h(k, j))
        asym, an = self.nm.a(k, j), self.nf(a)
        one = Num(1, exact=True)
        if act.name == "sigmoid":
            return Eq(lhs, [Row(asym, Paren(Row(one, "-", asym))),
                            Row(an, "*", Paren(Row(one, "-", an))), gp])
        if act.name == "tanh":
            return Eq(lhs, [Row(one, "-", Pow(Paren(asym), Num(2, exact=True))),
                            Row(one, "-", Pow(self.n(a), Num(2, exact=True))), gp])
        if act.name == "elu" and h <= 0:
            return Eq(lhs, [Row(asym, "+", one), Row(an, "+", one), gp])
        if act.name == "softplus":
            return Eq(lhs, [Fn(Sym("σ"), self.nm.h(k, j)), Fn(Sym("σ"), self.n(h)), gp])
        if act.name in ("relu", "leaky_relu", "elu"):
            why = "because h > 0" if h > 0 else "because h ≤ 0"
            return Eq(lhs, [gp], note=why)
        return Eq(lhs, [gp])

    def backward(self):
        net, nm, t = self.net, self.nm, self.t
        L = self.L - 1
        blocks = [Heading("Backward pass: the error terms")]
        g_o = net.activations[L]
        matched = (self.loss.name, g_o.name) in (("binary_cross_entropy", "sigmoid"),
                                                 ("cross_entropy", "softmax"))
        units, cut = self.shown(net.sizes[-1])
        yh = lambda k: self.n(t.a[L][0, k - 1])  # noqa: E731
        yv = lambda k: Num(self.y[k - 1], exact=True)  # noqa: E731
        d = lambda k, j: self.n(t.delta[k][0, j - 1])  # noqa: E731
        dk, yk, yhk = nm.delta(L, "k"), Sym("y", "k"), Sym("y", "k", hat=True)
        rows = []
        if matched:
            one = Num(1, exact=True)
            dEdy = Frac(Partial(Sym("E")), Partial(yhk))
            if g_o.name == "sigmoid":
                why = ("for binary cross-entropy ",
                       Row(dEdy, "=", Frac(Row(yhk, "-", yk), Row(yhk, Paren(Row(one, "-", yhk))))),
                       " and the sigmoid's ", Row(Fn(nm.g(L, prime=True), nm.h(L, "k")), "=", yhk,
                                                  Paren(Row(one, "-", yhk))),
                       " cancel")
            else:
                yl, yhl = Sym("y", "l"), Sym("y", "l", hat=True)
                why = ("for cross-entropy ", Row(dEdy, "=", "neg", Frac(yk, yhk)),
                       " and the softmax's Jacobian ",
                       Row(Frac(Partial(yhl), Partial(nm.h(L, "k"))), "=", yhl,
                           Paren(Row(Txt("1[l=k]"), "-", yhk))),
                       " combine, with ", Row(Sum("l=1", Sym("N")), yl, "=", one), ",")
            blocks.append(Para(
                Label("(i)"), " Error term of each output unit, eq. (2): ",
                Row(dk, "=", Paren(Row(yhk, "-", yk)), Fn(nm.g(L, prime=True), nm.h(L, "k"))),
                " in general; here ", *why, " so it simplifies to ", Row(dk, "=", yhk, "-", yk), "."))
            for j in units:
                rows.append(Eq(nm.delta(L, j), [Row(nm.a(L, j), "-", Sym("y", nm.idx(j))),
                                                Row(yh(j), "-", yv(j)), d(L, j)]))
        elif g_o.elementwise:
            blocks.append(Para(
                Label("(i)"), " Error term of each output unit, eqs. (6)-(10) and (2): ",
                Row(dk, "=", Paren(Row(yhk, "-", yk)), Fn(nm.g(L, prime=True), nm.h(L, "k"))), "."))
            for j in units:
                rows.append(self._gprime_row(L, j))
                rows.append(Eq(nm.delta(L, j), [
                    Row(Paren(Row(nm.a(L, j), "-", Sym("y", nm.idx(j)))), "*",
                        Fn(nm.g(L, prime=True), nm.h(L, j))),
                    Row(Paren(Row(yh(j), "-", yv(j))), "*", self.nf(self.gprime[L][j - 1])),
                    d(L, j)]))
        else:  # softmax with mse: g'_o is a Jacobian, da_l/dh_k = a_l (1[l=k] - a_k)
            yl, yhl = Sym("y", "l"), Sym("y", "l", hat=True)
            s_sym = Sym("s")
            s_val = float(np.dot(t.a[L][0] - self.y, t.a[L][0]))
            blocks.append(Para(
                Label("(i)"), " Error term of each output unit, eq. (2) with the softmax's Jacobian ",
                Row(Frac(Partial(yhl), Partial(nm.h(L, "k"))), "=", yhl, Paren(Row(Txt("1[l=k]"), "-", yhk))),
                " in place of ", Fn(nm.g(L, prime=True), nm.h(L, "k")), ": ",
                Row(dk, "=", Sum("l=1", Sym("N")), Paren(Row(yhl, "-", yl)),
                    Frac(Partial(yhl), Partial(nm.h(L, "k"))),
                    "=", yhk, Paren(Row(Paren(Row(yhk, "-", yk)), "-", s_sym), "[]")),
                " with ", Row(s_sym, "=", Sum("l=1", Sym("N")), Paren(Row(yhl, "-", yl)), yhl), "."))
            rows.append(Eq(s_sym, [self._targets_terms(
                lambda k: (Paren(Row(yh(k), "-", yv(k))), "*", yh(k))), self.n(s_val)]))
            for j in units:
                rows.append(Eq(nm.delta(L, j), [
                    Row(nm.a(L, j),
                        Paren(Row(Paren(Row(nm.a(L, j), "-", Sym("y", nm.idx(j)))), "-", s_sym), "[]")),
                    Row(yh(j), "*", Paren(Row(Paren(Row(yh(j), "-", yv(j))), "-", self.nf(s_val)), "[]")),
                    d(L, j)]))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
        # (ii): eq. (4) once per hidden layer, from the top down
        for k in range(L - 1, -1, -1):
            nxt = k + 1
            j_, k_ = "j", "k"
            wsym = (lambda i, m, nxt=nxt: nm.w(nxt, i, m))
            generic = Row(nm.delta(k, j_), "=", Fn(nm.g(k, prime=True), nm.h(k, j_)),
                          Sum(f"{k_}=1", nm.count(nxt)), nm.delta(nxt, k_), wsym(j_, k_))
            where = f" for layer {k + 1}" if self.L > 2 else ""
            blocks.append(Para(
                Label("(ii)"), f" Error term of each hidden unit{where}, eq. (4), (12)-(17): ", generic,
                " -- the error terms of the layer above flow back through the weights ", nm.wname(nxt),
                " (their values before the update)."))
            rows = []
            hidden_units, cut = self.shown(net.sizes[k + 1])
            n_next = net.sizes[nxt + 1]
            for j in hidden_units:
                sym = self.terms(n_next - 1, lambda m, j=j: (nm.delta(nxt, m + 1), "*", wsym(j, m + 1)))
                nums = self.terms(n_next - 1, lambda m, j=j: (
                    self.nf(t.delta[nxt][0, m]), "*", self.nf(self.weight(net, nxt, j, m + 1))))
                rows.append(self._gprime_row(k, j))
                rows.append(Eq(nm.delta(k, j), [
                    Row(Fn(nm.g(k, prime=True), nm.h(k, j)), "*", Paren(sym)),
                    Row(self.nf(self.gprime[k][j - 1]), "*", Paren(nums)),
                    d(k, j)]))
            if cut:
                rows.append(Eq(Dots(), []))
            blocks.append(Eqs(rows))
        return blocks

    def updates(self):
        net, nm, t = self.net, self.nm, self.t
        eta = Sym("η")
        blocks = [Heading(f"Updating the weights: the delta rule (5), η = {_fmt_exact(self.lr)}")]
        for k in range(self.L - 1, -1, -1):
            out = k == self.L - 1
            u = nm.letter(k)
            s = nm.src_letter(k)
            src_generic = Sym("x", s) if k == 0 else nm.a(k - 1, s)
            wg = nm.w(k, s, u)
            label = "(iii)" if out else "(iv)"
            eqno = {(True, 2): "(11)", (False, 2): "(18)"}.get((out, self.L), "(1) and (5)")
            zero_src = Row(Sym("x", "0"), "=", Num(1, exact=True)) if k == 0 else Row(
                nm.a(k - 1, 0), "=", Num(1, exact=True))
            blocks.append(Para(
                Label(label), " The weights ", nm.wname(k), " into the "
                + ("output layer" if out else (f"hidden layer {k + 1}" if self.L > 2 else "hidden layer"))
                + f", eq. {eqno}: ", Row(wg, "<-", wg, "-", eta, nm.delta(k, u), src_generic),
                f" ({s} = 0 is the bias, ", zero_src, ")."))
            rows = []
            units, cut = self.shown(net.sizes[k + 1])
            n_in = net.sizes[k]
            last = min(n_in, self.limit)
            for j in units:
                dval = float(t.delta[k][0, j - 1])
                for i in range(0, last + 1):
                    w_sym = nm.w(k, i, j)
                    old = self.weight(net, k, i, j)
                    new = self.weight(self.net2, k, i, j)
                    rows.append(Eq(w_sym, [
                        Row(w_sym, "-", eta, "*", nm.delta(k, j), "*", self.src(k, i)),
                        Row(self.n(old), "-", Num(self.lr, exact=True), "*", self.nf(dval), "*",
                            self.num_of(k - 1, i)),
                        self.n(new)], rel="<-"))
                if last < n_in:
                    self.summarised = True
                    rows.append(Eq(Dots(), []))
            if cut:
                rows.append(Eq(Dots(), []))
            blocks.append(Eqs(rows))
        return blocks

    def after(self):
        t, t2, L = self.t, self.t2, self.L - 1
        units, cut = self.shown(self.net.sizes[-1])
        rows = [Eq(self.nm.a(L, j), [self.n(t2.a[L][0, j - 1])],
                   note=f"(before: {fmt_number(t.a[L][0, j - 1], self.digits)})") for j in units]
        if cut:
            rows.append(Eq(Dots(), []))
        rows.append(Eq(Sym("E"), [self.n(t2.loss)], note=f"(before: {fmt_number(t.loss, self.digits)})"))
        e0, e1 = float(t.loss), float(t2.loss)
        if e1 < e0:
            pct = f" ({100 * (e0 - e1) / e0:.3g} %)" if e0 > 0 else ""
            verdict = (f"The error fell from {fmt_number(e0, self.digits)} to {fmt_number(e1, self.digits)}, "
                       f"by {fmt_number(e0 - e1, self.digits)}{pct}: one step down the gradient.")
        elif e1 > e0:
            verdict = (f"The error rose from {fmt_number(e0, self.digits)} to {fmt_number(e1, self.digits)}: "
                       f"the step overshot, η = {_fmt_exact(self.lr)} is too large for this point.")
        else:
            verdict = "The error did not change (the gradient is zero here, or too small to show)."
        return [Heading("After the update"),
                Para("A forward pass of the same sample with the new weights:"),
                Eqs(rows), Para(verdict)]


class Explanation:
    """The worked example of one online update; ``str()`` is the document in ``format``.

    Renders itself in Jupyter (Markdown with LaTeX; HTML with MathML when ``format="html"``) and,
    through rich, in colour in a terminal. Other renderings: :meth:`to_text`, :meth:`to_markdown`,
    :meth:`to_latex`, :meth:`to_html`. ``before``/``after`` are the engine's traces of the sample
    before and after the update and ``net_after`` the updated copy of the network.
    """

    title = "Backpropagation, one online update worked out"

    def __init__(self, blocks, format, before, after, net_after):
        self.blocks, self.format = blocks, format
        self.before, self.after, self.net_after = before, after, net_after

    @property
    def loss_before(self):
        return float(self.before.loss)

    @property
    def loss_after(self):
        return float(self.after.loss)

    def to_text(self):
        return render_text(self.blocks, self.title)

    def to_markdown(self):
        return render_markdown(self.blocks, self.title)

    def to_latex(self):
        return render_latex(self.blocks, self.title)

    def to_html(self):
        return render_html(self.blocks, self.title)

    def render(self, format=None):
        format = _check_format(format or self.format)
        return {"text": self.to_text, "markdown": self.to_markdown, "latex": self.to_latex,
                "html": self.to_html}[format]()

    def __str__(self):
        return self.render()

    def __repr__(self):
        return (f"<Explanation ({self.format}): E {fmt_number(self.loss_before, 4)} -> "
                f"{fmt_number(self.loss_after, 4)}; print() it to read it>")

    def _repr_markdown_(self):
        return self.to_markdown()

    def _repr_html_(self):
        if self.format != "html":
            return None  # let the notebook use the Markdown rendering
        return render_html_fragment(self.blocks, self.title)

    def __rich_console__(self, console, options):
        """The text rendering in colour; paragraphs wrapped to the terminal (at most 100 columns),
        equation rows left whole so their columns stay aligned."""
        from rich.text import Text

        out = Text()
        for line in _text_lines(self.blocks, self.title, width=max(40, min(options.max_width, 100))):
            for s, style in line:
                out.append(s, style=style or None)
            out.append("\n")
        yield out

    def save(self, path, format=None):
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
        raise InvalidInputError(f"explain walks one sample: {name} must be one row, got shape {arr.shape}")
    if arr.size != width:
        raise InvalidInputError(f"{name} has {arr.size} value{'s' if arr.size != 1 else ''} but the network "
                                f"has {width} {what}")
    return arr


def explain(net, x, y, *, lr, loss="mse", format="markdown", all=False, digits=4, limit=DEFAULT_LIMIT,
            note=None):
    """Work out one online update of ``net`` for the sample (x, y), in the reference's notation.

    Parameters
    ----------
    net : Network (not modified).
    x : one sample, ``sizes[0]`` numbers.
    y : its target: ``sizes[-1]`` numbers, or a class index for a network with several outputs.
    lr : the learning rate eta of the delta rule, eq. (5).
    loss : "mse" (the reference's E), "binary_cross_entropy" or "cross_entropy".
    format : "markdown" (LaTeX math, for notebooks and docs), "text", "latex" or "html".
    all : show every unit and weight; otherwise layers wider than ``limit`` are cut after
        ``limit`` units (and unit sums after ``limit`` links).
    digits : significant digits of the computed numbers.
    limit : units per layer shown when the network is summarised.
    note : an optional sentence about the sample, shown after the introduction.

    Returns an :class:`Explanation` whose ``str()`` is the document.
    """
    if not isinstance(net, Network):
        raise InvalidTypeError(f"net must be a backprop.Network, got {type(net).__name__}")
    _check_format(format)
    lr = _check_lr(lr)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise InvalidInputError(f"digits must be an integer from 1 to 15, got {digits!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
    loss_obj = net._check_loss(loss)
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
    X, Y = check_xy(xr.reshape(1, -1), Y, net)
    before = net.trace(X, Y, loss_obj)
    net_after = net.copy()
    # the engine's own update: one online step of plain SGD, the delta rule (5)
    net_after.fit(X, Y, loss=loss_obj, epochs=1, lr=lr, mode="online", optimizer="sgd", shuffle=False)
    after = net_after.trace(X, Y, loss_obj)
    b = _Builder(net, X[0], Y[0].astype(float), before, net_after, after, lr, loss_obj, digits,
                 10**9 if all else limit, note)
    return Explanation(b.build(), format, before, after, net_after)


__all__ = ["explain", "Explanation", "FORMATS", "fmt_number"]
