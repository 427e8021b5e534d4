"""The sheet as Moodle XML: one Cloze question per problem, one NUMERICAL field per asked value.

Each field carries the key's value and its tolerance (absolute, as Moodle takes it: the grader's
tolerance of that value, :mod:`backprop.exercises.tolerance`), and -- as 0 % answers with feedback
-- the value each common mistake gives, so Moodle names the mistake as ``backprop grade`` does.
Import: Question bank > Import > Moodle XML format.
"""

from __future__ import annotations

import html
import math
from typing import Any

from backprop.exercises import misconceptions as mc
from backprop.exercises.html import statement_html
from backprop.exercises.notation import symbol
from backprop.exercises.statement import answer, asked_groups
from backprop.exercises.tolerance import entry_tolerance

_CLOZE_SPECIAL = str.maketrans({c: "\\" + c for c in '}#~/"\\'})


def _fmt(v: float, decimals: int) -> str:
    return f"{v:.{decimals + 4}f}"


def _field(p, q, idx, decimals, relative, mistakes) -> str:
    k = p.value(q, idx)
    tol = entry_tolerance(p, q, idx, decimals, relative)
    parts = [f"={_fmt(k, decimals)}:{_fmt(tol, decimals)}#Correct"]
    layer = idx[0] if q not in ("yhat", "E") else p.n_layers - 1
    sym = symbol(q, idx, layer, p.n_layers, p.m)
    seen: list[float] = [k]
    for name, vals in mistakes:
        c = p.value(q, idx, vals)
        if not math.isfinite(c) or any(abs(c - s) <= 2 * tol for s in seen):
            continue
        seen.append(c)
        text = html.escape(mc.feedback(name, sym, mc.equation(q, layer, p.n_layers)), quote=False)
        parts.append(f"%0%{_fmt(c, decimals)}:{_fmt(tol, decimals)}#{text.translate(_CLOZE_SPECIAL)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def question_xml(p: Any, n: int, sheet: Any) -> str:
    mistakes = [(name, mc.cycle(p, mc.variants(name)[-1])) for name in mc.MISCONCEPTIONS]
    text = statement_html(
        p, sheet.decimals, blank=lambda q, idx: _field(p, q, idx, sheet.decimals, sheet.relative, mistakes)
    )
    key = "".join(
        f"<li>{html.escape(name)}: "
        + ", ".join(
            f"{html.escape(sym)} = {answer(p.value(q, idx), sheet.decimals)}" for idx, _l, sym, _t in entries
        )
        + "</li>"
        for q, name, entries in asked_groups(p)
    )
    return (
        f'  <question type="cloze">\n    <name><text>Backpropagation {sheet.seed}-{n}</text></name>\n'
        f'    <questiontext format="html"><text><![CDATA[{text}]]></text></questiontext>\n'
        f'    <generalfeedback format="html"><text><![CDATA[<ul>{key}</ul>]]></text></generalfeedback>\n'
        "    <penalty>0.3333333</penalty>\n    <hidden>0</hidden>\n  </question>\n"
    )


def sheet_moodle(sheet: Any) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n',
        f'  <question type="category">\n    <category><text>$course$/Backpropagation/sheet {sheet.seed}'
        "</text></category>\n  </question>\n",
    ]
    out += [question_xml(p, n, sheet) for n, p in enumerate(sheet.problems, 1)]
    out.append("</quiz>\n")
    return "".join(out)


__all__ = ["sheet_moodle"]
