"""The peers that are not a framework's training loop: a plain-Python XOR loop and the estimators.

* ``python`` (XOR only): the reference's online algorithm for its example network (2 inputs,
  M sigmoid hidden units, 1 sigmoid output, squared error) in Python floats, a loop over the
  hidden units with scalar updates (the fastest of a few plain styles tried; list comprehensions
  were 4x slower): per sample the forward pass (steps 1-4, the bias as the weight of a constant
  input 1), then (i) delta^o = (yhat - y) g_o'(h^o), (ii) delta_j^h = g_h'(h_j^h) delta^o w_j,
  (iii) w_j -= eta delta^o a_j^h, (iv) v_ij -= eta delta_j^h x_i. It does the job
  backprop's ``fit(..., mode="online")`` does: the four samples in a fresh random order every
  epoch and the epoch's error E summed on the way (backprop records it in its history).
* ``backprop`` / ``sklearn`` on ``estimator`` workloads: ``backprop.MLPClassifier(...).fit`` and
  ``sklearn.neural_network.MLPClassifier(...).fit`` with the same parameters: solver adam,
  ``learning_rate_init``, ``batch_size``, ``max_iter`` = the workload's epochs, ``tol=0`` and
  ``n_iter_no_change`` larger than ``max_iter`` (so both train exactly that many epochs), the
  default ``alpha`` (1e-4), ``shuffle=True``, float32 data (both keep it in float32). backprop's
  worker starts numba first, as for its training workloads (``frameworks.start_numba``).
"""

from __future__ import annotations

import math
import platform
import random
import time
import warnings

import numpy as np

from .frameworks import Base, start_numba


class PythonLoop(Base):
    name = "python"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        shape = (wl.sizes[0], len(wl.sizes), wl.sizes[-1])
        if shape != (2, 3, 1) or wl.loss != "mse" or wl.hidden != "sigmoid":
            raise ValueError("the plain-Python loop is the reference's 2-M-1 sigmoid network with "
                             "the squared error")
        self.samples = [(float(x[0]), float(x[1]), float(t)) for x, t in zip(X, y)]

    def build(self, seed=0):
        M = self.wl.sizes[1]
        rng = random.Random(seed)
        # V[j] = [v_0j, v_1j, v_2j]: bias (weight of the constant input x_0 = 1) and the two inputs
        self.V = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(M)]
        self.W = [rng.uniform(-1, 1) for _ in range(M + 1)]  # W[0] = w_0 (bias), W[j] = w_j1
        self.rng = rng
        self.history = []

    def run(self, n):
        V, W, eta, samples, exp = self.V, self.W, self.wl.lr, self.samples, math.exp
        M = len(V)
        hidden = range(M)
        a = [1.0] * (M + 1)  # a[0] = 1 carries w_0
        order = list(range(len(samples)))
        shuffle, history = self.rng.shuffle, self.history
        t = time.perf_counter()
        for _ in range(max(1, n // len(samples))):
            shuffle(order)
            E = 0.0
            for d in order:
                x1, x2, y = samples[d]
                # forward: h_j = v_0j + x_1 v_1j + x_2 v_2j, a_j = g(h_j); h^o = w_0 + sum_j a_j w_j
                s = W[0]
                for j in hidden:
                    Vj = V[j]
                    aj = 1.0 / (1.0 + exp(-(Vj[0] + x1 * Vj[1] + x2 * Vj[2])))
                    a[j + 1] = aj
                    s += aj * W[j + 1]
                yhat = 1.0 / (1.0 + exp(-s))
                e = yhat - y
                do = e * yhat * (1.0 - yhat)  # (i) delta^o = (yhat - y) g_o'(h^o)
                g = eta * do
                for j in hidden:
                    aj = a[j + 1]
                    dj = eta * aj * (1.0 - aj) * do * W[j + 1]  # eta * (ii) delta_j^h, w_j before (iii)
                    Vj = V[j]
                    Vj[0] -= dj  # (iv) v_ij <- v_ij - eta delta_j^h x_i
                    Vj[1] -= dj * x1
                    Vj[2] -= dj * x2
                    W[j + 1] -= g * aj  # (iii) w_j <- w_j - eta delta^o a_j
                W[0] -= g
                E += 0.5 * e * e
            history.append(E / len(order))
        dt = time.perf_counter() - t
        del history[:-1]
        return dt

    def info(self):
        return {"python": platform.python_version(),
                "final_E": self.history[-1] if self.history else None}


class _Estimator(Base):
    module = ""

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is reached on purpose
        self.Xs, self.ys = np.ascontiguousarray(X[:wl.fixed_n]), y[:wl.fixed_n]
        self.cls = self._class()
        self.max_samples = wl.fixed_n

    def build(self, seed=0):
        wl = self.wl
        self.clf = self.cls(
            hidden_layer_sizes=tuple(wl.sizes[1:-1]), activation=wl.hidden, solver=wl.optimizer,
            learning_rate_init=wl.lr, batch_size=wl.batch, max_iter=wl.epochs, tol=0.0,
            n_iter_no_change=wl.epochs + 10**6, shuffle=True, random_state=seed,
        )
        self.seed = seed

    def run(self, n):  # one whole fit; n (= rows x epochs) only names the work done
        self.runs += 1
        self.clf.set_params(random_state=self.seed + self.runs)
        t = time.perf_counter()
        self.clf.fit(self.Xs, self.ys)
        return time.perf_counter() - t

    def info(self):
        return {"version": self.version(), "class": f"{self.cls.__module__}.{self.cls.__name__}",
                "n_iter": int(self.clf.n_iter_), "dtype": str(self.clf.coefs_[0].dtype),
                "rows": int(self.Xs.shape[0])}


class BackpropEstimator(_Estimator):
    name = "backprop"

    def __init__(self, wl, X, y):
        super().__init__(wl, X, y)
        self.numba_start_s = start_numba()  # as a long fit's process has it (frameworks.start_numba)

    def info(self):
        info = super().info()
        if self.numba_start_s is not None:
            info["numba_start_s"] = round(self.numba_start_s, 3)
        return info

    def _class(self):
        import backprop

        return backprop.MLPClassifier

    def version(self):
        import backprop

        return backprop.__version__


class SklearnEstimator(_Estimator):
    name = "sklearn"

    def _class(self):
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier

    def version(self):
        import sklearn

        return sklearn.__version__


ESTIMATORS = {"backprop": BackpropEstimator, "sklearn": SklearnEstimator}
