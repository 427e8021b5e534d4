"""``backprop train``: where a resumed or interrupted run writes (issue 11 §4), the defaults sized to
small data (issue 11 §6) and the progress display.

Oracles: scikit-learn's linear models on the same rows, uninterrupted runs, the saved files' bytes.
"""

from __future__ import annotations

import csv
import json
import shlex
import signal

import numpy as np
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

import backprop
from backprop.cli import prepare
from backprop.model.files import network_from_state
from backprop.train import checkpoint as ckpt
from backprop.train import defaults
from clitools import one_error_line, run_cli


def _same_weights(a, b):
    a, b = backprop.load(a), backprop.load(b)
    return all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))


# -- resume: the original run's --out ------------------------------------------------------------------
def test_resume_writes_the_original_runs_model_unless_out_is_given(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["circles", "--layers", "8", "--quiet", "--seed", "1"]
    assert run_cli(["train", *common, "--epochs", "4", "--out", "straight.st"], capsys)[0] == 0
    status, _, err = run_cli(["train", *common, "--epochs", "2", "--out", "run.st", "--checkpoint", "c.st"],
                             capsys)
    assert status == 0, err
    (tmp_path / "model.safetensors").write_bytes(b"someone else's model")
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)  # the recorded path is absolute: another folder changes nothing
    status, _, err = run_cli(["train", "--resume", tmp_path / "c.st", "--epochs", "4", "--quiet"], capsys)
    assert status == 0, err
    assert list(sub.iterdir()) == []
    assert (tmp_path / "model.safetensors").read_bytes() == b"someone else's model"
    assert _same_weights(tmp_path / "run.st", tmp_path / "straight.st")
    # --out given: that file, the original one untouched
    before = (tmp_path / "run.st").read_bytes()
    status, _, err = run_cli(["train", "--resume", tmp_path / "c.st", "--epochs", "4", "--out",
                              tmp_path / "copy.st", "-q"], capsys)
    assert status == 0, err
    assert (tmp_path / "run.st").read_bytes() == before
    assert _same_weights(tmp_path / "copy.st", tmp_path / "run.st")


def test_a_learning_rate_schedule_is_followed_recorded_and_resumed(tmp_path, capsys, monkeypatch):
    """`--schedule exponential --gamma G`: epoch e trains at eta G^e (the oracle: that formula); the
    model records the schedule, and a resumed run goes on with it to the uninterrupted run's bits."""
    monkeypatch.chdir(tmp_path)
    common = ["circles", "--layers", "8", "--optimizer", "sgd", "--lr", "0.4", "--schedule", "exponential",
              "--gamma", "0.5", "--quiet", "--seed", "2"]
    assert run_cli(["train", *common, "--epochs", "4", "--out", "straight.st"], capsys)[0] == 0
    meta = backprop.load("straight.st").metadata
    assert meta["history"]["lr"] == [0.4 * 0.5**e for e in range(4)]
    assert meta["training"]["schedule"] == "exponential" and meta["training"]["gamma"] == 0.5
    status, out, _ = run_cli(["info", "straight.st"], capsys)
    assert status == 0 and "schedule=exponential" in out and "gamma=0.5" in out
    status, _, err = run_cli(["train", *common, "--epochs", "2", "--out", "run.st", "--checkpoint", "c.st"],
                             capsys)
    assert status == 0, err
    status, _, err = run_cli(["train", "--resume", "c.st", "--epochs", "4", "--quiet"], capsys)
    assert status == 0, err
    assert _same_weights("run.st", "straight.st")
    assert backprop.load("run.st").metadata["history"]["lr"] == meta["history"]["lr"]
    # a constant rate unless asked; another schedule than the checkpoint's is refused on resume
    status, _, err = run_cli(["train", "circles", "--layers", "8", "--epochs", "2", "-q", "--out", "c2.st"],
                             capsys)
    assert status == 0, err
    assert backprop.load("c2.st").metadata["training"]["schedule"] == "constant"
    status, _, err = run_cli(["train", "--resume", "c.st", "--schedule", "constant", "-q"], capsys)
    assert status == 2 and one_error_line(err) and "--schedule" in err
    status, _, err = run_cli(["train", "circles", "--schedule", "exponential", "--gamma", "0", "-q"], capsys)
    assert status == 2 and one_error_line(err) and "gamma" in err


