"""backprop.explain: the worked example of one online update, checked number by number.

Oracles: the engine's trace (the document must print what the engine computed), and -- for the
hand-checkable 2-2-1 case -- the reference's formulas (1)-(4), (i)-(iv) evaluated here in plain
Python with math.exp loops. The numbers are parsed back out of the Markdown (LaTeX) rows
``lhs &= ... = value \\`` and compared to the printed precision.
"""

from __future__ import annotations

import html.parser
import io
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import backprop
from backprop import explain
from backprop.errors import InvalidInputError, InvalidTypeError
from mdtools import md_rows, parse_num

NUM = r"-?\d+(?:\.\d*)?(?:\\times 10\^\{-?\d+\})?"


def printed_close(printed_text, true, digits=4):
    """True when ``printed_text`` is ``true`` rounded to ``digits`` significant digits."""
    p = parse_num(printed_text)
    true = float(true)
    if true == 0 or p == 0:
        return abs(p - true) <= 10.0 ** -(digits + 8) or p == true
    e = max(math.floor(math.log10(abs(p))), math.floor(math.log10(abs(true))))
    # half a unit of the last printed digit, plus float32 rounding of the engine's own update
    return abs(p - true) <= 0.5 * 10.0 ** (e - digits + 1) * 1.01 + 1e-6 * abs(true)


def values_by_lhs(md):
    """{lhs: [final value text, ...]} (a symbol appears again after the update)."""
    out = {}
    for lhs, _, parts in md_rows(md):
        out.setdefault(lhs, []).append(parts[-1])
    return out


def sym(base, sub, sup=None, hat=False):
    b = rf"\hat{{{base}}}" if hat else base
    return b + f"_{{{sub}}}" + (f"^{{{sup}}}" if sup is not None else "")


# ---------------------------------------------------------------------------------------------
# the hand-checkable 2-2-1 example: the reference's formulas in plain Python
# ---------------------------------------------------------------------------------------------
V = [[0.15, 0.25], [0.20, 0.30]]  # v_ij, i = 1..2 inputs, j = 1..2 hidden units
V0 = [0.35, 0.35]  # v_0j, the bias weights (x_0 = 1)
W = [[0.40], [0.45]]  # w_jk
W0 = [0.60]  # w_0k (a_0^h = 1)
X0, Y0, LR = [0.05, 0.10], [0.01], 0.5


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def reference_221(V, V0, W, W0, x, y, lr):
    """Forward pass (1)-(4), E, (i)-(iv) and E after the update, by the reference's formulas."""
    M, N = len(V0), len(W0)
    xs = [1.0] + list(x)  # x_0 = 1
    v = [V0] + V  # v[i][j], row 0 the bias
    w = [W0] + W
    h_h = [sum(xs[i] * v[i][j] for i in range(len(xs))) for j in range(M)]  # (1)
    a_h = [sigmoid(z) for z in h_h]  # (2)
    a = [1.0] + a_h  # a_0^h = 1
    h_o = [sum(a[j] * w[j][k] for j in range(M + 1)) for k in range(N)]  # (3)
    yhat = [sigmoid(z) for z in h_o]  # (4)
    E = 0.5 * sum((yhat[k] - y[k]) ** 2 for k in range(N))
    g_o = [yhat[k] * (1 - yhat[k]) for k in range(N)]  # eq. (9)
    d_o = [(yhat[k] - y[k]) * g_o[k] for k in range(N)]  # (i)
    g_h = [a_h[j] * (1 - a_h[j]) for j in range(M)]  # eq. (15)
    d_h = [g_h[j] * sum(d_o[k] * w[j + 1][k] for k in range(N)) for j in range(M)]  # (ii)
    w_new = [[w[j][k] - lr * d_o[k] * a[j] for k in range(N)] for j in range(M + 1)]  # (iii)
    v_new = [[v[i][j] - lr * d_h[j] * xs[i] for j in range(M)] for i in range(len(xs))]  # (iv)
    # E after the update: the forward pass again
    h2 = [sum(xs[i] * v_new[i][j] for i in range(len(xs))) for j in range(M)]
    a2 = [1.0] + [sigmoid(z) for z in h2]
    yhat2 = [sigmoid(sum(a2[j] * w_new[j][k] for j in range(M + 1))) for k in range(N)]
    E2 = 0.5 * sum((yhat2[k] - y[k]) ** 2 for k in range(N))
    return dict(h_h=h_h, a_h=a_h, h_o=h_o, yhat=yhat, E=E, g_o=g_o, d_o=d_o, g_h=g_h, d_h=d_h,
                w=w, v=v, w_new=w_new, v_new=v_new, yhat2=yhat2, E2=E2)


