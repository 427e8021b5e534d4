"""Online training of tiny networks in plain Python floats (speed only; same results as NumPy).

For a network like the reference's 2-4-1 XOR example trained online (one sample per update),
every NumPy call works on a handful of numbers and costs a microsecond of dispatch: a step of
~40 calls is dispatch, not arithmetic. Here one update -- forward pass, E, eq. (2), eq. (4) and
the delta rule eq. (5) with eq. (1)'s gradient -- is written out for the network's exact
shape as straight-line Python (generated once per architecture, see :func:`_source`), with
every weight w_ij^k at a fixed index of one flat parameter array. That is 5-10x faster.

The formulas and their order of operations are those of the NumPy path (``Network.forward_into``,
``losses``, ``activations``, ``Network.backward_into``): float64 results agree with it to rounding
(BLAS may add a sum in another order or with fused multiply-adds). Arithmetic is done in Python
floats (float64); a float32 network's parameters are rounded to float32 at every update, as the
NumPy path stores them, so an interrupted run resumes to the same bits.

``backprop.train.strategy`` chooses it for plain SGD with batch size 1 when the network is small
(:data:`MAX_PARAMETERS`) and its activations and loss are supported; ``ENABLED = False`` turns it
off (the tests compare both paths). It changes the network's parameters and returns what happened
(:class:`EpochOutcome`, :class:`EpochsOutcome`); the training loop applies that to its own state.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from array import array
from typing import Any

import numpy as np

#: Off switch (tests compare this path with the NumPy one).
ENABLED = True
#: Largest network (weights + biases) trained this way; the generated code grows with it.
MAX_PARAMETERS = 200
_ELEMENTWISE = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
_CACHE: dict = {}


def eligible(net: Any, loss: str, B: int) -> bool:
    """True when ``net`` trained with the loss named ``loss`` and plain SGD (the caller checks the
    optimizer) may take the Python path for batches of size ``B``."""
    if not ENABLED or B != 1 or net.n_parameters > MAX_PARAMETERS:
        return False
    return units_supported(net, loss)


def units_supported(net: Any, loss: str) -> bool:
    """Elementwise hidden activations, and an output unit that goes with the loss: the units that
    a per-sample loop (this module's or the compiled epoch's) writes out by hand."""
    acts = [a.name for a in net.activations]
    if any(a not in _ELEMENTWISE for a in acts[:-1]):
        return False
    out = acts[-1]
    if loss == "cross_entropy":
        return out == "softmax"
    if loss == "binary_cross_entropy":
        return out == "sigmoid"
    return loss == "mse" and out in _ELEMENTWISE


def _logaddexp0(v):
    """log(1 + e^v) as np.logaddexp(0, v) computes it."""
    return v + math.log1p(math.exp(-v)) if v > 0.0 else math.log1p(math.exp(v))


def _activation(act, h, a) -> str:
    """Source line a = g(h) (as the NumPy activations compute it)."""
    name = act.name
    if name == "sigmoid":
        return f"{a} = tanh({h} * 0.5) * 0.5 + 0.5"  # (1 + tanh(h/2)) / 2, never overflows
    if name == "tanh":
        return f"{a} = tanh({h})"
    if name == "relu":
        return f"{a} = 0.0 if {h} <= 0.0 else {h}"  # NaN passes through, as in np.maximum
    if name == "leaky_relu":
        return f"{a} = {h} * {act.alpha!r}; {a} = {a} if {h} < {a} else {h}"
    if name == "identity":
        return f"{a} = {h}"
    raise ValueError(name)


def _derivative(act, h, a):
    """Source expression of g'(h), from h or a = g(h) as the activation's ``backward`` does; or None for 1."""
    name = act.name
    if name == "sigmoid":
        return f"((1.0 - {a}) * {a})"
    if name == "tanh":
        return f"(1.0 - {a} * {a})"
    if name == "relu":
        return f"(1.0 if {a} > 0.0 else 0.0)"
    if name == "leaky_relu":
        return f"((1.0 if {h} > 0.0 else 0.0) * {1.0 - act.alpha!r} + {act.alpha!r})"
    if name == "identity":
        return None
    raise ValueError(name)


def _layout(sizes):
    """Flat index of every parameter: weights[k] row by row, then biases[k]."""
    L = len(sizes) - 1
    off_w, off_b, o = [], [], 0
    for k in range(L):
        off_w.append(o)
        o += sizes[k] * sizes[k + 1]
    for k in range(L):
        off_b.append(o)
        o += sizes[k + 1]
    return off_w, off_b, o


class _Names:
    """The generated code's names: parameter q of the flat array is the local ``p<q>``."""

    def __init__(self, sizes, store) -> None:
        self.sizes, self.store = sizes, store
        self.off_w, self.off_b, self.n_params = _layout(sizes)

    def w(self, k, i, j) -> str:
        return f"p{self.off_w[k] + i * self.sizes[k + 1] + j}"

    def b(self, k, j) -> str:
        return f"p{self.off_b[k] + j}"

    @staticmethod
    def a(k, i):  # a^k_i, with a^0 = x
        return f"x{i}" if k == 0 else f"a{k}_{i}"

    def assign(self, param, value):
        return f"P[{param[1:]}] = {value}" if self.store == "array" else f"{param} = {value}"


