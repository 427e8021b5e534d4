"""The live progress display of ``backprop train``: a bar for the epochs (and for the batches of
long epochs) on stderr, fed by the trainer's ``progress`` hook and erased when training ends."""

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
#: progress refreshes per second (the trainer's hook reports inside an epoch about as often:
#: ``backprop.train.trainer.PROGRESS_EVERY``)
REFRESH_PER_SECOND = 10


class TrainingProgress:
    """A rich progress display fed by the trainer's ``progress`` hook (:meth:`on_progress`); ~10
    refreshes a second.

    The hook reports after each epoch and, inside an epoch, after each compiled piece or every
    0.1 s of single updates, and never stops training, so the display leaves every fast path open
    (a per-update ``on_step`` hook would keep the NumPy step). ``start_epoch`` and ``start_pos``:
    where the run starts (a resumed run inside an epoch), for the count of samples trained here.

    ``transient``: the bars are erased when training ends, so the summary that follows is not
    preceded by a stale, half-updated line.
    """

    def __init__(self, console: Any, *, epochs: int, start_epoch: int, steps_per_epoch: int, rows: int = 0,
                 start_pos: int = 0):
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
        self.start_epoch, self.start_pos, self.rows = start_epoch, start_pos, rows
        self.start = time.perf_counter()

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def rate(self) -> float:
        return self.samples / max(time.perf_counter() - self.start, 1e-9)

    def on_progress(self, info: dict) -> None:
        """The trainer's ``progress`` hook: the samples are counted from the epochs and rows done
        (``rows`` per epoch), so no call per update is needed and epochs may run compiled."""
        if info.get("within_epoch"):
            self.on_batches(info)
            return
        self.samples = (info["epoch"] - self.start_epoch) * self.rows - self.start_pos
        self.on_epoch(info)

    def on_batches(self, info: dict) -> None:
        """A report inside an epoch: the batches done, the epoch's mean loss so far, the rate."""
        self.samples = (info["epoch"] - 1 - self.start_epoch) * self.rows + info["rows"] - self.start_pos
        if self.batch_task is None:
            return
        self.progress.update(self.batch_task, completed=info["step"],
                             stats=f"loss {info['loss']:.4f}  {self.rate():,.0f} samples/s")

    def on_epoch(self, info: dict) -> None:
        """A report after an epoch: the epochs done, the loss (and validation metric), the rate."""
        stats = f"loss {info['loss']:.4f}"
        if "val_metric" in info:
            name = "val acc" if info.get("metric") == "accuracy" else "val R²"
            stats += f"  {name} {info['val_metric']:.4f}"
        stats += f"  {self.rate():,.0f} samples/s"
        self.progress.update(self.epoch_task, completed=info["epoch"], stats=stats)
        if self.batch_task is not None:
            self.progress.reset(self.batch_task, stats="")
