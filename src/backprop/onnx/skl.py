"""backprop's estimators inside skl2onnx: a shape calculator and a converter for each.

After :func:`register`, ``skl2onnx.to_onnx`` converts a pipeline that contains a backprop
``MLPClassifier``/``MLPRegressor`` -- every activation, per-layer lists, float32 or float64 input --
with the nodes :func:`backprop.onnx.export` writes (:mod:`backprop.onnx.graph`): the estimator's
outputs are skl2onnx's usual ``label`` and ``probabilities`` (then its ZipMap, unless the option
``zipmap=False`` is given), or ``variable`` of shape (N, n_outputs).

skl2onnx stays optional: it is imported here only when :func:`register` runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.errors import InvalidInputError
from backprop.onnx import graph
from backprop.onnx.deps import require
from backprop.onnx.spec import spec_of

#: the aliases the converters are registered under
ALIASES = {"MLPClassifier": "BackpropMLPClassifier", "MLPRegressor": "BackpropMLPRegressor"}


class SklBuilder(graph.Builder):
    """The graph's nodes in a skl2onnx container, named by the scope."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope, self.container = scope, container

    def fresh(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.container.initializers.append(graph.tensor(value, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, out: str | None = None, **attrs: Any) -> str:
        out = out or self.fresh(hint)
        self.container.add_node(op, inputs, out, name=self.scope.get_unique_operator_name(op),
                                op_version=_op_version(op), **attrs)
        return out


def _op_version(op: str) -> int:
    # the opset each operator's form here appeared in (the axes input of Squeeze, Softmax's axis)
    return {"Squeeze": 13, "Softmax": 13, "Clip": 13, "GreaterOrEqual": 12}.get(op, 13)


def register() -> None:
    """Register the backprop estimators' shape calculators and converters with skl2onnx.

    Raises :class:`~backprop.onnx.MissingDependencyError` when skl2onnx is not installed.
    """
    require("skl2onnx", "backprop.onnx.register")
    from skl2onnx import update_registered_converter

    from backprop.sklearn import MLPClassifier, MLPRegressor

    update_registered_converter(MLPClassifier, ALIASES["MLPClassifier"], _classifier_shapes,
                                _convert_classifier,
                                options={"zipmap": [True, False, "columns"], "nocl": [False]})
    update_registered_converter(MLPRegressor, ALIASES["MLPRegressor"], _regressor_shapes, _convert_regressor)


def _types():
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    return DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType


def _float_type(operator):
    Double, Float, _, _ = _types()
    return Double if isinstance(operator.inputs[0].type, Double) else Float


def _classifier_shapes(operator) -> None:
    _, _, Int64, String = _types()
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    classes = _classes(est)
    multilabel = est.out_activation_ == "logistic" and est.n_outputs_ > 1
    if multilabel:
        operator.outputs[0].set_type(Int64([n, len(classes)]))
    else:
        operator.outputs[0].set_type(String([n]) if classes.dtype == object else Int64([n]))
    operator.outputs[1].set_type(_float_type(operator)([n, len(classes)]))


def _regressor_shapes(operator) -> None:
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(_float_type(operator)([n, int(est.n_outputs_)]))


def _classes(est) -> np.ndarray:
    """classes_ as skl2onnx's label types take them: strings, or int64 (bool and integral floats too)."""
    c = np.asarray(est.classes_)
    if c.dtype.kind in "OUS" and all(isinstance(v, str) for v in c.tolist()):
        return np.asarray(c.tolist(), dtype=object)
    if c.dtype.kind in "iub" or (c.dtype.kind == "f" and np.all(np.floor(c) == c)):
        return c.astype(np.int64)
    raise InvalidInputError(f"skl2onnx labels are strings or integers; classes_ {c.tolist()[:5]} are neither")


def _input(b: SklBuilder, operator, dtype: np.dtype) -> str:
    """The operator's input as the spec's dtype (an int64 or bool input is cast)."""
    from onnx import TensorProto

    x = operator.inputs[0].full_name
    Double, Float, _, _ = _types()
    if isinstance(operator.inputs[0].type, (Double, Float)):
        return x
    to = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    return b.node("Cast", [x], "cast_input", to=to)


def _spec(operator):
    Double, _, _, _ = _types()
    dtype = "float64" if isinstance(operator.inputs[0].type, Double) else "float32"
    return spec_of(operator.raw_operator, dtype)


def _convert_classifier(scope, operator, container) -> None:
    spec = _spec(operator)
    if spec.task == "classification":
        spec.classes = _classes(operator.raw_operator)
    b = SklBuilder(scope, container)
    graph.emit(b, spec, _input(b, operator, spec.dtype),
               outputs={"label": operator.outputs[0].full_name,
                        "probabilities": operator.outputs[1].full_name})


def _convert_regressor(scope, operator, container) -> None:
    spec = _spec(operator)
    b = SklBuilder(scope, container)
    graph.emit(b, spec, _input(b, operator, spec.dtype), outputs={"variable": operator.outputs[0].full_name})
