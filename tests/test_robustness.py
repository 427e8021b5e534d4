"""Bad input gets a clear error: the library raises its own errors (ValueError/TypeError subclasses) whose
message names the argument and what is expected; the command line prints one ``error:`` line, exits
with status 2 and writes nothing. Property tests (hypothesis) throw random shapes, dtypes and values at
the public API: it either works or raises a BackpropError -- never an IndexError, a KeyError or a NumPy
warning (pytest turns warnings into errors).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import backprop
from backprop.errors import BackpropError, InvalidInputError, InvalidTypeError
from clitools import one_error_line as _one_error_line
from clitools import run_cli as _cli

RNG = np.random.default_rng(0)
X10 = RNG.normal(size=(10, 2))
Y10 = RNG.uniform(size=(10, 1))
LABELS10 = np.arange(10) % 3


def _net(sizes=(2, 3, 1), **kw):
    return backprop.Network(list(sizes), seed=0, **kw)


def _softmax(n_out=3, **kw):
    return backprop.Network([2, 4, n_out], output="softmax", seed=0, **kw)


# -- the list, at the library level ------------------------------------------------------------
CASES = [
    # (id, call, error class, the message must match)
    ("empty X", lambda: _net().fit(np.empty((0, 2)), np.empty((0, 1))), InvalidInputError, r"X is empty"),
    ("empty list", lambda: _net().fit([], []), InvalidInputError, r"X must be 2-D"),
    ("no columns", lambda: _net().predict(np.empty((3, 0))), InvalidInputError, r"X has no columns"),
    ("X/Y row mismatch", lambda: _net().fit(X10, Y10[:7]), InvalidInputError, r"X has 10 rows but Y has 7"),
    ("validation rows", lambda: _net().fit(X10, Y10, validation_data=(X10, Y10[:3])), InvalidInputError,
     r"X has 10 rows but Y has 3"),
    ("features at predict", lambda: _net().predict(np.zeros((4, 5))), InvalidInputError,
     r"X has 5 columns but the network expects 2"),
    ("features at fit", lambda: _net().fit(np.zeros((4, 3)), np.zeros(4)), InvalidInputError,
     r"X has 3 columns but the network expects 2"),
    ("Y columns", lambda: _net().fit(X10, np.zeros((10, 2))), InvalidInputError,
     r"Y has 2 columns but the network has 1 outputs"),
    ("NaN in X", lambda: _net().fit(np.where(X10 > 1, np.nan, X10), Y10), InvalidInputError,
     r"X contains NaN or infinity \(first at row \d+, column \d+\)"),
    ("inf in X at predict", lambda: _net().predict([[0.0, 1.0], [np.inf, 0.0]]), InvalidInputError,
     r"X contains NaN or infinity \(first at row 1, column 0\)"),
    ("NaN in Y", lambda: _net().fit(X10, np.r_[Y10[:9, 0], np.nan]), InvalidInputError,
     r"Y contains NaN or infinity \(first at row 9, column 0\)"),
    ("inf in Y", lambda: _net(output="identity").fit(X10, np.full(10, -np.inf)), InvalidInputError,
     r"Y contains NaN or infinity"),
    ("too large for float32", lambda: _net().predict(np.array([[1.0, 1e300]])), InvalidInputError,
     r"X holds a value too large for float32 \(first at row 0, column 1.*float64"),
    ("regression targets for softmax", lambda: _softmax().fit(X10, RNG.normal(size=(10, 3)) * 4,
                                                              loss="cross_entropy"),
     InvalidInputError, r"targets must lie in \[0, 1\] for a softmax output; use output='identity'"),
    ("non-one-hot rows for softmax", lambda: _softmax().fit(X10, np.full((10, 3), 0.9)), InvalidInputError,
     r"softmax output must be one-hot"),
    ("real numbers as class indices", lambda: _softmax().fit(X10, RNG.normal(size=10)), InvalidInputError,
     r"1-D Y must hold class indices 0..2"),
    ("class index too large", lambda: _softmax().fit(X10, np.arange(10)), InvalidInputError,
     r"class indices 0..2"),
    ("targets outside [0,1] for sigmoid", lambda: _net().fit(X10, Y10 * 5), InvalidInputError,
     r"\[0, 1\] for a sigmoid output"),
    ("lr = 0", lambda: _net().fit(X10, Y10, lr=0), InvalidInputError, r"lr must be a positive finite number"),
    ("lr < 0", lambda: _net().fit(X10, Y10, lr=-0.1), InvalidInputError, r"lr must be a positive finite"),
    ("lr nan", lambda: _net().fit(X10, Y10, lr=float("nan")),
     InvalidInputError, r"lr must be a positive finite"),
    ("lr inf", lambda: _net().fit(X10, Y10, lr=float("inf")),
     InvalidInputError, r"lr must be a positive finite"),
    ("lr text", lambda: _net().fit(X10, Y10, lr="0.1"), InvalidInputError, r"lr must be a positive number"),
    ("epochs 0", lambda: _net().fit(X10, Y10, epochs=0),
     InvalidInputError, r"epochs must be at least 1, got 0"),
    ("epochs -3", lambda: _net().fit(X10, Y10, epochs=-3), InvalidInputError, r"epochs must be at least 1"),
    ("epochs 2.5", lambda: _net().fit(X10, Y10, epochs=2.5), InvalidTypeError, r"epochs must be an integer"),
    ("batch_size 0", lambda: _net().fit(X10, Y10, batch_size=0), InvalidInputError,
     r"batch_size must be at least 1, got 0"),
    ("batch_size -4", lambda: _net().fit(X10, Y10, batch_size=-4),
     InvalidInputError, r"batch_size must be at least 1"),
    ("online with batch_size", lambda: _net().fit(X10, Y10, mode="online", batch_size=4), InvalidInputError,
     r"mode='online'"),
    ("unknown hidden", lambda: _net(hidden="swish"), InvalidInputError,
     r"unknown hidden activation 'swish'; valid names are: identity, sigmoid, tanh, relu"),
    ("softmax hidden", lambda: _net(hidden="softmax"), InvalidInputError,
     r"softmax is for the output layer only; choose a hidden activation from: identity"),
    ("unknown output", lambda: _net(output="probit"), InvalidInputError,
     r"unknown output activation 'probit'; valid names are: .*softmax"),
    ("unknown loss", lambda: _net().fit(X10, Y10, loss="hinge"), InvalidInputError,
     r"unknown loss 'hinge'; valid names are: mse, binary_cross_entropy, cross_entropy"),
    ("unknown optimizer", lambda: _net().fit(X10, Y10, optimizer="rmsprop"), InvalidInputError,
     r"unknown optimizer 'rmsprop'; valid names are: sgd, momentum, nesterov, adam"),
    ("unknown mode", lambda: _net().fit(X10, Y10, mode="stochastic"), InvalidInputError,
     r"unknown mode 'stochastic'; valid modes are: online, batch, minibatch"),
    ("unknown schedule", lambda: _net().fit(X10, Y10, schedule="cosine"), InvalidInputError,
     r"unknown schedule 'cosine'; valid names are"),
    ("unknown init", lambda: _net(init="lecun"), InvalidInputError, r"unknown init 'lecun'"),
    ("cross_entropy on sigmoid", lambda: _net().fit(X10, Y10, loss="cross_entropy"), InvalidInputError,
     r"loss 'cross_entropy' does not fit output activation 'sigmoid': use output='softmax'"),
    ("bce on identity", lambda: _net(output="identity").fit(X10, Y10, loss="binary_cross_entropy"),
     InvalidInputError, r"does not fit output activation 'identity'"),
    ("bce on softmax", lambda: _softmax().loss(X10, LABELS10, "binary_cross_entropy"), InvalidInputError,
     r"does not fit output activation 'softmax'"),
    ("softmax with one unit", lambda: _net(output="softmax"),
     InvalidInputError, r"softmax output needs at least 2"),
    ("zero width", lambda: _net((2, 0, 1)),
     InvalidInputError, r"sizes\[1\] is 0; every layer width must be at least 1"),
    ("negative width", lambda: _net((2, 3, -1)), InvalidInputError, r"sizes\[2\] is -1"),
    ("zero inputs", lambda: _net((0, 3, 1)), InvalidInputError, r"sizes\[0\] is 0"),
    ("float width", lambda: _net((2, 2.5, 1)), InvalidTypeError, r"sizes\[1\] must be an int"),
    ("one size only", lambda: _net((2,)), InvalidInputError, r"sizes needs at least an input and an output"),
    ("sizes not a list", lambda: backprop.Network(5),
     InvalidTypeError, r"sizes must be a list of layer widths"),
    ("hidden list length", lambda: _net((2, 3, 3, 1), hidden=["relu"]), InvalidInputError,
     r"hidden lists 1 activations but sizes has 2 hidden layers"),
    ("dtype", lambda: _net(dtype="float16"), InvalidInputError, r"dtype must be 'float32' or 'float64'"),
    ("seed text", lambda: backprop.Network([2, 1], seed="abc"),
     InvalidTypeError, r"seed must be None or a non-negative int"),
    ("seed negative", lambda: backprop.Network([2, 1], seed=-5),
     InvalidInputError, r"seed must be None or a non-negative"),
    ("fit seed", lambda: _net().fit(X10, Y10, seed=1.5), InvalidTypeError, r"seed must be None"),
    ("X text", lambda: _net().predict("1,2"), InvalidTypeError, r"X must be a 2-D array of numbers, got str"),
    ("X None", lambda: _net().predict(None), InvalidTypeError, r"X must be a 2-D array"),
    ("X strings", lambda: _net().predict([["a", "b"]]),
     InvalidInputError, r"X must hold numbers only, got dtype <U1"),
    ("X objects", lambda: _net().predict(np.array([[1, None]], dtype=object)), InvalidInputError,
     r"X must hold numbers only, got dtype object"),
    ("X ragged", lambda: _net().predict([[1, 2], [3]]),
     InvalidInputError, r"X could not be read as an array"),
    ("X complex", lambda: _net().predict(np.ones((2, 2), complex)),
     InvalidInputError, r"X holds complex numbers"),
    ("X dates", lambda: _net().predict(np.array([["2020-01-01", "2020-01-02"]], "datetime64[D]")),
     InvalidInputError, r"X must hold numbers only, got dtype datetime64"),
    ("X 3-D", lambda: _net().predict(np.zeros((2, 2, 2))),
     InvalidInputError, r"X must be 2-D .* shape \(2, 2, 2\)"),
    ("Y ragged", lambda: _net().fit(X10, [[1]] * 9 + [[1, 2]]), InvalidInputError, r"Y could not be read"),
    ("Y text", lambda: _net().fit(X10, np.array(["a"] * 10)), InvalidInputError, r"Y must hold numbers only"),
    ("Y None", lambda: _net().fit(X10, None), InvalidTypeError, r"Y must be an array of targets"),
    ("Y complex indices", lambda: _softmax().fit(X10, np.zeros(10, complex)), InvalidInputError,
     r"Y holds complex numbers"),
    ("l2 negative", lambda: _net().fit(X10, Y10, l2=-1),
     InvalidInputError, r"l2 must be a finite number >= 0"),
    ("momentum > 1", lambda: _net().fit(X10, Y10, optimizer="momentum", momentum=1.5), InvalidInputError,
     r"momentum must be a finite number in \[0, 1\], got 1.5"),
    ("momentum text", lambda: _net().fit(X10, Y10, optimizer="momentum", momentum="high"), InvalidTypeError,
     r"momentum must be a number"),
    ("beta_1 = 1", lambda: _net().fit(X10, Y10, optimizer="adam", beta_1=1.0), InvalidInputError,
     r"beta_1 must be a finite number in \[0, 1\)"),
    ("beta_2 nan", lambda: _net().fit(X10, Y10, optimizer="adam", beta_2=float("nan")), InvalidInputError,
     r"beta_2 must be a finite number"),
    ("epsilon 0", lambda: _net().fit(X10, Y10, optimizer="adam", epsilon=0), InvalidInputError,
     r"epsilon must be a finite number in \(0, inf\)"),
    ("power_t text", lambda: _net().fit(X10, Y10, schedule="invscaling", power_t="x"), InvalidTypeError,
     r"power_t must be a number"),
    ("gamma 0", lambda: _net().fit(X10, Y10, schedule="exponential", gamma=0),
     InvalidInputError, r"gamma must be"),
    ("early_stopping 0", lambda: _net().fit(X10, Y10, early_stopping=0), InvalidInputError,
     r"early_stopping must be at least 1"),
    ("min_delta nan", lambda: _net().fit(X10, Y10, min_delta=float("nan")),
     InvalidInputError, r"min_delta must be"),
    ("validation not a pair", lambda: _net().fit(X10, Y10, validation_data=X10), InvalidInputError,
     r"validation_data must be a pair"),
    ("callbacks not functions", lambda: _net().fit(X10, Y10, callbacks=[1]), InvalidTypeError,
     r"each of callbacks must be a function"),
    ("callbacks not a list", lambda: _net().fit(X10, Y10, callbacks=3), InvalidInputError,
     r"callbacks must be a list of functions"),
    ("on_step not a function", lambda: _net().fit(X10, Y10, on_step="print"), InvalidTypeError,
     r"on_step must be a function"),
    ("weights of wrong shape", lambda: _broken_weights().fit(X10, Y10), InvalidInputError,
     r"net.weights\[0\] has shape \(3, 3\), expected \(2, 3\)"),
]


def _broken_weights():
    net = _net()
    net.weights[0] = np.zeros((3, 3), np.float32)
    return net


@pytest.mark.parametrize("call, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, BackpropError)
    # the built-in type a caller expects too
    assert isinstance(info.value, ValueError if error is InvalidInputError else TypeError)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_non_finite_value_of_a_large_x_is_found_and_large_finite_rows_pass(dtype):
    """X's check sums each row on the BLAS threads: a NaN or infinity anywhere -- first, last, inside a
    row, or +inf and -inf in one row (their sum is NaN) -- is reported at its own place (found
    independently, by np.isfinite), and finite rows whose sums overflow are accepted, not refused."""
    from backprop.core.validation import as_matrix

    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 131)).astype(dtype)
    for places, bad in [([(0, 0)], np.nan), ([(999, 130)], np.inf), ([(517, 64)], -np.inf),
                        ([(3, 5), (3, 77)], None)]:
        Xb = X.copy()
        for k, (r, c) in enumerate(places):
            Xb[r, c] = bad if bad is not None else (np.inf if k == 0 else -np.inf)
        first = tuple(int(v) for v in np.argwhere(~np.isfinite(Xb))[0])
        with pytest.raises(InvalidInputError, match=rf"X contains NaN or infinity \(first at row {first[0]}, "
                                                    rf"column {first[1]}\)"):
            as_matrix(Xb, "X", dtype)
    big = np.full((4, 8), np.finfo(dtype).max / 2, dtype=dtype)  # each row's sum overflows
    big[1] *= -1
    out = as_matrix(big, "X", dtype)
    with np.errstate(over="ignore"):
        assert np.isinf(big.sum(axis=1)).all()
    np.testing.assert_array_equal(out, big)


def test_a_failed_fit_leaves_the_network_untouched():
    net = _net()
    before = [p.copy() for p in net.weights + net.biases]
    for bad in (dict(lr=0), dict(epochs=0), dict(loss="hinge"), dict(batch_size=0)):
        with pytest.raises(BackpropError):
            net.fit(X10, Y10, **bad)
    with pytest.raises(BackpropError):
        net.fit(np.where(X10 > 1, np.nan, X10), Y10)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights + net.biases))


def test_batch_size_larger_than_the_data_is_clipped_with_a_warning():
    net = _net()
    with pytest.warns(UserWarning, match=r"batch_size=64 is larger than the 10 samples; using 10"):
        h = net.fit(X10, Y10, batch_size=64, epochs=2)
    assert h.batch_size == 10 and h.updates_per_epoch == 1
    # the same result as asking for the whole batch
    ref = _net()
    ref.fit(X10, Y10, batch_size=10, epochs=2)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, ref.weights))


def test_the_default_batch_size_is_cut_to_m_silently():
    h = _net().fit(X10, Y10, epochs=1)  # default 32 > 10: no warning (the user did not ask for 32)
    assert h.batch_size == 10


# -- property tests ---------------------------------------------------------------------------------------
_DTYPES = st.sampled_from([
    np.bool_, np.int8, np.int64, np.uint64, np.float16, np.float32, np.float64, np.longdouble,
    np.complex64, np.dtype("datetime64[s]"), np.dtype("timedelta64[ms]"), np.dtype("U3"), np.dtype(object),
])


def _arrays(max_dims=3, max_side=4):
    return _DTYPES.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side),
        elements=None if dt != np.dtype(object) else st.one_of(st.none(), st.floats(), st.text(max_size=2)),
    ))


_ANYTHING = st.one_of(
    _arrays(),
    st.none(), st.text(max_size=5), st.integers(), st.floats(),
    st.lists(st.lists(st.one_of(st.floats(), st.integers(-10**30, 10**30), st.text(max_size=2)), max_size=4),
             max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _ok_or_own_error(fn):
    """Run fn: return its result, or None if it raised a BackpropError. Anything else fails the test,
    and so does any warning but the documented batch-size clipping."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except BackpropError:
            result = None
    for w in caught:
        assert issubclass(w.category, UserWarning) and "batch_size=" in str(w.message), w
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=_ANYTHING, dtype=st.sampled_from(["float32", "float64"]))
def test_predict_on_anything_works_or_raises_its_own_error(X, dtype):
    net = backprop.Network([3, 4, 2], hidden="tanh", output="identity", seed=0, dtype=dtype)
    yhat = _ok_or_own_error(lambda: net.predict(X))
    if yhat is not None:
        assert yhat.dtype == net.dtype and yhat.ndim == 2 and yhat.shape[1] == 2
        assert np.isfinite(yhat).all()


