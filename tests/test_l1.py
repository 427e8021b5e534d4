"""L1 regularisation (issue 21 §4): the penalty l1 sum |w| on the weights, beside l2.

Its gradient is eq. (3)'s plus the subgradient l1 sign(w) (sign(0) = 0), on the weights only. Oracles:
five-point finite differences of E + l1 sum |w| in extended precision (conftest ``fd_grads``, away from
w = 0, where |w| is smooth), the reference path (backprop.core.reference), the plain strategy, and the
formula w - eta (dE/dw + l1 sign(w)) written out. Tolerances: rounding of the sums compared (a few ulps
per accumulated product, relative to the quantities' size) or the finite differences' error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import make_moons

import backprop
from backprop.core import losses
from backprop.core import reference as ref
from backprop.errors import InvalidInputError
from backprop.io import schema
from backprop.playground import panels
from backprop.playground.config import check_config
from backprop.playground.session import Session
from backprop.see.explain import explain
from backprop.train import strategy as _strategy
from backprop.train.trainer import Trainer
from clitools import one_error_line, run_cli

EPS = np.finfo(np.float64).eps


def _problem(oracle, seed, sizes=(3, 5, 4, 2), m=7, hidden="tanh", output="sigmoid"):
    rng = np.random.default_rng(seed)
    net = oracle.random_net(rng, list(sizes), hidden, output)
    for W in net.weights:  # |w| >= 0.05: the finite differences (steps <= 2e-4) never cross w = 0
        W[np.abs(W) < 0.05] = 0.05
    X = rng.normal(size=(m, sizes[0]))
    Y = oracle.random_targets(rng, output, "mse", m, sizes[-1])
    return net, X, Y


def _fd_tolerance(net, m):
    """The comparison's error budget, relative: float64 sums of m x width products (a few ulps each)
    plus the five-point differences' error in extended precision (truncation ~ step^4 = 1e-16 times
    the loss's fifth derivative, O(1) here), with a margin of 100."""
    return 100 * (4 * m * max(net.sizes) * EPS + 1e-16)


# -- the gradient ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, hidden, output", [(0, "tanh", "sigmoid"), (1, "relu", "identity"),
                                                  (2, "sigmoid", "tanh")])
def test_the_l1_gradient_is_the_derivative_of_the_penalised_loss(oracle, seed, hidden, output):
    net, X, Y = _problem(oracle, seed, hidden=hidden, output=output)
    l1, l2 = 0.03, 0.02
    buf = net.buffers(X.shape[0], train=True)
    net.forward_into(X, buf)
    gW, gb = net.backward_into(X, Y, buf, losses.get("mse"), l2=l2, l1=l1)
    gW, gb = [g.copy() for g in gW], [g.copy() for g in gb]

    def penalty(Ws):
        return l1 * sum(np.abs(W).sum() for W in Ws) + (l2 / 2) * sum((W**2).sum() for W in Ws)

    fW, fb = oracle.fd_grads(net.weights, net.biases, oracle.act_names(net), "mse", X, Y, extra=penalty)
    tol = _fd_tolerance(net, X.shape[0])
    assert max(oracle.rel_err(g, f) for g, f in zip(gW, fW)) < tol
    # the biases carry no penalty: their gradient is eq. (3)'s alone, as with l2
    assert max(oracle.rel_err(g, f) for g, f in zip(gb, fb)) < tol
    # the test could fail: without the L1 term the weights' gradient is off by l1 sign(w)
    plain = net.trace(X, Y, loss="mse").grad_weights
    assert max(oracle.rel_err(g + l2 * W, f) for g, W, f in zip(plain, net.weights, fW)) > 1e3 * tol


def test_the_reference_subgradient_takes_sign_0_as_0():
    w = np.array([[-2.0, 0.0, 3.0], [0.5, -0.0, -1e-300]])
    assert np.array_equal(ref.l1_subgradient(w, 0.25), [[-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]])


def test_one_sgd_step_with_l1_equals_the_reference_path(oracle):
    """Network.fit (the engine's strategy: no fused step with l1) == reference.sgd_update with l1."""
    net, X, Y = _problem(oracle, 4)
    lr, l1 = 0.3, 0.05
    Ws, bs = ref.sgd_update(net.weights, net.biases, net.activations, X, Y, lr, "mse", l1=l1)
    net.fit(X, Y, mode="batch", epochs=1, lr=lr, optimizer="sgd", l1=l1)
    n = X.shape[0] * max(net.sizes)
    for got, want in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(got, want, rtol=0, atol=8 * n * EPS * max(1.0, float(np.abs(want).max())))
    # and differs from the step without l1 by lr l1 sign(w), far beyond that tolerance
    W0, _ = ref.sgd_update(net.weights, net.biases, net.activations, X, Y, lr, "mse")
    assert not np.allclose(W0[0], Ws[0], rtol=0, atol=1e-3)


