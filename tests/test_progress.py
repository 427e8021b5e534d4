"""The trainer's ``progress`` hook inside an epoch, and the command line's display fed by it.

Oracles: ``on_step`` (called after every update with the batch's loss and size) counts the rows and
the running loss of the step-by-step paths independently of the hook; the same run without the hook
gives the bits the hook must not change; the Trainer's own rows and batch size after a run give the
totals a display must reach. The compiled epochs' side is in tests/test_epochs.py (section 9).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from rich.console import Console

import backprop
from backprop.cli import progress as _progress
from backprop.fast import compiled as _compiled
from backprop.model.files import network_from_state
from backprop.train import trainer as _trainer
from backprop.train.checkpoint import load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer
from clitools import run_cli
from test_checkpoint import _StopAfterReads  # a Trainer that asks to stop after n reads of the flag

M, B = 100, 8  # 12 batches of 8 and a last one of 4


def _data(m=M, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    return X, np.eye(2)[rng.integers(0, 2, m)]


def _trainer_for(**kw) -> Trainer:
    """3 epochs of SGD on :func:`_data` (batches of 8 unless ``batch_size`` says otherwise)."""
    net = backprop.Network([3, 6, 2], hidden="tanh", output="softmax", seed=1)
    kw.setdefault("batch_size", B)
    return Trainer(net, loss="cross_entropy", epochs=3, lr=0.1, optimizer="sgd", seed=2, **kw)


def _same_bits(a, b):
    return all(p.dtype == q.dtype and np.array_equal(p, q) for p, q in zip(a.weights + a.biases,
                                                                           b.weights + b.biases))


@pytest.fixture
def numpy_step(monkeypatch):
    """Every compiled path off (the numba ones, as BACKPROP_NO_COMPILE=1 does): the NumPy step."""
    monkeypatch.setattr(_compiled, "ENABLED", False)


def test_the_numpy_step_reports_inside_epochs_what_on_step_saw(monkeypatch, numpy_step):
    """Reports due after every update (PROGRESS_EVERY = 0): one per update, each with the epoch's rows,
    updates and mean loss so far as on_step's batches add them up; the epoch's own report unchanged."""
    monkeypatch.setattr(_trainer, "PROGRESS_EVERY", 0.0)
    steps, seen = [], []
    t = _trainer_for(on_step=lambda net, info: steps.append(info))
    t.progress = seen.append
    X, Y = _data()
    h = t.run(X, Y)
    assert t.strategy.name == "fused"
    within = [i for i in seen if i.get("within_epoch")]
    assert len(within) == len(steps) == h.n_updates
    rows = loss_sum = 0.0
    for n, (report, step) in enumerate(zip(within, steps), start=1):
        if step["step"] == 1:
            rows = loss_sum = 0.0
        rows += step["batch_size"]
        loss_sum += step["loss"] * step["batch_size"]
        assert (report["epoch"], report["step"], report["rows"]) == (step["epoch"], step["step"], rows)
        assert report["loss"] == pytest.approx(loss_sum / rows, rel=1e-12)
        assert report["n_updates"] == n and report["lr"] == step["lr"]
        assert report["steps"] == h.updates_per_epoch and report["m"] == M
    ends = [i for i in within if i["rows"] == M]
    assert [i["epoch"] for i in ends] == [1, 2, 3] and [i["step"] for i in ends] == [h.updates_per_epoch] * 3
    assert [i["loss"] for i in ends] == h.loss  # the epoch's mean, as the history records it
    per_epoch = [i for i in seen if "within_epoch" not in i]
    assert [i["epoch"] for i in per_epoch] == [1, 2, 3] and [i["loss"] for i in per_epoch] == h.loss
    # each epoch's report comes after its last report inside it
    order = [(i["epoch"], "within_epoch" not in i) for i in seen]
    assert order == sorted(order)


def test_reports_inside_an_epoch_are_throttled(monkeypatch, numpy_step):
    """The step loop reports at most every PROGRESS_EVERY seconds: with a period longer than the run,
    only after the first update (a report is due at once), besides the epochs' own reports."""
    monkeypatch.setattr(_trainer, "PROGRESS_EVERY", 1e9)
    seen = []
    t = _trainer_for()
    t.progress = seen.append
    t.run(*_data())
    assert t.strategy.name == "fused"
    assert [(i["epoch"], i.get("within_epoch"), i.get("rows")) for i in seen] == \
        [(1, True, B), (1, None, None), (2, None, None), (3, None, None)]


