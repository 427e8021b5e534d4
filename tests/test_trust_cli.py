"""The command line as a new user and an attacker try it: crafted estimator files, Ctrl-C before
training begins, evaluating on the file a model was trained on, swapped arguments, explain's
formats and the plots' axis labels.

Subprocess tests run the real console script (or ``python -m backprop``) and wait on it for a bounded
time; the interrupt tests synchronize on the child's progress (its import log, a named pipe it
opens), never on a sleep.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import backprop
import backprop.io.schema
from backprop.errors import ModelFileError
from clitools import one_error_line, run_cli

_SCRIPT = Path(sys.executable).with_name("backprop")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "backprop"]
#: the longest any subprocess here may take
TIMEOUT = 120


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("BACKPROP_PROGRESS", "BACKPROP_DEBUG", "FORCE_COLOR", "PYTHONPROFILEIMPORTTIME")}
    env.update(COLUMNS="120", **extra)
    return env


# -- 15: an estimator file's classes are validated like every other field ------------------------------
def _estimator_file(tmp_path, change):
    """A real estimator file whose JSON document went through ``change(meta)``."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 3 iterations: on purpose
        est = backprop.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        est.fit(X, np.array(["a", "b", "c"])[np.arange(30) % 3])
    good = tmp_path / "good.safetensors"
    est.save(good)
    data = good.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    doc = json.loads(header["__metadata__"]["backprop"])
    change(doc["meta"])
    header["__metadata__"]["backprop"] = json.dumps(doc)
    raw = json.dumps(header).encode()
    bad = tmp_path / "crafted.safetensors"
    bad.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    return good, bad


@pytest.mark.parametrize("change, message", [
    (lambda m: m["classes"].update(dtype="|O"), r"'classes.dtype' '\|O' is not a dtype class labels have"),
    (lambda m: m["classes"].update(dtype="O", values=[1, "a", 2.5]),
     "'classes.values' mixes numbers and strings"),
    (lambda m: m["classes"].update(dtype="<f8", values=[1, 1.0, 2]), "'classes.values' repeats"),
    (lambda m: m["classes"].update(dtype="|b1", values=[True, 1, False]), "'classes.values' repeats"),
])
def test_info_refuses_an_estimator_file_with_object_or_mixed_class_labels(tmp_path, capsys, change, message):
    good, bad = _estimator_file(tmp_path, change)
    status, out, err = run_cli(["info", good], capsys)
    assert status == 0, err
    status, out, err = run_cli(["info", bad], capsys)
    assert status == 2 and out == ""
    line = one_error_line(err)
    assert str(bad) in line
    assert re.search(message, line), line
    with pytest.raises(ModelFileError):
        backprop.load(bad)


def test_an_estimator_with_object_labels_set_by_hand_saves_typed_labels(tmp_path):
    _, _ = _estimator_file(tmp_path, lambda m: None)
    est = backprop.load(tmp_path / "good.safetensors")
    est.classes_ = est._label_binarizer.classes_ = np.array(["a", "b", "c"], dtype=object)
    est.save(tmp_path / "again.safetensors")
    back = backprop.load(tmp_path / "again.safetensors")
    assert back.classes_.dtype.kind == "U" and back.classes_.tolist() == ["a", "b", "c"]


# -- 15: Ctrl-C before training begins: status 130, one line, no traceback -----------------------------
def test_an_interrupt_while_loading_the_data_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    import backprop.cli  # noqa: F401 -- imported before the patch: cli.common reads datasets.load's signature
    from backprop.data import datasets

    def interrupted_load(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "load", interrupted_load)
    status, out, err = run_cli(["train", "digits", "--out", tmp_path / "m.safetensors"], capsys)
    assert status == 130 and out == ""
    assert err == "error: interrupted\n"
    assert not (tmp_path / "m.safetensors").exists()


