"""Marking a student's answers the way a careful human marker does.

Each asked value is

* ``correct`` -- within the tolerance of the key (:mod:`backprop.exercises.tolerance`);
* ``follow_through`` -- not the key's value, but the step done right on the student's *own*
  earlier values (a wrong δᵒ carried correctly into δʰ, ∂E/∂w and the update): marked right,
  with a note;
* ``wrong`` -- with the ``misconception`` that reproduces it: the step recomputed under each
  common mistake (:mod:`backprop.exercises.misconceptions`), from the key's earlier values and
  from the student's, made at the step itself or at an earlier step the student did not answer.
  The closest match is named (others that match as well are listed in ``also``); ``unknown`` when
  none matches.
* ``missing`` -- not answered.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backprop.exercises import misconceptions as mc
from backprop.exercises.key import answers_json, read_answers, read_key
from backprop.exercises.notation import symbol
from backprop.exercises.problem import Problem
from backprop.exercises.sheet import Sheet
from backprop.exercises.tolerance import tolerance, weight_before

VERDICTS = ("correct", "follow_through", "wrong", "missing")
GRADES_FORMAT = "backprop-exercise-grades"


def _tol(p: Problem, name: str, idx: tuple, value: float, decimals: int, relative: float) -> float:
    return tolerance(value, decimals, relative, weight_before(p, name, idx))


def _given(student: dict) -> dict:
    """The student's values as the recomputation takes them (NaN = not given)."""
    return {k: v for k, v in student.items() if k != "E"}


def grade_problem(p: Problem, student: dict, decimals: int, relative: float, number: int = 1) -> dict:
    """The marks of one problem: ``{"id", "asked", "right", "items": [...]}``."""
    given = _given(student)
    follow = mc.cycle(p, given=given)
    runs = []
    for name in mc.MISCONCEPTIONS:
        for var in mc.variants(name):
            runs.append((name, mc.cycle(p, var)))
            runs.append((name, mc.cycle(p, var, given=given)))
    items = []
    for q, idx, layer in p.asked_entries():
        sym = symbol(q, idx, layer, p.n_layers, p.m)
        eq = mc.equation(q, layer, p.n_layers)
        k = p.value(q, idx)
        tol = _tol(p, q, idx, k, decimals, relative)
        item = {
            "quantity": q,
            "index": list(idx),
            "symbol": sym,
            "answer": None,
            "expected": k,
            "tolerance": tol,
            "verdict": "missing",
            "misconception": None,
            "also": [],
            "feedback": f"{sym}: no answer",
        }
        items.append(item)
        v = _entry(student, q, idx)
        if v is None:
            continue
        item["answer"] = v
        if abs(v - k) <= tol:
            item.update(verdict="correct", feedback=f"{sym} is right")
            continue
        ft = p.value(q, idx, follow)
        if math.isfinite(ft) and abs(v - ft) <= _tol(p, q, idx, ft, decimals, relative) and abs(ft - k) > tol:
            item.update(
                verdict="follow_through",
                feedback=f"{sym} is not the key's value, but it is {eq} done right on your own "
                "earlier values: marked right (follow-through)",
            )
            continue
        best: dict[str, float] = {}
        for name, run in runs:
            c = p.value(q, idx, run)
            if not math.isfinite(c) or abs(c - k) <= tol:
                continue
            dist = abs(v - c)
            if dist <= _tol(p, q, idx, c, decimals, relative) and dist < best.get(name, math.inf):
                best[name] = dist
        if best:
            found = sorted(best, key=lambda n: (best[n], mc.MISCONCEPTIONS.index(n)))
            item.update(
                verdict="wrong",
                misconception=found[0],
                also=found[1:],
                feedback=mc.feedback(found[0], sym, eq),
            )
        else:
            item.update(verdict="wrong", misconception="unknown", feedback=mc.feedback("unknown", sym, eq))
    right = sum(it["verdict"] in ("correct", "follow_through") for it in items)
    return {"id": number, "asked": len(items), "right": right, "items": items}


def _entry(student: dict, q: str, idx: tuple) -> float | None:
    v = student.get(q)
    if v is None:
        return None
    if q == "E":
        x = float(v)
    elif q == "yhat":
        x = float(np.asarray(v)[idx])
    else:
        x = float(np.asarray(v[idx[0]])[idx[1:]])
    return None if math.isnan(x) else x


class Grades:
    """The marks of a sheet: :meth:`to_json` (the ``--json`` report) and :meth:`to_text`."""

    def __init__(self, problems: list[dict]):
        self.problems = problems

    @property
    def asked(self) -> int:
        return sum(p["asked"] for p in self.problems)

    @property
    def right(self) -> int:
        return sum(p["right"] for p in self.problems)

    def items(self) -> Any:
        return [it for p in self.problems for it in p["items"]]

    def to_json(self) -> dict:
        return {
            "format": GRADES_FORMAT,
            "version": 1,
            "asked": self.asked,
            "right": self.right,
            "problems": self.problems,
        }

    def to_text(self, decimals: int = 4) -> str:
        lines = []
        for p in self.problems:
            lines.append(f"Problem {p['id']}: {p['right']} of {p['asked']} right")
            for it in p["items"]:
                ans = "-" if it["answer"] is None else f"{it['answer']:.{decimals}f}"
                mark = {
                    "correct": "ok",
                    "follow_through": "ok (follow-through)",
                    "missing": "missing",
                    "wrong": f"wrong ({it['misconception']})",
                }[it["verdict"]]
                line = f"  {it['symbol']:<14} {ans:>12}  {mark}"
                if it["verdict"] in ("wrong", "follow_through"):
                    line += f": {it['feedback']}"
                lines.append(line)
        lines.append(f"Total: {self.right} of {self.asked} right")
        return "\n".join(lines) + "\n"

    def __repr__(self):
        return f"<Grades: {self.right} of {self.asked} right>"


def grade(key: Any, answers: Any) -> Grades:
    """Mark ``answers`` against ``key``.

    key : a :class:`Sheet`, the path of a key file or its parsed JSON.
    answers : the path of an answers file (.json or .csv), its parsed JSON, or a list (or tuple) with one
        dict of quantities per problem (the key's layout; NaN/None where unanswered).
    """
    sheet = key if isinstance(key, Sheet) else read_key(key)
    if (
        isinstance(answers, (list, tuple))
        and all(isinstance(a, dict) for a in answers)
        and not (answers and "problems" in answers[0])
    ):
        answers = answers_json(list(answers))
    student = read_answers(answers, sheet)
    return Grades(
        [
            grade_problem(p, s, sheet.decimals, sheet.relative, i + 1)
            for i, (p, s) in enumerate(zip(sheet.problems, student))
        ]
    )


__all__ = ["grade", "grade_problem", "Grades", "VERDICTS", "GRADES_FORMAT"]
