"""The explain document as HTML whose equations are MathML (browsers render it natively, offline).

A wide equation puts each ``= part`` on a row of its own (the result on the last, in view).
Rows keep their columns (``white-space: nowrap``) and sit in a container that scrolls sideways
(``overflow-x: auto``) when a part is still wider than the page, as a large network's sums are;
paragraphs wrap, and scroll a formula too wide for them, so nothing is cut off.
"""

from __future__ import annotations

import html as _html
from collections.abc import Sequence

from backprop.see.document import Eqs, Heading, Para, render_parts
from backprop.see.mathnodes import Op, Row

#: Characters (of the plain-text rendering) above which an equation puts each ``= part`` on a row
WIDE = 80

CSS = """
.backprop-explain { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5;
  max-width: 72rem; margin: 0 auto; padding: 0 1rem 2rem; color: #1b1b1b; }
.backprop-explain h1 { font-size: 1.5rem; }
.backprop-explain h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; margin-top: 1.6rem;
  overflow-wrap: anywhere; }
.backprop-explain p { overflow-wrap: anywhere; overflow-x: auto; overflow-y: hidden; }
.backprop-explain div.eqs-scroll { max-width: 100%; overflow-x: auto; margin: 0.4rem 0 0.8rem 1.5rem; }
.backprop-explain table.eqs { border-collapse: collapse; }
.backprop-explain table.eqs td { padding: 0.15rem 0.3rem; white-space: nowrap; vertical-align: middle; }
.backprop-explain td.lhs { text-align: right; }
.backprop-explain td.rhs { text-align: left; }
.backprop-explain td.note { color: #666; font-size: 0.9em; }
.backprop-explain .note { color: #555; font-style: italic; }
.backprop-explain .label { font-weight: bold; }
.backprop-explain math { font-size: 1.1em; }
"""


def _math(m) -> str:
    return f"<math>{m.mml()}</math>"


def _html_inline(parts):
    return render_parts(
        parts,
        math=_math,
        code=lambda c: f"<code>{_html.escape(c)}</code>",
        label=lambda s: f'<span class="label">{_html.escape(s)}</span>',
        plain=_html.escape,
    )


def _rows(r) -> list[str]:
    """The table rows of one equation: one row, or one per ``= part`` when it is wide."""
    note = f'<td class="note">{_html.escape(r.note)}</td>' if r.note else ""
    lhs = f'<td class="lhs"><math>{r.lhs.mml()}</math></td>'
    if sum(len(p.text()) + 3 for p in r.parts) <= WIDE:
        rhs = Row(Op(r.rel), *[x for n, p in enumerate(r.parts) for x in ((Op("="), p) if n else (p,))])
        return [f'<tr>{lhs}<td class="rhs"><math>{rhs.mml()}</math></td>{note}</tr>']
    out = []
    for n, p in enumerate(r.parts):
        rhs = Row(Op(r.rel if n == 0 else "="), p)
        last = n == len(r.parts) - 1
        out.append(f'<tr>{lhs if n == 0 else "<td></td>"}<td class="rhs"><math>{rhs.mml()}</math></td>'
                   f'{note if last else ""}</tr>')
    return out


def render_html_fragment(blocks: Sequence, title: str, *, style: bool = True) -> str:
    """The document as one ``<div class="backprop-explain">`` (for notebooks), CSS included."""
    out = ['<div class="backprop-explain">']
    if style:
        out.append(f"<style>{CSS}</style>")
    out.append(f"<h1>{_html.escape(title)}</h1>")
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h2>{render_parts(b.parts, math=_math, plain=_html.escape)}</h2>")
        elif isinstance(b, Para):
            cls = ' class="note"' if b.note else ""
            out.append(f"<p{cls}>{_html_inline(b.parts)}</p>")
        elif isinstance(b, Eqs):
            out.append('<div class="eqs-scroll"><table class="eqs">')
            for r in b.rows:
                if not r.parts:
                    out.append('<tr><td class="lhs"><math><mo>⋮</mo></math></td><td></td></tr>')
                    continue
                out += _rows(r)
            out.append("</table></div>")
    out.append("</div>")
    return "\n".join(out)


def render_html(blocks: Sequence, title: str) -> str:
    """A standalone HTML page (no script, no external resource)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        f"<title>{_html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + render_html_fragment(blocks, title, style=False)
        + "\n</body>\n</html>\n"
    )


__all__ = ["render_html", "render_html_fragment", "CSS"]
