"""The ONNX nodes of a :class:`~backprop.onnx.spec.Spec`: standardisation, layers, outputs.

The nodes are written through a small :class:`Builder` -- fresh names, constants, one node at a
time -- so the same code fills a stand-alone model (:class:`ModelBuilder`, used by
:func:`backprop.onnx.export`) and a skl2onnx container (:mod:`backprop.onnx.skl`).

Each activation is written as the engine computes it (:mod:`backprop.core.activations`), so
onnxruntime's numbers agree with ``predict`` to the rounding of the dtype:

=============  ==========================================================================
identity       nothing
sigmoid        (1 + tanh(h / 2)) / 2   (the engine's form; a hidden or Network output unit)
logistic       Sigmoid, clipped to [eps/2, 1 - eps/2]  (an estimator's output unit, scipy's expit)
tanh, relu     Tanh, Relu
leaky_relu     max(h, alpha h)
elu            alpha expm1(h) for h <= 0 (expm1 through tanh), else h
softplus       max(h, 0) + log1p(e^-|h|)  (NumPy's logaddexp; log1p by Kahan's formula)
gelu           h/2 (1 + tanh(c (h + 0.044715 h^3))), c = sqrt(2/pi), in the engine's order
softmax        Softmax(axis=-1)
exp            Exp  (the Poisson regressor's output)
=============  ==========================================================================

Only operators of the default domain are used (ai.onnx.ml is not needed): the labels are a
``Gather`` from a constant tensor of the classes, strings included.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

#: the default-domain opset of exported files (every node here exists unchanged since opset 13)
OPSET = 17
#: the IR version written with it (onnxruntime reads IR 3 to 11)
IR_VERSION = 8

PROTO_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class Builder:
    """Where the nodes go. Subclasses give names, constants and nodes a home."""

    def fresh(self, hint: str) -> str:
        raise NotImplementedError

    def const(self, value: np.ndarray, hint: str) -> str:
        raise NotImplementedError

    def node(self, op: str, inputs: list[str], hint: str, out: str | None = None, **attrs: Any) -> str:
        raise NotImplementedError


class ModelBuilder(Builder):
    """Nodes and initializers of one stand-alone graph."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()

    def fresh(self, hint: str) -> str:
        name, i = hint, 0
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        self._used.add(name)
        return name

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(tensor(value, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, out: str | None = None, **attrs: Any) -> str:
        out = out or self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(f"{hint}_{op}"), **attrs))
        return out


def tensor(value: np.ndarray, name: str) -> Any:
    """A TensorProto of ``value``; str/object arrays become UTF-8 string tensors."""
    value = np.asarray(value)
    if value.dtype.kind in "OU":
        utf8: list = [str(v).encode("utf-8") for v in value.ravel()]
        return helper.make_tensor(name, TensorProto.STRING, value.shape, utf8)
    return numpy_helper.from_array(value, name)


def label_type(classes: np.ndarray) -> int:
    """The ONNX element type of a classes array (see :func:`backprop.onnx.spec._label_array`)."""
    if classes.dtype.kind in "OU":
        return TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(classes.dtype)


