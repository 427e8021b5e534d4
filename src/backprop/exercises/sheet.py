"""A sheet of exercises: its problems, the key file, and its renderings.

``Sheet.render(format)`` is the students' sheet, ``Sheet.solutions(format)`` the answer key with
each problem's worked solution (from :func:`backprop.explain`), ``Sheet.key_json()`` the key file a
script (and :func:`backprop.exercises.grade`) reads. Formats: ``latex``, ``markdown``, ``html``,
``moodle`` (Moodle XML, Cloze questions) and ``notebook`` (Jupyter, with a check cell).
"""

from __future__ import annotations

import json
import os
from typing import Any

from backprop.errors import InvalidInputError
from backprop.exercises.problem import Problem
from backprop.exercises.tolerance import DECIMALS, RELATIVE
from backprop.io.atomic import atomic_write_bytes

FORMATS = ("latex", "markdown", "html", "moodle", "notebook")
#: Formats with a separate answer-key document (Moodle and the notebook carry their answers).
SOLUTION_FORMATS = ("latex", "markdown", "html")
KEY_FORMAT = "backprop-exercise-key"
ANSWERS_FORMAT = "backprop-exercise-answers"
VERSION = 1
EXTENSIONS = {"latex": ".tex", "markdown": ".md", "html": ".html", "moodle": ".xml", "notebook": ".ipynb"}


class Sheet:
    """``problems`` (a list of :class:`~backprop.exercises.problem.Problem`) drawn from ``seed``;
    answers are asked to ``decimals`` decimals and graded with ``relative`` tolerance."""

    def __init__(self, problems: list[Problem], *, seed: int = 0, decimals: int = DECIMALS,
                 relative: float = RELATIVE):
        self.problems, self.seed, self.decimals, self.relative = problems, seed, decimals, relative

    def __len__(self):
        return len(self.problems)

    def __repr__(self):
        return f"<Sheet of {len(self)} exercise{'s' if len(self) != 1 else ''}, seed {self.seed}>"

    # -- the key -----------------------------------------------------------------------------------
    def key_json(self) -> dict:
        return {
            "format": KEY_FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "decimals": self.decimals,
            "tolerance": {"absolute": 10.0**-self.decimals, "relative": self.relative},
            "problems": [p.to_json(i + 1) for i, p in enumerate(self.problems)],
        }

    def key_text(self) -> str:
        return json.dumps(self.key_json(), indent=1) + "\n"

    def save_key(self, path: str | os.PathLike) -> Any:
        atomic_write_bytes(path, self.key_text().encode("utf-8"))
        return path

    # -- documents ---------------------------------------------------------------------------------
    def render(self, format: str = "markdown") -> str:
        """The students' sheet in ``format`` (see :data:`FORMATS`)."""
        _check(format, FORMATS)
        if format == "latex":
            from backprop.exercises.latex import sheet_latex

            return sheet_latex(self)
        if format == "markdown":
            from backprop.exercises.markdown import sheet_markdown

            return sheet_markdown(self)
        if format == "html":
            from backprop.exercises.html import sheet_html

            return sheet_html(self)
        if format == "moodle":
            from backprop.exercises.moodle import sheet_moodle

            return sheet_moodle(self)
        from backprop.exercises.notebook import sheet_notebook

        return sheet_notebook(self)

    def solutions(self, format: str = "markdown") -> str:
        """The answer key with the worked solutions, in ``format`` (latex, markdown or html)."""
        _check(format, SOLUTION_FORMATS)
        if format == "latex":
            from backprop.exercises.latex import solutions_latex

            return solutions_latex(self)
        if format == "markdown":
            from backprop.exercises.markdown import solutions_markdown

            return solutions_markdown(self)
        from backprop.exercises.html import solutions_html

        return solutions_html(self)

    def save(self, path: str | os.PathLike, format: str = "markdown") -> Any:
        atomic_write_bytes(path, self.render(format).encode("utf-8"))
        return path


def _check(format, allowed):
    if format not in allowed:
        raise InvalidInputError(f"unknown format {format!r}; valid formats are: {', '.join(allowed)}")


__all__ = ["Sheet", "FORMATS", "SOLUTION_FORMATS", "KEY_FORMAT", "ANSWERS_FORMAT", "VERSION", "EXTENSIONS"]
