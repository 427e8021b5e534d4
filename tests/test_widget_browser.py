"""The playground widget's front end in a real browser, without Jupyter: headless Chromium (Debian's
/usr/bin/chromium) driven by Playwright loads the widget's ES module (``esm()``) from a blob URL
into a blank page and renders it with a fake anywidget ``model`` whose ``send`` calls the real
kernel side (``PlaygroundWidget.handle_message``) in this process; what the kernel sends back is
queued here and fetched by the page every few milliseconds. Nothing listens on the network.

Checked: the page's own controls work in the widget (Step, a weight's numbers against the trace),
what Python does shows in the view, two widgets live side by side, the widget's styles stay in its
shadow root, its keys stay in it, a divergence says so as the page does, and the browser console
stays free of errors. JupyterLab end to end is another test's job.
"""

from __future__ import annotations

import base64
import collections
import threading

import numpy as np
import pytest

import backprop
from browsertools import launch

pytest.importorskip("anywidget", reason="the notebook extra (anywidget) is not installed")

from backprop.playground import widget  # noqa: E402
from backprop.playground.esm import esm  # noqa: E402

WAIT_MS = 20_000  # bound of every wait for the page
REL = 1e-9

# the fake anywidget model of one view: send -> the kernel (exposed function), on/off -> listeners;
# the messages the kernel sent come in through window.__poll every 15 ms
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>widget test</title></head>
<body><h2 id="outside">outside the widget</h2><input id="outer-input">
<div id="view-a"></div><div id="view-b"></div></body></html>"""
SETUP = """async ([src, keys]) => {
  const b64 = (buf) => { // bytes to base64 and back: what Jupyter sends as binary buffers
    const u = new Uint8Array(buf instanceof ArrayBuffer ? buf : buf.buffer); let s = "";
    for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
    return btoa(s);
  };
  const view = (text) => { const s = atob(text), u = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return new DataView(u.buffer); };
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  const mod = (await import(url)).default;
  window.__models = {};
  for (const key of keys) {
    const listeners = new Set();
    const model = {
      get: () => undefined, set() {}, save_changes() {},
      on(ev, cb) { if (ev === "msg:custom") listeners.add(cb); },
      off(ev, cb) { listeners.delete(cb); },
      send(content, callbacks, buffers) { window.__send(key, content, (buffers || []).map(b64)); },
      deliver(msg, buffers) { for (const cb of listeners) cb(msg, buffers); },
    };
    window.__models[key] = model;
    await mod.render({ model, el: document.getElementById("view-" + key) });
  }
  window.__outerKeys = 0;
  document.addEventListener("keydown", () => { window.__outerKeys += 1; });
  setInterval(async () => {
    for (const [key, msg, bufs] of await window.__poll()) window.__models[key].deliver(msg, bufs.map(view));
  }, 15);
}"""


class Views:
    """The widgets behind the page's views, and the messages they sent that the page has not fetched."""

    def __init__(self, **widgets):
        self.widgets = widgets
        self.outbox: collections.deque = collections.deque()
        self.lock = threading.Lock()
        for key, w in widgets.items():
            w.send = lambda msg, buffers=None, key=key: self.outbox.append(
                (key, msg, [base64.b64encode(bytes(b)).decode() for b in buffers or []]))

    def send(self, key, content, buffers):  # the page's model.send: on Playwright's thread, answered later
        self.widgets[key].handle_message(content, [base64.b64decode(b) for b in buffers])

    def poll(self):
        out = []
        while self.outbox:
            out.append(list(self.outbox.popleft()))
        return out

    def close(self):
        for w in self.widgets.values():
            w.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch("the browser test")


def open_views(browser, views=None, **widgets):
    views = views or Views(**widgets)
    widgets = views.widgets
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.expose_function("__send", views.send)
    page.expose_function("__poll", views.poll)
    page.set_content(PAGE)
    page.evaluate(SETUP, [esm(), list(widgets)])
    for key in widgets:
        page.wait_for_selector(f"#view-{key}[data-ready='1']")
    return page, views, ctx


def value(page, selector):
    return float(page.get_attribute(selector, "data-value"))


