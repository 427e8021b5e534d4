"""The passes between products on OpenBLAS's own threads against the calling thread alone (issue 24).

One process trains the same job again and again, switching between the two ways fit by fit (the
order alternates each pair): the compiled epoch's gather, bias + g, g' with the bias sums and Adam's
update split over the BLAS pool (``fast.team``), or every pass on the calling thread (what
``BACKPROP_NO_THREADS=1`` gives). Same bits either way; the ratio of each pair (alone / split) shows
what the split saves, the pairs' spread what the machine's noise is.

    python -m bench.team adam                  # 784-512-256-10 Adam, B = 1024, one epoch of Fashion-MNIST
    python -m bench.team mlp --batch 1000      # 784-256-128-10 SGD, one epoch
    python -m bench.team estimator --batch 256 # MLPClassifier (256, 128), 20,000 x 100, 3 epochs
    python -m bench.team adam --pairs 16
    python -m bench.team handoff               # what one hand-off costs: Adam's pass after a product, by size

Run it on a quiet machine, with ``OPENBLAS_CORETYPE`` unset as the benchmark does.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=("mlp", "adam", "estimator", "handoff"))
    ap.add_argument("--batch", type=int, default=None,
                    help="default: 1024 (adam), 1000 (mlp), 256 (estimator)")
    ap.add_argument("--pairs", type=int, default=10)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from backprop.fast import compiled, dense, team

    from .epochprofile import job

    compiled.kernels()  # numba running, as in a long run's process (bench/frameworks.start_numba)
    if args.job == "handoff":
        _handoff()
        return
    B = args.batch or {"adam": 1024, "mlp": 1000, "estimator": 256}[args.job]
    fit, _ = job(args.job, B)

    split, alone = dense.team_function, (lambda: (team.ALONE, 1))
    parts = split()[1]
    fit(0)  # compile and warm up
    times: dict[str, list[float]] = {"split": [], "alone": []}
    for r in range(args.pairs):
        ways = [("split", split), ("alone", alone)]
        for name, fn in ways if r % 2 == 0 else ways[::-1]:
            dense.team_function = fn  # type: ignore[assignment]
            t = time.perf_counter()
            fit(r + 1)
            times[name].append(time.perf_counter() - t)
    dense.team_function = split  # type: ignore[assignment]
    ratios = np.array(times["alone"]) / np.array(times["split"])
    print(f"{args.job}, B = {B}, {parts} parts on the pool: fit split {np.median(times['split']):.4f} s, "
          f"alone {np.median(times['alone']):.4f} s (medians of {args.pairs}); alone / split per pair: "
          f"median {np.median(ratios):.3f} (min {ratios.min():.3f}, max {ratios.max():.3f})")


def _handoff() -> None:
    """A 256x256 float32 product then Adam's pass over n values, 400 times, split against alone: the
    difference at small n is the hand-off's cost, at large n the split's gain (best of 3, us each)."""
    import ctypes

    from numba import njit

    from backprop.fast import blas, dense, team
    from backprop.fast.cabi import call_gemm

    rng = np.random.default_rng(0)
    f = np.float32
    X, W, H = rng.random((256, 256), dtype=f), rng.random((256, 256), dtype=f), np.zeros((256, 256), f)
    gemm = ctypes.cast(blas.gemm_function(f), ctypes.c_void_p).value
    wide = np.int64(0) if blas.int_bits() == 64 else np.int32(0)
    consts = np.array([1e-3, 0.9, 0.999, 0.1, 0.001, 1e-8, 0, 0], f)
    desc = np.zeros((team.MAX_PARTS, team.SLOTS), np.int64)
    pool, parts = team.function()

    @njit
    def loop(X, W, H, consts, table, size, tm, k):
        one = np.float32(1)
        for _ in range(k):
            call_gemm(gemm, wide, 101, 111, 111, 256, 256, 256, one, X.ctypes.data, 256, W.ctypes.data, 256,
                      one * 0, H.ctypes.data, 256)
            dense._adam(consts, np.float32(1e-3), table, size, tm)

    for n in (4096, 16384, 32768, 65536, 131072):
        P, G, M, V = (rng.random(n, dtype=f) for _ in range(4))
        table = np.array([[P.ctypes.data, G.ctypes.data, M.ctypes.data, V.ctypes.data, n]], np.int64)
        best = {}
        for _ in range(3):
            for name, tm in (("split", (pool, dense.part_address(f), desc, parts, 1)),
                             ("alone", (team.ALONE, dense.part_address(f), desc, 1, 1))):
                loop(X, W, H, consts, table, n, tm, 2)
                t = time.perf_counter()
                loop(X, W, H, consts, table, n, tm, 400)
                best[name] = min(best.get(name, np.inf), (time.perf_counter() - t) / 400 * 1e6)
        print(f"{n:>7} values: product + Adam split over {parts} {best['split']:.1f} us, "
              f"alone {best['alone']:.1f} us")


if __name__ == "__main__":
    main()