def _update_body(sizes, acts, loss, l2, store, const_lr):
    """Source lines of one online update on sample ``i`` (forward, E, eqs. (2), (4), (1), (5)).

    Parameter q is the local ``p<q>``. ``store="array"``: the update starts by reading all of them
    from ``P`` and writes each new value into ``P`` (an ``array('f')`` rounds it to float32 there,
    as the NumPy path stores it); ``store="locals"``: they stay Python floats across updates.
    On a non-finite E it ``return``s ``fail`` (nothing of that step applied)."""
    names = _Names(sizes, store)
    params = ", ".join(f"p{q}" for q in range(names.n_params))
    L, N = len(sizes) - 1, sizes[-1]
    body = [f"{params}, = P"] if store == "array" else []
    xs = ", ".join(f"x{i}" for i in range(sizes[0]))
    ys = ", ".join(f"y{j}" for j in range(N))
    body += [f"{xs}, = X[i]", f"{ys}, = Y[i]"]
    body += _forward_lines(names, acts)
    body += _output_lines(L, N, acts[-1], loss)
    body += ["if not isfinite(value):", "    return fail"]
    if const_lr:  # a constant rate: the optimizer's counter is advanced once, after the run
        body += ["c = lr", "t += 1"]
    else:
        body += ["opt.begin_step()", "c = opt.lr"]
    if l2:
        body.append(f"l2s = {l2!r} * c")
    body += [f"d{L}_{j} = d{L}_{j} * c" for j in range(N)]  # scale/m folded in (m = 1; * 1.0 is exact)
    body += _backward_lines(names, acts, l2)
    return body, params


def _forward_lines(names, acts):
    """Step (i): h^k = a^{k-1} W^k + b^k (the sum first, then the bias), a^k = g(h^k) (hidden layers)."""
    sizes, L = names.sizes, len(names.sizes) - 1
    body = []
    for k in range(L):
        for j in range(sizes[k + 1]):
            s = " + ".join(f"{names.a(k, i)} * {names.w(k, i, j)}" for i in range(sizes[k]))
            body.append(f"h{k + 1}_{j} = ({s}) + {names.b(k, j)}")
            if k < L - 1:
                body.append(_activation(acts[k], f"h{k + 1}_{j}", f"a{k + 1}_{j}"))
    return body


