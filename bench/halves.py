"""``python -m bench.halves``: a product on OpenBLAS's two threads against two one-thread products of
its halves, each on one of the same pool's threads (``fast.team``: ``gotoblas_pthread``), float32, the
784-512-256-10 Adam step's three large products at B = 1024 (X W1, a1 W2, X^T delta1), medians of 20.

The question (issue 24): does OpenBLAS lose time splitting one product over two threads (its
partitioning, the threads' waits for each other), which independent halves would not? One-thread
rate for reference. Run on a quiet machine, ``OPENBLAS_CORETYPE`` unset. numba compiles on the
first run.
"""

from __future__ import annotations

import time

import numpy as np
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

from backprop.fast import blas, team
from backprop.fast.cabi import call_team
from backprop.fast.team import SLOTS

sgemm = blas.gemm_function(np.float32)
f32 = np.float32


@intrinsic
def _vp(typingctx, addr):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))
    return types.voidptr(addr), codegen


@cfunc(team.SIGNATURE)
def _half(p):
    """Rows r0..r1 of C = A B (A m x k), or columns r0..r1 of C = A^T B (A k x m)."""
    d = carray(p, (SLOTS,), np.int64)
    one = f32(1.0)
    r0, r1, K, N = d[1], d[2], d[3], d[4]
    if d[8] == 0:
        sgemm(101, 111, 111, r1 - r0, N, K, one, _vp(d[5] + 4 * r0 * K), K, _vp(d[6]), N, f32(0),
              _vp(d[7] + 4 * r0 * N), N)
    else:
        M = d[9]
        sgemm(101, 112, 111, M, r1 - r0, K, one, _vp(d[5]), M, _vp(d[6] + 4 * r0), N, f32(0),
              _vp(d[7] + 4 * r0), N)


@njit
def _halves(team_fn, fn, desc, A, B, C, transposed):
    if transposed:
        K, M = A.shape
        N = B.shape[1]
        cut = N
    else:
        M, K = A.shape
        N = B.shape[1]
        cut = M
    for i in range(2):
        d = desc[i]
        d[1], d[2], d[3], d[4], d[5] = cut * i // 2, cut * (i + 1) // 2, K, N, A.ctypes.data
        d[6], d[7], d[8], d[9] = B.ctypes.data, C.ctypes.data, 1 if transposed else 0, M
    call_team(team_fn, 2, fn, desc.ctypes.data, SLOTS * 8)


def _median_ms(f, k=20):
    f()
    times = []
    for _ in range(k):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def main() -> None:
    team_fn, parts = team.function()
    if parts < 2:
        print("no OpenBLAS pool of two threads here (fast.team): nothing to compare")
        return
    rng = np.random.default_rng(0)
    B = 1024
    X, W1 = rng.random((B, 784), dtype=f32), rng.random((784, 512), dtype=f32)
    A1, W2 = rng.random((B, 512), dtype=f32), rng.random((512, 256), dtype=f32)
    D1 = rng.random((B, 512), dtype=f32)
    desc = np.zeros((team.MAX_PARTS, SLOTS), np.int64)
    threads = blas.get_threads()
    for name, A, Bm, tr in (("X W1", X, W1, False), ("a1 W2", A1, W2, False), ("X^T delta1", X, D1, True)):
        C = np.zeros((A.shape[1] if tr else A.shape[0], Bm.shape[1]), f32)
        want = A.T @ Bm if tr else A @ Bm
        op = A.T if tr else A
        two = _median_ms(lambda op=op, Bm=Bm, C=C: np.matmul(op, Bm, out=C))
        blas.set_threads(1)
        try:
            one = _median_ms(lambda op=op, Bm=Bm, C=C: np.matmul(op, Bm, out=C))
            halves = _median_ms(
                lambda A=A, Bm=Bm, C=C, tr=tr: _halves(team_fn, _half.address, desc, A, Bm, C, tr))
            ok = np.allclose(C, want, rtol=1e-4)
        finally:
            blas.set_threads(threads)
        print(f"{name}: OpenBLAS on {threads} threads {two:.3f} ms; two one-thread halves on its pool "
              f"{halves:.3f} ms{'' if ok else ' (WRONG RESULT)'}; one thread {one:.3f} ms")


if __name__ == "__main__":
    main()
