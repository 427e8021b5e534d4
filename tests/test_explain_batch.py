"""backprop.explain(mode="batch" | "minibatch"): one update averaged over a few samples, checked
number by number against the reference's formulas evaluated here in plain Python loops.

The oracle runs the forward pass (1)-(4), each sample's error E_d, its error terms (2)/(4), its
gradient dE_d/dw = delta_j a_i (eq. 1), their mean (eq. 3), the delta rule (5) and E after the
update, with math.exp / math.tanh loops over units and links -- no engine code. The Markdown
rendering is compared with it row by row (every final value, and the substituted numbers of the
mean and update rows); the text, LaTeX and HTML renderings must then show the same numbers as
the Markdown, row for row.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import backprop
from backprop import explain
from backprop.errors import InvalidInputError
from mdtools import md_rows, parse_num

NUM = r"-?\d+(?:\.\d*)?(?:\\times 10\^\{-?\d+\})?"


# ---------------------------------------------------------------------------------------------
# reading the renderings back
# ---------------------------------------------------------------------------------------------
def printed_close(printed_text, true, digits=4):
    """True when ``printed_text`` is ``true`` rounded to ``digits`` significant digits."""
    p, true = parse_num(printed_text), float(true)
    if true == 0 or p == 0:
        return abs(p - true) <= 10.0 ** -(digits + 8)
    e = max(math.floor(math.log10(abs(p))), math.floor(math.log10(abs(true))))
    # half a unit of the last printed digit (1 % slack for the decimal/binary conversion), plus
    # float64 rounding of the engine's sums, far below it
    return abs(p - true) <= 0.5 * 10.0 ** (e - digits + 1) * 1.01 + 1e-12 * abs(true)


def by_lhs(md):
    """{lhs: [parts of each row with that lhs, in order]}."""
    out = {}
    for lhs, _, parts in md_rows(md):
        out.setdefault(lhs, []).append(parts)
    return out


def text_finals(text):
    """The final value of every aligned row of the text rendering."""
    out = []
    for line in text.splitlines():
        if re.match(r"^ {4,}\S.* (=|←) ", line):
            last = line.split("   (")[0].rsplit(" = ", 1)[1]
            if not last.startswith("("):  # not a sample's x^(d) = (...)
                out.append(parse_num(last))
    return out


def latex_rows(tex):
    """Each aligned row of the LaTeX document as one line (broken rows joined again)."""
    rows, inside = [], False
    for line in tex.splitlines():
        if line.startswith(r"\begin{align*}"):
            inside = True
        elif line.startswith(r"\end{align*}"):
            inside = False
        elif inside:
            line = re.sub(r" ?\\\\$", "", line)
            if line.startswith("&") and rows:
                rows[-1] += " " + line
            else:
                rows.append(line)
    return [r for r in rows if not r.startswith(r"\vdots")]


def latex_finals(tex):
    out = []
    for r in latex_rows(tex):
        last = re.split(r" &?= ", re.sub(r" \\quad \\text\{[^{}]*\}$", "", r))[-1]
        if not last.startswith((r"\left(", r"\bigl(")):  # not a sample's x^(d) = (...)
            out.append(parse_num(last))
    return out


def mml_number(el):
    """The value of a MathML number: <mn>, or <mrow> with a sign and/or a power of ten."""
    if el.tag == "mn":
        return float(el.text)
    assert el.tag == "mrow", ET.tostring(el)
    kids = list(el)
    sign = -1.0 if kids[0].tag == "mo" and kids[0].text == "\u2212" else 1.0
    mant = next(k for k in kids if k.tag == "mn")
    value = float(mant.text)
    sup = [k for k in kids if k.tag == "msup"]
    if sup:
        e = sup[0][1]
        value *= 10.0 ** (int(e.text) if e.tag == "mn" else -int(e[1].text))
    return sign * value


def html_finals(page):
    root = ET.fromstring(page.split("\n", 1)[1])
    out = []
    for table in root.iter("table"):
        rows = table.findall("tr")
        for n, tr in enumerate(rows):
            tds = tr.findall("td")
            if len(tds) < 2 or tds[1].find("math") is None:
                continue  # an ellipsis row
            nxt = rows[n + 1] if n + 1 < len(rows) else None
            if nxt is not None and not list(nxt.findall("td")[0]):
                continue  # a wide equation goes on in the next row (its lhs cell is empty)
            value = list(tds[1].find("math")[0])[-1]
            if not (value.tag == "mrow" and value[0].text == "("):  # not a sample's x^(d) = (...)
                out.append(mml_number(value))
    return out


# ---------------------------------------------------------------------------------------------
# the oracle: the reference's formulas in plain Python
# ---------------------------------------------------------------------------------------------
G = {"sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)), "tanh": math.tanh,
     "relu": lambda z: max(0.0, z), "identity": lambda z: z}
DG = {"sigmoid": lambda z: G["sigmoid"](z) * (1.0 - G["sigmoid"](z)),
      "tanh": lambda z: 1.0 - math.tanh(z) ** 2, "relu": lambda z: 1.0 if z > 0 else 0.0,
      "identity": lambda z: 1.0}


def weights_of(net):
    """w[k][i][j] with row i = 0 the bias (the weight of the constant input 1)."""
    return [[[float(b) for b in net.biases[k]]] + [[float(v) for v in row] for row in net.weights[k]]
            for k in range(net.n_layers)]


def forward(w, acts, x):
    """h[k][j], a[k][j] (j from 0) of one sample; a[-1] is yhat."""
    hs, as_ = [], []
    prev = [1.0] + list(x)
    for k, wk in enumerate(w):
        h = [sum(prev[i] * wk[i][j] for i in range(len(prev))) for j in range(len(wk[0]))]
        if acts[k] == "softmax":
            e = [math.exp(v) for v in h]
            a = [v / sum(e) for v in e]
        else:
            a = [G[acts[k]](v) for v in h]
        hs.append(h)
        as_.append(a)
        prev = [1.0] + a
    return hs, as_


def sample_error(yhat, y, loss):
    if loss == "mse":
        return 0.5 * sum((p - t) ** 2 for p, t in zip(yhat, y))
    return -sum(t * math.log(p) for p, t in zip(yhat, y))  # cross-entropy of a softmax


def reference_batch(w, acts, loss, X, Y, lr):
    """Everything a batch document prints, by the reference's formulas."""
    L = len(w)
    samples = []
    for x, y in zip(X, Y):
        h, a = forward(w, acts, x)
        delta = [None] * L
        if loss == "mse":
            delta[L - 1] = [(a[L - 1][j] - y[j]) * DG[acts[L - 1]](h[L - 1][j]) for j in range(len(y))]  # (2)
        else:
            delta[L - 1] = [a[L - 1][j] - y[j] for j in range(len(y))]  # softmax + cross-entropy
        for k in range(L - 2, -1, -1):  # eq. (4)
            delta[k] = [DG[acts[k]](h[k][j]) * sum(delta[k + 1][m] * w[k + 1][j + 1][m]
                                                    for m in range(len(delta[k + 1])))
                        for j in range(len(h[k]))]
        inputs = [[1.0] + list(x)] + [[1.0] + a[k] for k in range(L - 1)]
        grad = [[[delta[k][j] * inputs[k][i] for j in range(len(delta[k]))] for i in range(len(inputs[k]))]
                for k in range(L)]  # eq. (1)
        samples.append(dict(h=h, a=a, delta=delta, grad=grad, E=sample_error(a[L - 1], y, loss)))
    m = len(samples)
    mean = [[[sum(s["grad"][k][i][j] for s in samples) / m for j in range(len(w[k][0]))]
             for i in range(len(w[k]))] for k in range(L)]  # eq. (3)
    new = [[[w[k][i][j] - lr * mean[k][i][j] for j in range(len(w[k][0]))] for i in range(len(w[k]))]
           for k in range(L)]  # eq. (5)
    E_after = [sample_error(forward(new, acts, x)[1][-1], y, loss) for x, y in zip(X, Y)]
    return dict(samples=samples, mean=mean, new=new, E=sum(s["E"] for s in samples) / m,
                E_after_each=E_after, E_after=sum(E_after) / m)


