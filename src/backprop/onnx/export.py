"""``backprop.onnx.export``: a model's whole prediction as one checked ONNX file, written atomically."""

from __future__ import annotations

import json
import os
from typing import Any

from backprop.errors import InvalidInputError
from backprop.io.atomic import atomic_write_bytes
from backprop.onnx import graph
from backprop.onnx.spec import Spec, spec_of
from backprop.version import __version__


def to_onnx(model: Any, *, dtype: str | None = None) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (a Network, a fitted MLPClassifier/MLPRegressor or a model
    file path), checked with ``onnx.checker.check_model(full_check=True)``. See :func:`export`."""
    import onnx

    spec = spec_of(model, dtype)
    proto = graph.model(spec, doc=_describe(spec))
    for key, value in _properties(spec).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug here, not the user's: say so plainly
        raise RuntimeError(f"the exported graph does not pass onnx.checker: {exc}") from exc
    return proto


def export(model: Any, path: str | os.PathLike, *, dtype: str | None = None) -> str | os.PathLike:
    """Write ``model``'s prediction to ``path`` as an ONNX file and return the path.

    ``model`` is a :class:`~backprop.Network` (its ``metadata`` says how inputs are standardised and
    what the outputs mean, as for ``backprop predict``), a fitted ``MLPClassifier``/``MLPRegressor``
    or the path of a model file (``backprop train``, ``Network.save``, the estimators' ``save``).

    The graph has one input ``X`` (rows of raw features, of the model's dtype, or ``dtype``) and
    the outputs ``label`` (the classes as recorded, strings included) and ``probabilities`` for a
    classifier, ``variable`` (N, n_outputs) for a regressor. The file is written atomically;
    a model with NaN or infinite parameters, or inconsistent metadata, is refused
    (:class:`~backprop.errors.InvalidInputError`, or ``ModelFileError`` for a bad file).
    """
    return write(to_onnx(model, dtype=dtype), path)


def write(proto: Any, path: str | os.PathLike) -> str | os.PathLike:
    """Write a ModelProto to ``path`` atomically (a reader never sees half a file)."""
    data = proto.SerializeToString()
    if not data:
        raise InvalidInputError("the model serialised to nothing")
    atomic_write_bytes(path, data)
    return path


def _describe(spec: Spec) -> str:
    acts = ", ".join(L.activation for L in spec.layers)
    sizes = [spec.n_features] + [L.weights.shape[1] for L in spec.layers]
    return (f"backprop {__version__}: {spec.task} network {sizes}"
            f" ({acts}), {spec.dtype.name}, from {spec.source}")


def _properties(spec: Spec) -> dict[str, str]:
    """metadata_props: what a reader of the file wants to know without running it."""
    props = {"backprop.task": spec.task, "backprop.dtype": spec.dtype.name,
             "backprop.standardized": json.dumps(spec.standardize is not None)}
    if spec.feature_names:
        props["backprop.feature_names"] = json.dumps(list(spec.feature_names))
    if spec.classes is not None:
        props["backprop.classes"] = json.dumps([c.item() if hasattr(c, "item") else c for c in spec.classes])
    return props
