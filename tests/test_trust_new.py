"""Defects found by trying the newest features as a new user and as an attacker would (see each test)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from backprop.errors import InvalidInputError

pytest.importorskip("starlette", reason="the playground extra (starlette) is not installed")

from backprop.playground import arrays as _arrays  # noqa: E402
from backprop.playground import export as _export  # noqa: E402


class _Rows:
    """A sized sequence that must not be read: only its length may be asked for."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __array__(self, *args, **kwargs):  # pragma: no cover - the defect: converted before the check
        raise AssertionError("converted to an array before its row count was checked")


@pytest.mark.parametrize("which", ["X", "y"])
def test_too_many_rows_are_refused_before_converting_them(which):
    n = _export.MAX_ROWS + 1
    X, y = (_Rows(n), np.zeros(10)) if which == "X" else (np.zeros((10, 2)), _Rows(n))
    with pytest.raises(InvalidInputError, match=f"{which} has {n} rows; the playground takes 4 to"):
        _arrays.check_arrays(X, y)


def test_complex_x_is_refused_not_cut_to_its_real_part():
    X = np.zeros((10, 2)) + 1j
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before the fix: a ComplexWarning, then the real parts trained on
        with pytest.raises(InvalidInputError, match="X holds complex numbers; give real numbers"):
            _arrays.check_arrays(X, np.arange(10) % 2)


def test_byte_string_labels_are_their_text():
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([b"cat", b"dog"] * 5)
    _, ya, names = _arrays.check_arrays(X, y)
    text = _arrays.to_csv(X, ya, names).decode()
    assert text.splitlines()[1].endswith(",cat") and "b'" not in text


def test_byte_labels_that_are_not_utf8_are_a_clear_error():
    y = np.array([b"\xff", b"a"] * 5)
    with pytest.raises(InvalidInputError, match="not UTF-8 text; give str labels"):
        _arrays.check_arrays(np.zeros((10, 2)), y)


# -- the progress display and the compiled whole epochs ----------------------------------------------
def _taken_strategies(monkeypatch):
    """Record the strategy of every Trainer.run (every eligible run compiled, however short)."""
    pytest.importorskip("numba")
    from backprop.fast import compiled as _compiled
    from backprop.train.trainer import Trainer

    monkeypatch.setattr(_compiled, "START_SECONDS", 0.0)
    taken = []
    run = Trainer.run

    def recording(self, X, Y):
        try:
            return run(self, X, Y)
        finally:
            taken.append(self.strategy.name)

    monkeypatch.setattr(Trainer, "run", recording)
    return taken


def test_the_progress_bar_of_short_epochs_leaves_the_compiled_path_open(tmp_path, capsys, monkeypatch):
    """Before: on a terminal the bar's per-update hook and epoch callback closed the compiled path
    (`train xor --layers 4 --optimizer sgd` ran ~7x slower with the bar than without it)."""
    from clitools import run_cli

    taken = _taken_strategies(monkeypatch)
    monkeypatch.chdir(tmp_path)
    args = ["train", "xor", "--layers", "4", "--optimizer", "sgd", "--val-fraction", "0",
            "--early-stopping", "0", "--epochs", "40", "--out", "m.st"]
    status, _, err = run_cli(args + ["--progress"], capsys)
    assert status == 0, err
    assert taken == ["compiled"]
    assert "40/40" in err  # the bar still reached the end


def test_the_progress_hook_reports_each_call_of_whole_epochs(monkeypatch):
    from backprop import Network
    from backprop.fast import compiled as _compiled
    from backprop.train.trainer import Trainer

    _taken_strategies(monkeypatch)
    monkeypatch.setattr(_compiled, "WORK", 24 * 17 * 7)  # 7 epochs a call: several calls
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(24, 2)), rng.integers(0, 2, (24, 1)).astype(float)
    t = Trainer(Network([2, 4, 1], seed=0), epochs=30, lr=0.1, batch_size=6, optimizer="sgd", seed=1)
    seen = []
    t.progress = seen.append
    h = t.run(X, Y)
    assert t.strategy.name == "compiled"
    assert [i["epoch"] for i in seen] == [7, 14, 21, 28, 30]
    assert seen[-1]["loss"] == h.loss[-1] and seen[-1]["n_updates"] == h.n_updates == 30 * 4


