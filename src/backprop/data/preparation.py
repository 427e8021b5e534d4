"""Data into the network's space: the output layer a target asks for, and the inputs and targets
as the network takes them. The one place every surface (the command line, the playground, later
ones) prepares its data; what a surface decides for itself is a :class:`Defaults`.

What differs between the surfaces is only what they choose when the user leaves the output
activation and the loss open (docs/architecture.md has the table):

* :data:`COMMAND_LINE`: softmax + cross-entropy for any number of classes -- the usual choice for
  a classifier (and what scikit-learn's estimators do for more than two classes);
* :data:`PLAYGROUND`: for two classes one sigmoid unit trained with E = MSE, the reference's own
  worked example (a 2-2-1 sigmoid network and E = 1/(2m) sum (yhat - y)^2), so the formula
  panels show the equations the learner reads; softmax + cross-entropy for more classes.

Regression takes an identity output and MSE on both, with the targets standardized.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike

from backprop.core.losses import get as get_loss
from backprop.data import targets as _targets
from backprop.data.preprocessing import apply_standardize, find_classes, fit_standardize
from backprop.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class Defaults:
    """What a surface chooses when the output activation and the loss are left open."""

    #: the output activation for two classes (more classes: softmax)
    two_classes: str
    #: the loss of a sigmoid output (softmax: cross-entropy; any other: MSE)
    sigmoid_loss: str
    #: outputs that code two classes as one 0/1 unit (else one unit per class)
    one_unit: tuple[str, ...]
    #: the end of the message for a target with one class, and for numbers under a softmax output
    one_class_hint: str = ""
    numbers_hint: str = ""


COMMAND_LINE = Defaults(
    two_classes="softmax", sigmoid_loss="binary_cross_entropy", one_unit=("sigmoid",),
    one_class_hint="a classifier needs at least two (use --task regression for numbers)",
    numbers_hint="use --output identity, or --task classification if they are class labels")
PLAYGROUND = Defaults(
    two_classes="sigmoid", sigmoid_loss="mse", one_unit=("sigmoid", "tanh", "identity"),
    one_class_hint="choose another column", numbers_hint="use the identity output")


@dataclasses.dataclass
class OutputLayer:
    """The output activation, the loss and the number of output units for a target."""

    output: str
    loss: str
    n_out: int
    classes: list | None  # the labels in output order (classification)


def output_layer(task: str, y: np.ndarray, *, classes: list | None = None, more_y: tuple = (),
                 output: str | None = None, loss: str | None = None, defaults: Defaults = COMMAND_LINE,
                 target: object = None, source: str | None = None) -> OutputLayer:
    """The output layer for targets ``y`` of ``task`` ("classification" or "regression"): what the
    user gave (``output``, ``loss``) or the surface's ``defaults``. ``classes``: the labels when
    the data set names them (else found in ``y`` and ``more_y``, e.g. the test part's targets).
    A combination that cannot fit (one class, numbers under softmax, a loss made for another
    output) is an :class:`InvalidInputError` naming the target (and the data, ``source``)."""
    if task == "classification":
        classes = list(classes) if classes else find_classes(y, *more_y)
        if len(classes) < 2:
            of = f" of {source}" if source else ""
            raise InvalidInputError(f"the target {target!r}{of} has one class only ({classes[0]!r}); "
                                    f"{defaults.one_class_hint}")
        output = output or (defaults.two_classes if len(classes) == 2 else "softmax")
        n_out = 1 if (output in defaults.one_unit and len(classes) == 2) else len(classes)
    else:
        classes = None
        output = output or "identity"
        if output == "softmax":
            raise InvalidInputError(f"the target {target!r} holds numbers (regression), which a softmax "
                                    f"output cannot produce; {defaults.numbers_hint}")
        n_out = 1 if np.ndim(y) == 1 else int(np.shape(y)[1])
    if output == "softmax" and n_out < 2:
        raise InvalidInputError("a softmax output needs at least 2 classes")
    if loss is None:
        loss = {"softmax": "cross_entropy", "sigmoid": defaults.sigmoid_loss}.get(output, "mse")
    get_loss(loss).check_output(output)  # a mismatch (BCE without sigmoid, ...) says what fits
    return OutputLayer(output, loss, n_out, classes)


@dataclasses.dataclass
class Prepared:
    """How rows go into the network's space: the statistics fitted on the training rows and the
    model's description of its targets (``meta``: task, classes, target_standardize)."""

    layer: OutputLayer
    meta: dict
    standardize: dict | None
    dtype: np.dtype

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """a^0 of these rows: standardized with the training rows' statistics, in the dtype."""
        if self.standardize:
            return apply_standardize(X, self.standardize, self.dtype)
        return np.ascontiguousarray(X, dtype=self.dtype)

    def targets(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Y as the network takes it, the truth to score against): one-hot rows, a 0/1 column for
        one unit, or the (standardized) numbers (:func:`backprop.data.targets.encode`)."""
        return _targets.encode(y, self.meta, self.layer.n_out, self.dtype)


def prepare(task: str, X_fit: np.ndarray, y_fit: np.ndarray, layer: OutputLayer, *,
            dtype: DTypeLike = np.float32, standardize: bool = True, standardize_targets: bool = True,
            fit_stats: Callable[[np.ndarray, str], dict] | None = None) -> Prepared:
    """Fit what the network's space needs on the training rows (``X_fit``, ``y_fit``): the inputs'
    and (regression) the targets' standardization. ``fit_stats(A, what)`` fits one of them, ``what``
    "inputs" or "targets" (default :func:`fit_standardize`; a surface may word its errors)."""
    fit = fit_stats or (lambda A, what: fit_standardize(A))
    meta: dict = {"task": task}
    if layer.classes is not None:
        meta["classes"] = layer.classes
    stats = fit(X_fit, "inputs") if standardize else None
    if task == "regression" and standardize_targets:
        Yf = np.asarray(y_fit, np.float64).reshape(len(y_fit), -1)
        meta["target_standardize"] = fit(Yf, "targets")
    return Prepared(layer, meta, stats, np.dtype(dtype))


__all__ = ["Defaults", "COMMAND_LINE", "PLAYGROUND", "OutputLayer", "output_layer", "Prepared", "prepare"]
