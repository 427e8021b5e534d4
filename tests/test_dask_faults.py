"""Faults of a Dask run that end it: every worker gone (issue: a race in the shard recovery) and the
scheduler killed under ``backprop train --dask`` (one error line, the checkpoint written).

The race is made deterministic: the scheduler is shown listing the dead worker once more, as it does
in the moment between a worker's death and its removal, and no worker after that.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np
import pytest

from backprop import Network
from backprop.distributed import DistributedError, fit
from backprop.distributed.cluster import LOOPBACK_HTTP
from backprop.train.checkpoint import load_checkpoint
from clitools import one_error_line

TIMEOUT = 60  # seconds for any wait on a cluster or a process


def _data(m=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(m, 3))
    return X, (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)


def test_every_worker_gone_while_the_scheduler_still_lists_one_ends_with_the_checkpoint(tmp_path):
    import dask.array as da

    X, Y = _data()
    path = tmp_path / "run.ckpt"
    net = Network([3, 4, 1], seed=1, dtype="float64")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as client:
        client.wait_for_workers(1, timeout=TIMEOUT)
        real_nthreads = client.nthreads
        stale = {}

        def nthreads(*args, **kwargs):
            if stale:  # once: the worker that just died, still listed; then the truth (none)
                return stale.pop("listing")
            return real_nthreads(*args, **kwargs)

        def lose_every_worker(net, info):
            if info["epoch"] == 1:
                stale["listing"] = real_nthreads()
                cluster.scale(0)
                deadline = time.monotonic() + TIMEOUT
                while real_nthreads() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not real_nthreads()

        client.nthreads = nthreads
        with pytest.raises(DistributedError, match="no workers left") as err:
            fit(net, da.from_array(X, chunks=(32, 3)), da.from_array(Y, chunks=(32, 1)), client=client,
                epochs=3, lr=0.2, batch_size=16, optimizer="sgd", seed=2, callbacks=[lose_every_worker],
                checkpoint=str(path), worker_timeout=1)
    assert not stale  # the stale listing was seen, where the race was
    assert err.value.checkpoint == str(path) and str(path) in str(err.value)
    state, _ = load_checkpoint(path)
    assert state["meta"]["epoch"] == 1
    for k in range(net.n_layers):  # the checkpoint holds the weights of the last completed update
        np.testing.assert_array_equal(state["arrays"][f"weights.{k}"], net.weights[k])


def _env():
    import backprop

    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    src = str(Path(backprop.__file__).resolve().parents[1])  # this backprop, in the subprocesses too
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _wait_for(path, proc, what):
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert proc.poll() is None, f"{what} ended with status {proc.returncode}"
        assert time.monotonic() < deadline, f"no {path.name} after {TIMEOUT} s"
        time.sleep(0.05)


def test_a_killed_scheduler_ends_train_with_one_error_line_and_the_checkpoint(tmp_path):
    env, procs = _env(), []
    dask = [sys.executable, "-m", "dask"]
    quiet = dict(cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", "s.json"], **quiet)
        procs.append(scheduler)
        _wait_for(tmp_path / "s.json", scheduler, "dask scheduler")
        time.sleep(0.2)  # written, not only created
        address = json.loads((tmp_path / "s.json").read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--no-nanny", "--host",
                                       "127.0.0.1", "--no-dashboard"], **quiet))
        train = subprocess.Popen(
            [sys.executable, "-m", "backprop", "train", "moons", "--epochs", "500", "--batch-size", "4", "-q",
             "--out", "m.st", "--checkpoint", "c.st", "--dask", address, "--dask-timeout", "2"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(train)
        _wait_for(tmp_path / "c.st", train, "backprop train")  # an epoch is done: training runs
        scheduler.kill()
        _, err = train.communicate(timeout=TIMEOUT)
    finally:
        for p in procs:
            p.kill()
            p.wait(TIMEOUT)
    assert train.returncode == 2, err
    line = one_error_line(err)  # no "Failed to reconnect" of Dask's before it
    assert "scheduler" in line and "c.st" in line and "resume" in line
    state, extra = load_checkpoint(tmp_path / "c.st")
    assert state["meta"]["epoch"] >= 1 and extra["train_config"]["data"] == "moons"


def test_a_stop_asked_while_waiting_for_workers_ends_the_placement():
    # what a signal does to `backprop train --dask` before training starts: the wait for a worker
    # (up to worker_timeout, an hour here) ends at the next look at the predicate
    from backprop.distributed import DaskSource

    X, Y = _data()
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as client:
        with pytest.raises(InterruptedError, match="placed on the Dask cluster"):
            DaskSource(client, Network([3, 4, 1], seed=1), X, Y, worker_timeout=3600, stop=stop)
    assert len(asked) == 3


def test_an_actor_call_refused_by_a_worker_that_shuts_down_is_a_lost_shard():
    """A worker scaled away while an actor call waits on it refuses the call with Python's
    RuntimeError "cannot schedule new futures after shutdown": the shard is lost (recovered, or
    "no workers left"), like an OSError of an actor call. A task's RuntimeError, or another
    message, stays what it is."""
    from backprop.distributed import source

    class ActorCall:  # an actor call's future has no key
        status = None

    class Task:
        key, status = "k", "finished"

    refused = RuntimeError("cannot schedule new futures after shutdown")
    with pytest.raises(source._Lost):
        source._raise_failure(ActorCall(), "the update", refused)
    for future, exc in ((Task(), refused), (ActorCall(), RuntimeError("a bug"))):
        with pytest.raises(RuntimeError):
            source._raise_failure(future, "the update", exc)
