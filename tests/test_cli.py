"""The ``backprop`` command line: every command through the real console script (subprocess), plus
cheaper in-process runs of ``backprop.cli.main`` for the many option and error paths.

Oracles: accuracies, confusion matrices and R^2 are recomputed here from ``backprop.load`` and NumPy
(and scikit-learn's metrics); labels are compared with the data the test wrote.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import backprop
from backprop import datasets
from clitools import one_error_line as _one_error_line
from clitools import run_cli as _cli

_SCRIPT = Path(sys.executable).with_name("backprop")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "backprop"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("BACKPROP_PROGRESS", "BACKPROP_DEBUG", "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    env.update(COLUMNS="120", **extra)
    return env


def _run(args, cwd, timeout=120, **env):
    """The console script in a subprocess: (status, stdout, stderr)."""
    p = subprocess.run(COMMAND + [str(a) for a in args], cwd=cwd, env=_env(**env), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr





def _accuracy_and_predictions(model_path, X, y):
    """Accuracy of a saved classifier computed here: features standardized as recorded, argmax."""
    net = backprop.load(model_path)
    meta = net.metadata
    Z = np.asarray(X, dtype=np.float64)
    if meta.get("standardize"):
        Z = (Z - np.array(meta["standardize"]["mean"])) / np.array(meta["standardize"]["scale"])
    pred = net.predict(Z.astype(net.dtype)).argmax(axis=1)
    labels = np.array([str(c) for c in meta["classes"]])[pred]
    return float(np.mean(labels == np.array([str(v) for v in y]))), labels, pred


# -- the default run and the commands on its model (subprocess) ----------------------------------------------
@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    """`backprop train` with no argument at all, in an empty folder."""
    folder = tmp_path_factory.mktemp("default")
    start = time.perf_counter()
    status, out, err = _run(["train"], folder)
    return folder, status, out, err, time.perf_counter() - start


def test_train_without_arguments_learns_digits(default_model):
    folder, status, out, err, seconds = default_model
    assert status == 0, err
    assert (folder / "model.safetensors").exists()
    assert "train" in out and "validation" in out and "test" in out and "model.safetensors" in out
    assert seconds < 60
    ds = datasets.load("digits")
    acc, _, _ = _accuracy_and_predictions(folder / "model.safetensors", ds.X_test, ds.y_test)
    assert acc >= 0.96  # the README's first command gives a good model
    meta = backprop.load(folder / "model.safetensors").metadata
    assert meta["dataset"]["name"] == "digits" and meta["task"] == "classification"
    assert meta["classes"] == list(range(10)) and meta["loss"] == "cross_entropy"
    assert len(meta["history"]["loss"]) == meta["history"]["epochs"] >= 20


def test_evaluate_reports_the_test_part(default_model):
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    folder = default_model[0]
    status, out, err = _run(["evaluate", "model.safetensors", "digits", "--json"], folder)
    assert status == 0, err
    r = json.loads(out)
    ds = datasets.load("digits")
    acc, _, pred = _accuracy_and_predictions(folder / "model.safetensors", ds.X_test, ds.y_test)
    assert r["n"] == len(ds.y_test) == round(0.25 * 1797) and r["split"] == "test"
    assert r["accuracy"] == pytest.approx(acc, abs=1e-12)
    truth = ds.y_test.astype(int)
    assert r["confusion_matrix"] == confusion_matrix(truth, pred, labels=range(10)).tolist()
    assert np.allclose(r["precision"], precision_score(truth, pred, average=None, zero_division=0))
    assert np.allclose(r["recall"], recall_score(truth, pred, average=None, zero_division=0))
    net = backprop.load(folder / "model.safetensors")
    Y = np.eye(10)[truth]
    assert r["loss"] == pytest.approx(net.loss(ds.X_test, Y, "cross_entropy"), rel=1e-5)
    # the human-readable form, with DATA left out: the data set the model records
    status, out, err = _run(["evaluate", "model.safetensors"], folder)
    assert status == 0, err
    assert "confusion matrix" in out and "precision" in out and "recall" in out
    assert f"{acc:.2%}" in out


def test_info_describes_the_model(default_model):
    folder = default_model[0]
    status, out, err = _run(["info", "model.safetensors"], folder)
    assert status == 0, err
    n_params = 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    for text in ("64-256-128-10", "relu", "softmax", "cross_entropy", f"{n_params:,}", "digits", "epochs"):
        assert text in out, text


def test_predict_writes_labels_and_probabilities(default_model):
    folder = default_model[0]
    status, out, err = _run(["predict", "model.safetensors", "digits", "--proba", "--out", "p.csv"], folder)
    assert status == 0, err
    with open(folder / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["digit"] + [f"proba_{k}" for k in range(10)]
    ds = datasets.load("digits")
    _, labels, _ = _accuracy_and_predictions(folder / "model.safetensors", ds.X_test, ds.y_test)
    assert [r[0] for r in rows[1:]] == list(labels)  # the test part, in order
    P = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.allclose(P.sum(axis=1), 1, atol=1e-4) and np.array_equal(P.argmax(axis=1).astype(str), labels)


# -- CSV with string labels ---------------------------------------------------------------------------------
def _colour_data(rng, n):
    X = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.2] + [0, 10, -3]  # unlike scales: standardization matters
    labels = np.array(["red", "green", "blue"])[np.argmax((X - [0, 10, -3]) / [1.0, 5.0, 0.2], axis=1)]
    return X, labels


def test_csv_string_labels_round_trip_through_predict(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    X, labels = _colour_data(rng, 300)
    with open(tmp_path / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["colour", "a", "b", "c"])  # the target first: chosen with --target
        w.writerows([[lab, *map(repr, map(float, x))] for lab, x in zip(labels, X)])
    status, _, err = _cli(["train", "train.csv", "--target", "colour", "--epochs", "60", "--layers", "16",
                           "--quiet", "--out", "colour.safetensors"], capsys)
    assert status == 0, err
    assert backprop.load(tmp_path / "colour.safetensors").metadata["classes"] == ["blue", "green", "red"]
    Xn, ln = _colour_data(rng, 40)
    with open(tmp_path / "new.csv", "w", newline="") as f:  # other column order, no target column
        w = csv.writer(f)
        w.writerow(["c", "id", "a", "b"])
        w.writerows([[repr(float(x[2])), i, repr(float(x[0])), repr(float(x[1]))] for i, x in enumerate(Xn)])
    status, out, err = _run(["predict", "colour.safetensors", "new.csv", "--chunk-size", "7"], tmp_path)
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["colour"] and len(rows) == 41
    predicted = [r[0] for r in rows[1:]]
    _, expected, _ = _accuracy_and_predictions(tmp_path / "colour.safetensors", Xn, ln)
    assert predicted == list(expected)  # the model's own predictions, as the original strings
    assert np.mean(np.array(predicted) == ln) >= 0.9  # and they are right
    status, out, err = _cli(["evaluate", "colour.safetensors", "train.csv", "--json", "--split", "all"],
                            capsys)
    assert status == 0, err
    r = json.loads(out)
    assert r["classes"] == ["blue", "green", "red"] and r["n"] == 300 and r["accuracy"] >= 0.9


# -- progress: present in a terminal, absent with --quiet ---------------------------------------------
def _run_in_terminal(args, cwd):
    """Run the console script with stdout and stderr on a pseudo-terminal; (status, everything printed)."""
    import pty

    master, slave = pty.openpty()
    p = subprocess.Popen(COMMAND + args, cwd=cwd, env=_env(TERM="xterm-256color"), stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    status = p.wait(timeout=120)
    os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_progress_is_shown_in_a_terminal_and_not_with_quiet(tmp_path):
    args = ["train", "xor", "--epochs", "3", "--layers", "8"]
    status, text = _run_in_terminal(args, tmp_path)
    assert status == 0, text
    assert "epochs" in text and "samples/s" in text and "3/3" in text
    status, text = _run_in_terminal(args + ["--quiet"], tmp_path)
    assert status == 0, text
    assert text.strip() == ""
    assert (tmp_path / "model.safetensors").exists()


def test_progress_follows_the_flag_when_not_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "moons", "--epochs", "2", "--layers", "8"]
    status, out, err = _cli(args, capsys)  # captured output is not a terminal: no progress
    assert status == 0 and "samples/s" not in err and "train" in out
    status, out, err = _cli(args + ["--progress"], capsys)
    assert status == 0 and "epochs" in err and "samples/s" in err
    status, out, err = _cli(args + ["--progress", "--quiet"], capsys)
    assert status == 0 and out == "" and err == ""
    status, out, err = _cli(args + ["--json", "--no-progress"], capsys)
    summary = json.loads(out)
    assert summary["epochs"] == 2 and summary["sizes"] == [2, 8, 2] and err == ""
    assert set(summary["train"]) == {"loss", "accuracy", "n"}


# -- errors through the console script -----------------------------------------------------------------------
def test_bad_input_is_one_error_line_exit_2_and_debug_shows_the_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n")
    (tmp_path / "model.safetensors").write_bytes(b"keep me")
    status, out, err = _run(["train", "bad.csv", "--quiet"], tmp_path)
    assert status == 2 and out == ""
    line = _one_error_line(err)
    assert "column 'b'" in line and "'oops'" in line and "row 2 (line 3)" in line
    assert (tmp_path / "model.safetensors").read_bytes() == b"keep me"  # not modified
    status, out, err = _run(["train", "bad.csv", "--quiet", "--debug"], tmp_path)
    assert status == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: column 'b'")
    status, out, err = _run(["evaluate", "model.safetensors", "bad.csv"], tmp_path)
    assert status == 2 and "not a safetensors model file" in _one_error_line(err)
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "model.safetensors"]


# -- interrupt and resume through the console script ---------------------------------------------------------
def test_sigint_writes_checkpoint_and_model_and_resume_matches_an_uninterrupted_run(tmp_path, capsys,
                                                                                    monkeypatch):
    common = ["spirals", "--n-samples", "2400", "--layers", "32", "--mode", "online", "--seed", "4",
              "--quiet"]
    ckpt = tmp_path / "run.ckpt.safetensors"
    p = subprocess.Popen(COMMAND + ["train", *common, "--epochs", "300", "--out", "cut.safetensors",
                                    "--checkpoint", str(ckpt), "--checkpoint-every", "1"],
                         cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ckpt.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ckpt.exists(), p.communicate()
    p.send_signal(signal.SIGINT)  # during the second epoch
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted by SIGINT" in err and f"--resume {ckpt}" in err
    cut = backprop.load(tmp_path / "cut.safetensors")
    assert cut.metadata["history"]["interrupted"] and cut.metadata["history"]["epochs"] < 10
    status, _, err = _run(["train", "--resume", ckpt, "--epochs", "10", "--out", "resumed.safetensors",
                           "--quiet"], tmp_path)
    assert status == 0, err
    # the uninterrupted run in a fresh process too: the state earlier tests leave in this one (BLAS
    # threads) must not decide the last bits
    status, _, err = _run(["train", *common, "--epochs", "10", "--out", "straight.safetensors"], tmp_path)
    assert status == 0, err
    a, b = backprop.load(tmp_path / "resumed.safetensors"), backprop.load(tmp_path / "straight.safetensors")
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(x, y)  # bit for bit
    assert a.metadata["history"]["loss"] == b.metadata["history"]["loss"]


# -- in-process: options, data kinds and errors -------------------------------------------------------
def test_checkpoint_resume_continues_the_same_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["circles", "--layers", "8", "--quiet", "--seed", "2", "--optimizer", "momentum"]
    assert _cli(["train", *common, "--epochs", "5", "--out", "full.safetensors"], capsys)[0] == 0
    assert _cli(["train", *common, "--epochs", "2", "--out", "half.safetensors", "--checkpoint", "c.st"],
                capsys)[0] == 0
    assert _cli(["train", "--resume", "c.st", "--epochs", "5", "--out", "rest.safetensors", "--quiet"],
                capsys)[0] == 0
    a, b = backprop.load("full.safetensors"), backprop.load("rest.safetensors")
    assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))
    status, _, err = _cli(["train", "--resume", "c.st", "--lr", "0.5"], capsys)
    assert status == 2 and "--lr 0.5 differs from the checkpoint's" in _one_error_line(err)
    status, _, err = _cli(["train", "moons", "--resume", "c.st"], capsys)
    assert status == 2 and "trained on 'circles', not 'moons'" in _one_error_line(err)


def test_regression_end_to_end(tmp_path, capsys, monkeypatch):
    from sklearn.metrics import r2_score

    monkeypatch.chdir(tmp_path)
    status, out, err = _cli(["train", "sin", "--layers", "16", "--hidden", "tanh", "--epochs", "100",
                             "--lr", "0.01", "--json",
                             "--out", "sin.safetensors"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    assert "r2" in summary["test"] and summary["test"]["r2"] > 0.9
    meta = backprop.load("sin.safetensors").metadata
    assert meta["task"] == "regression" and meta["loss"] == "mse" and meta["target_standardize"]
    status, out, err = _cli(["predict", "sin.safetensors", "sin", "--out", "p.csv"], capsys)
    assert status == 0, err
    with open("p.csv") as f:
        rows = list(csv.reader(f))
    yhat = np.array([float(r[0]) for r in rows[1:]])
    ds = datasets.load("sin")
    status, out, err = _cli(["evaluate", "sin.safetensors", "--json"], capsys)
    r = json.loads(out)
    assert r["n"] == len(yhat) == len(ds.y_test)
    assert r["r2"] == pytest.approx(r2_score(ds.y_test, yhat), abs=1e-6)
    assert "accuracy" not in r
    status, _, err = _cli(["predict", "sin.safetensors", "sin", "--proba"], capsys)
    assert status == 2 and "--proba needs a classification model" in _one_error_line(err)


def test_npz_with_test_fraction_and_evaluate_defaults_to_its_test_part(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    X, labels = _colour_data(rng, 200)
    np.savez("d.npz", X=X, y=labels)
    status, out, err = _cli(["train", "d.npz", "--test-fraction", "0.25", "--epochs", "30", "--layers", "8",
                             "--json", "--out", "m.safetensors"], capsys)
    assert status == 0, err
    assert json.loads(out)["test"]["n"] == 50
    status, out, err = _cli(["evaluate", "m.safetensors", "d.npz", "--json"], capsys)
    assert json.loads(out)["n"] == 50 and json.loads(out)["split"] == "test"
    status, out, err = _cli(["evaluate", "m.safetensors", "d.npz", "--split", "all", "--json"], capsys)
    assert json.loads(out)["n"] == 200


def test_fashion_mnist_trains_on_train_and_evaluates_on_the_official_test_part(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    folder = tmp_path / "fm"
    folder.mkdir()
    for stem, n in (("train", 40), ("t10k", 15)):
        images = rng.integers(0, 256, (n, 28, 28), np.uint8)
        datasets.write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        datasets.write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    monkeypatch.setenv("BACKPROP_FASHION_MNIST", str(folder))
    status, out, err = _cli(["train", "fashion-mnist", "--epochs", "1", "--layers", "8", "--json"], capsys)
    assert status == 0, err
    assert json.loads(out)["test"]["n"] == 15 and json.loads(out)["train"]["n"] == 36
    status, out, err = _cli(["evaluate", "model.safetensors", "fashion-mnist", "--json"], capsys)
    r = json.loads(out)
    assert r["n"] == 15 and r["classes"][0] == "T-shirt/top"
    status, _, err = _cli(["train", "fashion-mnist", "--data-dir", tmp_path / "none", "-q"], capsys)
    assert status == 2 and "apt-get install dataset-fashion-mnist" in _one_error_line(err)


def test_plot_prefix_writes_the_pictures(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = _cli(["train", "moons", "--epochs", "3", "--layers", "8", "--plot", "run", "-q"], capsys)
    assert status == 0, err
    for name in ("run-loss.png", "run-boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, err = _cli(["train", "sin", "--epochs", "3", "--layers", "8", "--plot", "curve.png", "-q",
                           "--out", "s.safetensors"], capsys)
    assert status == 0, err
    assert (tmp_path / "curve.png").exists() and not (tmp_path / "curve-boundary.png").exists()


def _csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def small(tmp_path, monkeypatch, capsys):
    """A folder with a trained cat/dog model on two features (x, y) and some files."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    _csv("pets.csv", ["x", "y", "pet"], [[*x, "cat" if x[0] > 0 else "dog"] for x in X])
    status, _, err = _cli(["train", "pets.csv", "--epochs", "3", "--layers", "4", "-q", "--out", "pets.st"],
                          capsys)
    assert status == 0, err
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["predict", "pets.st", "three.csv"], "three.csv has 3 feature columns but the model expects 2"),
    (["evaluate", "pets.st", "bird.csv"], "row 2 has the label 'bird', which the model cannot produce"),
    (["evaluate", "pets.st", "digits"], "digits has 64 features but the model expects 2"),
    (["evaluate", "pets.st", "nofile.csv"], "neither a data file nor a built-in data set"),
    (["predict", "pets.st", "pets.csv", "--out", "pets.csv"], "is the input file"),
    (["predict", "pets.st", "pets.csv", "--out", "./pets.st"], "is the model file itself"),  # was overwritten
    (["predict", "pets.st", "pets.csv", "--out", "no/such/dir/p.csv"], "does not exist"),
    (["info", "missing.st"], "model file missing.st does not exist"),
    (["info", "cut.st"], "truncated"),
    (["train", "pets.csv", "--layers", "4,x"], "--layers must be comma-separated positive widths"),
    (["train", "pets.csv", "--hidden", "relu,tanh,relu"], "--hidden lists 3 activations but --layers has 2"),
    (["train", "pets.csv", "--val-fraction", "1.5"], "--val-fraction must lie in [0, 1)"),
    (["train", "pets.csv", "--checkpoint-every", "2"], "--checkpoint-every needs --checkpoint"),
    # the model written at the end replaced the checkpoint (new file, and an existing model file)
    (["train", "pets.csv", "--out", "m.st", "--checkpoint", "./m.st"], "is the model's --out file"),
    (["train", "pets.csv", "--out", "pets.st", "--checkpoint", "pets.st"], "is the model's --out file"),
    # the plots, written after the model, replaced it (or the checkpoint)
    (["train", "pets.csv", "--out", "m-loss.png", "--plot", "m"], "'m-loss.png', the model's --out file"),
    (["train", "pets.csv", "--out", "m-boundary.png", "--plot", "./m"], "the model's --out file"),
    (["train", "pets.csv", "--out", "m.png", "--plot", "m.png"], "would write 'm.png', the model's --out"),
    (["train", "pets.csv", "--checkpoint", "c-loss.png", "--plot", "c"], "the --checkpoint file"),
    (["train", "digits", "--target", "x"], "--target applies to data files"),
    (["train", "pets.csv", "--noise", "0.1"], "--noise applies to the generated"),
    (["train", "pets.csv", "--unknown-option"], "No such option"),
    (["evaluate"], "Missing argument 'MODEL'"),
])
def test_errors_are_one_line_exit_2_and_write_nothing(small, capsys, args, message):
    (small / "three.csv").write_text("a,b,c\n1,2,3\n")
    (small / "bird.csv").write_text("x,y,pet\n1,2,cat\n3,4,bird\n")
    (small / "cut.st").write_bytes((small / "pets.st").read_bytes()[:100])
    before = {p.name: p.stat().st_mtime_ns for p in small.iterdir()}
    status, out, err = _cli(args, capsys)
    assert status == 2
    assert message in _one_error_line(err)
    assert {p.name: p.stat().st_mtime_ns for p in small.iterdir()} == before


