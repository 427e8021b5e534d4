"""Which fast path step (iv) of an update takes: the one place where that is decided.

The optimizers (:mod:`backprop.train.optimizers`) read like their equations; the training loop
could always run them as written -- the gradient of eq. (3) into buffers, then ``update``. Three
faster strategies give the same results (bit for bit, or to rounding where BLAS adds in another
order: ``tests/test_fastpath.py``, ``tests/test_optimizers.py``), and :func:`choose` picks one per
run:

``"compiled"``
    plain constant-rate SGD on a small network, any batch size, nothing to do between epochs but
    record E (no callbacks, validation or early stopping), with numba installed, and a run long
    enough to pay for numba's start (or numba already running): whole epochs in one compiled call
    (:mod:`backprop.fast.compiled`).
``"epoch"``
    plain constant-rate SGD or Adam on a network of any size whose units and loss the kernel has,
    with rules that give each batch's L2 term as a formula (:meth:`Rules.batch_terms`), no
    per-update hook or gradient recording, numba installed and a run long enough to pay for its
    start: every batch of an epoch in one compiled call, the products on NumPy's OpenBLAS
    (:mod:`backprop.fast.epochs`). The fields below still describe the NumPy step, which takes
    single steps (``Trainer.step``) and whatever the kernel leaves (a non-finite loss).
``"tiny"``
    plain SGD, one sample per update, a tiny network: the whole update as generated straight-line
    Python (:mod:`backprop.fast.tiny`).
``"fused"``
    plain SGD: eta/m folded into delta^o and eq. (5) applied by one BLAS call per weight matrix
    inside the backward pass (:func:`backprop.fast.fused.delta_rule_step`); for a batch with an
    L2 term, or while gradients are recorded, the gradient still carries eta and eq. (5) is one
    subtraction (:func:`backprop.fast.fused.subtract`). Not with an L1 term (``l1 > 0``): its
    subgradient is added after the backward pass, and the run takes ``"optimizer"``.
``"optimizer"``
    every other optimizer on plain gradients; Adam on the network's flat gradient buffer at once
    (:class:`backprop.fast.adam.FlatAdam`), with numba in one compiled pass per parameter when the
    run is long enough to pay for numba's start or numba already runs
    (:func:`backprop.fast.compiled.adam_kernels`).

``"plain"`` (:data:`FAST` off) runs every optimizer as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from backprop.core.losses import Loss
from backprop.fast import blas as _blas
from backprop.fast import compiled as _compiled
from backprop.fast import epochs as _epochs
from backprop.fast import fused as _fused
from backprop.fast import tiny as _tiny
from backprop.fast.adam import FlatAdam
from backprop.train import optimizers as _opt
from backprop.train.rules import Rules
from backprop.train.trainable import Trainable


class Run(Protocol):
    """What the choice reads of a training run (the Trainer, which imports this module)."""

    net: Trainable
    optimizer: _opt.Optimizer
    loss: Loss
    rules: Rules
    record_gradients: bool
    on_step: Any
    callbacks: list
    val: Any
    patience: int | None
    batch_size: int
    l1: float
    epochs: int
    epoch: int
    m: int

#: Off switch: ``False`` runs every optimizer as written, ``update`` on eq. (3)'s plain gradient
#: (the tests compare the fast strategies with it).
FAST = True


class Strategy:
    """How the updates of one run reach the parameters (made by :func:`choose`)."""

    def __init__(self, name: str, opt: _opt.Optimizer, *, delta_rule: bool, fused: bool,
                 whole_epochs: bool = False, kernels: Any = None) -> None:
        self.name = name
        #: eq. (5) with eta folded into the gradient (plain SGD), instead of ``opt.update``
        self.delta_rule = delta_rule
        #: the delta rule fused into the backward pass where the batch allows it
        self.fused = fused
        #: "tiny": many epochs in one generated call (nothing happens between epochs)
        self.whole_epochs = whole_epochs
        adam = name != "plain" and isinstance(opt, _opt.Adam) and _plain(opt, _opt.Adam)
        #: Adam on the flat gradient buffer; with ``kernels`` (numba) in one compiled pass
        self.flat = FlatAdam(kernels) if adam else None
        #: "epoch": the rules' batch terms (l2, l2_per_row, penalty_per_row) and whether it is Adam
        self.epoch_terms: tuple[float, float, float] | None = None
        self.adam = adam

    def scale(self, opt: _opt.Optimizer, asked: float | None = None) -> float:
        """The factor the gradients carry: eta for the delta rule (folded into delta^o); else what
        the optimizer's ``begin_step`` ``asked`` for (None: 1)."""
        if self.delta_rule:
            return opt.lr
        return 1.0 if asked is None else float(asked)

    def update(self, opt: _opt.Optimizer, key: tuple[str, int], param: np.ndarray, grad: np.ndarray) -> None:
        """Step (iv) for one parameter; ``grad`` is scaled by :meth:`scale` (and is scratch after)."""
        if self.delta_rule:
            _fused.subtract(param, grad)
        elif self.flat is not None:
            assert isinstance(opt, _opt.Adam)
            self.flat.update(opt.state, key, param, grad, opt.beta_1, opt.beta_2, opt.epsilon,
                             opt.step_size())
        else:
            opt.update(key, param, grad)

    def update_all(self, opt: _opt.Optimizer, keys: Sequence[tuple[str, int]], params: Sequence[np.ndarray],
                   grads: Sequence[np.ndarray]) -> None:
        """Step (iv) for every parameter of one update, in this order (the flat buffer's)."""
        if self.flat is not None:
            assert isinstance(opt, _opt.Adam)
            if self.flat.update_all(opt.state, keys, params, grads, opt.beta_1, opt.beta_2, opt.epsilon,
                                    opt.step_size()):
                return
        for key, param, grad in zip(keys, params, grads):
            self.update(opt, key, param, grad)

    def local_step(self, trainer: Run, xb: np.ndarray, yb: np.ndarray, buf: Any, l2: float,
                   asked: float | None = None, record: Any = None) -> None:
        """Steps (ii)-(iv) of a batch whose forward pass is in ``buf``, after ``opt.begin_step()``
        (which returned ``asked``). ``record(keys, grads, scale)`` sees the gradients before the
        update (gradient recording)."""
        net, opt, loss = trainer.net, trainer.optimizer, trainer.loss
        if self.fused and not l2 and record is None:
            _fused.delta_rule_step(xb, yb, buf, net.weights, net.biases, net.activations, loss, opt.lr)
            return
        scale = self.scale(opt, asked)
        if trainer.l1:  # (choose() never fuses then)
            gW, gb = net.backward_into(xb, yb, buf, loss, scale=scale, l2=l2, l1=trainer.l1)
        else:
            gW, gb = net.backward_into(xb, yb, buf, loss, scale=scale, l2=l2)
        keys, params, grads = net.update_order(gW, gb)
        if record is not None:
            record(keys, grads, scale)
        self.update_all(opt, keys, params, grads)