@pytest.mark.parametrize("optimizer, mode", [("sgd", "online"), ("sgd", "minibatch"),
                                             ("momentum", "minibatch"), ("adam", "minibatch"),
                                             ("adam", "batch")])
def test_the_fast_strategies_equal_the_plain_path_with_l1(oracle, monkeypatch, optimizer, mode):
    """The strategy the engine picks with l1 (never "fused"/"tiny") equals every optimizer as written."""
    net0, X, Y = _problem(oracle, 5, sizes=(2, 3, 1), m=12)
    nets = []
    for fast in (True, False):
        monkeypatch.setattr(_strategy, "FAST", fast)
        net = net0.copy()
        net.fit(X, Y, epochs=3, lr=0.05, optimizer=optimizer, mode=mode,
                batch_size=5 if mode == "minibatch" else None, l1=0.02, l2=0.01, seed=3)
        nets.append(net)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=64 * X.shape[0] * EPS * scale)
    assert not np.array_equal(nets[0].weights[0], net0.weights[0])


def test_l1_leaves_the_strategy_choice_alone_at_0_and_never_fuses_above():
    net = backprop.Network([2, 3, 1], seed=0)
    X, Y = np.zeros((8, 2)), np.zeros((8, 1))
    names = {}
    for l1 in (0.0, 0.1):
        for mode in ("online", "minibatch"):
            tr = Trainer(net.copy(), optimizer="sgd", mode=mode,
                         batch_size=4 if mode == "minibatch" else None, l1=l1)
            tr.start(X, Y)
            names[l1, mode] = tr._chosen().name
    # (compiled: whole epochs of a small network where numba is installed, tests/test_compiled.py)
    assert names[0.0, "online"] in ("tiny", "compiled") and names[0.0, "minibatch"] in ("fused", "compiled")
    assert names[0.1, "online"] == names[0.1, "minibatch"] == "optimizer"


def test_a_large_l1_shrinks_the_weights():
    """Subgradient descent oscillates around 0 rather than landing on it; the sum of |w| still falls."""
    X, y = make_moons(200, noise=0.15, random_state=0)
    Y = y.reshape(-1, 1).astype(float)
    sums = {}
    for l1 in (0.0, 0.01):
        net = backprop.Network([2, 8, 1], hidden="tanh", output="sigmoid", seed=1)
        net.fit(X, Y, loss="binary_cross_entropy", epochs=30, lr=0.1, optimizer="adam", l1=l1, seed=0)
        sums[l1] = sum(float(np.abs(W).sum()) for W in net.weights)
    assert sums[0.01] < 0.7 * sums[0.0]


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "0.1", True])
def test_the_library_refuses_a_bad_l1(bad):
    with pytest.raises(InvalidInputError, match="l1"):
        backprop.Network([2, 2, 1]).fit(np.zeros((4, 2)), np.zeros((4, 1)), l1=bad)


# -- the command line --------------------------------------------------------------------------------
def _same_weights(a, b):
    a, b = backprop.load(a), backprop.load(b)
    return all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))


def test_cli_trains_with_l1_records_it_and_resume_keeps_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["circles", "--layers", "6", "--optimizer", "sgd", "--lr", "0.3", "--l1", "0.01", "-q",
              "--seed", "2"]
    assert run_cli(["train", *common, "--epochs", "4", "--out", "straight.st"], capsys)[0] == 0
    assert backprop.load("straight.st").metadata["training"]["l1"] == 0.01
    status, out, _ = run_cli(["info", "straight.st"], capsys)
    assert status == 0 and "l1=0.01" in out
    # the same run without --l1 ends elsewhere (the option is used, not only recorded)
    plain = [a for a in common if a not in ("--l1", "0.01")]
    assert run_cli(["train", *plain, "--epochs", "4", "--out", "plain.st"], capsys)[0] == 0
    assert not _same_weights("plain.st", "straight.st")
    assert backprop.load("plain.st").metadata["training"]["l1"] == 0.0
    assert "l1=" not in run_cli(["info", "plain.st"], capsys)[1]
    # interrupted after 2 epochs, resumed without repeating --l1: the uninterrupted run's bits
    status, _, err = run_cli(["train", *common, "--epochs", "2", "--out", "run.st", "--checkpoint", "c.st"],
                             capsys)
    assert status == 0, err
    status, _, err = run_cli(["train", "--resume", "c.st", "--epochs", "4", "-q"], capsys)
    assert status == 0, err
    assert _same_weights("run.st", "straight.st")
    assert backprop.load("run.st").metadata["training"]["l1"] == 0.01
    status, _, err = run_cli(["train", "--resume", "c.st", "--l1", "0.02", "-q"], capsys)
    assert status == 2 and "--l1" in one_error_line(err)


