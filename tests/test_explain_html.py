"""The HTML page of a large network: long equations wrap onto rows of their own or scroll inside
their container; nothing is cut off (the page has no fixed width that hides the results)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import backprop
from backprop import explain


def css_rules(page):
    """{selector: {property: value}} of the page's <style>."""
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    rules = {}
    for sel, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        decl = dict(tuple(p.strip() for p in d.split(":", 1)) for d in body.split(";") if ":" in d)
        rules[" ".join(sel.split())] = decl
    return rules


@pytest.fixture(scope="module")
def digits_page():
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 17, (4, 64)) / 16.0, rng.integers(0, 10, 4)
    net = backprop.Network([64, 32, 10], hidden="relu", output="softmax", seed=1)
    return {"online": explain(net, X[0], int(y[0]), lr=0.1, loss="cross_entropy", format="html").to_html(),
            "all": explain(net, X[0], int(y[0]), lr=0.1, loss="cross_entropy", all=True).to_html(),
            "batch": explain(net, X, y, lr=0.1, loss="cross_entropy", mode="batch").to_html()}


@pytest.mark.parametrize("which", ["online", "all", "batch"])
def test_equation_tables_scroll_instead_of_being_cut(digits_page, which):
    page = digits_page[which]
    rules = css_rules(page)
    box = rules[".backprop-explain div.eqs-scroll"]
    assert box["overflow-x"] == "auto" and box["max-width"] == "100%"
    # rows keep their columns; the container, not the page, scrolls
    assert rules[".backprop-explain table.eqs td"]["white-space"] == "nowrap"
    para = rules[".backprop-explain p"]
    assert para["overflow-wrap"] == "anywhere" and para["overflow-x"] == "auto"
    assert "overflow" not in rules[".backprop-explain"] and "overflow-x" not in rules[".backprop-explain"]
    # every equation table sits in a scrolling container
    root = ET.fromstring(page.split("\n", 1)[1])
    tables = list(root.iter("table"))
    assert tables
    parents = {child: parent for parent in root.iter() for child in parent}
    for t in tables:
        assert parents[t].tag == "div" and parents[t].get("class") == "eqs-scroll"


def test_wide_equations_put_each_part_on_its_own_row(digits_page):
    root = ET.fromstring(digits_page["online"].split("\n", 1)[1])
    continued = 0
    for table in root.iter("table"):
        for tr in table.findall("tr"):
            tds = tr.findall("td")
            if not list(tds[0]):  # no lhs: the next "= part" of the equation above
                continued += 1
                first = tds[1].find("math")[0][0]
                assert first.tag == "mo" and first.text == "="
    assert continued > 20
    # a small network's rows stay whole, one line each
    small = explain(backprop.Network([2, 2, 1], seed=0), [0.05, 0.1], [0.01], lr=0.5).to_html()
    root = ET.fromstring(small.split("\n", 1)[1])
    assert all(list(tr.findall("td")[0]) for t in root.iter("table") for tr in t.findall("tr"))