@pytest.mark.parametrize("path", ["fused", "tiny"])
def test_the_hook_changes_no_bit(monkeypatch, numpy_step, path):
    """A run reporting after every update (and the Python path of tiny networks cut into pieces of 7
    updates so it reports between them) ends with the bits and losses of the same run without a hook."""
    X, Y = _data()
    kw = {"batch_size": 1, "validation_data": _data(20, seed=1)} if path == "tiny" else {}
    plain = _trainer_for(**kw)
    h0 = plain.run(X, Y)
    monkeypatch.setattr(_trainer, "PROGRESS_EVERY", 0.0)
    monkeypatch.setattr(_trainer, "TINY_PIECE", 7)
    seen = []
    t = _trainer_for(**kw)
    t.progress = seen.append
    h = t.run(X, Y)
    assert t.strategy.name == plain.strategy.name == path
    assert _same_bits(t.net, plain.net) and h.loss == h0.loss and h.val_loss == h0.val_loss
    rows = [i["rows"] for i in seen if i.get("within_epoch") and i["epoch"] == 1]
    # fused: a report after every update; tiny: between pieces, after every 7th row (the epoch's end
    # has its own report)
    assert rows == (list(range(B, M, B)) + [M] if path == "fused" else list(range(7, M, 7)))


@pytest.mark.parametrize("reads", [10, 23, 150])  # inside a piece, inside epoch 1 and inside epoch 2
def test_a_stop_inside_a_piece_of_the_tiny_path_resumes_to_the_same_bits(monkeypatch, tmp_path, numpy_step,
                                                                        reads):
    """The Python path cut into pieces of 7 updates: a stop request anywhere, a checkpoint and a new
    Trainer end with the bits and losses of the uninterrupted run."""
    monkeypatch.setattr(_trainer, "TINY_PIECE", 7)
    X, Y = _data()
    kw = dict(loss="cross_entropy", epochs=3, lr=0.1, optimizer="sgd", seed=2, batch_size=1,
              validation_data=_data(20, seed=1))

    def net():
        return backprop.Network([3, 6, 2], hidden="tanh", output="softmax", seed=1)

    ref = Trainer(net(), **kw)
    ref.run(X, Y)
    t = _StopAfterReads(net(), reads=reads, **kw)
    h = t.run(X, Y)
    assert ref.strategy.name == t.strategy.name == "tiny"
    assert h.interrupted and 0 < h.n_updates < 3 * M
    save_checkpoint(tmp_path / "c.ckpt", t)
    state, _ = load_checkpoint(tmp_path / "c.ckpt")
    resumed = Trainer(network_from_state(state), **kw)
    resumed.load_state_dict(state)
    resumed.run(X, Y)
    assert _same_bits(resumed.net, ref.net) and resumed.history.loss == ref.history.loss


