"""Reading the numbers and aligned rows back out of an explain document's Markdown (shared by the
explain tests)."""

from __future__ import annotations

import re


def parse_num(s):
    """A printed number: ``-0.1234``, ``1.234\\times 10^{-5}`` (LaTeX) or ``1.234e-05`` (text)."""
    s = s.strip().replace("\u2212", "-")
    m = re.fullmatch(r"(-?\d+(?:\.\d*)?)(?:\\times 10\^\{(-?\d+)\}|e([-+]?\d+))?", s)
    assert m, f"not a number: {s!r}"
    exp = m.group(2) or m.group(3)
    return float(m.group(1)) * 10.0 ** int(exp) if exp else float(m.group(1))


def md_rows(md):
    """(lhs, rel, parts) of every aligned row of the Markdown, in order."""
    rows = []
    for line in md.splitlines():
        m = re.fullmatch(r"(.*?) &(=|\\leftarrow) (.*) \\\\", line)
        if m:
            rhs = re.sub(r" \\quad \\text\{.*\}$", "", m.group(3))
            rows.append((m.group(1), m.group(2), rhs.split(" = ")))
    return rows
