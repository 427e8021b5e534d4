"""Where the matrix products of a training step lose time against the same products alone (issue 24).

One float32 784-256-128-10 ReLU/softmax plain-SGD step of the library's training loop
(``Trainer._update``: gather, forward, fused backward with BLAS updates), batch B, every product
inside it timed (``np.matmul`` in ``backprop.model.network`` and the ``fast.blas`` calls are
wrapped by a timer: ~0.2 us each), against the same product with the same operands timed

* ``alone, hot``: repeated back to back (operands in cache, BLAS threads awake: the GEMM-only
  ceiling's situation),
* ``alone, cold``: after evicting the caches (writing 64 MB),
* ``alone, after a pause``: after 300 us of one-thread NumPy work on other memory (BLAS threads
  spinning or asleep, as between two products of the step).

Variants of the step: the elementwise passes split over the BLAS threads as the engine chooses
(``parallel.FORCE = None``), never split (``False``), always split (``True``). Rounds alternate
all of them; medians over the rounds.

    python -m bench.stepprofile --batch 1000 --rounds 15
    python -m bench.stepprofile --batch 1000 --threads 1 --clock cpu   # on a busy machine
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

from backprop.fast import blas as _blas
from backprop.fast import parallel as _par
from backprop.model import network as _network
from backprop.model.network import Network
from backprop.train.trainer import Trainer

_records: list = []
#: the clock: wall time, or with --clock cpu this thread's CPU time (time.thread_time: with one BLAS
#: thread, immune to the time slices other processes take on a busy machine, not to their cache use)
_clock = time.perf_counter


class _TimedNumPy:
    """numpy, with matmul timed (installed as ``backprop.model.network.np``)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def matmul(a, b, out=None):
        t = _clock()
        r = np.matmul(a, b, out=out)
        _records.append((_label("matmul", a, b), _clock() - t, (np.matmul, a, b, out)))
        return r


def _label(kind, a, b):
    ta = "T" if (a.ndim == 2 and not a.flags.c_contiguous and a.flags.f_contiguous) else ""
    tb = "T" if (b.ndim == 2 and not b.flags.c_contiguous and b.flags.f_contiguous) else ""
    return f"{kind} {'x'.join(map(str, a.shape))}{ta} @ {'x'.join(map(str, b.shape))}{tb}"


def _timed_blas(name):
    fn = getattr(_blas, name)

    def wrapped(a, d, W):
        t = _clock()
        fn(a, d, W)
        _records.append((f"{name} {a.shape[0]}x{a.shape[1]}^T @ {d.shape[0]}x{d.shape[1]}",
                         _clock() - t, (fn, a, d, W)))
    return wrapped


def _flops(label):
    if label.startswith("matmul"):
        shapes = label.split(" ", 1)[1].replace("T", "").split(" @ ")
        lhs, rhs = (list(map(int, s.split("x"))) for s in shapes)
        return 2 * int(np.prod(lhs)) * (rhs[-1] if len(rhs) == 2 else 1)
    _, lhs, _, rhs = label.split(" ")
    m, k = map(int, lhs.replace("^T", "").split("x"))
    return 2 * m * k * int(rhs.split("x")[1])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.stepprofile", description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=10, help="timed steps per round and variant")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as set)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args(argv)
    global _clock
    if args.clock == "cpu":
        _clock = time.thread_time
    if args.threads:
        _blas.set_threads(args.threads)
    from bench.data import load_fashion

    X, y, _, _ = load_fashion()
    X = X.astype(np.float32) / 255.0
    Y = np.eye(10, dtype=np.float32)[y]
    net = Network([784, 256, 128, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
    tr = Trainer(net, loss="cross_entropy", epochs=10**6, lr=0.01, batch_size=args.batch, seed=0)
    tr.start(X, Y)
    tr._begin_epoch()

    def step():
        if tr.pos + args.batch > tr.m:
            tr._end_epoch()
            tr._begin_epoch()
        tr._update()

    ctx = tr._context()
    ctx.__enter__()
    for _ in range(5):
        step()
    _network.np = _TimedNumPy()  # type: ignore[assignment]
    for name in ("gemm_update", "gemm_add"):
        setattr(_blas, name, _timed_blas(name))
    big = np.empty(1 << 24, np.float32)  # 64 MB: evicts the 32 MB L3
    other = np.ones(1 << 19, np.float32)

    inside: dict = {v: defaultdict(list) for v in ("auto", "serial", "split")}
    alone: dict = {v: defaultdict(list) for v in ("hot", "cold", "pause")}
    step_t: dict = defaultdict(list)
    force = {"auto": None, "serial": False, "split": True}
    calls: dict = {}
    count: dict = {}  # label -> how many times one step makes that product
    for r in range(args.rounds):
        order = ["auto", "serial", "split"]
        for variant in order[r % 3:] + order[:r % 3]:
            _par.FORCE = force[variant]
            per: dict = defaultdict(float)
            t0 = _clock()
            for _ in range(args.steps):
                _records.clear()
                step()
                for label, dt, call in _records:
                    per[label] += dt
                    calls[label] = call
                for label in calls:
                    count[label] = sum(1 for rec in _records if rec[0] == label)
            step_t[variant].append((_clock() - t0) / args.steps)
            for label, dt in per.items():
                inside[variant][label].append(dt / args.steps)
        _par.FORCE = None
        for label, call in calls.items():
            def once(call=call):
                fn, a, b, out = call
                t = _clock()
                fn(a, b, out=out) if fn is np.matmul else fn(a, b, out)
                return _clock() - t
            n_same = count[label]
            hot = [once() for _ in range(5)]
            alone["hot"][label].append(min(hot[1:]) * n_same)
            big[:] = 1.0
            alone["cold"][label].append(once() * n_same)
            once()
            t = _clock()
            while _clock() - t < 300e-6:
                other *= 1.0000001
            alone["pause"][label].append(once() * n_same)
    ctx.__exit__(None, None, None)
    _network.np = np  # type: ignore[assignment]

    med = statistics.median
    print(f"784-256-128-10 float32 SGD, B = {args.batch}, {_blas.get_threads()} BLAS threads, "
          f"{args.clock} clock (kernel {_blas.about('corename')}); medians over {args.rounds} rounds of "
          f"{args.steps} steps (us)")
    print(f"{'product':44s} {'GFLOP':>6s} {'in step':>8s} {'serial':>8s} {'split':>8s} "
          f"{'hot':>8s} {'cold':>8s} {'pause':>8s}")
    tot = defaultdict(float)
    for label in calls:
        row = [med(inside[v][label]) * 1e6 for v in ("auto", "serial", "split")]
        row += [med(alone[v][label]) * 1e6 for v in ("hot", "cold", "pause")]
        for key, val in zip(("auto", "serial", "split", "hot", "cold", "pause"), row):
            tot[key] += val
        print(f"{label:44s} {_flops(label) / 1e9:6.3f} " + " ".join(f"{v:8.0f}" for v in row))
    print(f"{'all products':44s} {'':6s} " + " ".join(f"{tot[k]:8.0f}" for k in
                                                       ("auto", "serial", "split", "hot", "cold", "pause")))
    print("whole step: " + ", ".join(f"{v} {med(t) * 1e6:.0f} us" for v, t in step_t.items()))


if __name__ == "__main__":
    main()
