"""What an exported model computes, read off a Network, a fitted estimator or a model file.

A :class:`Spec` is the whole prediction as ``backprop predict`` applies it, in plain arrays:

* ``standardize``: the training statistics (mean, scale) a ``backprop train`` model applies to raw
  features first, x <- (x - mean) / scale (None: the features go in as they are);
* ``layers``: per weight layer k, W^{k+1}, its bias weights and the activation g of that layer
  (each hidden layer its own; the last one is the output activation g_o);
* the meaning of the outputs: ``task`` "classification" (``classes`` as the model recorded them,
  and how one logistic unit is thresholded), "multilabel" (one logistic unit per label) or
  "regression" (with the target statistics a ``backprop train`` model undoes).

Everything is checked before it is trusted: shapes, finiteness, the statistics (scale > 0) and the
classes. A model read from a file has passed :func:`backprop.load`'s checks already; a Network or
estimator object built or edited in Python is checked here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from backprop.core import activations as _act
from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.io import registry, schema
from backprop.model.network import Network

#: output activations an estimator records (``out_activation_``), in the exported graph's terms
ESTIMATOR_OUTPUTS = {"identity": "identity", "softmax": "softmax", "logistic": "logistic", "exp": "exp"}


@dataclasses.dataclass
class Layer:
    """One weight layer: h = a W + b, a = g(h)."""

    weights: np.ndarray
    biases: np.ndarray
    activation: str  # an engine name, or "logistic" (scipy's expit, clipped) / "exp" for outputs
    alpha: float | None = None  # leaky_relu's and elu's parameter


@dataclasses.dataclass
class Spec:
    dtype: np.dtype
    layers: list[Layer]
    task: str  # "classification", "multilabel" or "regression"
    standardize: tuple[np.ndarray, np.ndarray] | None = None
    target_standardize: tuple[np.ndarray, np.ndarray] | None = None
    classes: np.ndarray | None = None
    #: one logistic unit: the class is classes[1] where p >= 0.5 ("ge", the CLI's rule) or p > 0.5
    #: ("gt", scikit-learn's LabelBinarizer)
    threshold: str = "ge"
    feature_names: list[str] | None = None
    source: str = "model"

    @property
    def n_features(self) -> int:
        return int(self.layers[0].weights.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.layers[-1].weights.shape[1])


def spec_of(obj: Any, dtype: str | None = None) -> Spec:
    """The :class:`Spec` of a Network, a fitted MLPClassifier/MLPRegressor or a model file path.

    ``dtype`` ("float32"/"float64") casts the parameters; None keeps the model's own.
    """
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        spec = spec_of(registry.load(path), dtype)  # ModelFileError for anything that is not a model
        spec.source = path
        return spec
    if isinstance(obj, Network):
        spec = _network_spec(obj)
    else:
        from backprop.sklearn.base import BaseMLP  # scikit-learn is slow to import: only when needed

        if not isinstance(obj, BaseMLP):
            raise InvalidTypeError(
                "export needs a backprop Network, a fitted backprop MLPClassifier/MLPRegressor or a "
                f"model file path, got {type(obj).__name__}")
        spec = _estimator_spec(obj)
    if dtype is not None:
        if dtype not in ("float32", "float64"):
            raise InvalidInputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        spec = _cast(spec, np.dtype(dtype))
    _check(spec)
    return spec


# -- a Network: its parameters and what its metadata says about inputs and outputs ---------------------
def _network_spec(net: Network) -> Spec:
    net.check_parameters()  # user-assigned arrays: the right shapes, the network's dtype
    meta = dict(getattr(net, "metadata", None) or {})
    try:  # the checks a file's metadata gets on load (statistics, classes, names)
        schema.network_metadata(net.sizes[0], net.sizes[-1], net.output).check(meta, "metadata")
    except schema.Invalid as exc:
        raise InvalidInputError(f"the network's {exc}; fix or remove it before exporting") from None
    layers = [Layer(w, b, act.name, getattr(act, "alpha", None))
              for w, b, act in zip(net.weights, net.biases, net.activations)]
    # the task as `backprop predict` infers it (backprop.cli.model)
    task = meta.get("task")
    if task not in ("classification", "regression"):
        probabilities = net.output in ("softmax", "sigmoid")
        task = "classification" if probabilities and meta.get("classes") else "regression"
    spec = Spec(net.dtype, layers, task, feature_names=meta.get("feature_names"), source="network")
    if task == "classification":
        classes = meta.get("classes") or list(range(max(2, net.sizes[-1])))
        spec.classes = _label_array(classes)
    if meta.get("standardize"):
        spec.standardize = _stats(meta["standardize"])
    if task == "regression" and meta.get("target_standardize"):
        spec.target_standardize = _stats(meta["target_standardize"])
    return spec


def _stats(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(stats["mean"], dtype=np.float64), np.asarray(stats["scale"], dtype=np.float64)


# -- a fitted estimator: coefs_, intercepts_, classes_ -----------------------------------------------------
def _estimator_spec(est: Any) -> Spec:
    from sklearn.exceptions import NotFittedError

    try:
        net = est.network()
    except NotFittedError:
        raise InvalidInputError(
            f"this {type(est).__name__} is not fitted yet; fit it before exporting") from None
    layers = [Layer(w, b, act.name, getattr(act, "alpha", None))
              for w, b, act in zip(net.weights, net.biases, net.activations)]
    out = est.out_activation_
    if out not in ESTIMATOR_OUTPUTS:
        raise InvalidInputError(f"the estimator's out_activation_ {out!r} is not one an MLP has")
    layers[-1].activation = ESTIMATOR_OUTPUTS[out]
    names = getattr(est, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    if not hasattr(est, "classes_"):
        return Spec(net.dtype, layers, "regression", feature_names=names, source="estimator")
    multilabel = out == "logistic" and net.sizes[-1] > 1
    spec = Spec(net.dtype, layers, "multilabel" if multilabel else "classification", threshold="gt",
                feature_names=names, source="estimator")
    spec.classes = _label_array(list(est.classes_))
    return spec


# -- checks ------------------------------------------------------------------------------------------------
def _label_array(classes: list) -> np.ndarray:
    """The classes as one ONNX-able array: int64, bool, float64 or str (as recorded)."""
    values = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if not all(-2**63 <= v < 2**63 for v in values):
            raise InvalidInputError("the model's integer classes do not fit ONNX's int64; use smaller labels")
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=object)
    kinds = sorted({type(v).__name__ for v in values})
    raise InvalidInputError(
        f"the model's classes mix {', '.join(kinds)} values, which no one ONNX tensor holds; "
        "refit it with labels of one type")


def _cast(spec: Spec, dtype: np.dtype) -> Spec:
    layers = [dataclasses.replace(L, weights=L.weights.astype(dtype), biases=L.biases.astype(dtype))
              for L in spec.layers]
    return dataclasses.replace(spec, dtype=dtype, layers=layers)


def _check_layers(spec: Spec) -> None:
    """Each layer: weights that follow the previous width, finite parameters, a known activation."""
    known = set(_act.ACTIVATIONS) | {"logistic", "exp"}
    width = spec.n_features
    for k, L in enumerate(spec.layers):
        if L.weights.ndim != 2 or L.weights.shape[0] != width or L.biases.shape != (L.weights.shape[1],):
            raise InvalidInputError(f"layer {k}'s weights {L.weights.shape} and biases {L.biases.shape} do "
                                    f"not follow a layer of width {width}")
        width = L.weights.shape[1]
        for what, p in (("weights", L.weights), ("biases", L.biases)):
            if not np.isfinite(p).all():
                raise InvalidInputError(f"{what}[{k}] holds NaN or infinity; the model diverged. Train it "
                                        "again before exporting it")
        if L.activation not in known:
            raise InvalidInputError(f"layer {k}'s activation {L.activation!r} has no ONNX form here")
        if L.activation == "softmax" and k != len(spec.layers) - 1:
            raise InvalidInputError("softmax is for the output layer only")


def _check(spec: Spec) -> None:
    """Shapes that chain, finite parameters and statistics, activations the graph knows."""
    _check_layers(spec)
    for what, stats, n in (("standardize", spec.standardize, spec.n_features),
                           ("target_standardize", spec.target_standardize, spec.n_outputs)):
        if stats is None:
            continue
        mean, scale = stats
        if mean.shape != (n,) or scale.shape != (n,):
            raise InvalidInputError(f"the {what} statistics have {mean.size} means and {scale.size} scales; "
                                    f"the network has {n} columns there")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise InvalidInputError(f"the {what} statistics must be finite with scales > 0")
    if spec.task != "regression":
        n_out = spec.n_outputs
        n = 0 if spec.classes is None else len(spec.classes)
        want = n_out if spec.task == "multilabel" or n_out > 1 else 2
        if n != want:
            raise InvalidInputError(f"the model records {n} classes but its {n_out} outputs predict {want}")