# ---------------------------------------------------------------------------------------------
# symbols as the Markdown writes them (the reference's notation)
# ---------------------------------------------------------------------------------------------
def tag(k, L):
    return "o" if k == L - 1 else ("h" if L == 2 else str(k + 1))


def w_name(k, i, j, L):
    base = "v" if (L == 2 and k == 0) else "w"
    return f"{base}_{{{i}{j}}}" + (f"^{{{k + 1}}}" if L > 2 else "")


def unit_syms(k, j, L):
    h = f"h_{{{j}}}^{{{tag(k, L)}}}"
    a = rf"\hat{{y}}_{{{j}}}" if k == L - 1 else f"a_{{{j}}}^{{{tag(k, L)}}}"
    return h, a, rf"\delta_{{{j}}}^{{{tag(k, L)}}}"


def grad_lhs(k, i, j, L, d=None):
    E = r"\mathcal{E}" + (f"_{{{d}}}" if d is not None else "")
    return rf"\frac{{\partial {E}}}{{\partial {w_name(k, i, j, L)}}}"


def check_against_reference(doc, net, acts, loss, X, Y, lr):
    md = doc.to_markdown()
    ref = reference_batch(weights_of(net), acts, loss, X, Y, lr)
    rows = by_lhs(md)
    L, K = net.n_layers, len(X)
    checked = 0

    def final(lhs, n, want):
        nonlocal checked
        assert lhs in rows, f"no row for {lhs}"
        got = rows[lhs][n][-1]
        assert printed_close(got, want), f"{lhs} (#{n}): printed {got}, reference formula gives {want!r}"
        checked += 1

    w = weights_of(net)

    def numbers(part):
        return re.findall(NUM, part.replace(r"\left(", "").replace(r"\right)", ""))

    for d, s in enumerate(ref["samples"]):
        inputs = [[1.0] + list(X[d])] + [[1.0] + s["a"][k] for k in range(L - 1)]
        for k in range(L):
            for j in range(net.sizes[k + 1]):
                h, a, delta = unit_syms(k, j + 1, L)
                # h = sum_i a_i w_ij, substituted: 1 * w_0j + a_1 * w_1j + ...
                subst = numbers(rows[h][d][1])
                assert len(subst) == 2 * len(inputs[k])
                for i, (ai, wi) in enumerate(zip(subst[::2], subst[1::2])):
                    assert printed_close(ai, inputs[k][i]) and printed_close(wi, w[k][i][j]), (h, i)
                final(h, d, s["h"][k][j])
                final(a, d, s["a"][k][j])
                final(delta, d, s["delta"][k][j])
                for i in range(net.sizes[k] + 1):
                    lhs = grad_lhs(k, i, j + 1, L, d + 1)
                    dv, av = numbers(rows[lhs][0][1])  # delta_j * a_i, substituted
                    assert printed_close(dv, s["delta"][k][j]) and printed_close(av, inputs[k][i]), lhs
                    final(lhs, 0, s["grad"][k][i][j])
        final(rf"\mathcal{{E}}_{{{d + 1}}}", 0, s["E"])
        final(rf"\mathcal{{E}}_{{{d + 1}}}", 1, ref["E_after_each"][d])
    final(r"\mathcal{E}", 0, ref["E_after"])
    for k in range(L):
        for j in range(net.sizes[k + 1]):
            for i in range(net.sizes[k] + 1):
                # the mean row: 1/m (dE_1/dw + ... ) with each sample's gradient, then the mean
                parts = rows[grad_lhs(k, i, j + 1, L)][0]
                assert len(rows[grad_lhs(k, i, j + 1, L)]) == 1
                terms = re.findall(NUM, parts[1].split(r"\left(", 1)[1])
                assert parts[1].startswith(rf"\frac{{1}}{{{K}}}")
                assert len(terms) == K
                for t, s in zip(terms, ref["samples"]):
                    assert printed_close(t, s["grad"][k][i][j])
                final(grad_lhs(k, i, j + 1, L), 0, ref["mean"][k][i][j])
                # the update row: old - eta * mean = new
                upd = rows[w_name(k, i, j + 1, L)][0]
                old, lr_p, g = numbers(upd[1])
                assert printed_close(old, w[k][i][j]) and parse_num(lr_p) == lr
                assert printed_close(g, ref["mean"][k][i][j])
                final(w_name(k, i, j + 1, L), 0, ref["new"][k][i][j])
    # nothing else is printed but the samples' x^(d)/y^(d), g' rows and these
    n_g = sum(len(v) for lhs, v in rows.items() if lhs.startswith("g'"))
    n_xy = sum(len(v) for lhs, v in rows.items() if re.fullmatch(r"[xy]\^\{\(\d+\)\}", lhs))
    assert n_xy == 2 * K
    assert sum(len(v) for v in rows.values()) == checked + n_g + n_xy
    return md


