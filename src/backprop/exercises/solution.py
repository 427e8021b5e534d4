"""A problem's worked solution: :func:`backprop.explain` on the problem's network and samples."""

from __future__ import annotations

from typing import Any

from backprop.exercises.problem import Problem
from backprop.model.network import Network
from backprop.see.explain import Explanation, explain


def network(p: Problem) -> Network:
    """The problem's network as the engine's :class:`~backprop.Network` (float64)."""
    net = Network(p.sizes, hidden=p.hidden, output=p.output, dtype="float64", seed=0)
    for k in range(p.n_layers):
        net.weights[k][...] = p.weights[k]
        net.biases[k][...] = p.biases[k]
    return net


def worked(p: Problem, format: str, decimals: int) -> Explanation:
    """The update the problem asks for, worked out step by step (every unit and weight shown)."""
    kw: dict[str, Any] = {"lr": p.lr, "loss": p.loss, "format": format, "all": True, "digits": decimals + 1}
    net = network(p)
    if p.mode == "online":
        return explain(net, p.x[0], p.y[0], **kw)
    if p.mode == "batch":
        return explain(net, p.x, p.y, mode="batch", samples=p.m, **kw)
    return explain(net, p.train_x, p.train_y, mode="minibatch", samples=p.m, **kw)


__all__ = ["worked", "network"]
