"""The sheet and its answer key as Markdown with LaTeX math ($...$): for notebooks, wikis, LMS pages."""

from __future__ import annotations

from typing import Any

from backprop.exercises.solution import worked
from backprop.exercises.statement import TITLE, answer, asked_groups, samples_table, sentences, weight_tables


def _table(heads, rows) -> list[str]:
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def problem_markdown(p: Any, n: int, decimals: int) -> list[str]:
    out = [f"## Problem {n}", ""]
    out += [s.tex for s in sentences(p, decimals)[:-1]]
    out.append("")
    for _title, title_tex, _h, heads_tex, rows in weight_tables(p):
        out += [f"**{title_tex}**", ""]
        out += _table([""] + heads_tex, [[r[1]] + r[2] for r in rows])
    _h, heads_tex, rows = samples_table(p)
    out += ["**Samples**", ""] + _table(heads_tex, rows)
    out += [f"**Find** (to {decimals} decimals):", ""]
    for _q, name, entries in asked_groups(p):
        out.append(f"- {name}: " + ", ".join(f"${tex} = $ ____" for *_, tex in entries))
    return out + [""]


def sheet_markdown(sheet: Any) -> str:
    out = [
        f"# {TITLE}",
        "",
        f"Sheet {sheet.seed}: {len(sheet)} problem{'s' if len(sheet) != 1 else ''}. "
        "The notation is the lecture note's: h the affine transformation, a = g(h) the activation, "
        "δ the error terms of eqs. (2) and (4), η the learning rate of the delta rule (5). "
        f"Give every answer to {sheet.decimals} decimals.",
        "",
    ]
    for n, p in enumerate(sheet.problems, 1):
        out += problem_markdown(p, n, sheet.decimals)
    return "\n".join(out)


def answers_markdown(p: Any, decimals: int) -> list[str]:
    out = []
    for q, name, entries in asked_groups(p):
        vals = ", ".join(f"${tex} = {answer(p.value(q, idx), decimals)}$" for idx, _l, _s, tex in entries)
        out.append(f"- {name}: {vals}")
    return out + [""]


def solutions_markdown(sheet: Any) -> str:
    out = [
        f"# {TITLE}: answer key",
        "",
        f"Sheet {sheet.seed}. Answers to {sheet.decimals} decimals; "
        "each worked solution follows the reference step by step.",
        "",
    ]
    for n, p in enumerate(sheet.problems, 1):
        out += [f"## Problem {n}", "", "**Answers**", ""] + answers_markdown(p, sheet.decimals)
        doc = worked(p, "markdown", sheet.decimals).to_markdown()
        # the worked document's headings one level down, under the problem's
        out += [
            ("##" + line[1:] if line.startswith("# ") else "#" + line if line.startswith("#") else line)
            for line in doc.splitlines()
        ]
        out.append("")
    return "\n".join(out)


__all__ = ["sheet_markdown", "solutions_markdown", "problem_markdown"]
