"""onnx: a trained model as an ONNX file, and backprop's estimators inside skl2onnx pipelines.

    backprop.onnx.export(net_or_estimator_or_path, "model.onnx")
    backprop.onnx.register()      # then skl2onnx.to_onnx(Pipeline([..., MLPClassifier()]), X[:1])

The exported graph is the whole prediction as ``backprop predict`` applies it: the standardisation
statistics of a ``backprop train`` model, every layer with its own activation, the output
activation, and for classifiers both the labels (as recorded) and the probabilities. Default-domain
operators of opset :data:`OPSET` only. Needs the ``onnx`` package (the ``onnx`` extra:
``pip install 'backprop-explicit[onnx]'``, or ``pip install -e '.[onnx]'`` in a clone of the source);
skl2onnx only for :func:`register`. See docs/onnx.md.
"""

from __future__ import annotations

from backprop.onnx.deps import MissingDependencyError, require

require("onnx", "backprop.onnx")

from backprop.onnx.export import export, to_onnx, write  # noqa: E402
from backprop.onnx.graph import IR_VERSION, OPSET  # noqa: E402
from backprop.onnx.skl import register  # noqa: E402

__all__ = ["export", "to_onnx", "write", "register", "OPSET", "IR_VERSION", "MissingDependencyError"]