_OUTPUTS = st.sampled_from(["identity", "sigmoid", "tanh", "softmax", "relu", "probit", 3])
_LOSSES = st.sampled_from(["mse", "binary_cross_entropy", "cross_entropy", "hinge", None])
#: a valid loss for each output activation
_HEADS = [("identity", "mse"), ("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy"),
          ("tanh", "mse"), ("softmax", "mse"), ("relu", "mse")]
_SETTINGS = {  # (valid values, anything else)
    "lr": (st.sampled_from([0.5, 0.1, 1e-3]),
           st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["0.1", None, -1]))),
    "epochs": (st.integers(1, 3), st.one_of(st.integers(-2, 0), st.sampled_from([1.5, "2", True]))),
    "batching": (  # mode and batch_size together: not every pair fits
        st.one_of(st.just({}), st.sampled_from([{"mode": "online"}, {"mode": "batch"}]),
                  st.builds(lambda b, mode: {"batch_size": b, **mode}, st.integers(1, 8),
                            st.sampled_from([{}, {"mode": "minibatch"}]))),
        st.one_of(st.builds(lambda b: {"batch_size": b}, st.one_of(st.integers(-2, 0), st.just(2.0))),
                  st.sampled_from([{"mode": "full"}, {"mode": 0}, {"mode": "online", "batch_size": 3}]))),
    "optimizer": (st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
                  st.sampled_from(["rmsprop", None])),
    "l2": (st.sampled_from([0.0, 1e-3]), st.one_of(st.floats(max_value=-1e-9), st.just(float("nan")))),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(1, 6), n=st.integers(1, 3), n_out=st.integers(1, 3),
    head=st.sampled_from(_HEADS),
    x_dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int16, np.bool_]),
    dtype=st.sampled_from(["float32", "float64"]),
    corrupt=st.sampled_from([None, None, None, "X", "X values", "Y", "Y values", "head", *_SETTINGS]),
    data=st.data(),
)
def test_fit_on_random_data_and_settings_works_or_raises_its_own_error(m, n, n_out, head, x_dtype, dtype,
                                                                       corrupt, data):
    """Valid data and settings with (usually) one thing wrong: training works or says what is wrong."""
    output, loss = head
    if output == "softmax":
        n_out = max(n_out, 2)
    draw = data.draw
    if corrupt == "X":
        X = draw(_ANYTHING, label="X")
    else:
        if corrupt == "X values" or x_dtype in (np.int16, np.bool_):
            elements = None  # anything the dtype holds
        else:
            elements = st.floats(-1e3, 1e3, width=16 if x_dtype == np.float16 else 64)
        X = draw(hnp.arrays(x_dtype, (m, n), elements=elements), label="X")
    if corrupt == "Y":
        Y = draw(_ANYTHING, label="Y")
    elif corrupt == "Y values":
        Y = draw(hnp.arrays(np.float64, draw(st.sampled_from([(m, n_out), (m,), (m + 1, n_out)]))), label="Y")
    elif output == "softmax":
        Y = draw(hnp.arrays(np.int64, (m,), elements=st.integers(0, n_out - 1)), label="Y")
    elif output == "sigmoid":
        Y = draw(hnp.arrays(np.float64, (m, n_out), elements=st.sampled_from([0.0, 1.0, 0.25])), label="Y")
    elif output == "tanh":
        Y = draw(hnp.arrays(np.float64, (m, n_out), elements=st.floats(-1, 1)), label="Y")
    else:
        Y = draw(hnp.arrays(np.float64, (m, n_out), elements=st.floats(-1e3, 1e3)), label="Y")
    if corrupt == "head":
        output, loss = draw(_OUTPUTS, label="output"), draw(_LOSSES, label="loss")
    kw = {name: draw(bad if name == corrupt else good, label=name) for name, (good, bad) in _SETTINGS.items()}
    kw.update(kw.pop("batching"))
    if loss is not None:
        kw["loss"] = loss

    def run():
        net = backprop.Network([n, 3, n_out], output=output, seed=1, dtype=dtype)
        return net, net.fit(X, Y, **kw)

    result = _ok_or_own_error(run)
    event("trained" if result is not None else "refused")
    if result is not None:
        net, history = result
        assert all(np.isfinite(p).all() for p in net.weights + net.biases)
        assert history.epochs >= 1 and all(math.isfinite(v) for v in history.loss)
    elif corrupt is None:  # nothing was wrong: only divergence may stop it
        with pytest.raises(backprop.DivergenceError):
            run()


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.one_of(st.lists(st.one_of(st.integers(-2, 4), st.floats(0, 3), st.text(max_size=1), st.none()),
                             max_size=4), _ANYTHING),
    hidden=st.one_of(st.sampled_from(["relu", "tanh", "softmax", "bogus", "", None, 7]),
                     st.lists(st.sampled_from(["relu", "gelu", "nope", 1]), max_size=3)),
    output=_OUTPUTS,
    dtype=st.sampled_from(["float32", "float64", "float16", "int32", None, 3, "f8"]),
    seed=st.one_of(st.none(), st.integers(-3, 2**70), st.floats(), st.text(max_size=2)),
    init=st.sampled_from(["auto", "xavier", "he", "normal", None]),
)
def test_network_construction_works_or_raises_its_own_error(sizes, hidden, output, dtype, seed, init):
    net = _ok_or_own_error(lambda: backprop.Network(sizes, hidden=hidden, output=output, dtype=dtype,
                                                    seed=seed, init=init))
    if net is not None:
        assert all(n >= 1 for n in net.sizes)
        assert [w.shape for w in net.weights] == list(zip(net.sizes[:-1], net.sizes[1:]))
        assert all(np.isfinite(p).all() for p in net.weights + net.biases)