def emit(b: Builder, spec: Any, x: str, outputs: dict[str, str] | None = None) -> dict[str, str]:
    """Write the nodes from the input ``x`` (of the spec's dtype) to the outputs; returns their
    names: {"label", "probabilities"} for classifiers, {"variable"} for regressors. ``outputs``
    fixes the names of the final outputs (a skl2onnx operator's)."""
    outputs = outputs or {}
    dt = spec.dtype
    if spec.standardize is not None:
        mean, scale = spec.standardize
        x = b.node("Sub", [x, b.const(mean.astype(dt), "mean")], "centered")
        x = b.node("Div", [x, b.const(scale.astype(dt), "scale")], "standardized")
    a = x
    for k, layer in enumerate(spec.layers):
        h = b.node("MatMul", [a, b.const(layer.weights, f"W{k + 1}")], f"hW{k + 1}")
        h = b.node("Add", [h, b.const(layer.biases, f"b{k + 1}")], f"h{k + 1}")
        a = activation(b, layer.activation, h, dt, f"a{k + 1}", layer.alpha)
    if spec.task == "regression":
        if spec.target_standardize is not None:
            mean, scale = spec.target_standardize
            a = b.node("Mul", [a, b.const(scale.astype(dt), "target_scale")], "unscaled")
            return {"variable": b.node("Add", [a, b.const(mean.astype(dt), "target_mean")], "variable",
                                       out=outputs.get("variable"))}
        return {"variable": b.node("Identity", [a], "variable", out=outputs.get("variable"))}
    if spec.task == "multilabel":  # one logistic unit per label: the indicator matrix p > 0.5
        half = b.const(np.array(0.5, dt), "half")
        on = b.node("Greater", [a, half], "on")
        label = b.node("Cast", [on], "label", out=outputs.get("label"), to=TensorProto.INT64)
        proba = b.node("Identity", [a], "probabilities", out=outputs.get("probabilities"))
        return {"label": label, "probabilities": proba}
    if spec.n_outputs == 1:  # one unit: p of the second class; both columns, as predict_proba
        p = a
        one = b.const(np.array(1.0, dt), "one")
        proba = b.node("Concat", [b.node("Sub", [one, p], "p_other"), p], "probabilities",
                       out=outputs.get("probabilities"), axis=1)
        op = "GreaterOrEqual" if spec.threshold == "ge" else "Greater"
        second = b.node(op, [p, b.const(np.array(0.5, dt), "half")], "second")
        index = b.node("Cast", [b.node("Squeeze", [second, b.const(np.array([1], np.int64), "axis1")],
                                       "second_row")], "index", to=TensorProto.INT64)
    else:
        proba = b.node("Identity", [a], "probabilities", out=outputs.get("probabilities"))
        index = b.node("ArgMax", [a], "index", axis=1, keepdims=0)
    label = b.node("Gather", [b.const(spec.classes, "classes"), index], "label", out=outputs.get("label"),
                   axis=0)
    return {"label": label, "probabilities": proba}


def activation(b: Builder, name: str, h: str, dt: np.dtype, hint: str, alpha: float | None = None) -> str:
    """a = g(h) as the engine computes it (module docstring)."""

    def c(v: float, what: str) -> str:
        return b.const(np.array(v, dt), what)

    if name == "identity":
        return h
    if name == "sigmoid":  # (1 + tanh(h/2)) / 2, the engine's overflow-free form
        t = b.node("Tanh", [b.node("Mul", [h, c(0.5, "half")], f"{hint}_half")], f"{hint}_tanh")
        t = b.node("Mul", [t, c(0.5, "half")], f"{hint}_scaled")
        return b.node("Add", [t, c(0.5, "half")], hint)
    if name == "logistic":  # scipy's expit, kept inside [eps/2, 1 - eps/2] as the estimator does
        half_eps = float(np.finfo(dt).eps) / 2
        p = b.node("Sigmoid", [h], f"{hint}_expit")
        return b.node("Clip", [p, c(half_eps, "half_eps"), c(1 - half_eps, "one_minus_half_eps")], hint)
    if name == "leaky_relu":  # max(h, alpha h), as the engine (onnxruntime's LeakyRelu is float32 only)
        ah = b.node("Mul", [h, c(float(0.01 if alpha is None else alpha), "leaky_alpha")], f"{hint}_ah")
        return b.node("Max", [h, ah], hint)
    if name == "softplus":  # logaddexp(0, h) = max(h, 0) + log1p(e^-|h|), as NumPy (Softplus: float32 only)
        e = b.node("Exp", [b.node("Neg", [b.node("Abs", [h], f"{hint}_abs")], f"{hint}_negabs")], f"{hint}_e")
        return b.node("Add", [b.node("Relu", [h], f"{hint}_pos"), log1p(b, e, dt, f"{hint}_log1p")], hint)
    if name == "elu":  # alpha expm1(min(h, 0)) where h <= 0, else h (ONNX's Elu has no float64 kernel
        # in onnxruntime, and exp(h) - 1 loses the digits of small h): expm1(x) = 2t / (1 - t), t = tanh(x/2)
        neg = b.node("Min", [h, c(0.0, "zero")], f"{hint}_neg")
        t = b.node("Tanh", [b.node("Mul", [neg, c(0.5, "half")], f"{hint}_half")], f"{hint}_tanh")
        em1 = b.node("Div", [b.node("Add", [t, t], f"{hint}_2t"),
                             b.node("Sub", [c(1.0, "one"), t], f"{hint}_1mt")], f"{hint}_expm1")
        em1 = b.node("Mul", [em1, c(float(1.0 if alpha is None else alpha), "elu_alpha")], f"{hint}_scaled")
        return b.node("Where", [b.node("Greater", [h, c(0.0, "zero")], f"{hint}_pos"), h, em1], hint)
    if name == "gelu":  # u = ((h h) K + 1) h C; a = (tanh u + 1) h / 2 -- the engine's order
        u = b.node("Mul", [h, h], f"{hint}_h2")
        u = b.node("Mul", [u, c(0.044715, "gelu_k")], f"{hint}_kh2")
        u = b.node("Add", [u, c(1.0, "one")], f"{hint}_1kh2")
        u = b.node("Mul", [u, h], f"{hint}_poly")
        u = b.node("Mul", [u, c(math.sqrt(2.0 / math.pi), "gelu_c")], f"{hint}_u")
        t = b.node("Add", [b.node("Tanh", [u], f"{hint}_tanh"), c(1.0, "one")], f"{hint}_1t")
        t = b.node("Mul", [t, h], f"{hint}_ht")
        return b.node("Mul", [t, c(0.5, "half")], hint)
    if name == "softmax":
        return b.node("Softmax", [h], hint, axis=-1)
    simple = {"tanh": "Tanh", "relu": "Relu", "exp": "Exp"}
    return b.node(simple[name], [h], hint)


