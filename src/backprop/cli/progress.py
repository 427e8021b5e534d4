"""The live progress display of ``backprop train``: a bar for the epochs (and for the batches of
long epochs) on stderr, fed by the trainer's hooks and erased when training ends."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: epochs with at least this many updates also get a bar for the batches
BATCH_BAR_MIN_STEPS = 50
#: progress refreshes per second (and at most this many updates of the bars per second)
REFRESH_PER_SECOND = 10


class TrainingProgress:
    """A rich progress display fed by ``on_step`` and an epoch callback; ~10 refreshes a second.

    ``transient``: the bars are erased when training ends, so the summary that follows is not
    preceded by a stale, half-updated line.
    """

    def __init__(self, console: Any, *, epochs: int, start_epoch: int, steps_per_epoch: int, rows: int = 0):
        self.progress = Progress(
            TextColumn("[bold]{task.description:>7}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TextColumn("eta"), TimeRemainingColumn(),
            TimeElapsedColumn(), console=console, refresh_per_second=REFRESH_PER_SECOND, transient=True,
        )
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=start_epoch, stats="")
        self.batch_task = None
        if steps_per_epoch >= BATCH_BAR_MIN_STEPS:
            self.batch_task = self.progress.add_task("batches", total=steps_per_epoch, stats="")
        self.samples = 0
        self.start_epoch, self.rows = start_epoch, rows  # for on_progress's count of samples
        self.start = self._last = time.perf_counter()
        self._loss_sum = 0.0
        self._loss_n = 0

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def rate(self) -> float:
        return self.samples / max(time.perf_counter() - self.start, 1e-9)

    def on_step(self, net: Any, info: dict) -> None:
        # called after every update: keep it to a few additions unless a refresh is due
        self.samples += info["batch_size"]
        self._loss_sum += info["loss"] * info["batch_size"]
        self._loss_n += info["batch_size"]
        if self.batch_task is None:
            return
        now = time.perf_counter()
        if now - self._last < 1.0 / REFRESH_PER_SECOND:
            return
        self._last = now
        loss = self._loss_sum / max(self._loss_n, 1)
        self.progress.update(self.batch_task, completed=info["step"],
                             stats=f"loss {loss:.4f}  {self.rate():,.0f} samples/s")

    def on_progress(self, info: dict) -> None:
        """The trainer's ``progress`` hook (the display without a batch bar): the samples counted
        from the epochs done, so no call per update is needed and whole epochs may run compiled."""
        self.samples = (info["epoch"] - self.start_epoch) * self.rows
        self.on_epoch(None, info)

    def on_epoch(self, net: Any, info: dict) -> None:
        stats = f"loss {info['loss']:.4f}"
        if "val_metric" in info:
            name = "val acc" if info.get("metric") == "accuracy" else "val R²"
            stats += f"  {name} {info['val_metric']:.4f}"
        stats += f"  {self.rate():,.0f} samples/s"
        self.progress.update(self.epoch_task, completed=info["epoch"], stats=stats)
        if self.batch_task is not None:
            self.progress.reset(self.batch_task, stats="")
        self._loss_sum, self._loss_n = 0.0, 0
        return None
