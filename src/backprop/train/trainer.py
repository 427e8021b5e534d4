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
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

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
from backprop.fast import denormals as _denormals
from backprop.fast import tiny as _tiny
from backprop.fast.threads import blas_threads
from backprop.train import optimizers as _opt
from backprop.train.batching import DEFAULT_BATCH_SIZE, MODES, check_mode, resolve_batch_size
from backprop.train.checkpoint import check_state
from backprop.train.history import History
from backprop.train.rules import Rules

__all__ = ["Trainer", "Step", "GradientSource", "History", "Rules", "fit", "resolve_batch_size", "MODES",
           "DEFAULT_BATCH_SIZE", "blas_threads"]


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

    def __init__(self, net, *, loss="mse", epochs=10, lr=0.1, batch_size=None, mode=None,
                 optimizer="sgd", momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 schedule=None, power_t=0.5, gamma=0.95, l2=0.0, shuffle=True, seed=None,
                 validation_data=None, early_stopping=None, min_delta=0.0, callbacks=(),
                 on_step=None, record_gradients=False, rules: Rules | None = None):
        self.net = net
        self.loss = net._check_loss(loss)
        self.epochs = check_positive_int(epochs, "epochs")
        self.mode, self.requested_batch_size = check_mode(mode), batch_size
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        _check_optimizer_options(momentum, beta_1, beta_2, epsilon, power_t, gamma)
        self.optimizer = _opt.get(optimizer, lr, momentum=momentum, beta_1=beta_1, beta_2=beta_2,
                                  epsilon=epsilon, schedule=schedule, power_t=power_t, gamma=gamma)
        self.l2 = check_nonneg_float(l2, "l2")
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
        self.val = None  # the checked validation data of the current run
        self._epoch_loss = 0.0
        self._epoch_grad = None
        self._data: tuple[np.ndarray, np.ndarray] | GradientSource | None = None  # start(), start_source()
        self._done = False
        self._halted = False  # stopped by the rules after a divergence (not interrupted)

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
        self.__dict__.pop("_snapshot", None)
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
        # tiny networks online: plain Python floats beat NumPy's per-call overhead (see fast.tiny)
        self._tiny = (_tiny.TinyTrainer(self, Xc, Yc)
                      if self.rules.fused and type(self.optimizer) is _opt.SGD
                      and _tiny.eligible(self, self.batch_size) else None)

    def start_source(self, source: GradientSource) -> None:
        """Bind a :class:`GradientSource` instead of local arrays (see :meth:`run_source`)."""
        self._check_parameters()
        m = source.n_rows
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise InvalidInputError(f"the gradient source must have n_rows >= 1, got {m!r}")
        self._bind(int(m))
        self._data = source
        self._tiny = None

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
        h = self.history
        start = time.perf_counter()
        try:
            with self._context():
                while self.epoch < self.epochs and not self.stop_requested:
                    if not self._run_epoch():
                        break
        finally:
            h.time += time.perf_counter() - start
        h.interrupted = self.stop_requested and not self._halted and self.epoch < self.epochs
        return h

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
        h = self.history
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
        h.time += time.perf_counter() - t0
        batch = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else np.array(rows)
        result = Step(epoch=epoch, step=step, batch=batch, loss=batch_loss, lr=lr, epoch_done=epoch_done,
                      done=self._done, trace=tr)
        if before is not None:
            result.weights_before, result.biases_before = before
            result.weights_after = [w.copy() for w in self.net.weights]
            result.biases_after = [b.copy() for b in self.net.biases]
        return result

    def _begin_epoch(self):
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
        if self.pos == 0 and self._tiny is not None and self._plain_epochs():
            return self._tiny.run_epochs(self)  # many epochs in one call (see fast.tiny)
        if self.pos == 0:
            self._begin_epoch()
        else:
            self.optimizer.epoch = self.epoch
            if not hasattr(self, "_snapshot"):
                self._snapshot = [p.copy() for p in self.net.weights + self.net.biases]
        if self._tiny is not None:
            return self._tiny.run_epoch(self) and self._end_epoch()
        while self.pos < self.m:
            self._update()
            if self.stop_requested:
                # the epoch-end check is skipped: make sure no non-finite weight is handed back
                if not all(np.isfinite(p).all() for p in self.net.weights + self.net.biases):
                    self._diverged("a weight became non-finite", self.pos // self.batch_size)
                return False
        return self._end_epoch()

    def _update(self, trace=False):
        """One update on the next batch: (i) forward, (ii) backward, (iii) eq. (3), (iv) optimizer.

        Returns (rows, the batch's loss, its Trace or None)."""
        net, opt, h = self.net, self.optimizer, self.history
        end = min(self.pos + self.batch_size, self.m)
        b = end - self.pos
        rows = slice(self.pos, end) if self.perm is None else self.perm[self.pos:end]
        step = self.pos // self.batch_size + 1
        l2, penalty = self.rules.begin_batch(self, rows)
        tr = None
        if isinstance(self._data, tuple):
            batch_loss, tr = self._local_update(rows, b, l2, step, trace)
        else:
            batch_loss = self._source_update(rows, b, l2, step)
        batch_loss += penalty
        self._epoch_loss += batch_loss * b
        self.pos = end
        h.n_updates += 1
        _denormals.after_update(h.n_updates, net.weights + net.biases, opt.state)  # subnormals -> 0
        if self.on_step is not None:
            self.on_step(net, {"epoch": self.epoch + 1, "step": step, "loss": batch_loss,
                               "batch_size": b, "lr": opt.lr})
        return rows, batch_loss, tr

    def _plain_epochs(self):
        """Nothing happens between epochs but recording E: constant-rate SGD, backprop's own rules,
        no validation, early stopping or callbacks."""
        opt = self.optimizer
        return (type(self.rules) is Rules and not self.callbacks and self.val is None
                and self.patience is None
                and type(opt.schedule) is _opt.Schedule and opt.schedule.kind == "constant"
                and "begin_step" not in vars(opt))  # a wrapped begin_step must be called

    def _local_update(self, rows, b, l2, step, trace):
        net, opt, loss = self.net, self.optimizer, self.loss
        X, Y = self._data
        if trace:  # the reference's quantities, unscaled, then the optimizer on eq. (3)'s gradient
            tr = net.trace(X[rows], Y[rows], loss=loss)
            if not math.isfinite(tr.loss):
                self._diverged(f"the loss became {tr.loss}", step)
                return tr.loss, tr
            scale = opt.begin_step()
            self._scale = 1.0 if scale is None else scale
            self._apply(tr.grad_weights, tr.grad_biases, 1.0, l2)
            if self.record_gradients:
                for k, d in enumerate(tr.delta):  # unscaled here: nothing to divide out
                    self._epoch_grad["delta"][k] += float(np.abs(d).mean())
            return tr.loss, tr
        buf = net._buffers_for(b, train=True)
        if isinstance(rows, slice):
            xb, yb = X[rows], Y[rows]
        else:
            if buf.x is None:
                buf.x = np.empty((b, X.shape[1]), X.dtype)
                buf.y = np.empty((b, Y.shape[1]), Y.dtype)
            # mode="clip": the indices are valid, and the default "raise" buffers the output (slower)
            xb = np.take(X, rows, axis=0, out=buf.x, mode="clip")
            yb = np.take(Y, rows, axis=0, out=buf.y, mode="clip")
        yhat = net._forward(xb, buf)
        batch_loss = loss.value(yb, yhat, buf.h[-1])
        if not math.isfinite(batch_loss):
            self._diverged(f"the loss became {batch_loss}", step)
            return batch_loss, None
        scale = opt.begin_step()
        self._scale = 1.0 if scale is None else scale
        # plain SGD: the update is fused into the backward pass (Network._backward_sgd)
        if self.rules.fused and type(opt) is _opt.SGD and not self.record_gradients and not l2:
            net._backward_sgd(xb, yb, buf, loss, self._scale)
        elif self.record_gradients:
            net._backward(xb, yb, buf, loss, scale=self._scale, l2=l2, update=self._recording_update)
        else:  # every gradient first, then the optimizer on all of them (Adam: as one array)
            gW, gb = net._backward(xb, yb, buf, loss, scale=self._scale, l2=l2)
            keys, params, grads = net._update_order(gW, gb)
            opt.update_all(keys, params, grads)
        if self.record_gradients:
            self._record_deltas(buf, b)
        return batch_loss, None

    def _source_update(self, rows, b, l2, step):
        """The update of :meth:`run_source`: the source's sums, divided by b (eq. (3)), then the optimizer."""
        net, opt = self.net, self.optimizer
        idx = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
        gw, gb, loss_sum = self._data.gradient_sum(idx, net.weights, net.biases)
        batch_loss = float(loss_sum) / b
        if not math.isfinite(batch_loss):
            self._diverged(f"the loss became {batch_loss}", step)
            return batch_loss
        scale = opt.begin_step()
        self._scale = 1.0 if scale is None else scale
        self._apply(gw, gb, 1.0 / b, l2)
        return batch_loss

    def _apply(self, gw, gb, factor, l2):
        """(iv) adaptation: the optimizer on ``factor`` x the given gradients (plus the L2 term),
        scaled as the optimizer asked (plain SGD: by eta, so that its update is w -= grad)."""
        net, c = self.net, self._scale * factor
        update = self._recording_update if self.record_gradients else self.optimizer.update
        for k in range(net.n_layers - 1, -1, -1):
            W = net.weights[k]
            g = np.multiply(gw[k], c, dtype=net.dtype)
            if l2:
                g += (l2 * self._scale) * W
            update(("w", k), W, g)
            update(("b", k), net.biases[k], np.multiply(gb[k], c, dtype=net.dtype))

    def _take_snapshot(self):
        """Copy the parameters for a divergence to fall back on; into the last copy when it fits
        (a new copy before the old one is freed would hold the parameters three times)."""
        params = self.net.weights + self.net.biases
        snap = getattr(self, "_snapshot", None)
        if snap is not None and len(snap) == len(params) and all(
                s.shape == p.shape and s.dtype == p.dtype for s, p in zip(snap, params)):
            for s, p in zip(snap, params):
                np.copyto(s, p)
        else:
            self._snapshot = [p.copy() for p in params]

    def _rng_state(self):
        """The generator's state as a checkpoint keeps it: at the start of an epoch, before its draw."""
        if self.pos == 0 and getattr(self, "_rng_before_epoch", None) is not None:
            return self._rng_before_epoch
        return self.rng.bit_generator.state

    def _end_epoch(self):
        net, h = self.net, self.history
        self._rng_before_epoch = None
        if not all(np.isfinite(p).all() for p in net.weights + net.biases):
            self._diverged("a weight became non-finite", h.updates_per_epoch)
        self.epoch += 1
        self.pos = 0
        h.epochs = self.epoch
        h.loss.append(self._epoch_loss / self.m)
        h.lr.append(self.optimizer.lr)
        if self.record_gradients and self._epoch_grad is not None:
            n = h.updates_per_epoch
            h.mean_abs_delta.append([v / n for v in self._epoch_grad["delta"]])
            h.grad_norm.append([v / n for v in self._epoch_grad["grad"]])
        info = {"epoch": self.epoch, "loss": h.loss[-1], "n_updates": h.n_updates,
                "lr": self.optimizer.lr, "time": h.time}
        return self.rules.end_epoch(self, info)

    def dataset_loss(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """E over a whole (checked) data set and its yhat, without touching the training buffers."""
        return _dataset_loss(self.net, self.loss, X, Y)

    def _diverged(self, what, step):
        """A non-finite loss or weight: the rules raise, or return and training stops here."""
        self.rules.diverged(self, what, step)
        self.stop_requested = self._halted = True

    def raise_divergence(self, what: str, step: int) -> None:
        """Put the last finite weights back (if need be) and raise :class:`DivergenceError`."""
        net = self.net
        if not all(np.isfinite(p).all() for p in net.weights + net.biases):
            L = net.n_layers
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
    def _recording_update(self, key, param, grad):
        kind, k = key
        if self._epoch_grad is None:
            L = self.net.n_layers
            self._epoch_grad = {"delta": [0.0] * L, "grad": [0.0] * L, "_gsq": [0.0] * L}
        g = self._epoch_grad
        sq = float(np.vdot(grad, grad)) / self._scale**2
        g["_gsq"][k] += sq
        if kind == "b":  # both parts of the layer seen: its norm is complete
            g["grad"][k] += math.sqrt(g["_gsq"][k])
            g["_gsq"][k] = 0.0
        self.optimizer.update(key, param, grad)

    def _record_deltas(self, buf, b):
        c = self._scale / b  # the factor folded into the error terms
        for k, d in enumerate(buf.delta):
            self._epoch_grad["delta"][k] += float(np.abs(d).mean()) / c


def _check_optimizer_options(momentum, beta_1, beta_2, epsilon, power_t, gamma):
    """The optimizers' hyperparameters, in the ranges scikit-learn accepts."""
    check_float(momentum, "momentum", low=0, high=1)
    check_float(beta_1, "beta_1", low=0, high=1, high_open=True)
    check_float(beta_2, "beta_2", low=0, high=1, high_open=True)
    check_float(epsilon, "epsilon", low=0, low_open=True)
    check_float(power_t, "power_t", low=0)
    check_float(gamma, "gamma", low=0, low_open=True)


def _dataset_loss(net, loss, X, Y, chunk=4096):
    """E over a whole data set, in chunks (the losses need h^o, so not via predict); and yhat."""
    total = 0.0
    yhat = np.empty_like(Y)
    for s in range(0, X.shape[0], chunk):
        xb, yb = X[s:s + chunk], Y[s:s + chunk]
        buf = net._buffers_for(xb.shape[0])
        yhat[s:s + chunk] = net._forward(xb, buf)
        total += loss.value(yb, buf.a[-1], buf.h[-1]) * xb.shape[0]
    return total / X.shape[0], yhat


def fit(net: Any, X: ArrayLike, Y: ArrayLike, *, loss: str = "mse", epochs: int = 10, lr: float = 0.1,
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
    (l2/2) sum w^2 added to E); ``validation_data=(X_val, Y_val)``; ``early_stopping=patience``
    (epochs without improvement of the validation loss, or the training loss without validation
    data; with validation data the best weights are restored); ``min_delta``; ``callbacks``
    (``f(net, info)`` after each epoch, returning False stops); ``on_step`` (``f(net, info)``
    after each update); ``record_gradients`` (mean |delta| and gradient norm per layer and epoch).
    """
    trainer = Trainer(net, loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, mode=mode,
                      optimizer=optimizer, shuffle=shuffle, seed=seed, **options)
    return trainer.run(X, Y)

