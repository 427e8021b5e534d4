"""Debian's Chromium through Playwright, for the browser tests (page, widget, JupyterLab)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
# headless and quiet: no first-run pages, no update or sync traffic, so the tests stay on loopback
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(what: str) -> Iterator:
    """A Chromium browser for a module's tests (a fixture's body); a clear failure if it is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"{what} needs Playwright for Python: pip install playwright "
                    "(it drives Debian's chromium; do not run `playwright install`)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{what} needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(target, tmp_path, name):
    """A screenshot of the page (or of one element) into tmp_path, and BACKPROP_SCREENSHOTS if set."""
    path = tmp_path / name
    target.screenshot(path=str(path))
    folder = os.environ.get("BACKPROP_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(path, os.path.join(folder, name))
    return path
