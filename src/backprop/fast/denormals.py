"""Subnormal numbers flushed to zero in what training writes: parameters and optimizer state.

Weights that never see a signal -- those of an always-zero input pixel -- shrink under weight decay
(L2) towards zero and pass through the subnormal range (in float32, below 2^-126 ~ 1.18e-38). x86
CPUs compute with subnormal operands through microcode: on an Intel Xeon a product with such a
weight matrix took 49.9 ms instead of 0.58 ms, and raw-pixel Fashion-MNIST epochs grew from 3 s
to 25-36 s (issue 24). So every :data:`EVERY` updates the training loop calls :func:`flush_subnormals`
on the network's weights and biases and the optimizer's state (momentum's velocities, Adam's
moments): each subnormal entry becomes +0.0, every other value keeps its bits. That is the one
intended numerical difference from the reference's arithmetic: a parameter or moment smaller in
magnitude than the smallest normal number (``np.finfo(dtype).tiny``) is zero at the next flush.
A weight of an always-zero input then stays exactly zero (its gradient is l2 x 0 = 0) once its
velocity or moment has been flushed too.

Why not the CPU's flush-to-zero / denormals-are-zero modes (MXCSR bits FTZ, DAZ)? They belong to
each thread: set on the calling thread, they do not reach the worker threads NumPy's OpenBLAS
started at import (measured: with FTZ/DAZ set, a two-thread product of subnormal weights still had
subnormal results in the half of the rows its worker computed), they would change the user's own
NumPy arithmetic in that thread unless restored around every callback, and NumPy offers no call
for them. A pass over the parameters and state every few updates needs none of that, reaches every
product whatever thread runs it, and costs ~0.25 ms per 536k float32 values (AMD EPYC Zen 4;
``python -m bench.subnormal --ops``; more in bench/README.md).

The pass works on the values' bits (integers: no floating-point operation on a subnormal, which
would itself be slow) in blocks that stay in cache, and writes only blocks that hold a subnormal.
``BACKPROP_NO_FLUSH=1`` turns it off (``ENABLED``): to measure what it saves.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

#: Updates between two flushes. A weight that became subnormal stays so for at most this many
#: updates, instead of the hundreds to thousands it takes to decay through the subnormal range;
#: the pass costs ~1% of a 784-512-256-10 step at batch 128 at this interval.
EVERY = 16
#: False: never flush (``BACKPROP_NO_FLUSH=1``).
ENABLED = os.environ.get("BACKPROP_NO_FLUSH", "").strip() in ("", "0")

_BLOCK = 1 << 15  # elements per block: the integer temporaries stay in L1/L2
#: per float dtype: (unsigned integer type of its bits, mask of all but the sign, smallest normal's bits)
_BITS = {
    np.dtype(np.float32): (np.uint32, 0x7FFFFFFF, 0x00800000),
    np.dtype(np.float64): (np.uint64, 0x7FFFFFFFFFFFFFFF, 0x0010000000000000),
}


def flush_subnormals(arrays: Iterable[np.ndarray]) -> int:
    """Set every subnormal entry of these float arrays to +0.0, in place; return how many were.

    Zeros, normal numbers, infinities and NaNs keep their exact bits. Arrays of other dtypes are
    left alone; a non-contiguous array is handled by plain NumPy indexing."""
    n = 0
    for a in arrays:
        spec = _BITS.get(a.dtype)
        if spec is None or a.size == 0:
            continue
        if not a.flags.writeable:
            continue  # a user's read-only array: not the engine's to change
        if a.flags.c_contiguous:
            n += _flush_bits(a.reshape(-1).view(spec[0]), *spec)
        else:
            tiny = np.finfo(a.dtype).tiny
            sub = (a != 0) & (np.abs(a) < tiny)
            k = int(np.count_nonzero(sub))
            if k:
                a[sub] = 0
            n += k
    return n


def _flush_bits(bits, itype, magnitude, smallest_normal):
    """bits: a flat integer view of the values. Subnormal iff 0 < |x| < tiny, i.e. 1 <= (bits &
    magnitude) < smallest_normal; with unsigned wrap-around, (bits & magnitude) - 1 < smallest_normal - 1."""
    n = 0
    size = bits.size
    tmp = np.empty(min(size, _BLOCK), itype)
    mask = np.empty(tmp.size, bool)
    for s in range(0, size, _BLOCK):
        x = bits[s:s + _BLOCK]
        e, m = tmp[:x.size], mask[:x.size]
        np.bitwise_and(x, itype(magnitude), out=e)
        np.subtract(e, itype(1), out=e)  # 0 wraps to the largest value: zeros are not flushed
        np.less(e, itype(smallest_normal - 1), out=m)
        if m.any():
            n += int(np.count_nonzero(m))
            np.putmask(x, m, itype(0))
    return n


def optimizer_arrays(state: dict) -> list[np.ndarray]:
    """The arrays of an optimizer's ``state`` ({slot: {key: array}}), each memory once: moments that
    are views of one flat array (Adam's, see ``fast.adam.FlatAdam``) are given as that flat array."""
    out, seen = [], set()
    for slots in state.values():
        for arr in slots.values():
            if not isinstance(arr, np.ndarray):
                continue
            base = arr.base
            whole = (base if isinstance(base, np.ndarray) and base.ndim == 1 and base.base is None
                     and base.flags.c_contiguous else arr)
            if id(whole) not in seen:
                seen.add(id(whole))
                out.append(whole)
    return out


def after_update(n_updates: int, params: list[np.ndarray], state: dict) -> None:
    """The training loop's hook, once per update: every :data:`EVERY` updates, flush the
    parameters and the optimizer state."""
    if ENABLED and n_updates % EVERY == 0:
        flush_subnormals(params)
        flush_subnormals(optimizer_arrays(state))
