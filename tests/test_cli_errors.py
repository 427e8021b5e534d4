"""The command line's one error policy (backprop.cli.errors) and the bad input of issue 11 §3.

Every user error exits 2 with exactly one ``error: ...`` line on stderr and changes no file; a bug
exits 1 with one ``error: internal error ...`` line; ``--debug`` adds the traceback. A command run on
its own (click's test runner) follows the same policy as ``backprop COMMAND``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

import backprop
from backprop.cli import common, errors, explain, info, plot
from clitools import one_error_line, run_cli


def _snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def _refused(args, capsys, folder, message):
    """Run args: exit 2, one error line containing message, no file created or changed."""
    before = _snapshot(folder)
    status, out, err = run_cli(args, capsys)
    assert status == 2, (args, err)
    line = one_error_line(err)
    assert message in line, line
    assert out == ""
    assert _snapshot(folder) == before
    return line


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"an older model: must survive")
    return tmp_path


# -- one policy ----------------------------------------------------------------------------------------
def test_an_oserror_on_a_users_file_is_exit_2_in_every_command(folder, capsys, monkeypatch):
    def denied(path):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    backprop.Network([2, 1], seed=0).save(folder / "m.safetensors")
    monkeypatch.setattr("backprop.cli.model.load", denied)  # every command loads through it
    for args in (["info", "m.safetensors"], ["evaluate", "m.safetensors", "xor"], ["plot", "m.safetensors"],
                 ["explain", "--model", "m.safetensors", "--x", "1,2", "--y", "1"]):
        line = _refused(args, capsys, folder, "Permission denied: m.safetensors")
        assert line == "error: Permission denied: m.safetensors"
    # the commands on their own (as other groups or click's runner call them): the same status and line
    for command, args in ((plot.plot, ["m.safetensors"]), (info.info, ["m.safetensors"]),
                          (explain.explain, ["--model", "m.safetensors", "--x", "1,2", "--y", "1"])):
        r = CliRunner().invoke(command, args)
        assert r.exit_code == 2 and r.output == "error: Permission denied: m.safetensors\n"


def test_a_model_without_a_recorded_data_set_asks_for_data_in_plot_and_explain(folder, capsys):
    """plot --what boundary and explain --row need rows of the model's data set: a model that does
    not record one (saved from Python) gets one error line asking for --data, and --data works."""
    backprop.Network([2, 3, 1], output="sigmoid", seed=0).save(folder / "m.safetensors")
    for args in (["plot", "m.safetensors", "--what", "boundary", "--out", "b.png"],
                 ["explain", "--model", "m.safetensors", "--row", "0"]):
        _refused(args, capsys, folder, "m.safetensors does not record its data set; give one with --data")
    status, out, err = run_cli(["explain", "--model", "m.safetensors", "--row", "0", "--data", "xor"], capsys)
    assert status == 0, err
    assert "delta" in out or "δ" in out


def test_a_bug_is_exit_1_with_one_line_and_debug_shows_the_traceback(folder, capsys, monkeypatch):
    def bug(path):
        raise KeyError("weights.7")

    monkeypatch.setattr("backprop.cli.model.load", bug)
    status, out, err = run_cli(["info", "x.safetensors"], capsys)
    assert status == 1 and out == ""
    line = one_error_line(err)
    assert line.startswith("error: internal error: KeyError") and "--debug" in line
    status, out, err = run_cli(["--debug", "info", "x.safetensors"], capsys)
    assert status == 1 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == line


def test_user_error_and_describe_agree():
    assert errors.describe(FileNotFoundError(2, "No such file or directory", "a.csv")) == \
        "No such file or directory: a.csv"
    assert errors.describe(backprop.InvalidInputError("bad\n  thing")) == "bad\n  thing"
    assert errors.one_line("bad\n  thing") == "bad thing"
    assert errors.describe(KeyError("x")) is None  # a bug


# -- issue 11 §3 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["train", "xor", "--seed", "-1"], "Invalid value for '--seed': -1"),
    (["train", "spirals", "--data-seed", "-3"], "Invalid value for '--data-seed': -3"),
    (["explain", "--seed", "-2"], "Invalid value for '--seed': -2"),
    (["train", "spirals", "--classes", str(10**20)], "Invalid value for '--classes'"),
    (["train", "spirals", "--n-samples", str(10**20)], "Invalid value for '--n-samples'"),
    (["predict", "model.safetensors", "xor", "--chunk-size", "0"], "Invalid value for '--chunk-size'"),
    (["train", "xor", "--layers", "100000,100000,100000"],
     "a 2-100000-100000-100000-2 network has 20,000,700,002 parameters, more than the 2,147,483,647"),
    (["train", "xor", "--early-stopping", "3", "--val-fraction", "0"],
     "--early-stopping watches the validation loss, but --val-fraction 0 keeps no validation rows"),
    (["train", "xor", "--early-stopping", "-1"], "--early-stopping must be 0 (never) or a number of epochs"),
    (["playground", "--port", "70000"], "Invalid value for '--port'"),
])
def test_absurd_numbers_are_refused_before_any_work(folder, capsys, args, message):
    _refused(args + ["--quiet"] if args[0] == "train" else args, capsys, folder, message)


def test_a_network_larger_than_the_free_memory_is_refused_before_allocating(folder, capsys, monkeypatch):
    monkeypatch.setattr(common, "available_memory", lambda: 2**20)  # 1 MiB free
    sizes = [2, 300, 300, 2]
    n = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    line = _refused(["train", "xor", "--layers", "300,300", "--quiet"], capsys, folder,
                    f"a 2-300-300-2 network has {n:,} parameters; training it needs about")
    assert "0.0 GiB of memory are free" in line
    with pytest.raises(backprop.InvalidInputError, match="more than the"):
        common.check_network_size([1, 2**16, 2**16], "float32")


@pytest.mark.parametrize("extra, message", [
    ([], "values too large"),
    (["--no-standardize"], "too large for float32"),
    (["--no-standardize", "--dtype", "float64"], "diverged"),
])
def test_data_near_the_float64_limit_is_one_error_line_not_a_warning_too(folder, capsys, extra, message):
    (folder / "big.csv").write_text("a,b,y\n1e308,2,1\n-1e308,3,0\n1e308,1,1\n3,4,0\n2,2,1\n")
    _refused(["train", "big.csv", "--epochs", "2", "--quiet", *extra], capsys, folder, message)


def test_predicting_data_that_overflows_is_one_line_and_prints_nothing_else(folder, capsys):
    status, _, err = run_cli(["train", "xor", "--layers", "4", "--epochs", "2", "-q", "--out", "xor.st"],
                             capsys)
    assert status == 0, err
    (folder / "huge.csv").write_text("x1,x2\n0.5,1\n1e308,1\n")
    line = _refused(["predict", "xor.st", "huge.csv"], capsys, folder, "error: ")
    assert "overflow" in line or "too large" in line


def test_predict_to_stdout_prints_nothing_before_an_error(folder, capsys):
    status, _, err = run_cli(["train", "xor", "--layers", "4", "--epochs", "2", "-q", "--out", "xor.st"],
                             capsys)
    assert status == 0, err
    rows = "".join(f"{i / 10},{-i / 10}\n" for i in range(50))
    (folder / "late.csv").write_text("x1,x2\n" + rows + "0.1,oops\n")
    _refused(["predict", "xor.st", "late.csv", "--chunk-size", "4"], capsys, folder,
             "column 'x2' of late.csv is not numeric: 'oops'")


def test_a_csv_without_header_is_detected_and_no_header_reads_it(folder, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    (folder / "raw.csv").write_text("".join(f"{float(a)!r},{float(b)!r},{c}\n" for (a, b), c in zip(X, y)))
    line = _refused(["train", "raw.csv", "--quiet"], capsys, folder, "seems to have no header line")
    assert "--no-header" in line
    status, out, err = run_cli(["train", "raw.csv", "--no-header", "--layers", "8", "--epochs", "30",
                                "--json", "--out", "raw.st"], capsys)
    assert status == 0, err
    meta = backprop.load(folder / "raw.st").metadata
    assert meta["feature_names"] == ["0", "1"] and meta["target"] == "2" and meta["classes"] == [0, 1]
    # the recorded file is read the same way again; predictions are the model's own
    status, out, err = run_cli(["predict", "raw.st", "raw.csv", "--split", "all"], capsys)
    assert status == 0, err
    net = backprop.load(folder / "raw.st")
    stats = meta["standardize"]
    Z = ((X - stats["mean"]) / np.array(stats["scale"])).astype(np.float32)
    assert [int(v) for v in out.split()[1:]] == list(net.predict(Z).argmax(axis=1))
    status, out, err = run_cli(["evaluate", "raw.st", "--json"], capsys)
    assert status == 0, err
    # --target by index: the first column as the target
    status, out, err = run_cli(["train", "raw.csv", "--no-header", "--target", "2", "--layers", "4",
                                "--epochs", "2", "-q", "--out", "t2.st"], capsys)
    assert status == 0, err
    status, out, err = run_cli(["train", "raw.csv", "--no-header", "--target", "0", "--task", "regression",
                                "--layers", "4", "--epochs", "2", "-q", "--out", "t0.st"], capsys)
    assert status == 0, err
    assert backprop.load(folder / "t0.st").metadata["feature_names"] == ["1", "2"]


def test_evaluate_without_data_names_a_training_file_not_found_from_here(tmp_path, capsys, monkeypatch):
    # the model records its training file's path as given ('train.csv'); from another folder the
    # error named 'train.csv' as if the user had typed it
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{a:.3f},{b:.3f},{int(a > b)}" for a, b in rng.random((40, 2)))
    (tmp_path / "train.csv").write_text("a,b,label\n" + rows + "\n")
    status, _, err = run_cli(["train", "train.csv", "--target", "label", "--layers", "3", "--epochs", "2",
                              "--out", "m.safetensors", "--quiet"], capsys)
    assert status == 0, err
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    status, out, err = run_cli(["evaluate", "../m.safetensors"], capsys)
    assert status == 2 and out == ""
    line = one_error_line(err)
    assert "give DATA" in line and "trained on 'train.csv'" in line, line
    assert os.listdir(".") == []


@pytest.mark.parametrize("args", [["exercise", "--count", "1"],
                                  ["explain", "--layers", "2,2,1", "--x", "0.05,0.1", "--y", "1"]])
def test_an_output_encoding_that_cannot_show_the_symbols_is_one_error(capsys, monkeypatch, args):
    # a pipe on a system whose locale is Latin-1 (Windows' cp1252 alike): δ, ŷ and η cannot be written;
    # this was an internal error (status 1)
    import io
    import sys

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    status, _, err = run_cli(args, capsys)
    assert status == 2
    line = one_error_line(err)
    assert "encoding (latin-1) cannot show" in line and "PYTHONIOENCODING=utf-8" in line, line
