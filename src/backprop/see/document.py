"""The blocks of an explain document: headings, paragraphs and aligned equation rows.

A document is a flat list of these blocks; the math inside them is made of
:mod:`backprop.see.mathnodes`. Every renderer walks the same list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from backprop.see.mathnodes import Node


class Label(str):
    """An equation label such as ``(i)``, shown bold."""


class Code(str):
    """An identifier of the library (``net.trace``), shown as code."""


class Heading:
    """A section title: plain strings and (inline) math nodes."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    @property
    def title(self) -> str:
        """The title as plain Unicode text."""
        return "".join(p.text() if isinstance(p, Node) else str(p) for p in self.parts)


class Para:
    """A paragraph: plain strings, math nodes (inline), ``Label`` and ``Code`` parts."""

    def __init__(self, *parts: Any, note: bool = False) -> None:
        self.parts, self.note = parts, note


class Eq:
    """``lhs rel part_1 = part_2 = ... = value`` -- one aligned line; ``note`` follows it."""

    def __init__(self, lhs: Any, parts: Any, rel: str = "=", note: str | None = None) -> None:
        self.lhs, self.parts, self.rel, self.note = lhs, list(parts), rel, note


class Eqs:
    """Equation rows aligned at their relation sign."""

    def __init__(self, rows: Sequence[Eq]) -> None:
        self.rows = list(rows)


#: Any block of a document.
Block = Heading | Para | Eqs


def render_parts(parts: Any, *, math: Callable, code: Callable = str, label: Callable = str,
                 plain: Callable = str) -> str:
    """The parts of a paragraph or heading joined, each through the function for its kind."""
    out = []
    for p in parts:
        if isinstance(p, Label):
            out.append(label(p))
        elif isinstance(p, Code):
            out.append(code(p))
        elif isinstance(p, Node):
            out.append(math(p))
        else:
            out.append(plain(str(p)))
    return "".join(out)


__all__ = ["Block", "Code", "Eq", "Eqs", "Heading", "Label", "Para", "render_parts"]
