"""The playground in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The real server runs in a thread on 127.0.0.1 with an ephemeral port. The test opens the page, makes
updates with its buttons, reads the numbers the page shows for a unit and a weight (elements with
stable ids and ``data-value`` attributes) and checks them against ``net.trace`` of a network built
here from the weights before the update and inputs standardized here. Screenshots go to pytest's
tmp path and, when ``BACKPROP_SCREENSHOTS=dir`` is set, into that folder too (the docs' images).

Chromium and Playwright are required, not optional: without them the test fails and says what to
install (never ``playwright install``, which downloads a browser at run time).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import numpy as np
import pytest

import backprop
from browsertools import launch
from browsertools import shot as _shot

WAIT_MS = 20_000  # bound of every wait for the page
REL = 1e-9



@pytest.fixture(scope="module")
def server():
    pytest.importorskip("starlette", reason="the playground extra (starlette, uvicorn) is not installed")
    from backprop.playground.server import make_server, url_of

    srv, sock, token = make_server(None, host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "the playground server did not start within 20 s"
    url = url_of(sock, token)
    yield {"url": url, "base": url.split("?")[0], "token": token}
    srv.should_exit = True
    thread.join(20)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch("the browser test")


@pytest.fixture()
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.errors = []  # uncaught exceptions and console errors (a CSP violation is one)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(f"console: {m.text}") if m.type == "error" else None)
    yield pg
    ctx.close()


def api(server, path):
    req = urllib.request.Request(server["base"] + path.lstrip("/"),
                                 headers={"authorization": f"token {server['token']}"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def real_errors(page):
    """Errors other than the browser's own note on a 4xx answer the test asked for."""
    return [e for e in page.errors if "the server responded with a status of 4" not in e]


def open_page(page, server, fragment):
    page.goto(server["url"] + "#" + fragment)
    page.wait_for_selector("body[data-ready='1']")
    assert "token=" not in page.url  # the token moved into a cookie; shared links do not carry it


def value(page, selector):
    return float(page.get_attribute(selector, "data-value"))


def standardized(points):
    """The network's inputs computed here: (raw - mean) / sd over the training rows."""
    raw = np.asarray(points["raw"], dtype=np.float64)
    return (raw - raw.mean(axis=0)) / raw.std(axis=0)


def network_from(state):
    net = backprop.Network(state["sizes"], hidden=state["hidden"], output=state["output"], dtype="float64")
    net.weights = [np.asarray(w, dtype=np.float64) for w in state["weights"]]
    net.biases = [np.asarray(b, dtype=np.float64) for b in state["biases"]]
    return net


def test_one_update_shows_the_numbers_of_net_trace(page, server, tmp_path):
    open_page(page, server, "data=xor&layers=3&hidden=tanh&output=sigmoid&loss=mse&mode=minibatch"
                            "&batch_size=4&lr=0.5&seed=3&n_samples=40")
    before = api(server, "/api/state")
    assert before["config"]["layers"] == [3] and before["batch_size"] == 4  # the setup came from the URL
    assert "layers=3" in page.url and "batch_size=4" in page.url and "seed=3" in page.url  # and stays in it
    points = api(server, "/api/points")
    X = standardized(points)
    Y = np.asarray(points["label"], dtype=np.float64).reshape(-1, 1)  # xor: classes 0/1, one sigmoid unit
    net = network_from(before)

    page.click("#btn-step")
    page.wait_for_selector("body[data-n-updates='1']")
    page.click("#unit-1-1")
    page.wait_for_selector("#insp-delta")
    row = int(page.get_attribute("#insp-row", "data-value"))
    tr = net.trace(X[row:row + 1], Y[row:row + 1], "mse")
    for sel, want in (("#insp-h", tr.h[0][0, 1]), ("#insp-a", tr.a[0][0, 1]),
                      ("#insp-delta", tr.delta[0][0, 1])):
        assert value(page, sel) == pytest.approx(want, rel=REL, abs=1e-12), sel
    # the unit's own drawing shows the same a
    assert float(page.get_attribute("#unit-1-1-value", "data-value")) == pytest.approx(tr.a[0][0, 1], rel=REL)
    _shot(page, tmp_path, "playground-unit.png")

    page.locator("#w-1-2-0").dispatch_event("click")  # hidden unit 3 -> the output unit
    page.wait_for_selector("#insp-w-new")
    batch = [int(r) for r in page.eval_on_selector_all("#insp-per-sample tr[data-row]",
                                                       "rows => rows.map(r => r.dataset.row)")]
    assert len(batch) == 4 and batch[0] == row
    whole = net.trace(X[batch], Y[batch], "mse")
    assert value(page, "#insp-w") == pytest.approx(before["weights"][1][2][0], rel=REL)
    assert value(page, "#insp-grad-d") == pytest.approx(tr.grad_weights[1][2, 0], rel=REL, abs=1e-12)
    assert value(page, "#insp-grad-mean") == pytest.approx(whole.grad_weights[1][2, 0], rel=REL, abs=1e-12)
    want_new = before["weights"][1][2][0] - 0.5 * whole.grad_weights[1][2, 0]  # eq. (5)
    assert value(page, "#insp-w-new") == pytest.approx(want_new, rel=REL)
    _shot(page, tmp_path, "playground-weight.png")
    assert page.errors == []


