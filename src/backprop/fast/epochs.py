"""Compiled epochs for networks of any size: every batch of an epoch in one numba call, the matrix
products on NumPy's own OpenBLAS (the kernel: :mod:`backprop.fast.dense`).

A NumPy step of a mid-size network is the eight products and some sixty calls between them, each a
microsecond of dispatch and a pass through memory; at batch 32 those calls cost as much as the
products (784-256-128-10, AMD EPYC Zen 3: 0.67 ms a step, its eight products called from compiled
code 0.35 ms). The compiled epoch leaves the products and little else (bench/README.md, "Compiled
epochs for networks of any size").

It trains plain constant-rate SGD and Adam, with an L2 term, on networks whose hidden units are
elementwise (identity, sigmoid, tanh, ReLU, leaky ReLU) and whose output unit goes with its loss
(softmax + cross-entropy, sigmoid + binary cross-entropy, identity + squared error, and
scikit-learn's log-loss and squared error), in float32 or float64, at batch sizes from
:data:`MIN_BATCH`. ``backprop.train.strategy`` decides when (the run's rules must give the L2 term
per batch as a formula: :meth:`backprop.train.rules.Rules.batch_terms`); the training loop calls
:meth:`EpochRunner.run` for the rest of an epoch, in pieces of about :data:`WORK` parameter-sample
visits so that a stop request is seen between them, and applies what it reports.

numba is optional (the ``fast`` extra), imported only when such a run starts and long enough to pay
for numba's start (:func:`eligible`); ``BACKPROP_NO_COMPILE=1`` switches it off with the small
networks' compiled epochs (:mod:`backprop.fast.compiled`). The kernel is compiled once per dtype
and depth and kept in numba's disk cache.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
from typing import Any

import numpy as np

from backprop.core import activations as _act
from backprop.fast import blas as _blas
from backprop.fast import compiled as _compiled
from backprop.fast import denormals as _denormals

#: Off switch for this path alone (tests of the other paths); ``BACKPROP_NO_COMPILE=1`` (read by
#: :mod:`backprop.fast.compiled`) switches off every compiled path.
ENABLED = True
#: Smallest batch trained this way: a product with inner dimension 1 is slow in BLAS, and the NumPy
#: path's rank-1 updates (``fast.blas.ger_update``) win at batch 1.
MIN_BATCH = 2
#: parameter-sample visits per call (~0.1 s of products): the training loop sees a stop request between calls
WORK = 1 << 31
#: seconds a compiled epoch saves per update against the NumPy step (the dispatch of ~60 calls;
#: measured savings are larger: 0.33 ms at B = 32 for 784-256-128-10, ``python -m bench``), the
#: model :func:`eligible` uses to decide whether a run pays for numba's start
SAVING_PER_UPDATE = 45e-6

_HIDDEN = {_act.Identity: 0, _act.Sigmoid: 1, _act.Tanh: 2, _act.ReLU: 3, _act.LeakyReLU: 4}
#: loss kernel name (``Loss.kernel``) -> (its code in fast.dense, the output unit it goes with)
_LOSSES: dict[str, tuple[int, type]] = {
    "mse": (0, _act.Identity),
    "binary_cross_entropy": (1, _act.Sigmoid),
    "cross_entropy": (2, _act.Softmax),
    "sk_log_loss": (3, _act.Softmax),
    "sk_squared_error": (4, _act.Identity),
}
_OUTPUT = {_act.Identity: 0, _act.Sigmoid: 1, _act.Softmax: 5}  # fast.kernels' codes
SGD, ADAM = 0, 1


def _loss_entry(loss: Any) -> tuple[int, type] | None:
    """(code, output unit) of ``loss``: a loss class of the engine's (or scikit-learn's losses,
    ``backprop.sklearn.losses``) that names its kernel itself, not a subclass that may compute
    otherwise; None for any other."""
    name = vars(loss).get("kernel") or vars(type(loss)).get("kernel")
    return _LOSSES.get(name) if isinstance(name, str) else None


def loss_code(loss: Any) -> int | None:
    """The kernel's code of ``loss`` (None: not one the kernel computes)."""
    entry = _loss_entry(loss)
    return None if entry is None else entry[0]


def supported(net: Any, loss: Any, batch_size: int) -> bool:
    """The network's units, the loss, dtype and batch size are the kernel's (the caller checks the
    optimizer and the rules)."""
    if net.dtype not in (np.float32, np.float64) or batch_size < MIN_BATCH or not _blas.available:
        return False
    entry = _loss_entry(loss)
    if entry is None or type(net.activations[-1]) is not entry[1]:
        return False
    # (a leaky ReLU's g' is read from a: h > 0 exactly where a > 0 for 0 <= alpha < 1)
    return all(type(a) in _HIDDEN and 0.0 <= getattr(a, "alpha", 0.0) < 1.0 for a in net.activations[:-1])


