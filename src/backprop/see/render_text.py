"""The explain document as terminal text: paragraphs wrapped, equation rows aligned.

:func:`text_lines` gives lines of (string, rich style) segments, so the same layout prints plain
(:func:`render_text`) or in colour through rich (``Explanation.__rich_console__``).
"""

from __future__ import annotations

from collections.abc import Sequence

from backprop.see.document import Eqs, Heading, Label, Para
from backprop.see.mathnodes import OPS, Node, formula_text, unicode_scripts_suffice


def _wrap(segs, width):
    """Fill styled segments into lines of at most ``width`` characters.

    Formulas stay whole, and nothing breaks where no space is (a formula and its full stop).
    """
    words: list[list[tuple[str, str]]] = []  # each word: (text, style) pieces without a space between them
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
    lines: list[list[tuple[str, str]]] = []
    line: list[tuple[str, str]] = []
    col = 0
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


def _formulas(blocks):
    for b in blocks:
        if isinstance(b, Para):
            yield from (p for p in b.parts if isinstance(p, Node))
        elif isinstance(b, Eqs):
            for r in b.rows:
                yield r.lhs
                yield from r.parts


def text_lines(blocks: Sequence, title: str, width: int = 100) -> list[list[tuple[str, str]]]:
    """Lines of (string, rich style) segments.

    One notation of scripts throughout the document: Unicode sub/superscripts (h₁ʰ) where Unicode
    has a character for each of them, else the ``_``/``^`` notation everywhere (h_1^h, E_d), never
    the two side by side."""
    ascii = not unicode_scripts_suffice(_formulas(blocks))
    lines: list[list[tuple[str, str]]] = [[(title, "bold")], [("=" * len(title), "bold")]]
    for b in blocks:
        if isinstance(b, Heading):
            lines.append([])
            lines.append([(b.title, "bold underline")])
        elif isinstance(b, Para):
            lines += _wrap(_para_segments(b, ascii), width)
        elif isinstance(b, Eqs):
            lines += _eqs_lines(b, ascii)
    return lines


def _para_segments(b, ascii):
    """A paragraph's (text, style, atomic) segments: labels and formulas stay whole."""
    segs: list[tuple[str, str, bool]] = []
    for p in b.parts:
        if isinstance(p, Label):
            segs.append((str(p), "bold cyan", True))
        elif isinstance(p, Node):
            segs.append((formula_text(p, ascii=ascii)[0], "magenta", True))
        else:
            segs.append((str(p), "dim" if b.note else "", False))
    return segs


def _eqs_lines(b, ascii):
    """One line per equation, the left-hand sides aligned; the last value of each in bold green."""
    lines: list[list[tuple[str, str]]] = []
    texts = [formula_text(r.lhs, *r.parts, ascii=ascii) for r in b.rows]
    width_l = max(len(t[0]) for t in texts)
    for r, (left, *parts) in zip(b.rows, texts):
        if not r.parts:  # an ellipsis line of a summarised layer
            lines.append([("    " + left.rjust(width_l), "dim")])
            continue
        row = [("    " + left.rjust(width_l), "bold"), (OPS[r.rel][0], "")]
        for n, part in enumerate(parts):
            if n:
                row.append((" = ", ""))
            last = n == len(parts) - 1
            row.append((part, "bold green" if last else ""))
        if r.note:
            row.append(("   " + r.note, "dim"))
        lines.append(row)
    return lines


def render_text(blocks: Sequence, title: str) -> str:
    """The document as plain text (no colour)."""
    return "\n".join("".join(s for s, _ in line) for line in text_lines(blocks, title)) + "\n"


__all__ = ["text_lines", "render_text"]
