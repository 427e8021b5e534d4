"""The exercises' keys: every value equals a plain-loop computation of the reference, the numbers
are hand-workable, and the same seed gives the same sheet byte for byte."""

import importlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop.errors import InvalidInputError
from backprop.exercises import FORMATS, generate
from backprop.exercises.key import read_key
from exercise_oracle import flat, update

generate_module = importlib.import_module("backprop.exercises.generate")  # the module (its ATTEMPTS)

CONFIGS = [
    {},  # the reference's 2-2-1 sigmoid network, online, MSE
    {
        "sizes": [(2, 3, 2), (3, 2, 2)],
        "hidden": ["sigmoid", "tanh"],
        "output": ["sigmoid", "identity"],
        "mode": ["batch"],
        "samples": 3,
    },
    {
        "sizes": [(2, 2, 1), (3, 2, 1)],
        "hidden": ["relu", "identity"],
        "output": ["tanh", "sigmoid"],
        "loss": ["mse", "cross_entropy"],
        "mode": ["online", "minibatch"],
    },
    {
        "sizes": [(2, 3, 2)],
        "hidden": ["tanh", "sigmoid"],
        "output": ["softmax"],
        "loss": "cross_entropy",
        "mode": ["batch", "minibatch"],
        "lr": [0.5, 0.25, 2.0],
    },
    {"ask": ["forward"], "hidden": ["tanh"], "output": ["identity"], "decimals": 3},
    {"ask": ["delta", "update"], "mode": "batch", "samples": 2, "decimals": 5},
    # a training set of 5 samples, the update on its first mini-batch of 3
    {"sizes": [(2, 2, 1), (2, 3, 2)], "mode": ["minibatch", "batch"], "samples": 5, "batch_size": 3},
]


def _problems(sheet):
    return sheet.key_json()["problems"]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), config=st.sampled_from(CONFIGS))
def test_every_key_value_is_the_plain_loop_update(seed, config):
    key = generate(2, seed, **config).key_json()
    for p in key["problems"]:
        ref = update(p)
        for q, v in ref.items():
            got = dict(flat(p[q]))
            for idx, x in flat(v):
                assert got[idx] == pytest.approx(x, rel=1e-9, abs=1e-12), (q, idx)
        assert set(p["asked"]) <= set(ref)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), config=st.sampled_from(CONFIGS))
def test_the_numbers_are_hand_workable(seed, config):
    sheet = generate(2, seed, **config)
    unit = 10.0**-sheet.decimals
    for p in _problems(sheet):
        given_numbers = [x for w in p["weights"] + p["biases"] for _, x in flat(w)] + [
            x for _, x in flat(p["train_x"])
        ]
        for x in given_numbers:  # one or two decimals (multiples of 0.05), never 0
            assert abs(x * 20 - round(x * 20)) < 1e-9 and abs(x) >= 0.1
        for _, y in flat(p["train_y"]):
            assert abs(y * 10 - round(y * 10)) < 1e-9
        acts = [p["hidden"], p["output"]]
        for k, h in enumerate(p["h"]):
            for row in h:
                if acts[k] == "sigmoid":
                    assert max(abs(v) for v in row) <= 2.5  # not saturated: a within (0.07, 0.93)
                if acts[k] == "relu":
                    assert min(row) >= 0.05  # active, off the kink
                s = sorted(row)
                # no ties between units (the generator's 0.01, on the engine's h; the key's 12 significant
                # digits may turn 0.0100000000001 into 0.00999999999999, as for -0.11 and -0.1)
                assert all(b - a >= 0.01 - 1e-10 for a, b in zip(s, s[1:]))
        for _, d in flat(p["delta"]):
            assert abs(d) >= 2 * unit  # no zero error term
        for q in ("grad_weights", "grad_biases"):
            for _, gv in flat(p[q]):
                assert abs(gv) >= 2 * unit and abs(p["lr"] * gv) >= 2 * unit
        for (_, yh), (_, y) in zip(flat(p["yhat"]), flat(p["y"])):
            assert abs(yh - y) >= 0.02