def test_the_progress_hook_is_called_after_every_epoch_on_the_numpy_path():
    from backprop import Network
    from backprop.train.trainer import Trainer

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    t = Trainer(Network([2, 3, 1], output="identity", seed=0), epochs=5, lr=0.05, batch_size=5,
                optimizer="adam", seed=1)
    seen = []
    t.progress = seen.append
    h = t.run(X, Y)
    seen = [i for i in seen if "within_epoch" not in i]  # (the reports inside epochs: tests/test_progress.py)
    assert [i["epoch"] for i in seen] == [1, 2, 3, 4, 5] and [i["loss"] for i in seen] == h.loss


# -- plane and multigauss (regression built-ins) through `backprop plot` ------------------------------
def test_the_boundary_figure_of_a_regression_model_is_not_called_decision_regions(tmp_path, capsys,
                                                                                  monkeypatch):
    """Before: `backprop plot MODEL --what boundary` of a model of `plane` was titled "decision
    regions", though a network of numbers makes no decisions."""
    pytest.importorskip("matplotlib")
    from backprop import Network
    from backprop.see import plots
    from clitools import run_cli

    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "plane", "--layers", "4", "--epochs", "2", "--quiet", "--out", "m.st"],
                             capsys)
    assert status == 0, err
    titles = []
    real = plots.plot_boundary
    monkeypatch.setattr(plots, "plot_boundary", lambda *a, **kw: titles.append(kw["title"]) or real(*a, **kw))
    status, _, err = run_cli(["plot", "m.st", "--what", "boundary", "--out", "b.png"], capsys)
    assert status == 0, err
    assert titles == ["plane: output ŷ over the plane of the 2-4-1 network"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    fig = real(Network([2, 3, 1], output="identity", seed=0), X, X.sum(axis=1))
    assert fig.axes[0].get_title() == "output ŷ over the plane of the 2-3-1 network"
    fig = real(Network([2, 3, 1], output="sigmoid", seed=0), X, X[:, 0] > 0)
    assert fig.axes[0].get_title() == "decision regions of the 2-3-1 network"


# -- checkpoints on the compiled path ------------------------------------------------------------------
def test_checkpoints_keep_their_schedule_and_the_compiled_path(tmp_path, capsys, monkeypatch):
    """Before: `--checkpoint` added an epoch callback, which closed the compiled path for the run."""
    from backprop.train import checkpoint as ckpt
    from clitools import run_cli

    taken = _taken_strategies(monkeypatch)
    written = []
    save = ckpt.save_checkpoint

    def recording(path, trainer, extra=None):
        written.append((trainer.epoch, trainer.pos))
        return save(path, trainer, extra)

    monkeypatch.setattr(ckpt, "save_checkpoint", recording)
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "xor", "--layers", "4", "--optimizer", "sgd", "--val-fraction", "0",
                              "--early-stopping", "0", "--epochs", "30", "--quiet", "--out", "m.st",
                              "--checkpoint", "c.st", "--checkpoint-every", "7"], capsys)
    assert status == 0, err
    assert taken == ["compiled"]
    assert written == [(7, 0), (14, 0), (21, 0), (28, 0), (30, 0)]  # the schedule, then the final state


def test_calls_of_whole_epochs_cut_at_checkpoints_give_the_same_bits(monkeypatch):
    from backprop import Network
    from backprop.train.trainer import Trainer

    _taken_strategies(monkeypatch)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(24, 2)), rng.integers(0, 2, (24, 1)).astype(float)
    runs = []
    for every in (None, 3):
        t = Trainer(Network([2, 4, 1], seed=0, dtype="float64"), epochs=20, lr=0.1, batch_size=6,
                    optimizer="sgd", seed=1)
        epochs = []
        if every:
            t.checkpoint_hook = (every, lambda t=t, epochs=epochs: epochs.append(t.epoch))
        h = t.run(X, Y)
        assert t.strategy.name == "compiled"
        runs.append((t.net.weights + t.net.biases, h.loss, epochs))
    (p0, l0, _), (p1, l1, e1) = runs
    assert e1 == [3, 6, 9, 12, 15, 18]
    assert l0 == l1 and all(np.array_equal(a, b) for a, b in zip(p0, p1))