def test_a_checkpoint_without_a_recorded_model_file_needs_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "xor", "--layers", "4", "--epochs", "2", "-q", "--checkpoint", "c.st"],
                             capsys)
    assert status == 0, err
    state, extra = ckpt.load_checkpoint("c.st")
    trainer = backprop.Trainer(network_from_state(state), **state["trainer"])
    trainer.load_state_dict(state)
    ckpt.save_checkpoint("old.st", trainer, {"train_config": extra["train_config"]})  # no "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    status, _, err = run_cli(["train", "--resume", "old.st", "-q"], capsys)
    assert status == 2 and "does not record its model file; give --out" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


class _InterruptAtOnce(ckpt.interrupt_guard):
    """An interrupt_guard that behaves as if SIGINT came during the first update."""

    def __enter__(self):
        super().__enter__()

        def signal_now(net, info):  # what the guard's handler does when SIGINT comes
            self.signum = signal.SIGINT
            self.trainer.stop_requested = True

        self.trainer.on_step = signal_now
        return self


def test_the_interrupt_hint_never_overwrites_another_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cut.ckpt.safetensors").write_bytes(b"another run's checkpoint")
    monkeypatch.setattr(ckpt, "interrupt_guard", _InterruptAtOnce)
    status, _, err = run_cli(["train", "moons", "--layers", "8", "--epochs", "5", "-q", "--out", "cut.st"],
                             capsys)
    assert status == 130
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted by SIGINT") and "continue with: backprop train --resume " in line
    assert (tmp_path / "cut.ckpt.safetensors").read_bytes() == b"another run's checkpoint"
    hint = shlex.split(line.split("continue with: ", 1)[1])
    assert hint[:3] == ["backprop", "train", "--resume"] and hint[3] != "cut.ckpt.safetensors"
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "cut.st"}
    status, _, err = run_cli(hint[1:] + ["-q"], capsys)  # the hint as given: the same model file, no other
    assert status == 0, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name not in ("cut.st", hint[3])} == \
        {k: v for k, v in files.items() if k != hint[3]}
    assert backprop.load(tmp_path / "cut.st").metadata["history"]["epochs"] == 5


def test_default_checkpoint_names_a_free_file(tmp_path):
    out = str(tmp_path / "m.safetensors")
    assert prepare.default_checkpoint(out) == str(tmp_path / "m.ckpt.safetensors")
    (tmp_path / "m.ckpt.safetensors").write_bytes(b"x")
    (tmp_path / "m.ckpt-1.safetensors").write_bytes(b"x")
    assert prepare.default_checkpoint(out) == str(tmp_path / "m.ckpt-2.safetensors")


