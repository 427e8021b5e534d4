"""The playground widget's kernel side, plain pytest: no kernel, no browser.

The widget is driven as its front end drives it: its message handler gets the messages the page
sends (``{id, method, path, body}``) and what it sends back (``widget.send``) is captured here. The
numbers of an update are checked against a plain NumPy forward and backward pass of eqs. (1)-(5)
(``oracle`` in conftest.py) on inputs standardized here; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("anywidget", reason="the notebook extra (anywidget) is not installed")

import backprop  # noqa: E402
from backprop.errors import DivergenceError, InvalidInputError  # noqa: E402
from backprop.playground import esm as _esm  # noqa: E402
from backprop.playground import widget  # noqa: E402

WAIT = 20.0  # seconds: bound of every wait for the kernel side
REL = 1e-10


class Front:
    """The front end of one widget: sends requests through the handler, keeps what comes back."""

    def __init__(self, w):
        self.w = w
        self.sent: list[tuple[dict, list]] = []
        self.lock = threading.Lock()
        self.count = 0
        w.send = self._capture

    def _capture(self, msg, buffers=None):
        with self.lock:
            self.sent.append((msg, list(buffers or [])))

    def of_type(self, kind):
        with self.lock:
            return [m for m, _ in self.sent if m.get("type") == kind]

    def request(self, method, path, body=None, buffers=None):
        """(status, parsed JSON or (filename, bytes)) of one request, answered within WAIT seconds."""
        self.count += 1
        rid = f"t-{self.count}"
        future = self.w.handle_message({"id": rid, "method": method, "path": path, "body": body}, buffers)
        future.result(WAIT)
        with self.lock:
            [(msg, bufs)] = [(m, b) for m, b in self.sent if m.get("type") == "reply" and m["id"] == rid]
        if "filename" in msg:
            return msg["status"], (msg["filename"], bytes(bufs[0]))
        return msg["status"], json.loads(msg["text"])

    def wait_frame(self, test, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            frames = [json.loads(m["text"]) for m in self.of_type("frame")]
            if frames and test(frames[-1]):
                return frames[-1]
            time.sleep(0.01)
        raise AssertionError(f"no frame {what} within {WAIT} s")


@pytest.fixture
def make():
    made = []

    def _make(*args, **kwargs):
        w = widget(*args, **kwargs)
        made.append(w)
        return w, Front(w)

    yield _make
    for w in made:
        w.close()


def standardized(raw):
    raw = np.asarray(raw, dtype=np.float64)
    return (raw - raw.mean(axis=0)) / raw.std(axis=0)


# -- a step's numbers ------------------------------------------------------------------------------
def test_a_step_through_messages_has_the_numbers_of_eqs_1_to_5(make, oracle):
    w, front = make("moons", layers=[4, 3], hidden=["tanh", "sigmoid"], mode="minibatch", batch_size=8,
                    lr=0.4, seed=5, n_samples=64)
    status, state = front.request("GET", "/api/state")
    assert status == 200 and state["sizes"] == [2, 4, 3, 1] and state["output"] == "sigmoid"
    Ws = [np.array(v) for v in state["weights"]]
    bs = [np.array(v) for v in state["biases"]]
    _, points = front.request("GET", "/api/points")
    X = standardized(points["raw"])  # the network's inputs, computed here from the raw rows
    Y = np.asarray(points["label"], dtype=np.float64).reshape(-1, 1)

    status, st = front.request("POST", "/api/step")
    assert status == 200 and st["n_update"] == 1 and st["phase"] == 4
    rows = st["batch"]
    assert len(rows) == 8
    acts = ["tanh", "sigmoid", "sigmoid"]
    hs, as_ = oracle.forward(Ws, bs, acts, X[rows])
    deltas, gW, gb = oracle.backward(Ws, bs, acts, "mse", X[rows], Y[rows])
    for k in range(3):
        np.testing.assert_allclose(st["h"][k], hs[k], rtol=REL, atol=1e-14)
        np.testing.assert_allclose(st["a"][k], as_[k], rtol=REL, atol=1e-14)
        np.testing.assert_allclose(st["delta"][k], deltas[k], rtol=REL, atol=1e-14)
        np.testing.assert_allclose(st["grad_weights"][k], gW[k], rtol=REL, atol=1e-14)
        np.testing.assert_allclose(st["grad_biases"][k], gb[k], rtol=REL, atol=1e-14)
        # eq. (5): w - eta dE/dw
        np.testing.assert_allclose(st["weights_after"][k], Ws[k] - 0.4 * gW[k], rtol=REL, atol=1e-14)
        np.testing.assert_allclose(w.network.weights[k], Ws[k] - 0.4 * gW[k], rtol=REL, atol=1e-14)
    # w.last_step is what Trainer.step(trace=True) returned: the same trace
    tr = w.last_step.trace
    np.testing.assert_allclose(tr.delta[0], deltas[0], rtol=REL, atol=1e-14)
    np.testing.assert_array_equal(w.last_step.batch, rows)
    # the view heard of it: a frame after the update, numbered
    frame = json.loads(front.of_type("frame")[-1]["text"])
    assert frame["n_updates"] == 1 and frame["seq"] >= 1


def test_a_weights_panel_through_messages(make):
    w, front = make("xor", layers=[3], mode="online", lr=0.5, seed=2)
    status, body = front.request("GET", "/api/weight?layer=0&i=1&j=2")
    assert status == 409 and "no update yet" in body["error"]  # before the first update, as the page
    before = w.network.weights[0][1, 2]
    front.request("POST", "/api/step")
    status, d = front.request("GET", "/api/weight?layer=0&i=1&j=2")
    tr = w.last_step.trace
    grad = tr.delta[0][0, 2] * tr.x[0, 1]  # eq. (1), online: one sample
    assert status == 200
    assert d["w_before"] == pytest.approx(before, rel=REL)
    assert d["w_after"] == pytest.approx(before - 0.5 * grad, rel=REL)
    assert d["w_after"] == pytest.approx(w.network.weights[0][1, 2], rel=REL)


def test_phase_walks_i_to_iv_and_then_makes_the_next_update(make):
    w, front = make("xor", layers=[2], mode="batch", seed=1)
    seen = []
    for want in (1, 2, 3, 4):
        status, st = front.request("POST", "/api/phase")
        assert status == 200 and st["phase"] == want and st["n_update"] == 1
        seen.append(sorted(k for k in ("delta", "grad_weights", "weights_after") if k in st))
    assert seen == [[], ["delta"], ["delta", "grad_weights"], ["delta", "grad_weights", "weights_after"]]
    assert w.n_updates == 1
    assert w.phase() == 1 and w.n_updates == 2  # the fifth: phase (i) of the next update
    assert [w.phase() for _ in range(3)] == [2, 3, 4]
    assert front.of_type("step")[-1]["text"]  # Python's phases reach the view too
    assert json.loads(front.of_type("step")[-1]["text"])["phase"] == 4


def test_run_makes_n_updates_and_reset_restores_the_seeds_start(make):
    w, front = make("circles", layers=[5], mode="minibatch", batch_size=10, seed=7)
    start = [v.copy() for v in w.network.weights]
    assert w.run(37) == 37 and w.n_updates == 37
    status, body = front.request("POST", "/api/run", {"updates": 5})
    assert status == 200 and body["updates"] == 5 and body["n_updates"] == 42
    assert not np.allclose(w.network.weights[0], start[0])
    w.reset()
    assert w.n_updates == 0 and w.last_step is None
    for a, b in zip(w.network.weights, start):
        np.testing.assert_array_equal(a, b)
    state = json.loads(front.of_type("state")[-1]["text"])  # the view is told of the new start
    assert state["n_updates"] == 0
    status, body = front.request("POST", "/api/run", {"updates": 0})
    assert status == 400 and "updates must be an integer" in body["error"]


def test_the_config_keys_are_checked_with_clear_messages():
    with pytest.raises(InvalidInputError, match="unknown configuration key 'colour'"):
        widget("moons", colour="red")
    with pytest.raises(InvalidInputError, match=r"lr must lie in \(0, 100\]"):
        widget("moons", lr=-1)
    with pytest.raises(InvalidInputError, match=r"layers\[0\] must lie between 1 and 32"):
        widget("moons", layers=[0])
    with pytest.raises(InvalidInputError, match="data 'moon' is neither a built-in"):
        widget("moon")
    with pytest.raises(InvalidInputError, match="'no-such-file.csv' is neither a built-in .* nor a CSV file"):
        widget("no-such-file.csv")


def test_a_config_change_through_messages_and_w_config(make):
    w, front = make("xor", layers=[2])
    status, state = front.request("POST", "/api/config", {"data": "moons", "layers": [3, 3], "lr": 0.2})
    assert status == 200 and state["sizes"] == [2, 3, 3, 1]
    assert w.config["layers"] == [3, 3] and w.config["lr"] == 0.2 and w.network.sizes == [2, 3, 3, 1]
    status, body = front.request("POST", "/api/config", {"layers": "wide"})
    assert status == 400 and "layers must be a list" in body["error"]
    assert w.config["layers"] == [3, 3]  # a bad setup changes nothing
    status, body = front.request("GET", "/api/nothing")
    assert status == 404 and "no such endpoint" in body["error"]


# -- the user's own data and network ---------------------------------------------------------------
def test_x_and_y_become_the_data_set_labels_a_classification(make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + X[:, 2] > 0, "yes", "no")
    w, front = make(X=X, y=y, layers=[4], val_fraction=0.25)
    info = w.state["data"]
    assert info["task"] == "classification" and info["classes"] == ["no", "yes"]
    assert info["n_train"] + info["n_val"] == 60 and info["features"] == ["x1", "x2", "x3"]
    assert w.network.sizes == [3, 4, 1]
    _, points = front.request("GET", "/api/points")
    raw = np.asarray(points["raw"])
    # the training rows are rows of X, written and read back exactly
    for r in raw:
        assert np.any(np.all(X == r, axis=1))
    w.step()
    assert w.n_updates == 1


def test_x_and_y_of_numbers_make_a_regression_and_one_feature_may_be_1d(make):
    x = np.linspace(-2, 2, 50)
    w, _ = make(X=x, y=np.sin(x) + 0.1 * x, layers=[6], val_fraction=0)
    info = w.state["data"]
    assert info["task"] == "regression" and info["n_train"] == 50 and w.network.sizes == [1, 6, 1]
    assert w.network.output == "identity"


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((10, 2)), np.zeros(9), "X has 10 rows but y has 9"),
    (np.array([[0.0, np.nan]] * 10), np.zeros(10), "X holds nan at row 0, column 1"),
    (np.zeros((10, 2, 2)), np.zeros(10), r"X must be a 2-D array .* got shape \(10, 2, 2\)"),
    ([["a", "b"]] * 10, np.zeros(10), "X must hold numbers only"),
    (np.zeros((3, 2)), np.zeros(3), "X and y have 3 rows; the playground takes 4 to"),
    (np.zeros((10, 2)), np.full(10, np.inf), "y holds inf at row 0"),
    (np.zeros((10, 2)), None, "give both X"),
])
def test_bad_x_or_y_is_a_clear_error(X, y, message):
    with pytest.raises(InvalidInputError, match=message):
        widget(X=X, y=y)


def test_data_and_x_together_is_an_error():
    with pytest.raises(InvalidInputError, match="either data= .* or X and y"):
        widget("moons", X=np.zeros((10, 2)), y=np.zeros(10))


def test_the_users_network_is_trained_in_place_and_reset_restores_it(make):
    net = backprop.Network([2, 5, 1], hidden="tanh", output="sigmoid", seed=11, dtype="float64")
    start = [v.copy() for v in net.weights]
    w, front = make("xor", network=net, lr=0.3)
    assert w.network is net and w.config["layers"] == [5] and w.config["hidden"] == ["tanh"]
    w.step()
    np.testing.assert_array_equal(net.weights[0], w.last_step.weights_after[0])
    assert not np.array_equal(net.weights[0], start[0])
    w.run(10)
    front.request("POST", "/api/reset")  # the page's Reset: the network as it was given
    assert w.network is net and w.n_updates == 0
    for a, b in zip(net.weights, start):
        np.testing.assert_array_equal(a, b)
    # the page's controls choose another network: a new one of the seed; net is left as it is
    status, state = front.request("POST", "/api/config", {**w.config, "layers": [3]})
    assert status == 200 and state["sizes"] == [2, 3, 1] and w.network is not net
    front.request("POST", "/api/config", {**w.config, "layers": [5]})  # back: net again, as given
    assert w.network is net


def test_a_network_that_does_not_fit_is_a_clear_error():
    net3 = backprop.Network([3, 4, 1], hidden="tanh", output="sigmoid", seed=0)
    with pytest.raises(InvalidInputError, match=r"3 inputs but the data have 2 features"):
        widget("moons", network=net3)
    net_out = backprop.Network([2, 4, 2], hidden="tanh", output="sigmoid", seed=0)
    with pytest.raises(InvalidInputError, match=r"output layer is 2 sigmoid unit\(s\); .* need 1 sigmoid"):
        widget("moons", network=net_out)
    net = backprop.Network([2, 4, 1], hidden="tanh", output="sigmoid", seed=0)
    with pytest.raises(InvalidInputError, match=r"layers=\[6\] contradicts the network's \[4\]"):
        widget("moons", network=net, layers=[6])
    with pytest.raises(InvalidInputError, match="network must be a backprop.Network"):
        widget("moons", network=[2, 4, 1])
    wide = backprop.Network([2, 40, 1], hidden="tanh", output="sigmoid", seed=0)
    with pytest.raises(InvalidInputError, match="must lie between 1 and 32"):
        widget("moons", network=wide)


def test_a_network_on_the_users_arrays(make):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    net = backprop.Network([3, 4, 1], hidden="relu", output="sigmoid", seed=1, dtype="float64")
    w, _ = make(X=X, y=y, network=net, mode="online")
    w.step()
    assert w.network is net and w.last_step.trace.x.shape == (1, 3)


# -- divergence, play and pause ----------------------------------------------------------------------
DIVERGES = dict(layers=[8], hidden="relu", lr=50, mode="minibatch", optimizer="sgd")


def test_divergence_from_python_raises_and_is_in_the_state_and_the_frame(make):
    w, front = make("sin", **DIVERGES)
    with pytest.raises(DivergenceError):
        w.run(10_000)
    d = w.state["divergence"]
    assert d is not None and d["lr"] == 50
    frame = json.loads(front.of_type("frame")[-1]["text"])
    assert frame["divergence"] == d and frame["error"]  # what the page shows its message from
    status, body = front.request("POST", "/api/step")
    assert status == 400 and body["error"]


def test_play_diverges_stops_and_says_so(make):
    w, front = make("sin", **DIVERGES)
    status, body = front.request("POST", "/api/play", {"speed": None})
    assert status == 200 and body["playing"] is True
    frame = front.wait_frame(lambda f: not f["playing"] and f["divergence"], "stopped by a divergence")
    assert not w.playing and frame["divergence"]["n_update"] >= 1


def test_play_and_pause_through_messages(make):
    w, front = make("moons", layers=[4])
    status, _ = front.request("POST", "/api/play", {"speed": 200})
    assert status == 200 and w.playing
    front.wait_frame(lambda f: f["playing"] and f["n_updates"] >= 3, "with 3 updates while playing")
    status, body = front.request("POST", "/api/pause")
    assert status == 200 and body["playing"] is False and not w.playing
    n = body["n_updates"]
    assert n >= 3 and w.n_updates == n
    time.sleep(0.2)  # paused: no update in the meantime
    assert w.n_updates == n
    w.play()
    front.wait_frame(lambda f: f["playing"] and f["n_updates"] > n, "after playing again from Python")
    assert w.pause() >= n + 1 and not w.playing
    status, body = front.request("POST", "/api/play", {"speed": -1})
    assert status == 400 and "speed must be" in body["error"]


# -- files in and out ----------------------------------------------------------------------------------
def test_upload_and_export_through_messages(make):
    w, front = make("xor")
    csv = b"a,b,label\n" + b"".join(f"{i % 3},{i % 5},{i % 2}\n".encode() for i in range(20))
    status, info = front.request("POST", "/api/upload?filename=mine.csv", None, [memoryview(csv)])
    assert status == 200 and info["columns"] == ["a", "b", "label"] and info["rows"] == 20
    status, state = front.request("POST", "/api/config", {"data": info["id"], "target": "label"})
    assert status == 200 and state["data"]["task"] == "classification"
    front.request("POST", "/api/step")
    status, (name, data) = front.request("GET", "/api/export/model")
    assert status == 200 and name.endswith(".safetensors") and len(data) > 100
    status, (name, text) = front.request("GET", "/api/export/explain?format=markdown&sample=0")
    assert status == 200 and name.endswith(".md") and text.startswith(b"# Backpropagation, one online update")


# -- the front end: the page's own scripts ---------------------------------------------------------------
def test_the_esm_is_the_pages_scripts_in_index_order_nothing_copied():
    static = os.path.join(os.path.dirname(backprop.__file__), "playground", "static")
    with open(os.path.join(static, "index.html"), encoding="utf-8") as f:
        tags = re.findall(r'<script src="static/([^"]+)"', f.read())
    assert tags and _esm.page_scripts() == tags
    text = _esm.esm()
    at = []
    for name in tags + ["widget-host.js"]:
        with open(os.path.join(static, name), encoding="utf-8") as f:
            content = f.read()
        assert content in text, name  # each script whole
        at.append(text.index(content))
    assert at[:-1] == sorted(at[:-1]) and at[-1] < at[0]  # the page's order, after the widget's host
    assert "export default { render }" in text
    # the markup and the style sheet come from index.html and style.css, adapted to a shadow root
    assert 'id="btn-step"' in _esm.page_body() and "<script" not in _esm.page_body()
    css = _esm.page_css()
    assert ":host {" in css and ":root" not in css and not re.search(r"(?m)^(html, )?body \{", css)
    # nothing copied: no other file of the package holds a script's code
    marker = "function divergenceText(d)"
    holders = []
    for root, _, names in os.walk(os.path.dirname(static)):
        for n in names:
            if n.endswith((".js", ".py", ".html")):
                with open(os.path.join(root, n), encoding="utf-8") as f:
                    if marker in f.read():
                        holders.append(os.path.join(root, n))
    assert holders == [os.path.join(static, "app.js")]


def test_without_anywidget_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget now fails
    monkeypatch.delitem(sys.modules, "backprop.playground.notebook", raising=False)
    with pytest.raises(InvalidInputError, match=r"pip install 'backprop-explicit\[notebook\]'"):
        widget("moons")


def test_close_ends_the_thread_and_the_files(make):
    w, front = make("xor")
    w.play()
    thread, tmp = w._thread, w._pg.tmp
    assert thread.is_alive() and os.path.isdir(tmp)
    w.close()
    assert not thread.is_alive() and not os.path.exists(tmp) and not w.playing
    assert front.w.handle_message({"id": "late", "method": "GET", "path": "/api/state"}) is None
    with pytest.raises(InvalidInputError, match="closed"):
        w.step()
    w.close()  # twice: nothing more to do


def test_the_page_scripts_reach_the_document_and_the_server_only_through_the_host():
    """What would break the widget (its page lives in a shadow root and talks in messages) stays in
    host.js: a script that looked up the document or called the server itself would fail there."""
    static = os.path.join(os.path.dirname(backprop.__file__), "playground", "static")
    forbidden = re.compile(r"document\.(getElementById|querySelector|querySelectorAll|body|activeElement|"
                           r"addEventListener)|\bfetch\(|new EventSource|location\.href\s*=")
    found = []
    for name in _esm.page_scripts():
        if name == "host.js":
            continue
        with open(os.path.join(static, name), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if forbidden.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    hint = "use $, $$, $1, HOST.hook, HOST.keys, HOST.request or HOST.download instead:\n"
    assert found == [], hint + "\n".join(found)


def test_a_playing_widget_pauses_when_its_last_view_goes(make):
    # a cell run again or cleared removes the view: a widget nobody sees must not train on unseen
    w, front = make("xor", layers=[3])
    w.handle_message({"type": "view", "open": True, "view": "a"})
    w.handle_message({"type": "view", "open": True, "view": "b"})
    w.play(speed=200)
    front.wait_frame(lambda f: f["playing"] and f["n_updates"] >= 1, "while playing")
    assert w.handle_message({"type": "view", "open": False, "view": "a"}) is None
    assert w.playing  # one view still shows it
    w.handle_message({"type": "view", "open": False, "view": "b"}).result(WAIT)
    assert not w.playing
    front.wait_frame(lambda f: not f["playing"], "saying it paused")
    # never shown in a view (driven from Python only): it plays on
    w2, front2 = make("xor", layers=[3])
    w2.play(speed=200)
    assert w2.handle_message({"type": "view", "open": False, "view": "x"}) is None and w2.playing
    w2.pause()
    assert w.handle_message({"type": "view", "open": 1, "view": 5}) is None  # bad fields: ignored
