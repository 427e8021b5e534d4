"""The training loop: the reference's online, batch and mini-batch training.

One update is the general algorithm of the reference: (i) forward pass, (ii) backward pass,
(iii) aggregation of the per-sample gradients over the batch, (iv) adaptation of the weights by
the optimizer (the delta rule, eq. (5), for ``sgd``). :class:`Trainer` is the only code that
iterates over epochs and batches: ``fit``, ``Network.fit``, the estimators, the command line,
checkpoints, the playground and the distributed trainer all go through it.

* :meth:`Trainer.run` trains until the epochs are done (or training stops);
* :meth:`Trainer.step` makes exactly one update and returns a :class:`Step` -- which rows, the
  loss, and with ``trace=True`` every h, a, delta and gradient of the reference with the weights
  before and after;
* :meth:`Trainer.run_source` trains on a *gradient source* instead of local arrays: an object that
  returns eq. (1) summed over any rows (:meth:`Network.gradient_sum`), e.g. on a cluster.

A :class:`Trainer` holds everything that changes during training (optimizer state, random
generator, position inside the epoch, history), so a run can be checkpointed and resumed to the
same bits. What differs between backprop's rules and scikit-learn's lives in a
:class:`~backprop.train.rules.Rules` object.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from backprop.core.losses import Loss
from backprop.core.metrics import metric_for
from backprop.core.validation import (
    check_callable,
    check_float,
    check_nonneg_float,
    check_positive_int,
    check_xy,
    make_rng,
)
from backprop.errors import DivergenceError, InvalidInputError
from backprop.fast import compiled as _compiled
from backprop.fast import denormals as _denormals
from backprop.fast import epochs as _epochs
from backprop.fast import tiny as _tiny
from backprop.fast.threads import blas_threads
from backprop.train import optimizers as _opt
from backprop.train import strategy as _strategy
from backprop.train.batching import DEFAULT_BATCH_SIZE, MODES, check_mode, resolve_batch_size
from backprop.train.checkpoint import check_state
from backprop.train.history import History
from backprop.train.rules import Rules
from backprop.train.trainable import Trainable

__all__ = ["Trainer", "Step", "GradientSource", "History", "Rules", "fit", "resolve_batch_size", "MODES",
           "DEFAULT_BATCH_SIZE", "blas_threads"]

#: seconds between the progress hook's reports inside an epoch on the paths that go update by update
#: (a display refreshes ~10 times a second); the compiled epochs report after each piece instead
PROGRESS_EVERY = 0.1
#: updates per call of the Python path inside an epoch (fast.tiny, 1-20 us each): the progress hook
#: is called between calls, so an epoch of many rows still moves the display
TINY_PIECE = 1 << 14


class GradientSource(Protocol):
    """Where the gradient of each update comes from when the data are not local arrays."""

    n_rows: int

    def gradient_sum(self, rows: np.ndarray, weights: list[np.ndarray],
                     biases: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """Eq. (1) summed over ``rows`` (global row indices) for these parameters, and the summed loss."""
        ...


@dataclasses.dataclass
class Step:
    """What one update did (see :meth:`Trainer.step`)."""

    epoch: int  # 1-based epoch this update belongs to
    step: int  # 1-based update number inside that epoch
    batch: np.ndarray  # the rows of X used, in the order used
    loss: float  # E of this batch before the update
    lr: float  # the learning rate of this update
    epoch_done: bool  # this update finished an epoch (the history has its entry)
    done: bool  # training is over: all epochs, early stopping or a callback said stop
    trace: Any = None  # with trace=True: the batch's Trace (h, a, delta, eq. (3) gradients)
    weights_before: list | None = None
    biases_before: list | None = None
    weights_after: list | None = None
    biases_after: list | None = None


class Trainer:
    """One training run of ``net``; :func:`fit` is the usual way to make and run one."""

    def __init__(self, net: Trainable, *, loss: str | Loss = "mse", epochs: int = 10, lr: float = 0.1,
                 batch_size: int | None = None, mode: str | None = None,
                 optimizer: str | _opt.Optimizer = "sgd", momentum: float = 0.9, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, schedule: str | Callable | None = None,
                 power_t: float = 0.5, gamma: float = 0.95, l2: float = 0.0, l1: float = 0.0,
                 shuffle: bool = True,
                 seed: int | None = None, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
                 early_stopping: int | None = None, min_delta: float = 0.0,
                 callbacks: Callable | Sequence[Callable] = (), on_step: Callable | None = None,
                 record_gradients: bool = False, rules: Rules | None = None) -> None:
        self.net = net
        self.loss = net.check_loss(loss)
        self.epochs = check_positive_int(epochs, "epochs")
        self.mode, self.requested_batch_size = check_mode(mode), batch_size
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        _check_optimizer_options(momentum, beta_1, beta_2, epsilon, power_t, gamma)
        self.optimizer = _opt.get(optimizer, lr, momentum=momentum, beta_1=beta_1, beta_2=beta_2,
                                  epsilon=epsilon, schedule=schedule, power_t=power_t, gamma=gamma)
        self.l2 = check_nonneg_float(l2, "l2")
        self.l1 = check_nonneg_float(l1, "l1")
        self.shuffle = bool(shuffle)
        self.seed = net.seed if seed is None else seed
        self.rng = make_rng(self.seed)
        self.validation_data = validation_data
        self.patience = (None if early_stopping is None
                         else check_positive_int(early_stopping, "early_stopping"))
        self.min_delta = check_nonneg_float(min_delta, "min_delta")
        if callable(callbacks):
            callbacks = [callbacks]
        try:
            callbacks = list(callbacks or ())
        except TypeError:
            raise InvalidInputError("callbacks must be a list of functions f(net, info)") from None
        self.callbacks = [check_callable(cb, "each of callbacks", allow_none=False) for cb in callbacks]
        self.on_step = check_callable(on_step, "on_step")
        #: a progress display's hook ``f(info)``. Unlike a callback or ``on_step`` it cannot stop
        #: training and is never called between the batches of a compiled call, so it leaves every
        #: fast path open (a callback closes the whole-epoch ones, ``on_step`` all but the NumPy step),
        #: and calling it changes nothing of the run: a hook that only reads (a display) leaves the
        #: results the same bits as without it. Called
        #:
        #: * after each epoch, with the epoch's info (the callbacks' ``info``: ``epoch`` done, its
        #:   ``loss``, ``n_updates``, ``lr``, ``time``, and the validation's keys), or after each call
        #:   of many whole epochs (fast.compiled, fast.tiny) with the last epoch's;
        #: * inside an epoch (:meth:`_progress_within`): after each compiled piece of it (fast.epochs,
        #:   ~0.1 s of work each), and at most every :data:`PROGRESS_EVERY` seconds on the paths that
        #:   go update by update. That info has ``within_epoch=True`` (the per-epoch info has no such
        #:   key), ``epoch`` the epoch being trained (1-based, as ``on_step``'s), ``step`` its updates
        #:   done, ``steps`` its updates in all, ``rows`` its rows done (``pos``), ``m`` its rows in
        #:   all, ``loss`` the mean E over those rows, and ``n_updates``, ``lr`` as after an epoch.
        self.progress: Callable[[dict], None] | None = None
        #: ``(every, write)``: ``write()`` after every ``every``-th epoch, after the callbacks (as a
        #: checkpoint callback appended last would); it too leaves the whole-epoch paths open, whose
        #: calls then end on those epochs
        self.checkpoint_hook: tuple[int, Callable[[], object]] | None = None
        self.record_gradients = bool(record_gradients)
        self.rules = Rules() if rules is None else rules
        self.history = History()
        self.metric_name, self.metric = metric_for(net.output)
        self.history.metric = self.metric_name if validation_data is not None else None
        # position inside the current epoch, so an interrupted run resumes exactly
        self.epoch = 0
        self.pos = 0
        self.perm: np.ndarray | None = None
        self.best: tuple | None = None  # (score, epoch, params) of early stopping
        self.bad_epochs = 0
        self.stop_requested = False
        self.val: tuple[np.ndarray, np.ndarray] | None = None  # the checked validation data of this run
        # bound to the data by start() / start_source()
        self.m = 0  # rows of the training data
        self.batch_size = 0  # B, resolved from mode and batch_size for these rows
        self.updates_per_epoch = 0
        self._data: tuple[np.ndarray, np.ndarray] | GradientSource | None = None
        self._strategy: _strategy.Strategy | None = None  # how step (iv) is made (train.strategy)
        self._tiny: _tiny.TinyTrainer | None = None  # the Python path, when the strategy is "tiny"
        self._compiled: _compiled.CompiledTrainer | None = None  # when the strategy is "compiled"
        self._epochs: _epochs.EpochRunner | None = None  # when the strategy is "epoch"
        self._epoch_loss = 0.0  # E summed over the current epoch's rows so far
        self._epoch_grad: dict | None = None  # record_gradients: the current epoch's sums
        # the parameters at the start of the epoch, for a divergence to fall back on
        self._snapshot: list[np.ndarray] | None = None
        # the generator's state before this epoch's order was drawn (None: not at an epoch's start)
        self._rng_before_epoch: Any = None
        self._done = False
        self._halted = False  # stopped by the rules after a divergence (not interrupted)
        self._progress_next = 0.0  # perf_counter() after which the next report inside an epoch is due

    @property
    def strategy(self) -> _strategy.Strategy | None:
        """How this run's updates reach the parameters (:mod:`backprop.train.strategy`); None
        before :meth:`start`."""
        return self._strategy

    # -- checkpoint state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """All that changes during training, as JSON-able ``meta`` and NumPy ``arrays``."""
        arrays = dict(self.net.state_dict())
        opt = self.optimizer.state_dict()
        for slot, d in opt.pop("state").items():
            for key, arr in d.items():
                arrays[f"opt.{slot}.{key}"] = arr
        if self.perm is not None:
            arrays["perm"] = self.perm
        best_meta = None
        if self.best is not None:
            score, epoch, params = self.best
            best_meta = {"score": score, "epoch": epoch}
            for k, p in enumerate(params or ()):  # None when early stopping watches the training loss
                arrays[f"best.{k}"] = p
        meta = {
            "epoch": self.epoch, "pos": self.pos, "epoch_loss": self._epoch_loss,
            "rng": self._rng_state(), "optimizer": opt,
            "history": self.history.to_dict(), "best": best_meta, "bad_epochs": self.bad_epochs,
            "epoch_grad": self._epoch_grad,
        }
        return {"meta": meta, "arrays": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(state, self)  # a wrong or foreign state: a clear error, nothing changed
        self._snapshot = None
        meta, arrays = state["meta"], state["arrays"]
        self.net.load_state_dict(arrays)
        opt = dict(meta["optimizer"])
        opt["state"] = {}
        for name, arr in arrays.items():
            if name.startswith("opt."):
                _, slot, key = name.split(".", 2)
                opt["state"].setdefault(slot, {})[key] = arr
        self.optimizer.load_state_dict(opt)
        self.perm = np.array(arrays["perm"]) if "perm" in arrays else None
        self.epoch, self.pos = int(meta["epoch"]), int(meta["pos"])
        self._epoch_loss = float(meta["epoch_loss"])
        self.rng.bit_generator.state = meta["rng"]
        self._rng_before_epoch = None
        self.history = History.from_dict(meta["history"])
        self.bad_epochs = int(meta["bad_epochs"])
        self._epoch_grad = meta.get("epoch_grad")
        best = meta.get("best")
        if best is not None:
            params = ([np.array(arrays[f"best.{k}"]) for k in range(2 * self.net.n_layers)]
                      if "best.0" in arrays else None)
            self.best = (best["score"], best["epoch"], params)

    # -- binding the data ---------------------------------------------------------------------
    def start(self, X: ArrayLike, Y: ArrayLike) -> None:
        """Check and bind the training data (what :meth:`run` does before its loop)."""
        net = self.net
        self._check_parameters()
        Xc, Yc = check_xy(X, Y, net)
        self._bind(Xc.shape[0])
        self._data = (Xc, Yc)
        self._strategy = _strategy.choose(self, Xc, Yc)
        # tiny networks online: plain Python floats beat NumPy's per-call overhead (see fast.tiny)
        self._tiny = _tiny.TinyTrainer(self, Xc, Yc) if self._strategy.name == "tiny" else None
        # small networks, whole epochs: one compiled call for many epochs (see fast.compiled)
        self._compiled = (_compiled.CompiledTrainer(self, Xc, Yc) if self._strategy.name == "compiled"
                          else None)
        # any size, one epoch per call: compiled batches, the products on NumPy's BLAS (see fast.epochs)
        terms = self._strategy.epoch_terms
        self._epochs = (_epochs.EpochRunner(self, Xc, Yc, terms, self._strategy.adam) if terms is not None
                        else None)

    def start_source(self, source: GradientSource) -> None:
        """Bind a :class:`GradientSource` instead of local arrays (see :meth:`run_source`)."""
        self._check_parameters()
        m = source.n_rows
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise InvalidInputError(f"the gradient source must have n_rows >= 1, got {m!r}")
        self._bind(int(m))
        self._data = source
        self._strategy = _strategy.choose(self, None, None)
        self._tiny = None
        self._compiled = None
        self._epochs = None

    def _check_parameters(self):
        net = self.net
        self.stop_requested = self._halted = False  # a stop asked of an earlier run() does not carry over
        net.check_parameters()
        for k, p in enumerate(net.weights + net.biases):
            if not np.isfinite(p).all():
                L = net.n_layers
                which = f"weights[{k}]" if k < L else f"biases[{k - L}]"
                raise InvalidInputError(f"net.{which} contains NaN or infinity; initialise the network anew")

    def _bind(self, m):
        B = resolve_batch_size(m, self.requested_batch_size, self.mode)
        if self.pos > 0:  # resuming inside an epoch: the same data and batches, or not the same run
            if (self.perm is not None and self.perm.shape != (m,)) or self.pos > m:
                n = self.perm.shape[0] if self.perm is not None else f"at least {self.pos}"
                raise InvalidInputError(
                    f"this training state is inside an epoch over {n} samples but X has {m} rows; "
                    "resume with the same training data"
                )
            if self.history.batch_size not in (0, B):
                raise InvalidInputError(
                    f"this training state used batch_size={self.history.batch_size} but this run uses "
                    f"{B}; resume with the same batch size and mode"
                )
        self.val = None
        if self.validation_data is not None:
            try:
                Xv, Yv = self.validation_data
            except (TypeError, ValueError):
                raise InvalidInputError("validation_data must be a pair (X_val, Y_val)") from None
            self.val = check_xy(Xv, Yv, self.net)
        self.m, self.batch_size = m, B
        self.updates_per_epoch = -(-m // B)
        self.history.batch_size = B
        self.history.updates_per_epoch = self.updates_per_epoch
        self._done = self.epoch >= self.epochs

    # -- the loop -------------------------------------------------------------------------------
    def run(self, X: ArrayLike, Y: ArrayLike) -> History:
        """Train on (X, Y) until ``epochs`` epochs are complete (or training stops); return History."""
        self.start(X, Y)
        return self._loop()

    def run_source(self, source: GradientSource) -> History:
        """Train with each update's gradient from ``source`` (eq. (1) summed over the batch's rows):
        the same batches, optimizer, history, validation, early stopping and callbacks as :meth:`run`."""
        self.start_source(source)
        return self._loop()

    def _loop(self):
        hist = self.history
        start = time.perf_counter()
        try:
            with self._context():
                while self.epoch < self.epochs and not self.stop_requested:
                    if not self._run_epoch():
                        break
        finally:
            hist.time += time.perf_counter() - start
        hist.interrupted = self.stop_requested and not self._halted and self.epoch < self.epochs
        return hist

    @contextlib.contextmanager
    def _context(self):
        """BLAS threads sized to the step; non-finite values are checked, not warned about."""
        n_weights = sum(w.size for w in self.net.weights)
        with blas_threads(self.batch_size, n_weights), \
                np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            yield

    def step(self, trace: bool = False) -> Step:
        """Make exactly one update -- the one :meth:`run` would make next -- and return what it did.

        :meth:`start` (or :meth:`start_source`) binds the data first. With ``trace=True`` the
        :class:`Step` carries the batch's :class:`~backprop.model.network.Trace` (x, h, a, delta per
        layer, the eq. (3) gradients) and copies of the weights before and after.
        """
        if self._data is None:
            raise InvalidInputError("call trainer.start(X, Y) before trainer.step()")
        if self._done:
            raise InvalidInputError(f"training is over (epoch {self.epoch} of {self.epochs}); "
                                    "make a new Trainer to train on")
        if trace and not isinstance(self._data, tuple):
            raise InvalidInputError("step(trace=True) needs local data (start(X, Y))")
        hist = self.history
        t0 = time.perf_counter()
        with self._context():
            if self.pos == 0:
                self._begin_epoch()
            epoch, step = self.epoch + 1, self.pos // self.batch_size + 1
            before = (([w.copy() for w in self.net.weights], [b.copy() for b in self.net.biases])
                      if trace else None)
            rows, batch_loss, tr = self._update(trace=trace)
            lr = self.optimizer.lr
            epoch_done = self.pos >= self.m
            keep_going = not self.stop_requested
            if epoch_done:
                keep_going = self._end_epoch() and keep_going
            self._done = not keep_going or self.epoch >= self.epochs
        hist.time += time.perf_counter() - t0
        batch = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else np.array(rows)
        result = Step(epoch=epoch, step=step, batch=batch, loss=batch_loss, lr=lr, epoch_done=epoch_done,
                      done=self._done, trace=tr)
        if before is not None:
            result.weights_before, result.biases_before = before
            result.weights_after = [w.copy() for w in self.net.weights]
            result.biases_after = [b.copy() for b in self.net.biases]
        return result

    def _begin_epoch(self) -> None:
        self.optimizer.epoch = self.epoch
        # an epoch whose order is drawn but whose first update failed (a gradient source that lost
        # its workers) is saved as not begun: the generator as before the draw
        self._rng_before_epoch = self.rng.bit_generator.state
        self.perm = self.rules.epoch_order(self, self.m, self.perm)
        self._epoch_loss = 0.0
        self._take_snapshot()
        self._epoch_grad = None

    def _run_epoch(self):
        """Continue the current epoch from ``self.pos``; False when training should stop."""
        strategy = self._strategy
        runner = self._compiled or self._tiny
        if self.pos == 0 and runner is not None and strategy is not None and strategy.whole_epochs:
            return self._tiny_epochs(runner)  # many epochs in one call (see fast.compiled, fast.tiny)
        if self.pos == 0:
            self._begin_epoch()
        else:
            self.optimizer.epoch = self.epoch
            if self._snapshot is None:
                self._snapshot = [p.copy() for p in self.net.weights + self.net.biases]
        if self._tiny is not None:
            return self._tiny_epoch(self._tiny) and self._end_epoch()
        if self._epochs is not None:
            while self.pos < self.m and self._compiled_batches(self._epochs):
                if self.stop_requested:
                    return self._stopped()
        while self.pos < self.m:
            self._update()
            if self.stop_requested:
                return self._stopped()
            if self.progress is not None:
                self._progress_within(throttled=True)
        return self._end_epoch()

    def _progress_within(self, throttled: bool = False) -> None:
        """The progress hook's report inside an epoch (its info: see ``progress``). ``throttled``: at
        most every :data:`PROGRESS_EVERY` seconds, for the paths that call this after every update
        (a dict and a call per update would cost more than a display shows)."""
        assert self.progress is not None
        if throttled:
            now = time.perf_counter()
            if now < self._progress_next:
                return
            self._progress_next = now + PROGRESS_EVERY
        pos, opt = self.pos, self.optimizer
        self.progress({"epoch": self.epoch + 1, "step": -(-pos // self.batch_size),
                       "steps": self.updates_per_epoch, "rows": pos, "m": self.m,
                       "loss": self._epoch_loss / pos if pos else math.nan,
                       "n_updates": self.history.n_updates, "lr": opt.lr, "within_epoch": True})

    def _stopped(self) -> bool:
        """A stop inside an epoch: the epoch-end check is skipped, so make sure no non-finite weight
        is handed back. False."""
        if not _strategy.finite(self.net.weights + self.net.biases):
            self._diverged("a weight became non-finite", self.pos // self.batch_size)
        return False

    def _compiled_batches(self, runner: _epochs.EpochRunner) -> bool:
        """The next piece of the current epoch in one compiled call (fast.epochs): the same updates,
        losses and flushes as step by step. False when the NumPy step is to take the next batch."""
        opt, hist = self.optimizer, self.history
        hi = min(self.m, self.pos + runner.chunk_rows())
        out = runner.run(self, self.pos, hi)
        opt.t += out.updates
        hist.n_updates += out.updates
        self.pos += out.rows
        self._epoch_loss += out.loss
        if self.progress is not None and out.rows:  # each piece is ~0.1 s of work: report every one
            self._progress_within()
        return out.status == 0

    # -- the Python path for tiny networks (fast.tiny): it reports, the trainer applies ---------
    def _tiny_epoch(self, tiny: _tiny.TinyTrainer) -> bool:
        """The rest of the current epoch on the Python path, in calls of at most :data:`TINY_PIECE`
        updates (the progress hook reports between them; each update reads and writes the
        parameters' array, so the pieces give the bits of one call); False when a stop was requested."""
        while True:
            end = min(self.m, self.pos + TINY_PIECE)
            out = tiny.run_epoch(_tiny.Run(stop=self, optimizer=self.optimizer, perm=self.perm, pos=self.pos,
                                           end=end, epoch_loss=self._epoch_loss))
            self._epoch_loss = out.epoch_loss
            self.pos = out.pos
            self.history.n_updates += out.updates
            if out.status == 2:  # the rules raise, or halt training: the epoch's end follows, as always
                self._diverged(f"the loss became {out.value}", out.pos + 1)
                return True
            if out.status == 1:
                if not _strategy.finite(self.net.weights + self.net.biases):
                    self._diverged("a weight became non-finite", out.pos)
                return False
            if self.pos >= self.m:
                return True
            if self.progress is not None:
                self._progress_within(throttled=True)

    def _tiny_epochs(self, tiny: _tiny.TinyTrainer | _compiled.CompiledTrainer) -> bool:
        """Whole epochs of constant-rate SGD in one generated or compiled call: the same updates,
        losses and random stream as epoch by epoch. False on a stop."""
        hist, opt, m = self.history, self.optimizer, self.m
        n = max(1, min(self.epochs - self.epoch, tiny.chunk(m)))
        if self.checkpoint_hook is not None:  # the call ends where a checkpoint is due
            every = self.checkpoint_hook[0]
            n = min(n, every - self.epoch % every)
        state0 = self.rng.bit_generator.state
        # n permutations at once: the same numbers, and the same generator state after them, as n
        # calls of rng.permutation(m) (tests/test_fastpath.py checks it)
        orders = self.rng.permuted(np.tile(np.arange(m), (n, 1)), axis=1) if self.shuffle else None
        out = tiny.run_epochs(_tiny.Run(stop=self, orders=orders, n_epochs=n, lr=opt.lr,
                                        updates_before=hist.n_updates))
        opt.t += out.updates
        hist.n_updates += out.updates
        hist.loss.extend(out.losses)
        hist.lr.extend([opt.lr] * out.done)
        self.epoch += out.done
        hist.epochs = self.epoch
        opt.epoch = self.epoch
        self._rng_before_epoch = None
        if out.status and self.shuffle:  # stopped inside the chunk: the generator as after this epoch's draw
            self.rng.bit_generator.state = state0
            for _ in range(out.stopped_in + 1):
                self._rng_before_epoch = self.rng.bit_generator.state
                self.perm = self.rng.permutation(m)
        elif self.shuffle and orders is not None:
            self.perm = np.array(orders[-1])
        self.pos, self._epoch_loss = (out.pos, out.epoch_loss) if out.status in (1, 2) else (0, 0.0)
        self._snapshot = out.snapshot
        if out.status == 0:
            self._periodic()
        if self.progress is not None and out.done:
            self.progress({"epoch": self.epoch, "loss": hist.loss[-1], "n_updates": hist.n_updates,
                           "lr": opt.lr, "time": hist.time})
        if out.status == 2:
            self._diverged(f"the loss became {out.value}", out.pos // self.batch_size + 1)
            return False
        if out.status == 3:
            self.pos = m
            self._diverged("a weight became non-finite", hist.updates_per_epoch)
            return False
        if out.status == 1:
            if not _strategy.finite(self.net.weights + self.net.biases):
                self._diverged("a weight became non-finite", out.pos)
            return False
        return True

    # -- one update -------------------------------------------------------------------------------
    def _update(self, trace: bool = False):
        """One update on the next batch: (i) forward, (ii) backward, (iii) eq. (3), (iv) optimizer.

        Returns (rows, the batch's loss, its Trace or None)."""
        net, opt, hist = self.net, self.optimizer, self.history
        end = min(self.pos + self.batch_size, self.m)
        b = end - self.pos
        rows = slice(self.pos, end) if self.perm is None else self.perm[self.pos:end]
        step = self.pos // self.batch_size + 1
        l2, penalty = self.rules.begin_batch(self, rows)
        tr = None
        data = self._data
        if isinstance(data, tuple):
            batch_loss, tr = self._local_update(data, rows, b, l2, step, trace)
        else:
            assert data is not None  # start() or start_source() bound it
            batch_loss = self._source_update(data, rows, b, l2, step)
        batch_loss += penalty
        self._epoch_loss += batch_loss * b
        self.pos = end
        hist.n_updates += 1
        _denormals.after_update(hist.n_updates, net.weights + net.biases, opt.state)  # subnormals -> 0
        if self.on_step is not None:
            self.on_step(net, {"epoch": self.epoch + 1, "step": step, "loss": batch_loss,
                               "batch_size": b, "lr": opt.lr})
        return rows, batch_loss, tr

    def _batch(self, X, Y, rows, b):
        """The batch's rows of X and Y (gathered by index into the buffers' rows) and its buffers."""
        buf = self.net.buffers(b, train=True)
        if isinstance(rows, slice):
            return X[rows], Y[rows], buf
        if buf.x is None:
            buf.x = np.empty((b, X.shape[1]), X.dtype)
            buf.y = np.empty((b, Y.shape[1]), Y.dtype)
        # mode="clip": the indices are valid, and the default "raise" buffers the output (slower)
        xb = np.take(X, rows, axis=0, out=buf.x, mode="clip")
        yb = np.take(Y, rows, axis=0, out=buf.y, mode="clip")
        return xb, yb, buf

    def _local_update(self, data, rows, b, l2, step, trace):
        net, loss = self.net, self.loss
        X, Y = data
        if trace:  # the reference's quantities, unscaled, then the optimizer on eq. (3)'s gradient
            tr = net.trace(X[rows], Y[rows], loss=loss)
            if not math.isfinite(tr.loss):
                self._diverged(f"the loss became {tr.loss}", step)
                return tr.loss, tr
            self._apply(tr.grad_weights, tr.grad_biases, 1.0, l2)
            if self.record_gradients:
                sums = self._gradient_sums()
                for k, d in enumerate(tr.delta):  # unscaled here: nothing to divide out
                    sums["delta"][k] += float(np.abs(d).mean())
            return tr.loss, tr
        xb, yb, buf = self._batch(X, Y, rows, b)
        yhat = net.forward_into(xb, buf)
        batch_loss = loss.value(yb, yhat, buf.h[-1])
        if not math.isfinite(batch_loss):
            self._diverged(f"the loss became {batch_loss}", step)
            return batch_loss, None
        asked = self.optimizer.begin_step()
        record = self._record_gradients if self.record_gradients else None
        strategy = self._chosen()
        strategy.local_step(self, xb, yb, buf, l2, asked, record)
        if self.record_gradients:
            self._record_deltas(buf, b, strategy.scale(self.optimizer, asked))
        return batch_loss, None

    def _source_update(self, source, rows, b, l2, step):
        """The update of :meth:`run_source`: the source's sums, divided by b (eq. (3)), then the optimizer."""
        net = self.net
        idx = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
        gw, gb, loss_sum = source.gradient_sum(idx, net.weights, net.biases)
        batch_loss = float(loss_sum) / b
        if not math.isfinite(batch_loss):
            self._diverged(f"the loss became {batch_loss}", step)
            return batch_loss
        self._apply(gw, gb, 1.0 / b, l2)
        return batch_loss

    def _apply(self, gw, gb, factor, l2) -> None:
        """(iv) adaptation: the optimizer on ``factor`` x the given gradients (plus the L2 term),
        scaled as the strategy has it (plain SGD: by eta, eq. (5) is then one subtraction)."""
        net, opt, strategy = self.net, self.optimizer, self._chosen()
        scale = strategy.scale(opt, opt.begin_step())
        c = scale * factor
        keys, params, grads = [], [], []
        for k in range(net.n_layers - 1, -1, -1):
            W = net.weights[k]
            g = np.multiply(gw[k], c, dtype=net.dtype)
            if l2:
                g += (l2 * scale) * W
            if self.l1:
                g += (self.l1 * scale) * np.sign(W)  # lasso subgradient, weights only as l2
            keys += [("w", k), ("b", k)]
            params += [W, net.biases[k]]
            grads += [g, np.multiply(gb[k], c, dtype=net.dtype)]
        if self.record_gradients:
            self._record_gradients(keys, grads, scale)
        for key, param, grad in zip(keys, params, grads):
            strategy.update(opt, key, param, grad)

    def _chosen(self) -> _strategy.Strategy:
        """The strategy of the bound run (start() / start_source() choose it)."""
        assert self._strategy is not None, "start() or start_source() binds the data first"
        return self._strategy

    def _gradient_sums(self) -> dict:
        """The current epoch's sums of the recorded gradients (record_gradients), made when first needed."""
        if self._epoch_grad is None:
            L = self.net.n_layers
            self._epoch_grad = {"delta": [0.0] * L, "grad": [0.0] * L, "_gsq": [0.0] * L}
        return self._epoch_grad

    def _take_snapshot(self) -> None:
        """Copy the parameters for a divergence to fall back on; into the last copy when it fits
        (a new copy before the old one is freed would hold the parameters three times)."""
        params = self.net.weights + self.net.biases
        snap = self._snapshot
        if snap is not None and len(snap) == len(params) and all(
                s.shape == p.shape and s.dtype == p.dtype for s, p in zip(snap, params)):
            for s, p in zip(snap, params):
                np.copyto(s, p)
        else:
            self._snapshot = [p.copy() for p in params]

    def _rng_state(self):
        """The generator's state as a checkpoint keeps it: at the start of an epoch, before its draw."""
        if self.pos == 0 and self._rng_before_epoch is not None:
            return self._rng_before_epoch
        return self.rng.bit_generator.state

    def _end_epoch(self):
        net, hist = self.net, self.history
        self._rng_before_epoch = None
        if not _strategy.finite(net.weights + net.biases):
            self._diverged("a weight became non-finite", hist.updates_per_epoch)
        self.epoch += 1
        self.pos = 0
        hist.epochs = self.epoch
        hist.loss.append(self._epoch_loss / self.m)
        hist.lr.append(self.optimizer.lr)
        if self.record_gradients and self._epoch_grad is not None:
            n = hist.updates_per_epoch
            hist.mean_abs_delta.append([v / n for v in self._epoch_grad["delta"]])
            hist.grad_norm.append([v / n for v in self._epoch_grad["grad"]])
        info = {"epoch": self.epoch, "loss": hist.loss[-1], "n_updates": hist.n_updates,
                "lr": self.optimizer.lr, "time": hist.time}
        keep_going = self.rules.end_epoch(self, info)
        self._periodic()
        if self.progress is not None:
            self.progress(info)
        return keep_going

    def _periodic(self) -> None:
        """The checkpoint hook's write, at the end of each of its epochs."""
        if self.checkpoint_hook is not None and self.epoch % self.checkpoint_hook[0] == 0:
            self.checkpoint_hook[1]()

    def dataset_loss(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """E over a whole (checked) data set and its yhat, without touching the training buffers."""
        out = self.net.forward_all(X, Y=Y, loss=self.loss, check_finite=False)
        assert out.loss is not None
        return out.loss, out.yhat

    def _diverged(self, what, step) -> None:
        """A non-finite loss or weight: the rules raise, or return and training stops here."""
        self.rules.diverged(self, what, step)
        self.stop_requested = self._halted = True

    def raise_divergence(self, what: str, step: int) -> None:
        """Put the last finite weights back (if need be) and raise :class:`DivergenceError`."""
        net = self.net
        if not _strategy.finite(net.weights + net.biases):
            L = net.n_layers
            assert self._snapshot is not None  # taken at the start of every epoch
            net.weights[:] = [p.copy() for p in self._snapshot[:L]]
            net.biases[:] = [p.copy() for p in self._snapshot[L:]]
            where = "restored to the last weights known to be finite"
        else:
            where = "left at the last finite weights"
        if self.history.n_updates == 0:  # no update made yet: the data, not the rate, is to blame
            advice = ("The initial network already gives a non-finite loss: the inputs or targets are "
                      "too large; standardize them")
        else:
            advice = f"Try a smaller learning rate (lr={self.optimizer.lr0:g} now)"
        raise DivergenceError(
            f"training diverged at epoch {self.epoch + 1}, step {step}: {what}; the network was "
            f"{where}. {advice}",
            epoch=self.epoch + 1, step=step, history=self.history,
        )

    # -- gradient recording (only when asked: it costs a pass over every array) ---------------
    def _record_gradients(self, keys, grads, scale) -> None:
        """Add each layer's gradient norm (eq. (3), the strategy's scale divided out) to the epoch's sums."""
        g = self._gradient_sums()
        for (kind, k), grad in zip(keys, grads):
            g["_gsq"][k] += float(np.vdot(grad, grad)) / scale**2
            if kind == "b":  # both parts of the layer seen: its norm is complete
                g["grad"][k] += math.sqrt(g["_gsq"][k])
                g["_gsq"][k] = 0.0

    def _record_deltas(self, buf, b, scale) -> None:
        c = scale / b  # the factor folded into the error terms
        sums = self._gradient_sums()
        for k, d in enumerate(buf.delta):
            sums["delta"][k] += float(np.abs(d).mean()) / c


def _check_optimizer_options(momentum, beta_1, beta_2, epsilon, power_t, gamma) -> None:
    """The optimizers' hyperparameters, in the ranges scikit-learn accepts."""
    check_float(momentum, "momentum", low=0, high=1)
    check_float(beta_1, "beta_1", low=0, high=1, high_open=True)
    check_float(beta_2, "beta_2", low=0, high=1, high_open=True)
    check_float(epsilon, "epsilon", low=0, low_open=True)
    check_float(power_t, "power_t", low=0)
    check_float(gamma, "gamma", low=0, low_open=True)


def fit(net: Any, X: ArrayLike, Y: ArrayLike, *, loss: str | Loss = "mse", epochs: int = 10, lr: float = 0.1,
        batch_size: int | None = None, mode: str | None = None, optimizer: str = "sgd", shuffle: bool = True,
        seed: int | None = None, **options: Any) -> History:
    """Train ``net`` on (X, Y) by backpropagation and return a :class:`History`.

    Parameters
    ----------
    loss : "mse" (the reference's E), "binary_cross_entropy" (sigmoid output) or
        "cross_entropy" (softmax output).
    epochs : number of passes over the data.
    lr : the learning rate eta of the delta rule, eq. (5).
    batch_size, mode : ``mode="online"`` (B = 1), ``"batch"`` (B = m), ``"minibatch"``
        (B = ``batch_size``, default 32). A ``batch_size`` larger than m is clipped with a warning.
    optimizer : "sgd" (the delta rule), "momentum", "nesterov" or "adam"
        (options ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``).
    shuffle : visit samples in a new random order each epoch (``False`` keeps the data order).
    seed : seed of the shuffling (default: the network's seed).

    Other options: ``schedule`` ("constant", "invscaling" with ``power_t``, "exponential" with
    ``gamma``, or a callable ``f(step, epoch) -> lr``); ``l2`` (weight decay: the penalty
    (l2/2) sum w^2 added to E); ``l1`` (the penalty l1 sum |w| added to E: its subgradient
    l1 sign(w) joins the weights' gradient); ``validation_data=(X_val, Y_val)``;
    ``early_stopping=patience``
    (epochs without improvement of the validation loss, or the training loss without validation
    data; with validation data the best weights are restored); ``min_delta``; ``callbacks``
    (``f(net, info)`` after each epoch, returning False stops); ``on_step`` (``f(net, info)``
    after each update); ``record_gradients`` (mean |delta| and gradient norm per layer and epoch).
    """
    trainer = Trainer(net, loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, mode=mode,
                      optimizer=optimizer, shuffle=shuffle, seed=seed, **options)
    return trainer.run(X, Y)