def _output_lines(L, N, act, loss):
    """yhat = g_o(h^o), E (``value``) and the output error term of eq. (2) (``d<L>_j``)."""
    ho = [f"h{L}_{j}" for j in range(N)]
    yh = [f"a{L}_{j}" for j in range(N)]
    if act.name == "softmax":  # with cross-entropy: delta = yhat - y
        body = [f"shift = {ho[0]}" if N == 1 else f"shift = max({', '.join(ho)})"]
        body += [f"e{j} = exp({ho[j]} - shift)" for j in range(N)]
        body.append(f"s = {' + '.join(f'e{j}' for j in range(N))}")
        body += [f"{yh[j]} = e{j} / s" for j in range(N)]
        body.append("lse = log(s) + shift")
        body.append(f"value = {' + '.join(f'y{j} * (lse - {ho[j]})' for j in range(N))}")
        return body + [f"d{L}_{j} = {yh[j]} - y{j}" for j in range(N)]
    body = [_activation(act, ho[j], yh[j]) for j in range(N)]
    if loss == "binary_cross_entropy":  # log(1 + e^h) - y h; delta = yhat - y
        body.append(f"value = {' + '.join(f'(lae({ho[j]}) - y{j} * {ho[j]})' for j in range(N))}")
        return body + [f"d{L}_{j} = {yh[j]} - y{j}" for j in range(N)]
    # mse: 1/2 sum (yhat - y)^2; delta = g'_o(h) (yhat - y)
    body += [f"r{j} = {yh[j]} - y{j}" for j in range(N)]
    body.append(f"value = ({' + '.join(f'r{j} * r{j}' for j in range(N))}) / 2.0")
    for j in range(N):
        g = _derivative(act, ho[j], yh[j])
        body.append(f"d{L}_{j} = r{j}" if g is None else f"d{L}_{j} = r{j} * {g}")
    return body


def _backward_lines(names, acts, l2):
    """Eq. (4) with this step's weights, then the delta rule (5) for the layer, from the last layer."""
    sizes = names.sizes
    body = []
    for k in range(len(sizes) - 2, -1, -1):
        n_in, n_out = sizes[k], sizes[k + 1]
        if k > 0:
            for i in range(n_in):
                s = " + ".join(f"d{k + 1}_{j} * {names.w(k, i, j)}" for j in range(n_out))
                g = _derivative(acts[k - 1], f"h{k}_{i}", f"a{k}_{i}")
                body.append(f"d{k}_{i} = {s}" if g is None else f"d{k}_{i} = ({s}) * {g}")
        for i in range(n_in):
            for j in range(n_out):
                p, grad = names.w(k, i, j), f"{names.a(k, i)} * d{k + 1}_{j}"
                if l2:
                    grad = f"({grad} + l2s * {p})"
                body.append(names.assign(p, f"{p} - {grad}"))
        body += [names.assign(names.b(k, j), f"{names.b(k, j)} - d{k + 1}_{j}") for j in range(n_out)]
    return body


def _source(sizes, acts, loss, l2):
    """Python source of ``epoch(P, X, Y, order, pos, end, el, opt, tr)`` for this architecture.

    ``P`` holds weights[k] row by row (w_ij^k at off_w[k] + i n_out + j), then biases[k].
    Returns (pos, el, status, value): status 0 at the end of the range, 1 on a stop request,
    2 when E is not finite (value is E; nothing of that step was applied).
    """
    body, _ = _update_body(sizes, acts, loss, l2, "array", const_lr=False)
    body = [line.replace("return fail", "return pos, el, 2, value") for line in body]
    lines = ["def epoch(P, X, Y, order, pos, end, el, opt, tr):", "    while pos < end:",
             "        i = order[pos]"]
    body += ["el += value", "pos += 1", "if tr.stop_requested:", "    return pos, el, 1, value"]
    lines += ["        " + line for line in body]
    lines.append("    return pos, el, 0, 0.0")
    return "\n".join(lines) + "\n"


