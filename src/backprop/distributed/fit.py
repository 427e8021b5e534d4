"""Training on a Dask cluster with the keywords and the History of ``Network.fit``.

The loop is the trainer's own (:meth:`backprop.Trainer.run_source`): epochs, the seeded
shuffling, the optimizer, validation, early stopping, callbacks and divergence checks all run on
the driver, exactly as in one process. Only the gradient of each update comes from the cluster
(:class:`~.source.DaskSource`), so with the same network, data and options the weights equal those
of ``net.fit`` to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError
from backprop.train.checkpoint import save_checkpoint
from backprop.train.history import History
from backprop.train.trainer import Trainer

from .data import is_dask
from .errors import NEEDS_DASK, DistributedError
from .source import DaskSource


def fit(net: Any, X: Any, Y: Any | None = None, *, client: Any | None = None,
        target: str | Sequence[str] | None = None, classes: Sequence | None = None,
        checkpoint: str | None = None, worker_timeout: float = 60.0,
        **fit_kwargs: Any) -> History:
    """Train ``net`` on rows that stay on the workers of ``client``; return a :class:`backprop.History`.

    ``X``, ``Y``: Dask arrays chunked by rows (at least one chunk per worker), a Dask data frame
    (with a ``target`` column, default the last; ``Y`` may name it), a folder, glob or list of
    Parquet/CSV files that the workers read, or NumPy arrays (sent once, one block per worker).
    With several outputs, class labels of a target column are one-hot encoded in the order of
    ``classes`` (default: the sorted distinct labels). ``fit_kwargs``: those of
    :func:`backprop.fit` (loss, epochs, lr, batch_size / mode, optimizer, l2, shuffle, seed,
    validation_data -- computed to NumPy on the driver --, early_stopping, callbacks, ...).

    ``client``: a ``distributed.Client``; default: the active one (``distributed.get_client()``).
    ``checkpoint``: a path; the trainer's state is saved there (atomically, with
    ``backprop.train.checkpoint``) when training ends and when the cluster loses its workers for good.
    ``worker_timeout``: seconds to wait for a worker when the cluster has none.
    Raises :class:`DistributedError` when the cluster cannot go on; the network keeps the weights of
    the last completed update.
    """
    trainer = Trainer(net, **fit_kwargs)
    return train(trainer, X, Y, client=client, target=target, classes=classes, checkpoint=checkpoint,
                 worker_timeout=worker_timeout)


def train(trainer: Any, X: Any, Y: Any | None = None, *, client: Any | None = None,
          target: str | Sequence[str] | None = None, classes: Sequence | None = None,
          checkpoint: str | None = None, extra: dict | None = None,
          worker_timeout: float = 60.0, stop: Callable[[], bool] | None = None) -> History:
    """Run ``trainer`` (a :class:`backprop.Trainer`, possibly resumed from a checkpoint) on the cluster.

    The command line's entry point: it builds its trainer itself and passes ``extra`` (a JSON-able
    dict kept in the checkpoint) and ``stop`` (a predicate looked at while the data are being placed,
    before the first update: when it returns true, ``InterruptedError`` is raised and nothing is
    trained; once training runs, the trainer's own ``stop_requested`` ends it after an update).
    Otherwise as :func:`fit`.
    """
    client = active_client(client)
    if trainer.validation_data is not None:
        trainer.validation_data = _local_pair(trainer.validation_data)
    with DaskSource(client, trainer.net, X, Y, loss=trainer.loss, target=target, classes=classes,
                    worker_timeout=worker_timeout, stop=stop) as source:
        try:
            history = trainer.run_source(source)
        except DistributedError as exc:
            exc.history = trainer.history
            if checkpoint is not None:
                _save(checkpoint, trainer, extra)
                exc.checkpoint = checkpoint
                exc.args = (f"{exc.args[0]}. The state after update {trainer.history.n_updates} was saved to "
                            + f"{checkpoint}; resume from it on a working cluster",)
            raise
    if checkpoint is not None:
        _save(checkpoint, trainer, extra)
    return history


def active_client(client: Any | None = None) -> Any:
    """``client``, or the active ``distributed.Client`` when None (what the estimators train on)."""
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:
        raise InvalidInputError(NEEDS_DASK) from None
    try:
        return get_client()
    except ValueError:
        raise InvalidInputError("no Dask client is active: pass client=, or create one first "
                                "(distributed.Client(...) or backprop.distributed.connect(...))") from None


def _save(path, trainer, extra):
    save_checkpoint(path, trainer, extra)


def _local_pair(pair):
    """Validation data on the driver (it is evaluated there, once per epoch)."""
    try:
        Xv, Yv = pair
    except (TypeError, ValueError):
        return pair  # the trainer names the problem
    return tuple(np.asarray(v.compute()) if is_dask(v) else v for v in (Xv, Yv))