CASES = {
    "2-2-1 sigmoid": (dict(sizes=[2, 2, 1]), "mse", [[0.05, 0.1], [0.3, -0.2], [-1.0, 0.5]],
                      [[0.01], [0.5], [0.99]]),
    "3-4-2 tanh": (dict(sizes=[3, 4, 2], hidden="tanh"), "mse",
                   [[0.3, -1.2, 0.8], [0.1, 0.2, 0.3], [-0.5, 0.0, 1.5], [2.0, -1.0, 0.25]],
                   [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.9]]),
    "2-3-3-1 relu/sigmoid identity": (dict(sizes=[2, 3, 3, 1], hidden=["relu", "sigmoid"], output="identity"),
                                      "mse", [[0.7, -0.4], [-0.2, 0.9]], [[0.3], [-1.2]]),
    "2-3-3 softmax cross-entropy": (dict(sizes=[2, 3, 3], hidden="tanh", output="softmax"), "cross_entropy",
                                    [[0.5, -0.25], [1.0, 1.0], [-0.3, 0.8], [0.0, -1.0], [0.2, 0.2]],
                                    [0, 2, 1, 1, 0]),
}


def make_net(spec):
    spec = dict(spec)
    net = backprop.Network(spec.pop("sizes"), seed=3, dtype="float64", **spec)
    rng = np.random.default_rng(11)
    for b in net.biases:  # nonzero biases (and ReLU units away from their kink)
        b[...] = rng.normal(0, 0.5, b.shape)
    return net


