"""No module reads or writes another module's private names.

import-linter checks which modules import which (the layers, pyproject.toml); it cannot see
attribute access, so this test walks the syntax tree of every module of the package:

* ``obj._name`` where ``obj`` is not ``self``/``cls`` and ``_name`` is not a name the module
  defines itself (a function, class, module variable or ``self._name`` attribute of its own) is
  another module's private name: the seams (``backprop.train.trainable``) are public instead;
* ``from backprop.x import _name`` likewise;
* inside ``backprop.sklearn`` the helper modules may use the estimator members declared in
  ``backprop.sklearn.internals`` (scikit-learn's own private attributes among them), no others.

The oracle is the rule itself: a module written to break it is caught (the last test).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

import backprop
from backprop.sklearn.internals import MEMBERS

ROOT = pathlib.Path(backprop.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))


def _private(name: str) -> bool:
    """An underscored name that is no protocol's: dunders and IPython's display methods
    (``_repr_html_``, ``_ipython_display_``) are public protocols with underscores."""
    if name.startswith("__") and name.endswith("__"):
        return False
    if re.fullmatch(r"_(repr|ipython)_\w+_", name):
        return False
    return name.startswith("_")


def _own_names(tree: ast.AST) -> set[str]:
    """The names a module defines: functions, classes, assigned names, its own self./cls. attributes."""
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            own.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            own.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            own.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return own


def violations(source: str, module: str) -> list[str]:
    """Where ``source`` (the module ``module``, e.g. "sklearn/rules.py") reaches a private name."""
    tree = ast.parse(source)
    own = _own_names(tree)
    allowed = MEMBERS if module.startswith("sklearn/") else frozenset()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in own or node.attr in allowed:
                continue
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("backprop"):
            found += [f"{module}:{node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if _private(a.name)]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_another_modules_private_names(path):
    module = str(path.relative_to(ROOT))
    assert violations(path.read_text(encoding="utf-8"), module) == []


def test_the_check_catches_what_it_should():
    bad = (
        "from backprop.fast.tiny import _compile\n"
        "def f(net, tr):\n"
        "    net._forward(1)\n"
        "    tr._epoch_loss = 0.0\n"
        "    return net.forward_into(1)\n"
    )
    assert sorted(v.split(": ", 1)[1] for v in violations(bad, "train/x.py")) == [
        "from backprop.fast.tiny import _compile", "net._forward", "tr._epoch_loss"]
    own = ("class A:\n    def __init__(self):\n        self._x = 1\n"
           "    def copy(self, o):\n        o._x = self._x\n")
    assert violations(own, "model/a.py") == []  # the module's own private attribute
    assert violations("def f(est):\n    return est._net\n", "sklearn/rules.py") == []  # declared
    assert violations("def f(est):\n    return est._net\n", "see/x.py") != []
    assert violations("def f(est):\n    return est._secret\n", "sklearn/rules.py") != []
    assert violations("def f(doc):\n    return doc._repr_html_()\n", "see/x.py") == []  # IPython's
