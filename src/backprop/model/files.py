"""Network files: a Network's ``state_dict`` and ``config`` in the safetensors + JSON container.

``meta`` holds ``"network"`` (the :meth:`Network.config`: sizes, hidden, output, dtype, seed) and
``"metadata"`` (what the caller passed: loss, task, classes, feature_names, standardize, dataset,
history, ...). Tensors are the :meth:`Network.state_dict`: ``weights.k`` (the W^{k+1} of the
reference, shape (sizes[k], sizes[k+1])) and ``biases.k`` (the bias weights w_0j).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError, InvalidTypeError, ModelFileError
from backprop.io import registry, schema
from backprop.model.network import Network


def save(net: Network, path: str | os.PathLike, **metadata: Any) -> str | os.PathLike:
    """``net.save(path, **metadata)``: safetensors + JSON metadata, written atomically."""
    if not isinstance(net, Network):
        raise InvalidTypeError(f"save needs a backprop Network, got {type(net).__name__}")
    return net.save(path, **metadata)


def read_network(arrays: dict[str, np.ndarray], doc: dict[str, Any], path: str) -> Network:
    """The Network of a file's arrays and document, checked whole before it is built: the
    architecture and the metadata against :func:`backprop.io.schema.network_document`, the
    tensors' names, shapes, dtype and values against the architecture."""
    try:
        arch, user = schema.network_document(doc["meta"])
    except schema.Invalid as exc:
        raise ModelFileError(f"{path}: metadata {exc}") from None
    sizes = arch["sizes"]
    expected = Network.state_shapes(sizes)
    # shapes first: a network is only built once its size is backed by the file's bytes
    for name, shape in expected.items():
        if name not in arrays:
            raise ModelFileError(f"{path} is missing tensor {name!r} of the {sizes} network")
        if arrays[name].shape != shape:
            raise ModelFileError(f"{path}: tensor {name!r} has shape {list(arrays[name].shape)}, "
                                 f"the {sizes} network needs {list(shape)}")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise ModelFileError(f"{path} has tensors a {sizes} network does not use: {', '.join(extra[:10])}")
    for name in expected:
        a = arrays[name]
        if a.dtype != np.dtype(arch["dtype"]):
            raise ModelFileError(
                f"{path}: tensor {name!r} has dtype {a.dtype}, the network is {arch['dtype']}")
        if not np.isfinite(a).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinity")
    try:
        net = Network.from_config(arch, init="zeros")
    except (InvalidInputError, InvalidTypeError) as exc:  # the schema should have caught it
        raise ModelFileError(f"{path}: bad metadata: {exc}") from None
    net.load_state_dict(arrays)
    net.metadata = dict(user)
    net.metadata["format_version"] = doc["format_version"]
    net.metadata["library_version"] = doc.get("library_version")
    return net


def network_from_state(state: dict[str, Any]) -> Network:
    """A :class:`Network` with the architecture and current weights of a loaded checkpoint ``state``
    (see :func:`backprop.train.checkpoint.load_checkpoint`)."""
    net = Network.from_config(state["network"], init="zeros")
    net.load_state_dict(state["arrays"])
    return net


registry.register("network", read_network, cls=Network, writer=save)
