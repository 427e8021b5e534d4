"""Rich display in notebooks: ``_repr_html_`` of Network, Trace, History, the explain document and
the estimators, and the plot functions' Figures.

The HTML is parsed back (``html.parser``, every element closed in order) and its tables' numbers
are compared with a forward and backward pass written here in plain NumPy (float64): the display
shows the engine's numbers, and they are the reference's. User strings (class labels, feature
names) must come out escaped, and a 784-512-256-10 network's display must stay small.
"""

from __future__ import annotations

import html.parser
import pickle
import re

import numpy as np
import pytest

import backprop
from backprop.see import plots
from backprop.sklearn import display as sdisplay
from backprop.train import display as tdisplay

VOID = {"br", "hr", "img", "meta", "input", "link", "col", "area", "base", "wbr", "source", "track",
        "embed", "param"}
#: the numbers are printed with DIGITS significant digits: relative error at most half a unit there
RTOL = 10.0 ** (1 - tdisplay.DIGITS)


class Tables(html.parser.HTMLParser):
    """Checks that every element is closed in order, and collects the tables (and summary divs)
    carrying ``data-symbol``/``data-layer`` with their cell values."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: dict[tuple[str, int], list[list[float]]] = {}
        self.summaries: dict[tuple[str, int], str] = {}
        self.scripts = 0
        self._cur = None  # key of the table being read
        self._div = None  # key of a summary div being read
        self._row: list[float] | None = None
        self._in_td = False
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag not in VOID:
            self.stack.append(tag)
        a = dict(attrs)
        if "data-symbol" in a:
            key = (a["data-symbol"], int(a["data-layer"]))
            if tag == "table":
                self._cur = key
                self.tables[key] = []
            else:
                self._div = key
                self.summaries[key] = ""
        if tag == "tr" and self._cur is not None:
            self._row = []
        if tag == "td" and self._row is not None:
            self._in_td, self._text = True, ""

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag == "td" and self._in_td:
            self._row.append(float(self._text))
            self._in_td = False
        if tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._cur].append(self._row)
            self._row = None
        if tag == "table":
            self._cur = None
        if tag == "div":
            self._div = None

    def handle_data(self, data):
        if self._in_td:
            self._text += data
        if self._div is not None:
            self.summaries[self._div] += data


def parse(text: str) -> Tables:
    p = Tables()
    p.feed(text)
    p.close()
    assert p.stack == [], f"unclosed elements: {p.stack}"
    return p


def sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def numpy_trace(W, b, X, Y):
    """Forward and backward pass of a tanh-hidden, sigmoid-output network with E = 1/(2m) sum (yhat-y)^2,
    in the reference's equations, independent of the engine."""
    m = X.shape[0]
    hs, as_ = [], []
    a = X
    for k in range(len(W)):
        h = a @ W[k] + b[k]
        a = sigmoid(h) if k == len(W) - 1 else np.tanh(h)
        hs.append(h)
        as_.append(a)
    E = ((as_[-1] - Y) ** 2).sum() / (2 * m)
    deltas = [None] * len(W)
    deltas[-1] = as_[-1] * (1 - as_[-1]) * (as_[-1] - Y)  # eq. (2)
    for k in range(len(W) - 2, -1, -1):
        deltas[k] = (1 - as_[k] ** 2) * (deltas[k + 1] @ W[k + 1].T)  # eq. (4)
    grads = []
    for k in range(len(W)):
        a_prev = X if k == 0 else as_[k - 1]
        gw = np.mean([np.outer(a_prev[d], deltas[k][d]) for d in range(m)], axis=0)  # eqs. (1), (3)
        gb = deltas[k].mean(axis=0)
        grads.append(np.vstack([gb, gw]))
    return hs, as_, deltas, grads, E


@pytest.fixture
def small():
    net = backprop.Network([2, 3, 2], hidden="tanh", output="sigmoid", seed=4, dtype="float64")
    net.biases[0][:] = [0.1, -0.2, 0.3]
    net.biases[1][:] = [0.05, -0.05]
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 0.4]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return net, X, Y


def close(table, want):
    got = np.asarray(table, dtype=np.float64)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


def test_trace_html_shows_h_a_delta_and_the_gradient_of_each_layer(small):
    net, X, Y = small
    text = net.trace(X, Y, loss="mse")._repr_html_()
    p = parse(text)
    hs, as_, deltas, grads, E = numpy_trace([w.copy() for w in net.weights],
                                            [b.copy() for b in net.biases], X, Y)
    close(p.tables[("x", 0)], X)
    for k in (1, 2):
        close(p.tables[("h", k)], hs[k - 1])
        close(p.tables[("a", k)], as_[k - 1])
        close(p.tables[("delta", k)], deltas[k - 1])
        close(p.tables[("grad", k)], grads[k - 1])  # row i = 0: the bias weight's gradient
    e = float(re.search(r"E = ([-+0-9.e]+)", text).group(1))
    assert e == pytest.approx(E, rel=RTOL)
    # the reference's symbols, and the two-layer example's names v and w
    for s in ("h<sup>1</sup><sub>j</sub>", "a<sup>2</sup><sub>j</sub>", "δ<sup>2</sup><sub>j</sub>",
              "∂E/∂v<sub>ij</sub>", "∂E/∂w<sub>ij</sub>"):
        assert s in text


