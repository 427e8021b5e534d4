"""One update of an exercise, recomputed step by step -- correctly, or under a common mistake.

:func:`cycle` is the reference's update (forward pass 1-4, E, eq. 2, eq. 4, eqs. 1 and 3, eq. 5)
written out for an exercise's small network, with two twists the grader needs:

* ``mistakes``: a set of ``(misconception, site)`` pairs; at each site the step is computed the
  way a student with that misconception computes it (g' left out of eq. (4), the updated weights
  used in eq. (4), ...). :data:`SITES` lists where each misconception can act.
* ``given``: the student's own values. Each quantity is first computed from the values before it,
  recorded, and only then replaced by the student's entries (where there are any) for the steps
  that follow. The recorded value of a step is therefore "this step done on the student's own
  earlier numbers": equal to the student's answer means follow-through (or, under a mistake, the
  mistake made on their own numbers).

Everything is plain NumPy on the exercise's float64 arrays; the key itself comes from the engine
(:mod:`backprop.exercises.generate`), and the tests check both against loops of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The misconceptions the grader recognises, in the order it prefers them on a tie.
MISCONCEPTIONS = (
    "no_gprime",
    "updated_weights",
    "sign",
    "mean_missing",
    "mean_twice",
    "h_for_a",
    "a_for_h",
    "no_bias",
    "sigmoid_derivative",
    "lr_twice",
)

#: Where each misconception acts. Sites: ``fwd`` the forward pass (steps 1/3), ``act`` the
#: activation (steps 2/4), ``err`` the error E, ``gp_out``/``gp_hid`` the factor g' of eq. (2) /
#: eq. (4), ``out`` eq. (2)'s (yhat - y), ``hid`` eq. (4)'s weights, ``grad`` eqs. (1)/(3),
#: ``upd`` the delta rule (5).
SITES: dict[str, tuple[str, ...]] = {
    "no_gprime": ("gp_out", "gp_hid"),
    "updated_weights": ("hid",),
    "sign": ("out", "upd"),
    "mean_missing": ("err", "grad"),
    "mean_twice": ("err", "grad"),
    "h_for_a": ("act", "fwd", "grad", "gp_out", "gp_hid"),
    "a_for_h": ("gp_out", "gp_hid"),
    "no_bias": ("fwd", "upd"),
    "sigmoid_derivative": ("gp_out", "gp_hid"),
    "lr_twice": ("upd",),
}

#: The quantities of one update in the order they are computed (the key's and the answers' names).
QUANTITIES = ("h", "a", "yhat", "E", "delta", "grad_weights", "grad_biases", "weights_after", "biases_after")

Mistakes = frozenset


def variants(name: str) -> list[frozenset]:
    """The ways a student may make mistake ``name``: at one of its sites, or at all of them."""
    sites = SITES[name]
    out = [frozenset({(name, s)}) for s in sites]
    if len(sites) > 1:
        out.append(frozenset((name, s) for s in sites))
    return out


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def activate(name: str, h: np.ndarray) -> np.ndarray:
    """a = g(h) for the exercises' activations."""
    if name == "sigmoid":
        return _sigmoid(h)
    if name == "tanh":
        return np.tanh(h)
    if name == "relu":
        return np.maximum(h, 0.0)
    if name == "identity":
        return h.copy()
    if name == "softmax":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def _a_form(name: str, a: np.ndarray) -> np.ndarray:
    """g' written in terms of the unit's output a (eq. 9/15 for the sigmoid: a(1 - a))."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (a > 0).astype(float)
    return np.ones_like(a)


def gprime(name: str, h: np.ndarray, a: np.ndarray, site: str, mistakes: frozenset) -> np.ndarray:
    """The factor g'(h) of eq. (2) or (4) as computed under ``mistakes`` at ``site``."""
    if ("no_gprime", site) in mistakes:
        return np.ones_like(h)
    if ("sigmoid_derivative", site) in mistakes and name != "sigmoid":
        return a * (1.0 - a)
    if ("a_for_h", site) in mistakes:  # g'(a): the derivative evaluated at the output
        return _a_form(name, activate(name, a))
    if ("h_for_a", site) in mistakes:  # the a-form of g' fed with h: h(1 - h)
        return _a_form(name, h)
    return _a_form(name, a)


