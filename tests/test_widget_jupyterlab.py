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
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import backprop
from backprop.data import datasets
from labserver import Lab, jupyterlab, missing

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
NOTEBOOK = "05-widget.ipynb"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the JupyterLab test needs Playwright for Python: pip install playwright "
                    "(it drives Debian's chromium; do not run `playwright install`)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the JupyterLab test needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, lab):
    """A fresh browser context on the lab. ``page.errors`` collects uncaught exceptions, console
    errors, failed requests and error answers; ``page.outside`` every request not to the lab (each is
    aborted, so nothing reaches the network even if one is made)."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
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
    try:
        yield pg
    except BaseException:
        raise
    finally:
        ctx.close()


def _shot(target, tmp_path, name):
    """A screenshot of the page (or of one element) into tmp_path, and BACKPROP_SCREENSHOTS if set."""
    path = tmp_path / name
    target.screenshot(path=str(path))
    folder = os.environ.get("BACKPROP_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(path, os.path.join(folder, name))
    return path


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
    import psutil

    listening = [c.laddr for c in psutil.Process(lab.process.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    with pytest.raises(urllib.error.HTTPError) as no_token:
        _get(lab, "api/contents", token=False)
    assert no_token.value.code == 403
    # it serves a copy of docs/notebooks, not the folder itself
    assert lab.root != NOTEBOOKS and not lab.root.is_relative_to(ROOT)
    names = {f["name"] for f in json.loads(_get(lab, "api/contents")[1])["content"]}
    assert names == {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    # no news feed, no update check: the server's answers are empty and the page is told so
    assert json.loads(_get(lab, "lab/api/update")[1]) == {"notification": None}
    assert json.loads(_get(lab, "lab/api/news")[1]) == {"news": []}
    page_html = _get(lab, "lab")[1]
    config = json.loads(html.unescape(re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page_html, re.S).group(1)))
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