def net_221():
    net = backprop.Network([2, 2, 1], seed=0, dtype="float64")
    net.weights[0][...] = V
    net.biases[0][...] = V0
    net.weights[1][...] = W
    net.biases[1][...] = W0
    return net


@pytest.mark.parametrize("digits", [4, 7])
def test_hand_checkable_221_matches_the_reference_formulas(digits):
    ref = reference_221(V, V0, W, W0, X0, Y0, LR)
    md = str(explain(net_221(), X0, Y0, lr=LR, digits=digits))
    vals = values_by_lhs(md)
    checks = []
    for j in (1, 2):
        checks += [(sym("h", j, "h"), 0, ref["h_h"][j - 1]), (sym("a", j, "h"), 0, ref["a_h"][j - 1]),
                   (rf"\delta_{{{j}}}^{{h}}", 0, ref["d_h"][j - 1]),
                   (rf"g'_{{h}}\left(h_{{{j}}}^{{h}}\right)", 0, ref["g_h"][j - 1])]
    checks += [(sym("h", 1, "o"), 0, ref["h_o"][0]), (sym("y", 1, hat=True), 0, ref["yhat"][0]),
               (r"\mathcal{E}", 0, ref["E"]), (r"\delta_{1}^{o}", 0, ref["d_o"][0]),
               (r"g'_{o}\left(h_{1}^{o}\right)", 0, ref["g_o"][0]),
               (sym("y", 1, hat=True), 1, ref["yhat2"][0]), (r"\mathcal{E}", 1, ref["E2"])]
    for j in range(3):
        checks.append((f"w_{{{j}1}}", 0, ref["w_new"][j][0]))
        for i in range(3):
            if j:
                checks.append((f"v_{{{i}{j}}}", 0, ref["v_new"][i][j - 1]))
    for lhs, n, want in checks:
        assert lhs in vals, f"no row for {lhs}"
        got = vals[lhs][n]
        assert printed_close(got, want, digits), f"{lhs}: printed {got}, reference formula gives {want!r}"
    # each update row shows the old value, eta, the error term and the input/activation it multiplies
    rows = {lhs: parts for lhs, rel, parts in md_rows(md) if rel == r"\leftarrow"}
    assert len(rows) == 9  # 3 w_jk and 6 v_ij, biases included
    old, rest = rows["w_{21}"][1].split(" - ", 1)
    factors = [parse_num(f.strip(r" \left()\right")) for f in rest.split(r"\cdot")]  # noqa: B005 -- a set of chars
    assert printed_close(old, ref["w"][2][0], digits)
    assert factors[0] == LR
    assert printed_close(rest.split(r"\cdot")[1].strip(r" \left()\right"), ref["d_o"][0], digits)  # noqa: B005
    assert printed_close(rest.split(r"\cdot")[2].strip(r" \left()\right"), ref["a_h"][1], digits)  # noqa: B005
    assert rows["v_{01}"][1].endswith(r"\cdot 1")  # the bias input x_0 = 1


