"""End-to-end learning: XOR, a sine regression and scikit-learn's digits (each well under a second)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import backprop

X_XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y_XOR = np.array([0, 1, 1, 0], dtype=float)


@pytest.mark.parametrize("seed", range(4))
def test_2_3_1_sigmoid_network_learns_xor_in_batch_mode(seed):
    net = backprop.Network([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=seed, dtype="float64")
    hist = net.fit(X_XOR, Y_XOR, loss="mse", mode="batch", epochs=3000, lr=2.0)
    yhat = net.predict(X_XOR).ravel()
    assert np.all((yhat > 0.5) == (Y_XOR > 0.5)), yhat
    assert hist.loss[-1] < hist.loss[0] / 5


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
def test_xor_online_float32(loss):
    net = backprop.Network([2, 3, 1], seed=1)  # float32, the default
    net.fit(X_XOR, Y_XOR, loss=loss, mode="online", epochs=1500, lr=1.0)
    yhat = net.predict(X_XOR).ravel()
    assert yhat.dtype == np.float32
    assert np.all((yhat > 0.5) == (Y_XOR > 0.5)), yhat


def test_sine_regression_reaches_a_low_mse():
    x = np.linspace(-np.pi, np.pi, 200).reshape(-1, 1)
    net = backprop.Network([1, 16, 1], hidden="tanh", output="identity", seed=0)
    start = net.loss(x, np.sin(x))
    hist = net.fit(x, np.sin(x), optimizer="adam", lr=0.01, epochs=300, batch_size=16)
    assert hist.loss[-1] < start / 50
    assert net.loss(x, np.sin(x)) < 1e-3  # E = 1/(2m) sum (y - yhat)^2
    x_between = (x[:-1] + x[1:]) / 2  # points it never saw
    assert r2_score(np.sin(x_between), net.predict(x_between)) > 0.995


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.3, random_state=0,
                                          stratify=d.target)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


@pytest.mark.parametrize("hidden, optimizer, lr", [("relu", "sgd", 0.1), ("tanh", "adam", 1e-3)])
def test_softmax_classifies_digits(digits, hidden, optimizer, lr):
    Xtr, Xte, ytr, yte = digits
    net = backprop.Network([64, 64, 10], hidden=hidden, output="softmax", seed=0)
    hist = net.fit(Xtr, ytr, loss="cross_entropy", optimizer=optimizer, lr=lr, epochs=20, batch_size=32,
                   validation_data=(Xte, yte))
    accuracy = np.mean(net.predict(Xte).argmax(axis=1) == yte)
    assert accuracy > 0.95
    assert hist.val_metric[-1] == pytest.approx(accuracy)
    assert hist.loss[-1] < hist.loss[0]
