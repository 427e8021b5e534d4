"""Adam's update, NumPy's 12 passes against one numba pass: ``python -m bench.adamfused``.

The flat parameter, gradient and moment arrays of 784-512-256-10 (535,818 values), float32 by
default. Per round, alternated: ``FlatAdam``'s NumPy arithmetic as the engine runs it (``adam_step``
then ``param -= step`` in blocks of ``fast.adam.BLOCK``, on the BLAS threads' turns where
``fast.parallel`` finds that faster) and ``fast.kernels.adam_segment`` (numba, one thread) doing the
same operations in the same order per element. Prints wall and this process's CPU time per update
(median, min-max over ``--rounds`` rounds of ``--steps`` updates) and whether both give the same bits.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    from backprop.fast import adam as _adam
    from backprop.fast import parallel as _par

    dt = np.dtype(args.dtype)
    sizes = [784, 512, 256, 10]
    n = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    rng = np.random.default_rng(0)
    G0 = rng.normal(scale=1e-2, size=n).astype(dt)
    b1, b2, eps, lr_t = 0.9, 0.999, 1e-8, 1e-3
    from backprop.fast import kernels

    fused = kernels.adam_segment
    # parameters, first and second moments (v >= 0) as after some training
    start = [rng.normal(size=n).astype(dt), rng.normal(scale=1e-3, size=n).astype(dt),
             np.abs(rng.normal(scale=1e-4, size=n)).astype(dt)]
    state = {k: [a.copy() for a in start] for k in ("numpy", "numba")}
    G = np.empty_like(G0)

    def numpy_step(P, M, V):
        np.copyto(G, G0)

        def rows(lo, hi):
            for s in range(lo, hi, _adam.BLOCK):
                e = min(s + _adam.BLOCK, hi)
                g = G[s:e]
                _adam.adam_step(g, M[s:e], V[s:e], np.multiply(g, 1.0 - b1), b1, b2, eps, lr_t)
                P[s:e] -= g

        _par.for_rows(rows, n, n)

    def numba_step(P, M, V):
        np.copyto(G, G0)
        fused(P, G, M, V, dt.type(b1), dt.type(b2), dt.type(1.0 - b1), dt.type(1.0 - b2), dt.type(eps),
              dt.type(lr_t))

    for _ in range(3):  # the same start for both: identical bits after a few updates?
        numpy_step(*state["numpy"])
        numba_step(*state["numba"])
    same = all(np.array_equal(a, b) for a, b in zip(state["numpy"], state["numba"]))
    times = {"numpy": ([], []), "numba": ([], [])}
    copy = []
    for r in range(args.rounds):
        for k in (("numpy", "numba") if r % 2 else ("numba", "numpy")):
            step = numpy_step if k == "numpy" else numba_step
            P, M, V = state[k]
            w, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step(P, M, V)
            times[k][0].append((time.perf_counter() - w) / args.steps * 1e6)
            times[k][1].append((time.process_time() - c) / args.steps * 1e6)
        w = time.perf_counter()
        for _ in range(args.steps):
            np.copyto(G, G0)
        copy.append((time.perf_counter() - w) / args.steps * 1e6)
    print(f"Adam update of {n:,} {dt} values; µs per update (the gradient copy included: "
          f"{statistics.median(copy):.0f}), median (min-max) of {args.rounds} rounds x {args.steps}")
    for k, (wall, cpu) in times.items():
        print(f"  {k:6s} wall {statistics.median(wall):7.0f} ({min(wall):.0f}-{max(wall):.0f})"
              f"   CPU {statistics.median(cpu):7.0f} ({min(cpu):.0f}-{max(cpu):.0f})")
    print("  same bits after 3 updates:", same)


if __name__ == "__main__":
    main()