def test_step_in_the_widget_shows_the_numbers_of_the_update(browser):
    w = widget("xor", layers=[3], hidden="tanh", mode="minibatch", batch_size=4, lr=0.5, seed=3, n_samples=40)
    page, views, ctx = open_views(browser, a=w)
    try:
        before = [np.array(v) for v in w.network.weights]
        page.click("#view-a #btn-step")
        page.wait_for_selector("#view-a[data-n-updates='1']")
        st = w.last_step
        assert st is not None and w.n_updates == 1
        page.locator("#view-a #w-0-1-2").dispatch_event("click")  # input 2 -> hidden unit 3
        page.wait_for_selector("#view-a #insp-w-new")
        # eq. (3) by hand from the trace: the mean over the batch of delta_j^1 x_i
        grad = float(np.mean(st.trace.delta[0][:, 2] * st.trace.x[:, 1]))
        assert value(page, "#view-a #insp-w") == pytest.approx(before[0][1, 2], rel=REL)
        assert value(page, "#view-a #insp-grad-mean") == pytest.approx(grad, rel=REL, abs=1e-15)
        assert value(page, "#view-a #insp-w-new") == pytest.approx(before[0][1, 2] - 0.5 * grad, rel=REL)
        assert value(page, "#view-a #insp-w-new") == pytest.approx(w.network.weights[0][1, 2], rel=REL)
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_what_python_does_shows_in_the_view(browser):
    w = widget("moons", layers=[4], seed=1)
    page, views, ctx = open_views(browser, a=w)
    try:
        w.step()  # Python's update: the view shows it as its own
        page.wait_for_selector("#view-a[data-n-updates='1']")
        w.phase()
        page.wait_for_selector("#view-a[data-phase='1']")
        assert "(ii)" in page.text_content("#view-a #phase-next")
        w.run(25)
        page.wait_for_function("() => document.querySelector('#view-a').shadowRoot"
                               ".getElementById('c-updates').textContent === '27'")
        w.reset()
        page.wait_for_function("() => document.querySelector('#view-a').shadowRoot"
                               ".getElementById('c-updates').textContent === '0'")
        assert w.n_updates == 0
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_what_python_did_before_the_view_listened_is_shown(browser):
    w = widget("xor", layers=[2], seed=2)
    views = Views(a=w)
    w.step()  # before any view: as when Run All reaches the next cell before the view has started
    w.step()
    assert [m["type"] for _, m, _ in views.outbox][-1] == "step"
    page, _, ctx = open_views(browser, views=views)
    try:
        page.wait_for_selector("#view-a[data-n-updates='2']")
        assert page.text_content("#view-a #c-updates") == "2"
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_two_widgets_side_by_side_keep_their_own_page_styles_and_keys(browser):
    a, b = widget("moons", layers=[5, 5]), widget("xor", layers=[2])
    page, views, ctx = open_views(browser, a=a, b=b)
    try:
        assert page.locator(".backprop-playground[data-ready='1']").count() == 2
        assert page.locator("#view-a .unit").count() == 2 + 5 + 5 + 1
        assert page.locator("#view-b .unit").count() == 2 + 2 + 1
        page.click("#view-b #btn-step")
        page.wait_for_selector("#view-b[data-n-updates='1']")
        assert a.n_updates == 0 and b.n_updates == 1
        # the page's rules (h2: small capitals) stay inside the shadow roots
        outside = page.evaluate("getComputedStyle(document.getElementById('outside')).textTransform")
        inside = page.evaluate("getComputedStyle(document.querySelector('#view-a').shadowRoot"
                               ".querySelector('h2')).textTransform")
        assert (outside, inside) == ("none", "uppercase")
        # keys: in the widget they step it and go no further; outside it they do nothing to it
        page.click("#view-a #sample-info")  # focus inside the widget (its page takes the focus)
        page.keyboard.press("s")
        page.wait_for_selector("#view-a[data-n-updates='1']")
        assert a.n_updates == 1 and b.n_updates == 1
        assert page.evaluate("window.__outerKeys") == 0  # Jupyter would not have seen the key
        page.click("#outer-input")
        page.keyboard.press("s")
        page.keyboard.press("p")
        assert page.evaluate("window.__outerKeys") == 2
        assert a.n_updates == 1 and b.n_updates == 1
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_a_divergence_in_the_widget_stops_playing_and_says_so_as_the_page_does(browser):
    w = widget("sin", layers=[8], hidden="relu", lr=50, mode="minibatch", optimizer="sgd")
    page, views, ctx = open_views(browser, a=w)
    try:
        page.click("#view-a #btn-play")
        page.wait_for_function("() => document.querySelector('#view-a').shadowRoot"
                               ".getElementById('error-text').textContent.includes('diverged')")
        page.wait_for_selector("#view-a[data-playing='0']")
        d = w.state["divergence"]
        assert d is not None and not w.playing
        text = page.text_content("#view-a #error-text")
        assert f"epoch {d['epoch']}" in text and f"update {d['n_update']}" in text, text
        assert "smaller η" in text and "50" in text, text
        page.click("#view-a #btn-reset")
        page.wait_for_selector("#view-a #error", state="hidden")
        assert w.state["divergence"] is None
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_upload_a_csv_and_download_the_model_and_the_explain_document(browser, tmp_path):
    w = widget("xor", layers=[3], seed=4)
    page, views, ctx = open_views(browser, a=w)
    try:
        csv = tmp_path / "mine.csv"
        csv.write_text("a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(30)))
        page.set_input_files("#view-a #upload", str(csv))  # its bytes go to the kernel as a buffer
        page.wait_for_function("() => document.querySelector('#view-a').shadowRoot"
                               ".getElementById('upload-name').textContent === 'mine.csv: 30 rows'")
        assert w.config["target"] == "label" and w.state["data"]["task"] == "classification"
        page.click("#view-a #btn-step")
        page.wait_for_selector("#view-a[data-n-updates='1']")
        with page.expect_download() as info:
            page.click("#view-a #btn-model")  # the file comes back as a buffer
        model = tmp_path / "model.safetensors"
        info.value.save_as(model)
        assert info.value.suggested_filename.endswith("-1.safetensors")
        net = backprop.load(str(model))
        for a, b in zip(net.weights, w.network.weights):
            np.testing.assert_array_equal(a, b)
        with page.expect_download() as info:
            page.click("#view-a #btn-explain")
        doc = tmp_path / "explain.md"
        info.value.save_as(doc)
        assert doc.read_text(encoding="utf-8").startswith("# Backpropagation, one online update")
        assert page.errors == []
    finally:
        ctx.close()
        views.close()


def test_the_pages_extras_are_in_the_widget_features_and_a_weight_edit(browser):
    # TensorFlow Playground's controls come with the page's scripts: nothing of the widget's own
    w = widget("circles", layers=[3], hidden="tanh", mode="batch", lr=0.5, n_samples=160, seed=7,
               features=["x1", "x2", "x1^2", "x2^2"])
    page, views, ctx = open_views(browser, a=w)
    try:
        assert page.text_content("#view-a #unit-0-3 .name") == "x₂²" and w.network.sizes[0] == 4
        page.check("#view-a input[data-feature='x1*x2']")  # a fifth input unit, here and in the kernel
        page.wait_for_selector("#view-a #unit-0-4")
        page.wait_for_selector("#view-a[data-busy='0']")
        assert w.config["features"] == ["x1", "x2", "x1^2", "x2^2", "x1*x2"] and w.network.sizes[0] == 5
        page.locator("#view-a #w-0-1-2").dispatch_event("click")  # input 2 -> hidden unit 3
        page.fill("#view-a #w-edit-value", "0.9")
        page.click("#view-a #w-edit-set")
        page.wait_for_selector("#view-a[data-edits='1']")
        assert w.network.weights[0][1, 2] == 0.9
        st = w.step()  # the next update, from Python, starts from the edited weight
        assert st.weights_before[0][1, 2] == 0.9
        grad = float(np.mean(st.trace.delta[0][:, 2] * st.trace.x[:, 1]))  # eqs. (1), (3)
        assert w.network.weights[0][1, 2] == pytest.approx(0.9 - 0.5 * grad, rel=REL)  # eq. (5)
        page.wait_for_selector("#view-a[data-n-updates='1']")
        assert page.errors == []
    finally:
        ctx.close()
        views.close()