def eligible(net: Any, loss: Any, batch_size: int, updates: int) -> bool:
    """True when a run of ``updates`` updates of ``net`` with this loss and batch size takes this
    path (the caller checks the optimizer and the rules): supported, numba importable, and numba
    already running in this process or the run long enough to pay for its start."""
    if not ENABLED or not supported(net, loss, batch_size) or not _compiled.available():
        return False
    if not _compiled.running() and updates * SAVING_PER_UPDATE < _compiled.START_SECONDS:
        return False
    return _compiled.kernels() is not None and _dense() is not None


def _dense():
    """:mod:`backprop.fast.dense` (numba is imported by then), or None where it fails to import."""
    try:
        from backprop.fast import dense
    except Exception:  # a broken numba install: train as without it
        return None
    return dense


@dataclasses.dataclass
class Outcome:
    """What :meth:`EpochRunner.run` did: ``rows`` rows trained (whole batches), their summed E x rows
    ``loss`` (each batch's E times its rows), ``updates`` updates; ``status`` 0 or 2: the next batch's
    E was not finite (nothing of it applied), 1 the parameters are not arrays the kernel takes (a
    user's assignment): either way the NumPy step takes it from there."""

    rows: int
    loss: float
    updates: int
    status: int


class EpochRunner:
    """The compiled epochs of one training run of ``trainer.net`` over (X, Y): the work buffers and
    the run's constants, made once; the parameters and the optimizer's moments are the network's
    and the optimizer's own arrays, changed in place."""

    def __init__(self, trainer: Any, X: np.ndarray, Y: np.ndarray, terms: tuple[float, float, float],
                 adam: bool) -> None:
        dense = _dense()
        assert dense is not None  # eligible() said so
        self.k = dense
        net = self.net = trainer.net
        dt = np.dtype(net.dtype)
        self.X, self.Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        B = self.B = int(trainer.batch_size)
        widths = net.sizes[1:]
        self.Ho = np.empty((B, widths[-1]), dt)  # the output's h (a hidden layer's is its a, in place)
        self.lse = np.empty(B)  # each row's logsumexp(h) (softmax)
        self.A = tuple(np.empty((B, n), dt) for n in widths)
        self.D = tuple(np.empty((B, n), dt) for n in widths)
        self.xb, self.yb = np.empty((B, self.X.shape[1]), dt), np.empty((B, self.Y.shape[1]), dt)
        opt = trainer.optimizer
        self.opt = ADAM if adam else SGD
        self.GW = tuple(np.empty_like(w) for w in net.weights)
        self.gb = tuple(np.empty_like(b) for b in net.biases)
        self.acts = np.array([_HIDDEN.get(type(a), _OUTPUT.get(type(a), -1)) for a in net.activations],
                             np.int64)
        self.alphas = np.array([float(getattr(a, "alpha", 0.0)) for a in net.activations])
        self.loss = loss_code(trainer.loss)
        self.l2, self.l2_per_row, self.penalty_per_row = (float(t) for t in terms)
        b1, b2, eps = ((opt.beta_1, opt.beta_2, opt.epsilon) if self.opt == ADAM else (0.0, 0.0, 0.0))
        # the scalars in the parameters' dtype, as NumPy casts Python floats (fast.dense: C_*)
        self.consts = np.array([opt.lr, b1, b2, 1.0 - b1, 1.0 - b2, eps, 0.0, 0.0], dt)
        self.result = np.zeros(5)
        # cblas_?gemm by its address and the width of the library's integers (fast.cabi.call_gemm)
        self.gemm = (ctypes.cast(_blas.gemm_function(dt), ctypes.c_void_p).value,
                     np.int64(0) if _blas.int_bits() == 64 else np.int32(0))
        # the passes split over the BLAS pool (fast.team): descriptors, the parts' cfunc, and the
        # bias sums' blocks of rows (fast.dense.SUM_BLOCK) of the widest hidden layer
        self.desc = np.zeros((dense.MAX_PARTS, dense.SLOTS), np.int64)
        self.part = dense.part_address(dt)
        self.psums = np.empty(-(-B // dense.SUM_BLOCK) * max(widths[:-1], default=1), dt)

    def _takes(self, net: Any) -> bool:
        """The parameters are still arrays the kernel may write through (it checks no bounds): the
        shapes its buffers were made for, the dtype, C order, writeable."""
        s = net.sizes
        shapes = [(s[k], s[k + 1]) for k in range(len(s) - 1)] + [(n,) for n in s[1:]]
        params = net.weights + net.biases
        return len(params) == len(shapes) and all(
            isinstance(p, np.ndarray) and p.shape == shape and p.dtype == net.dtype and p.flags.c_contiguous
            and p.flags.writeable for p, shape in zip(params, shapes))

    def chunk_rows(self) -> int:
        """Rows per call: about :data:`WORK` parameter-sample visits, whole batches."""
        rows = WORK // max(1, self.net.n_parameters)
        return max(1, rows // self.B) * self.B

    def run(self, trainer: Any, lo: int, hi: int) -> Outcome:
        """The batches of rows ``lo`` to ``hi`` of the current epoch (``trainer.perm``, None: the
        data order), continuing its updates (``trainer.history.n_updates``, the optimizer's ``t``)."""
        net, opt = self.net, trainer.optimizer
        dt = net.dtype
        if not self._takes(net):
            return Outcome(rows=0, loss=0.0, updates=0, status=1)  # arrays a user assigned: the NumPy step
        # the rate begin_step() would set for each of these updates (constant within an epoch)
        opt.lr = opt.schedule(opt.lr0, opt.t + 1, opt.epoch)
        self.consts[0] = opt.lr
        n_updates = -(-(hi - lo) // self.B)
        t0 = int(trainer.history.n_updates)
        if self.opt == ADAM:
            M, V = _moments(opt.state, net)
            b1, b2, t = opt.beta_1, opt.beta_2, opt.t
            # Adam.step_size() of each update, in Python floats, rounded to the dtype as FlatAdam does
            lr_ts = np.array([opt.lr * math.sqrt(1.0 - b2 ** (t + i)) / (1.0 - b1 ** (t + i))
                              for i in range(1, n_updates + 1)], dt)
        else:  # the kernel's arguments have one type for both optimizers: the parameters stand in
            M = V = (tuple(net.weights), tuple(net.biases))
            lr_ts = np.zeros(1, dt)
        order = trainer.perm
        shuffled = order is not None
        order = np.zeros(1, np.int64) if order is None else np.ascontiguousarray(order, np.int64)
        team, parts = self.k.team_function()
        table = _adam_table(net, self.GW, self.gb, M, V) if self.opt == ADAM else _NO_TABLE
        self.k.epoch(self.gemm, self.X, self.Y, order, shuffled, lo, hi, self.B, tuple(net.weights),
                     tuple(net.biases), self.acts, self.alphas, self.loss, self.opt, self.consts, self.l2,
                     self.l2_per_row, self.penalty_per_row, t0, lr_ts,
                     _denormals.EVERY if _denormals.ENABLED else 0, *M, *V, self.xb, self.yb, self.Ho,
                     self.lse, self.A, self.D, self.GW, self.gb, self.result,
                     (team, self.part, self.desc, parts, self.k.SPLIT_MIN),
                     self.psums, table)
        rows, loss, status, _, updates = self.result
        return Outcome(rows=int(rows), loss=float(loss), updates=int(updates), status=int(status))


_NO_TABLE = np.zeros((0, 5), np.int64)  # SGD: no Adam parts


def _adam_table(net: Any, GW: tuple, gb: tuple, M: tuple, V: tuple) -> np.ndarray:
    """What the kernel's Adam parts read (fast.dense._adam): per array, a layer's weights then its
    biases, the addresses of parameter, gradient, m and v, and its size."""
    rows = []
    for k in range(net.n_layers):
        for p, g, m, v in ((net.weights[k], GW[k], M[0][k], V[0][k]),
                           (net.biases[k], gb[k], M[1][k], V[1][k])):
            rows.append((p.ctypes.data, g.ctypes.data, m.ctypes.data, v.ctypes.data, p.size))
    return np.array(rows, np.int64)


def _moments(state: dict, net: Any) -> tuple[tuple, tuple]:
    """Adam's moments of the weights and the biases, (m_W, m_b), (v_W, v_b): the optimizer's own
    arrays (zeros where new, as ``Adam.update`` makes them)."""
    L = net.n_layers
    out = []
    for slot in ("m", "v"):
        slots = state.setdefault(slot, {})
        for kind, params in (("w", net.weights), ("b", net.biases)):
            arrays = []
            for k in range(L):
                a = slots.get((kind, k))
                p = params[k]
                if a is None or a.shape != p.shape or a.dtype != p.dtype or not a.flags.c_contiguous:
                    a = slots[(kind, k)] = np.zeros_like(p) if a is None else np.ascontiguousarray(a, p.dtype)
                arrays.append(a)
            out.append(tuple(arrays))
    return (out[0], out[1]), (out[2], out[3])
