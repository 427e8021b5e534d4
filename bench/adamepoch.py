"""One Adam epoch of 784-512-256-10 (B = 1024, lr 1e-3, float32, Fashion-MNIST's 60,000 images): the
NumPy update against the one-pass compiled one, paired: ``python -m bench.adamepoch``.

Each round starts two fresh processes, in alternating order: one with ``BACKPROP_NO_COMPILE=1``
(``FlatAdam``'s 12 NumPy passes), one where numba runs (``backprop.fast.compiled.kernels()``
first, as in a process whose long training has started it: a one-epoch fit alone does not pay for
numba's start, ``compiled.adam_kernels``). Each process trains one epoch to warm up, then times
``--epochs`` epochs (each one ``net.fit(..., epochs=1)``, the bench's ``adam-b1024`` job) and
reports the median wall and CPU seconds (``--clock``: which one the ratios use; ``--batch``). The
measured processes run without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (bench/worker.py).
Prints each round and the median (min-max) of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def _child(compiled: bool, epochs: int, batch: int) -> dict:
    import numpy as np

    import backprop
    from backprop.fast import compiled as _compiled

    from .data import fashion_available, load_fashion, one_hot, random_like_fashion

    if compiled:
        assert _compiled.kernels() is not None, "numba is not installed"
    X, y = load_fashion()[:2] if fashion_available() else random_like_fashion()[:2]
    X = np.ascontiguousarray(X, dtype=np.float32) / np.float32(255)  # pixels in [0, 1], as the bench
    Y = one_hot(y, 10, np.float32)
    net = backprop.Network([784, 512, 256, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
    kw = dict(epochs=1, batch_size=batch, lr=1e-3, optimizer="adam", loss="cross_entropy")
    net.fit(X, Y, seed=0, **kw)
    wall, cpu = [], []
    for e in range(epochs):
        w, c = time.perf_counter(), time.process_time()
        net.fit(X, Y, seed=e + 1, **kw)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="the ratio of wall or of the process's CPU time (with one BLAS thread and "
                         "BACKPROP_NO_THREADS=1, CPU time is not inflated by other processes)")
    ap.add_argument("--child", choices=["numpy", "numba"])
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child == "numba", args.epochs, args.batch)))
        return
    from .worker import measured_env

    ratios, rows = [], []
    for r in range(args.rounds):
        out = {}
        for kind in (("numpy", "numba") if r % 2 == 0 else ("numba", "numpy")):
            env = measured_env()
            if kind == "numpy":
                env["BACKPROP_NO_COMPILE"] = "1"
            else:
                env.pop("BACKPROP_NO_COMPILE", None)
            time.sleep(0.25)
            cmd = [sys.executable, "-m", "bench.adamepoch", "--child", kind, "--epochs", str(args.epochs),
                   "--batch", str(args.batch)]
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            out[kind] = json.loads(p.stdout.strip().splitlines()[-1])
        ratio = out["numpy"][args.clock] / out["numba"][args.clock]
        ratios.append(ratio)
        rows.append(out)
        a, b = out["numpy"], out["numba"]
        print(f"round {r + 1}: NumPy Adam {a['wall']:.3f} s (CPU {a['cpu']:.3f}), "
              f"compiled {b['wall']:.3f} s (CPU {b['cpu']:.3f}): {ratio:.3f}x", flush=True)
    med = {k: statistics.median(o[k][args.clock] for o in rows) for k in ("numpy", "numba")}
    print(f"median epoch ({args.clock}, B = {args.batch}): NumPy Adam {med['numpy']:.3f} s, "
          f"compiled {med['numba']:.3f} s; NumPy / compiled per round: {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}-{max(ratios):.3f}), {args.rounds} rounds")


if __name__ == "__main__":
    main()