def _source_epochs(sizes, acts, loss, l2, store):
    """Python source of ``epochs(P, X, Y, orders, m, n, lr, tr, losses)``: n whole epochs of
    constant-rate SGD, from the first row, with nothing to do between epochs but record E.

    The parameters stay Python floats across updates; with ``store="float32"`` they are rounded to
    float32 after each update (the same bits as the per-update path's ``array('f')`` stores, without
    its per-parameter stores and loads). ``orders[e]`` is epoch e's row order (None: the data
    order). Each epoch's mean E is appended to ``losses``; ``snap`` keeps the parameters at the start
    of the epoch (for a divergence). Returns ``(e, pos, el, status, value, snap, t, params)``: the
    epoch reached, the position in it, its summed E, a status (0 done, 1 stop request, 2 non-finite
    E at (e, pos), 3 a parameter not finite at the end of epoch e), E, the snapshot, the updates
    made and the parameters (P is left as it was given)."""
    body, params = _update_body(sizes, acts, loss, l2, "locals", const_lr=True)
    n_params = len(params.split(", "))
    if store == "float32":
        # struct's native "f" casts as C does, as an array('f') stores: beyond float32's range, inf
        # (tests/test_fastpath.py checks it; the standard "<f" would refuse such a value instead)
        body.append(f"{params}, = F32.unpack(F32.pack({params}))")
    out = snap = f"({params},)"
    total = " + ".join(f"p{q}" for q in range(n_params))
    body = [line.replace("return fail", f"return e, pos, el, 2, value, snap, t, {out}") for line in body]
    lines = ["def epochs(P, X, Y, orders, m, n, lr, tr, losses):", "    t = 0", f"    {params}, = P"]
    if store == "float32":
        lines.append(f"    F32 = Struct('{n_params}f')")
    lines += ["    rows = range(m)", "    for e in range(n):",
              "        order = rows if orders is None else orders[e]",
              f"        snap = {snap}", "        el = 0.0", "        pos = 0",
              "        while pos < m:", "            i = order[pos]"]
    body += ["el += value", "pos += 1", "if tr.stop_requested:",
             f"    return e, pos, el, 1, value, snap, t, {out}"]
    lines += ["            " + line for line in body]
    lines += ["        losses.append(el / m)", f"        if not isfinite({total}):",
              f"            return e, m, el, 3, 0.0, snap, t, {out}"]
    lines.append(f"    return n, 0, 0.0, 0, 0.0, snap, t, {out}")
    return "\n".join(lines) + "\n"


_NAMESPACE: dict[str, object] = {"tanh": math.tanh, "exp": math.exp, "log": math.log,
                                 "isfinite": math.isfinite, "lae": _logaddexp0, "Struct": struct.Struct}


def _compile(net, loss, l2, variant: str = "epoch"):
    """The generated function of ``variant``: "epoch" (:func:`_source`), "float32" or "locals"
    (:func:`_source_epochs`), cached per architecture."""
    key = (tuple(net.sizes), tuple((a.name, getattr(a, "alpha", None)) for a in net.activations),
           loss, l2, variant)
    fn = _CACHE.get(key)
    if fn is None:
        if variant == "epoch":
            src = _source(net.sizes, net.activations, loss, l2)
        else:
            src = _source_epochs(net.sizes, net.activations, loss, l2, variant)
        ns = dict(_NAMESPACE)
        exec(compile(src, f"<backprop.fast.tiny {net.sizes} {variant}>", "exec"), ns)  # noqa: S102 -- our own code
        fn = _CACHE[key] = ns["epoch" if variant == "epoch" else "epochs"]
    return fn


@dataclasses.dataclass
class Run:
    """What the Python path reads of a training run (it writes none of it).

    ``stop``: anything with a ``stop_requested`` attribute, read after every update (the Trainer).
    :meth:`TinyTrainer.run_epoch` reads the epoch's row order ``perm`` (None: the data order), the
    position ``pos`` to continue from, the epoch's summed E so far ``epoch_loss`` and the
    ``optimizer`` (its ``begin_step`` is called per update, its ``lr`` read);
    :meth:`TinyTrainer.run_epochs` the row orders of ``n_epochs`` epochs ``orders`` (an (n, m)
    integer array, or its list of lists; None: the data order) and the rate ``lr``."""

    stop: Any
    optimizer: Any = None
    perm: np.ndarray | None = None
    pos: int = 0
    epoch_loss: float = 0.0
    orders: Any = None
    n_epochs: int = 1
    lr: float = 0.0
    #: updates made before this call (the compiled path flushes subnormals by it)
    updates_before: int = 0
    #: :meth:`TinyTrainer.run_epoch` stops at this row of the epoch (None: the epoch's end)
    end: int | None = None


@dataclasses.dataclass
class EpochOutcome:
    """What :meth:`TinyTrainer.run_epoch` did: the position reached in the epoch, its summed E, the
    updates made and a status (0 the end of the rows asked for, 1 a stop request, 2 E not finite,
    ``value``)."""

    pos: int
    epoch_loss: float
    updates: int
    status: int
    value: float


