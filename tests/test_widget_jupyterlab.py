"""The playground widget in JupyterLab, end to end: a real server, a real browser, the tutorial notebook.

A JupyterLab (``tests/labserver.py``: 127.0.0.1, a random token, every Jupyter folder temporary, no
network) serves a temporary copy of docs/notebooks. Debian's Chromium, driven by Playwright, opens
05-widget.ipynb, runs all its cells from the Run menu, and uses the widget as a learner would: it
clicks a weight and Step, and the numbers the inspector shows for that weight (its value before the
update, ∂E/∂w averaged over the batch, its new value) are checked against a forward/backward pass in
plain NumPy, computed here from the data set and the seeded initial weights of the setup the widget's
controls show. Then play, pause, phase and reset, and a setup that diverges: its message appears in the
widget as in the page. Through all of it the browser console stays free of errors, no request fails
and nothing leaves 127.0.0.1.

Screenshots go to pytest's tmp path and, when ``BACKPROP_SCREENSHOTS=dir`` is set, into that folder
too: ``BACKPROP_SCREENSHOTS=docs/img python -m pytest tests/test_widget_jupyterlab.py`` regenerates
the README's picture. JupyterLab, Chromium and Playwright are required, not optional: without them
the test fails and says what to install.
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest

import backprop
from backprop.data import datasets
from browsertools import launch
from browsertools import shot as _shot
from labserver import Lab, jupyterlab, missing

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
NOTEBOOK = "05-widget.ipynb"
WAIT_MS = 30_000  # bound of every wait in the page (JupyterLab's first load on 2 busy cores: ~5 s)
RUN_MS = 120_000  # bound of running the whole notebook
REL = 1e-9  # the page shows full doubles; engine and NumPy differ by summation order only (~1e-15)


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    why = missing()
    if why:
        pytest.fail(why)
    with jupyterlab(NOTEBOOKS, tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    yield from launch("the JupyterLab test")


@pytest.fixture()
def page(browser, lab):
    """A fresh browser context on the lab. ``page.errors`` collects uncaught exceptions, console
    errors, failed requests and error answers; ``page.outside`` every request not to the lab (each is
    aborted, so nothing reaches the network even if one is made)."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.errors, pg.outside = [], []
    pg.on("pageerror", lambda e: pg.errors.append(f"exception: {e}"))
    pg.on("console", lambda m: pg.errors.append(f"console: {m.text}") if m.type == "error" else None)
    pg.on("requestfailed", lambda r: pg.errors.append(f"failed: {r.method} {r.url} {r.failure}"))
    pg.on("response", lambda r: pg.errors.append(f"HTTP {r.status}: {r.request.method} {r.url}")
          if r.status >= 400 else None)

    def outside(route):
        pg.outside.append(route.request.url)
        route.abort()

    ctx.route(re.compile("^(?!" + re.escape(lab.url) + ")"), outside)
    yield pg
    ctx.close()



def _explain(lab: Lab, page) -> str:
    """What to look at when a step fails: the page's errors and the server's log."""
    return ("browser errors:\n" + "\n".join(page.errors or ["(none)"])
            + "\nrequests outside the lab:\n" + "\n".join(page.outside or ["(none)"])
            + "\nJupyterLab log (end):\n" + lab.log_text(8000))


