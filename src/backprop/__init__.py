"""backprop: feedforward neural networks trained by explicit backpropagation.

The names follow the reference (``shared/reference/backpropagation.md``): ``h`` (affine
transformation), ``a`` (activation output), ``delta`` (error term), ``weights``/``biases`` (w, with
the bias weight w_0j kept apart), ``lr`` (eta). The package is layered (see docs/architecture.md):
core, fast, io, train, model and data, then sklearn, see, distributed, playground and cli on top.
"""

from backprop.core import activations, losses
from backprop.data import datasets
from backprop.errors import (
    BackpropError,
    DivergenceError,
    InvalidInputError,
    InvalidTypeError,
    ModelFileError,
)
from backprop.io.registry import load, save
from backprop.model import files as _network_files  # noqa: F401 -- registers the "network" kind
from backprop.model.gradcheck import GradcheckResult, gradcheck
from backprop.model.network import Network, Trace
from backprop.see import plots
from backprop.see.explain import explain
from backprop.train import checkpoint, optimizers
from backprop.train.trainer import History, Trainer, fit
from backprop.version import __version__

__all__ = [
    "Network", "Trace", "History", "Trainer", "fit", "gradcheck", "GradcheckResult",
    "activations", "losses", "optimizers", "checkpoint", "save", "load", "datasets",
    "BackpropError", "InvalidInputError", "InvalidTypeError", "DivergenceError", "ModelFileError",
    "MLPClassifier", "MLPRegressor", "explain", "plots", "__version__",
]


def __getattr__(name):
    # the scikit-learn estimators import scikit-learn (~1 s): only when they are asked for
    if name in ("MLPClassifier", "MLPRegressor"):
        from backprop import sklearn as estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")
