"""Online, batch and mini-batch training: the one rule that turns a mode into a batch size B.

* ``mode="online"``: B = 1, an update after every sample -- m updates per epoch.
* ``mode="batch"``: B = m, the gradient aggregated over all m samples -- one update per epoch.
* mini-batch (``batch_size=B``, the default with B = 32): ceil(m/B) updates per epoch; the last,
  smaller batch is used as it is and averaged over its own size.
"""

from __future__ import annotations

import warnings

from backprop.core.validation import check_positive_int
from backprop.errors import InvalidInputError

MODES = ("online", "batch", "minibatch")
DEFAULT_BATCH_SIZE = 32


def check_mode(mode: str | None) -> str | None:
    """``mode`` itself when it is one of :data:`MODES` (or None), else a clear error."""
    if mode is not None and mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    return mode


def resolve_batch_size(m: int, batch_size: int | None = None, mode: str | None = None) -> int:
    """The batch size that ``mode``/``batch_size`` ask for, for m samples (clipped with a warning)."""
    check_mode(mode)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if mode == "online":
        if batch_size not in (None, 1):
            raise InvalidInputError(f"mode='online' updates after every sample; got batch_size={batch_size}")
        return 1
    if mode == "batch":
        if batch_size not in (None, m):
            raise InvalidInputError(
                f"mode='batch' uses all {m} samples per update; got batch_size={batch_size}"
            )
        return m
    if batch_size is None:
        return min(DEFAULT_BATCH_SIZE, m)
    if batch_size > m:
        warnings.warn(f"batch_size={batch_size} is larger than the {m} samples; using {m}", UserWarning,
                      stacklevel=3)
        return m
    return batch_size