def log1p(b: Builder, x: str, dt: np.dtype, hint: str) -> str:
    """log(1 + x) for x >= 0 to the last digits (Kahan: u = 1 + x; log(u) x / (u - 1), or x where u
    rounds to 1). ONNX has no Log1p."""
    one = b.const(np.array(1.0, dt), "one")
    u = b.node("Add", [x, one], f"{hint}_u")
    d = b.node("Sub", [u, one], f"{hint}_d")
    ratio = b.node("Where", [b.node("Equal", [d, b.const(np.array(0.0, dt), "zero")], f"{hint}_tiny"), one,
                             b.node("Div", [x, d], f"{hint}_xd")], f"{hint}_ratio")
    return b.node("Mul", [b.node("Log", [u], f"{hint}_log"), ratio], hint)


def model(spec: Any, *, input_name: str = "X", doc: str = "") -> ModelProto:
    """A stand-alone ONNX ModelProto of ``spec``: input ``X`` (N, n_features) of the spec's dtype."""
    b = ModelBuilder()
    x = b.reserve(input_name)
    names = {"label": b.reserve("label"), "probabilities": b.reserve("probabilities"),
             "variable": b.reserve("variable")}
    out = emit(b, spec, x, outputs=names)
    elem = PROTO_TYPES[np.dtype(spec.dtype)]
    inputs = [helper.make_tensor_value_info(x, elem, ["N", spec.n_features])]
    if spec.task == "regression":
        outputs = [helper.make_tensor_value_info(out["variable"], elem, ["N", spec.n_outputs])]
    else:
        n_cols = 2 if spec.task == "classification" and spec.n_outputs == 1 else spec.n_outputs
        label_shape = ["N", spec.n_outputs] if spec.task == "multilabel" else ["N"]
        label_elem = TensorProto.INT64 if spec.task == "multilabel" else label_type(spec.classes)
        outputs = [helper.make_tensor_value_info(out["label"], label_elem, label_shape),
                   helper.make_tensor_value_info(out["probabilities"], elem, ["N", n_cols])]
    graph = helper.make_graph(b.nodes, "backprop", inputs, outputs, b.initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="backprop",
                          doc_string=doc)
    m.ir_version = IR_VERSION
    return m