def test_network_html_shows_the_weights_with_the_bias_as_row_zero(small):
    net, _, _ = small
    text = net._repr_html_()
    p = parse(text)
    for k in (1, 2):
        close(p.tables[("w", k)], np.vstack([net.biases[k - 1], net.weights[k - 1]]))
    assert "Network 2-3-2" in text and "tanh" in text and "sigmoid" in text
    assert f"{net.n_parameters:,} parameters" in text


def test_user_strings_are_escaped():
    net = backprop.Network([2, 2], output="softmax", seed=0)
    net.metadata.update(classes=["<script>alert(1)</script>", 'a"b'], feature_names=["x<1", "&y"],
                        dataset="<b>mine</b>")
    text = net._repr_html_()
    p = parse(text)
    assert p.scripts == 0 and "<script" not in text and "<b>mine" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a&quot;b" in text
    assert "x&lt;1" in text and "&amp;y" in text


def test_a_network_with_wrongly_shaped_weights_says_so():
    net = backprop.Network([2, 3, 1], seed=0)
    net.weights[1] = np.zeros((2, 1))
    text = net._repr_html_()
    parse(text)
    assert "net.weights[1] has shape (2, 1), expected (3, 1)" in text
    assert net.weights[1].shape == (2, 1)  # displayed, not changed


def test_the_regressor_shows_escaped_feature_names():
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20, 2)), columns=["<img src=x onerror=alert(1)>", "b&c"])
    reg = backprop.MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=50, random_state=0)
    reg.fit(X, X.iloc[:, 0] - X.iloc[:, 1])
    state = sdisplay.fitted_state_html(reg)
    p = parse(state)
    assert "<img" not in state and "&lt;img src=x onerror=alert(1)&gt;" in state and "b&amp;c" in state
    close(p.tables[("w", 1)], np.vstack([reg.intercepts_[0], reg.coefs_[0]]))
    assert "identity" in state and "fitted MLPRegressor" in state


def test_the_estimator_keeps_sklearns_diagram_and_adds_its_fitted_state():
    from sklearn.utils import estimator_html_repr

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.where(X[:, 0] > 0, "<script>alert('x')</script>", "plain")
    clf = backprop.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    def same_ids(text):  # each rendering gets a new element id
        return re.sub(r"(sk-[a-z]+-id-)\d+", r"\1N", text)

    # not fitted: scikit-learn's diagram only
    assert same_ids(clf._repr_html_()) == same_ids(estimator_html_repr(clf))
    with pytest.warns(Warning):  # ConvergenceWarning after 5 epochs
        clf.fit(X, y)
    diagram = same_ids(estimator_html_repr(clf))
    text = same_ids(clf._repr_html_())
    assert text.startswith(diagram)  # scikit-learn's own diagram, unchanged, first
    state = text[len(diagram):]
    assert same_ids(clf._repr_mimebundle_()["text/html"]) == text
    p = parse(state)
    assert p.scripts == 0 and "<script" not in state
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in state
    close(p.tables[("w", 1)], np.vstack([clf.intercepts_[0], clf.coefs_[0]]))
    close(p.tables[("w", 2)], np.vstack([clf.intercepts_[1], clf.coefs_[1]]))
    assert f"{clf.n_iter_}" in state and "<svg" in state  # the epochs and the loss curve


