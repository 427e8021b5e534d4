"""The notebook's check cell: mark the answers typed in, print the feedback, write the answers file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from backprop.exercises.grade import grade
from backprop.exercises.key import answers_json
from backprop.io.atomic import atomic_write_bytes


def _floats(v):
    if isinstance(v, (list, tuple)):
        return [_floats(x) for x in v]
    return float("nan") if v is None else v


def check(key: Any, answers: list[dict], path: str | None = "answers.json", *,
          show: Callable[[str], Any] = print) -> Any:
    """Mark the notebook's ``answers`` against ``key``, print the feedback, write ``path``."""
    data = answers_json([{q: _floats(v) for q, v in a.items()} for a in answers])
    g = grade(key, data)
    if path:
        atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    for p in g.problems:
        show(f"Problem {p['id']}: {p['right']} of {p['asked']} right")
        for it in p["items"]:
            if it["verdict"] == "wrong":
                show(f"  ✗ {it['feedback']} (your value {it['answer']})")
            elif it["verdict"] == "follow_through":
                show(f"  ~ {it['feedback']}")
        missing = [it["symbol"] for it in p["items"] if it["verdict"] == "missing"]
        if missing:
            show(f"  not answered yet: {', '.join(missing)}")
    if g.right == g.asked:
        show(f"All {g.asked} values right.")
    return g


__all__ = ["check"]
