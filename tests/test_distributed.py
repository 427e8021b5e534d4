"""Training on a Dask cluster (backprop.distributed) against training in one process.

One LocalCluster of 2 worker processes on 127.0.0.1 (no dashboard) serves the module; every wait
on it is bounded. The oracle is ``Network.fit`` on the same arrays: eq. (3) is a sum over the
samples, so summing per-worker partial sums must give the same updates, to float rounding.
"""

from __future__ import annotations

import logging
import os
import signal
import tracemalloc

import dask.array as da  # the dask extra: CI installs it
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import pytest

import backprop
from backprop import Network
from backprop.distributed import DistributedError, connect, fit, train
from backprop.distributed.cluster import LOOPBACK_HTTP
from backprop.errors import InvalidInputError, InvalidTypeError

RTOL = 1e-10  # float64: a few hundred updates of sums taken in another order
TIMEOUT = 60  # seconds for any wait on the cluster


def _cluster(n):
    return distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP,
                                    silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def cluster():
    cl = _cluster(2)
    client = distributed.Client(cl, timeout=TIMEOUT)
    client.wait_for_workers(2, timeout=TIMEOUT)
    yield cl, client
    client.close(timeout=TIMEOUT)
    cl.close(timeout=TIMEOUT)


@pytest.fixture
def client(cluster):
    _, client = cluster
    client.wait_for_workers(2, timeout=TIMEOUT)  # a test that killed a worker waits for its restart
    return client


def _data(m=90, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n_in))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)
    return X, Y


def _dask(X, Y, rows=25):
    # uneven blocks (25, 25, 25, 15): a shard holds several blocks, batches cross block edges
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(Y, chunks=(rows,) + Y.shape[1:])


def _assert_same_net(a, b, rtol=RTOL):
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol * np.abs(q).max())


def _net(sizes=(3, 5, 1), **kw):
    return Network(list(sizes), seed=1, dtype="float64", **kw)


# -- the gradient source itself -------------------------------------------------------------------------
def test_source_sums_equal_the_one_process_sums_and_count_the_bytes(client):
    from backprop.distributed import DaskSource

    X, Y = _data(m=90)
    net = _net()
    rng = np.random.default_rng(2)
    with DaskSource(client, net, *_dask(X, Y)) as source:
        assert source.n_rows == 90 and source.n_shards == 2
        n_param_bytes = sum(p.nbytes for p in net.weights + net.biases)
        for rows in (rng.permutation(90)[:17], np.array([89]), np.arange(90), rng.permutation(90)):
            sent = source.bytes_sent
            gw, gb, loss_sum = source.gradient_sum(rows, net.weights, net.biases)
            ow, ob, oloss = net.gradient_sum(X[rows], Y[rows])  # one process, the same rows
            for g, o in zip(gw + gb, ow + ob):
                np.testing.assert_allclose(g, o, rtol=1e-12, atol=1e-12 * np.abs(o).max())
            assert loss_sum == pytest.approx(oloss, rel=1e-12)
            # the weights to each shard touched, and 4 bytes per row (none for the whole data set)
            touched = len({int(source.shard_of_block[np.searchsorted(source.offsets, r, "right") - 1])
                           for r in rows})
            per_row = 0 if rows.size == 90 else 4 * rows.size
            extra = 8 * source.n_shards if rows.size == 90 else 0
            assert source.bytes_sent - sent == touched * n_param_bytes + per_row + extra
        # each shard (one per worker, in its own process) holds the rows of its blocks
        held = [int(sum(source.offsets[b + 1] - source.offsets[b] for b in bs)) for bs in source.shard_blocks]
        info = source.shard_info()
        assert [i["n_rows"] for i in info] == held and sum(held) == 90
        assert len({i["pid"] for i in info}) == 2 and os.getpid() not in {i["pid"] for i in info}


# -- the same result as one process ------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("mode, batch_size, shuffle", [("online", None, True), (None, 16, True),
                                                       (None, 16, False), ("batch", None, False)])
