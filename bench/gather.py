"""``python -m bench.gather``: ways to gather a batch's rows of a 60,000 x 784 float32 array in the
epoch's random order (the first thing of every shuffled step), per batch, best of 3 epochs:
``np.take(mode="clip")`` (the NumPy step's), and numba loops copying one row at a time as a slice, one
row at a time element by element, and two, four or eight rows at once (``fast.dense._gather`` takes
eight).
One thread; numba compiles the loops on the first run."""

from __future__ import annotations

import time

import numpy as np
from numba import njit


@njit(cache=True)
def _slice(X, order, lo, hi, xb):
    for r in range(hi - lo):
        xb[r, :] = X[order[lo + r], :]


@njit(cache=True)
def _loop(X, order, lo, hi, xb):
    for r in range(hi - lo):
        i = order[lo + r]
        for j in range(X.shape[1]):
            xb[r, j] = X[i, j]


@njit(cache=True)
def _two(X, order, lo, hi, xb):
    r = 0
    while r + 1 < hi - lo:
        i0, i1 = order[lo + r], order[lo + r + 1]
        for j in range(X.shape[1]):
            xb[r, j] = X[i0, j]
            xb[r + 1, j] = X[i1, j]
        r += 2
    while r < hi - lo:
        for j in range(X.shape[1]):
            xb[r, j] = X[order[lo + r], j]
        r += 1


@njit(cache=True)
def _four(X, order, lo, hi, xb):
    r = 0
    while r + 3 < hi - lo:
        i0, i1, i2, i3 = order[lo + r], order[lo + r + 1], order[lo + r + 2], order[lo + r + 3]
        for j in range(X.shape[1]):
            xb[r, j] = X[i0, j]
            xb[r + 1, j] = X[i1, j]
            xb[r + 2, j] = X[i2, j]
            xb[r + 3, j] = X[i3, j]
        r += 4
    while r < hi - lo:
        for j in range(X.shape[1]):
            xb[r, j] = X[order[lo + r], j]
        r += 1


def _take(X, order, lo, hi, xb):
    np.take(X, order[lo:hi], axis=0, out=xb[:hi - lo], mode="clip")


def main() -> None:
    from backprop.fast.dense import _gather

    rng = np.random.default_rng(0)
    X = rng.random((60000, 784), dtype=np.float32)
    order = rng.permutation(60000)
    ways = (("np.take", _take), ("numba, row slices", _slice), ("numba, one row", _loop),
            ("numba, two rows", _two), ("numba, four rows", _four),
            ("numba, eight rows (fast.dense)", _gather))
    for B in (32, 256, 1000):
        xb = np.empty((B, 784), np.float32)
        for name, fn in ways:
            fn(X, order, 0, B, xb)  # compile
            times = []
            for _ in range(3):
                t = time.perf_counter()
                for lo in range(0, 60000 - B + 1, B):
                    fn(X, order, lo, lo + B, xb)
                times.append((time.perf_counter() - t) / (60000 // B))
            print(f"B = {B}: {name}: {min(times) * 1e6:.0f} us per batch")


if __name__ == "__main__":
    main()
