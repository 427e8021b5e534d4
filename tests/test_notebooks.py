"""The tutorial notebooks in docs/notebooks/: stored without outputs, linking only inside the
repository, and run top to bottom (nbclient, kernel "python3", from a temporary folder).

Where a notebook states a number, the test reads it from the cell's output and compares it with a
computation of its own: plain arithmetic for the two-layer example, a NumPy forward/backward pass
for the error terms of the deep networks, scikit-learn itself for the digits.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import backprop

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
TIMEOUT = 120  # seconds per cell; each notebook takes a few seconds


def test_the_five_tutorials_are_there():
    assert [p.stem for p in NOTEBOOKS] == ["01-two-layer-example", "02-online-batch-minibatch",
                                           "03-vanishing-gradients", "04-scikit-learn-drop-in", "05-widget"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_and_links_stay_inside(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        else:
            for target in re.findall(r"\]\(([^)]+)\)", cell.source):
                assert "://" not in target and not target.startswith("/"), target
                name, _, anchor = target.partition("#")
                file = (path.parent / name).resolve()
                assert file.is_relative_to(ROOT) and file.exists(), target
                if anchor:  # a heading of that page, as GitHub and JupyterLab name it
                    assert anchor in anchors(file.read_text(encoding="utf-8")), target


def anchors(markdown):
    """The anchors of a Markdown page's headings: lower case, punctuation dropped, spaces to '-'."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.M):
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def run(name, tmp_path):
    """Execute the notebook from ``tmp_path``; returns (stdout text, the outputs of every cell)."""
    nb = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # no warning shown to a learner (a fresh machine's one-off "building the font cache" is no warning)
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "Warning" not in stderr and "warn" not in stderr.lower(), stderr
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return text, outputs


def values(text):
    """``name = value`` lines (a Python literal: a number or a list) as a dict."""
    out = {}
    for name, value in re.findall(r"^([\w ./|-]+?) = (.+)$", text, flags=re.M):
        try:
            out[name] = np.asarray(eval(value, {"__builtins__": {}}), dtype=float)  # numbers and lists only
        except (SyntaxError, NameError, TypeError, ValueError):
            pass
    return out


def kinds(outputs):
    return [sorted(o.get("data", {})) for o in outputs if o.output_type in ("display_data", "execute_result")]


def test_two_layer_example(tmp_path):
    text, outputs = run("01-two-layer-example", tmp_path)
    got = values(text)
    # the reference's example, eqs. (1)-(18), worked here once more
    x, y, eta = np.array([0.5, -1.0]), np.array([1.0, 0.0]), 0.5
    V, v0 = np.array([[0.2, -0.3], [0.4, 0.1]]), np.array([0.1, -0.1])
    W, w0 = np.array([[0.5, -0.4], [0.3, 0.2]]), np.array([-0.2, 0.1])

    def forward(V, v0, W, w0):
        a = 1 / (1 + np.exp(-(x @ V + v0)))
        return a, 1 / (1 + np.exp(-(a @ W + w0)))

    a, yhat = forward(V, v0, W, w0)
    d_o = (yhat - y) * yhat * (1 - yhat)  # (11)
    d_h = a * (1 - a) * (W @ d_o)  # (17), (18)
    want = {"a_h": a, "yhat": yhat, "E": 0.5 * ((yhat - y) ** 2).sum(), "delta_o": d_o, "delta_h": d_h,
            "w_new": W - eta * np.outer(a, d_o), "w0_new": w0 - eta * d_o,
            "v_new": V - eta * np.outer(x, d_h), "v0_new": v0 - eta * d_h}
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, err_msg=name)
    _, yhat2 = forward(want["v_new"], want["v0_new"], want["w_new"], want["w0_new"])
    assert float(got["E_after"]) == pytest.approx(0.5 * ((yhat2 - y) ** 2).sum(), rel=1e-12)
    # the numbers of the table in docs/reference.md ("The example in numbers")
    assert round(float(got["E"]), 6) == 0.232416 and round(float(got["E_after"]), 6) == 0.212209
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 3  # the network, the trace, the worked example
    assert "backprop-explain" in html[2] and "<math>" in html[2]


def test_online_batch_minibatch(tmp_path):
    text, outputs = run("02-online-batch-minibatch", tmp_path)
    rows = dict(re.findall(r"^(online|batch|mini-batch): updates per epoch = (\d+)", text, flags=re.M))
    m = backprop.datasets.load("moons", n_samples=200, seed=0).X.shape[0]
    assert rows == {"online": str(m), "batch": "1", "mini-batch": str(math.ceil(m / 16))}
    finals = {k: float(v) for k, v in re.findall(r"^([\w-]+): .*E after 40 epochs = ([0-9.]+)", text,
                                                 flags=re.M)}
    # every path went down from the common start (E of the start network, computed here)
    data = backprop.datasets.load("moons", n_samples=200, seed=0)
    start = backprop.Network([2, 8, 1], hidden="tanh", output="sigmoid", seed=1, dtype="float64")
    h = np.tanh(data.X @ start.weights[0] + start.biases[0])
    yhat = 1 / (1 + np.exp(-(h @ start.weights[1] + start.biases[1])))
    E0 = ((yhat[:, 0] - data.y) ** 2).sum() / (2 * m)
    assert set(finals) == {"online", "batch", "mini-batch"} and all(0 < v < E0 for v in finals.values())
    assert sum("image/png" in k for k in kinds(outputs)) == 2  # the side-by-side paths, the regions


