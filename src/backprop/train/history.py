"""What a training run did, epoch by epoch: the :class:`History` that ``fit`` returns."""

from __future__ import annotations

import dataclasses
from typing import Any

from backprop.train import display as _display


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

    def _repr_html_(self) -> str:  # a notebook shows the run's figures and its loss curve
        return _display.history_html(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