# -- the command line's display -------------------------------------------------------------------
def _display(t: Trainer, m: int) -> _progress.TrainingProgress:
    console = Console(file=io.StringIO(), width=160)
    return _progress.TrainingProgress(console, epochs=t.epochs, start_epoch=t.epoch, start_pos=t.pos,
                                      steps_per_epoch=-(-m // t.batch_size), rows=m)


def test_the_display_counts_batches_samples_and_loss_of_a_resumed_run(monkeypatch, numpy_step):
    """Resumed inside epoch 1 (after 5 single steps), the display's batch bar shows each report's
    batches of the epoch, its loss, and the samples counted from the rows trained in this run (as
    on_step counts them); the epoch bar ends at the epochs, the batch bar's total is the updates."""
    monkeypatch.setattr(_trainer, "PROGRESS_EVERY", 0.0)
    monkeypatch.setattr(_progress, "BATCH_BAR_MIN_STEPS", 10)  # this run's 13 batches get their bar
    X, Y = _data()
    trained = []
    t = _trainer_for(on_step=lambda net, info: trained.append(info["batch_size"]))
    t.start(X, Y)
    for _ in range(5):
        t.step()
    del trained[:]
    bar = _display(t, M)
    assert bar.batch_task is not None
    tasks = {task.id: task for task in bar.progress.tasks}
    checked = []

    def hook(info):
        bar.on_progress(info)
        assert bar.samples == sum(trained)
        if info.get("within_epoch"):
            batches = tasks[bar.batch_task]
            assert batches.completed == info["step"] and batches.total == t.updates_per_epoch
            assert f"loss {info['loss']:.4f}" in batches.fields["stats"]
            assert "samples/s" in batches.fields["stats"]
        else:
            assert tasks[bar.epoch_task].completed == info["epoch"]
            assert tasks[bar.batch_task].completed == 0  # the next epoch's bar starts empty
        checked.append(info)

    t.progress = hook
    with bar:
        h = t.run(X, Y)
    assert sum(trained) == 3 * M - 5 * B and bar.samples == sum(trained)
    assert tasks[bar.epoch_task].completed == tasks[bar.epoch_task].total == h.epochs == 3
    assert len(checked) == h.n_updates - 5 + 3  # every update's report and the epochs'
    assert bar.rate() > 0


def test_train_with_the_batch_bar_takes_the_compiled_epochs(tmp_path, capsys, monkeypatch):
    """Before: the batch bar fed by on_step kept every long `backprop train` on the NumPy step. Now
    the run takes the compiled epochs (numba running), one batch per compiled call, and each report
    moves the batch bar to the batches and samples trained."""
    pytest.importorskip("numba")
    from backprop.fast import epochs as _epochs

    monkeypatch.setattr(_compiled, "START_SECONDS", 0.0)  # every eligible run compiled, however short
    monkeypatch.setattr(_epochs, "WORK", 1)  # one batch per call: many reports per epoch
    runs, reports = [], []
    run = Trainer.run

    def recording(self, X, Y):
        runs.append(self)
        return run(self, X, Y)

    on_batches = _progress.TrainingProgress.on_batches

    def watched(self, info):
        on_batches(self, info)
        task = next(task for task in self.progress.tasks if task.id == self.batch_task)
        reports.append((info["epoch"], info["step"], info["rows"], task.completed, task.total, self.samples))

    monkeypatch.setattr(Trainer, "run", recording)
    monkeypatch.setattr(_progress.TrainingProgress, "on_batches", watched)
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "moons", "--layers", "8", "--epochs", "2", "--batch-size", "4",
                              "--progress", "--out", "m.st"], capsys)
    assert status == 0, err
    (t,) = runs
    assert t.strategy.name == "epoch" and t.on_step is None
    assert "batches" in err and "2/2" in err
    n = -(-t.m // t.batch_size)
    assert n >= _progress.BATCH_BAR_MIN_STEPS and t.updates_per_epoch == n
    for epoch in (1, 2):
        mine = [r for r in reports if r[0] == epoch]
        assert [r[1] for r in mine] == list(range(1, n + 1))  # every batch, in order
        assert mine[-1][2] == t.m
        for _, step, rows, completed, total, samples in mine:
            assert completed == step and total == n
            assert samples == (epoch - 1) * t.m + rows
    assert all(math.isfinite(r[2]) for r in reports)
