"""The error of a run on a Dask cluster that the cluster itself caused."""

from __future__ import annotations

from typing import Any

from backprop.errors import BackpropError
from backprop.version import install_hint

#: the message when the dask extra is missing
NEEDS_DASK = f"training on a Dask cluster needs Dask: {install_hint('dask')}"


class DistributedError(BackpropError, RuntimeError):
    """The cluster could not go on: its workers are gone for good, its scheduler is unreachable, or
    a shard of the data could not be recovered.

    The network keeps the weights of the last update that completed. ``history`` is the run's
    :class:`backprop.History` so far and ``checkpoint`` the path of the checkpoint written for it
    (None when none was asked for), so the run can be resumed on another cluster.
    """

    def __init__(self, message: str, *, history: Any | None = None, checkpoint: str | None = None):
        super().__init__(message)
        self.history = history
        self.checkpoint = checkpoint
