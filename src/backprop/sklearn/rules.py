"""scikit-learn's rules for the one training loop (:class:`backprop.Trainer`).

``solver='sgd'``/``'adam'`` train through the engine's Trainer, which alone iterates over epochs
and batches; :class:`SklearnRules` makes its decisions scikit-learn's:

* the row order: ``sklearn.utils.shuffle`` of the previous epoch's order with the estimator's
  ``random_state`` (the data order without ``shuffle``);
* per batch, the sample weights of its rows, the L2 term alpha W / (sum of the batch's weights,
  m without weights) and the penalty alpha/2 ||W||^2 / that sum added to the batch's loss;
* per epoch, the estimator's bookkeeping: ``n_iter_``, ``t_``, ``loss_``, ``loss_curve_``, the
  validation score and loss of ``early_stopping``, the no-improvement count against ``tol``,
  ``eta / 5`` for ``learning_rate='adaptive'``, eta_0 / (t_ + 1)^power_t for ``'invscaling'``,
  stopping after ``n_iter_no_change`` epochs, the callbacks, ``ConvergenceWarning`` at ``max_iter``;
* a divergence (a non-finite loss or weight): without ``early_stopping`` the ValueError
  scikit-learn's ``fit`` ends with; with it, the epoch is recorded with NaN scores, training
  stops and the best weights come back (scikit-learn goes on with NaN to ``max_iter``).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle as _sk_shuffle

from backprop.errors import InvalidInputError
from backprop.sklearn.features import scorer_score
from backprop.sklearn.losses import SklearnLoss, sum_sq
from backprop.train.rules import Rules
from backprop.train.trainer import Trainer

NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
               "values and need to be preprocessed.")


class SklearnRules(Rules):
    """scikit-learn's decisions for one ``fit``/``partial_fit`` call of ``est`` (module docstring)."""

    fused = False  # always gradient -> optimizer.update: the arithmetic scikit-learn uses

    def __init__(self, est: Any, sample_weight: Any, val: Any, incremental: bool):
        self.est = est
        self.sample_weight = sample_weight  # of the training rows, or None
        self.val = val  # (X_val, y_val as targets, y_val as labels, sample weights) or None
        self.incremental = incremental
        self.started = time.perf_counter()
        self.recorded = 0  # epochs recorded by end_epoch
        self.diverged_at: int | None = None  # self.recorded when a divergence stopped the run

    # -- the hooks ------------------------------------------------------------------------------
    def epoch_order(self, trainer: Any, m: int, previous: np.ndarray | None) -> np.ndarray | None:
        if not self.est.shuffle:
            return None
        if previous is None:
            previous = np.arange(m, dtype=int)
        return _sk_shuffle(previous, random_state=self.est._random_state)

    def begin_batch(self, trainer: Any, rows: np.ndarray | slice) -> tuple[float, float]:
        est = self.est
        swb = None if self.sample_weight is None else self.sample_weight[rows]
        sw_sum = trainer.loss.set_batch(swb)
        if sw_sum is None:
            sw_sum = _n_rows(rows)
        penalty = 0.5 * est.alpha * sum_sq(est.coefs_) / sw_sum if est.alpha else 0.0
        return est.alpha / sw_sum, penalty

    def batch_terms(self, trainer: Any) -> tuple[float, float, float] | None:
        """:meth:`begin_batch` as a formula: alpha / b and alpha/2 ||W||^2 / b (unweighted rows)."""
        if self.sample_weight is not None or type(self).begin_batch is not SklearnRules.begin_batch:
            return None
        alpha = float(self.est.alpha)
        return 0.0, alpha, 0.5 * alpha

    def end_epoch(self, trainer: Any, info: dict) -> bool:
        self.recorded += 1
        return self._record(trainer, trainer.history.loss[-1])

    def diverged(self, trainer: Any, what: str, step: int) -> None:
        if self.val is None:
            # scikit-learn trains on and its fit reports the non-finite weights that follow
            raise InvalidInputError(NON_FINITE)
        if self.diverged_at is None:  # called again for the weights of the same stop
            self.diverged_at = self.recorded

    def finish(self, trainer: Any) -> None:
        """After the run: an epoch a divergence cut short is recorded with NaN (scikit-learn goes
        on with NaN losses and scores; training here stops at the first)."""
        if self.diverged_at is not None and self.diverged_at == self.recorded:
            self._record(trainer, math.nan)

    # -- the bookkeeping of an epoch ------------------------------------------------------------
    def _record(self, trainer, epoch_loss):
        est, opt = self.est, trainer.optimizer
        est.n_iter_ += 1
        est.loss_ = epoch_loss
        est.t_ += trainer.m
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_:d}, loss = {est.loss_:.8f}")
        self._update_no_improvement_count(trainer)
        if est.learning_rate == "invscaling" and opt.name != "adam":
            opt.learning_rate = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        stop = False
        if est._no_improvement_count > est.n_iter_no_change:
            stop = self._trigger_stopping(opt)
        if est.callbacks and self._run_callbacks(opt.learning_rate):
            stop = True
        if stop or self.incremental:
            return False
        if trainer.epoch == est.max_iter and self.diverged_at is None:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter:d}) reached and the "
                "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5)
        return True

    def _update_no_improvement_count(self, trainer):
        est = self.est
        if self.val is not None:
            X_val, y_val, truth, sw_val = self.val
            yhat = _raw_predict(trainer.net, X_val)
            if np.isfinite(yhat).all():
                if est.scoring is None:
                    score = est._score_function(truth, est._decode(yhat), sample_weight=sw_val)
                else:  # the user's scorer, of the estimator as this epoch left it
                    score = scorer_score(est, X_val, truth, sw_val)
                vloss = trainer.loss.value(y_val, yhat, sample_weight=sw_val)
            else:
                score = vloss = math.nan
            est.validation_scores_.append(score)
            est.validation_loss_curve_.append(vloss)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_coefs = [c.copy() for c in est.coefs_]
                est._best_intercepts = [b.copy() for b in est.intercepts_]
        else:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if est.loss_curve_[-1] < est.best_loss_:
                est.best_loss_ = est.loss_curve_[-1]

    def _trigger_stopping(self, opt):
        """No improvement for n_iter_no_change epochs: stop, or divide eta by 5 if 'adaptive'."""
        est = self.est
        what = "Validation score" if self.val is not None else "Training loss"
        msg = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change:d} "
               "consecutive epochs.")
        if opt.name == "adam" or est.learning_rate != "adaptive":
            if est.verbose:
                print(msg + " Stopping.")
            return True
        if opt.learning_rate <= 1e-6:
            if est.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt.learning_rate /= 5.0
        if est.verbose:
            print(msg + f" Setting learning rate to {opt.learning_rate:f}")
        est._no_improvement_count = 0
        return False

    def _run_callbacks(self, lr):
        """Call each callback with the estimator and the epoch's figures; True: stop."""
        est = self.est
        info = {"epoch": est.n_iter_, "loss": est.loss_, "learning_rate": lr, "t": est.t_,
                "time": time.perf_counter() - self.started}
        if est.validation_scores_:
            info["validation_score"] = est.validation_scores_[-1]
            info["validation_loss"] = est.validation_loss_curve_[-1]
        stop = False
        for cb in est.callbacks:
            if cb(est, dict(info)) is False:
                stop = True
        return stop


