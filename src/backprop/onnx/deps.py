"""The optional packages of :mod:`backprop.onnx`, and the one clear error when one is missing."""

from __future__ import annotations

import importlib.util

from backprop.errors import BackpropError
from backprop.version import install_hint

#: the pip requirement that brings each optional package
EXTRAS = {"onnx": install_hint("onnx"), "skl2onnx": "pip install skl2onnx"}


class MissingDependencyError(BackpropError, ImportError):
    """An optional package that a feature needs is not installed; the message says how to get it."""


def require(package: str, feature: str) -> None:
    """Raise :class:`MissingDependencyError` unless ``package`` can be imported."""
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(f"{feature} needs the {package} package, which is not installed: "
                                     f"{EXTRAS.get(package, 'pip install ' + package)}")
