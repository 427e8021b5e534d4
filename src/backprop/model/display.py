"""Rich display in notebooks: :class:`Network` and :class:`Trace` as HTML tables.

The symbols are the reference's: layer k (1 = the first hidden layer, the last = the output
layer), h_j^k, a_j^k, delta_j^k for sample d, w_ij^k with the bias weight w_0j^k as row i = 0 (the
link from the constant input x_0 = 1), dE/dw_ij^k of eq. (3). A two-layer network also gets the
worked example's names: v (input -> hidden) and w (hidden -> output). Matrices small enough are
shown entry by entry; larger ones as their shape and a few statistics
(:mod:`backprop.train.display`), so a 784-512-256-10 network's display stays a few kilobytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backprop.train.display import esc, expect, items, matrix, num, stats, sym, table, wrap


def _weight_name(k: int, n_layers: int) -> str:
    """The reference's symbol of layer k's weights (k from 1): v, w in the two-layer example."""
    if n_layers == 2:
        return ("v" if k == 1 else "w") + "<sub>ij</sub>"
    return sym("w", "ij", str(k))


def _role(k: int, n_layers: int) -> str:
    if k == n_layers:
        return "output (o)" if n_layers == 2 else "output"
    return "hidden (h)" if n_layers == 2 else "hidden"


def _with_bias(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The reference's (n_{k-1} + 1) x n_k matrix: the bias weights w_0j as row i = 0."""
    return np.vstack([np.asarray(b, np.float64).reshape(1, -1), np.asarray(W, np.float64)])


def layers_html(sizes: Sequence[int], activations: Sequence[str], weights: Sequence[np.ndarray],
                biases: Sequence[np.ndarray]) -> str:
    """The layers of a network: a summary row each, then each (small) weight matrix in full."""
    L = len(weights)
    rows = []
    for k in range(1, L + 1):
        W = np.asarray(weights[k - 1], np.float64)
        rows.append([f"k = {k}", _role(k, L), f"{sizes[k - 1]} → {sizes[k]}", esc(activations[k - 1]),
                     _weight_name(k, L) + f": {stats(W)}", stats(biases[k - 1])])
    g = sym("g", "", "k")
    out = table(["layer", "role", "units", f"{g}", "weights", "bias weights w<sub>0j</sub>"], rows)
    for k in range(1, L + 1):
        W = _with_bias(weights[k - 1], biases[k - 1])
        out += matrix(W, caption=f"layer {k}: {_weight_name(k, L)} (row i = 0: the bias weight)",
                      row_label="i", col_label="j", row_start=0,
                      row_names=["i = 0 (bias)"] + [f"i = {i}" for i in range(1, W.shape[0])],
                      data={"symbol": "w", "layer": k})
    return out


def metadata_html(metadata: Mapping[str, Any]) -> str:
    """What a model file stored beside the weights that a reader wants to see (escaped, bounded)."""
    rows = []
    for key in ("loss", "task", "dataset"):
        if metadata.get(key) is not None:
            rows.append([esc(key), esc(metadata[key])])
    for key in ("classes", "feature_names"):
        vals = metadata.get(key)
        if isinstance(vals, (list, tuple)) and vals:
            rows.append([esc(key), f"{len(vals)}: {items(vals)}"])
    return table(["", "value"], rows, caption="metadata") if rows else ""


def _shape_problem(net: Any) -> str:
    """What is wrong with user-assigned ``weights``/``biases`` (not changing them), or ""."""
    for name, params, shape_of in (("weights", net.weights, lambda k: (net.sizes[k], net.sizes[k + 1])),
                                   ("biases", net.biases, lambda k: (net.sizes[k + 1],))):
        if len(params) != net.n_layers:
            return f"net.{name} has {len(params)} arrays, expected {net.n_layers}"
        for k, p in enumerate(params):
            if np.shape(p) != shape_of(k):
                return f"net.{name}[{k}] has shape {np.shape(p)}, expected {shape_of(k)}"
    return ""


def network_html(net: Any) -> str:
    """A :class:`Network` as HTML: architecture, each layer's weights (in full when small)."""
    expect(net, "Network", "backprop.model.network", "network_html")
    acts = list(net.hidden) + [net.output]
    title = (f"Network {'-'.join(str(n) for n in net.sizes)} ({esc(', '.join(acts))}), "
             f"{net.n_parameters:,} parameters, {esc(net.dtype.name)}")
    problem = _shape_problem(net)
    if problem:  # user-assigned parameters of the wrong shape: say so, as predict would
        return wrap(title, f"<p>{esc(problem)}</p>")
    body = layers_html(net.sizes, acts, net.weights, net.biases)
    body += metadata_html(getattr(net, "metadata", None) or {})
    return wrap(title, body)


def trace_html(trace: Any) -> str:
    """A :class:`Trace` as HTML: E, then per layer k h^k, a^k, delta^k (a row per sample d) and
    eq. (3)'s dE/dw^k (with the bias weights as row i = 0)."""
    expect(trace, "Trace", "backprop.model.network", "trace_html")
    L = len(trace.h)
    m = int(np.asarray(trace.x).shape[0])
    title = f"Trace of {m} sample{'s' if m != 1 else ''}: E = {num(trace.loss)}"
    body = matrix(trace.x, caption="input " + sym("a", "i", "0") + " = x<sub>i</sub>", row_label="d",
                  col_label="i", data={"symbol": "x", "layer": 0})
    rows = []
    for k in range(1, L + 1):
        d = np.asarray(trace.delta[k - 1], np.float64)
        gw = np.asarray(trace.grad_weights[k - 1], np.float64)
        rows.append([f"k = {k}", _role(k, L), str(d.shape[1]), num(np.abs(d).mean()),
                     num(np.linalg.norm(gw))])
    body += table(["layer", "role", "units", "mean |" + sym("δ", "j", "k") + "|",
                   "‖∂E/∂" + sym("w", "ij", "k") + "‖"], rows, caption="per layer")
    for k in range(1, L + 1):
        parts = []
        for name, arr, symbol in (("h", trace.h, sym("h", "j", str(k))),
                                  ("a", trace.a, sym("a", "j", str(k))),
                                  ("delta", trace.delta, sym("δ", "j", str(k)))):
            parts.append(matrix(arr[k - 1], caption=symbol, row_label="d", col_label="j",
                                data={"symbol": name, "layer": k}))
        grad = _with_bias(trace.grad_weights[k - 1], trace.grad_biases[k - 1])
        caption = "∂E/∂" + _weight_name(k, L) + ", eq. (3) (row i = 0: the bias weight)"
        parts.append(matrix(grad, caption=caption,
                            row_label="i", col_label="j", row_start=0,
                            row_names=["i = 0 (bias)"] + [f"i = {i}" for i in range(1, grad.shape[0])],
                            data={"symbol": "grad", "layer": k}))
        body += (f"<details{' open' if k == L or L <= 3 else ''}><summary>layer {k}, {_role(k, L)}"
                 f"</summary>{''.join(parts)}</details>")
    return wrap(title, body)


__all__ = ["network_html", "trace_html", "layers_html", "metadata_html"]