def test_vanishing_gradients(tmp_path):
    text, outputs = run("03-vanishing-gradients", tmp_path)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float).reshape(-1, 1)
    sizes = [2, 16, 16, 16, 16, 16, 16, 1]
    ratios = {}
    for g in ("sigmoid", "relu"):
        net = backprop.Network(sizes, hidden=g, output="sigmoid", seed=0, dtype="float64")  # the weights
        a, hs, acts = X, [], []
        for k, (W, b) in enumerate(zip(net.weights, net.biases)):
            h = a @ W + b
            a = 1 / (1 + np.exp(-h)) if (g == "sigmoid" or k == len(net.weights) - 1) else np.maximum(h, 0)
            hs.append(h)
            acts.append(a)
        d = acts[-1] * (1 - acts[-1]) * (acts[-1] - y)  # eq. (2)
        means = [np.abs(d).mean()]
        for k in range(len(net.weights) - 2, -1, -1):  # eq. (4)
            gprime = acts[k] * (1 - acts[k]) if g == "sigmoid" else (hs[k] > 0).astype(float)
            d = gprime * (d @ net.weights[k + 1].T)
            means.append(np.abs(d).mean())
        means = means[::-1]
        shown = re.search(rf"^{g}: mean \|delta\| per layer = (\[.*\])$", text, flags=re.M).group(1)
        np.testing.assert_allclose(eval(shown, {"__builtins__": {}}), means, rtol=1e-5)
        ratios[g] = float(re.search(rf"^{g}: layer 1 / output layer = (\S+)$", text, flags=re.M).group(1))
        assert ratios[g] == pytest.approx(means[0] / means[-1], rel=1e-5)
    # six sigmoid layers: g' <= 1/4 each; the ReLU network keeps its error terms
    assert ratios["sigmoid"] < 1e-3 < 1e-2 < ratios["relu"]
    assert sum("image/png" in k for k in kinds(outputs)) == 1
    assert sum("text/html" in k for k in kinds(outputs)) == 3  # network, trace, history


def test_scikit_learn_drop_in(tmp_path):
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    text, outputs = run("04-scikit-learn-drop-in", tmp_path)
    got = values(text)
    d = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(d.data / 16.0, d.target, test_size=0.25,
                                                        random_state=0, stratify=d.target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = MLPClassifier(hidden_layer_sizes=(64,), solver="adam", max_iter=30, random_state=0)
        acc = sk.fit(X_train, y_train).score(X_test, y_test)
    assert float(got["sklearn test accuracy"]) == pytest.approx(acc, abs=1e-6)
    # the drop-in: within one test image of scikit-learn's own fit, and a real classifier
    assert abs(float(got["backprop test accuracy"]) - acc) <= 1 / len(y_test) + 1e-6
    assert acc > 0.9
    assert float(got["largest weight difference"]) < 1e-8
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1 and "fitted MLPClassifier" in html[0] and "sk-top-container" in html[0]


def test_widget(tmp_path):
    pytest.importorskip("anywidget", reason="the notebook extra (anywidget) is not installed")
    text, outputs = run("05-widget", tmp_path)
    got = values(text)
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 3  # the moons widget, the one on X and y, the one on the network
    assert float(got["updates made"]) == 1 + 300  # the last such line: one step, then 300 updates
    assert re.findall(r"^phase (\S+) shown; updates made = (\d+)$", text, flags=re.M) == [
        ("(i)", "302"), ("(ii)", "302"), ("(iii)", "302"), ("(iv)", "302")]
    # the first update redone here: the same data, the seed's network, eqs. (1), (3), (5) in NumPy
    data = backprop.datasets.load("moons", n_samples=200, seed=0)
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    start = backprop.Network([2, 6, 6, 1], hidden="tanh", output="sigmoid", seed=0, dtype="float64")
    W1, b1 = start.weights[0], start.biases[0]
    from backprop.playground import widget

    w = widget("moons", layers=[6, 6], hidden="tanh", lr=0.3, mode="minibatch", batch_size=16, seed=0)
    try:
        rows = np.asarray(w.step().batch)
    finally:
        w.close()
    h = X[rows] @ W1 + b1
    assert float(got["h11 by hand"]) == pytest.approx(h[0, 0], rel=1e-12)
    assert float(got["h11 of the engine"]) == pytest.approx(h[0, 0], rel=1e-12)
    a = [np.tanh(h)]
    a.append(np.tanh(a[0] @ start.weights[1] + start.biases[1]))
    yhat = 1 / (1 + np.exp(-(a[1] @ start.weights[2] + start.biases[2])))
    y = data.y[rows].reshape(-1, 1)
    d3 = (yhat - y) * yhat * (1 - yhat)  # eq. (2), MSE and a sigmoid output
    d2 = (1 - a[1] ** 2) * (d3 @ start.weights[2].T)  # eq. (4)
    d1 = (1 - a[0] ** 2) * (d2 @ start.weights[1].T)
    w11 = W1[0, 0] - 0.3 * np.mean(d1[:, 0] * X[rows, 0])  # eqs. (1), (3), (5)
    assert float(got["w11 new by hand"]) == pytest.approx(w11, rel=1e-10)
    assert float(got["w11 in w.network"]) == pytest.approx(w11, rel=1e-10)
    assert float(got["samples in the batch"]) == 16
    # X and y: a classification of 0/1, 3/4 of the 200 rows for training
    assert "task: classification with classes [0, 1]" in text
    assert float(got["training rows"]) == 150 and float(got["validation rows"]) == 50
    # the user's network: trained in place, and reset puts its weights back exactly
    assert "the widget trains net itself: True" in text
    assert float(got["largest change of the layer-1 weights after 200 updates"]) > 0
    assert float(got["largest change of the layer-1 weights after reset"]) == 0.0
