"""Where a compiled epoch's step spends its time (issue 24): the products, the gather, the passes.

A copy of the kernel (``backprop.fast.dense.epoch``) is made with a clock read (``clock_gettime``
through ctypes, ~30 ns) around each of its parts -- every BLAS product, the gather of the batch's
rows, the hidden layers' bias + g, the output layer (softmax, E, delta^o and its sums), g' with the
bias sums, Adam's update -- and one ``fit`` runs on it; "rest" is the fit's time outside these parts
(the loss scalar, the L2 terms, the calls from Python, the fit's own checks and set-up), per step.

    python -m bench.epochprofile mlp --batch 1000          # 784-256-128-10 SGD, Fashion-MNIST, one epoch
    python -m bench.epochprofile adam --batch 1024         # 784-512-256-10 Adam, one epoch
    python -m bench.epochprofile estimator --batch 200     # MLPClassifier (256, 128), 20,000 x 100, 3 epochs

Run it on a quiet machine, with ``OPENBLAS_CORETYPE`` unset as the benchmark does;
``BACKPROP_NO_THREADS=1`` keeps every pass on the calling thread (``fast.team``).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import inspect
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PARTS = ("products", "gather", "adam", "hidden", "output", "g' + sums")


def _instrumented():
    """fast.dense with timers, imported from a temporary copy (not cached: a fresh compile)."""
    from backprop.fast import dense

    src = inspect.getsource(dense).replace("cache=True", "cache=False")
    src = src.replace("result, tm, psums, table):", "result, tm, psums, table, clk, ts, TT):")
    # the clock reaches the parts through the two functions that call them
    lines = src.split("\n")
    for i, line in enumerate(lines):
        if "_forward(" in line or "_backward(" in line:
            at = line.rindex(")")
            lines[i] = line[:at] + ", clk, ts, TT" + line[at:]
    src = "\n".join(lines)
    # (a pass split over the BLAS pool is timed where the kernel hands it over and gets it back)
    timed = {"_gemm(gemm,": 0, "_gather_split(": 1, "_adam(consts": 2, "_go(tm, n)  # bias and g": 3,
             "_output_units(": 4,
             "total = _loss_sum(": 4, "_output_delta(": 4, "_g_prime_split(": 5}
    out, lines, i = [], src.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        slot = next((s for p, s in timed.items() if stripped.startswith(p)), None)
        if slot is None or "def " in line:
            out.append(line)
            i += 1
            continue
        indent = line[:len(line) - len(stripped)]
        out.append(f"{indent}t_ = _ns(clk, ts)")
        depth = 0
        while True:  # the call, over as many lines as its parentheses take
            out.append(lines[i])
            depth += lines[i].count("(") - lines[i].count(")")
            if depth <= 0:
                break
            i += 1
        out.append(f"{indent}TT[{slot}] += _ns(clk, ts) - t_")
        i += 1
    src = "\n".join(out)
    src += ("\n\n@njit\ndef _ns(clk, ts):\n    clk(1, ts.ctypes)  # CLOCK_MONOTONIC\n"
            "    return ts[0] * 1e9 + ts[1]\n")
    folder = Path(tempfile.mkdtemp(prefix="epochprofile-"))
    (folder / "dense_timed.py").write_text(src)
    spec = importlib.util.spec_from_file_location("dense_timed", folder / "dense_timed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job(name: str, B: int):
    """``(fit(seed), rows trained per fit)`` of a job: ``mlp`` (784-256-128-10 SGD) or ``adam``
    (784-512-256-10) for one epoch of Fashion-MNIST, ``estimator`` (MLPClassifier (256, 128), 20,000 x
    100, 3 epochs); batch ``B``. Also bench.team's."""
    import backprop

    from .data import load_fashion, one_hot, synthetic_classes

    if name == "estimator":
        X, y = synthetic_classes()
        X = np.ascontiguousarray(X, np.float32)

        def fit(seed):
            backprop.MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam", learning_rate_init=1e-3,
                                   batch_size=B, max_iter=3, tol=0, n_iter_no_change=10**6,
                                   random_state=seed).fit(X, y)
        return fit, 3 * X.shape[0]
    X, y = load_fashion()[:2]
    X = np.ascontiguousarray(X, np.float32) / np.float32(255)
    Y = one_hot(y, 10, np.float32)
    sizes = [784, 256, 128, 10] if name == "mlp" else [784, 512, 256, 10]
    net = backprop.Network(sizes, hidden="relu", output="softmax", seed=0, dtype="float32")
    opt, lr = ("sgd", 0.01) if name == "mlp" else ("adam", 1e-3)

    def fit_net(seed):
        net.fit(X, Y, epochs=1, batch_size=B, lr=lr, loss="cross_entropy", optimizer=opt, seed=seed)
    return fit_net, X.shape[0]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=("mlp", "adam", "estimator"))
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="timed fits (the median is shown)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from backprop.fast import compiled, dense, epochs

    compiled.kernels()  # numba running, as in a long run's process (bench/frameworks.start_numba)
    timed = _instrumented()
    libc = ctypes.CDLL(None)
    clk = libc.clock_gettime
    clk.argtypes, clk.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_int
    ts, TT = np.zeros(2, np.int64), np.zeros(6)
    real = epochs.EpochRunner.run

    def run(self, trainer, lo, hi):
        self.k = type("Timed", (), {"epoch": staticmethod(lambda *a: timed.epoch(*a, clk, ts, TT)),
                                    "team_function": staticmethod(dense.team_function),
                                    "SPLIT_MIN": dense.SPLIT_MIN})
        return real(self, trainer, lo, hi)

    epochs.EpochRunner.run = run  # type: ignore[method-assign]
    B = args.batch
    fit, rows = job(args.job, B)
    fit(0)  # compile and warm up
    results = []
    for r in range(args.repeats):
        TT[:] = 0
        t = time.perf_counter()
        fit(r + 1)
        results.append((time.perf_counter() - t, TT.copy()))
    results.sort(key=lambda x: x[0])
    total, parts = results[len(results) // 2]
    steps = rows / B
    cells = [f"{name} {v / steps / 1e6:.3f}" for name, v in zip(PARTS, parts)]
    print(f"{args.job}, B = {B}: {total / steps * 1e3:.3f} ms per step ({rows / total:,.0f} samples/s); "
          f"ms per step: {', '.join(cells)}, rest {(total * 1e9 - parts.sum()) / steps / 1e6:.3f}")


if __name__ == "__main__":
    sys.exit(main())