def _n_rows(rows):
    if isinstance(rows, slice):
        return rows.stop - rows.start
    return len(rows)


def _raw_predict(net, X, chunk=4096):
    """a^L for X, NaN and infinity included (Network.predict refuses non-finite outputs)."""
    return net.forward_all(X, chunk=chunk, check_finite=False).yhat


def ensure_state(est: Any, early_stopping: bool) -> None:
    """Counters of this call: what a warm start needs when the solver or early_stopping changed
    since the last fit, and ``n_iter_`` anew (scikit-learn) unless ``keep_optimizer_state``."""
    if not est.keep_optimizer_state:
        est.n_iter_ = 0
    if not hasattr(est, "_no_improvement_count"):
        est._no_improvement_count = 0
    if early_stopping and getattr(est, "validation_scores_", None) is None:
        est.validation_scores_, est.validation_loss_curve_ = [], []
        est.best_validation_score_, est.best_loss_ = -np.inf, None
    if not early_stopping and getattr(est, "best_loss_", None) is None:
        est.best_loss_ = np.inf


def _split(est, X, y, sample_weight, dtype):
    """(training rows, their weights, validation data) as scikit-learn splits for early_stopping."""
    if not est.early_stopping:
        return X, y, sample_weight, None
    # don't stratify in multilabel classification (scikit-learn's rule)
    stratify = y if is_classifier(est) and est.n_outputs_ == 1 else None
    if sample_weight is None:
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, random_state=est._random_state, test_size=est.validation_fraction,
            stratify=stratify)
        sw_train = sw_val = None
    else:
        X_train, X_val, y_train, y_val, sw_train, sw_val = train_test_split(
            X, y, sample_weight, random_state=est._random_state,
            test_size=est.validation_fraction, stratify=stratify)
    if X_val.shape[0] < 2:
        raise InvalidInputError(
            "The validation set is too small. Increase 'validation_fraction' or the size "
            "of your dataset."
        )
    return X_train, y_train, sw_train, (X_val, est._targets(y_val, dtype), est._val_truth(y_val), sw_val)


def make_trainer(est: Any, n_rows: int, sample_weight: Any, val: Any, incremental: bool) -> Trainer:
    """The Trainer of one ``fit`` (``max_iter`` epochs) or ``partial_fit`` (one epoch) call: the
    estimator's network and optimizer, scikit-learn's loss, batch size and rules."""
    opt = est._ensure_optimizer(incremental)
    ensure_state(est, val is not None)
    rules = SklearnRules(est, sample_weight, val, incremental)
    return Trainer(est._net, loss=SklearnLoss(est._loss_kind()), optimizer=opt,
                   epochs=1 if incremental else est.max_iter, batch_size=est._batch_size(n_rows),
                   rules=rules)


def run(trainer: Any, train: Any) -> None:
    """``train()`` runs ``trainer``; then what the rules do after a run."""
    try:
        train()
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=4)
    trainer.rules.finish(trainer)


def fit_stochastic(est: Any, X: Any, y: Any, sample_weight: Any, incremental: bool) -> None:
    """``solver='sgd'``/``'adam'``: the Trainer with scikit-learn's rules and the estimator's optimizer."""
    if est.early_stopping and incremental:
        raise InvalidInputError("partial_fit does not support early_stopping=True")
    X_train, y_train, sw_train, val = _split(est, X, y, sample_weight, est._net.dtype)
    trainer = make_trainer(est, X_train.shape[0], sw_train, val, incremental)
    y_train = est._targets(y_train, est._net.dtype)
    run(trainer, lambda: trainer.run(X_train, y_train))
    if est.early_stopping:  # restore the best weights seen on the validation split
        est.coefs_ = [c.copy() for c in est._best_coefs]
        est.intercepts_ = [b.copy() for b in est._best_intercepts]
        est._sync_params()