def _plain(opt: _opt.Optimizer, cls: type[_opt.Optimizer]) -> bool:
    """``opt`` updates as ``cls`` does (a subclass that only adds attributes, as the estimators' do)."""
    return type(opt).update is cls.update


def choose(trainer: Run, X: np.ndarray | None, Y: np.ndarray | None) -> Strategy:
    """The strategy of ``trainer``'s run over (X, Y) (None: a gradient source, no local arrays)."""
    opt, rules = trainer.optimizer, trainer.rules
    if not FAST:
        return Strategy("plain", opt, delta_rule=False, fused=False)
    delta_rule = isinstance(opt, _opt.SGD) and _plain(opt, _opt.SGD)
    # a subclass of the rules may have to reproduce another library's arithmetic to the last bit
    # an L1 term is added after the backward pass: no fused or generated step then
    may_fuse = (delta_rule and rules.fused and type(opt) is _opt.SGD and not trainer.record_gradients
                and not trainer.l1)
    local = may_fuse and X is not None and trainer.on_step is None
    # nothing happens between the updates of an epoch, nor between epochs but recording E
    whole = (local and type(rules) is Rules and not trainer.callbacks and trainer.val is None
             and trainer.patience is None and type(opt.schedule) is _opt.Schedule
             and opt.schedule.kind == "constant"
             and "begin_step" not in vars(opt))  # a wrapped begin_step must be called
    tiny = local and _tiny.eligible(trainer.net, trainer.loss.name, trainer.batch_size)
    # (eligible() imports numba, so it is asked last: only a small network that may take it)
    samples = (trainer.epochs - trainer.epoch) * trainer.m
    if whole and _compiled.eligible(trainer.net, trainer.loss.name, trainer.batch_size, samples, tiny):
        return Strategy("compiled", opt, delta_rule=True, fused=_blas.available, whole_epochs=True)
    if tiny:
        return Strategy("tiny", opt, delta_rule=True, fused=True, whole_epochs=whole)
    # (without NumPy's BLAS the fused step is plain NumPy, the same bits as backward then subtract)
    fused = may_fuse and _blas.available
    kernels = None
    adam = isinstance(opt, _opt.Adam) and _plain(opt, _opt.Adam)
    updates = (trainer.epochs - trainer.epoch) * -(-trainer.m // max(1, trainer.batch_size))
    terms = _epoch_terms(trainer, X, adam or delta_rule, updates)
    if adam and terms is None:
        kernels = _compiled.adam_kernels(trainer.net.n_parameters, updates)
    name = "epoch" if terms is not None else "fused" if fused else "optimizer"
    strategy = Strategy(name, opt, delta_rule=delta_rule, fused=fused, kernels=kernels)
    strategy.epoch_terms = terms
    return strategy


def _epoch_terms(trainer: Run, X: np.ndarray | None, optimizer_ok: bool,
                 updates: int) -> tuple[float, float, float] | None:
    """The rules' batch terms when the run takes compiled epochs (``"epoch"``), else None."""
    opt = trainer.optimizer
    if not (optimizer_ok and X is not None and trainer.on_step is None and not trainer.record_gradients
            and not trainer.l1 and opt.schedule.constant_within_epoch() and "begin_step" not in vars(opt)):
        return None
    terms = trainer.rules.batch_terms(trainer)
    if terms is None or not _epochs.eligible(trainer.net, trainer.loss, trainer.batch_size, updates):
        return None
    return terms


def finite(params: Sequence[np.ndarray]) -> bool:
    """All parameters finite (the check after an epoch and before a stop hands the weights back)."""
    return all(np.isfinite(p).all() for p in params)

