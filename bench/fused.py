"""Experiment: the step's elementwise passes fused by numba on one thread, against the engine's NumPy.

Not used by the library (numba is not one of its dependencies). For 784-256-128-10, float32, batch B,
three groups of the step's elementwise work, each as the engine does it with NumPy and as one numba
loop (``cache=True``; compiled before timing, the compile time printed):

* forward, hidden layers: h += b; a = max(h, 0)                           (two passes -> one)
* backward, hidden layers: delta *= (a > 0); the bias gradient, the column sums of delta
  (NumPy: a mask pass, a multiply pass, a BLAS matrix-vector product) -> one pass
* output: softmax, the cross-entropy loss, delta = (yhat - y) c and its column sums
  (NumPy: ~12 passes over the 10-column arrays) -> one pass per row

Times are this thread's CPU time (``time.thread_time``), medians of 200 runs: robust on a busy
machine, where wall time is not. Run:

    python -m bench.fused --batch 1000
    python -m bench.fused --batch 256
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def _kernels():
    import numba

    @numba.njit(cache=True, fastmath=False)
    def bias_relu(h, b):
        m, n = h.shape
        for i in range(m):
            for j in range(n):
                v = h[i, j] + b[j]
                h[i, j] = v if v > 0 else 0.0

    @numba.njit(cache=True)
    def relu_back_colsum(d, a, gb):
        m, n = d.shape
        gb[:] = 0.0
        for i in range(m):
            for j in range(n):
                v = d[i, j] if a[i, j] > 0 else 0.0
                d[i, j] = v
                gb[j] += v

    @numba.njit(cache=True)
    def softmax_xent(h, b, y, d, gb, c):
        m, n = h.shape
        gb[:] = 0.0
        loss = 0.0
        for i in range(m):
            mx = -np.inf
            for j in range(n):
                h[i, j] += b[j]
                mx = max(mx, h[i, j])
            s = 0.0
            for j in range(n):
                e = np.exp(h[i, j] - mx)
                d[i, j] = e
                s += e
            lse = np.log(s) + mx
            for j in range(n):
                loss += y[i, j] * (lse - h[i, j])
                v = (d[i, j] / s - y[i, j]) * c
                d[i, j] = v
                gb[j] += v
        return loss / m

    return bias_relu, relu_back_colsum, softmax_xent


def _numpy_forward(h, b):
    h += b
    np.maximum(h, np.float32(0), out=h)


def _numpy_backward(d, a, gb, tmp, ones):
    np.greater(a, 0.0, out=tmp)
    d *= tmp
    np.matmul(ones, d, out=gb)


def _numpy_output(h, b, y, d, gb, c, ones):
    h += b
    shift = h.max(axis=-1, keepdims=True)  # the engine's softmax
    a = np.subtract(h, shift, out=d)
    np.exp(a, out=a)
    a /= a.sum(axis=-1, keepdims=True)
    shift = h.max(axis=1, keepdims=True)  # the engine's cross-entropy value
    lse = np.log(np.exp(h - shift).sum(axis=1, keepdims=True)) + shift
    loss = float(np.sum(y * (lse - h))) / h.shape[0]
    np.subtract(a, y, out=d)
    d *= c
    np.matmul(ones, d, out=gb)
    return loss


def _time(f, reps=200):
    ts = []
    for _ in range(reps):
        t = time.thread_time()
        f()
        ts.append(time.thread_time() - t)
    return statistics.median(ts)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.fused", description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000)
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    B, f32 = args.batch, np.float32
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cache-")  # a first compile, timed
    t0 = time.perf_counter()
    bias_relu, relu_back_colsum, softmax_xent = _kernels()
    rng = np.random.default_rng(0)
    ones = np.ones(B, f32)
    y = np.eye(10, dtype=f32)[rng.integers(0, 10, B)]
    c = f32(0.01 / B)
    # compile (first call) and check the kernels against NumPy on the same inputs
    for n in (256, 128):
        h0, b = rng.standard_normal((B, n)).astype(f32), rng.standard_normal(n).astype(f32)
        h1, h2 = h0.copy(), h0.copy()
        bias_relu(h1, b)
        _numpy_forward(h2, b)
        assert np.array_equal(h1, h2)
        d0 = rng.standard_normal((B, n)).astype(f32)
        d1, d2, g1, g2 = d0.copy(), d0.copy(), np.empty(n, f32), np.empty(n, f32)
        relu_back_colsum(d1, h1, g1)
        _numpy_backward(d2, h1, g2, np.empty((B, n), f32), ones)
        assert np.array_equal(d1, d2) and np.allclose(g1, g2, rtol=1e-4, atol=1e-5)
    h0, b = rng.standard_normal((B, 10)).astype(f32), rng.standard_normal(10).astype(f32)
    d1, d2, g1, g2 = np.empty((B, 10), f32), np.empty((B, 10), f32), np.empty(10, f32), np.empty(10, f32)
    l1 = softmax_xent(h0.copy(), b, y, d1, g1, c)
    l2 = _numpy_output(h0.copy(), b, y, d2, g2, c, ones)
    assert np.allclose(d1, d2, rtol=1e-4, atol=1e-9) and abs(l1 - l2) < 1e-4 * abs(l2)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _kernels()[0](h0[:, :1].copy(), b[:1])  # from the cache now
    cached_s = time.perf_counter() - t0

    rows = []
    for n in (256, 128):
        h, b = rng.standard_normal((B, n)).astype(f32), rng.standard_normal(n).astype(f32)
        d, gb, tmp = rng.standard_normal((B, n)).astype(f32), np.empty(n, f32), np.empty((B, n), f32)
        rows.append((f"forward bias + ReLU, {B}x{n}", _time(lambda h=h, b=b: _numpy_forward(h, b)),
                     _time(lambda h=h, b=b: bias_relu(h, b))))
        rows.append((f"backward g' + bias sums, {B}x{n}",
                     _time(lambda d=d, h=h, gb=gb, tmp=tmp: _numpy_backward(d, h, gb, tmp, ones)),
                     _time(lambda d=d, h=h, gb=gb: relu_back_colsum(d, h, gb))))
    h, b = rng.standard_normal((B, 10)).astype(f32), rng.standard_normal(10).astype(f32)
    d, gb = np.empty((B, 10), f32), np.empty(10, f32)
    rows.append((f"output softmax + loss + delta + sums, {B}x10",
                 _time(lambda: _numpy_output(h, b, y, d, gb, c, ones)),
                 _time(lambda: softmax_xent(h, b, y, d, gb, c))))
    print(f"batch {B}, one thread, this thread's CPU time, median of 200 (us); numba first compile "
          f"{compile_s:.1f} s, a later process's load from the cache {cached_s:.2f} s")
    print(f"{'pass':44s} {'NumPy':>8s} {'numba':>8s} {'saved':>8s}")
    tot_np = tot_nb = 0.0
    for name, a, b_ in rows:
        tot_np, tot_nb = tot_np + a, tot_nb + b_
        print(f"{name:44s} {a * 1e6:8.1f} {b_ * 1e6:8.1f} {(a - b_) * 1e6:8.1f}")
    print(f"{'all':44s} {tot_np * 1e6:8.1f} {tot_nb * 1e6:8.1f} {(tot_np - tot_nb) * 1e6:8.1f}")


if __name__ == "__main__":
    main()
