"""The exercise sheets' formats: LaTeX compiles with pdflatex, the Moodle XML parses with an answer
and a tolerance in every field, the notebook runs top to bottom and its check cell marks values."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import nbformat
import pytest
from nbclient import NotebookClient

from backprop.exercises import generate
from backprop.exercises.grade import grade
from backprop.exercises.tolerance import entry_tolerance
from exercise_oracle import update

#: a sheet that goes through every branch of the statements: modes, activations, losses, softmax
MIXED = {
    "sizes": [(2, 2, 1), (2, 3, 2), (3, 2, 2)],
    "hidden": ["sigmoid", "tanh", "relu"],
    "output": ["sigmoid", "identity", "softmax"],
    "loss": ["mse", "cross_entropy"],
    "mode": ["online", "batch", "minibatch"],
}


@pytest.fixture(scope="module")
def sheet():
    return generate(4, 21, **MIXED)


def _pdflatex(tmp_path, name, text):
    exe = shutil.which("pdflatex")
    assert exe, "pdflatex is required (Debian's texlive-latex-base)"
    (tmp_path / f"{name}.tex").write_text(text)
    run = subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", f"{name}.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    return (tmp_path / f"{name}.log").read_text(errors="replace")


def test_the_latex_sheet_and_key_compile(sheet, tmp_path):
    log = _pdflatex(tmp_path, "sheet", sheet.render("latex"))
    assert "Overfull \\hbox" not in log  # the statements and blanks fit the page
    # the key: the answers, then each problem worked out by explain
    assert "Output written" in _pdflatex(tmp_path, "key", sheet.solutions("latex"))


def test_markdown_and_html_hold_every_asked_symbol_and_the_key_every_answer(sheet):
    md, html, sol = sheet.render("markdown"), sheet.render("html"), sheet.solutions("markdown")
    assert md.count("## Problem") == 4 and html.count('<section class="problem">') == 4
    for p in sheet.problems:
        for q, idx, _ in p.asked_entries():
            assert f"{p.value(q, idx):.4f}" in sol
    assert "Backpropagation, one" in sol  # the worked solution from explain
    assert "<script" not in html and "<math" in sheet.solutions("html")


_FIELD = re.compile(r"\{1:NUMERICAL:(.*?)(?<!\\)\}")
_ANSWER = re.compile(r"^(=|%0%)(-?\d+\.\d+):(\d+\.\d+)#(.*)$", re.S)


def test_moodle_xml_has_every_answer_and_tolerance(sheet):
    root = ET.fromstring(sheet.render("moodle"))
    questions = [q for q in root.findall("question") if q.get("type") == "cloze"]
    assert len(questions) == len(sheet.problems)
    for q, p in zip(questions, sheet.problems):
        assert q.find("name/text").text
        fields = _FIELD.findall(q.find("questiontext/text").text)
        entries = list(p.asked_entries())
        assert len(fields) == len(entries)
        for field, (name, idx, _) in zip(fields, entries):
            parts = re.split(r"(?<!\\)~", field)
            first = _ANSWER.match(parts[0])
            assert first and first.group(1) == "="
            assert float(first.group(2)) == pytest.approx(p.value(name, idx), abs=1e-7)
            assert float(first.group(3)) == pytest.approx(entry_tolerance(p, name, idx), abs=1e-7)
            for other in parts[1:]:  # the common mistakes, each with its value, tolerance, feedback
                m = _ANSWER.match(other)
                assert m and m.group(1) == "%0%" and "matches" in m.group(4)
                assert abs(float(m.group(2)) - p.value(name, idx)) > float(first.group(3))


def _run(nb, cwd):
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_the_notebook_runs_and_its_check_cell_gives_feedback(tmp_path):
    sheet = generate(2, 8, mode=["online", "batch"], hidden=["sigmoid", "tanh"])
    text = sheet.render("notebook")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    out = _run(nb, tmp_path)  # as shipped: nothing answered yet
    assert "not answered yet" in out and "0 of" in out

    key = sheet.key_json()
    nb = nbformat.reads(text, as_version=4)
    answer_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Problem")]
    assert len(answer_cells) == 2
    for n, (cell, p) in enumerate(zip(answer_cells, key["problems"])):
        assert all(f'"{q}"' in cell.source for q in p["asked"])
        values = {q: v for q, v in update(p).items() if q in p["asked"]}
        cell.source = f"answers[{n}] = {json.dumps(values)}"
    p = key["problems"][0]
    wrong = update(p, "lr_twice")["weights_after"]
    nb.cells.append(
        nbformat.v4.new_code_cell(
            f"answers[0]['weights_after'] = {json.dumps(wrong)}\ncheck(KEY, answers, 'answers2.json')"
        )
    )
    out = _run(nb, tmp_path)
    total = sum(len(list(p.asked_entries())) for p in sheet.problems)
    assert f"All {total} values right." in out  # the check cell, on the key's values
    assert "with η applied twice" in out  # the extra check, on a wrong update
    # the files the check cells wrote are answers files `backprop grade` reads
    g = grade(key, tmp_path / "answers.json")
    assert g.right == g.asked
    g = grade(key, tmp_path / "answers2.json")
    assert {it["misconception"] for it in g.items() if it["verdict"] == "wrong"} == {"lr_twice"}