def test_markdown_values_equal_the_engine_trace():
    net = backprop.Network([3, 4, 2], hidden="tanh", output="sigmoid", seed=7)  # float32
    x, y, lr = [0.3, -1.2, 0.8], [1.0, 0.0], 0.2
    doc = explain(net, x, y, lr=lr)
    md = str(doc)
    t = net.trace(np.array([x]), np.array([y]))
    vals = values_by_lhs(md)
    expected = {}
    for j in range(1, 5):
        expected[sym("h", j, "h")] = t.h[0][0, j - 1]
        expected[sym("a", j, "h")] = t.a[0][0, j - 1]
        expected[rf"\delta_{{{j}}}^{{h}}"] = t.delta[0][0, j - 1]
        for i in range(4):
            # the delta rule (5) applied to the trace's gradient: w <- w - eta dE/dw
            old = net.biases[0][j - 1] if i == 0 else net.weights[0][i - 1, j - 1]
            grad = t.grad_biases[0][j - 1] if i == 0 else t.grad_weights[0][i - 1, j - 1]
            expected[f"v_{{{i}{j}}}"] = float(old) - lr * float(grad)
    for k in (1, 2):
        expected[sym("h", k, "o")] = t.h[1][0, k - 1]
        expected[sym("y", k, hat=True)] = t.a[1][0, k - 1]
        expected[rf"\delta_{{{k}}}^{{o}}"] = t.delta[1][0, k - 1]
        for j in range(5):
            old = net.biases[1][k - 1] if j == 0 else net.weights[1][j - 1, k - 1]
            grad = t.grad_biases[1][k - 1] if j == 0 else t.grad_weights[1][j - 1, k - 1]
            expected[f"w_{{{j}{k}}}"] = float(old) - lr * float(grad)
    expected[r"\mathcal{E}"] = t.loss
    for lhs, want in expected.items():
        assert lhs in vals, f"no row for {lhs}"
        assert printed_close(vals[lhs][0], want), f"{lhs}: printed {vals[lhs][0]}, trace {want!r}"
    # every aligned row was accounted for (plus g' rows and the rows after the update)
    n_g = sum(1 for lhs in vals if lhs.startswith("g'"))
    assert sum(len(v) for v in vals.values()) == len(expected) + n_g + 2 + 1
    assert printed_close(vals[r"\mathcal{E}"][1], doc.loss_after)


def test_deeper_network_uses_eq4_per_layer_and_w_k_names():
    net = backprop.Network([2, 3, 3, 1], hidden=["relu", "sigmoid"], output="identity", seed=2,
                           dtype="float64")
    rng = np.random.default_rng(0)
    for b in net.biases:  # away from the ReLU kink
        b[...] = rng.normal(0, 0.5, b.shape)
    x, y = [0.7, -0.4], [0.3]
    md = str(explain(net, x, y, lr=0.1))
    t = net.trace(np.array([x]), np.array([y]))
    vals = values_by_lhs(md)
    for layer, tag in ((0, "1"), (1, "2")):
        for j in range(1, 4):
            assert printed_close(vals[sym("h", j, tag)][0], t.h[layer][0, j - 1])
            assert printed_close(vals[sym("a", j, tag)][0], t.a[layer][0, j - 1])
            assert printed_close(vals[rf"\delta_{{{j}}}^{{{tag}}}"][0], t.delta[layer][0, j - 1])
    assert printed_close(vals[r"\delta_{1}^{o}"][0], t.delta[2][0, 0])
    # eq. (4) once per hidden layer, weights named w^k
    assert md.count("**(ii)**") == 2
    assert r"w_{ij}^{k}" in md and r"w_{01}^{3}" in vals and r"w_{33}^{2}" in vals
    new = float(net.weights[2][2, 0]) - 0.1 * float(t.grad_weights[2][2, 0])
    assert printed_close(vals[r"w_{31}^{3}"][0], new)


@pytest.mark.parametrize("output,loss", [("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy")])
def test_matched_losses_use_yhat_minus_y_and_say_why(output, loss):
    net = backprop.Network([2, 3, 2], hidden="tanh", output=output, seed=4, dtype="float64")
    x, y = [0.5, -0.25], [0.0, 1.0]
    md = str(explain(net, x, y, lr=0.1, loss=loss))
    vals = values_by_lhs(md)
    yhat = net.predict([x])[0]
    for k in (1, 2):
        assert printed_close(vals[rf"\delta_{{{k}}}^{{o}}"][0], yhat[k - 1] - y[k - 1])
    assert "simplifies to" in md
    # the loss formula printed is the loss's own, and its value that of the textbook formula
    p = yhat
    if loss == "binary_cross_entropy":
        E = -sum(y[k] * math.log(p[k]) + (1 - y[k]) * math.log(1 - p[k]) for k in range(2))
        assert r"\ln" in md
    else:
        E = -sum(y[k] * math.log(p[k]) for k in range(2))
    assert printed_close(vals[r"\mathcal{E}"][0], E)


