"""How many BLAS threads a training step gets: one for small steps, all of them for large ones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from backprop.fast import blas as _blas


@contextlib.contextmanager
def blas_threads(batch_size: int, n_weights: int | None = None) -> Iterator[None]:
    """One BLAS thread for small steps (no thread wake-ups, no spinning thread), all of them otherwise.

    Measured in the training loop on a shared 2-core machine, 784-256-128-10 (235k weights):
    two threads gain 55% from batch 64 up; below, it depends on what else runs on the host --
    at batch 32 two threads were 20% slower in one state and 47% faster in another, at 16 -7% or
    +19%, at 1 one thread wins. So: all threads from a batch of 64 (without ``n_weights``), or
    when batch x weights >= 2^22 (4M multiply-adds per pass over the layers: batch >= 18 for
    that network), or from a million weights (their updates are memory-bound even for one sample).
    """
    if n_weights is None:
        many = batch_size >= 64
    else:
        many = batch_size * n_weights >= 1 << 22 or n_weights >= 1 << 20
    if many:
        yield
        return
    if _blas.available:  # NumPy's OpenBLAS, set directly: microseconds, not threadpoolctl's milliseconds
        n = _blas.get_threads()
        _blas.set_threads(1)
        try:
            yield
        finally:
            _blas.set_threads(n)
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the engine needs only NumPy
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