def test_same_weights_as_one_process(client, mode, batch_size, shuffle, optimizer):
    X, Y = _data()
    kw = dict(epochs=2, lr=0.2, mode=mode, batch_size=batch_size, optimizer=optimizer, shuffle=shuffle,
              seed=7, l2=1e-3)
    dist, local = _net(), _net()
    h = fit(dist, *_dask(X, Y), client=client, **kw)
    h1 = local.fit(X, Y, **kw)
    _assert_same_net(dist, local)
    np.testing.assert_allclose(h.loss, h1.loss, rtol=RTOL)
    assert (h.n_updates, h.updates_per_epoch, h.batch_size) == (h1.n_updates, h1.updates_per_epoch,
                                                                 h1.batch_size)


def test_classes_validation_early_stopping_and_callbacks(client):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)  # classes 0, 1, 2
    Xv, yv = X[:30] + 0.1, labels[:30]
    seen = {"dist": [], "local": []}

    def recorder(key):
        return lambda net, info: seen[key].append((info["epoch"], info["loss"], info["val_loss"]))

    kw = dict(loss="cross_entropy", epochs=6, lr=0.5, batch_size=20, optimizer="momentum", seed=2,
              early_stopping=2)
    dist, local = _net((4, 6, 3), output="softmax"), _net((4, 6, 3), output="softmax")
    yd = da.from_array(labels, chunks=40)  # class indices, one-hot encoded on the workers
    h = fit(dist, da.from_array(X, chunks=(40, 4)), yd, client=client,
            validation_data=(da.from_array(Xv, chunks=(15, 4)), yv), callbacks=[recorder("dist")], **kw)
    h1 = local.fit(X, labels, validation_data=(Xv, yv), callbacks=[recorder("local")], **kw)
    _assert_same_net(dist, local)
    np.testing.assert_allclose(h.val_loss, h1.val_loss, rtol=RTOL)
    np.testing.assert_allclose(h.val_metric, h1.val_metric, rtol=RTOL)
    assert (h.best_epoch, h.stopped_early, h.epochs) == (h1.best_epoch, h1.stopped_early, h1.epochs)
    np.testing.assert_allclose(np.array(seen["dist"]), np.array(seen["local"]), rtol=RTOL)


def test_numpy_arrays_are_sent_once_and_give_the_same_weights(client, tmp_path):
    from backprop.train.checkpoint import load_checkpoint

    X, Y = _data(m=70)
    kw = dict(epochs=2, lr=0.3, batch_size=8, optimizer="adam", seed=4)
    dist, local = _net(), _net()
    with client.as_current():  # no client= : the active one, as the estimators use
        fit(dist, X, Y, checkpoint=str(tmp_path / "end.ckpt"), **kw)
    local.fit(X, Y, **kw)
    _assert_same_net(dist, local)
    state, _ = load_checkpoint(tmp_path / "end.ckpt")  # the final state, kept for a later resume
    assert state["meta"]["epoch"] == 2
    np.testing.assert_array_equal(state["arrays"]["weights.0"], dist.weights[0])


def test_numpy_arrays_larger_than_dasks_graph_warning_size(client):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(90_000, 16))  # 11.5 MB: above Dask's 10 MB large-graph warning
    Y = X[:, :1] - 0.5 * X[:, 1:2]
    dist, local = _net((16, 4, 1), output="identity"), _net((16, 4, 1), output="identity")
    kw = {"mode": "batch", "epochs": 2, "lr": 0.1, "optimizer": "nesterov"}
    fit(dist, X, Y, client=client, **kw)  # the suite turns warnings into errors
    local.fit(X, Y, **kw)
    _assert_same_net(dist, local)