def error(loss: str, y: np.ndarray, yhat: np.ndarray, scale: float = 1.0) -> float:
    """E over the m rows: MSE 1/(2m) sum (y - yhat)^2, or the cross-entropies (mean over rows)."""
    m = y.shape[0]
    with np.errstate(all="ignore"):
        if loss == "mse":
            total = float(np.sum((y - yhat) ** 2)) / 2.0
        elif loss == "binary_cross_entropy":
            total = -float(np.sum(y * np.log(yhat) + (1 - y) * np.log(1 - yhat)))
        else:
            total = -float(np.sum(y * np.log(yhat)))
    return total / m * scale


def _take(computed: np.ndarray, given) -> np.ndarray:
    """The student's entries where they gave one (NaN = not given), the computed ones elsewhere."""
    if given is None:
        return computed
    return np.where(np.isnan(given), computed, given)


def cycle(p: Any, mistakes: frozenset = frozenset(), given: dict | None = None) -> dict:  # noqa: C901 -- to be split by its owner
    """One update of exercise ``p`` (an :class:`~backprop.exercises.problem.Problem`).

    Returns every quantity of :data:`QUANTITIES` (lists of arrays per layer, like the key), each
    computed from the values before it -- the student's where ``given`` has them.
    """
    g = given or {}
    L = len(p.weights)
    acts = [p.hidden] * (L - 1) + [p.output]
    m = p.x.shape[0]
    mean = 1.0 / m
    err_scale = grad_scale = 1.0
    if ("mean_missing", "err") in mistakes:
        err_scale = float(m)
    if ("mean_twice", "err") in mistakes:
        err_scale = 1.0 / m
    if ("mean_missing", "grad") in mistakes:
        grad_scale = float(m)
    if ("mean_twice", "grad") in mistakes:
        grad_scale = 1.0 / m

    def given_at(name, k=None):
        v = g.get(name)
        return None if v is None else (v if k is None else v[k])

    out: dict = {q: [] for q in QUANTITIES}
    used_h: list[np.ndarray] = []
    used_a: list[np.ndarray] = []
    a_prev = p.x
    for k in range(L):
        inp = used_h[k - 1] if k > 0 and ("h_for_a", "fwd") in mistakes else a_prev
        b = 0.0 if ("no_bias", "fwd") in mistakes else p.biases[k]
        h = inp @ p.weights[k] + b
        out["h"].append(h)
        h = _take(h, given_at("h", k))
        a = h.copy() if ("h_for_a", "act") in mistakes else activate(acts[k], h)
        out["a"].append(a)
        a = _take(a, given_at("a", k))
        if k == L - 1:
            out["yhat"] = a
            a = _take(a, given_at("yhat"))
        used_h.append(h)
        used_a.append(a)
        a_prev = a
    yhat = used_a[-1]
    out["E"] = error(p.loss, p.y, yhat, err_scale)

    inputs = [p.x] + [used_h[k] if ("h_for_a", "grad") in mistakes else used_a[k] for k in range(L - 1)]

    def grads(k, d):
        return inputs[k].T @ d * mean * grad_scale, d.sum(axis=0) * mean * grad_scale

    delta: list = [None] * L
    sign = -1.0 if ("sign", "out") in mistakes else 1.0
    diff = sign * (yhat - p.y)
    if p.loss == "mse":
        d = gprime(acts[-1], used_h[-1], yhat, "gp_out", mistakes) * diff
    else:  # cross-entropy with its own output: g' cancels, delta^o = yhat - y
        d = diff
    delta[L - 1] = d
    out_delta = [None] * L
    out_delta[L - 1] = d
    delta[L - 1] = _take(d, given_at("delta", L - 1))
    for k in range(L - 2, -1, -1):
        W = p.weights[k + 1]
        if ("updated_weights", "hid") in mistakes:
            W = W - p.lr * grads(k + 1, delta[k + 1])[0]
        d = gprime(acts[k], used_h[k], used_a[k], "gp_hid", mistakes) * (delta[k + 1] @ W.T)
        out_delta[k] = d
        delta[k] = _take(d, given_at("delta", k))
    out["delta"] = out_delta

    lr = p.lr * p.lr if ("lr_twice", "upd") in mistakes else p.lr
    step = -lr if ("sign", "upd") not in mistakes else lr
    for k in range(L):
        gw, gb = grads(k, delta[k])
        out["grad_weights"].append(gw)
        out["grad_biases"].append(gb)
        gw = _take(gw, given_at("grad_weights", k))
        gb = _take(gb, given_at("grad_biases", k))
        out["weights_after"].append(p.weights[k] + step * gw)
        out["biases_after"].append(
            p.biases[k].copy() if ("no_bias", "upd") in mistakes else p.biases[k] + step * gb
        )
    return out


