"""``backprop export``: a model file as an ONNX file that onnxruntime (or any ONNX runtime) runs.

The file computes what ``backprop predict`` does -- standardisation, every layer, the output
activation, the labels and probabilities of a classifier -- see :mod:`backprop.onnx` and
docs/onnx.md. It is written atomically; the ``onnx`` package is needed (the ``onnx`` extra).
"""

from __future__ import annotations

from typing import Any

import click

from backprop.cli.common import check_out_path, debug_option, same_file
from backprop.cli.errors import user_errors
from backprop.cli.model import check_model_file
from backprop.errors import InvalidInputError


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="The file format to write.")
@click.option("--out", required=True, type=click.Path(), help="The file to write, e.g. model.onnx.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]),
              help="Float type of the exported graph (default: the model's own).")
@debug_option
@user_errors
def export(model: Any, fmt: Any, out: Any, dtype: Any) -> Any:
    """Export MODEL (a file of `backprop train`, Network.save or MLPClassifier/MLPRegressor.save)
    to --out, e.g. `backprop export model.safetensors --format onnx --out model.onnx`.

    The graph takes raw feature rows X (N x features) and gives `label` and `probabilities` for a
    classifier, `variable` (N x outputs) for a regressor.
    """
    out = check_out_path(out)
    if same_file(out, model):
        raise InvalidInputError(f"--out {out!r} is the model file itself; choose another name")
    check_model_file(model)  # a data file in its place is named as such
    from backprop import onnx as bonnx  # the onnx package is an extra: only imported here

    proto = bonnx.to_onnx(model, dtype=dtype)
    bonnx.write(proto, out)
    props = {p.key: p.value for p in proto.metadata_props}
    outputs = ", ".join(o.name for o in proto.graph.output)
    n_in = proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    click.echo(f"wrote {out}: {props['backprop.task']} model, {props['backprop.dtype']}, ONNX opset "
               f"{bonnx.OPSET}; input X (N x {n_in}), outputs {outputs}")
    return 0
