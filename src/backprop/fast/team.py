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
:func:`pointer` and ``numba.carray``). The parts of a pass never write the same element, so a
split pass gives the same bits as one thread; a sum over rows is added in fixed blocks of rows
whichever thread did each block (:mod:`backprop.fast.dense`), so results never depend on the
number of threads.

Where the library has no such pool (another BLAS, an OpenMP build) or ``BACKPROP_NO_THREADS=1``,
:func:`function` hands back a stand-in that is never called and one part: every pass runs on the
calling thread.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

from backprop.fast import blas as _blas

#: parts a pass is split into at most (threads of the pool that take one)
MAX_PARTS = 16
#: int64 slots of a descriptor (fast.dense fills them)
SLOTS = 16
#: the C type of ``gotoblas_pthread`` as the kernels are compiled for it
TEAM_T = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_int)
SIGNATURE = types.void(types.voidptr)  # a part: f(descriptor)

_tested: bool | None = None  # the pool ran every part of a test (None: not tried yet)


@intrinsic
def pointer(typingctx, addr, like):
    """The address ``addr`` (an integer of a descriptor) as a pointer to values of ``like``'s type,
    for ``numba.carray``."""
    ptr = types.CPointer(like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))
    return ptr(addr, like), codegen


@intrinsic
def call(typingctx, fn, args):
    """Call the part at address ``fn`` (a ``void f(void *)``) with ``args`` (an address) on this
    thread: one part, without the pool -- and without compiling the part into the caller."""
    from llvmlite import ir

    def codegen(context, builder, signature, values):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
        target = builder.inttoptr(values[0], fnty.as_pointer())
        builder.call(target, [builder.inttoptr(values[1], ir.IntType(8).as_pointer())])
        return context.get_dummy_value()
    return types.void(fn, args), codegen


@cfunc(types.int32(types.int32, types.intp, types.voidptr, types.int32), cache=True)
def _alone(n, fn, args, stride):  # pragma: no cover - compiled; stands in, never called (one part)
    return 0


#: the stand-in for ``gotoblas_pthread`` where there is no pool (the kernels' argument has one C type)
ALONE = TEAM_T(_alone.address)


@cfunc(SIGNATURE, cache=True)
def _mark(p):  # pragma: no cover - compiled; the self-test's part: slot 1 <- slot 0 + 1
    d = carray(p, (SLOTS,), np.int64)
    d[1] = d[0] + 1


@njit(cache=True)
def _run(team, fn, desc, parts):
    team(parts, fn, desc.ctypes, SLOTS * 8)


def _self_test(team, parts: int) -> bool:
    """Every part ran, each on its own descriptor."""
    desc = np.zeros((parts, SLOTS), np.int64)
    desc[:, 0] = np.arange(parts) * 7
    _run(team, _mark.address, desc, parts)
    return bool((desc[:, 1] == desc[:, 0] + 1).all())


def function() -> tuple:
    """``(team, parts)``: the function a kernel calls to split a pass (``gotoblas_pthread``, or the
    stand-in) and the parts the pool can take now: its thread count (never more: a part sent to a
    thread the library has not made would wait forever), 1 without a pool."""
    global _tested
    team = _blas.team_function()
    threads = min(_blas.get_threads() or 1, MAX_PARTS)
    if team is None or threads < 2 or os.environ.get("BACKPROP_NO_THREADS", "").strip() not in ("", "0"):
        return ALONE, 1
    if _tested is None:
        _tested = _self_test(team, 2)
    return (team, threads) if _tested else (ALONE, 1)
