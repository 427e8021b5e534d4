"""Where a compiled epoch beats NumPy's: ``python -m bench.compiled`` (bench/README.md).

For networks d-M-c (tanh hidden layer, softmax + cross-entropy) of growing size and a few batch
sizes, one process alternates plain-SGD epochs over m random rows on the compiled path
(``backprop.fast.compiled``) and on the path the engine takes without it (the fused NumPy step, or
the generated Python of ``fast.tiny`` for a tiny network online), and prints this process's CPU time
per sample of each (median of ``--rounds``), and their ratio. CPU time (``time.process_time``) is not
inflated by other processes' time slices; ``OPENBLAS_NUM_THREADS=1`` keeps the NumPy path on one
thread as the compiled one is.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, nargs="+", default=[4, 16, 32, 64, 128, 256])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16, 32, 64, 256])
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args(argv)

    import backprop
    from backprop.fast import compiled
    from backprop.train.trainer import Trainer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.inputs)).astype(args.dtype)
    Y = rng.integers(0, args.classes, args.rows)
    print(f"network {args.inputs}-M-{args.classes} tanh/softmax, {args.rows} rows, {args.dtype}; "
          "CPU µs per sample, median of", args.rounds)
    print("| M | parameters | B | compiled | without | without / compiled |")
    print("|---|---|---|---|---|---|")
    for M in args.hidden:
        for B in args.batch:
            net = backprop.Network([args.inputs, M, args.classes], hidden="tanh", output="softmax",
                                   seed=0, dtype=args.dtype)
            times = {True: [], False: []}
            names = {}
            for r in range(args.rounds + 1):
                for on in (True, False) if r % 2 else (False, True):
                    compiled.MAX_WORK = 1 << 62 if on else 0
                    tr = Trainer(net, loss="cross_entropy", epochs=2, lr=0.01, batch_size=B, seed=r)
                    t = time.process_time()
                    tr.run(X, Y)
                    dt = time.process_time() - t
                    names[on] = tr.strategy.name
                    if r:  # round 0 warms up (and compiles)
                        times[on].append(dt / (2 * args.rows) * 1e6)
            c, w = statistics.median(times[True]), statistics.median(times[False])
            print(f"| {M} | {net.n_parameters} | {B} | {c:.2f} ({names[True]}) | {w:.2f} ({names[False]}) "
                  f"| {w / c:.2f} |", flush=True)


if __name__ == "__main__":
    main()
