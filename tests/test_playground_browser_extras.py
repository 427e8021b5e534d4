"""TensorFlow Playground's extras on the page, in headless Chromium (the fixtures and helpers of
test_playground_browser.py): input-feature check boxes, the test share, show test data,
discretize output, the test-loss counter, the L1 field, the URL that carries them, and editing a
weight (its next update recomputed here with NumPy). Each test fails on console errors, a CSP
violation included.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import numpy as np
import pytest

import test_playground_browser as base
from test_playground_browser import _shot, api, open_page, value

pytest.importorskip("starlette", reason="the playground extra (starlette, uvicorn) is not installed")

RTOL = 1e-9
browser, server, page = base.browser, base.server, base.page  # the fixtures, shared


def fragment(page):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).fragment))


def test_features_test_data_discretize_and_l1_reach_the_server_and_the_link(page, server):
    open_page(page, server, "data=xor&layers=3&n_samples=80&output=sigmoid")
    assert api(server, "/api/state")["sizes"][0] == 2
    # a feature check box adds an input unit, labelled, and the server's config has it
    page.check("input[data-feature='x1^2']")
    page.wait_for_selector("#unit-0-2")
    assert page.text_content("#unit-0-2 .name") == "x₁²"
    st = api(server, "/api/state")
    assert st["config"]["features"] == ["x1", "x2", "x1^2"] and st["sizes"][0] == 3
    assert fragment(page)["features"] == "x1,x2,x1^2"
    # the test share: 50 % of the 80 rows held out
    page.eval_on_selector("#cfg-test-pct",
                          "el => { el.value = '50'; el.dispatchEvent(new Event('change')); }")
    page.wait_for_function("() => document.getElementById('test-pct').textContent === '50 %'")
    page.wait_for_selector("body[data-busy='0']")
    st = api(server, "/api/state")
    assert st["config"]["val_fraction"] == 0.5 and st["data"]["n_val"] == 40
    # the test loss counter shows the server's test loss
    page.wait_for_function("() => document.getElementById('c-test-loss').dataset.value !== ''")
    assert np.isclose(value(page, "#c-test-loss"), api(server, "/api/frame")["test_loss"], rtol=RTOL)
    # show test data draws the 40 held-out rows; discretize leaves one colour per class
    assert page.get_attribute("#plot-region", "data-test-points") == "0"
    page.check("#view-show_test")
    assert page.get_attribute("#plot-region", "data-test-points") == "40"
    assert int(page.get_attribute("#plot-region", "data-colours")) > 2  # shades of p(class 1)
    page.check("#view-discretize")
    assert int(page.get_attribute("#plot-region", "data-colours")) <= 2
    # L1 beside L2
    page.fill("#cfg-l1", "0.01")
    page.dispatch_event("#cfg-l1", "change")
    page.wait_for_function("() => location.hash.includes('l1=0.01')")
    assert api(server, "/api/state")["config"]["l1"] == 0.01
    f = fragment(page)
    assert f["show_test"] == "1" and f["discretize"] == "1" and f["val_fraction"] == "0.5"
    # the link restores all of it
    link = page.url
    api(server, "/api/state")
    page.goto("about:blank")
    page.goto(link.split("#")[0] + "?token=" + server["token"] + "#" + link.split("#")[1])
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_checked("#view-show_test") and page.is_checked("#view-discretize")
    assert page.is_checked("input[data-feature='x1^2']")
    assert not page.is_checked("input[data-feature='sin(x1)']")
    st = api(server, "/api/state")
    assert st["config"]["features"] == ["x1", "x2", "x1^2"] and st["config"]["l1"] == 0.01
    assert page.get_attribute("#plot-region", "data-test-points") == "40"
    # to data off the plane: its own input, the check boxes off, no error
    page.select_option("#cfg-data", "sin")
    page.wait_for_selector("input[data-feature='x1']:disabled")
    page.wait_for_selector("body[data-busy='0']")
    st = api(server, "/api/state")
    assert st["data"]["name"] == "sin" and st["sizes"][0] == 1 and st["config"]["features"] == ["x1", "x2"]
    assert page.is_hidden("#error")
    assert page.errors == []


def post(server, path, body):
    req = urllib.request.Request(server["base"] + path.lstrip("/"), data=json.dumps(body).encode(),
                                 method="POST", headers={"authorization": f"token {server['token']}",
                                                         "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def test_editing_a_weight_sets_it_and_the_next_update_starts_from_it(page, server, tmp_path):
    # circles in the features x1^2, x2^2 besides x1, x2, with the test rows shown and the map in classes
    open_page(page, server, "data=circles&layers=3&hidden=tanh&output=sigmoid&loss=mse&mode=batch&lr=0.5"
                            "&n_samples=160&seed=7&features=x1,x2,x1%5E2,x2%5E2&show_test=1&discretize=1")
    assert page.is_checked("#view-show_test") and page.is_checked("#view-discretize")
    assert page.text_content("#unit-0-3 .name") == "x₂²"
    post(server, "/api/run", {"updates": 150})  # the page follows the stream's frames
    page.wait_for_function("() => document.getElementById('c-updates').textContent === '150'")
    page.locator("#w-0-1-2").dispatch_event("click")  # input 2 -> hidden unit 3, while paused
    page.fill("#w-edit-value", "0.9")
    page.click("#w-edit-set")
    page.wait_for_selector("body[data-edits='1']")
    assert value(page, "#insp-w-now") == 0.9
    st = api(server, "/api/state")
    assert st["weights"][0][1][2] == 0.9
    points = api(server, "/api/points")
    X, Y = np.asarray(points["x"]), np.asarray(points["y"])
    # one batch update by eqs. (1)-(5) from the edited weights: tanh hidden, sigmoid output, MSE
    (W1, W2), (b1, b2) = ([np.asarray(v) for v in st[key]] for key in ("weights", "biases"))
    a1 = np.tanh(X @ W1 + b1)
    a2 = 1 / (1 + np.exp(-(a1 @ W2 + b2)))
    d2 = a2 * (1 - a2) * (a2 - Y)
    d1 = (1 - a1 ** 2) * (d2 @ W2.T)
    want = W1[1, 2] - 0.5 * (X[:, 1] * d1[:, 2]).mean()
    page.click("#btn-step")
    page.wait_for_selector("body[data-n-updates='151']")
    page.wait_for_selector("#insp-w-new")
    assert value(page, "#insp-w") == 0.9  # the weight before the update: the edited value
    assert np.isclose(value(page, "#insp-w-new"), want, rtol=RTOL)
    assert np.isclose(value(page, "#insp-w-now"), want, rtol=RTOL)
    assert page.get_attribute("#plot-region", "data-test-points") == "40"
    _shot(page, tmp_path, "playground-extras.png")
    assert page.errors == []
