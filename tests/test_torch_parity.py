"""Loss, forward pass and gradients equal PyTorch autograd (float64); optimizer steps equal an
independent NumPy transcription of scikit-learn's formulas."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors, and xdist workers share two cores; other modules get their setting back."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TORCH_ACT = {
    "identity": lambda h: h,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda h: F.leaky_relu(h, negative_slope=0.01),
    "elu": lambda h: F.elu(h, alpha=1.0),
    # torch switches to h itself above threshold (20 by default): an approximation of 2e-9 there,
    # while the engine is exact; above 40 e^-h is below float64 resolution, so both are exact.
    "softplus": lambda h: F.softplus(h, threshold=40.0),
    "gelu": lambda h: F.gelu(h, approximate="tanh"),
    "softmax": lambda h: torch.softmax(h, dim=1),
}


def torch_loss(loss, Y, yhat, h):
    m = Y.shape[0]
    if loss == "mse":
        return ((Y - yhat) ** 2).sum() / (2 * m)
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(h, Y, reduction="sum") / m
    if loss == "cross_entropy":
        return F.cross_entropy(h, Y, reduction="sum") / m  # probability targets
    raise KeyError(loss)


def torch_run(Ws, bs, acts, loss, X, Y):
    """Forward pass, loss and autograd gradients: (hs, as_, E, gW, gb) as NumPy arrays."""
    Wt = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in Ws]
    bt = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    a = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y, dtype=torch.float64)
    hs, as_ = [], []
    for W, b, act in zip(Wt, bt, acts):
        h = a @ W + b
        a = TORCH_ACT[act](h)
        hs.append(h)
        as_.append(a)
    E = torch_loss(loss, Yt, a, hs[-1])
    E.backward()
    np_ = lambda ts: [t.detach().numpy() for t in ts]  # noqa: E731
    return np_(hs), np_(as_), E.item(), np_([W.grad for W in Wt]), np_([b.grad for b in bt])


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradients_equal_autograd(oracle, engine_hidden, engine_output_loss, seed):
    output, loss = engine_output_loss
    rng = np.random.default_rng([seed, 17, oracle.HIDDEN.index(engine_hidden),
                                 oracle.OUTPUT_LOSS_PAIRS.index(engine_output_loss)])
    n_hidden = int(rng.integers(1, 4))
    sizes = ([int(rng.integers(1, 8))] + [int(rng.integers(1, 9)) for _ in range(n_hidden)]
             + [int(rng.integers(2 if output == "softmax" else 1, 6))])
    m = int(rng.integers(1, 20))
    net = oracle.random_net(rng, sizes, engine_hidden, output, weight_scale=1.5)
    X = rng.normal(size=(m, sizes[0])) * 2
    Y = oracle.random_targets(rng, output, loss, m, sizes[-1])

    hs, as_, E, gW, gb = torch_run(net.weights, net.biases, oracle.act_names(net), loss, X, Y)
    tr = net.trace(X, Y, loss=loss)
    assert tr.loss == pytest.approx(E, rel=1e-12, abs=1e-15)
    assert net.loss(X, Y, loss) == pytest.approx(E, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(net.predict(X), as_[-1], rtol=1e-12, atol=1e-15)
    for k in range(net.n_layers):
        np.testing.assert_allclose(tr.h[k], hs[k], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(tr.a[k], as_[k], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(tr.grad_weights[k], gW[k], rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(tr.grad_biases[k], gb[k], rtol=1e-9, atol=1e-13)


def test_one_hot_class_index_targets_equal_autograd(oracle):
    """A 1-D Y of class indices is one-hot encoded: same loss as torch's class-index cross entropy."""
    rng = np.random.default_rng(3)
    net = oracle.random_net(rng, [4, 6, 3], "relu", "softmax")
    X = rng.normal(size=(9, 4))
    y = rng.integers(0, 3, 9)
    h = torch.tensor(X) @ torch.tensor(net.weights[0]) + torch.tensor(net.biases[0])
    h = F.relu(h) @ torch.tensor(net.weights[1]) + torch.tensor(net.biases[1])
    E = F.cross_entropy(h, torch.tensor(y), reduction="mean").item()
    assert net.loss(X, y, "cross_entropy") == pytest.approx(E, rel=1e-12)


# -- one optimizer step against scikit-learn's formulas (written out in NumPy) ----------------------
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_optimizer_steps_equal_sklearn_formulas(oracle, name):
    rng = np.random.default_rng(42)
    net = oracle.random_net(rng, [3, 5, 2], "tanh", "sigmoid")
    X = rng.normal(size=(8, 3))
    Y = rng.uniform(0, 1, (8, 2))
    acts = oracle.act_names(net)
    Ws, bs = start = oracle.params(net)
    lr = 0.05
    state = {}
    n_steps = 3
    for _ in range(n_steps):  # three full-batch steps: the state (velocity, moments) is used too
        _, _, _, gW, gb = torch_run(Ws, bs, acts, "mse", X, Y)
        upd = oracle.sklearn_updates(name, gW + gb, state, lr)
        Ws = [W + u for W, u in zip(Ws, upd[:2])]
        bs = [b + u for b, u in zip(bs, upd[2:])]
    hist = net.fit(X, Y, loss="mse", mode="batch", epochs=n_steps, lr=lr, optimizer=name, shuffle=False)
    assert hist.n_updates == n_steps
    for got, want in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    # and the parameters did move
    assert all(not np.allclose(W, W0) for W, W0 in zip(net.weights, start[0]))
