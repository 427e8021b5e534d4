"""The LaTeX rendering of ``explain`` compiles with pdflatex and fits the page.

Several documents -- the reference's 2-2-1 example, a deeper network, a softmax with mse, a
digits-sized 64-32-10 model (summarised, and with a wide layer shown in full), and batch updates --
are written to a temporary folder and compiled with ``pdflatex -interaction=nonstopmode
-halt-on-error``. Each must compile (exit status 0, a PDF written) and its log must report no
``Overfull \\hbox`` wider than a point: equations are broken or scaled to the line, never run off it.

pdflatex is required: without it these tests fail (install Debian's ``texlive-latex-base``).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import backprop
from backprop import explain

#: An overfull box narrower than this is invisible (TeX's own \hfuzz default is 0.1pt; a point is
#: a third of a millimetre).
TOLERANCE_PT = 1.0


def pdflatex():
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.fail("pdflatex is not installed, so the LaTeX output cannot be checked: install it with "
                    "`apt-get install -y --no-install-recommends texlive-latex-base` (Debian/Ubuntu)",
                    pytrace=False)
    return exe


def compile_tex(tex, folder, name):
    """Compile ``tex``; returns the log. Fails with pdflatex's own error lines when it does not."""
    path = folder / f"{name}.tex"
    path.write_text(tex, encoding="utf-8")
    r = subprocess.run([pdflatex(), "-interaction=nonstopmode", "-halt-on-error", path.name], cwd=folder,
                       capture_output=True, text=True, errors="replace", timeout=180)
    log = (folder / f"{name}.log").read_text(encoding="latin-1") if (folder / f"{name}.log").exists() else ""
    errors = [ln for ln in log.splitlines() if ln.startswith("!")]
    assert r.returncode == 0, f"pdflatex failed on {name}.tex: {errors or r.stdout[-2000:]}"
    assert (folder / f"{name}.pdf").stat().st_size > 1000
    return log


def overfull(log):
    """(points, line) of every Overfull \\hbox in the log."""
    found = re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\) (.*)", log)
    return [(float(pt), where) for pt, where in found]


def digits_net():
    return backprop.Network([64, 32, 10], hidden="relu", output="softmax", seed=1)


def digits_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, (n, 64)) / 16.0, rng.integers(0, 10, n)  # 8x8 images, 16 grey levels


def documents():
    X, y = digits_rows(12)
    d221 = backprop.Network([2, 2, 1], seed=0, dtype="float64")
    return {
        "reference-221": explain(d221, [0.05, 0.1], [0.01], lr=0.5),
        "overshoot": explain(d221, [0.05, 0.1], [0.01], lr=50.0),  # the verdict names eta
        "deep-relu": explain(backprop.Network([2, 3, 3, 1], hidden=["relu", "sigmoid"], output="identity",
                                              seed=2), [0.7, -0.4], [0.3], lr=0.1),  # "h <= 0" notes
        "softmax-mse": explain(backprop.Network([2, 3, 3], hidden="sigmoid", output="softmax", seed=5),
                               [0.2, 0.9], [0.0, 0.0, 1.0], lr=0.1),
        "digits": explain(digits_net(), X[0], int(y[0]), lr=0.1, loss="cross_entropy"),
        "digits-mse-wide": explain(backprop.Network([64, 12, 10], hidden="tanh", output="softmax", seed=3),
                                   X[1], int(y[1]), lr=0.1, loss="mse", limit=12),
        "batch-221": explain(d221, [[0.05, 0.1], [0.3, -0.2], [-1.0, 0.5]], [[0.01], [0.5], [0.99]],
                             lr=0.5, mode="batch"),
        "digits-batch": explain(digits_net(), X, y, lr=0.1, loss="cross_entropy", mode="batch", samples=8),
        "digits-minibatch": explain(digits_net(), X, y, lr=0.1, loss="cross_entropy", mode="minibatch",
                                    samples=3, note="The first rows of a digits-like data set."),
    }


@pytest.fixture(scope="module")
def docs():
    return documents()


NAMES = ["reference-221", "overshoot", "deep-relu", "softmax-mse", "digits", "digits-mse-wide", "batch-221",
         "digits-batch", "digits-minibatch"]


def test_the_documents_are_all_tested(docs):
    assert sorted(docs) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_latex_compiles_and_fits_the_page(docs, name, tmp_path):
    tex = docs[name].to_latex()
    # pdflatex has no text-mode glyphs for Greek letters and math signs: none may be left
    body = tex.split(r"\begin{document}", 1)[1]
    assert not re.findall(r"[^\x00-\x7f]", body), sorted(set(re.findall(r"[^\x00-\x7f]", body)))
    log = compile_tex(tex, tmp_path, name)
    wide = [(pt, where) for pt, where in overfull(log) if pt > TOLERANCE_PT]
    assert not wide, f"{name}: {len(wide)} lines run off the page, e.g. {wide[:3]}"
    assert "Missing character" not in log


def test_all_64_inputs_of_a_digits_image_compile(tmp_path):
    """all=True with the 64 inputs of a digits image: sums of 65 terms broken over lines, the sample's
    64 values inline in a paragraph (a narrow hidden layer keeps the document short)."""
    X, y = digits_rows(1, seed=4)
    net = backprop.Network([64, 3, 10], hidden="relu", output="softmax", seed=1)
    tex = explain(net, X[0], int(y[0]), lr=0.1, loss="cross_entropy", all=True).to_latex()
    body = tex.split(r"\begin{document}", 1)[1]
    assert r"\dots" not in body and r"v_{64,3}" in body  # every link really is there
    log = compile_tex(tex, tmp_path, "digits-all")
    assert not [o for o in overfull(log) if o[0] > TOLERANCE_PT]