class _InterruptImport:
    """A meta-path finder: importing ``name`` raises KeyboardInterrupt, as Ctrl-C during it would."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise KeyboardInterrupt
        return None


def test_an_interrupt_while_importing_the_commands_exits_130_with_one_line(capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "backprop.cli" or m.startswith("backprop.cli.")]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards
    monkeypatch.setattr(sys, "meta_path", [_InterruptImport("backprop.cli.app"), *sys.meta_path])
    with pytest.raises(SystemExit) as info:
        import backprop.cli  # noqa: F401
    assert info.value.code == 130
    out, err = capsys.readouterr()
    assert out == "" and err == "error: interrupted\n"


def test_importing_backprop_imports_nothing_slow():
    """What makes the interrupt guard cover start-up: ``import backprop`` loads no NumPy."""
    code = "import sys, backprop; print(sorted(m for m in ('numpy', 'click', 'sklearn') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stderr
    code = ("import backprop; "
            "print(backprop.Network.__name__, backprop.load.__name__, backprop.MLPClassifier.__name__)")
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.stdout.split() == ["Network", "load", "MLPClassifier"], p.stderr


def _lines(stream, q):
    for line in stream:
        q.put(line)
    q.put(None)


def _wait_for(q, pred, deadline, seen):
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            return False
        seen.append(line)
        if pred(line):
            return True
    return False


def _open_writer_when_read(fifo, p, deadline):
    """Open the named pipe for writing once the child has opened it for reading (bounded)."""
    while time.monotonic() < deadline and p.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        time.sleep(0.01)
    return None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_sigint_while_importing_exits_130_without_a_traceback(tmp_path):
    """SIGINT lands while the command line's modules are imported (the child's import log says when:
    right after NumPy). The data is a named pipe nobody writes to, so the child is still waiting
    (before training) whenever the signal comes."""
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    p = subprocess.Popen(COMMAND + ["train", str(fifo), "--out", str(tmp_path / "m.safetensors")],
                         cwd=tmp_path, env=_env(PYTHONPROFILEIMPORTTIME="1"), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    q: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(p.stderr, q), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        imported = _wait_for(q, lambda s: s.split("|")[-1].strip() == "numpy", time.monotonic() + TIMEOUT,
                             seen)
        assert imported, seen
        p.send_signal(signal.SIGINT)
        p.wait(timeout=TIMEOUT)
        out = p.stdout.read()
        _wait_for(q, lambda s: False, time.monotonic() + TIMEOUT, seen)  # the rest of stderr, to its end
    finally:
        p.kill()
        p.wait()
        reader.join(timeout=TIMEOUT)
        p.stdout.close()
        p.stderr.close()
    err = [line for line in seen if not line.startswith("import time:")]
    assert p.returncode == 130, "".join(err)
    assert [line.rstrip("\n") for line in err] == ["error: interrupted"]
    assert out == ""
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_sigint_while_reading_the_data_exits_130_without_a_traceback(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    p = subprocess.Popen(COMMAND + ["train", str(fifo), "--out", str(tmp_path / "m.safetensors")],
                         cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    fd = None
    try:
        fd = _open_writer_when_read(fifo, p, time.monotonic() + TIMEOUT)
        assert fd is not None, p.communicate(timeout=TIMEOUT)
        os.write(fd, b"a,b,y\n1,2,")  # half a file: the reader waits for more
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if fd is not None:
            os.close(fd)
        p.kill()
        p.wait()
    assert p.returncode == 130, err
    assert err == "error: interrupted\n" and out == ""
    assert not (tmp_path / "m.safetensors").exists()


# -- 17: swapped arguments, explain --format md, axis labels, one notation per formula ----------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained from a CSV file, and the file."""
    d = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    lines = ["a,b,label"] + [f"{p:.6f},{q:.6f},{c}" for (p, q), c in zip(X, y)]
    (d / "data.csv").write_text("\n".join(lines) + "\n")
    p = subprocess.run(COMMAND + ["train", "data.csv", "--layers", "4", "--epochs", "3", "--quiet"], cwd=d,
                       env=_env(), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return d


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_swapped_arguments_say_the_first_must_be_a_model_file(trained, capsys, monkeypatch, command):
    monkeypatch.chdir(trained)
    status, out, err = run_cli([command, "data.csv", "model.safetensors"], capsys)
    assert status == 2 and out == ""
    line = one_error_line(err)
    assert "the first argument (MODEL) must be a model file" in line and "'data.csv'" in line
    assert "CSV" in line and "give the model first" in line and "header length" not in line


def test_a_text_file_as_the_model_of_info_plot_and_explain_is_named(trained, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    (trained / "notes.txt").write_text("these are notes, not a model\n")
    for args, what in ((["info", "notes.txt"], "MODEL"), (["plot", "notes.txt", "--out", "p.png"], "MODEL"),
                       (["explain", "--model", "data.csv"], "--model"),
                       (["export", "data.csv", "--out", "m.onnx"], "MODEL")):
        status, out, err = run_cli(args, capsys)
        line = one_error_line(err)
        assert status == 2 and line.startswith(f"error: {what} must be a model file"), line
        assert "not a safetensors model file" in line and "header length" not in line
    assert not (trained / "p.png").exists() and not (trained / "m.onnx").exists()


def test_explain_accepts_md_as_markdown(capsys):
    status, md, err = run_cli(["explain", "--format", "md"], capsys)
    assert status == 0, err
    status, markdown, err = run_cli(["explain", "--format", "markdown"], capsys)
    assert status == 0 and md == markdown and md.startswith("# Backpropagation")


def _figures(monkeypatch):
    from backprop.see import plots

    figs = []
    real = plots._save

    def keep(fig, path, dpi):
        figs.append(fig)
        return real(fig, path, dpi)

    monkeypatch.setattr(plots, "_save", keep)
    return figs


@pytest.mark.parametrize("what", ["weights", "loss", "boundary", "gradients"])
def test_every_plot_labels_both_axes(tmp_path, capsys, monkeypatch, what):
    figs = _figures(monkeypatch)
    model = tmp_path / "m.safetensors"
    status, _, err = run_cli(["train", "xor", "--layers", "4", "--epochs", "3", "--record-gradients",
                              "--quiet", "--out", model], capsys)
    assert status == 0, err
    status, _, err = run_cli(["plot", model, "--what", what, "--out", tmp_path / f"{what}.png"], capsys)
    assert status == 0, err
    (fig,) = figs
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes
    for ax in axes:
        assert ax.get_xlabel(), (what, ax.get_title())
        # a y axis shared along a row is labelled once, at the row's start
        row_start = ax.get_subplotspec().colspan.start == 0 if ax.get_subplotspec() else True
        assert ax.get_ylabel() or not row_start, (what, ax.get_title())
        if what == "weights":
            assert ax.get_ylabel() == "count"


_UNICODE_SCRIPTS = set("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ʰᵒᵏⁿⁱʲᴸᴹᴺ")


@pytest.mark.parametrize("mode", ["online", "batch", "minibatch"])
def test_plain_text_uses_one_notation_of_scripts(mode):
    """The plain-text explain never sets Unicode sub/superscripts (h₁ʰ) beside the ``_``/``^``
    notation (E_d): Unicode has no subscript d, so the batch documents, whose eq. (3) sums over the
    samples d, use ``_``/``^`` throughout, and the online one Unicode throughout."""
    net = backprop.Network([2, 3, 1], seed=0)
    X = np.array([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]])
    doc = backprop.explain(net, X[0] if mode == "online" else X, [1.0] if mode == "online" else [[1.0]] * 3,
                           lr=0.5, mode=mode, format="text")
    text = str(doc)
    unicode_scripts = _UNICODE_SCRIPTS & set(text)
    if mode == "online":
        assert "h₁ʰ" in text and "δ₁ᵒ" in text and "_(" not in text and "^(" not in text
    else:
        assert not unicode_scripts, sorted(unicode_scripts)
        assert "E = 1/m Σ_(d=1)^m E_d" in text and "∂E/∂w_(ij)^k = 1/m Σ_(d=1)^m ∂E_d/∂w_(ij)^k" in text
        assert "h_1^h = x_0·v_(01)" in text and "x^(1) = (0.1, 0.2)" in text
    # the terminal's coloured rendering is the same text
    import io

    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(doc)
    assert (_UNICODE_SCRIPTS & set(console.export_text())) == unicode_scripts


# -- 16: evaluate and predict on the training file score the rows training did not see ----------------
def _evaluate(args, capsys):
    status, out, err = run_cli(["evaluate", *args, "--json"], capsys)
    assert status == 0, err
    return json.loads(out), err


def test_the_model_records_the_split_and_the_files_fingerprint(trained, capsys):
    import hashlib

    meta = backprop.load(trained / "model.safetensors").metadata
    split = meta["dataset"]["split"]
    data = (trained / "data.csv").read_bytes()
    assert split["file"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert split["rows"] == 200 and split["validation_rows"] == 20 and split["seed"] == 0
    assert split["val_fraction"] == 0.1 and meta["metrics"]["validation"]["n"] == 20
    status, out, err = run_cli(["info", trained / "model.safetensors"], capsys)
    assert status == 0 and "20 of 200 rows (seed 0)" in out, err


def test_evaluate_on_the_training_file_scores_the_held_out_rows(trained, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    meta = backprop.load("model.safetensors").metadata
    val, err = _evaluate(["model.safetensors", "data.csv"], capsys)
    assert err == ""  # nothing to warn about
    # the rows training held out: the same numbers as training measured on its validation rows
    # (the same float32 computation, so only summation order can differ)
    assert val["split"] == "validation" and val["n"] == meta["metrics"]["validation"]["n"] == 20
    assert val["loss"] == pytest.approx(meta["metrics"]["validation"]["loss"], rel=1e-5)
    assert val["accuracy"] == meta["metrics"]["validation"]["accuracy"]
    # the other rows are the training rows; together, every row once
    fit, _ = _evaluate(["model.safetensors", "data.csv", "--split", "train"], capsys)
    every, err = _evaluate(["model.safetensors", "data.csv", "--split", "all"], capsys)
    assert err == "" and fit["n"] == 180 and every["n"] == 200
    assert fit["loss"] == pytest.approx(meta["metrics"]["train"]["loss"], rel=1e-5)
    total = fit["n"] * fit["loss"] + val["n"] * val["loss"]
    assert total == pytest.approx(every["n"] * every["loss"], rel=1e-5)
    # the recorded data set by default, and the same bytes under another name
    default, _ = _evaluate(["model.safetensors"], capsys)
    (trained / "copy.csv").write_bytes((trained / "data.csv").read_bytes())
    copy, _ = _evaluate(["model.safetensors", "copy.csv"], capsys)
    assert default == val and {**copy, "data": "data.csv"} == val
    status, out, err = run_cli(["evaluate", "model.safetensors", "data.csv"], capsys)
    assert status == 0 and "(the rows held out of training, n = 20)" in out and "all part" not in out


def test_evaluate_warns_in_one_line_when_the_training_file_changed(trained, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    changed = (trained / "data.csv").read_text().replace("\n1.", "\n2.", 1)
    assert changed != (trained / "data.csv").read_text()
    (trained / "changed").mkdir()
    (trained / "changed" / "data.csv").write_text(changed)
    for data in ("changed/data.csv",):  # a file of another content: all rows, no warning
        r, err = _evaluate(["model.safetensors", data], capsys)
        assert r["split"] == "all" and r["n"] == 200 and err == ""
    (trained / "data2.csv").write_bytes((trained / "data.csv").read_bytes())
    status, out, err = run_cli(["train", "data2.csv", "--layers", "4", "--epochs", "2", "-q", "--out",
                                "m2.st"], capsys)
    assert status == 0, err
    (trained / "data2.csv").write_text(changed)  # the file the model names, changed since
    r, err = _evaluate(["m2.st", "data2.csv"], capsys)
    assert r["split"] == "all" and r["n"] == 200
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: data2.csv has changed since m2.st was trained")
    assert "scoring all 200 rows" in lines[0]


def test_a_model_without_the_record_loads_and_warns_in_one_line(trained, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    net = backprop.load("model.safetensors")
    meta = {k: v for k, v in net.metadata.items() if k not in ("format_version", "library_version")}
    meta["dataset"] = {k: v for k, v in meta["dataset"].items() if k != "split"}  # as older versions wrote
    net.save("old.safetensors", **meta)
    r, err = _evaluate(["old.safetensors", "data.csv"], capsys)
    assert r["split"] == "all" and r["n"] == 200
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: old.safetensors does not record which rows")
    status, out, err = run_cli(["info", "old.safetensors"], capsys)
    assert status == 0 and err == ""


def test_predict_on_the_training_file_predicts_the_held_out_rows(trained, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    status, out, err = run_cli(["predict", "model.safetensors", "data.csv"], capsys)
    assert status == 0
    assert len(out.splitlines()) == 1 + 20
    assert err.startswith("note: predicting the 20 rows of data.csv held out of training")
    assert err.count("\n") == 1
    status, every, err = run_cli(["predict", "model.safetensors", "data.csv", "--split", "all"], capsys)
    assert status == 0 and err == "" and len(every.splitlines()) == 201
    # the held-out rows' predictions are those of the same rows among all of them, in file order
    held = out.splitlines()[1:]
    it = iter(every.splitlines()[1:])
    assert all(any(line == other for other in it) for line in held)


@pytest.mark.parametrize("split, message", [
    ({"validation_rows": 200}, "'dataset.split.validation_rows' is 200 of 200 rows"),
    ({"validation_sha256": "zz"}, "'dataset.split.validation_sha256' must be a SHA-256 digest"),
    ({"file": {"bytes": -1, "sha256": "0" * 64}}, "'dataset.split.file.bytes' must be an int"),
    ({"file": {"bytes": 10}}, "'dataset.split.file.sha256' is missing"),
    ({"seed": "0"}, "'dataset.split.seed' must be an int"),
    ({"extra": 1}, "'dataset.split' has an unknown member"),
])
def test_a_crafted_split_record_is_refused(trained, tmp_path, capsys, split, message):
    net = backprop.load(trained / "model.safetensors")
    meta = {k: v for k, v in net.metadata.items() if k not in ("format_version", "library_version")}
    good = meta["dataset"]["split"]
    assert backprop.io.schema.SPLIT.check(good, "dataset.split") is good
    bad = {**good, **split}
    with pytest.raises(backprop.io.schema.Invalid, match=re.escape(message)):
        backprop.io.schema.network_metadata(2, 2, "softmax").check({**meta, "dataset": {**meta["dataset"],
                                                                                        "split": bad}}, "")
    # through a file: the metadata is written as is (safetensors + JSON), then loaded
    path = _crafted_network(trained / "model.safetensors", tmp_path,
                            lambda meta: meta["dataset"].update(split=bad))
    status, out, err = run_cli(["info", path], capsys)
    assert status == 2 and message in one_error_line(err)


def _crafted_network(source, folder, change):
    """A copy of the network file ``source`` whose metadata went through ``change``, byte by byte
    (save() would refuse it)."""
    path = folder / "crafted.safetensors"
    data = source.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    doc = json.loads(header["__metadata__"]["backprop"])
    change(doc["meta"]["metadata"])
    header["__metadata__"]["backprop"] = json.dumps(doc)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    return path


@pytest.mark.parametrize("lr", ["abc", 0, None])
def test_explain_refuses_a_crafted_learning_rate_in_one_line(trained, tmp_path, capsys, monkeypatch, lr):
    """A sibling of the classes field: the recorded training settings explain reads (its eta)."""
    monkeypatch.chdir(trained)
    path = _crafted_network(trained / "model.safetensors", tmp_path,
                            lambda meta: meta["training"].update(lr=lr))
    status, out, err = run_cli(["explain", "--model", path, "--row", "0"], capsys)
    if lr is None:  # no recorded rate: explain's default
        assert status == 0, err
        return
    assert status == 2 and out == ""
    assert "'training.lr' must be null or a finite number > 0" in one_error_line(err)


def test_regression_and_no_validation_rows(tmp_path, capsys, monkeypatch):
    """A regression model's held-out rows are a plain seeded draw (no classes to stratify); a model
    trained on every row (--val-fraction 0) has none, which evaluate says in one line."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 2))
    y = X[:, 0] - 2 * X[:, 1]
    rows = "".join(f"{p:.17g},{q:.17g},{t:.17g}\n" for (p, q), t in zip(X, y))
    (tmp_path / "r.csv").write_text("a,b,t\n" + rows)
    status, _, err = run_cli(["train", "r.csv", "--layers", "4", "--epochs", "2", "-q", "--out", "r.st",
                              "--seed", "7"], capsys)
    assert status == 0, err
    meta = backprop.load("r.st").metadata
    assert not meta["dataset"]["split"]["stratified"] and meta["dataset"]["split"]["seed"] == 7
    r, err = _evaluate(["r.st", "r.csv"], capsys)
    assert err == "" and r["split"] == "validation" and r["n"] == meta["metrics"]["validation"]["n"] == 15
    assert r["loss"] == pytest.approx(meta["metrics"]["validation"]["loss"], rel=1e-5)
    status, _, err = run_cli(["train", "r.csv", "--layers", "4", "--epochs", "2", "-q", "--out", "all.st",
                              "--val-fraction", "0"], capsys)
    assert status == 0, err
    r, err = _evaluate(["all.st", "r.csv"], capsys)
    assert r["split"] == "all" and r["n"] == 150
    assert err.count("\n") == 1 and err.startswith("warning: all.st was trained on every row of r.csv")
    # a file with a test part keeps it as the default, as before
    status, _, err = run_cli(["train", "r.csv", "--layers", "4", "--epochs", "2", "-q", "--out", "tf.st",
                              "--test-fraction", "0.2"], capsys)
    assert status == 0, err
    r, err = _evaluate(["tf.st", "r.csv"], capsys)
    assert err == "" and r["split"] == "test" and r["n"] == 30
