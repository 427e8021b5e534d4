"""The sheet and its answer key as standalone HTML pages (no script, nothing fetched): Unicode
symbols in the statement, MathML in the worked solutions (from :func:`backprop.explain`)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from backprop.exercises.solution import worked
from backprop.exercises.statement import TITLE, answer, asked_groups, samples_table, sentences, weight_tables
from backprop.see.render_html import CSS as EXPLAIN_CSS

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5; max-width: 60rem;
  margin: 0 auto; padding: 0 1rem 2rem; color: #1b1b1b; }
table.given { border-collapse: collapse; margin: 0.4rem 0 1rem; }
table.given td, table.given th { border: 1px solid #bbb; padding: 0.2rem 0.6rem; text-align: right; }
ul.find li { margin: 0.3rem 0; }
span.blank { display: inline-block; min-width: 6rem; border-bottom: 1px solid #333; }
section.problem { border-top: 2px solid #ddd; margin-top: 1.5rem; }
"""

e = html.escape


def _table(heads, rows) -> str:
    out = ['<table class="given"><tr>' + "".join(f"<th>{e(h)}</th>" for h in heads) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def statement_html(p: Any, decimals: int, blank: Callable[[Any, Any], str] | None = None) -> str:
    """The statement; ``blank(quantity, index)``: the markup of an answer field (default a line)."""
    out = ["".join(f"<p>{e(s.text)}</p>" for s in sentences(p, decimals))]
    for title, _tt, heads, _ht, rows in weight_tables(p):
        out.append(f"<p><b>{e(title)}</b></p>" + _table([""] + heads, [[r[0]] + r[2] for r in rows]))
    heads, _ht, rows = samples_table(p)
    out.append("<p><b>Samples</b></p>" + _table(heads, rows))
    out.append(f'<p><b>Find</b> (to {decimals} decimals):</p><ul class="find">')
    for q, name, entries in asked_groups(p):
        cells = []
        for idx, _l, sym, _t in entries:
            field = blank(q, idx) if blank else '<span class="blank"></span>'
            cells.append(f"{e(sym)} = {field}")
        out.append(f"<li>{e(name)}: " + ", ".join(cells) + "</li>")
    out.append("</ul>")
    return "\n".join(out)


def _page(title: str, body: str, css: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{e(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n<h1>{e(title)}</h1>\n"
        f"{body}\n</body>\n</html>\n"
    )


def sheet_html(sheet: Any) -> str:
    body = [
        f"<p>Sheet {sheet.seed}: {len(sheet)} problem{'s' if len(sheet) != 1 else ''}, in the lecture "
        f"note's notation. Give every answer to {sheet.decimals} decimals.</p>"
    ]
    for n, p in enumerate(sheet.problems, 1):
        body.append(
            f'<section class="problem"><h2>Problem {n}</h2>\n{statement_html(p, sheet.decimals)}</section>'
        )
    return _page(TITLE, "\n".join(body), CSS)


def solutions_html(sheet: Any) -> str:
    body = []
    for n, p in enumerate(sheet.problems, 1):
        items = []
        for q, name, entries in asked_groups(p):
            vals = ", ".join(
                f"{e(sym)} = {answer(p.value(q, idx), sheet.decimals)}" for idx, _l, sym, _t in entries
            )
            items.append(f"<li>{e(name)}: {vals}</li>")
        doc = worked(p, "html", sheet.decimals)._repr_html_() or ""
        body.append(
            f'<section class="problem"><h2>Problem {n}</h2><p><b>Answers</b></p><ul>{"".join(items)}</ul>'
            f"{doc.replace('<style>' + EXPLAIN_CSS + '</style>', '')}</section>"
        )
    return _page(f"{TITLE}: answer key", "\n".join(body), CSS + EXPLAIN_CSS)


__all__ = ["sheet_html", "solutions_html", "statement_html"]
