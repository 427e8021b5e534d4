"""One trainer per framework, all doing the same job: ``run(n)`` trains on n samples and returns seconds.

* ``backprop``: the library's public API, ``net.fit(X[:n], Y[:n], epochs=1, batch_size=B,
  optimizer=...)`` -- validation, shuffling (a gather per batch), loss bookkeeping and the
  per-epoch checks included. XOR: ``fit(X, Y, epochs=n/4, mode="online")``, 4 updates per epoch.
  Training workloads, where numba is installed (the ``fast`` extra): the worker starts numba
  first (:func:`start_numba`), as a run long enough to pay for its start does in a process that
  trains for long (a run of ~0.5 s of savings: ~100k XOR epochs, ~11,000 updates of any network),
  so every timed fit runs as in such a process -- XOR's compiled epochs, the compiled epochs of
  the larger networks (``backprop.fast.epochs``); the start itself (~0.5 s, more the first time on
  a machine: the kernels compile) is reported in the worker's info and the warm-up, not timed.
  Inference: ``net.predict(X)``.
* ``torch``: a lean eager loop on 2 threads (``torch.set_num_threads(2)``) that gathers its
  batches by index as backprop does: a fresh ``randperm`` per run (= epoch), then per step
  ``index_select`` of the batch's rows, ``zero_grad(set_to_none=True)``, forward,
  ``loss.backward()``, ``optimizer.step()``. No DataLoader. Adam: ``torch.optim.Adam`` in the
  variant the workload names (fused by default, the fastest on CPU). XOR: the four samples tiled
  and shuffled once beforehand, a slice per step (no per-epoch work at all). Inference: the
  model under ``torch.no_grad()``, softmax included (``predict`` returns probabilities).
* ``sklearn``: ``MLPClassifier(solver="sgd", momentum=0, alpha=0, learning_rate_init=lr,
  batch_size=B, shuffle=True)``; each run is one ``partial_fit`` over the n samples (one epoch,
  scikit-learn's own shuffling and per-batch loss included). XOR: tiled as for torch, with its
  logistic output and log-loss (a classifier of scikit-learn has no squared error).
* ``gemm``: the GEMM-only ceiling: the 8 matrix products of one backpropagation step of
  784-256-128-10 (3 forward a^{k-1} W^k, 3 weight gradients a^{k-1,T} delta^k, 2 error terms
  delta^k W^{k,T} for k > 1) with ``np.matmul(out=)`` into preallocated arrays and nothing else,
  on the better of 1 and 2 BLAS threads. The same for each network of a workload; for inference
  (``predict``) the 3 forward products only. It also measures the machine's matrix-product peak:
  NumPy's best rate, in GFLOP/s, on a large square product of the workload's dtype
  (:data:`PEAK_N`), which no step of that network can beat with any library -- every step is at
  least its products' floating-point operations.
* ``python`` (XOR) and the estimator comparison: :mod:`bench.peers`.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from .data import one_hot

#: largest number of updates one XOR measurement may ask for
XOR_MAX = 2_000_000
#: side of the square product whose rate is the machine's matrix-product peak (Gemm.peak)
PEAK_N = 2048


class Base:
    name = ""

    def __init__(self, wl, X, y):
        self.wl, self.X, self.y = wl, X, y
        self.dtype = np.dtype(wl.dtype)
        self.max_samples = XOR_MAX if wl.data == "xor" else X.shape[0]
        if wl.kind == "predict":  # a run predicts the same fixed_n rows n / fixed_n times
            self.max_samples = 1000 * wl.fixed_n
        self.runs = 0

    def info(self):
        return {}


def start_numba():
    """Start numba's kernels in this process as a long training run does (seconds it took; None:
    numba not installed or switched off)."""
    from backprop.fast import compiled

    t = time.perf_counter()
    if compiled.available() and compiled.kernels() is not None:
        return time.perf_counter() - t
    return None


class Backprop(Base):
    name = "backprop"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        import backprop

        self.backprop = backprop
        self.Y = (y.reshape(-1, 1).astype(self.dtype) if wl.sizes[-1] == 1
                  else one_hot(y, wl.sizes[-1], self.dtype))
        self.numba_start_s = start_numba() if wl.kind == "train" else None

    def build(self, seed=0):
        wl = self.wl
        self.net = self.backprop.Network(list(wl.sizes), hidden=wl.hidden, output=wl.output, seed=seed,
                                         dtype=wl.dtype)

    def run(self, n):
        wl = self.wl
        self.runs += 1
        if wl.kind == "predict":
            X, net = self.X[:wl.fixed_n], self.net
            t = time.perf_counter()
            for _ in range(max(1, n // wl.fixed_n)):
                net.predict(X)
            return time.perf_counter() - t
        t = time.perf_counter()
        if wl.data == "xor":
            self.net.fit(self.X, self.Y, epochs=max(1, n // 4), mode="online", lr=wl.lr, loss=wl.loss,
                         optimizer=wl.optimizer, seed=self.runs)
        else:
            self.net.fit(self.X[:n], self.Y[:n], epochs=1, batch_size=wl.batch, lr=wl.lr, loss=wl.loss,
                         optimizer=wl.optimizer, seed=self.runs)
        return time.perf_counter() - t

    def info(self):
        info = {"version": self.backprop.__version__, "dtype": str(self.net.weights[0].dtype)}
        if self.numba_start_s is not None:  # numba started before the timed runs (not timed)
            info["numba_start_s"] = round(self.numba_start_s, 3)
        return info


class Torch(Base):
    name = "torch"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        if wl.data == "xor":
            # tiled and shuffled once, here, outside every timing: the XOR loop only slices
            idx = np.random.default_rng(1).integers(0, 4, self.max_samples)
            X, y = np.ascontiguousarray(X[idx]), y[idx]
        self.Xt = torch.from_numpy(np.ascontiguousarray(X))
        if wl.output == "softmax":
            self.yt = torch.from_numpy(y.astype(np.int64))
        else:
            self.yt = torch.from_numpy(y.astype(self.dtype).reshape(-1, 1))
        self.adam_variant = None

    def build(self, seed=0):
        torch, wl = self.torch, self.wl
        torch.manual_seed(seed)
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[wl.hidden]
        layers = []
        for k, (i, o) in enumerate(zip(wl.sizes[:-1], wl.sizes[1:])):
            layers.append(torch.nn.Linear(i, o))
            if k < len(wl.sizes) - 2:
                layers.append(act())
        if wl.loss == "mse":  # XOR: sigmoid output and the squared error, as the reference
            layers.append(torch.nn.Sigmoid())
            self.lossf = torch.nn.MSELoss()
        else:  # the output activation lives in the loss (log-softmax fused with it)
            self.lossf = torch.nn.CrossEntropyLoss()
        self.model = torch.nn.Sequential(*layers).to(getattr(torch, wl.dtype))
        params = self.model.parameters()
        if wl.optimizer == "adam":
            self.opt = self._adam(params)
        else:
            self.opt = torch.optim.SGD(params, lr=wl.lr)

    def _adam(self, params):
        """torch.optim.Adam in the workload's variant (falls back to foreach where fused is missing)."""
        Adam, lr, params = self.torch.optim.Adam, self.wl.lr, list(params)
        variant = self.wl.torch_adam
        if variant == "fused":
            try:
                opt = Adam(params, lr=lr, fused=True)
                self.adam_variant = "fused"
                return opt
            except (RuntimeError, TypeError, ValueError):
                variant = "foreach"
        self.adam_variant = variant
        return Adam(params, lr=lr, foreach=variant == "foreach")

    def run(self, n):
        torch, model, opt, lossf, B = self.torch, self.model, self.opt, self.lossf, self.wl.batch
        Xt, yt = self.Xt, self.yt
        self.runs += 1
        if self.wl.kind == "predict":
            X = Xt[:self.wl.fixed_n]
            t = time.perf_counter()
            with torch.no_grad():
                for _ in range(max(1, n // self.wl.fixed_n)):
                    torch.softmax(model(X), dim=1).numpy()
            return time.perf_counter() - t
        if self.wl.data == "xor":
            t = time.perf_counter()
            for s in range(0, n, B):
                opt.zero_grad(set_to_none=True)
                loss = lossf(model(Xt[s:s + B]), yt[s:s + B])
                loss.backward()
                opt.step()
            return time.perf_counter() - t
        t = time.perf_counter()
        perm = torch.randperm(n)  # one epoch over the first n rows, gathered by index
        for s in range(0, n, B):
            idx = perm[s:s + B]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(Xt.index_select(0, idx)), yt.index_select(0, idx))
            loss.backward()
            opt.step()
        return time.perf_counter() - t

    def info(self):
        torch = self.torch
        out = {"version": torch.__version__, "threads": torch.get_num_threads(),
               "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
               "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available()}
        if self.adam_variant:
            out["adam"] = self.adam_variant
        return out


class Sklearn(Base):
    name = "sklearn"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        import warnings

        import sklearn
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        self.sklearn, self.MLPClassifier = sklearn, MLPClassifier
        if wl.data == "xor":
            idx = np.random.default_rng(1).integers(0, 4, self.max_samples)
            self.Xs, self.ys = np.ascontiguousarray(X[idx]), y[idx]
        else:
            self.Xs, self.ys = X, y
        self.classes = np.arange(max(2, wl.sizes[-1]))

    def build(self, seed=0):
        wl = self.wl
        act = {"relu": "relu", "sigmoid": "logistic"}[wl.hidden]
        self.clf = self.MLPClassifier(
            hidden_layer_sizes=tuple(wl.sizes[1:-1]), activation=act, solver="sgd",
            learning_rate="constant", learning_rate_init=wl.lr, momentum=0.0, nesterovs_momentum=False,
            alpha=0.0, batch_size=wl.batch, shuffle=True, max_iter=1, tol=0.0, random_state=seed,
        )

    def run(self, n):
        self.runs += 1
        t = time.perf_counter()
        self.clf.partial_fit(self.Xs[:n], self.ys[:n], classes=self.classes)
        return time.perf_counter() - t

    def info(self):
        return {"version": self.sklearn.__version__, "dtype": str(self.clf.coefs_[0].dtype)}


class Gemm(Base):
    name = "gemm"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        from threadpoolctl import threadpool_limits

        self.threadpool_limits = threadpool_limits
        self.threads = None  # chosen by calibrate()

    def build(self, seed=0):
        rng = np.random.default_rng(seed)
        wl, m, dt = self.wl, self.wl.batch, self.dtype
        s = wl.sizes
        self.W = [rng.standard_normal((i, o)).astype(dt) * 0.05 for i, o in itertools.pairwise(s)]
        self.a = [rng.random((m, n)).astype(dt) for n in s]  # a[0] is the input batch
        self.d = [rng.standard_normal((m, n)).astype(dt) for n in s[1:]]
        self.gW = [np.empty_like(w) for w in self.W]

    def _steps(self, steps):
        W, a, d, gW = self.W, self.a, self.d, self.gW
        L = len(W)
        mm = np.matmul
        for _ in range(steps):
            for k in range(L):  # forward: h^k = a^{k-1} W^k (written over a[k+1]: values are irrelevant)
                mm(a[k], W[k], out=a[k + 1] if k + 1 < L else d[k])
            if self.wl.kind == "predict":  # inference: the forward products only
                continue
            for k in range(L - 1, -1, -1):  # backward: gradients and error terms
                mm(a[k].T, d[k], out=gW[k])
                if k > 0:
                    mm(d[k], W[k].T, out=d[k - 1])

    def calibrate(self, n):
        """Pick the faster of 1 and 2 BLAS threads for these shapes (best of 3 tries of >= 0.1 s each)."""
        best = {}
        for _ in range(3):
            for threads in (1, 2):
                with self.threadpool_limits(threads, user_api="blas"):
                    self._steps(2)
                    steps, dt = 1, 0.0
                    while True:
                        t = time.perf_counter()
                        self._steps(steps)
                        dt = time.perf_counter() - t
                        if dt >= 0.1:
                            break
                        steps *= 2
                best[threads] = min(best.get(threads, float("inf")), dt / steps)
        self.threads = min(best, key=best.get)
        self.thread_times = best
        self.peak_gflops = self.peak()

    def peak(self, tries=5):
        """GFLOP/s of the best of ``tries`` square PEAK_N products on all the BLAS threads."""
        rng = np.random.default_rng(1)
        A, B = (rng.random((PEAK_N, PEAK_N)).astype(self.dtype) for _ in range(2))
        C = np.empty_like(A)
        np.matmul(A, B, out=C)  # warm-up: pages touched, threads started
        best = float("inf")
        for _ in range(tries):
            t = time.perf_counter()
            np.matmul(A, B, out=C)
            best = min(best, time.perf_counter() - t)
        return 2 * PEAK_N**3 / best / 1e9

    def run(self, n):
        steps = max(1, n // self.wl.batch)
        with self.threadpool_limits(self.threads or 2, user_api="blas"):
            t = time.perf_counter()
            self._steps(steps)
            return (time.perf_counter() - t) * n / (steps * self.wl.batch)

    def info(self):
        return {"threads": self.threads, "numpy": np.__version__,
                "step_us": {t: round(v * 1e6, 1) for t, v in self.thread_times.items()},
                "peak_gflops": round(self.peak_gflops, 1)}


FRAMEWORKS = {cls.name: cls for cls in (Backprop, Torch, Sklearn, Gemm)}


def make(name, wl, X, y):
    """The trainer of framework ``name`` for workload ``wl`` (the estimator jobs have their own)."""
    from . import peers

    if wl.kind == "estimator" and name != "gemm":  # the ceiling: the same 8 products as for training
        return peers.ESTIMATORS[name](wl, X, y)
    if name == "python":
        return peers.PythonLoop(wl, X, y)
    return FRAMEWORKS[name](wl, X, y)