# -- the harness itself -----------------------------------------------------------------------------
def _get(lab: Lab, path: str, token: bool = True):
    headers = {"Authorization": f"token {lab.token}"} if token else {}
    req = urllib.request.Request(lab.url + path, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def test_the_server_is_local_token_protected_isolated_and_offline(lab):
    listening = [c.laddr for c in psutil.Process(lab.process.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    with pytest.raises(urllib.error.HTTPError) as no_token:
        _get(lab, "api/contents", token=False)
    no_token.value.close()  # the error holds the answer's socket
    assert no_token.value.code == 403
    # it serves a copy of docs/notebooks, not the folder itself
    assert lab.root != NOTEBOOKS and not lab.root.is_relative_to(ROOT)
    names = {f["name"] for f in json.loads(_get(lab, "api/contents")[1])["content"]}
    assert names == {p.name for p in NOTEBOOKS.iterdir() if not p.name.startswith(".")}
    # no news feed, no update check: the server's answers are empty and the page is told so
    assert json.loads(_get(lab, "lab/api/update")[1]) == {"notification": None}
    assert json.loads(_get(lab, "lab/api/news")[1]) == {"news": []}
    page_html = _get(lab, "lab")[1]
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                     page_html, re.S)
    config = json.loads(html.unescape(data.group(1)))
    assert config["news"] == {"disabled": True}
    for plugin, key, want in (("@jupyterlab/apputils-extension:notification", "fetchNews", "false"),
                              ("@jupyterlab/apputils-extension:notification", "checkForUpdates", False),
                              ("@jupyterlab/notebook-extension:tracker", "windowingMode", "none")):
        got = json.loads(_get(lab, f"lab/api/settings/{plugin}")[1])
        # the overrides are the schema's defaults; no user setting overrides them
        assert got["schema"]["properties"][key]["default"] == want and key not in got["settings"], key
    # the developer's Jupyter folders are not used: the server's settings and workspaces are temporary
    assert config["userSettingsDir"].startswith(str(lab.root.parent))
    assert config["workspacesDir"].startswith(str(lab.root.parent))


def test_the_server_and_its_kernels_are_gone_at_the_end(tmp_path):
    with jupyterlab(NOTEBOOKS, tmp_path) as lab:
        req = urllib.request.Request(lab.url + "api/kernels", data=b"{}", method="POST",
                                     headers={"Authorization": f"token {lab.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 201
        server = psutil.Process(lab.process.pid)
        # the kernel runs (its process is the server's child) before the end
        kernels = server.children(recursive=True)
        assert kernels, "no kernel process under the server"
    assert lab.process.poll() is not None
    assert not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]


# -- the notebook in the browser --------------------------------------------------------------------
def _open_and_run(page, lab: Lab):
    """Open the tutorial, wait for its kernel, Run > Run All Cells, wait until every cell ran."""
    page.goto(lab.page(f"lab/tree/{NOTEBOOK}"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    # the kernel is started and idle (running before that would ask which kernel to start)
    page.wait_for_function("() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                           ".some(e => / \\| Idle$/.test(e.textContent.trim()))")
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    # every code cell shows its execution count ([*] while it runs, [ ] before), or a cell wrote to
    # stderr: JupyterLab shows a traceback (after which Run All stops) or a warning so; either fails
    stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    page.wait_for_function("""stderr => {
        const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
        return document.querySelector(stderr) !== null
            || (p.length > 0 && p.every(e => /^\\[\\d+\\]:$/.test(e.textContent.trim())));
    }""", arg=stderr, timeout=RUN_MS)
    written = page.locator(stderr)
    assert written.count() == 0, "a cell wrote to stderr:\n" + "\n".join(written.all_text_contents())
    page.wait_for_function("() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                           ".some(e => / \\| Idle$/.test(e.textContent.trim()))", timeout=RUN_MS)


def _widget(page, n=0):
    """The n-th playground widget's cell output; waits until its page is ready. The view's element
    (class backprop-playground) carries the page's state as data-* attributes (the page's
    ``HOST.hook``); the page itself lives in an open shadow root, which Playwright's CSS selectors
    pierce."""
    out = page.locator(".jp-OutputArea-output").filter(has=page.locator(".backprop-playground")).nth(n)
    _hook(out, "ready", 1)
    return out


def _run_new_cell(page, code: str) -> str:
    """Type ``code`` into a new cell at the end of the notebook, run it (Shift+Enter), return its output."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    n = cells.count()
    cells.nth(n - 1).locator(".jp-InputPrompt").click()  # select the last cell (command mode)
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below
    cells.nth(n).wait_for()
    page.keyboard.press("Enter")  # edit it
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    out = cells.nth(n).locator(".jp-OutputArea-output")
    out.wait_for()
    return out.text_content()


def _show_cell(w):
    """Scroll the notebook so that the widget's cell (its code, then the widget) starts at the top."""
    w.evaluate("el => el.closest('.jp-Cell').scrollIntoView({ block: 'start' })")


def _setup(w) -> dict:
    """The setup the widget's controls show (as the page's own readControls() reads them), with the
    output activation and loss that "auto" stands for."""
    return w.locator(".bp-page").evaluate("""page => {
        const v = (id) => page.querySelector('#cfg-' + id).value.trim();
        const shown = (id) => { const s = page.querySelector('#cfg-' + id);
            return s.value || /auto \\((.*)\\)/.exec(s.options[s.selectedIndex].text)[1]; };
        const rows = [...page.querySelectorAll('.layer-row')];
        return {
            data: v('data'), n_samples: Number(v('n_samples')),
            noise: v('noise') === '' ? null : Number(v('noise')),
            data_seed: Number(v('data_seed')), seed: Number(v('seed')), lr: Number(v('lr')),
            l2: Number(v('l2')), l1: Number(v('l1')), val_fraction: Number(v('test-pct')) / 100,
            features: [...page.querySelectorAll('#features input[data-feature]:checked')]
                .map(b => b.dataset.feature),
            batch_size: Number(v('batch_size')), optimizer: v('optimizer'),
            layers: rows.map(r => Number(r.querySelector('input').value)),
            hidden: rows.map(r => r.querySelector('select').value),
            output: shown('output'), loss: shown('loss'),
            mode: page.querySelector('input[name=mode]:checked').value,
        };
    }""")


def _hook(w, name, value):
    """Wait until the widget's state attribute data-<name> (on its view element, the page's
    ``HOST.hook``) says ``value``."""
    w.locator(f".backprop-playground[data-{name}='{value}']").wait_for()


def _until(page, w, selector, predicate):
    """Wait until ``predicate`` (JavaScript, of the element) holds for the widget's ``selector``."""
    page.wait_for_function(predicate, arg=w.locator(selector).element_handle())


def _apply(w, change):
    """Make ``change`` to the widget's controls and wait until the kernel's new setup is shown (the
    page marks the hook busy while it loads one; a change made meanwhile would be overwritten)."""
    hook = w.locator(".backprop-playground")
    hook.evaluate("""el => { el.__loaded = 0; el.__observer?.disconnect();
        el.__observer = new MutationObserver(() => { if (el.dataset.busy === '1') el.__busy = true;
            else if (el.__busy) { el.__busy = false; el.__loaded += 1; } });
        el.__observer.observe(el, { attributes: true, attributeFilter: ['data-busy'] }); }""")
    change()
    hook.page.wait_for_function("el => el.__loaded > 0", arg=hook.element_handle())


def _value(w, selector) -> float:
    return float(w.locator(selector).get_attribute("data-value"))


#: the input features of data on the plane, from the raw coordinates (TensorFlow Playground's)
FEATURES = {"x1": lambda x1, x2: x1, "x2": lambda x1, x2: x2, "x1^2": lambda x1, x2: x1**2,
            "x2^2": lambda x1, x2: x2**2, "x1*x2": lambda x1, x2: x1 * x2,
            "sin(x1)": lambda x1, x2: np.sin(x1), "sin(x2)": lambda x1, x2: np.sin(x2)}


def _problem(setup):
    """The training rows and targets of a built-in's setup, made here: the data set's training part
    (its test share held out), the chosen features of the raw points, each input column standardized
    with its mean and spread over the training rows, class labels as 0/1 (one sigmoid unit) or one-hot."""
    ds = datasets.load(setup["data"], n_samples=setup["n_samples"], noise=setup["noise"],
                       seed=setup["data_seed"], test_fraction=setup["val_fraction"] or None)
    raw, y = ds.X, ds.y
    if not setup["val_fraction"]:  # no test part: both parts of the fixed split are trained on
        raw, y = np.concatenate([ds.X, ds.X_test]), np.concatenate([ds.y, ds.y_test])
    if raw.shape[1] == 2:
        raw = np.column_stack([FEATURES[f](raw[:, 0], raw[:, 1]) for f in setup["features"]])
    X = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    classes = np.unique(y)
    if setup["output"] == "sigmoid" and len(classes) == 2:
        Y = (y == classes[1]).astype(np.float64).reshape(-1, 1)
    else:
        Y = (y.reshape(-1, 1) == classes.reshape(1, -1)).astype(np.float64)
    return X, Y


def test_the_tutorial_widget_steps_with_numpys_numbers_and_every_control_works(page, lab, tmp_path, oracle):
    try:
        _open_and_run(page, lab)
        w = _widget(page)  # the notebook's first widget: widget("moons", layers=[6, 6], ...)
        # every widget of the notebook (its own data, its own network too) shows its page
        page.wait_for_function("() => [...document.querySelectorAll('.backprop-playground')]"
                               ".every(v => v.dataset.ready === '1')")
        # more room for the notebook: the file browser folded away (as its tab's click does)
        page.click(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        page.wait_for_selector("#jp-left-stack", state="hidden")

        # the kernel drives the view: it shows the updates the notebook's cells made from Python
        printed = re.findall(r"updates made = (\d+)", "\n".join(
            page.locator(".jp-OutputArea-output[data-mime-type$='stdout']").all_text_contents()))
        assert printed, "the tutorial no longer prints 'updates made = N': update this test"
        _until(page, w, "#c-updates", f"el => el.textContent === '{printed[-1]}'")
        k, i, j = 0, 1, 3  # a first-layer weight: its gradient goes back through every layer
        w.locator(f"#w-{k}-{i}-{j}").click()
        # its panel shows the last update the cells made (made before the view listened: Run All),
        # ending at the weight Python holds
        w.locator("#insp-w-new").wait_for()
        held = _run_new_cell(page, f"print(repr(float(w.network.weights[{k}][{i}, {j}])))")
        assert held.strip() == repr(_value(w, "#insp-w-new")), held

        # Reset: the seed's initial weights
        w.locator("#btn-reset").click()
        _until(page, w, "#c-updates", "el => el.textContent === '0'")
        # and one more input feature, x1*x2 (TensorFlow Playground's check boxes): a new setup
        _apply(w, lambda: w.locator("#features input[data-feature='x1*x2']").check())
        setup = _setup(w)
        assert setup["optimizer"] == "sgd" and setup["layers"][0] > j, setup
        assert "x1*x2" in setup["features"] and len(setup["features"]) >= 3, setup
        assert w.locator("#c-updates").text_content() == "0"
        # the setup the learner sees, and the same data and network made here from it
        X, Y = _problem(setup)
        assert w.locator(".unit[data-layer='0']").count() == X.shape[1]  # one input unit per feature
        net = backprop.Network([X.shape[1], *setup["layers"], Y.shape[1]], hidden=setup["hidden"],
                               output=setup["output"], seed=setup["seed"], dtype="float64")
        Ws, bs = oracle.params(net)
        acts = oracle.act_names(net)

        # one update (Step) with the weight selected: its numbers against NumPy's
        w.locator("#btn-step").click()
        _until(page, w, "#c-updates", "el => el.textContent === '1'")
        w.locator("#insp-w-new").wait_for()
        assert w.locator("#edges line.sel").count() == 1  # the drawing still marks the chosen weight
        if setup["mode"] == "batch":
            rows = list(range(X.shape[0]))
        elif setup["mode"] == "online":
            rows = [int(w.locator("#insp-row").get_attribute("data-value"))]
        else:
            rows = [int(r) for r in w.locator("#insp-per-sample tr[data-row]").evaluate_all(
                "rows => rows.map(r => r.dataset.row)")]
            assert len(rows) == min(setup["batch_size"], X.shape[0])
        deltas, gW, _ = oracle.backward(Ws, bs, acts, setup["loss"], X[rows], Y[rows])
        w_before, g = Ws[k][i, j], gW[k][i, j]
        assert _value(w, "#insp-w") == pytest.approx(w_before, rel=REL)  # the seed's initial weight
        # eq. (1) for the batch's first sample: its delta_j^1 (back through every layer) and x_i
        assert _value(w, "#insp-a-i") == pytest.approx(X[rows[0], i], rel=REL)
        assert _value(w, "#insp-delta-j") == pytest.approx(deltas[k][0, j], rel=REL, abs=1e-12)
        assert _value(w, "#insp-grad-mean") == pytest.approx(g, rel=REL, abs=1e-12)  # eq. (3)
        # eq. (5), with the L2 and L1 terms when set
        want = w_before - setup["lr"] * (g + setup["l2"] * w_before + setup["l1"] * np.sign(w_before))
        assert _value(w, "#insp-w-new") == pytest.approx(want, rel=REL)
        _show_cell(w)
        _shot(page, tmp_path, "widget-step.png")

        # and Python sees what the click did: a new cell reads the widget's live network
        seen = _run_new_cell(page, f"print(w.n_updates, repr(float(w.network.weights[{k}][{i}, {j}])))")
        assert seen.split() == ["1", repr(_value(w, "#insp-w-new"))], seen

        # the transport, each control once: play, pause, step, phase (i)-(iv), reset; the picture for
        # the README after a few hundred updates, with the weight's panel of the last one
        w.locator("#btn-play").click()
        _hook(w, "playing", 1)
        _until(page, w, "#c-updates", "el => Number(el.textContent) >= 300")
        w.locator("#btn-play").click()
        _hook(w, "playing", 0)
        n = int(w.locator("#c-updates").text_content())
        w.locator("#btn-step").click()
        _until(page, w, "#c-updates", f"el => el.textContent === '{n + 1}'")
        w.locator("#insp-w-new").wait_for()
        _show_cell(w)
        _shot(page, tmp_path, "widget-jupyterlab.png")
        for n in (1, 2, 3, 4):
            w.locator("#btn-phase").click()
            _hook(w, "phase", n)
        w.locator("#btn-reset").click()
        _until(page, w, "#c-updates", "el => el.textContent === '0'")

        # a setup that diverges (as the page's own test: sin, ReLU, η = 50), played: the message
        _apply(w, lambda: w.locator("#cfg-data").select_option("sin"))
        for row in range(w.locator(".layer-row select").count()):
            _apply(w, lambda row=row: w.locator(".layer-row select").nth(row).select_option("relu"))
        _apply(w, lambda: (w.locator("#cfg-lr").fill("50"), w.locator("#cfg-lr").blur()))  # blur: "change"
        setup = _setup(w)
        assert (setup["data"], set(setup["hidden"]), setup["lr"]) == ("sin", {"relu"}, 50), setup
        w.locator("#btn-play").click()
        error = w.locator("#error-text")
        _until(page, w, "#error-text", "el => el.textContent.includes('diverged')")
        _hook(w, "playing", 0)
        assert w.locator("#error").is_visible()
        _show_cell(w)
        text = error.text_content()
        assert "smaller η" in text and "50" in text, text
        _shot(page, tmp_path, "widget-divergence.png")
        w.locator("#btn-reset").click()
        w.locator("#error").wait_for(state="hidden")
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"the page at the failure: {tmp_path / 'failure.png'}\n{_explain(lab, page)}")
        raise
    assert page.errors == [], _explain(lab, page)
    assert page.outside == []
    # the guard itself: a request to another host is seen, stopped, and fails
    with page.expect_event("requestfailed"):
        page.evaluate("fetch('https://example.org/feed.xml').catch(() => null)")
    assert page.outside == ["https://example.org/feed.xml"]
    assert any("example.org" in e for e in page.errors)