def acts_of(net):
    return list(net.hidden) + [net.output]


def one_hot(Y, n):
    return [[1.0 if j == c else 0.0 for j in range(n)] for c in Y] if np.ndim(Y) == 1 else Y


@pytest.mark.parametrize("name", list(CASES))
def test_batch_document_matches_the_reference_formulas(name):
    spec, loss, X, Y = CASES[name]
    net = make_net(spec)
    before = [p.copy() for p in net.weights + net.biases]
    lr = 0.3
    doc = explain(net, X, Y, lr=lr, loss=loss, mode="batch")
    assert doc.mode == "batch" and doc.samples == len(X)
    assert doc.title == "Backpropagation, one batch update worked out"
    check_against_reference(doc, net, acts_of(net), loss, X, one_hot(Y, net.sizes[-1]), lr)
    for p, q in zip(before, net.weights + net.biases):
        np.testing.assert_array_equal(p, q)  # the network passed in is not changed


@pytest.mark.parametrize("name", ["2-2-1 sigmoid", "2-3-3 softmax cross-entropy"])
def test_every_format_prints_the_same_numbers(name):
    spec, loss, X, Y = CASES[name]
    net = make_net(spec)
    doc = explain(net, X, Y, lr=0.3, loss=loss, mode="batch")
    md = doc.to_markdown()
    md_final = [parse_num(parts[-1]) for lhs, _, parts in md_rows(md) if not lhs.startswith(("x^", "y^"))]
    assert len(md_final) > 40
    assert text_finals(doc.to_text()) == md_final
    assert html_finals(doc.to_html()) == md_final
    tex = doc.to_latex()
    assert latex_finals(tex) == md_final
    # and every number of every LaTeX row is the Markdown's (the rows only broken differently)
    md_nums = [re.findall(NUM, " = ".join(parts)) for _, _, parts in md_rows(md)]
    tex_nums = [re.findall(NUM, re.sub(r" \\quad \\text\{[^{}]*\}$", "", r).split("&", 1)[1])
                for r in latex_rows(tex)]
    assert [[parse_num(n) for n in r] for r in tex_nums] == [[parse_num(n) for n in r] for r in md_nums]