def test_softmax_with_mse_uses_the_jacobian():
    net = backprop.Network([2, 3, 3], hidden="sigmoid", output="softmax", seed=5, dtype="float64")
    x, y = [0.2, 0.9], [0.0, 0.0, 1.0]
    md = str(explain(net, x, y, lr=0.1, loss="mse"))
    p = net.predict([x])[0]
    J = np.diag(p) - np.outer(p, p)  # da_l/dh_k
    delta = J.T @ (p - np.array(y))
    vals = values_by_lhs(md)
    for k in range(3):
        assert printed_close(vals[rf"\delta_{{{k + 1}}}^{{o}}"][0], delta[k])


def test_error_falls_after_a_small_step_and_the_net_is_untouched():
    rng = np.random.default_rng(3)
    for hidden, output, loss in [("sigmoid", "sigmoid", "mse"), ("relu", "identity", "mse"),
                                 ("tanh", "softmax", "cross_entropy"),
                                 ("gelu", "sigmoid", "binary_cross_entropy")]:
        net = backprop.Network([3, 5, 2], hidden=hidden, output=output, seed=int(rng.integers(100)),
                               dtype="float64")
        before = [p.copy() for p in net.weights + net.biases]
        x = rng.normal(size=3)
        y = [1.0, 0.0] if output != "identity" else rng.normal(size=2)
        doc = explain(net, x, y, lr=0.01, loss=loss)
        assert doc.loss_after < doc.loss_before
        md = str(doc)
        vals = values_by_lhs(md)
        assert parse_num(vals[r"\mathcal{E}"][1]) <= parse_num(vals[r"\mathcal{E}"][0])
        assert "The error fell from" in md
        for p, q in zip(before, net.weights + net.biases):
            np.testing.assert_array_equal(p, q)
    # a huge step overshoots, and the document says so instead of claiming a fall
    net = backprop.Network([2, 2, 1], output="identity", seed=0, dtype="float64")
    net.weights[1][...] = W
    doc = explain(net, X0, Y0, lr=20.0)
    assert doc.loss_after > doc.loss_before and "The error rose" in str(doc)


def test_big_networks_are_summarised_unless_all():
    net = backprop.Network([30, 12, 3], hidden="relu", output="softmax", seed=1)
    x = np.linspace(-1, 1, 30)
    short = explain(net, x, 2, lr=0.1, loss="cross_entropy")
    full = explain(net, x, 2, lr=0.1, loss="cross_entropy", all=True)
    s, f = str(short), str(full)
    assert r"\dots" in s and "all=True" in s
    assert r"\dots" not in f and "all=True" not in f
    assert len(s) < len(f) / 4
    vals = values_by_lhs(f)
    t = net.trace(x[None], [2], loss="cross_entropy")
    assert printed_close(vals[sym("h", 12, "h")][0], t.h[0][0, 11])
    assert printed_close(vals[r"\delta_{12}^{h}"][0], t.delta[0][0, 11])
    assert "v_{30,12}" in vals and "v_{30,12}" not in values_by_lhs(s)
    assert sym("h", 5, "h") not in values_by_lhs(s)


