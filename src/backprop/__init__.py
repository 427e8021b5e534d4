"""backprop: feedforward neural networks trained by explicit backpropagation.

The names follow the project's reference (docs/reference.md): ``h`` (affine
transformation), ``a`` (activation output), ``delta`` (error term), ``weights``/``biases`` (w, with
the bias weight w_0j kept apart), ``lr`` (eta). The package is layered (see docs/architecture.md):
core, fast, io, train, model and data, then sklearn, see, distributed, playground and cli on top.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# light modules, no NumPy: importing ``backprop`` (as the command line does first) is instant, so
# the command line is in charge of Ctrl-C before anything slow is imported (see backprop.cli)
from backprop.errors import (
    BackpropError,
    DivergenceError,
    InvalidInputError,
    InvalidTypeError,
    ModelFileError,
)
from backprop.version import __version__

if TYPE_CHECKING:
    from backprop.core import activations, losses
    from backprop.data import datasets
    from backprop.io.registry import load, save
    from backprop.model.gradcheck import GradcheckResult, gradcheck
    from backprop.model.network import Network, Trace
    from backprop.see import plots
    from backprop.see.explain import explain
    from backprop.sklearn import MLPClassifier, MLPRegressor
    from backprop.train import checkpoint, optimizers
    from backprop.train.trainer import History, Trainer, fit

__all__ = [
    "Network", "Trace", "History", "Trainer", "fit", "gradcheck", "GradcheckResult",
    "activations", "losses", "optimizers", "checkpoint", "save", "load", "datasets",
    "BackpropError", "InvalidInputError", "InvalidTypeError", "DivergenceError", "ModelFileError",
    "MLPClassifier", "MLPRegressor", "explain", "plots", "__version__",
]

#: where each public name lives: (module, attribute; None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "activations": ("backprop.core.activations", None), "losses": ("backprop.core.losses", None),
    "datasets": ("backprop.data.datasets", None),
    "load": ("backprop.io.registry", "load"), "save": ("backprop.io.registry", "save"),
    "GradcheckResult": ("backprop.model.gradcheck", "GradcheckResult"),
    "gradcheck": ("backprop.model.gradcheck", "gradcheck"),
    "Network": ("backprop.model.network", "Network"), "Trace": ("backprop.model.network", "Trace"),
    "explain": ("backprop.see.explain", "explain"), "plots": ("backprop.see.plots", None),
    "checkpoint": ("backprop.train.checkpoint", None), "optimizers": ("backprop.train.optimizers", None),
    "History": ("backprop.train.trainer", "History"), "Trainer": ("backprop.train.trainer", "Trainer"),
    "fit": ("backprop.train.trainer", "fit"),
    # the scikit-learn estimators import scikit-learn (~1 s): only when they are asked for
    "MLPClassifier": ("backprop.sklearn", "MLPClassifier"),
    "MLPRegressor": ("backprop.sklearn", "MLPRegressor"),
}


def __getattr__(name: str) -> Any:
    """The public names, each imported on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'backprop' has no attribute {name!r}")
    module, attr = _LAZY[name]
    importlib.import_module("backprop.model")  # registers the "network" file kind for load/save
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
