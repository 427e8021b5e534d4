"""Checks of numeric options (counts, seeds, noise) made before anything is allocated.

A count of 10**20 or a negative seed must be a clear error naming the option and its allowed
range, not a MemoryError or a NumPy ValueError from deep inside a generator.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from backprop.errors import InvalidInputError

#: the largest seed accepted (seeds are recorded in model metadata; int64 keeps them portable)
MAX_SEED = 2**63 - 1


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]; integral floats (1e3) are accepted, anything else is refused."""
    shown = f"an integer from {lo:,} to {hi:,}"
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, numbers.Real, str)):
        raise InvalidInputError(f"{name} must be {shown}, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInputError(f"{name} must be {shown}, got {value!r}") from None
    if not isinstance(value, numbers.Integral):
        v = float(value)
        if not math.isfinite(v) or v != math.floor(v):
            raise InvalidInputError(f"{name} must be {shown}, got {value!r}")
        value = int(v)
    value = int(value)
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name} must be {shown}, got {value:,}")
    return value


def check_seed(name: str, value: Any) -> int:
    """A seed for numpy.random.default_rng: an integer from 0 to 2**63 - 1."""
    return check_int(name, value, 0, MAX_SEED)


def check_float(name: str, value: Any, lo: float, hi: float) -> float:
    """``value`` as a finite float in [lo, hi]."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        v = math.nan
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InvalidInputError(f"{name} must be a finite number from {lo:g} to {hi:g}, got {value!r}")
    return v