@dataclasses.dataclass
class EpochsOutcome:
    """What :meth:`TinyTrainer.run_epochs` did: ``done`` whole epochs (their mean E in ``losses``),
    ``updates`` updates; with a status other than 0 it stopped in epoch ``stopped_in`` (0-based in
    the call) at ``pos`` with the summed E ``epoch_loss``: 1 a stop request, 2 E not finite
    (``value``), 3 a parameter not finite at the end of that epoch. ``snapshot``: the parameters at
    the start of the last epoch begun (for a divergence to fall back on)."""

    done: int
    updates: int
    losses: list
    status: int
    stopped_in: int
    pos: int
    epoch_loss: float
    value: float
    snapshot: list


class TinyTrainer:
    """The Python path for one training run of ``trainer.net`` over (X, Y) (``trainer.loss`` and
    ``trainer.l2`` are read once, here)."""

    def __init__(self, trainer: Any, X: np.ndarray, Y: np.ndarray) -> None:
        net = trainer.net
        self.net = net
        self.typecode = "f" if net.dtype == np.float32 else "d"
        self.X, self.Y = X.tolist(), Y.tolist()
        self.epoch = _compile(net, trainer.loss.name, trainer.l2)
        # parameters stay Python floats across updates; float32 ones are rounded at each update,
        # as the NumPy path stores them
        self.variant = "float32" if self.typecode == "f" else "locals"
        self.epochs = _compile(net, trainer.loss.name, trainer.l2, self.variant)

    def load(self, net: Any) -> array:
        """The parameters as one flat array: weights row by row, then biases."""
        P = array(self.typecode)
        for p in net.weights + net.biases:
            P.frombytes(np.ascontiguousarray(p, dtype=net.dtype).tobytes())
        return P

    def store(self, net: Any, P: Any) -> None:
        flat = np.frombuffer(P, dtype=net.dtype)
        o = 0
        for p in net.weights + net.biases:
            p[...] = flat[o:o + p.size].reshape(p.shape)
            o += p.size

    def run_epoch(self, run: Run) -> EpochOutcome:
        """Continue an epoch from ``run.pos`` to ``run.end`` (None: its end), or to a stop request (see
        :class:`Run`)."""
        net = self.net
        P = self.load(net)
        m = len(self.X)
        order = run.perm.tolist() if run.perm is not None else range(m)
        start = run.pos
        end = m if run.end is None else min(m, run.end)
        pos, el, status, value = self.epoch(P, self.X, self.Y, order, start, end, run.epoch_loss,
                                            run.optimizer, run.stop)
        self.store(net, P)
        return EpochOutcome(pos, el, pos - start, status, value)

    @staticmethod
    def chunk(m: int) -> int:
        """Epochs of m rows per :meth:`run_epochs` call (about 2^16 updates)."""
        return max(1, (1 << 16) // m)

    def run_epochs(self, run: Run) -> EpochsOutcome:
        """Whole epochs of constant-rate SGD in one generated call (nothing to do between epochs but
        record E): the same updates and losses as epoch by epoch (see :class:`Run`)."""
        net = self.net
        m = len(self.X)
        orders = run.orders.tolist() if isinstance(run.orders, np.ndarray) else run.orders
        n = run.n_epochs
        P = self.load(net)
        losses: list = []
        e, pos, el, status, value, snap, t, params = self.epochs(P, self.X, self.Y, orders, m, n, run.lr,
                                                                 run.stop, losses)
        self.store(net, array(self.typecode, params))
        done = e if status else n
        if status == 3 and all(np.isfinite(p).all() for p in net.weights + net.biases):
            done, status = e + 1, 0  # the parameters' sum overflowed, not a parameter: go on
        flat = np.asarray(snap, dtype=net.dtype)
        o, snapshot = 0, []
        for p in net.weights + net.biases:
            snapshot.append(flat[o:o + p.size].reshape(p.shape).copy())
            o += p.size
        return EpochsOutcome(done=done, updates=t, losses=losses[:done], status=status, stopped_in=e,
                             pos=pos, epoch_loss=el, value=value, snapshot=snapshot)