def test_predict_streams_and_handles_files_with_the_target_column(small, capsys):
    status, out, err = _cli(["predict", "pets.st", "pets.csv", "--chunk-size", "4", "--proba", "--split",
                             "all"], capsys)
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["pet", "proba_cat", "proba_dog"] and len(rows) == 61
    assert {r[0] for r in rows[1:]} <= {"cat", "dog"}
    status, out2, _ = _cli(["predict", "pets.st", "pets.csv", "--split", "all"], capsys)
    assert [r[0] for r in csv.reader(out2.splitlines())] == [r[0] for r in rows]  # chunking changes nothing
    status, out, err = _cli(["predict", "pets.st", "pets.csv", "--out", "p.tsv"], capsys)
    assert status == 0 and out == "" and (small / "p.tsv").read_text().startswith("pet\n")


def test_info_json_and_help(small, capsys):
    status, out, _ = _cli(["info", "pets.st", "--json"], capsys)
    doc = json.loads(out)
    assert doc["sizes"] == [2, 4, 2] and doc["n_parameters"] == 2 * 4 + 4 + 4 * 2 + 2
    assert doc["metadata"]["classes"] == ["cat", "dog"] and doc["metadata"]["feature_names"] == ["x", "y"]
    assert doc["metadata"]["standardize"] is not None  # tabular data: standardized by default
    status, out, _ = _cli(["--help"], capsys)
    assert status == 0
    for command in ("train", "evaluate", "predict", "info"):
        assert command in out
    status, out, _ = _cli(["--version"], capsys)
    assert status == 0 and backprop.__version__ in out


def test_python_dash_m_is_the_same_command(tmp_path):
    p = subprocess.run([sys.executable, "-m", "backprop", "info", "nothing.st"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "does not exist" in _one_error_line(p.stderr)
