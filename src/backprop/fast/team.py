"""Compiled work split over OpenBLAS's own threads, between two matrix products (numba).

In a compiled epoch (:mod:`backprop.fast.dense`) the products run on every BLAS thread and the
passes between them -- the gather of a batch's rows, bias and g, g' with the bias sums, Adam's
update -- on the calling thread alone, while the pool's other threads spin, waiting for the next
product. A second pool of our own for those passes would fight that one for the cores (issue 24
measured a step collapsing to 495 samples/s that way). So the passes go to the BLAS pool itself:
OpenBLAS exports ``gotoblas_pthread(n, f, args, stride)``, which runs ``f(args + i * stride)`` for
``i < n`` -- the first on the caller, the others on the pool's threads, already awake from the
product before -- and returns when all are done (:func:`backprop.fast.blas.team_function`).

``f`` is a numba ``cfunc`` taking one ``void *``: a row of an int64 table (a *descriptor*) that
names the pass, the rows or elements of its part, and the addresses of its arrays (read back with
:func:`backprop.fast.cabi.pointer` and ``numba.carray``). The parts of a pass never write the same
element, so a split pass gives the same bits as one thread; a sum over rows is added in fixed blocks of rows
whichever thread did each block (:mod:`backprop.fast.dense`), so results never depend on the
number of threads.

Where the library has no such pool (another BLAS, an OpenMP build) or ``BACKPROP_NO_THREADS=1``,
:func:`function` hands back one part: every pass runs on the calling thread (the kernel calls the
part's cfunc itself, :func:`backprop.fast.cabi.call`).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from numba import carray, cfunc, njit, types

from backprop.fast import blas as _blas
from backprop.fast.cabi import call_team

#: parts a pass is split into at most (threads of the pool that take one)
MAX_PARTS = 16
#: int64 slots of a descriptor (fast.dense fills them)
SLOTS = 16
SIGNATURE = types.void(types.voidptr)  # a part: f(descriptor)
#: stands in for the address of ``gotoblas_pthread`` where there is no pool: never called (one part)
ALONE = 0

_tested: bool | None = None  # the pool ran every part of a test (None: not tried yet)


@cfunc(SIGNATURE, cache=True)
def _mark(p):  # pragma: no cover - compiled; the self-test's part: slot 1 <- slot 0 + 1
    d = carray(p, (SLOTS,), np.int64)
    d[1] = d[0] + 1


@njit(cache=True)
def _run(team, fn, desc, parts):
    call_team(team, parts, fn, desc.ctypes.data, SLOTS * 8)


def _self_test(team: int, parts: int) -> bool:
    """Every part ran, each on its own descriptor."""
    desc = np.zeros((parts, SLOTS), np.int64)
    desc[:, 0] = np.arange(parts) * 7
    _run(team, _mark.address, desc, parts)
    return bool((desc[:, 1] == desc[:, 0] + 1).all())


def address() -> int | None:
    """The address of NumPy's OpenBLAS's ``gotoblas_pthread``, where it has a pthreads pool."""
    fn = _blas.team_function()
    return None if fn is None else ctypes.cast(fn, ctypes.c_void_p).value


def function() -> tuple[int, int]:
    """``(team, parts)``: the address a kernel calls to split a pass (``gotoblas_pthread``, or
    :data:`ALONE`) and the parts the pool can take now: its thread count (never more: a part sent to
    a thread the library has not made would wait forever), 1 without a pool."""
    global _tested
    team = address()
    threads = min(_blas.get_threads() or 1, MAX_PARTS)
    if not team or threads < 2 or os.environ.get("BACKPROP_NO_THREADS", "").strip() not in ("", "0"):
        return ALONE, 1
    if _tested is None:
        _tested = _self_test(team, 2)
    return (team, threads) if _tested else (ALONE, 1)