# -- data frames and files the workers read ----------------------------------------------------------
def _frame(m=80, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    names = np.array(["cat", "dog", "emu"])
    label = names[(X[:, 0] > 0).astype(int) + (X[:, 2] > 0.3).astype(int)]
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": label})


def _oracle_fit(frame, kw):
    classes = sorted(set(frame["label"]))  # the sorted distinct labels, as backprop.datasets does
    Y = np.eye(len(classes))[[classes.index(v) for v in frame["label"]]]
    net = _net((3, 5, 3), output="softmax")
    net.fit(frame[["a", "b", "c"]].to_numpy(), Y, **kw)
    return net


def test_dask_data_frame_with_string_labels(client):
    frame = _frame()
    kw = dict(loss="cross_entropy", epochs=2, lr=0.3, batch_size=16, seed=1)
    dist = _net((3, 5, 3), output="softmax")
    fit(dist, dd.from_pandas(frame, npartitions=3), client=client, **kw)  # target: the last column
    _assert_same_net(dist, _oracle_fit(frame, kw))


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_folder_of_files_read_by_the_workers(client, tmp_path, kind):
    frame = _frame(m=75, seed=6)
    for i, part in enumerate((frame[:30], frame[30:50], frame[50:])):
        path = tmp_path / f"part-{i}.{kind}"
        part.to_parquet(path) if kind == "parquet" else part.to_csv(path, index=False)
    kw = dict(loss="cross_entropy", epochs=2, lr=0.3, batch_size=10, optimizer="nesterov", seed=3)
    dist = _net((3, 5, 3), output="softmax")
    fit(dist, str(tmp_path), target="label", client=client, **kw)
    _assert_same_net(dist, _oracle_fit(frame, kw))


# -- bad input: clear errors -------------------------------------------------------------------------
def test_bad_data_is_reported_with_its_block(client):
    X, Y = _data()
    X[60, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"row block 2 .*NaN"):
        fit(_net(), *_dask(X, Y), client=client, epochs=1)
    with pytest.raises(InvalidInputError, match="columns but the network expects"):
        fit(_net((4, 3, 1)), *_dask(*_data()), client=client, epochs=1)
    with pytest.raises(InvalidInputError, match="rows but Y has"):
        fit(_net(), da.from_array(X[:50], chunks=25), da.from_array(Y, chunks=25), client=client)
    with pytest.raises(InvalidTypeError, match="Dask"):
        fit(_net(), X, da.from_array(Y, chunks=25), client=client)
    with pytest.raises(InvalidInputError, match="worker_timeout"):
        fit(_net(), *_dask(*_data()), client=client, worker_timeout=0)
    with pytest.raises(InvalidTypeError, match="distributed.Client"):
        fit(_net(), *_dask(*_data()), client="tcp://127.0.0.1:8786")


def test_bad_target_column_and_files(client, tmp_path):
    frame = dd.from_pandas(_frame(), npartitions=2)
    with pytest.raises(InvalidInputError, match="'nope' is not in the data"):
        fit(_net((3, 5, 3), output="softmax"), frame, target="nope", client=client)
    with pytest.raises(InvalidInputError, match="3 classes but the network has 2 outputs"):
        fit(_net((3, 5, 2), output="softmax"), frame, client=client)
    with pytest.raises(InvalidInputError, match="no Parquet or CSV files"):
        fit(_net(), str(tmp_path), client=client)
    # values only a worker sees (Dask infers the columns' types from the first file's start)
    _frame()[:40].to_csv(tmp_path / "a.csv", index=False)
    bad = _frame()[40:].astype({"b": object})
    for value, error in (("n/a", r"row block 1 .*NaN or infinity \(first at row 39, column 1\)"),
                         ("oops", "could not compute or read the training data")):
        bad.loc[bad.index[-1], "b"] = value
        bad.to_csv(tmp_path / "b.csv", index=False)
        with pytest.raises(InvalidInputError, match=error):
            fit(_net((3, 5, 3), output="softmax"), str(tmp_path), target="label", client=client)


@pytest.mark.parametrize("spec", ["", "local", "local:0", "local:x", "udp://1.2.3.4:5", "host:99999", "tcp://"])
def test_connect_rejects_a_bad_spec(spec):
    with pytest.raises(InvalidInputError, match="local:N|workers|port"):
        with connect(spec):
            pass


def test_connect_to_a_silent_address_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a loopback port that nobody listens on once it is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DistributedError, match="no Dask scheduler answered"), \
            connect(f"127.0.0.1:{port}", timeout=1):
        pass


def test_connect_to_an_address_and_to_a_local_cluster(client):
    with connect(client.scheduler.address) as other:
        assert sorted(other.nthreads()) == sorted(client.nthreads())
    with connect("local:1") as local:
        addrs = list(local.nthreads())
        assert len(addrs) == 1 and addrs[0].startswith("tcp://127.0.0.1:")