def test_minibatch_uses_the_first_batch_of_the_epoch():
    spec, loss, X, Y = CASES["3-4-2 tanh"]
    net = make_net(spec)
    doc = explain(net, X, Y, lr=0.5, loss=loss, mode="minibatch", samples=2)
    assert doc.mode == "minibatch" and doc.samples == 2
    md = check_against_reference(doc, net, acts_of(net), loss, X[:2], Y[:2], 0.5)
    assert "mini-batch" in md and "batch size 2" in md and "samples 1 to 2 of the 4" in md
    assert "an epoch makes 2 such updates" in md
    # the engine's own mini-batch step from the same weights gives the same new weights
    twin = net.copy()
    twin.fit(np.array(X[:2]), np.array(Y[:2]), epochs=1, lr=0.5, batch_size=2, shuffle=False)
    for a, b in zip(twin.weights + twin.biases, doc.net_after.weights + doc.net_after.biases):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_float32_network_batch():
    net = backprop.Network([3, 5, 2], hidden="sigmoid", output="sigmoid", seed=4)  # float32
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 3)).round(2)
    Y = rng.uniform(size=(3, 2)).round(2)
    doc = explain(net, X, Y, lr=0.2, mode="batch")
    ref = reference_batch(weights_of(net), acts_of(net), "mse", X.tolist(), Y.tolist(), 0.2)
    rows = by_lhs(doc.to_markdown())
    # float32 arithmetic: compare to the printed precision (4 digits) with float32's rounding on top
    for k, (i, j) in ((1, (2, 1)), (0, (3, 4))):
        w = w_name(k, i, j, 2)
        want = ref["new"][k][i][j - 1]
        assert abs(parse_num(rows[w][0][-1]) - want) <= 5e-4 * abs(want) + 1e-6
    assert abs(parse_num(rows[r"\mathcal{E}"][0][-1]) - ref["E_after"]) <= 5e-4 * ref["E_after"]


def test_batch_sample_limits_and_defaults():
    net = make_net(dict(sizes=[2, 2, 1]))
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 2)), rng.uniform(size=(20, 1))
    doc = explain(net, X, Y, lr=0.1, mode="batch")
    assert doc.samples == backprop.see.explain.MAX_SAMPLES == 8
    assert "the first 8 of the 20" in doc.to_markdown()
    assert explain(net, X, Y, lr=0.1, mode="batch", samples=3).samples == 3
    with pytest.raises(InvalidInputError, match="at most 8"):
        explain(net, X, Y, lr=0.1, mode="batch", samples=9)
    mb = explain(net, X, Y, lr=0.1, mode="minibatch", samples=5)
    assert mb.samples == 5 and mb.title == "Backpropagation, one mini-batch update worked out"
    assert "batch size 5" in str(mb) and "an epoch makes 4 such updates" in str(mb)
    with pytest.raises(InvalidInputError, match="batch size must be at most 8"):
        explain(net, X, Y, lr=0.1, mode="minibatch", samples=16)


def test_batch_argument_errors():
    net = make_net(dict(sizes=[2, 2, 1]))
    X, Y = [[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]
    with pytest.raises(InvalidInputError, match="only 2 rows"):
        explain(net, X, Y, lr=0.1, mode="batch", samples=3)
    with pytest.raises(InvalidInputError, match="positive integer"):
        explain(net, X, Y, lr=0.1, mode="batch", samples=0)
    with pytest.raises(InvalidInputError, match="mode"):
        explain(net, X, Y, lr=0.1, mode="full")
    with pytest.raises(InvalidInputError, match="mode='batch'"):
        explain(net, X[0], Y[0], lr=0.1, samples=2)  # online works out one sample
    with pytest.raises(InvalidInputError, match="one row"):
        explain(net, X, Y, lr=0.1)  # online with two rows: say which mode takes them
    with pytest.raises(InvalidInputError, match="columns"):
        explain(net, [[1, 2, 3]], [[0.5]], lr=0.1, mode="batch")