def test_the_key_lays_quantities_out_as_the_playground_step():
    p = generate(1, 3, sizes=[(3, 2, 2)], mode="batch", samples=2).key_json()["problems"][0]
    L, M, N = p["sizes"]
    assert np.shape(p["weights"][0]) == (L, M) and np.shape(p["weights"][1]) == (M, N)
    assert (
        np.shape(p["h"][0]) == (2, M) and np.shape(p["a"][1]) == (2, N) and np.shape(p["delta"][0]) == (2, M)
    )
    assert np.shape(p["grad_weights"][1]) == (M, N) and np.shape(p["grad_biases"][0]) == (M,)
    assert np.shape(p["weights_after"][0]) == (L, M) and np.shape(p["biases_after"][1]) == (N,)
    assert p["yhat"] == p["a"][1] and np.shape(p["x"]) == (2, L) and np.shape(p["y"]) == (2, N)
    assert p["batch"] == [0, 1] and isinstance(p["E"], float)


def test_minibatch_works_out_the_first_mini_batch():
    p = generate(1, 4, mode="minibatch", batch_size=2).key_json()["problems"][0]
    assert len(p["train_x"]) == 4 and p["x"] == p["train_x"][:2] and p["batch_size"] == 2


def test_minibatch_takes_its_training_set_of_samples_and_the_mini_batch_from_it():
    # --samples was ignored in minibatch mode (always two mini-batches)
    sheet = generate(2, 4, mode="minibatch", samples=5, batch_size=2)
    for p in sheet.key_json()["problems"]:
        assert len(p["train_x"]) == len(p["train_y"]) == 5 and p["batch"] == [0, 1]
        assert p["x"] == p["train_x"][:2] and p["y"] == p["train_y"][:2]
    text = sheet.render("markdown")
    assert "Mini-batch training with batch size 2" in text and "on samples 1 to 2" in text
    assert read_key(sheet.key_json()).key_text() == sheet.key_text()
    assert "mini-batch" in sheet.solutions("markdown").lower()  # the worked answers too


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_sheet(fmt):
    opts = {"sizes": [(2, 2, 1), (2, 3, 2)], "hidden": ["sigmoid", "tanh"], "mode": ["online", "batch"]}
    a, b = generate(3, 11, **opts), generate(3, 11, **opts)
    assert a.render(fmt) == b.render(fmt) and a.key_text() == b.key_text()
    assert generate(3, 12, **opts).key_text() != a.key_text()


def test_the_key_reads_back():
    sheet = generate(2, 5, mode=["online", "batch"])
    back = read_key(json.loads(sheet.key_text()))
    assert back.key_text() == sheet.key_text()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"sizes": [(2, 2)]}, "L-M-N"),
        ({"sizes": [(2, 9, 1)]}, "1 to 6"),
        ({"hidden": "softsign"}, "hidden"),
        ({"output": "softmax", "loss": "mse"}, "fits the loss"),
        ({"mode": "full"}, "mode"),
        ({"ask": "everything"}, "ask"),
        ({"lr": 1.0}, "eta applied twice"),
        ({"decimals": 1}, "decimals"),
        ({"samples": 20, "mode": "batch"}, "samples"),
        ({"samples": 2, "batch_size": 2, "mode": "minibatch"}, r"samples \(2\) must be more than batch_size"),
        ({"samples": 3, "batch_size": 4, "mode": ["batch", "minibatch"]}, "more than batch_size"),
        ({"samples": 3, "mode": "online"}, "online mode uses one sample"),
        # wrong types: a TypeError from deep inside (or a string taken for a rate) before
        ({"sizes": 5}, "sizes must be a list of networks"),
        ({"sizes": [5]}, "L-M-N"),
        ({"hidden": None}, "hidden activation: expected one choice or a list"),
        ({"lr": None}, "lr: expected one choice or a list"),
        ({"lr": "0.5"}, "lr must be numbers"),
        ({"lr": [0.5, "x"]}, "lr must be numbers"),
    ],
)
def test_bad_options_are_refused(kw, match):
    with pytest.raises(InvalidInputError, match=match):
        generate(1, 0, **kw)


def test_unworkable_options_say_so(monkeypatch):
    monkeypatch.setattr(generate_module, "ATTEMPTS", 100)
    # one learning rate that makes eta twice and the 1/m twice the same (m = 2, eta = 1/2) on a sheet
    # that asks only for the update: the two mistakes could never be told apart
    with pytest.raises(InvalidInputError, match="could not draw"):
        generate(1, 0, mode="batch", samples=2, lr=0.5, ask="update")