# -- defaults sized to small data --------------------------------------------------------------------------
def _write_frame(path, columns, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(zip(*columns))


def _iris_csv():
    iris = load_iris()
    species = iris.target_names[iris.target]
    _write_frame("data.csv", [*iris.data.T, species], [*iris.feature_names, "species"])
    return iris, np.searchsorted(sorted(set(species)), species)


def _linear_oracle(iris, idx, seed):
    """Validation and training accuracy of scikit-learn's logistic regression, fitted to convergence on
    the run's own training rows and scored on its own 15 validation rows (drawn as the CLI draws them)."""
    val = prepare.stratified_rows(idx, 15, np.random.default_rng(seed))
    assert np.bincount(idx[val]).tolist() == [5, 5, 5]
    fit = np.setdiff1d(np.arange(150), val)
    mean, sd = iris.data[fit].mean(axis=0), iris.data[fit].std(axis=0)
    Z = (iris.data - mean) / sd
    ref = LogisticRegression(max_iter=10_000).fit(Z[fit], idx[fit])
    return ref.score(Z[val], idx[val]), ref.score(Z[fit], idx[fit])


IRIS_README = ["train", "data.csv", "--target", "species", "--layers", "32", "--epochs", "50", "--json"]


def test_the_readme_iris_command_reaches_95_percent(tmp_path, capsys, monkeypatch):
    """`backprop train data.csv --target species --layers 32 --epochs 50` (the README's): with the
    defaults sized to 135 training rows (B = 8, Adam's eta 0.01, weight decay 0.01) it reaches the
    issue's 95 % validation accuracy, as a logistic regression fitted to convergence on the same rows
    does; one validation row is 6.7 %."""
    monkeypatch.chdir(tmp_path)
    iris, idx = _iris_csv()
    status, out, err = run_cli(IRIS_README, capsys)
    assert status == 0, err
    summary = json.loads(out)
    assert summary["validation"]["n"] == 15 and summary["epochs"] == 50
    ref_val, ref_fit = _linear_oracle(iris, idx, 0)
    assert summary["validation"]["accuracy"] >= min(0.95, ref_val)
    assert summary["train"]["accuracy"] >= ref_fit - 0.05
    training = backprop.load("model.safetensors").metadata["training"]
    assert -(-135 // training["batch_size"]) >= defaults.MIN_UPDATES_PER_EPOCH  # not 5 updates of B = 32
    assert training["lr"] == defaults.SMALL_DATA_LR["adam"] and training["l2"] == defaults.SMALL_DATA_L2


def test_the_readme_iris_command_matches_a_linear_model_over_seeds(tmp_path, capsys, monkeypatch):
    """Over ten seeds (ten validation splits and initial weights) the README's command is on average
    within one validation row in ten splits (0.67 %) of the converged logistic regression: the 95 % is
    not the luck of one split."""
    monkeypatch.chdir(tmp_path)
    iris, idx = _iris_csv()
    ours, ref = [], []
    for seed in range(10):
        status, out, err = run_cli([*IRIS_README, "--seed", str(seed), "--out", f"s{seed}.st"], capsys)
        assert status == 0, err
        ours.append(json.loads(out)["validation"]["accuracy"])
        ref.append(_linear_oracle(iris, idx, seed)[0])
    assert np.mean(ours) >= np.mean(ref) - 1 / 150 - 1e-12, (ours, ref)
    # what the sized defaults change: Adam's 0.001 without decay falls behind
    plain = []
    for seed in range(10):
        status, out, err = run_cli([*IRIS_README, "--seed", str(seed), "--lr", "0.001", "--l2", "0",
                                    "--out", f"p{seed}.st"], capsys)
        plain.append(json.loads(out)["validation"]["accuracy"])
    assert np.mean(plain) < np.mean(ours), (plain, ours)


def test_the_builtin_iris_with_the_defaults_tests_as_well_as_a_linear_model(tmp_path, capsys, monkeypatch):
    """`backprop train iris`: early stopping on its 11 validation rows must not stop before the network
    has learned (a patience of 10 epochs stopped at epoch 12 with 82 % test accuracy). The oracle: a
    converged logistic regression on the same built-in split, less one of the 38 test rows."""
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(["train", "iris", "--json"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    assert summary["stopped_early"]
    ds = backprop.datasets.load("iris")
    (X, y), (X_test, y_test) = ds.part("train"), ds.part("test")
    mean, sd = X.mean(axis=0), X.std(axis=0)
    ref = LogisticRegression(max_iter=10_000).fit((X - mean) / sd, y).score((X_test - mean) / sd, y_test)
    assert summary["test"]["n"] == len(y_test)
    assert summary["test"]["accuracy"] >= ref - 1 / len(y_test) - 1e-12, (summary["test"], ref)


def test_small_regression_data_does_not_overfit_with_the_defaults(tmp_path, capsys, monkeypatch):
    """scikit-learn's diabetes (442 rows): early stopping by default keeps the test R^2 near a linear
    model's on the same split (the old fixed 2,000 updates fitted the noise: R^2 about 0.2). The
    tolerance is two standard errors of R^2 on the 110 test rows (about 0.07 each)."""
    monkeypatch.chdir(tmp_path)
    d = load_diabetes()
    _write_frame("diabetes.csv", [*d.data.T, d.target], [*d.feature_names, "target"])
    ds = backprop.datasets.load("diabetes.csv", target="target", test_fraction=0.25)
    linear = LinearRegression().fit(ds.X, ds.y).score(ds.X_test, ds.y_test)
    r2 = []
    for seed in (0, 1, 2):
        status, out, err = run_cli(["train", "diabetes.csv", "--target", "target", "--test-fraction", "0.25",
                                    "--seed", str(seed), "--json", "--out", f"d{seed}.st"], capsys)
        assert status == 0, err
        summary = json.loads(out)
        assert summary["stopped_early"] and summary["test"]["n"] == len(ds.y_test)
        r2.append(summary["test"]["r2"])
    assert np.mean(r2) >= linear - 0.15, (r2, linear)
    # a given number of epochs is honoured: no early stopping unless asked for
    status, out, err = run_cli(["train", "diabetes.csv", "--target", "target", "--epochs", "3", "--json",
                                "--out", "e.st"], capsys)
    assert status == 0 and json.loads(out)["epochs"] == 3 and not json.loads(out)["stopped_early"]


def test_sized_defaults_in_the_library():
    assert defaults.batch_size(135) == 8 and -(-135 // 8) >= defaults.MIN_UPDATES_PER_EPOCH
    assert defaults.batch_size(60_000) == defaults.BATCH and defaults.batch_size(5) == 5
    assert defaults.batch_size(100, "online") == 1 and defaults.batch_size(100, "batch") == 100
    assert defaults.early_stopping(300, 30) == defaults.SMALL_DATA_PATIENCE
    assert defaults.early_stopping(300, 0) is None and defaults.early_stopping(50_000, 5000) is None
    assert defaults.l2(135) == defaults.SMALL_DATA_L2 and defaults.l2(54_000) == 0.0
    assert defaults.learning_rate("adam", 135) == defaults.SMALL_DATA_LR["adam"]
    assert defaults.learning_rate("adam", 54_000) == defaults.learning_rate("adam") == defaults.LR["adam"]
    assert defaults.learning_rate("sgd", 135) == defaults.LR["sgd"]
    for m in (10, 135, 1213, 54_000):
        B = defaults.batch_size(m)
        e = defaults.epochs(m, B)
        assert defaults.AUTO_EPOCHS[0] <= e <= defaults.AUTO_EPOCHS[1]


def test_stratified_validation_rows_keep_the_class_shares():
    idx = np.repeat([0, 1, 2], [50, 30, 20])
    rows = prepare.stratified_rows(idx, 10, np.random.default_rng(4))
    assert np.bincount(idx[rows]).tolist() == [5, 3, 2] and len(set(rows)) == 10
    assert not np.array_equal(rows, prepare.stratified_rows(idx, 10, np.random.default_rng(5)))


# -- the progress display ---------------------------------------------------------------------------------
def test_the_progress_display_is_erased_when_training_ends(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(["train", "moons", "--epochs", "3", "--layers", "8", "--progress"], capsys)
    assert status == 0
    assert "epochs" in err and "3/3" in err
    # transient: after the last frame the cursor goes back up and every line of the bars is cleared
    tail = err[err.rindex("3/3"):]
    assert "\x1b[2K" in tail and tail.rstrip("\n").endswith("\x1b[2K")
    assert "backprop train moons" in out  # the summary itself is on stdout


def test_a_crafted_train_config_in_a_checkpoint_is_one_error_line(tmp_path, capsys, monkeypatch):
    """The checkpoint's `extra` is free-form JSON: `--resume` checks its shape before using it."""
    from backprop.io.container import load_arrays, save_arrays

    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "circles", "--layers", "4", "--epochs", "2", "--quiet",
                              "--checkpoint", "c.st", "--out", "m.st"], capsys)
    assert status == 0, err
    arrays, doc = load_arrays("c.st")
    for bad in ({"layers": {"x": 1}}, {"data_options": [1, 2]}, {"data": 5}, {"epochs": [[1]]}):
        crafted = json.loads(json.dumps(doc))
        crafted["extra"]["train_config"].update(bad)
        save_arrays("bad.st", arrays, crafted, kind="checkpoint")
        status, out, err = run_cli(["train", "--resume", "bad.st", "--quiet"], capsys)
        assert status == 2, (bad, err)
        one_error_line(err)
        assert "train_config" in err