def test_text_format_shows_the_same_numbers_aligned():
    doc = explain(net_221(), X0, Y0, lr=LR, format="text")
    text = str(doc)
    md = doc.to_markdown()
    md_final = [parts[-1] for _, _, parts in md_rows(md)]
    rows = [ln for ln in text.splitlines() if re.match(r"^ {4,}\S.* (=|←) ", ln)]
    text_final = [ln.rsplit(" = ", 1)[1].split("   (")[0] for ln in rows]
    assert text_final == md_final
    for sub in ("h₁ʰ", "a₂ʰ", "ŷ₁", "δ₁ᵒ", "δ₂ʰ", "w₀₁ ←", "v₂₂ ←", "(iii)", "(iv)"):
        assert sub in text
    # rows of one block are aligned at their relation sign
    blocks = re.split(r"\n(?! {4})", text)
    for b in blocks:
        lines = [ln for ln in b.splitlines() if ln.startswith("    ")]
        cols = {ln.find(" = ") if " ← " not in ln else ln.find(" ← ") for ln in lines}
        assert len(cols) <= 1, b


def test_rich_rendering_has_colour_only_on_a_terminal():
    from rich.console import Console

    doc = explain(net_221(), X0, Y0, lr=LR, format="text")
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="standard", width=300, soft_wrap=True).print(doc)
    assert "\x1b[" in buf.getvalue()
    plain = io.StringIO()
    Console(file=plain, force_terminal=False, width=300, soft_wrap=True).print(doc)
    assert "\x1b[" not in plain.getvalue()
    assert plain.getvalue().strip() == str(doc).strip()


class _Balance(html.parser.HTMLParser):
    VOID = {"meta", "br", "img", "link", "hr", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.urls = [], [], []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <meta ... />: opens and closes itself
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(tag)
        else:
            self.stack.pop()


def test_html_is_standalone_and_well_formed():
    net = backprop.Network([2, 3, 2], hidden="relu", output="softmax", seed=1)
    doc = explain(net, [0.5, -1.0], 1, lr=0.1, loss="cross_entropy", format="html")
    page = str(doc)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.I)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    p = _Balance()
    p.feed(page)
    p.close()
    assert not p.errors and not p.stack and not p.urls
    root = ET.fromstring(page.split("\n", 1)[1])  # well-formed XML too (MathML included)
    maths = root.findall(".//math")
    assert len(maths) > 20
    # the equations are real MathML with the engine's numbers, e.g. delta_1^o = yhat_1 - y_1
    t = net.trace(np.array([[0.5, -1.0]]), [1], loss="cross_entropy")
    want = f"{abs(float(t.delta[1][0, 0])):#.4g}"
    assert f"<mn>{want}</mn>" in page
    # Jupyter: every format renders as the HTML worked example (MathML); Markdown stays available
    assert doc._repr_html_().startswith('<div class="backprop-explain">')
    md_doc = explain(net, [0.5, -1.0], 1, lr=0.1, loss="cross_entropy")
    assert md_doc._repr_html_() == doc._repr_html_() and md_doc._repr_markdown_() == str(md_doc)


def test_latex_document_is_balanced():
    tex = explain(net_221(), X0, Y0, lr=LR, format="latex").render()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    body = re.sub(r"\\[{}]", "", tex)
    assert body.count("{") == body.count("}")
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}") > 5
    assert len(re.findall(r"\\left[(\[]", tex)) == len(re.findall(r"\\right[)\]]", tex)) > 10
    assert r"v_{01} &\leftarrow" in tex


def test_bad_arguments_raise_the_library_errors():
    net = net_221()
    with pytest.raises(InvalidInputError, match="x has 3 values"):
        explain(net, [1, 2, 3], [1], lr=0.1)
    with pytest.raises(InvalidInputError, match="format"):
        explain(net, X0, Y0, lr=0.1, format="pdf")
    with pytest.raises(InvalidInputError, match="lr"):
        explain(net, X0, Y0, lr=0)
    with pytest.raises(InvalidInputError, match="one row"):
        explain(net, [[1, 2], [3, 4]], Y0, lr=0.1)
    with pytest.raises(InvalidInputError, match="does not fit"):
        explain(net, X0, Y0, lr=0.1, loss="cross_entropy")
    with pytest.raises(InvalidTypeError):
        explain("net", X0, Y0, lr=0.1)