@pytest.mark.parametrize("bad", ["-0.5", "nan", "inf"])
def test_cli_refuses_a_bad_l1_with_one_error_line(tmp_path, capsys, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["train", "xor", "--epochs", "1", "-q", f"--l1={bad}"], capsys)
    assert status == 2 and "l1" in one_error_line(err)
    assert not (tmp_path / "model.safetensors").exists()


def test_model_metadata_checks_l1_and_files_without_it_still_load():
    arch = backprop.Network([2, 2, 1]).config()
    schema.network_document({"network": arch, "metadata": {"training": {"l2": 0.0}}})  # before L1
    schema.network_document({"network": arch, "metadata": {"training": {"l1": 0.5}}})
    for bad in (-1.0, "x"):
        with pytest.raises(schema.Invalid, match="l1"):
            schema.network_document({"network": arch, "metadata": {"training": {"l1": bad}}})


# -- the playground ----------------------------------------------------------------------------------
def test_the_playground_config_takes_l1():
    assert check_config({})["l1"] == 0.0
    assert check_config({"l1": 0.01})["l1"] == 0.01
    for bad in (-0.1, 11.0, "0.1", True):
        with pytest.raises(InvalidInputError, match="l1"):
            check_config({"l1": bad})


def test_a_playground_step_applies_the_l1_subgradient():
    lr, l1 = 0.5, 0.05
    s = Session({"data": "xor", "layers": [3], "mode": "batch", "lr": lr, "l1": l1, "n_samples": 40})
    s.step()
    last = s.last
    assert last is not None
    for W0, g, W1 in zip(last["weights_before"], last["grad_weights"], last["weights_after"]):
        want = W0 - lr * (g + l1 * np.sign(W0))
        np.testing.assert_allclose(W1, want, rtol=0, atol=8 * EPS * max(1.0, float(np.abs(W0).max())))
    for b0, g, b1 in zip(last["biases_before"], last["grad_biases"], last["biases_after"]):
        np.testing.assert_allclose(b1, b0 - lr * g, rtol=0, atol=8 * EPS * max(1.0, float(np.abs(b0).max())))
    assert s.state()["l1"] == l1
    # the weight panel's delta rule has the term (the engine's value, to rounding); a bias's has not
    for k in range(s.net.n_layers):
        w = panels.weight(s, k, 0, 0)
        assert w["l1"] == l1 and w["delta_rule"] == pytest.approx(w["w_after"], rel=0, abs=8 * EPS)
        b = panels.weight(s, k, "bias", 0)
        assert b["l1"] == 0.0 and b["delta_rule"] == pytest.approx(b["w_after"], rel=0, abs=8 * EPS)


# -- explain -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["online", "batch"])
def test_explain_shows_the_l1_term_and_updates_with_it(mode):
    net = backprop.Network([2, 2, 1], seed=0)
    x, y = ([1.0, 0.5], [1.0]) if mode == "online" else (np.array([[1.0, 0.5], [-0.3, 0.2]]), [[1.0], [0.0]])
    lr, l1 = 0.5, 0.01
    plain = str(explain(net, x, y, lr=lr, mode=mode, format="text"))
    ex = explain(net, x, y, lr=lr, mode=mode, format="text", l1=l1)
    text = str(ex)
    assert "λ₁" not in plain and "sign(" not in plain
    # (a batch document writes scripts as _1 when a subscript has no Unicode form)
    assert "L1 penalty λ" in text and "= 0.01" in text and "sign(w" in text and "0.01·(-1)" in text
    # the engine's update the document shows: w - eta (dE/dw + l1 sign(w)), biases without the term
    t = ex.before
    for W0, g, W1 in zip(net.weights, t.grad_weights, ex.net_after.weights):
        np.testing.assert_allclose(W1, W0 - lr * (g + l1 * np.sign(W0)), rtol=0, atol=16 * EPS)
    for b0, g, b1 in zip(net.biases, t.grad_biases, ex.net_after.biases):
        np.testing.assert_allclose(b1, b0 - lr * g, rtol=0, atol=16 * EPS)
    for fmt, lam in (("markdown", r"\lambda"), ("latex", r"\lambda"), ("html", "λ")):
        assert lam in str(explain(net, x, y, lr=lr, mode=mode, format=fmt, l1=l1))
        assert lam not in str(explain(net, x, y, lr=lr, mode=mode, format=fmt))
    with pytest.raises(InvalidInputError, match="l1"):
        explain(net, x, y, lr=lr, mode=mode, l1=-1.0)


def test_cli_explain_shows_the_l1_term_and_refuses_a_bad_one(capsys):
    status, out, err = run_cli(["explain", "--l1", "0.01"], capsys)
    assert status == 0, err
    assert "L1 penalty λ₁ = 0.01" in out and "sign(w₁₁)" in out
    status, out, _ = run_cli(["explain"], capsys)
    assert status == 0 and "λ₁" not in out
    status, _, err = run_cli(["explain", "--l1", "-1"], capsys)
    assert status == 2 and "l1" in one_error_line(err)
