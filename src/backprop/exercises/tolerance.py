"""How close an answer must be: rounding to the decimals asked plus a relative part.

An answer v to a value k is accepted when ``|v - k| <= absolute + relative * |k|`` with
``absolute = 10**-decimals`` (one unit in the last decimal asked: the answer's own rounding and the
rounding of the earlier values it was computed from) and ``relative = 0.5 %`` (rounded intermediate
values carried through a few multiplications). For the weights after the update the relative part
is of the change ``|k - w|``, not of the weight: a weight that was not updated at all is not within
0.5 % of a weight that moved by less than that.
"""

from __future__ import annotations

from typing import Any

#: The default decimals an answer is asked to, and the relative tolerance.
DECIMALS = 4
RELATIVE = 0.005


def tolerance(key: float, decimals: int = DECIMALS, relative: float = RELATIVE,
              before: float | None = None) -> float:
    """The largest accepted |answer - key|; ``before``: the weight before the update (eq. 5)."""
    scale = abs(key - before) if before is not None else abs(key)
    return 10.0**-decimals + relative * scale


def close(v: float, k: float, tol: float) -> bool:
    return abs(v - k) <= tol


def entry_tolerance(p: Any, name: str, idx: tuple, decimals: int = DECIMALS,
                    relative: float = RELATIVE) -> float:
    """The tolerance of one entry of problem ``p`` (see the module's docstring)."""
    return tolerance(p.value(name, idx), decimals, relative, weight_before(p, name, idx))


def weight_before(p: Any, name: str, idx: tuple) -> float | None:
    """The parameter's value before the update, for an updated weight or bias (its tolerance is
    relative to the change); None for every other quantity."""
    if name == "weights_after":
        return float(p.weights[idx[0]][idx[1], idx[2]])
    if name == "biases_after":
        return float(p.biases[idx[0]][idx[1]])
    return None


__all__ = ["tolerance", "close", "entry_tolerance", "DECIMALS", "RELATIVE"]
