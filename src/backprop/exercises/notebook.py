"""The sheet as a Jupyter notebook: the student types values, a check cell marks them.

The notebook is written as nbformat-4 JSON directly (the format is small and documented), so
making one needs no Jupyter package; running it needs Jupyter and backprop. Each problem has its
statement (Markdown with LaTeX) and an answer cell holding the key's layout filled with ``None``;
the last cell, :func:`backprop.exercises.check.check`, marks every value with
:func:`backprop.exercises.grade` -- right, follow-through, or the mistake behind it -- and
writes the answers file for the teacher (``answers.json``, the format ``backprop grade`` reads).
The key travels inside the notebook (base64, so that a glance does not give it away): a notebook
is for practice, not for an exam.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from backprop.exercises.markdown import problem_markdown
from backprop.exercises.notation import symbol
from backprop.exercises.problem import Problem
from backprop.exercises.statement import TITLE

KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _cell(kind: str, source: str, n: int) -> dict:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{n}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _nones(shape) -> str:
    return json.dumps(np.full(shape, None).tolist()).replace("null", "None")


def answer_cell(p: Problem, n: int) -> str:
    lines = [f"# Problem {n}: replace None by your values ({'; '.join(_order(p))})", f"answers[{n - 1}] = {{"]
    for q in p.asked:
        shapes = p.shape_of(q)
        syms = [symbol(q, idx, layer, p.n_layers, p.m) for idx, layer in p.entries(q)]
        if q == "a" and "yhat" in p.asked:
            syms = syms[: sum(int(np.prod(s)) for s in shapes[:-1])] + ["(output layer: give it as yhat)"]
        lines.append(f"    # {' '.join(syms)}")
        if q == "E":
            lines.append('    "E": None,')
        elif q == "yhat":
            lines.append(f'    "yhat": {_nones(shapes[0])},')
        else:
            lines.append(f'    "{q}": [{", ".join(_nones(s) for s in shapes)}],')
    lines.append("}")
    return "\n".join(lines)


def _order(p: Problem) -> list[str]:
    out = ["one list per layer, hidden then output" if p.n_layers == 2 else "one list per layer"]
    if p.m > 1:
        out.append("one row per sample")
    return out


def sheet_notebook(sheet: Any) -> str:
    key = base64.b64encode(json.dumps(sheet.key_json()).encode()).decode()
    cells = [
        _cell(
            "markdown",
            f"# {TITLE}\n\nSheet {sheet.seed}: work each problem out by hand, type your values "
            "into its answer cell (`None` = not answered, answers to "
            f"{sheet.decimals} decimals), then run the **check** cell at the end. It marks each value: "
            "right, right from your own earlier values (follow-through), or wrong with the step and the "
            "mistake that gives it; and it writes `answers.json` for your teacher.",
            0,
        ),
        _cell(
            "code",
            "import base64, json\nfrom backprop.exercises.check import check\n\n"
            f'KEY = json.loads(base64.b64decode("{key}"))\nanswers = [{{}} for _ in KEY["problems"]]',
            1,
        ),
    ]
    for n, p in enumerate(sheet.problems, 1):
        cells.append(_cell("markdown", "\n".join(problem_markdown(p, n, sheet.decimals)).rstrip(), 2 * n))
        cells.append(_cell("code", answer_cell(p, n), 2 * n + 1))
    cells.append(_cell("markdown", "## Check", 2 * len(sheet) + 2))
    cells.append(_cell("code", 'check(KEY, answers, "answers.json")', 2 * len(sheet) + 3))
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


__all__ = ["sheet_notebook", "answer_cell"]
