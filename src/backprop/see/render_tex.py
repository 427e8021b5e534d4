"""The explain document in LaTeX math: Markdown with $...$ (notebooks, docs) and a LaTeX document.

Markdown keeps each equation row on one line (``lhs &= part = ... = value \\``): notebooks scroll
wide formulas, and the rows stay easy to read back. The LaTeX document must fit an A4 page, so
its rows are broken: a row too wide for the line puts each ``= part`` on its own line, a part too
wide for a line is broken before a ``+``/``-`` (or after a comma) with its parentheses made
``\\bigl( ... \\bigr)`` so they may span lines, and whatever still does not fit (a long fraction)
is scaled down to the line width. Widths are estimated from the plain-text rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

from backprop.see.document import Eq, Eqs, Heading, Para, render_parts
from backprop.see.mathnodes import OPS, Node, Op, Paren, Row, tex_escape

#: Characters of plain-text math that fit one line of the LaTeX document's right-hand sides
#: (A4, 2 cm margins, 11 pt: about 88 characters; the rest is room for the left-hand side).
LINE = 80


def _md_math(m) -> str:
    return f"${m.tex()}$"


def tex_row(r: Eq) -> str:
    """One aligned row on one line: ``lhs &= part = ... = value``."""
    if not r.parts:
        return r"\vdots &"
    rhs = " = ".join(p.tex() for p in r.parts)
    note = rf" \quad \text{{{tex_escape(r.note)}}}" if r.note else ""
    return f"{r.lhs.tex()} &{OPS[r.rel][1]} {rhs}{note}"


def render_markdown(blocks: Sequence, title: str) -> str:
    """Markdown with LaTeX math: $inline$ and $$\\begin{aligned}...\\end{aligned}$$ blocks."""
    out = [f"# {title}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            out += [f"## {render_parts(b.parts, math=_md_math)}", ""]
        elif isinstance(b, Para):
            s = render_parts(b.parts, math=_md_math, code=lambda c: f"`{c}`", label=lambda s: f"**{s}**")
            out += [f"*{s}*" if b.note else s, ""]
        elif isinstance(b, Eqs):
            out.append("$$")
            out.append(r"\begin{aligned}")
            out += [tex_row(r) + r" \\" for r in b.rows]
            out.append(r"\end{aligned}")
            out += ["$$", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# breaking rows for the page
# ---------------------------------------------------------------------------------------------
def _width(node: Node) -> int:
    return len(node.text())


def _tokens(node: Node, budget: int):
    """``node`` as (tex, width, break before it allowed) tokens, opening what is too wide."""
    if isinstance(node, Row):
        out = []
        after_comma = False
        for item in node.items:
            if isinstance(item, Op):
                out.append((item.tex(), len(item.text()), item.name in ("+", "-") or after_comma))
                after_comma = item.name == ","
                continue
            toks = _tokens(item, budget) if _width(item) > budget else [(item.tex(), _width(item), False)]
            if after_comma:
                toks[0] = (toks[0][0], toks[0][1], True)
            after_comma = False
            out += toks
        return out
    if isinstance(node, Paren) and _width(node) > budget:
        # \bigl( ... \bigr) may stand on different lines, unlike \left( ... \right)
        o, c = node.kind[0], node.kind[1]
        return [(rf"\bigl{o}", 1, False), *_tokens(node.inner, budget), (rf"\bigr{c}", 1, False)]
    return [(node.tex(), _width(node), False)]


def _fit(tex: str, width: int, budget: int) -> str:
    """``tex`` itself, or scaled down to the line when one unbreakable piece is too wide."""
    return tex if width <= budget else rf"\text{{\fitmath{{{tex}}}}}"


def _lines_of(node: Node, budget: int) -> list[str]:
    """``node`` broken into lines of at most ``budget`` estimated characters."""
    if _width(node) <= budget:
        return [node.tex()]
    segments: list[tuple[list[str], int]] = []  # runs of tokens from one break point to the next
    for tex, tw, can_break in _tokens(node, budget):
        if can_break or not segments:
            segments.append(([], 0))
        toks, w = segments[-1]
        segments[-1] = (toks + [tex], w + tw)
    lines: list[tuple[list[str], int]] = []
    cur: list[str] = []
    w = 0
    for toks, sw in segments:
        if cur and w + sw > budget:
            lines.append((cur, w))
            cur, w = [], 0
        cur += toks
        w += sw
    lines.append((cur, w))
    return [_fit(" ".join(toks), lw, budget) for toks, lw in lines]


def _latex_row(r: Eq) -> list[str]:
    """The lines (without the final ``\\\\``) of one row in an ``align*``."""
    if not r.parts:
        return [r"\vdots &"]
    lhs, rel = r.lhs.tex(), OPS[r.rel][1]
    note = rf" \quad \text{{{tex_escape(r.note)}}}" if r.note else ""
    note_w = len(r.note) + 4 if r.note else 0
    lhs_w = _width(r.lhs)
    budget = max(LINE - lhs_w, 24)
    whole = sum(_width(p) + 3 for p in r.parts) + note_w
    if whole <= budget:
        return [tex_row(r)]
    out = []
    for n, part in enumerate(r.parts):
        pieces = _lines_of(part, budget - 4)
        first = f"{lhs} &{rel} " if n == 0 else "&= "
        out.append(first + pieces[0])
        out += [r"&\quad " + p for p in pieces[1:]]
    if note:
        out[-1] += note
    return out


_PREAMBLE = [
    r"\documentclass[11pt,a4paper]{article}",
    r"\usepackage[utf8]{inputenc}",
    r"\usepackage{amsmath,amssymb}",
    r"\usepackage{graphicx}",
    r"\usepackage[margin=2cm]{geometry}",
    r"\allowdisplaybreaks",
    r"\setlength{\emergencystretch}{3em}",
    # a formula with no place to break, scaled down only when it is wider than the line
    r"\newsavebox{\bpbox}",
    r"\newcommand{\fitmath}[1]{\sbox{\bpbox}{$\displaystyle #1$}%",
    r"  \ifdim\wd\bpbox>0.7\linewidth\resizebox{0.7\linewidth}{!}{\usebox{\bpbox}}\else\usebox{\bpbox}\fi}",
]


def _inline_tex(m: Node) -> str:
    # TeX breaks inline math only after relations and binary operators, and never inside
    # \left( ... \right): a long formula gets \bigl( ... \bigr) and breaks after commas too
    tex = m.tex() if _width(m) <= 40 else " ".join(t for t, _, _ in _tokens(m, 40))
    return "$" + tex.replace(r",\ ", r",\allowbreak\ ") + "$"


def render_latex(blocks: Sequence, title: str) -> str:
    """A standalone LaTeX document (pdflatex, A4): ``align*`` blocks with rows broken to fit."""
    out = _PREAMBLE + [r"\begin{document}", rf"\section*{{{tex_escape(title)}}}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            out += [rf"\subsection*{{{render_parts(b.parts, math=_inline_tex, plain=tex_escape)}}}", ""]
        elif isinstance(b, Para):
            s = render_parts(b.parts, math=_inline_tex, code=lambda c: rf"\texttt{{{tex_escape(c)}}}",
                             label=lambda s: rf"\textbf{{{s}}}", plain=tex_escape)
            out += [rf"\emph{{{s}}}" if b.note else s, ""]
        elif isinstance(b, Eqs):
            lines = [line for r in b.rows for line in _latex_row(r)]
            out.append(r"\begin{align*}")
            out += [line + (r" \\" if i < len(lines) - 1 else "") for i, line in enumerate(lines)]
            out += [r"\end{align*}", ""]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


__all__ = ["render_markdown", "render_latex", "tex_row", "LINE"]
