"""backprop: feedforward neural networks trained by explicit backpropagation.

The names follow the reference (``shared/reference/backpropagation.md``): ``h`` (affine
transformation), ``a`` (activation output), ``delta`` (error term), ``weights``/``biases`` (w, with
the bias weight w_0j kept apart), ``lr`` (eta).
"""

from . import activations, datasets, losses, optimizers
from .explain import explain
from .errors import (BackpropError, DivergenceError, InvalidInputError, InvalidTypeError,
                     ModelFileError)
from .gradcheck import GradcheckResult, gradcheck
from .io import load, save
from .network import Network, Trace
from .training import History, Trainer, fit

__version__ = "0.1.0"

__all__ = [
    "Network", "Trace", "History", "Trainer", "fit", "gradcheck", "GradcheckResult",
    "activations", "losses", "optimizers", "save", "load", "datasets",
    "BackpropError", "InvalidInputError", "InvalidTypeError", "DivergenceError", "ModelFileError",
    "MLPClassifier", "MLPRegressor", "explain",
]


def __getattr__(name):
    # the scikit-learn estimators import scikit-learn (~1 s): only when they are asked for
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")