@settings(max_examples=200, deadline=None)
@given(X=_ANYTHING, Y=_ANYTHING, loss=_LOSSES, head=st.sampled_from(["identity", "sigmoid", "softmax"]))
def test_loss_trace_and_gradcheck_work_or_raise_their_own_error(X, Y, loss, head):
    net = backprop.Network([3, 2, 2], output=head, seed=0, dtype="float64")
    loss = loss or "mse"
    value = _ok_or_own_error(lambda: net.loss(X, Y, loss))
    if value is not None:
        assert isinstance(value, float)
    _ok_or_own_error(lambda: net.trace(X, Y, loss))
    _ok_or_own_error(lambda: backprop.gradcheck(net, X, Y, loss))


# -- the command line -----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.csv").write_text("a,b,label\n" + "".join(
        f"{i % 7},{(i * 3) % 5},{'cat' if i % 2 else 'dog'}\n" for i in range(40)))
    (tmp_path / "badnum.csv").write_text("a,b,label\n1,2,cat\n3,4,dog\n5,six,cat\n7,8,dog\n9,oops,cat\n")
    (tmp_path / "nan.csv").write_text("a,b,label\n1,2,cat\n3,nan,dog\n5,6,cat\n")
    (tmp_path / "one.csv").write_text("a,b,label\n1,2,cat\n3,4,cat\n5,6,cat\n")
    (tmp_path / "unseen.csv").write_text("a,b,label\n1,2,cat\n3,4,bird\n")
    (tmp_path / "reg.csv").write_text("a,b,y\n1,2,0.5\n3,4,1.25\n5,6,-2\n7,1,3\n")
    (tmp_path / "wide.csv").write_text("a,c,d,label\n1,2,3,cat\n4,5,6,dog\n")  # no column b
    return tmp_path


