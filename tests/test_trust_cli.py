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
                       (["explain", "--model", "data.csv"], "--model")):
        status, out, err = run_cli(args, capsys)
        line = one_error_line(err)
        assert status == 2 and line.startswith(f"error: {what} must be a model file"), line
        assert "not a safetensors model file" in line and "header length" not in line
    assert not (trained / "p.png").exists()


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
def test_plain_text_formulas_use_one_notation_of_scripts(mode):
    """No formula of the plain-text explain mixes Unicode sub/superscripts (h₁ʰ) with the ``_``/``^``
    notation (E_d), which it needs where Unicode has no character (there is no subscript d)."""
    from backprop.see.document import Eqs, Para
    from backprop.see.mathnodes import Node, formula_text

    net = backprop.Network([2, 3, 1], seed=0)
    X = np.array([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]])
    doc = backprop.explain(net, X[0] if mode == "online" else X, [1.0] if mode == "online" else [[1.0]] * 3,
                           lr=0.5, mode=mode, format="text")
    formulas = []
    for b in doc.blocks:
        if isinstance(b, Para):
            formulas += [formula_text(p)[0] for p in b.parts if isinstance(p, Node)]
        elif isinstance(b, Eqs):
            formulas += [" ".join(formula_text(r.lhs, *r.parts)) for r in b.rows]
    assert formulas
    for f in formulas:
        ascii_marks = "_" in f or "^" in f
        assert not (ascii_marks and _UNICODE_SCRIPTS & set(f)), f
    if mode != "online":
        text = str(doc)  # the renderer prints these formulas so
        assert "E = 1/m Σ_(d=1)^m E_d" in text and "∂E/∂w_(ij)^k = 1/m Σ_(d=1)^m ∂E_d/∂w_(ij)^k" in text
