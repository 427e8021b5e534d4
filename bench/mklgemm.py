"""``python -m bench.mklgemm PATH/libmkl_rt.so.3``: MKL's sgemm (called through ctypes) against NumPy's
OpenBLAS on the training step's product shapes, in one process, alternated round by round.

MKL is not a dependency: install the ``mkl`` wheel into a scratch environment and pass its
``libmkl_rt`` (about 1 GB installed). Run it with ``MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``: with
more threads both libraries' idle threads spin while the other works, and the ratio means nothing.
"""

from __future__ import annotations

import ctypes
import sys
import time

import numpy as np

ROW_MAJOR, NO_TRANS = 101, 111
#: (m, k, n) of the 784-256-128-10 step's largest products at B = 1000, 256 and 32
SHAPES = [(1000, 784, 256), (256, 784, 256), (32, 784, 256), (1000, 256, 128), (784, 1000, 256)]
ROUNDS = 7


def mkl_sgemm(path: str):
    """C = A @ B through MKL's cblas_sgemm (row-major float32, contiguous)."""
    sgemm = ctypes.CDLL(path).cblas_sgemm
    ptr, i32, f32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    sgemm.argtypes = [i32] * 6 + [f32, ptr, i32, ptr, i32, f32, ptr, i32]

    def mm(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> None:
        (m, k), n = A.shape, B.shape[1]
        sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, A.ctypes.data, k, B.ctypes.data, n, 0.0,
              C.ctypes.data, n)
    return mm


def per_call(fn, args: tuple, reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    return (time.perf_counter() - t) / reps


def numpy_mm(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> None:
    np.matmul(A, B, out=C)


def main(path: str) -> None:
    mm = mkl_sgemm(path)
    rng = np.random.default_rng(0)
    for m, k, n in SHAPES:
        A = rng.standard_normal((m, k), dtype=np.float32)
        B = rng.standard_normal((k, n), dtype=np.float32)
        C, C2 = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
        mm(A, B, C)
        np.matmul(A, B, out=C2)
        assert np.allclose(C, C2, rtol=1e-3, atol=1e-3 * np.sqrt(k))  # the same product
        reps = max(20, int(2e9 / (2 * m * k * n)))
        t_mkl, t_np = [], []
        for _ in range(ROUNDS):
            t_mkl.append(per_call(mm, (A, B, C), reps))
            t_np.append(per_call(numpy_mm, (A, B, C2), reps))
        gflop = 2 * m * k * n / 1e9
        ratios = [a / b for a, b in zip(t_np, t_mkl)]
        print(f"{m}x{k} @ {k}x{n}: MKL {gflop / np.median(t_mkl):.0f} GFLOP/s, OpenBLAS "
              f"{gflop / np.median(t_np):.0f} GFLOP/s; MKL / OpenBLAS {np.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f} over {ROUNDS} rounds)")


if __name__ == "__main__":
    main(sys.argv[1])