def test_a_large_network_is_summarised_not_tabulated():
    sizes = [784, 512, 256, 10]
    net = backprop.Network(sizes, hidden="relu", output="softmax", seed=0)
    X = np.random.default_rng(1).normal(size=(64, 784))
    y = np.arange(64) % 10
    t = net.trace(X, y, loss="cross_entropy")
    for text in (net._repr_html_(), t._repr_html_()):
        p = parse(text)
        assert len(text) < 16_000  # a few kilobytes for 535,818 weights
        assert not p.tables  # no matrix of these shapes is shown entry by entry
    clf = backprop.MLPClassifier(hidden_layer_sizes=(512, 256), max_iter=1, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning after 1 epoch
        clf.fit(X, y)
    state = sdisplay.fitted_state_html(clf)
    assert len(state) < 16_000 and not parse(state).tables
    text = net._repr_html_()
    p = parse(text)
    W = net.weights[0].astype(np.float64)
    summary = p.summaries[("w", 1)]
    assert "785×512" in summary  # the shape with the bias row
    stats = dict(re.findall(r"(min|mean|max|sd) ([-+0-9.e]+)", summary))
    full = np.vstack([net.biases[0], W])
    assert float(stats["min"]) == pytest.approx(full.min(), rel=RTOL)
    assert float(stats["max"]) == pytest.approx(full.max(), rel=RTOL)
    assert float(stats["sd"]) == pytest.approx(full.std(), rel=1e-5)
    text = t._repr_html_()
    d = np.abs(t.delta[0].astype(np.float64)).mean()
    assert re.search(r"mean \|·\| ([-+0-9.e]+)", parse(text).summaries[("delta", 1)])
    assert tdisplay.num(d) in text  # mean |delta^1| in the per-layer table


def test_history_html_shows_the_run_and_the_recorded_gradients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(float)
    net = backprop.Network([2, 4, 1], seed=0)
    h = net.fit(X, y, epochs=7, lr=0.5, batch_size=10, record_gradients=True)
    text = h._repr_html_()
    parse(text)
    assert "History: 7 epochs" in text and "<svg" in text and "<polyline" in text
    assert f"<td>{h.n_updates}</td>" in text and h.n_updates == 28
    assert f"<td>{tdisplay.num(h.loss[-1])}</td>" in text
    for k in range(2):
        assert f"<td>{tdisplay.num(h.mean_abs_delta[-1][k])}</td>" in text


def test_a_long_history_stays_small():
    h = backprop.History(loss=list(np.linspace(1, 0.01, 100_000)), epochs=100_000)
    text = h._repr_html_()
    parse(text)
    assert len(text) < 12_000


def test_the_html_helpers_name_the_type_they_expect(small):
    # they raised AttributeError ('dict' object has no attribute 'hidden') before
    from backprop.model import display as mdisplay

    net, X, Y = small
    trace = net.trace(X, Y)
    history = backprop.History(loss=[0.5], epochs=1)
    helpers = [(mdisplay.network_html, "Network", net), (mdisplay.trace_html, "Trace", trace),
               (tdisplay.history_html, "History", history)]
    for helper, name, right in helpers:
        assert helper(right).startswith('<div class="backprop-repr">')
        for wrong in (None, {"sizes": [2, 1]}, "net", *(r for _, _, r in helpers if r is not right)):
            message = rf"{helper.__name__}: expected a backprop\.{name}, got {type(wrong).__name__}"
            with pytest.raises(backprop.InvalidTypeError, match=message):
                helper(wrong)


def test_explain_renders_as_its_html_worked_example(small):
    net, X, Y = small
    doc = backprop.explain(net, X[0], Y[0], lr=0.5)  # the default format, Markdown
    text = doc._repr_html_()
    parse(text)
    assert text.startswith('<div class="backprop-explain">') and text.count("<math>") > 10


# -- plots: a Figure when no path is given ------------------------------------------------------
def test_plots_return_a_figure_a_notebook_shows(tmp_path):
    from matplotlib.figure import Figure

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    runs = {}
    for name in ("sigmoid", "relu"):
        net = backprop.Network([2, 5, 5, 1], hidden=name, output="sigmoid", seed=1)
        runs[name] = net.fit(X, y, epochs=4, lr=0.5, batch_size=10, validation_data=(X, y),
                             record_gradients=True)
    assert backprop.plots is plots  # the public name
    figs = {
        "loss": plots.plot_loss(runs["relu"]),
        "boundary": plots.plot_boundary(net, X, y),
        "gradients": plots.plot_gradients(runs),
        "weights": plots.plot_weights(net),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure), name
        assert fig._repr_png_().startswith(b"\x89PNG\r\n\x1a\n"), name
    visible = {k: [ax for ax in f.axes if ax.get_visible()] for k, f in figs.items()}
    assert [ax.get_title() for ax in visible["loss"]] == ["loss", "validation accuracy"]
    assert visible["boundary"][0].get_xlabel() == "$x_1$" and len(visible["boundary"]) == 2  # + colorbar
    assert len(visible["gradients"]) == 4  # mean |delta| and the gradient norm, for each of 2 runs
    assert [ax.get_title() for ax in visible["gradients"][:2]] == ["sigmoid", "relu"]
    assert len(visible["weights"]) == 3  # one histogram per layer
    assert len(visible["gradients"][0].get_lines()) == 3  # one line per layer
    copy = pickle.loads(pickle.dumps(figs["loss"]))  # a figure still pickles
    assert copy._repr_png_().startswith(b"\x89PNG") and len(copy.axes) == 2
    # with a path: the file, as before
    assert plots.plot_loss(runs["relu"], tmp_path / "l.png") == str(tmp_path / "l.png")