def test_phases_one_at_a_time_in_batch_mode(page, server, tmp_path):
    open_page(page, server, "data=moons&layers=5,5&hidden=tanh,tanh&mode=batch&lr=1&seed=1&n_samples=80")
    before = api(server, "/api/state")
    m = before["data"]["n_train"]
    page.click("#btn-phase")
    page.wait_for_selector("body[data-phase='1']")
    page.locator("#w-0-0-2").dispatch_event("click")
    page.wait_for_selector("#insp-w")
    assert page.locator("#insp-grad-d").count() == 0  # (ii) not shown yet
    for n in (2, 3):
        page.click("#btn-phase")
        page.wait_for_selector(f"body[data-phase='{n}']")
    page.wait_for_selector("#insp-grad-mean")
    assert page.locator("#insp-w-new").count() == 0  # (iv) not shown yet
    assert page.locator("#insp-per-sample tr[data-row]").count() == m  # eq. (3) over every sample
    assert page.locator(".phase.current[data-phase='3']").count() == 1
    points = api(server, "/api/points")
    X = standardized(points)
    Y = np.asarray(points["label"], dtype=np.float64).reshape(-1, 1)
    whole = network_from(before).trace(X, Y, "mse")
    assert value(page, "#insp-grad-mean") == pytest.approx(whole.grad_weights[0][0, 2], rel=1e-8, abs=1e-12)
    _shot(page, tmp_path, "playground-batch.png")
    page.click("#btn-phase")
    page.wait_for_selector("#insp-w-new")
    want_new = before["weights"][0][0][2] - 1.0 * whole.grad_weights[0][0, 2]  # eq. (5), lr = 1
    assert value(page, "#insp-w-new") == pytest.approx(want_new, rel=1e-8)
    assert page.errors == []


def test_play_pause_and_a_bad_setting(page, server, tmp_path):
    open_page(page, server, "data=moons&layers=6,6&hidden=tanh,tanh&output=softmax&loss=cross_entropy"
                            "&lr=0.3&mode=minibatch&batch_size=16&seed=2")
    page.click("#btn-play")
    page.wait_for_function("() => Number(document.getElementById('c-epoch').textContent) >= 150")
    page.click("#btn-play")
    page.wait_for_selector("body[data-playing='0']")
    # the pause's answer holds the final count; the page draws it just after it shows "paused"
    n = api(server, "/api/state")["n_updates"]
    assert n > 0
    page.wait_for_function(f"() => document.getElementById('c-updates').textContent === '{n}'")
    assert api(server, "/api/state")["n_updates"] == n  # paused: nothing ran on
    page.click("#btn-step")
    page.wait_for_selector(f"body[data-n-updates='{n + 1}']")
    page.click("#unit-2-3")
    page.wait_for_selector("#insp-delta")
    _shot(page, tmp_path, "playground.png")
    page.fill("#cfg-lr", "-1")
    page.dispatch_event("#cfg-lr", "change")
    page.wait_for_selector("#error:not([hidden])")
    assert "lr" in page.text_content("#error-text")
    assert real_errors(page) == []  # the 400 it asked for is the browser's note, not an error