def _train_model(files, capsys):
    status, _, err = _cli(["train", "ok.csv", "--layers", "4", "--epochs", "2", "--quiet",
                           "--out", "model.safetensors"], capsys)
    assert status == 0, err
    return files / "model.safetensors"


TRAIN_ERRORS = [
    (["badnum.csv"], r"column 'b' of badnum.csv is not numeric: 'six' at row 3"),
    (["nan.csv"], r"column 'b' of nan.csv holds NaN or infinity at row 2"),
    (["ok.csv", "--target", "price"],
     r"target column 'price' is not in ok.csv; its columns are: a, b, label"),
    (["one.csv"], r"one class only \('cat'\); a classifier needs at least two"),
    (["reg.csv", "--output", "softmax"],
     r"holds numbers \(regression\), which a softmax output cannot produce"),
    (["ok.csv", "--lr", "0"], r"lr must be a positive finite number"),
    (["ok.csv", "--lr", "nan"], r"lr must be a positive finite number, got nan"),
    (["ok.csv", "--epochs", "0"], r"epochs must be at least 1, got 0"),
    (["ok.csv", "--batch-size", "0"], r"batch_size must be at least 1, got 0"),
    (["ok.csv", "--hidden", "swish"], r"unknown activation 'swish'; valid names are: identity, sigmoid"),
    (["ok.csv", "--output", "probit"], r"unknown output activation 'probit'; valid names are"),
    (["ok.csv", "--loss", "hinge"], r"unknown loss 'hinge'; valid names are: mse, binary_cross_entropy"),
    (["ok.csv", "--optimizer", "rmsprop"], r"'rmsprop' is not one of 'sgd', 'momentum', 'nesterov', 'adam'"),
    (["ok.csv", "--output", "sigmoid", "--loss", "cross_entropy"],
     r"loss 'cross_entropy' does not fit output"),
    (["ok.csv", "--layers", "4,0"], r"--layers must be comma-separated positive widths"),
    (["missing.csv"], r"missing.csv"),
    (["ok.csv", "--resume", "missing.ckpt"], r"missing.ckpt does not exist"),
]


