"""Subnormal floats in raw-pixel Fashion-MNIST training: epoch times and counts (issue 24).

Trains the README recipe (784-512-256-10 ReLU, Adam lr 0.002, B = 128, L2 3e-4, eta 0.002 x
0.8^epoch, float32, seed 0) on the 60,000 training images, raw pixels in [0, 1] or standardised
per pixel, through the library's Trainer, and prints per epoch its time and how many entries of
the parameters and of Adam's moments are subnormal. One configuration per process:

    python -m bench.subnormal --epochs 8 --pixels raw --flush off      # what issue 24 reported
    python -m bench.subnormal --epochs 8 --pixels raw                  # the library's default
    python -m bench.subnormal --epochs 8 --pixels standardized
    python -m bench.subnormal --epochs 6 --exposure [--flush off]     # subnormal weights per update
    python -m bench.subnormal --ops          # single products and ufuncs on subnormals; FTZ/DAZ; the pass
    python -m bench.subnormal --pair 3 --epochs 6                      # A/B alternated, medians
    python -m bench.subnormal --steps 15 --epochs 4                    # steps of one state, A/B
    OPENBLAS_NUM_THREADS=1 BACKPROP_NO_THREADS=1 python -m bench.subnormal --steps 15 --epochs 4 --clock cpu

``--flush off`` sets ``BACKPROP_NO_FLUSH=1`` (the library's own switch) before importing it.
``--pair N`` runs N rounds of fresh processes, raw (library default) / raw (flush off) /
standardized, rotating their order each round, and prints the median epoch time of epochs 3 and
later (where subnormals have appeared) for each and their ratios.

``--steps N`` (less exposed to a busy machine than whole epochs): trains ``--epochs`` raw-pixel epochs
with the flush off, then times N rounds of 20 training steps from that state in one process,
alternating three copies: the state as it is (subnormals, flush off), the same state flushed (flush
on), and the flush off on the flushed state (what the pass itself costs) -- on the current BLAS threads.

``--clock cpu`` times with the process's CPU time instead of wall time: with one thread (the
command above), immune to the time slices other processes take on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def ops(args):
    """Single operations on subnormal operands against normal ones, FTZ/DAZ on the calling thread
    and a two-thread product, and the cost of the flush pass."""
    import ctypes
    import ctypes.util

    import numpy as np

    from backprop.fast import blas, denormals

    def best(f, k=7):
        ts = []
        for _ in range(k):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return min(ts)

    rng = np.random.default_rng(0)
    tiny = np.finfo(np.float32).tiny
    A = rng.random((1000, 784), dtype=np.float32)
    Wn = rng.standard_normal((784, 512)).astype(np.float32)
    Ws = Wn * np.float32(1e-39)  # every weight subnormal
    print(f"BLAS threads {blas.get_threads()}, kernel {blas.about('corename')}")
    print(f"1000x784 @ 784x512 float32: normal weights {best(lambda: A @ Wn) * 1e3:.2f} ms, "
          f"subnormal weights {best(lambda: A @ Ws) * 1e3:.2f} ms (best of 7)")
    n = 1 << 18
    N = rng.random(n, dtype=np.float32) + np.float32(0.5)
    S, T, out = N * np.float32(1e-39), N * np.float32(1e-20), np.empty(n, np.float32)
    cases = (("multiply", lambda x: np.multiply(x, np.float32(0.9), out=out), S),
             ("square (T*T underflows)", lambda x: np.multiply(x, x, out=out), T),
             ("add", lambda x: np.add(x, x, out=out), S), ("sqrt", lambda x: np.sqrt(x, out=out), S),
             ("divide", lambda x: np.divide(x, N, out=out), S))
    for name, fn, sub in cases:
        a, b = best(lambda fn=fn: fn(N)), best(lambda fn=fn, sub=sub: fn(sub))
        print(f"  {name:24s} {n} float32: normal {a * 1e6:7.1f} us, subnormal {b * 1e6:7.1f} us "
              f"({b / a:.1f}x)")
    P = rng.standard_normal(535818).astype(np.float32)
    P[:50000] *= np.float32(1e-39)

    def flush_copy():
        denormals.flush_subnormals([P.copy()])
    base = best(lambda: P.copy())
    print(f"flush pass over 535,818 float32 (50,000 subnormal): {(best(flush_copy) - base) * 1e6:.0f} us")
    if sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "amd64"):
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        env = (ctypes.c_uint8 * 32)()  # glibc's fenv_t on x86-64: MXCSR at byte 28
        libm.fegetenv(ctypes.byref(env))
        old = bytes(env)
        reg = int.from_bytes(old[28:32], "little") | 0x8040  # FTZ | DAZ, this thread only
        env[28:32] = (ctypes.c_uint8 * 4)(*reg.to_bytes(4, "little"))
        libm.fesetenv(ctypes.byref(env))
        try:
            R = A @ Ws
            print(f"FTZ/DAZ set on the calling thread: rows of A @ W(subnormal) still nonzero: "
                  f"{int(np.count_nonzero(np.any(R != 0, axis=1)))} of {R.shape[0]} "
                  f"(0 if every BLAS thread flushed); the calling thread's own x * 0.5 of tiny: "
                  f"{(np.array([tiny], np.float32) * np.float32(0.5))[0]}")
        finally:
            env[:] = (ctypes.c_uint8 * 32)(*old)
            libm.fesetenv(ctypes.byref(env))


def _clock(args):
    return time.process_time if getattr(args, "clock", "wall") == "cpu" else time.perf_counter


def train(args):
    if args.flush == "off":
        os.environ["BACKPROP_NO_FLUSH"] = "1"
    import numpy as np

    from backprop.model.network import Network
    from backprop.train.trainer import Trainer
    from bench.data import load_fashion

    X, y, _, _ = load_fashion()
    X = X.astype(np.float32) / 255.0
    if args.pixels == "standardized":
        mean, sd = X.mean(0), X.std(0)
        sd[sd == 0] = 1.0
        X = (X - mean) / sd
    Y = np.eye(10, dtype=np.float32)[y]
    net = Network([784, *args.layers, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
    tiny = np.finfo(np.float32).tiny
    rows = []
    clock = _clock(args)
    t_last = [clock()]

    def count(arrs):
        return int(sum(np.count_nonzero((a != 0) & (np.abs(a) < tiny)) for a in arrs))

    trainer: Trainer

    def cb(net_, info):
        now = clock()
        opt = trainer.optimizer.state
        mean_exposure = exposure[0] / max(exposure[1], 1)
        exposure[:] = [0, 0]
        rows.append({"epoch": info["epoch"], "time": now - t_last[0], "loss": info["loss"],
                     "mean_subnormal_weights_per_update": mean_exposure,
                     "sub_w": count(net_.weights), "sub_b": count(net_.biases),
                     "sub_m": count(opt.get("m", {}).values()), "sub_v": count(opt.get("v", {}).values())})
        if not args.json:
            r = rows[-1]
            print(f"epoch {r['epoch']:2d}  {r['time']:6.2f} s  loss {r['loss']:.4f}  subnormal: "
                  f"weights {r['sub_w']}, biases {r['sub_b']}, m {r['sub_m']}, v {r['sub_v']}"
                  + (f"; weights per update (mean) {mean_exposure:.0f}" if args.exposure else ""), flush=True)
        t_last[0] = clock()  # the counting is not part of the next epoch
        return True

    exposure = [0, 0]  # subnormal weights summed over the updates of the epoch, updates

    def on_step(net_, info):  # what the products of the next update meet (--exposure only)
        exposure[0] += count(net_.weights)
        exposure[1] += 1

    trainer = Trainer(net, loss="cross_entropy", epochs=args.epochs, lr=0.002, batch_size=128,
                      optimizer="adam", schedule="exponential", gamma=0.8, l2=3e-4, seed=0, callbacks=[cb],
                      on_step=on_step if args.exposure else None)
    t_last[0] = clock()
    trainer.run(X, Y)
    if args.json:
        print(json.dumps(rows))


def steps(args):
    os.environ["BACKPROP_NO_FLUSH"] = "1"
    import copy

    import numpy as np

    from backprop.fast import denormals
    from backprop.model.network import Network
    from backprop.train.trainer import Trainer
    from bench.data import load_fashion

    X, y, _, _ = load_fashion()
    X = X.astype(np.float32) / 255.0
    Y = np.eye(10, dtype=np.float32)[y]
    clock = _clock(args)

    def trainer():
        net = Network([784, *args.layers, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
        return Trainer(net, loss="cross_entropy", epochs=args.epochs + 100, lr=0.002, batch_size=128,
                       optimizer="adam", schedule="exponential", gamma=0.8, l2=3e-4, seed=0)

    t0 = trainer()
    t0.epochs = args.epochs
    t0.run(X, Y)
    state = t0.state_dict()
    tiny = np.finfo(np.float32).tiny
    n_sub = sum(int(np.count_nonzero((a != 0) & (np.abs(a) < tiny))) for a in state["arrays"].values()
                if a.dtype == np.float32)
    flushed = copy.deepcopy(state)
    denormals.flush_subnormals(a for a in flushed["arrays"].values())
    runs = {}
    for name, st, flush in (("subnormal", state, False), ("flushed+flush", flushed, True),
                            ("flushed", flushed, False)):
        t = trainer()
        t.load_state_dict(copy.deepcopy(st))
        t.start(X, Y)
        runs[name] = (t, flush)
    times: dict = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.steps):
        for name in names[r % 3:] + names[:r % 3]:
            t, flush = runs[name]
            denormals.ENABLED = flush
            with t._context():
                if t.pos == 0:
                    t._begin_epoch()
                start = clock()
                for _ in range(20):
                    t._update()
                    if t.pos >= t.m:
                        t._end_epoch()
                        t._begin_epoch()
                times[name].append((clock() - start) / 20)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"state after {args.epochs} raw-pixel epochs without the flush: {n_sub} subnormal values "
          f"(parameters and Adam's moments); median ms per step over {args.steps} rounds of 20:")
    for k, v in med.items():
        ratios = [a / b for a, b in zip(times[k], times["flushed"])]
        print(f"  {k:14s} {v * 1e3:7.2f} ms   / flushed: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


def pair(args):
    configs = [("raw", "on"), ("raw", "off"), ("standardized", "on")]
    times: dict = {c: [] for c in configs}
    for r in range(args.pair):
        order = configs[r % 3:] + configs[:r % 3]
        for pixels, flush in order:
            cmd = [sys.executable, "-m", "bench.subnormal", "--epochs", str(args.epochs), "--pixels", pixels,
                   "--flush", flush, "--json", "--layers", ",".join(map(str, args.layers)),
                   "--clock", args.clock]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows = json.loads(out.strip().splitlines()[-1])
            late = [row["time"] for row in rows[2:]] or [row["time"] for row in rows]
            times[(pixels, flush)].append(statistics.median(late))
            epochs = [round(x["time"], 2) for x in rows]
            print(f"round {r + 1}: {pixels:12s} flush {flush:3s}: epochs {epochs} "
                  f"subnormal weights at the end {rows[-1]['sub_w']}, m {rows[-1]['sub_m']}", flush=True)
    med = {c: statistics.median(t) for c, t in times.items()}
    for c, t in med.items():
        print(f"{c[0]:12s} flush {c[1]:3s}: median epoch (epochs 3+) {t:.2f} s")
    std = med[("standardized", "on")]
    for c in configs[:2]:
        ratios = [a / b for a, b in zip(times[c], times[("standardized", "on")])]
        print(f"{c[0]} flush {c[1]} / standardized: median {statistics.median(ratios):.2f} "
              f"(per round {', '.join(f'{x:.2f}' for x in ratios)}); medians {med[c] / std:.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.subnormal", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--pixels", choices=("raw", "standardized"), default="raw")
    p.add_argument("--flush", choices=("on", "off"), default="on")
    p.add_argument("--layers", type=lambda s: [int(x) for x in s.split(",")], default=[512, 256])
    p.add_argument("--json", action="store_true")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--exposure", action="store_true",
                   help="count the subnormal weights after every update (slower; not for timing)")
    p.add_argument("--pair", type=int, default=0, metavar="ROUNDS")
    p.add_argument("--steps", type=int, default=0, metavar="ROUNDS")
    p.add_argument("--ops", action="store_true", help="single operations on subnormals, FTZ/DAZ, the pass")
    args = p.parse_args(argv)
    if args.ops:
        ops(args)
    elif args.steps:
        steps(args)
    elif args.pair:
        pair(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
