"""Compiled whole epochs for small networks: many epochs of SGD in one numba call.

For a network like the reference's 2-4-1 XOR example, a NumPy step is ~40 calls of about a
microsecond each on a handful of numbers, and the generated Python of :mod:`backprop.fast.tiny`
is still interpreted. Here whole epochs -- the forward pass (h, a), E, the error terms of eqs.
(2) and (4), the gradient of eq. (1) summed over each batch (eq. (3)) and the delta rule eq. (5),
with an L2 term -- run in one compiled function (:mod:`backprop.fast.kernels`) for online,
mini-batch and batch training alike, in the row orders the training loop drew (the same random
numbers as epoch by epoch).

numba is optional (the ``fast`` extra): without it, or with ``BACKPROP_NO_COMPILE=1``, nothing
here runs and training takes the other paths. It is imported only when a network this path can
train starts training, and its compiled code is cached on disk, so only the first run on a machine
pays the compile (seconds); README's digits command and every network over :func:`max_parameters`
never import it.

``backprop.train.strategy`` chooses it; the training loop calls :meth:`CompiledTrainer.run_epochs`
with the epochs' row orders and applies the outcome (:class:`backprop.fast.tiny.EpochsOutcome`,
the same as the generated-Python path's) to its own state.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from backprop.fast import denormals as _denormals
from backprop.fast.tiny import EpochsOutcome, Run, units_supported


def switched_off(environ: Mapping[str, str] | None = None) -> bool:
    """``BACKPROP_NO_COMPILE`` (in ``environ``, default the process's) asks for no compiled path:
    set to anything but empty or 0."""
    env = os.environ if environ is None else environ
    return env.get("BACKPROP_NO_COMPILE", "").strip() not in ("", "0")


#: Off switch (``BACKPROP_NO_COMPILE=1``; the tests compare this path with the NumPy one).
ENABLED = not switched_off()
#: Largest (weights + biases) x batch size trained this way: per sample, the compiled epoch costs
#: ~0.3 us + ~4 ns per parameter, a NumPy step ~45 us per batch + ~0.3 us per sample, so the
#: compiled epoch wins below ~12,000 / B parameters (measured crossovers, float32, one thread:
#: ~15,000 at B = 1, ~800 at 16, ~190 at 64, ~55 at 256; bench/README.md, ``python -m bench.compiled``).
MAX_WORK = 12_000
#: numba's start in a process, with its cache: ~0.2 s to import, ~0.35 s for its first call (AMD EPYC
#: Zen 4, loaded; bench/README.md). Until numba runs in a process, a run takes this path only when
#: :func:`saving` predicts more than this; afterwards every eligible run does.
START_SECONDS = 0.5
#: seconds per sample (the model of :func:`saving`, fitted to ``python -m bench.compiled``):
#: compiled ~0.3 us + 4 ns per parameter; a NumPy step ~45 us per batch + 0.3 us per sample; the
#: generated Python of fast.tiny ~1 us + 0.1 us per parameter
_COMPILED = (0.3e-6, 4e-9)
_NUMPY = (45e-6, 0.3e-6)
_TINY = (1e-6, 0.1e-6)
#: parameter-sample visits per call (~10-50 ms): the training loop sees a stop request between calls
WORK = 1 << 22

ACTIVATIONS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softmax": 5}
LOSSES = {"mse": 0, "binary_cross_entropy": 1, "cross_entropy": 2}

_kernels: ModuleType | None = None
_failed = False


def available() -> bool:
    """numba is installed and the path is not switched off (numba itself is not imported here)."""
    return ENABLED and not _failed and importlib.util.find_spec("numba") is not None


def max_parameters(B: int) -> int:
    """The largest network this path trains at batch size ``B``."""
    return MAX_WORK // max(1, B)


def supported(net: Any, loss: str) -> bool:
    """The activations and the loss are the kernel's (the caller checks the optimizer)."""
    return net.dtype in (np.float32, np.float64) and units_supported(net, loss)


def saving(n_parameters: int, B: int, samples: int, tiny: bool) -> float:
    """Seconds this path is predicted to save over ``samples`` sample visits (epochs x rows) against
    the NumPy step (``tiny``: the generated Python of :mod:`backprop.fast.tiny`)."""
    compiled = _COMPILED[0] + _COMPILED[1] * n_parameters
    other = _TINY[0] + _TINY[1] * n_parameters if tiny else _NUMPY[0] / B + _NUMPY[1]
    return samples * (other - compiled)


def eligible(net: Any, loss: str, B: int, samples: int, tiny: bool = False) -> bool:
    """True when ``net`` trained with the loss named ``loss`` and plain constant-rate SGD (the
    caller checks the rest of the run) takes this path at batch size ``B`` for ``samples`` sample
    visits (``tiny``: the run could take fast.tiny instead): small enough, supported, numba
    importable, and numba already running in this process or the run long enough to pay for its
    start (:data:`START_SECONDS`). numba is imported here, the first time, as late as that."""
    if net.n_parameters > max_parameters(B) or not supported(net, loss) or not available():
        return False
    if _kernels is None and saving(net.n_parameters, B, samples, tiny) < START_SECONDS:
        return False
    return kernels() is not None


#: seconds Adam's one-pass update saves per parameter value and update (NumPy's 12 passes ~1.3-2.4 ns
#: per value on one or two threads, the compiled pass ~0.3 ns; AMD EPYC Zen 4, ``python -m bench.adamfused``)
ADAM_SAVING = 1e-9


def adam_kernels(n_parameters: int, updates: int) -> ModuleType | None:
    """:mod:`backprop.fast.kernels` for Adam's one-pass update of a run of ``updates`` updates of
    ``n_parameters`` values, or None: numba not installed (or switched off), or not running yet in
    this process and the run too short to pay for its start (:data:`START_SECONDS`)."""
    if not available():
        return None
    if _kernels is None and n_parameters * updates * ADAM_SAVING < START_SECONDS:
        return None
    return kernels()


def running() -> bool:
    """numba's kernels are loaded in this process (its start is paid)."""
    return _kernels is not None


def kernels() -> ModuleType | None:
    """:mod:`backprop.fast.kernels` (importing numba), or None where numba cannot be imported."""
    global _kernels, _failed
    if _kernels is None and not _failed:
        try:
            from backprop.fast import kernels as k
        except Exception:  # a broken numba install: train as without it
            _failed = True
            return None
        _kernels = k
    return _kernels


class CompiledTrainer:
    """The compiled path for one training run of ``trainer.net`` over (X, Y): the network's layout,
    the data and work arrays, made once (``trainer.loss``, ``trainer.l2`` and ``trainer.batch_size``
    are read here)."""

    def __init__(self, trainer: Any, X: np.ndarray, Y: np.ndarray) -> None:
        k = kernels()
        assert k is not None  # eligible() said so
        self.k = k
        net = self.net = trainer.net
        self.X, self.Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        sizes = list(net.sizes)
        L = len(sizes) - 1
        self.sizes = np.array(sizes, np.int64)
        n_w = [sizes[i] * sizes[i + 1] for i in range(L)]
        self.offw = np.array([sum(n_w[:i]) for i in range(L)], np.int64)
        self.offb = np.array([sum(n_w) + sum(sizes[1:i + 1]) for i in range(L)], np.int64)
        self.offa = np.array([sum(sizes[:i]) for i in range(L + 1)], np.int64)
        self.acts = np.array([ACTIVATIONS[a.name] for a in net.activations], np.int64)
        self.alphas = np.array([float(getattr(a, "alpha", 0.0)) for a in net.activations])
        self.loss = LOSSES[trainer.loss.name]
        self.l2 = float(trainer.l2)
        self.B = int(trainer.batch_size)
        n = net.n_parameters
        self.P = np.empty(n, net.dtype)
        self.S = np.empty(n, net.dtype)
        self.G = np.empty(n)
        self.Hs, self.As, self.D = (np.empty(sum(sizes)) for _ in range(3))

    def chunk(self, m: int) -> int:
        """Epochs of m rows per call: about :data:`WORK` parameter-sample visits."""
        return max(1, WORK // max(1, m * self.net.n_parameters))

    def run_epochs(self, run: Run) -> EpochsOutcome:
        """``run.n_epochs`` whole epochs of SGD at the rate ``run.lr`` in the row orders
        ``run.orders`` (an (n, m) integer array; None: the data order); subnormal parameters are
        flushed as the training loop flushes them (``run.updates_before``: updates made before)."""
        net, P = self.net, self.P
        params = net.weights + net.biases
        o = 0
        for p in params:
            P[o:o + p.size] = p.reshape(-1)
            o += p.size
        n = run.n_epochs
        orders = (np.zeros((1, 1), np.int64) if run.orders is None
                  else np.ascontiguousarray(run.orders, dtype=np.int64))
        losses = np.zeros(n)
        e, pos, el, status, value, t = self.k.sgd_epochs(
            P, self.S, self.X, self.Y, orders, run.orders is not None, self.sizes, self.offw, self.offb,
            self.offa, self.acts, self.alphas, self.loss, self.B, float(run.lr), self.l2, losses, self.G,
            self.Hs, self.As, self.D, int(run.updates_before), _denormals.EVERY if _denormals.ENABLED else 0,
            float(np.finfo(net.dtype).tiny))
        o, snapshot = 0, []
        for p in params:
            p[...] = P[o:o + p.size].reshape(p.shape)
            snapshot.append(self.S[o:o + p.size].reshape(p.shape).copy())
            o += p.size
        done = e if status else n
        return EpochsOutcome(done=done, updates=int(t), losses=losses[:done].tolist(), status=int(status),
                             stopped_in=int(e), pos=int(pos), epoch_loss=float(el), value=float(value),
                             snapshot=snapshot)