def test_upload_a_csv_choose_the_target_and_export(page, server, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    lines = ["a,b,c,d,kind"] + [",".join(f"{v:.4f}" for v in r) + ("," + ("big" if r.sum() > 0 else "small"))
                                for r in X]
    csv = tmp_path / "four.csv"
    csv.write_text("\n".join(lines) + "\n")
    bad = tmp_path / "table.xlsx"
    bad.write_bytes(b"PK\x03\x04 not a csv")
    open_page(page, server, "data=xor&layers=3")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not a CSV" in page.text_content("#error-text")
    page.set_input_files("#upload", str(csv))
    page.wait_for_selector("#target-row:not([hidden])")
    page.wait_for_selector("#unit-0-3")  # four inputs drawn
    st = api(server, "/api/state")
    assert st["sizes"] == [4, 3, 1] and st["data"]["target"] == "kind"
    assert st["data"]["classes"] == ["big", "small"]
    page.wait_for_selector("body[data-busy='0']")
    page.select_option("#cfg-target", "d")  # then the labels would be a feature: a clear message
    page.wait_for_function("() => document.getElementById('error-text').textContent.includes('kind')")
    assert page.input_value("#cfg-target") == "kind"  # the controls show the setup still running
    assert api(server, "/api/state")["data"]["target"] == "kind"
    page.click("#btn-step")
    page.wait_for_selector("body[data-n-updates='1']")
    with page.expect_download() as dl:
        page.click("#btn-model")
    model = tmp_path / "model.safetensors"
    dl.value.save_as(str(model))
    net = backprop.load(str(model))
    assert list(net.sizes) == [4, 3, 1]
    after = api(server, "/api/state")
    for w, want in zip(net.weights, after["weights"]):
        np.testing.assert_array_equal(w, np.asarray(want))
    with page.expect_download() as dl:
        page.click("#btn-explain")
    doc = tmp_path / "update.md"
    dl.value.save_as(str(doc))
    assert "Backpropagation" in doc.read_text()
    _shot(page, tmp_path, "playground-csv.png")
    assert real_errors(page) == []  # the 400 it asked for is the browser's note, not an error


# -- what a new user ran into (issue: the page) ----------------------------------------------------------
def test_a_divergence_stops_playing_and_says_when_and_what_to_try(page, server):
    open_page(page, server, "data=sin&layers=8&hidden=relu&lr=50&mode=minibatch&optimizer=sgd")
    page.click("#btn-play")
    page.wait_for_function("() => document.getElementById('error-text').textContent.includes('diverged')")
    page.wait_for_selector("body[data-playing='0']")
    text = page.text_content("#error-text")
    d = api(server, "/api/state")["divergence"]
    assert d is not None
    assert f"epoch {d['epoch']}" in text and f"update {d['n_update']}" in text, text
    assert "smaller η" in text and "50" in text, text
    assert "Play" in page.text_content("#btn-play")
    assert not api(server, "/api/frame")["playing"]
    page.click("#btn-reset")  # a fresh start: the message goes
    page.wait_for_selector("#error", state="hidden")
    assert page.errors == []


def test_changing_a_layers_width_or_removing_a_layer_redraws_cleanly(page, server):
    open_page(page, server, "data=moons&layers=4,6,6&hidden=tanh,tanh,tanh&seed=1")
    for change in ("width", "remove", "add", "width", "remove"):
        before = api(server, "/api/state")["sizes"]
        rows = page.locator(".layer-row")
        if change == "width":
            box = rows.nth(rows.count() - 1).locator("input")
            box.fill("3" if box.input_value() != "3" else "5")
            box.dispatch_event("change")
        elif change == "remove":
            rows.nth(0).locator("button").click()
        else:
            page.click("#add-layer")
        page.wait_for_function(f"() => document.querySelectorAll('.unit').length !== {sum(before)}"
                               " && document.body.dataset.busy === '0'")
        sizes = api(server, "/api/state")["sizes"]
        assert sizes != before
        assert page.locator(".unit").count() == sum(sizes)
    page.click("#btn-step")
    page.wait_for_selector("body[data-n-updates='1']")
    assert page.errors == []


def test_phase_mode_counters_and_curves_change_at_phase_iv(page, server):
    open_page(page, server, "data=xor&layers=3&mode=batch&lr=0.5&seed=4&n_samples=40")
    for phase in (1, 2, 3):
        page.click("#btn-phase")
        page.wait_for_selector(f"body[data-phase='{phase}']")
        assert page.text_content("#c-updates") == "0" and page.text_content("#c-epoch") == "0"
        assert page.text_content("#c-loss") == "–"
        assert page.is_visible("#plot-loss-note") and page.is_visible("#plot-delta-note")
        assert page.locator(".phase.current").count() == 1
    page.click("#btn-phase")
    page.wait_for_selector("body[data-phase='4']")
    page.wait_for_selector("#plot-loss-note", state="hidden")
    page.wait_for_selector("#plot-delta-note", state="hidden")
    st = api(server, "/api/state")
    assert page.text_content("#c-updates") == "1" and page.text_content("#c-epoch") == "1"
    assert float(page.get_attribute("#c-loss", "data-value")) == pytest.approx(st["loss_history"][0], rel=REL)
    assert page.errors == []


def _one_row(page):
    tops = page.eval_on_selector_all("#topbar > *", "els => els.map(e => e.getBoundingClientRect().top)")
    return max(tops) - min(tops) < 10


def test_the_layout_at_1400_and_1280_pixels(browser, server, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    try:
        open_page(page, server, "data=moons&layers=6,6&hidden=tanh,tanh&mode=online&seed=2")
        assert _one_row(page)
        page.click("#btn-step")
        page.wait_for_selector("body[data-n-updates='1']")
        assert _one_row(page)
        page.click("#btn-play")  # many updates: long numbers in the counters
        page.wait_for_function("() => Number(document.getElementById('c-updates').textContent) >= 2000")
        assert _one_row(page)
        page.click("#btn-play")
        page.wait_for_selector("body[data-playing='0']")
        page.click("#btn-reset")
        page.wait_for_function("() => document.getElementById('c-updates').textContent === '0'")
        for plot in ("loss", "delta"):  # the message fits its panel: no clipped words
            note = f"#plot-{plot}-note"
            assert page.is_visible(note) and "first epoch" in page.text_content(note)
            fits = page.eval_on_selector(note, """el => { const c = el.parentElement.querySelector('canvas')
                .getBoundingClientRect(), b = el.getBoundingClientRect();
                return el.scrollWidth <= el.clientWidth && el.scrollHeight <= el.clientHeight
                  && b.left >= c.left && b.right <= c.right && b.top >= c.top && b.bottom <= c.bottom; }""")
            assert fits, plot
        _shot(page, tmp_path, "playground-1400.png")
        page.set_viewport_size({"width": 1280, "height": 800})
        page.wait_for_function("() => { const n = document.getElementById('net');"
                               " return Number(n.dataset.width) === n.clientWidth; }")  # redrawn
        box = page.eval_on_selector("#plot-region", "el => { const b = el.getBoundingClientRect();"
                                    " return [b.width, b.height, b.bottom]; }")
        assert box[0] >= 280 and box[1] >= 240, box  # was 160 x 128
        assert box[2] <= 800, box  # on screen without scrolling
        assert _one_row(page)
        _shot(page, tmp_path, "playground-1280.png")
        assert page.errors == []
    finally:
        ctx.close()


def test_the_upload_label_follows_the_data_set(page, server, tmp_path):
    csv = tmp_path / "small.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    open_page(page, server, "data=xor&layers=3")
    page.set_input_files("#upload", str(csv))
    page.wait_for_selector("#target-row:not([hidden])")
    page.wait_for_selector("body[data-busy='0']")
    assert "small.csv" in page.text_content("#upload-name")
    page.select_option("#cfg-data", "circles")
    page.wait_for_function("() => document.getElementById('target-row').hidden")
    page.wait_for_selector("body[data-busy='0']")
    assert api(server, "/api/state")["config"]["data"] == "circles"
    assert page.text_content("#upload-name") == ""
    assert page.errors == []


def test_space_plays_and_pauses_even_on_a_focused_radio_button(page, server):
    open_page(page, server, "data=xor&layers=3&mode=online")
    for radio in ("input[name=colour][value=h]", "input[name=mode][value=batch]"):
        page.focus(radio)
        page.keyboard.press("Space")
        page.wait_for_selector("body[data-playing='1']")
        assert not page.is_checked(radio)
        page.keyboard.press("Space")
        page.wait_for_selector("body[data-playing='0']")
        assert not page.is_checked(radio)
    assert page.is_checked("input[name=colour][value=a]")
    assert page.is_checked("input[name=mode][value=online]")
    page.click("#btn-step")  # the focus stays on the button: space plays, it does not step again
    page.wait_for_selector("body[data-n-updates]")
    stepped = page.get_attribute("body", "data-n-updates")
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-playing='1']")
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-playing='0']")
    assert page.get_attribute("body", "data-n-updates") == stepped  # no second step
    assert api(server, "/api/state")["config"]["mode"] == "online"
    assert page.errors == []


