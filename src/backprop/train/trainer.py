"""The training loop: the reference's online, batch and mini-batch training.

One update is the general algorithm of the reference: (i) forward pass, (ii) backward pass,
(iii) aggregation of the per-sample gradients over the batch, (iv) adaptation of the weights by
the optimizer (the delta rule, eq. (5), for ``sgd``).

* ``mode="online"``: batch size 1, an update after every sample -- m updates per epoch.
* ``mode="batch"``: the gradient aggregated over all m samples -- one update per epoch.
* mini-batch (``batch_size=B``, the default with B = 32): ceil(m/B) updates per epoch; the last,
  smaller batch is used as it is and averaged over its own size.

A :class:`Trainer` holds everything that changes during training (optimizer state, random
generator, position inside the epoch, history), so a run can be checkpointed and resumed to the
same bits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings

import numpy as np

from backprop.fast import blas as _blas

from backprop.fast import tiny as _tiny
from backprop.train import optimizers as _opt
from backprop.errors import DivergenceError, InvalidInputError
from backprop.train.checkpoint import check_state
from backprop.core.metrics import metric_for
from backprop.core.validation import (check_callable, check_float, check_nonneg_float, check_positive_int, check_xy,
                         make_rng)

MODES = ("online", "batch", "minibatch")
DEFAULT_BATCH_SIZE = 32


@dataclasses.dataclass
class History:
    """What a training run did, epoch by epoch."""

    loss: list = dataclasses.field(default_factory=list)  # mean training E over each epoch's batches
    val_loss: list = dataclasses.field(default_factory=list)
    val_metric: list = dataclasses.field(default_factory=list)
    metric: str | None = None  # "accuracy" or "r2"
    lr: list = dataclasses.field(default_factory=list)  # learning rate at each epoch's end
    n_updates: int = 0
    updates_per_epoch: int = 0
    batch_size: int = 0
    epochs: int = 0  # completed epochs
    best_epoch: int | None = None
    stopped_early: bool = False
    interrupted: bool = False
    time: float = 0.0  # seconds spent training
    #: with record_gradients: per epoch, mean |delta| and the gradient norm of each layer
    mean_abs_delta: list = dataclasses.field(default_factory=list)
    grad_norm: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def resolve_batch_size(m, batch_size=None, mode=None):
    """The batch size that ``mode``/``batch_size`` ask for, for m samples (clipped with a warning)."""
    if mode is not None and mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if mode == "online":
        if batch_size not in (None, 1):
            raise InvalidInputError(f"mode='online' updates after every sample; got batch_size={batch_size}")
        return 1
    if mode == "batch":
        if batch_size not in (None, m):
            raise InvalidInputError(
                f"mode='batch' uses all {m} samples per update; got batch_size={batch_size}"
            )
        return m
    if batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE
        if batch_size > m:
            return m
    if batch_size > m:
        warnings.warn(f"batch_size={batch_size} is larger than the {m} samples; using {m}", UserWarning,
                      stacklevel=3)
        return m
    return batch_size


@contextlib.contextmanager
def blas_threads(batch_size, n_weights=None):
    """One BLAS thread for small steps (no thread wake-ups, no spinning thread), all of them otherwise.

    Measured in the training loop on a shared 2-core machine, 784-256-128-10 (235k weights):
    two threads gain 55% from batch 64 up; below, it depends on what else runs on the host --
    at batch 32 two threads were 20% slower in one state and 47% faster in another, at 16 -7% or
    +19%, at 1 one thread wins. So: all threads from a batch of 64 (without ``n_weights``), or
    when batch x weights >= 2^22 (4M multiply-adds per pass over the layers: batch >= 18 for
    that network), or from a million weights (their updates are memory-bound even for one sample).
    """
    if n_weights is None:
        many = batch_size >= 64
    else:
        many = batch_size * n_weights >= 1 << 22 or n_weights >= 1 << 20
    if many:
        yield
        return
    if _blas.available:  # NumPy's OpenBLAS, set directly: microseconds instead of threadpoolctl's milliseconds
        n = _blas.get_threads()
        _blas.set_threads(1)
        try:
            yield
        finally:
            _blas.set_threads(n)
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the engine needs only NumPy
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class Trainer:
    """One training run of ``net``; :func:`fit` is the usual way to make and run one."""

    def __init__(self, net, *, loss="mse", epochs=10, lr=0.1, batch_size=None, mode=None,
                 optimizer="sgd", momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 schedule=None, power_t=0.5, gamma=0.95, l2=0.0, shuffle=True, seed=None,
                 validation_data=None, early_stopping=None, min_delta=0.0, callbacks=(),
                 on_step=None, record_gradients=False):
        self.net = net
        self.loss = net._check_loss(loss)
        self.epochs = check_positive_int(epochs, "epochs")
        self.mode, self.requested_batch_size = mode, batch_size
        if mode is not None and mode not in MODES:
            raise InvalidInputError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
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
        self.patience = None if early_stopping is None else check_positive_int(early_stopping, "early_stopping")
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
        self.history = History()
        self.metric_name, self._metric = metric_for(net.output)
        self.history.metric = self.metric_name if validation_data is not None else None
        # position inside the current epoch, so an interrupted run resumes exactly
        self.epoch = 0
        self.pos = 0
        self.perm = None
        self._epoch_loss = 0.0
        self._epoch_grad = None
        self._best = None  # (score, epoch, params)
        self._bad_epochs = 0
        self.stop_requested = False

    # -- checkpoint state -----------------------------------------------------------------------
    def state_dict(self):
        """All that changes during training, as JSON-able ``meta`` and NumPy ``arrays``."""
        arrays = {}
        for k, (w, b) in enumerate(zip(self.net.weights, self.net.biases)):
            arrays[f"weights.{k}"], arrays[f"biases.{k}"] = w, b
        opt = self.optimizer.state_dict()
        for slot, d in opt.pop("state").items():
            for key, arr in d.items():
                arrays[f"opt.{slot}.{key}"] = arr
        if self.perm is not None:
            arrays["perm"] = self.perm
        best_meta = None
        if self._best is not None:
            score, epoch, params = self._best
            best_meta = {"score": score, "epoch": epoch}
            for k, p in enumerate(params or ()):  # None when early stopping watches the training loss
                arrays[f"best.{k}"] = p
        meta = {
            "epoch": self.epoch, "pos": self.pos, "epoch_loss": self._epoch_loss,
            "rng": self.rng.bit_generator.state, "optimizer": opt,
            "history": self.history.to_dict(), "best": best_meta, "bad_epochs": self._bad_epochs,
            "epoch_grad": self._epoch_grad,
        }
        return {"meta": meta, "arrays": arrays}

    def load_state_dict(self, state):
        check_state(state, self)  # a wrong or foreign state: a clear error, nothing changed
        self.__dict__.pop("_snapshot", None)
        meta, arrays = state["meta"], state["arrays"]
        for k in range(self.net.n_layers):
            self.net.weights[k] = np.array(arrays[f"weights.{k}"], dtype=self.net.dtype)
            self.net.biases[k] = np.array(arrays[f"biases.{k}"], dtype=self.net.dtype)
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
        self.history = History.from_dict(meta["history"])
        self._bad_epochs = int(meta["bad_epochs"])
        self._epoch_grad = meta.get("epoch_grad")
        best = meta.get("best")
        if best is not None:
            params = ([np.array(arrays[f"best.{k}"]) for k in range(2 * self.net.n_layers)]
                      if "best.0" in arrays else None)
            self._best = (best["score"], best["epoch"], params)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, X, Y):
        """Train on (X, Y) until ``epochs`` epochs are complete (or training stops); return History."""
        net = self.net
        self.stop_requested = False  # a stop asked of an earlier run() does not carry over
        net.check_parameters()
        for k, p in enumerate(net.weights + net.biases):
            if not np.isfinite(p).all():
                L = net.n_layers
                which = f"weights[{k}]" if k < L else f"biases[{k - L}]"
                raise InvalidInputError(f"net.{which} contains NaN or infinity; initialise the network anew")
        X, Y = check_xy(X, Y, net)
        m = X.shape[0]
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
        val = None
        if self.validation_data is not None:
            try:
                Xv, Yv = self.validation_data
            except (TypeError, ValueError):
                raise InvalidInputError("validation_data must be a pair (X_val, Y_val)") from None
            val = check_xy(Xv, Yv, net)
        h = self.history
        h.batch_size = B
        h.updates_per_epoch = -(-m // B)
        # tiny networks online: plain Python floats beat NumPy's per-call overhead (see _tiny)
        self._tiny = (_tiny.TinyTrainer(self, X, Y)
                      if type(self.optimizer) is _opt.SGD and _tiny.eligible(self, B) else None)
        start = time.perf_counter()
        try:
            n_weights = sum(w.size for w in net.weights)
            with blas_threads(B, n_weights), \
                    np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                while self.epoch < self.epochs and not self.stop_requested:
                    if not self._run_epoch(X, Y, B, val):
                        break
        finally:
            h.time += time.perf_counter() - start
        h.interrupted = self.stop_requested and self.epoch < self.epochs
        return h

    def _run_epoch(self, X, Y, B, val):
        """Continue the current epoch from ``self.pos``; False when training should stop."""
        net, opt, loss, h = self.net, self.optimizer, self.loss, self.history
        m = X.shape[0]
        opt.epoch = self.epoch
        if self.pos == 0:
            self.perm = self.rng.permutation(m) if self.shuffle else None
            self._epoch_loss = 0.0
            self._take_snapshot()
            self._epoch_grad = None
        elif not hasattr(self, "_snapshot"):
            self._snapshot = [p.copy() for p in net.weights + net.biases]
        tiny = getattr(self, "_tiny", None)
        if tiny is not None:
            return tiny.run_epoch(self) and self._end_epoch(X, Y, val)
        update = self._recording_update if self.record_gradients else opt.update
        # plain SGD: the update is fused into the backward pass (Network._backward_sgd)
        fused = type(opt) is _opt.SGD and not self.record_gradients and not self.l2
        while self.pos < m:
            end = min(self.pos + B, m)
            b = end - self.pos
            buf = net._buffers_for(b, train=True)
            if self.perm is None:
                xb, yb = X[self.pos:end], Y[self.pos:end]
            else:
                if buf.x is None:
                    buf.x = np.empty((b, X.shape[1]), X.dtype)
                    buf.y = np.empty((b, Y.shape[1]), Y.dtype)
                idx = self.perm[self.pos:end]
                # mode="clip": the indices are valid, and the default "raise" buffers the output (slower)
                xb = np.take(X, idx, axis=0, out=buf.x, mode="clip")
                yb = np.take(Y, idx, axis=0, out=buf.y, mode="clip")
            yhat = net._forward(xb, buf)
            batch_loss = loss.value(yb, yhat, buf.h[-1])
            step = self.pos // B + 1
            if not math.isfinite(batch_loss):
                self._diverged(f"the loss became {batch_loss}", step)
            scale = opt.begin_step()
            self._scale = 1.0 if scale is None else scale
            if fused:
                net._backward_sgd(xb, yb, buf, loss, self._scale)
            else:
                net._backward(xb, yb, buf, loss, scale=self._scale, l2=self.l2, update=update)
            if self.record_gradients:
                self._record_deltas(buf, b)
            self._epoch_loss += batch_loss * b
            self.pos = end
            h.n_updates += 1
            if self.on_step is not None:
                self.on_step(net, {"epoch": self.epoch + 1, "step": step, "loss": batch_loss,
                                   "batch_size": b, "lr": opt.lr})
            if self.stop_requested:
                # the epoch-end check is skipped: make sure no non-finite weight is handed back
                if not all(np.isfinite(p).all() for p in net.weights + net.biases):
                    self._diverged("a weight became non-finite", step)
                return False
        return self._end_epoch(X, Y, val)

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

    def _end_epoch(self, X, Y, val):
        net, h = self.net, self.history
        m = X.shape[0]
        if not all(np.isfinite(p).all() for p in net.weights + net.biases):
            self._diverged("a weight became non-finite", h.updates_per_epoch)
        self.epoch += 1
        self.pos = 0
        h.epochs = self.epoch
        h.loss.append(self._epoch_loss / m)
        h.lr.append(self.optimizer.lr)
        if self.record_gradients and self._epoch_grad is not None:
            n = h.updates_per_epoch
            h.mean_abs_delta.append([v / n for v in self._epoch_grad["delta"]])
            h.grad_norm.append([v / n for v in self._epoch_grad["grad"]])
        info = {"epoch": self.epoch, "loss": h.loss[-1], "n_updates": h.n_updates,
                "lr": self.optimizer.lr, "time": h.time}
        if val is not None:
            Xv, Yv = val
            vloss, yhat = _dataset_loss(net, self.loss, Xv, Yv)
            h.val_loss.append(vloss)
            h.val_metric.append(self._metric(Yv, yhat))
            info.update(val_loss=vloss, val_metric=h.val_metric[-1], metric=self.metric_name)
        keep_going = True
        if self.patience is not None:
            score = h.val_loss[-1] if val is not None else h.loss[-1]
            if self._best is None or score < self._best[0] - self.min_delta:
                params = [p.copy() for p in net.weights + net.biases] if val is not None else None
                self._best = (score, self.epoch, params)
                self._bad_epochs = 0
            else:
                self._bad_epochs += 1
            h.best_epoch = self._best[1]
            if self._bad_epochs >= self.patience:
                h.stopped_early = True
                keep_going = False
                if self._best[2] is not None:  # restore the best weights seen on the validation set
                    L = net.n_layers
                    net.weights[:] = [p.copy() for p in self._best[2][:L]]
                    net.biases[:] = [p.copy() for p in self._best[2][L:]]
        for cb in self.callbacks:
            if cb(net, info) is False:
                keep_going = False
        return keep_going

    def _diverged(self, what, step):
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


def fit(net, X, Y, *, loss="mse", epochs=10, lr=0.1, batch_size=None, mode=None, optimizer="sgd",
        shuffle=True, seed=None, **options):
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