# ---------------------------------------------------------------------------------------------
# feedback
# ---------------------------------------------------------------------------------------------
#: What each misconception did, and what the equation asks for: "{sym} matches {eq} {did}; {eq} {right}".
EXPLAIN = {
    "no_gprime": ("without the factor g′(h)", "multiplies by the derivative g′ of the unit's activation"),
    "updated_weights": ("with w after the update", "uses the weights of the forward pass"),
    "sign": (
        "with the sign flipped (y − ŷ instead of ŷ − y, or w + η ∂E/∂w)",
        "uses ŷ − y, and the delta rule (5) subtracts η ∂E/∂w",
    ),
    "mean_missing": (
        "summed over the samples without the 1/m",
        "averages over the m samples (eq. 3: 1/m Σ_d)",
    ),
    "mean_twice": ("with the 1/m applied twice", "divides the sum over the samples by m once"),
    "h_for_a": ("with h where a belongs", "uses the unit's output a = g(h)"),
    "a_for_h": ("with a where h belongs (g′(a) instead of g′(h))", "evaluates g′ at h"),
    "no_bias": ("without the bias (x₀ = 1)", "includes the bias weight w₀ⱼ with input x₀ = 1"),
    "sigmoid_derivative": (
        "with the sigmoid's derivative a(1 − a)",
        "uses the derivative of this unit's own activation",
    ),
    "lr_twice": ("with η applied twice", "multiplies the gradient by η once"),
}

#: The step of the reference each quantity is computed in.
EQUATION = {
    "h": "step 1/3 of the forward pass",
    "a": "step 2/4 of the forward pass",
    "yhat": "step 4 of the forward pass",
    "E": "the error E",
    "delta_out": "eq. (2)",
    "delta_hidden": "eq. (4)",
    "grad_weights": "eqs. (1) and (3)",
    "grad_biases": "eq. (3)",
    "weights_after": "the delta rule, eq. (5)",
    "biases_after": "the delta rule, eq. (5)",
}


def equation(name: str, layer: int | None, n_layers: int) -> str:
    if name == "delta":
        return EQUATION["delta_out" if layer == n_layers - 1 else "delta_hidden"]
    return EQUATION[name]


def feedback(misconception: str, symbol: str, eq: str) -> str:
    """e.g. "δ₁ʰ matches eq. (4) with w after the update; eq. (4) uses the weights of the forward pass"."""
    if misconception not in EXPLAIN:
        return f"{symbol} does not match {eq} nor a common mistake in it; check the arithmetic"
    did, right = EXPLAIN[misconception]
    return f"{symbol} matches {eq} {did}; {eq} {right}"


__all__ = [
    "MISCONCEPTIONS",
    "SITES",
    "QUANTITIES",
    "cycle",
    "variants",
    "activate",
    "error",
    "gprime",
    "feedback",
    "equation",
]
