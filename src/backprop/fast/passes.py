"""The elementwise pieces of the two passes that the plain backward pass and the fused delta rule
(:mod:`backprop.fast.fused`) share: the bias and g of step (i), g' of eq. (4), the bias gradient
of eq. (3) as one BLAS product."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from backprop.fast import parallel as _par


def bias_and_g(h: np.ndarray, b: np.ndarray, act: Any, a: np.ndarray, ident: bool) -> None:
    """Rows of h: h += b, a = g(h) (``ident``: a is h itself, nothing to apply)."""
    h += b
    if not ident:
        act.forward(h, out=a)  # a may be h itself (training buffers)


def forward_layer(a_prev: np.ndarray, W: np.ndarray, b: np.ndarray, act: Any, h: np.ndarray,
                  a: np.ndarray, ident: bool) -> np.ndarray:
    """Step (i) for one layer into ``h`` and ``a``: h = a_prev W + b, a = g(h).

    The bias and g run in row blocks on the BLAS threads (``parallel.for_rows``: the same bits as
    one pass). (Folding the bias into the product, beta = 1, measured slower here: the BLAS call
    through ctypes costs more than the pass it saves.)"""
    np.matmul(a_prev, W, out=h)
    _par.for_rows(lambda lo, hi: bias_and_g(h[lo:hi], b, act, a[lo:hi], ident), h.shape[0], h.size)
    return a


def column_sums(d: np.ndarray, out: np.ndarray) -> np.ndarray:
    """sum over the rows of delta, the biases' gradient of eq. (3), as the product ones^T delta: a
    BLAS matrix-vector product runs on every BLAS thread, 2-3x faster than np.add.reduce(axis=0)
    at B = 1000 (the same sums, added in another order)."""
    return np.matmul(_ones(d.shape[0], d.dtype), d, out=out)


@functools.lru_cache(maxsize=16)
def _ones(m: int, dtype: np.dtype) -> np.ndarray:
    o = np.ones(m, dtype)
    o.setflags(write=False)
    return o


def g_prime(act: Any, h: np.ndarray, a: np.ndarray, d: np.ndarray, tmp: np.ndarray) -> None:
    """delta *= g'(h), eq. (4)'s factor, in row blocks (elementwise: the same bits)."""
    _par.for_rows(lambda lo, hi: act.backward(h[lo:hi], a[lo:hi], d[lo:hi], tmp[lo:hi]), d.shape[0], d.size)