def test_a_value_typed_then_play_clicked_at_once_plays_on_the_new_setup(page, server):
    # the field's change (on leaving it) comes just before the click: the new setup must be applied
    # first and then played, not played on the old setup and stopped by the new one
    open_page(page, server, "data=xor&layers=3&mode=online&lr=0.5")
    page.fill("#cfg-lr", "0.05")
    page.click("#btn-play")
    page.wait_for_selector("body[data-playing='1']")
    deadline = time.monotonic() + 20
    while True:  # bounded: the server's word that it plays the new setup and has made updates
        frame, state = api(server, "/api/frame"), api(server, "/api/state")
        if frame["playing"] and frame["n_updates"] > 0 and state["config"]["lr"] == 0.05:
            break
        assert time.monotonic() < deadline, \
            f"not playing the new setup: {frame['playing']=}, {state['config']['lr']=}"
        time.sleep(0.05)
    page.click("#btn-play")
    page.wait_for_selector("body[data-playing='0']")
    assert not api(server, "/api/frame")["playing"]
    assert page.errors == []


def test_a_divergence_on_a_setup_typed_just_before_play_stays_shown(page, server):
    open_page(page, server, "data=xor&layers=3&hidden=relu&output=identity&loss=mse&mode=online&lr=0.5")
    page.fill("#cfg-lr", "50")
    page.click("#btn-play")
    page.wait_for_selector("#error:not([hidden])")
    page.wait_for_selector("body[data-playing='0']")
    assert "diverged" in page.text_content("#error-text")
    assert api(server, "/api/state")["config"]["lr"] == 50
    time.sleep(0.3)  # nothing still on its way hides it again
    assert page.is_visible("#error") and "diverged" in page.text_content("#error-text")
    assert page.errors == []


def test_a_refused_value_typed_just_before_play_stays_shown(page, server):
    # η over its limit, then Play at once: the setup is refused and the message must stay readable;
    # Play clears only a training error (a divergence), not the refusal it did not fix
    open_page(page, server, "data=xor&layers=3&mode=online&lr=0.5")
    page.fill("#cfg-lr", "1000")
    page.click("#btn-play")
    page.wait_for_selector("body[data-playing='1']")
    assert page.is_visible("#error") and "lr" in page.text_content("#error-text")
    assert api(server, "/api/state")["config"]["lr"] == 0.5  # it plays the setup still running
    assert page.input_value("#cfg-lr") == "0.5"
    page.click("#btn-play")
    page.wait_for_selector("body[data-playing='0']")
    assert real_errors(page) == []
