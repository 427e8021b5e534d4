"""The reference's symbols for an exercise's entries: plain Unicode (feedback, Moodle, notebooks)
and LaTeX (sheets). The two-layer network of the reference: v_ij input -> hidden, w_jk hidden ->
output, layer tags h and o, units numbered from 1 and the bias weight as index 0 (x_0 = 1)."""

from __future__ import annotations

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_TAG = {"h": "ʰ", "o": "ᵒ"}


def tag(layer: int, n_layers: int) -> str:
    return "o" if layer == n_layers - 1 else ("h" if n_layers == 2 else str(layer + 1))


def weight_letter(layer: int, n_layers: int) -> str:
    return "v" if layer == 0 and n_layers == 2 else "w"


def _sub(*ix: int) -> str:
    return "".join(str(i) for i in ix).translate(_SUB)


def _sample(d: int, m: int, tex: bool) -> str:
    if m <= 1:
        return ""
    return f"^{{({d + 1})}}" if tex else f"({d + 1})".translate(_SUP)


def symbol(name: str, idx: tuple, layer: int, n_layers: int, m: int, tex: bool = False) -> str:
    """The symbol of one entry, e.g. ``δ₁ʰ``, ``∂E/∂w₂₁``, ``v₁₂ (new)`` (or their LaTeX)."""
    t = tag(layer, n_layers)
    if name in ("h", "a", "delta"):
        _, d, j = idx
        letter = {"h": "h", "a": "a", "delta": r"\delta" if tex else "δ"}[name]
        if tex:
            sample = f",({d + 1})" if m > 1 else ""
            return f"{letter}^{{{t}{sample}}}_{{{j + 1}}}"
        return f"{letter}{_sub(j + 1)}{_TAG.get(t, t)}{_sample(d, m, False)}"
    if name == "yhat":
        d, k = idx
        if tex:
            return rf"\hat{{y}}{_sample(d, m, True)}_{{{k + 1}}}"
        return f"ŷ{_sub(k + 1)}{_sample(d, m, False)}"
    if name == "E":
        return r"\mathcal{E}" if tex else "E"
    w = weight_letter(layer, n_layers)
    if name in ("grad_weights", "weights_after"):
        i, j = idx[1] + 1, idx[2] + 1
    else:
        i, j = 0, idx[1] + 1
    if tex:
        base = f"{w}_{{{i}{j}}}"
        return (
            rf"\partial\mathcal{{E}}/\partial {base}" if name.startswith("grad") else base + r"^{\text{new}}"
        )
    base = f"{w}{_sub(i, j)}"
    return f"∂E/∂{base}" if name.startswith("grad") else f"{base} (new)"


def weight_symbol(layer: int, i: int, j: int, n_layers: int, tex: bool = False) -> str:
    """w_ij of ``weights[layer]`` (i = 0 is the bias), in Unicode or LaTeX."""
    w = weight_letter(layer, n_layers)
    return f"{w}_{{{i}{j}}}" if tex else f"{w}{_sub(i, j)}"


NAMES = {
    "h": "h (affine transformation)",
    "a": "a (activation)",
    "yhat": "ŷ (prediction)",
    "E": "E (error)",
    "delta": "δ (error terms)",
    "grad_weights": "∂E/∂w (gradients)",
    "grad_biases": "∂E/∂w₀ (bias gradients)",
    "weights_after": "w after the update",
    "biases_after": "bias weights after the update",
}

__all__ = ["symbol", "weight_symbol", "tag", "weight_letter", "NAMES"]
