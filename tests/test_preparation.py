"""backprop.data.preparation: the output layer a target asks for on each surface, and the data in
the network's space. Oracles: the reference's worked example (two classes: one sigmoid unit,
E = MSE) for the playground, the usual softmax + cross-entropy for the command line, and
standardization written out here."""

from __future__ import annotations

import numpy as np
import pytest

from backprop.data import preparation as prep
from backprop.data.preprocessing import class_quotas, stratified_indices, stratified_rows
from backprop.errors import InvalidInputError

Y2 = np.array(["a", "b", "a", "b", "b"])
Y3 = np.array([0, 1, 2, 1, 0, 2])


@pytest.mark.parametrize("defaults, y, want", [
    (prep.COMMAND_LINE, Y2, ("softmax", "cross_entropy", 2)),
    (prep.COMMAND_LINE, Y3, ("softmax", "cross_entropy", 3)),
    (prep.PLAYGROUND, Y2, ("sigmoid", "mse", 1)),  # the reference's own example
    (prep.PLAYGROUND, Y3, ("softmax", "cross_entropy", 3)),
])
def test_the_defaults_of_each_surface(defaults, y, want):
    layer = prep.output_layer("classification", y, defaults=defaults)
    assert (layer.output, layer.loss, layer.n_out) == want
    assert layer.classes == sorted(set(y.tolist()))


def test_what_the_user_gives_wins_and_is_checked():
    layer = prep.output_layer("classification", Y2, output="sigmoid")
    assert (layer.output, layer.loss, layer.n_out) == ("sigmoid", "binary_cross_entropy", 1)
    assert prep.output_layer("classification", Y2, output="tanh").n_out == 2  # one unit: sigmoid only
    assert prep.output_layer("classification", Y2, output="tanh", defaults=prep.PLAYGROUND).n_out == 1
    layer = prep.output_layer("regression", np.zeros((4, 2)))
    assert (layer.output, layer.loss, layer.n_out, layer.classes) == ("identity", "mse", 2, None)
    with pytest.raises(InvalidInputError, match=r"'y' of f.csv has one class only \('a'\); a classifier"):
        prep.output_layer("classification", np.array(["a", "a"]), target="y", source="f.csv")
    with pytest.raises(InvalidInputError, match="holds numbers.*use the identity output"):
        prep.output_layer("regression", np.zeros(3), output="softmax", defaults=prep.PLAYGROUND)
    with pytest.raises(InvalidInputError, match="sigmoid"):
        prep.output_layer("classification", Y3, loss="binary_cross_entropy")


def test_inputs_and_targets_in_the_networks_space():
    rng = np.random.default_rng(0)
    X, y = rng.normal(3.0, 2.0, size=(20, 3)), rng.normal(size=20) * 5 + 1
    layer = prep.output_layer("regression", y)
    p = prep.prepare("regression", X[:15], y[:15], layer, dtype=np.float64)
    mean, sd = X[:15].mean(axis=0), X[:15].std(axis=0)
    np.testing.assert_allclose(p.inputs(X[15:]), (X[15:] - mean) / sd, rtol=1e-12)
    Y, truth = p.targets(y[15:])
    np.testing.assert_allclose(Y[:, 0], (y[15:] - y[:15].mean()) / y[:15].std(), rtol=1e-12)
    assert np.array_equal(truth, y[15:])
    c = prep.prepare("classification", X, Y2[[0, 1, 2, 3, 4] * 4], prep.output_layer("classification", Y2),
                     standardize=False)
    assert c.inputs(X).dtype == np.float32 and np.array_equal(c.inputs(X), X.astype(np.float32))
    Y, idx = c.targets(np.array(["b", "a"]))
    assert np.array_equal(Y, [[0, 1], [1, 0]]) and np.array_equal(idx, [1, 0])


def test_class_quotas_are_hamiltons_method():
    assert class_quotas(np.array([5, 3, 2]), 5).tolist() == [3, 1, 1]  # 2.5, 1.5, 1.0: remainders to 0
    assert class_quotas(np.array([1, 9]), 5).tolist() == [0, 4]  # every class keeps a row (one less)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 97)
    for rows in (stratified_indices(y, 30, np.random.default_rng(2)),
                 stratified_rows(y, 30, np.random.default_rng(2))):
        assert rows.size == 30 and np.all(np.diff(rows) > 0)
        assert np.array_equal(np.bincount(y[rows], minlength=4), class_quotas(np.bincount(y), 30))