def test_save_writes_the_chosen_format(tmp_path):
    doc = explain(net_221(), X0, Y0, lr=LR)
    path = tmp_path / "step.html"
    doc.save(path, "html")
    assert path.read_text(encoding="utf-8") == doc.to_html()


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def cli_command():
    """``backprop`` itself when cli.py registers explain/plot, else this module's own group."""
    try:
        from backprop.cli import main

        if "explain" in main.commands and "plot" in main.commands:
            return [sys.executable, "-c", "from backprop.cli import main; main()"]
    except ImportError:
        pass
    return [sys.executable, "-m", "backprop.cli_see"]


def run_cli(args, tmp_path):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    env.pop("DISPLAY", None)
    return subprocess.run(cli_command() + args, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)


def test_cli_explain_prints_the_same_document_as_the_api(tmp_path):
    r = run_cli(["explain", "--format", "markdown", "--lr", "0.5"], tmp_path)
    assert r.returncode == 0, r.stderr
    net = backprop.Network([2, 2, 1], seed=0, dtype="float64")
    assert r.stdout == str(explain(net, [0.05, 0.1], [1.0], lr=0.5))
    assert r.stderr == ""


def test_cli_explain_options_and_errors(tmp_path):
    from click.testing import CliRunner

    from backprop.cli.see import explain as explain_cmd

    out = tmp_path / "step.html"
    r = CliRunner().invoke(explain_cmd, [
        "--layers", "2,3,2", "--hidden", "tanh", "--output", "softmax", "--loss", "cross_entropy",
        "--x", "0.5,-1", "--y", "1", "--seed", "3", "--lr", "0.2", "--format", "html", "--out", str(out)])
    assert r.exit_code == 0, r.output
    net = backprop.Network([2, 3, 2], hidden="tanh", output="softmax", seed=3, dtype="float64")
    page = out.read_text(encoding="utf-8")
    assert page == explain(net, [0.5, -1], 1, lr=0.2, loss="cross_entropy", format="html").to_html()
    r = CliRunner().invoke(explain_cmd, ["--x", "1,2,3"])
    assert r.exit_code == 2
    assert r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1
    assert "x has 3 values" in r.output
    for args in (["--layers", "2,x"], ["--row", "1"], ["--lr", "-1"], ["--hidden", "softmax"]):
        r = CliRunner().invoke(explain_cmd, args)
        assert r.exit_code == 2 and r.output.startswith("error: "), (args, r.output)


def test_cli_explain_a_saved_model_row(tmp_path):
    from click.testing import CliRunner

    from backprop import datasets
    from backprop.cli.see import explain as explain_cmd

    ds = datasets.load("xor", n_samples=40, seed=1)
    stats = datasets.fit_standardize(ds.X)
    net = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=2)
    path = tmp_path / "m.safetensors"
    net.save(path, loss="mse", task="classification", classes=[0, 1], standardize=stats,
             dataset={"name": "xor", "options": {"n_samples": 40, "seed": 1}})
    r = CliRunner().invoke(explain_cmd, ["--model", str(path), "--row", "5", "--format", "markdown",
                                         "--lr", "0.3"])
    assert r.exit_code == 0, r.output
    x = datasets.apply_standardize(ds.X[5:6], stats)[0]
    want = explain(backprop.load(path), x, [float(ds.y[5])], lr=0.3)
    assert values_by_lhs(r.output) == values_by_lhs(str(want))
    assert "row 5 of the train part" in r.output
    r = CliRunner().invoke(explain_cmd, ["--model", str(path), "--row", "999"])
    assert r.exit_code == 2 and "error: --row must lie in 0..29" in r.output


def test_a_negative_number_after_an_operator_is_parenthesised():
    from backprop.see.mathnodes import Num, Row
    row = Row(Num(-2.37), "-", Num(-2.66631), "+", Num(0.5), "*", Num(-1.0))
    text = row.text()
    assert "- -" not in text and "+ -" not in text and "·-" not in text
    assert text.count("(") == 2 and text.startswith("-2.37")  # the leading minus is a sign, left alone
    assert row.tex().count(r"\left(") == 2
    assert row.mml().count("<mo>(</mo>") == 2
