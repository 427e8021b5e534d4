"""The numbers behind one unit or one weight of the last update, for the page's formula panels.

All values come from the engine's trace of that update (``Trainer.step(trace=True)``): the
weights are those *before* the update (the ones the forward and backward passes used), except
``w_after``. Layer numbers follow the reference: a unit of layer l (0 = input, L = output) and
the weight ``weights[k][i][j]``, the reference's w_ij^{k+1}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.errors import InvalidInputError

MAX_ROWS = 1000  # per-sample rows of eq. (1) listed for one weight


class NoStepError(InvalidInputError):
    """No update has been made yet (HTTP 409)."""


def _last(session):
    if session.last is None:
        raise NoStepError("no update yet: make one update (or one phase) first")
    return session.last


def _index(v, name, n):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
        raise InvalidInputError(f"{name} must be an integer from 0 to {n - 1}, got {v!r}")
    return v


def unit(session: Any, layer: int, j: int, sample: int = 0) -> dict:
    """h_j, a_j and delta_j of unit j of layer ``layer`` for batch row ``sample`` of the last update."""
    s = _last(session)
    net = session.net
    L = net.n_layers
    layer = _index(layer, "layer", L + 1)
    j = _index(j, "unit", net.sizes[layer])
    m = len(s["batch"])
    sample = _index(sample, "sample", m)
    out = {"layer": layer, "unit": j, "sample": sample, "row": int(s["batch"][sample]), "batch_size": m,
           "phase": session.phase, "L": L}
    x = s["x"][sample]
    if layer == 0:
        out.update(kind="input", a=float(x[j]), feature=session.data.feature_names[j])
        return out
    k = layer - 1
    a_prev = x if k == 0 else s["a"][k - 1][sample]
    W, b = s["weights_before"][k], s["biases_before"][k]
    act = net.activations[k]
    h = float(s["h"][k][sample, j])
    a = float(s["a"][k][sample, j])
    out.update(kind="output" if layer == L else "hidden", activation=act.name,
               inputs=[{"i": i, "a": float(a_prev[i]), "w": float(W[i, j])} for i in range(W.shape[0])],
               bias=float(b[j]), h=h, a=a)
    hrow = s["h"][k][sample:sample + 1]
    out["g_prime"] = (float(act.derivative(hrow, s["a"][k][sample:sample + 1])[0, j])
                      if act.elementwise else None)
    if session.phase < 2:
        return out
    out["delta"] = float(s["delta"][k][sample, j])
    if layer == L:
        loss = session.data.loss
        out.update(eq=2, loss=loss, y=float(s["y"][sample, j]), yhat=a,
                   matched=loss in ("binary_cross_entropy", "cross_entropy"))
    else:
        Wn = s["weights_before"][k + 1]
        dn = s["delta"][k + 1][sample]
        nxt = [{"k": q, "delta": float(dn[q]), "w": float(Wn[j, q])} for q in range(Wn.shape[1])]
        out.update(eq=4, next=nxt, sum=float(np.dot(Wn[j], dn)))
    return out


def weight(session: Any, layer: int, i: int | str, j: int) -> dict:
    """w_ij of ``weights[layer]`` (``i="bias"``: the bias b_j) in the last update: eqs. (1), (3), (5)."""
    s = _last(session)
    net = session.net
    k = _index(layer, "layer", net.n_layers)
    bias = i == "bias"
    i = -1 if bias else _index(i, "i", net.sizes[k])
    j = _index(j, "j", net.sizes[k + 1])
    before = s["biases_before"][k][j] if bias else s["weights_before"][k][i, j]
    out = {"layer": k, "i": "bias" if bias else i, "j": j, "phase": session.phase, "w_before": float(before),
           "batch_size": len(s["batch"])}
    if session.phase < 2:
        return out
    delta = s["delta"][k][:, j]
    a_prev = np.ones_like(delta) if bias else (s["x"] if k == 0 else s["a"][k - 1])[:, i]
    grads = delta * a_prev  # eq. (1), one row per sample
    rows = [{"sample": d, "row": int(s["batch"][d]), "delta": float(delta[d]), "a": float(a_prev[d]),
             "grad": float(grads[d])} for d in range(min(len(grads), MAX_ROWS))]
    out.update(per_sample=rows, truncated=len(grads) > MAX_ROWS)
    if session.phase < 3:
        return out
    out["mean"] = float(s["grad_biases"][k][j] if bias else s["grad_weights"][k][i, j])  # eq. (3)
    if session.phase < 4:
        return out
    cfg = session.cfg
    l2 = 0.0 if bias else float(cfg["l2"])
    l1 = 0.0 if bias else float(cfg["l1"])  # weights only, as l2
    out.update(lr=s["lr"], l2=l2, l1=l1, optimizer=cfg["optimizer"],
               w_after=float(s["biases_after"][k][j] if bias else s["weights_after"][k][i, j]))
    if cfg["optimizer"] == "sgd":  # the delta rule, eq. (5), with the L2 term when set
        g = out["mean"] + l2 * before
        if l1:  # the L1 subgradient l1 sign(w)
            g += l1 * float(np.sign(before))
        out["delta_rule"] = float(before - s["lr"] * g)
    return out