@pytest.mark.parametrize("args, match", TRAIN_ERRORS, ids=[" ".join(a) for a, _ in TRAIN_ERRORS])
def test_cli_train_bad_input_is_one_error_line_and_writes_nothing(files, capsys, args, match):
    import re

    (files / "model.safetensors").write_bytes(b"previous model")  # must survive untouched
    before = sorted(os.listdir(files))
    more = [] if "--epochs" in args else ["--epochs", "2"]
    status, out, err = _cli(["train", *args, *more, "--out", "model.safetensors", "--checkpoint", "run.ckpt",
                             "--quiet"], capsys)
    assert status == 2
    assert re.search(match, _one_error_line(err)), err
    assert sorted(os.listdir(files)) == before  # no model, no checkpoint, no temporary file
    assert (files / "model.safetensors").read_bytes() == b"previous model"


def _model_file_variants(model):
    """Damaged copies of a valid model file: (name, bytes, what the error must say)."""
    import json
    import struct

    data = model.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])

    def rewrite(mutate):
        h = json.loads(json.dumps(header))
        mutate(h)
        raw = json.dumps(h).encode()
        return struct.pack("<Q", len(raw)) + raw + data[8 + n:]

    def newer(h):
        doc = json.loads(h["__metadata__"]["backprop"])
        doc["format_version"] = 1000
        h["__metadata__"]["backprop"] = json.dumps(doc)

    def wrong_shape(h):
        doc = json.loads(h["__metadata__"]["backprop"])
        doc["meta"]["network"]["sizes"][1] += 1
        h["__metadata__"]["backprop"] = json.dumps(doc)

    return [
        ("missing", None, r"does not exist"),
        ("truncated", data[: len(data) // 2], r"truncated"),
        ("empty", b"", r"truncated|only 0 bytes"),
        ("not-safetensors", b"PK\x03\x04" + b"\x00" * 64, r"zip archive|not a safetensors"),
        ("text", b"layers: 4\nweights: [1, 2]\n" * 4, r"not a safetensors|truncated"),
        ("pickle", b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.", r"pickle"),
        ("newer-format", rewrite(newer), r"newer backprop"),
        ("wrong-shapes", rewrite(wrong_shape), r"shape"),
        ("wrong-dtype", rewrite(lambda h: h["weights.0"].update(dtype="F64")), r"dtype|bytes|shape"),
    ]


def test_cli_damaged_model_files_are_one_error_line_and_write_nothing(files, capsys):
    import re

    model = _train_model(files, capsys)
    for name, content, match in _model_file_variants(model):
        path = files / f"{name}.safetensors"
        if content is not None:
            path.write_bytes(content)
        for cmd in (["info", path], ["evaluate", path, "ok.csv"],
                    ["predict", path, "ok.csv", "--out", "p.csv"]):
            before = sorted(os.listdir(files))
            status, out, err = _cli(cmd, capsys)
            assert status == 2, (name, cmd, err)
            assert re.search(match, _one_error_line(err)), (name, err)
            assert sorted(os.listdir(files)) == before
        assert backprop.load(model).sizes  # the original is untouched


def test_cli_prediction_errors_name_the_problem(files, capsys):
    import re

    model = _train_model(files, capsys)
    (files / "p.csv").write_text("keep me")
    for args, match in [
        (["evaluate", model, "unseen.csv"], r"label .*bird.*which the model cannot produce; its classes are"),
        (["evaluate", model, "wide.csv"],
         r"has 3 feature columns but the model expects 2 \(missing by name: b\)"),
        (["predict", model, "badnum.csv", "--out", "p.csv"], r"column 'b' of badnum.csv is not numeric"),
        (["predict", model, "nan.csv", "--out", "p.csv"], r"NaN or infinity"),
        (["evaluate", model, "ok.csv", "--target", "nope"], r"target column 'nope' is not in ok.csv"),
    ]:
        status, out, err = _cli(args, capsys)
        assert status == 2, (args, err)
        assert re.search(match, _one_error_line(err)), err
    assert (files / "p.csv").read_text() == "keep me"


def _console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "backprop")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "backprop"]


def test_cli_through_the_console_script_error_and_debug(tmp_path):
    """The installed entry point: exit 2 and one line; --debug adds the traceback."""
    missing = tmp_path / "nope.safetensors"
    plain = subprocess.run([*_console_script(), "info", str(missing)], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.strip() == f"error: model file {missing} does not exist"
    assert plain.stdout == ""
    debug = subprocess.run([*_console_script(), "--debug", "info", str(missing)], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr and "ModelFileError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
    assert os.listdir(tmp_path) == []
