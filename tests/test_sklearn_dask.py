"""The estimators' ``fit`` on Dask arrays trains on the cluster of the active client.

Oracle: the same estimator fitted on the same rows as NumPy arrays -- eq. (3) is a sum over the
batch's rows, so adding the workers' partial sums gives the same updates to float rounding.
One LocalCluster of 2 worker processes on 127.0.0.1 (no dashboard) for the module; waits bounded.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import backprop
from backprop import MLPClassifier, MLPRegressor
from backprop.errors import InvalidInputError

da = pytest.importorskip("dask.array")  # CI installs the dask extra; a local run without it says why
distributed = pytest.importorskip("distributed")

TIMEOUT = 60  # seconds for any wait on the cluster
RTOL = 1e-10  # float64: a few hundred updates of sums taken in another order


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, timeout=TIMEOUT)
    client.wait_for_workers(2, timeout=TIMEOUT)
    with client.as_current():
        yield client
    client.close(timeout=TIMEOUT)
    cluster.close(timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    labels = np.array(["a", "b", "c"])[np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])]
    return X, labels, np.tanh(X @ rng.normal(size=(4, 2)))


def _assert_same(a, b):
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=RTOL)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_allclose(p, q, rtol=0, atol=RTOL * max(1.0, float(np.abs(q).max())))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_classifier_on_dask_arrays_as_on_numpy(client, solver):
    X, labels, _ = _data()
    params = dict(hidden_layer_sizes=(6,), solver=solver, batch_size=32, learning_rate_init=0.05,
                  max_iter=8, random_state=0)
    local = MLPClassifier(**params).fit(X, labels)
    on_cluster = MLPClassifier(**params).fit(da.from_array(X, chunks=(40, 4)),
                                             da.from_array(labels, chunks=40))
    assert_array_equal(on_cluster.classes_, local.classes_)
    _assert_same(on_cluster, local)
    assert_array_equal(on_cluster.predict(X), local.predict(X))
    # partial_fit goes on on the cluster, as it does locally
    on_cluster.partial_fit(da.from_array(X, chunks=(30, 4)), da.from_array(labels, chunks=30))
    local.partial_fit(X, labels)
    _assert_same(on_cluster, local)


def test_regressor_on_dask_arrays_as_on_numpy(client, monkeypatch):
    X, _, Y = _data(seed=1)
    params = dict(hidden_layer_sizes=(5,), activation="tanh", alpha=0.01, batch_size=25,
                  shuffle=True, max_iter=6, random_state=2)
    local = MLPRegressor(**params).fit(X, Y)
    sources = []
    run_source = backprop.Trainer.run_source
    monkeypatch.setattr(backprop.Trainer, "run_source",
                        lambda self, source: sources.append(source) or run_source(self, source))
    on_cluster = MLPRegressor(**params).fit(da.from_array(X, chunks=(50, 4)), Y)  # NumPy targets too
    # the gradients came from the workers' shards: the rows never came to this process
    assert len(sources) == 1 and sources[0].n_shards == 2 and sources[0].updates == 6 * 5
    _assert_same(on_cluster, local)
    assert on_cluster.n_features_in_ == 4


def test_what_a_cluster_fit_refuses(client):
    X, labels, Y = _data()
    dX = da.from_array(X, chunks=(40, 4))
    with pytest.raises(InvalidInputError, match="sample_weight"):
        MLPRegressor(max_iter=2).fit(dX, Y, sample_weight=np.ones(len(X)))
    with pytest.raises(InvalidInputError, match="lbfgs"):
        MLPRegressor(solver="lbfgs").fit(dX, Y)
    with pytest.raises(InvalidInputError, match="early_stopping"):
        MLPClassifier(early_stopping=True).fit(dX, labels)
    with pytest.raises(InvalidInputError, match="multilabel"):
        MLPClassifier().fit(dX, da.from_array((Y > 0).astype(int), chunks=(40, 2)))


def test_dask_data_frame_and_series(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, labels, _ = _data(seed=3)
    frame = pd.DataFrame(X, columns=["p", "q", "r", "s"])
    params = dict(hidden_layer_sizes=(4,), batch_size=30, max_iter=4, random_state=0)
    local = MLPClassifier(**params).fit(frame, labels)
    on_cluster = MLPClassifier(**params).fit(dd.from_pandas(frame, npartitions=3),
                                             dd.from_pandas(pd.Series(labels), npartitions=3))
    assert list(on_cluster.feature_names_in_) == ["p", "q", "r", "s"]
    _assert_same(on_cluster, local)
    assert_array_equal(on_cluster.predict(frame), local.predict(frame))
