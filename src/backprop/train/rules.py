"""The decisions of the training loop that differ between backprop and scikit-learn.

:class:`~backprop.train.trainer.Trainer` is the only code that iterates over epochs and batches.
What it asks of a :class:`Rules` object is small: the row order of each epoch, this update's L2
term, what happens at the end of an epoch (validation, early stopping, callbacks) and after a
divergence. The defaults here are backprop's own rules; ``backprop.sklearn`` plugs in
scikit-learn's (its shuffling, sample weights, tol / n_iter_no_change, adaptive learning rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the Trainer (backprop.train.trainer), which imports this module: not imported back
Trainer = Any


class Rules:
    """backprop's own rules (see the module docstring)."""

    #: May plain SGD be fused into the backward pass (one BLAS call per weight matrix)? A subclass
    #: that must reproduce another library's arithmetic to the last bit says no.
    fused = True

    def epoch_order(self, trainer: Trainer, m: int, previous: np.ndarray | None) -> np.ndarray | None:
        """The order in which the next epoch visits the m rows (None: their own order)."""
        return trainer.rng.permutation(m) if trainer.shuffle else None

    def begin_batch(self, trainer: Trainer, rows: np.ndarray | slice) -> tuple[float, float]:
        """Before an update on ``rows``: (the L2 coefficient of its gradient, a penalty added to the
        batch's reported loss)."""
        return trainer.l2, 0.0

    def batch_terms(self, trainer: Trainer) -> tuple[float, float, float] | None:
        """What :meth:`begin_batch` returns, as a formula in the batch's row count b, for a compiled
        epoch (``backprop.fast.epochs``): (l2, l2_per_row, penalty_per_row) with the L2 coefficient
        l2 + l2_per_row / b and the penalty penalty_per_row x sum w^2 / b; None where it depends on
        more than b (the run then takes the NumPy step)."""
        if type(self).begin_batch is not Rules.begin_batch:
            return None
        return float(trainer.l2), 0.0, 0.0

    def end_epoch(self, trainer: Trainer, info: dict[str, Any]) -> bool:
        """After an epoch's entry in the history: validation, early stopping, callbacks.
        Returns False to stop training."""
        net, hist = trainer.net, trainer.history
        if trainer.val is not None:
            Xv, Yv = trainer.val
            vloss, yhat = trainer.dataset_loss(Xv, Yv)
            hist.val_loss.append(vloss)
            hist.val_metric.append(trainer.metric(Yv, yhat))
            info.update(val_loss=vloss, val_metric=hist.val_metric[-1], metric=trainer.metric_name)
        keep_going = True
        if trainer.patience is not None:
            score = hist.val_loss[-1] if trainer.val is not None else hist.loss[-1]
            best = trainer.best
            if best is None or score < best[0] - trainer.min_delta:
                params = [p.copy() for p in net.weights + net.biases] if trainer.val is not None else None
                trainer.best = (score, trainer.epoch, params)
                trainer.bad_epochs = 0
            else:
                trainer.bad_epochs += 1
            hist.best_epoch = trainer.best[1]
            if trainer.bad_epochs >= trainer.patience:
                hist.stopped_early = True
                keep_going = False
                if trainer.best[2] is not None:  # restore the best weights seen on the validation set
                    L = net.n_layers
                    net.weights[:] = [p.copy() for p in trainer.best[2][:L]]
                    net.biases[:] = [p.copy() for p in trainer.best[2][L:]]
        for cb in trainer.callbacks:
            if cb(net, info) is False:
                keep_going = False
        return keep_going

    def diverged(self, trainer: Trainer, what: str, step: int) -> None:
        """A non-finite loss or weight: put the last finite weights back and raise DivergenceError."""
        trainer.raise_divergence(what, step)
