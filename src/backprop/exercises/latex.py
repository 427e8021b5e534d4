"""The sheet and its answer key as LaTeX documents for pdflatex.

Only packages of a basic TeX installation (Debian's ``texlive-latex-base``): inputenc, amsmath,
amssymb, graphicx, geometry -- those :func:`backprop.explain`'s LaTeX uses, whose worked solutions
the answer key includes.
"""

from __future__ import annotations

from typing import Any

from backprop.exercises.solution import worked
from backprop.exercises.statement import TITLE, answer, asked_groups, samples_table, sentences, weight_tables

PREAMBLE = [
    r"\documentclass[11pt,a4paper]{article}",
    r"\usepackage[utf8]{inputenc}",
    r"\usepackage{amsmath,amssymb}",
    r"\usepackage{graphicx}",
    r"\usepackage[margin=2cm]{geometry}",
    r"\setlength{\parindent}{0pt}",
    r"\setlength{\parskip}{0.5em}",
    r"\setlength{\emergencystretch}{3em}",
]


def _tabular(heads, rows) -> list[str]:
    out = [r"\begin{tabular}{l" + "r" * (len(heads) - 1) + "}", " & ".join(heads) + r" \\ \hline"]
    out += [" & ".join(f"${c}$" if c[:1] in "-0123456789" else c for c in r) + r" \\" for r in rows]
    return out + [r"\end{tabular}"]


def problem_latex(p: Any, n: int, decimals: int) -> list[str]:
    out = [rf"\section*{{Problem {n}}}"]
    out += [s.tex for s in sentences(p, decimals)[:-1]]
    out.append("")
    for _t, title_tex, _h, heads_tex, rows in weight_tables(p):
        out += [title_tex + r"\\[0.3em]"] + _tabular([""] + heads_tex, [[r[1]] + r[2] for r in rows]) + [""]
    _h, heads_tex, rows = samples_table(p)
    out += [r"Samples\\[0.3em]"] + _tabular(heads_tex, rows) + [""]
    out += [rf"Find (to {decimals} decimals):", r"\begin{itemize}\raggedright"]
    for _q, name, entries in asked_groups(p):
        blanks = r", \quad ".join(rf"${tex} = $\,\underline{{\hspace{{2.2cm}}}}" for *_, tex in entries)
        out.append(rf"\item {_tex_text(name)}: {blanks}")
    out += [r"\end{itemize}", ""]
    return out


def _tex_text(s: str) -> str:
    """A quantity's plain name (Unicode math) in LaTeX text."""
    for a, b in (
        ("ŷ", r"$\hat{y}$"),
        ("δ", r"$\delta$"),
        ("∂E/∂w₀", r"$\partial\mathcal{E}/\partial w_0$"),
        ("∂E/∂w", r"$\partial\mathcal{E}/\partial w$"),
    ):
        s = s.replace(a, b)
    return s


def sheet_latex(sheet: Any) -> str:
    out = PREAMBLE + [
        r"\begin{document}",
        rf"\section*{{{TITLE}}}",
        f"Sheet {sheet.seed}: {len(sheet)} problem{'s' if len(sheet) != 1 else ''}, in the lecture "
        r"note's notation: $h$ the affine transformation, $a = g(h)$ the activation, $\delta$ the "
        r"error terms of eqs.~(2) and (4), $\eta$ the learning rate of the delta rule (5). "
        f"Give every answer to {sheet.decimals} decimals.",
        "",
    ]
    for n, p in enumerate(sheet.problems, 1):
        out += problem_latex(p, n, sheet.decimals)
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _body(doc: str) -> tuple[list[str], list[str]]:
    """(preamble lines, body lines) of a worked solution, its headings one level down."""
    lines = doc.splitlines()
    start, end = lines.index(r"\begin{document}"), lines.index(r"\end{document}")
    body = [
        line.replace(r"\subsection*{", r"\subsubsection*{").replace(r"\section*{", r"\subsection*{")
        for line in lines[start + 1 : end]
    ]
    return lines[:start], body


def solutions_latex(sheet: Any) -> str:
    preamble: list[str] = []
    parts = []
    for n, p in enumerate(sheet.problems, 1):
        pre, body = _body(worked(p, "latex", sheet.decimals).to_latex())
        preamble = preamble or pre
        part = [rf"\section*{{Problem {n}}}", r"Answers:", r"\begin{itemize}"]
        for q, name, entries in asked_groups(p):
            vals = ", ".join(
                f"${tex} = {answer(p.value(q, idx), sheet.decimals)}$" for idx, _l, _s, tex in entries
            )
            part.append(rf"\item {_tex_text(name)}: {vals}")
        part += [r"\end{itemize}", ""] + body + [r"\clearpage"]
        parts += part
    return (
        "\n".join(
            preamble
            + [
                r"\begin{document}",
                rf"\section*{{{TITLE}: answer key}}",
                f"Sheet {sheet.seed}. Answers to {sheet.decimals} decimals, then each "
                "problem worked out step by step.",
                "",
            ]
            + parts
            + [r"\end{document}"]
        )
        + "\n"
    )


__all__ = ["sheet_latex", "solutions_latex", "PREAMBLE"]