# -- faults --------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_is_replaced_and_training_ends_at_the_same_weights(client, caplog):
    # data generated on the workers: the killed worker's blocks must be computed again
    X = da.random.default_rng(11).standard_normal((120, 3), chunks=(30, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)
    Xc, Yc = (np.asarray(a) for a in client.compute([X, Y], sync=True))
    pids = client.run(os.getpid)
    victim = min(pids.values())
    killed = []

    def kill_one_worker(net, info):
        if info["epoch"] == 1:
            os.kill(victim, signal.SIGKILL)
            killed.append(info["epoch"])

    kw = dict(epochs=3, lr=0.2, batch_size=16, optimizer="adam", seed=5)
    dist, local = _net(), _net()
    with caplog.at_level(logging.WARNING, logger="backprop.distributed"):
        h = fit(dist, X, Y, client=client, callbacks=[kill_one_worker], **kw)
    h1 = local.fit(Xc, Yc, **kw)
    assert killed == [1] and h.epochs == 3
    assert any("rebuilt" in r.getMessage() for r in caplog.records)  # a shard really was lost
    _assert_same_net(dist, local)
    np.testing.assert_allclose(h.loss, h1.loss, rtol=RTOL)
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert victim not in client.run(os.getpid).values()  # the nanny started a new process


def test_losing_all_workers_raises_keeps_the_weights_and_writes_a_checkpoint(client, tmp_path):
    from backprop.train.checkpoint import load_checkpoint

    X, Y = _data(m=96)
    kw = dict(epochs=3, lr=0.2, batch_size=16, optimizer="momentum", seed=9)
    path = tmp_path / "run.ckpt"
    dist = _net()
    doomed = _cluster(1)
    try:
        with distributed.Client(doomed, timeout=TIMEOUT) as lost_client:
            def lose_every_worker(net, info):
                if info["epoch"] == 1:
                    doomed.scale(0)  # the workers leave and none comes back

            with pytest.raises(DistributedError, match="no workers left") as err:
                fit(dist, *_dask(X, Y, rows=24), client=lost_client, callbacks=[lose_every_worker],
                    checkpoint=str(path), worker_timeout=2, **kw)
    finally:
        doomed.close(timeout=TIMEOUT)
    assert err.value.checkpoint == str(path) and str(path) in str(err.value)
    assert err.value.history.epochs >= 1
    state, _ = load_checkpoint(path)
    for k in range(dist.n_layers):  # the checkpoint holds the weights the network kept
        np.testing.assert_array_equal(state["arrays"][f"weights.{k}"], dist.weights[k])
        assert np.isfinite(dist.weights[k]).all()
    assert state["meta"]["epoch"] >= 1

    # resumed on a working cluster, the run ends where one uninterrupted process ends
    resumed = _net()
    trainer = backprop.Trainer(resumed, **kw)
    trainer.load_state_dict(state)
    train(trainer, *_dask(X, Y, rows=24), client=client)
    local = _net()
    local.fit(X, Y, **kw)
    _assert_same_net(resumed, local)


# -- the driver never holds the data -------------------------------------------------------------------
def test_driver_memory_stays_flat_while_the_data_grow(client):
    def traced_peak(m):
        X = da.random.default_rng(3).standard_normal((m, 64), chunks=(m // 4, 64))  # made on the workers
        Y = (X[:, :1] > 0).astype(np.float64)
        net = Network([64, 8, 1], seed=0, dtype="float64")
        tracemalloc.start()
        try:
            fit(net, X, Y, client=client, mode="batch", epochs=1, lr=0.5)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak, X.nbytes + Y.nbytes

    small, small_bytes = traced_peak(5_000)
    # the scheduler runs in this process too: the lower of two runs leaves out its occasional bursts
    large, large_bytes = min(traced_peak(80_000) for _ in range(2))
    # 39 MB more data on the workers; the driver holds only the trainer's permutation of the rows
    # (8 bytes a row, 1.5 % of the data here), weights and sums
    assert large - small < 0.05 * (large_bytes - small_bytes)
    assert large < 0.1 * large_bytes
