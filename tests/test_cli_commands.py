"""``backprop explain`` (a model's own learning rate and loss, batch modes), ``backprop plot``'s hint,
``backprop playground`` and ``backprop train --dask``: the options reach the library.

Oracles: backprop.explain called directly; the library functions the commands call, recorded; a run
without the cluster.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

import backprop
from backprop import datasets
from clitools import one_error_line, run_cli


@pytest.fixture
def iris_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "iris", "--layers", "5", "--epochs", "2", "--optimizer", "sgd", "--lr",
                              "0.05", "-q", "--out", "iris.st"], capsys)
    assert status == 0, err
    return tmp_path / "iris.st"


def _lines_in(doc, out):
    """Every line of the API's document is in the command's (which adds a sentence about the sample)."""
    missing = [line for line in str(doc).splitlines() if line not in out.splitlines()]
    assert missing == [], missing[:3]


def test_explain_a_model_uses_its_own_learning_rate_and_loss_and_names_the_class(iris_model, capsys):
    status, out, err = run_cli(["explain", "--model", iris_model, "--row", "3", "--format", "markdown"],
                               capsys)
    assert status == 0, err
    net = backprop.load(iris_model)
    meta = net.metadata
    X, y = datasets.load("iris").part("train")
    x = datasets.apply_standardize(X[3:4], meta["standardize"])[0]
    k = meta["classes"].index(y[3].item())
    _lines_in(backprop.explain(net, x, k, lr=0.05, loss="cross_entropy", format="markdown"), out)
    assert r"\eta = 0.05" in out and "cross_entropy" in out
    assert f"class {k} of 3" in out and repr(y[3].item()) in out
    status, out, err = run_cli(["explain", "--model", iris_model, "--row", "3", "--lr", "0.2", "--format",
                                "markdown"], capsys)
    assert status == 0 and r"\eta = 0.2" in out
    _lines_in(backprop.explain(net, x, k, lr=0.2, loss="cross_entropy", format="markdown"), out)


def test_explain_batch_modes_pass_mode_and_samples(iris_model, capsys):
    rows = [[0.1, 0.2], [0.3, -0.1], [1.0, 1.0]]
    status, out, err = run_cli(["explain", "--mode", "batch", "--samples", "3", "--x", "0.1,0.2;0.3,-0.1;1,1",
                                "--y", "1;0;1", "--lr", "0.3", "--format", "markdown"], capsys)
    assert status == 0, err
    net = backprop.Network([2, 2, 1], seed=0, dtype="float64")
    assert out == str(backprop.explain(net, rows, [[1.0], [0.0], [1.0]], lr=0.3, mode="batch", samples=3,
                                       format="markdown"))
    status, out, err = run_cli(["explain", "--model", iris_model, "--row", "10", "--mode", "minibatch",
                                "--samples", "4", "--format", "markdown"], capsys)
    assert status == 0, err
    net = backprop.load(iris_model)
    X, y = datasets.load("iris").part("train")
    Xs = datasets.apply_standardize(X[10:14], net.metadata["standardize"])
    idx = [net.metadata["classes"].index(v) for v in y[10:14].tolist()]
    _lines_in(backprop.explain(net, Xs, idx, lr=0.05, loss="cross_entropy", mode="minibatch", samples=4,
                               format="markdown"), out)
    for args, message in ((["--samples", "2"], "--samples applies to --mode batch or minibatch"),
                          (["--mode", "batch", "--x", "1,2;3,4", "--y", "1"],
                           "--x gives 2 rows but --y gives 1"),
                          (["--mode", "batch", "--samples", "99"], "Invalid value for '--samples'")):
        status, _, err = run_cli(["explain", *args], capsys)
        assert status == 2 and message in one_error_line(err)


def test_plot_gradients_names_the_training_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "moons", "--layers", "4", "--epochs", "2", "-q", "--out", "m.st"],
                             capsys)
    assert status == 0, err
    status, _, err = run_cli(["plot", "m.st", "--what", "gradients"], capsys)
    assert status == 2 and "backprop train --record-gradients" in one_error_line(err)
    assert not (tmp_path / "m-gradients.png").exists()
    assert run_cli(["train", "moons", "--layers", "4", "--epochs", "2", "-q", "--record-gradients", "--out",
                    "g.st"], capsys)[0] == 0
    status, out, err = run_cli(["plot", "g.st", "--what", "gradients", "--dpi", "20"], capsys)
    assert status == 0, err
    assert (tmp_path / "g-gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- playground --------------------------------------------------------------------------------------------
def test_playground_passes_its_options_to_serve(capsys, monkeypatch):
    import backprop.playground

    calls = []
    monkeypatch.setattr(backprop.playground, "serve", lambda data, **kw: calls.append((data, kw)))
    assert run_cli(["playground", "xor", "--port", "8123", "--no-browser"], capsys)[0] == 0
    assert run_cli(["playground"], capsys)[0] == 0
    assert calls == [("xor", {"host": "127.0.0.1", "port": 8123, "open_browser": False}),
                     (None, {"host": "127.0.0.1", "port": 0, "open_browser": True})]


def test_playground_on_another_address_warns_that_others_can_reach_it(capsys, monkeypatch):
    """The real serve() with a stand-in server: no socket is opened, nothing listens."""
    import backprop.playground.server as server

    class FakeSocket:
        def getsockname(self):
            return ("192.0.2.7", 8123)

        def close(self):
            pass

    class FakeServer:
        def run(self, sockets):
            return None

    made = []

    def make_server(data, *, host, port, token=None):
        made.append((data, host, port))
        return FakeServer(), FakeSocket(), "tok"

    monkeypatch.setattr(server, "make_server", make_server)
    args = ["playground", "moons", "--host", "192.0.2.7", "--port", "8123", "--no-browser"]
    status, out, err = run_cli(args, capsys)
    assert status == 0, err
    assert made == [("moons", "192.0.2.7", 8123)]
    assert "http://192.0.2.7:8123/?token=tok" in out
    assert err.startswith("warning: the playground listens on 192.0.2.7")
    status, out, err = run_cli(["playground", "--no-browser"], capsys)
    assert status == 0 and made[-1] == (None, "127.0.0.1", 0)


def test_playground_without_its_extra_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette", None)  # import starlette raises ImportError
    status, _, err = run_cli(["playground", "--no-browser"], capsys)
    line = one_error_line(err)  # from the package index and from a clone; "backprop" there is another project
    assert status == 2
    assert "pip install 'backprop-explicit[playground]'" in line and "pip install -e '.[playground]'" in line


# -- train --dask ------------------------------------------------------------------------------------------
def test_train_dask_connects_and_trains_through_backprop_distributed(tmp_path, capsys, monkeypatch):
    import backprop.distributed as dist

    monkeypatch.chdir(tmp_path)
    seen = {}

    @contextlib.contextmanager
    def connect(spec, *, timeout, security, stop):
        seen.update(spec=spec, timeout=timeout, security=security)
        yield "the client"

    def train(trainer, X, Y, *, client, checkpoint=None, extra=None, **kw):
        seen.update(client=client, rows=X.shape[0], checkpoint=checkpoint, out=extra["out"])
        return trainer.run(X, Y)  # the same loop, here

    monkeypatch.setattr(dist, "connect", connect)
    monkeypatch.setattr(dist, "train", train)
    args = ["train", "moons", "--layers", "6", "--epochs", "3", "-q", "--seed", "2"]
    assert run_cli([*args, "--dask", "local:2", "--out", "d.st", "--checkpoint", "c.st"], capsys)[0] == 0
    assert seen == {"spec": "local:2", "timeout": 10.0, "security": None, "client": "the client",
                    "rows": seen["rows"], "checkpoint": "c.st", "out": str(tmp_path / "d.st")}
    assert run_cli([*args, "--out", "plain.st"], capsys)[0] == 0
    a, b = backprop.load(tmp_path / "d.st"), backprop.load(tmp_path / "plain.st")
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))


def test_train_dask_refuses_a_bad_cluster_spec_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for spec, message in (("local:0", "local:0 asks for 0 workers"),
                          ("nowhere", "bad Dask cluster 'nowhere'")):
        status, out, err = run_cli(["train", "xor", "--epochs", "1", "-q", "--dask", spec], capsys)
        assert status == 2 and message in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_train_on_a_local_dask_cluster_matches_the_run_in_one_process(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "circles", "--layers", "6", "--epochs", "2", "-q", "--seed", "1", "--dtype", "float64"]
    status, _, err = run_cli([*args, "--dask", "local:2", "--out", "cluster.st"], capsys)
    assert status == 0, err
    assert run_cli([*args, "--out", "here.st"], capsys)[0] == 0
    a, b = backprop.load(tmp_path / "cluster.st"), backprop.load(tmp_path / "here.st")
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)  # the same updates, sums in another order
