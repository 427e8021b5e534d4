"""The driver's side of training on a Dask cluster: a gradient source for ``Trainer.run_source``.

A :class:`DaskSource` places the row blocks of the training data on the workers (where Dask
computed or read them), groups them into one *shard* per worker -- a :class:`~.shard.Shard`
actor -- and then, for each update, does the aggregation of eq. (3) across machines:

1. the batch's global row indices are split by shard (each shard gets the positions of its rows);
2. every shard with rows in the batch gets the current weights and its positions, in parallel;
3. each returns sum_d dE_d/dw over its rows (eq. (1) summed, before eq. (3)'s 1/m);
4. the driver adds the parts in shard order -- a fixed order, so the result does not depend on
   which worker answers first -- and hands the sum to the trainer, which divides by m and lets
   the optimizer make the update, exactly as in one process.

Only weights and gradient sums travel (and a few integers per row of the batch); the data never
reaches the driver.

Faults: a shard whose worker dies is rebuilt on a live worker from the same blocks (Dask
recomputes or re-reads the blocks that died with it) and the update's call is repeated with the
same weights, so training ends at the same weights. When no worker comes back within
``worker_timeout`` seconds, a :class:`DistributedError` is raised; the trainer is left at its last
completed update.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop.core.validation import check_float
from backprop.errors import BackpropError, InvalidInputError, InvalidTypeError

from .data import row_blocks
from .errors import DistributedError
from .shard import CHUNK_ROWS, Shard, block_rows, prepare_block

log = logging.getLogger("backprop.distributed")

#: seconds between checks on a call's worker while waiting for its answer
_POLL = 0.25
#: what a bounded wait raises (the same class from Python 3.11 on)
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)


def _timed_out(exc: BaseException) -> bool:
    """A poll that timed out, however Dask says it: when the timeout's cancellation wins a race,
    distributed's ``sync()`` has neither a result nor an error and raises UnboundLocalError."""
    return isinstance(exc, _TIMEOUTS) or (isinstance(exc, UnboundLocalError) and "'result'" in str(exc))


def _shut_down(exc: BaseException) -> bool:
    """A worker that is shutting down refused the call (its executor is closed): a lost shard."""
    return isinstance(exc, RuntimeError) and "after shutdown" in str(exc)
#: times one update may rebuild lost shards before giving up
_MAX_RECOVERIES = 8


class _Lost(Exception):
    """A shard's actor is gone (its worker died or left)."""


class DaskSource:
    """The rows of (X, Y) on the workers of ``client``; :meth:`gradient_sum` for ``Trainer.run_source``.

    ``loss`` is a loss name or object (the trainer's); ``X``, ``Y``, ``target`` and ``classes`` as
    in :func:`backprop.distributed.fit`.
    ``direct`` sends each call straight to the worker (the default) instead of through the
    scheduler. ``stop``: a predicate looked at while the data are being placed (waiting for workers,
    computing the blocks); when it returns true, ``InterruptedError`` is raised. Use it as a context
    manager (or call :meth:`close`) to release the cluster's memory.
    """

    def __init__(self, client: Any, net: Any, X: Any, Y: Any | None = None, *, loss: Any = "mse",
                 target: str | Sequence[str] | None = None, classes: Sequence | None = None,
                 worker_timeout: float = 60.0, chunk_rows: int = CHUNK_ROWS, direct: bool = True,
                 stop: Callable[[], bool] | None = None):
        from distributed import Client

        if not isinstance(client, Client):
            raise InvalidTypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        if client.asynchronous:
            raise InvalidTypeError("client must be a synchronous distributed.Client (asynchronous=False)")
        self.client = client
        self.worker_timeout = check_float(worker_timeout, "worker_timeout", low=0, low_open=True)
        self._direct = client.direct_to_workers
        if direct:
            client.direct_to_workers = True  # put back by close()
        # the loss object itself travels (once per shard): a custom or scikit-learn loss works too
        self.loss = net.check_loss(loss)
        self.bytes_sent = 0       # weights and row positions sent to the shards
        self.bytes_received = 0   # gradient sums received from them
        self.updates = 0
        self.recoveries = 0
        self._closed = False
        self._actors: list = []
        self._actor_futures: list = []
        self._block_futures: list = []
        self._stop = stop  # only while placing: an update in progress is finished, not abandoned
        try:
            self._place(net, X, Y, target, classes, chunk_rows)
        except BaseException:
            self.close()
            raise
        finally:
            self._stop = None

    # -- placing the data ---------------------------------------------------------------------------
    def _place(self, net, X, Y, target, classes, chunk_rows):
        from dask import delayed

        workers = self._live_workers(wait=True)
        blocks, spec = row_blocks(net, X, Y, target=target, classes=classes, n_blocks=len(workers))
        tasks = [delayed(prepare_block, pure=True)(x, y, spec, i) for i, (x, y) in enumerate(blocks)]
        with warnings.catch_warnings():
            # NumPy data travel inside the graph on purpose (the scheduler can hand a block out again
            # after its worker died, which scattered data cannot): Dask's advice against it does not apply
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            futures = self.client.compute(tasks)
        self._block_futures = futures
        try:
            sizes = self._result(self.client.map(block_rows, futures), "computing the data's blocks")
        except _Lost:
            raise DistributedError("a worker died while the data was being computed; run again") from None
        except BackpropError:
            raise
        except Exception as exc:  # the user's data: a file that cannot be read or parsed, a failing task
            raise InvalidInputError(f"the workers could not compute or read the training data: "
                                    f"{type(exc).__name__}: {exc}") from None
        keep = [i for i, n in enumerate(sizes) if n > 0]
        if not keep:
            raise InvalidInputError("the training data has no rows")
        self._block_futures = [futures[i] for i in keep]
        sizes = np.array([sizes[i] for i in keep], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        self.n_blocks = len(keep)
        self._narrow = self.n_rows < 2**31  # row positions fit int32

        # each block to the worker holding it, unless that worker is already well above its share
        who = self.client.who_has(self._block_futures)
        load = {w: 0 for w in workers}
        fair = self.n_rows / len(workers)
        owner = []
        for f, n in zip(self._block_futures, sizes):
            holders = [w for w in who.get(f.key, ()) if w in load]
            w = min(holders, key=lambda h: load[h]) if holders else None
            if w is None or (load[w] > 0 and load[w] + n > 1.25 * fair):
                w = min(load, key=lambda h: load[h])
            owner.append(w)
            load[w] += int(n)
        shard_workers = list(dict.fromkeys(owner))  # shards in the order of their first block
        if len(shard_workers) < len(workers):
            log.warning("the data have %d row block(s) for %d workers: %d worker(s) hold no rows; chunk the "
                        "rows into at least one block per worker", self.n_blocks, len(workers),
                        len(workers) - len(shard_workers))
        self.shard_blocks = [[b for b in range(self.n_blocks) if owner[b] == w] for w in shard_workers]
        self.shard_of_block = np.empty(self.n_blocks, dtype=np.int64)
        self.start_in_shard = np.empty(self.n_blocks, dtype=np.int64)
        for s, bs in enumerate(self.shard_blocks):
            self.shard_of_block[bs] = s
            self.start_in_shard[bs] = np.concatenate([[0], np.cumsum(sizes[bs])[:-1]])
        self._template = net.copy()  # shipped once per shard; its weights are replaced at each call
        self._chunk_rows = int(chunk_rows)
        self._actors = [None] * len(self.shard_blocks)
        self._actor_futures = [None] * len(self.shard_blocks)
        self._shard_worker = [None] * len(self.shard_blocks)
        for s, w in enumerate(shard_workers):
            self._start_shard(s, w)
        try:
            for s in range(len(self.shard_blocks)):
                self._actors[s] = self._result(self._actor_futures[s], f"starting shard {s}")
                self._shard_worker[s] = self._where(s)
        except _Lost:
            raise DistributedError("a worker died while the data was being placed; run again") from None

    def _start_shard(self, s, worker):
        self._shard_worker[s] = worker
        blocks = [self._block_futures[b] for b in self.shard_blocks[s]]
        self._actor_futures[s] = self.client.submit(
            Shard, self._template, self.loss, self._chunk_rows, *blocks, actor=True, workers=[worker],
            allow_other_workers=True, pure=False, key=f"backprop-shard-{s}-{time.time_ns()}")

    @property
    def n_shards(self) -> int:
        return len(self.shard_blocks)

    def shard_info(self) -> list[dict]:
        """Per shard: the worker process, its rows and blocks (asks each shard)."""
        return [self._result(a.info(), "asking a shard") for a in self._actors]

    # -- one update -----------------------------------------------------------------------------------
    def gradient_sum(self, rows: np.ndarray, weights: list[np.ndarray],
                     biases: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """(gw_sum, gb_sum, loss_sum) over the global ``rows``, eq. (1) summed over the rows."""
        parts = self._split(np.asarray(rows, dtype=np.int64))
        weights = [np.ascontiguousarray(w) for w in weights]
        biases = [np.ascontiguousarray(b) for b in biases]
        results = self._call(parts, weights, biases)
        n_params = sum(w.nbytes + b.nbytes for w, b in zip(weights, biases))
        self.bytes_sent += sum(n_params + (8 if p is None else p.nbytes) for p in parts.values())
        self.bytes_received += len(parts) * (n_params + 8)
        self.updates += 1
        gw: list[np.ndarray] | None = None
        gb: list[np.ndarray] = []
        loss_sum = 0.0
        for s in sorted(results):  # the fixed order of the shards
            w_s, b_s, l_s = results[s]
            if gw is None:
                gw, gb = [np.array(g) for g in w_s], [np.array(g) for g in b_s]
            else:
                for acc, g in zip(gw + gb, list(w_s) + list(b_s)):
                    acc += g
            loss_sum += float(l_s)
        assert gw is not None  # every batch has rows on some shard
        return gw, gb, loss_sum

    def _split(self, rows):
        """{shard: positions of its rows in ``rows``, in batch order}; None: all the shard's rows."""
        if rows.size == self.n_rows:
            # the whole data set (batch training): every shard sums all its rows, in its own order
            # (the same sum to rounding) -- no index arrays of the data's length to send
            return dict.fromkeys(range(self.n_shards))
        blk = np.searchsorted(self.offsets, rows, side="right") - 1
        local = rows - self.offsets[blk] + self.start_in_shard[blk]
        if local.size and self._narrow:
            local = local.astype(np.int32)  # half the bytes on the wire
        if self.n_shards == 1:
            return {0: local}
        shard = self.shard_of_block[blk]
        order = np.argsort(shard, kind="stable")
        present, first = np.unique(shard[order], return_index=True)
        bounds = [*first[1:], order.size]
        return {int(s): local[order[a:b]] for s, a, b in zip(present, first, bounds)}

    def _call(self, parts, weights, biases):
        """Every shard's sum; shards lost on the way are rebuilt and asked again."""
        results = {}
        pending = dict(parts)
        for _ in range(_MAX_RECOVERIES + 1):
            calls, lost = {}, []
            for s, idx in pending.items():
                try:
                    if self._actors[s] is None:
                        raise RuntimeError("not restarted yet")
                    calls[s] = self._actors[s].gradient_sum(idx, weights, biases)
                except RuntimeError:  # "Worker holding Actor was lost"
                    lost.append(s)
            for s, call in calls.items():
                try:
                    results[s] = self._answer(s, call)
                except _Lost:
                    lost.append(s)
            if not lost:
                return results
            pending = {s: parts[s] for s in lost}
            try:
                self._recover(sorted(lost))
            except BackpropError:
                raise
            except Exception:
                self._check_client()  # the scheduler went away meanwhile: DistributedError
                raise
        raise DistributedError(f"the cluster kept losing workers: {_MAX_RECOVERIES} recoveries in one "
                               "update; check the workers' logs (memory limits?)")

    def _answer(self, s, call):
        """The result of an actor call, waiting while its worker lives."""
        while True:
            try:
                return call.result(timeout=_POLL)
            except BackpropError:
                raise
            except Exception as exc:
                if _timed_out(exc):  # first: TimeoutError is an OSError
                    if not self._alive(s):
                        raise _Lost from None
                    continue
                # "Unable to contact Actor's worker", a closed connection, a worker shutting down
                if isinstance(exc, OSError) or _shut_down(exc) or not self._alive(s):
                    raise _Lost from None
                raise  # an error of the computation itself, not of the cluster

    def _alive(self, s):
        self._check_client()
        return self._actor_futures[s].status in ("finished", "pending")

    def _recover(self, lost):
        """Rebuild the shards in ``lost`` on live workers (Dask recomputes their lost blocks)."""
        self.recoveries += 1
        dead = {self._shard_worker[s] for s in lost}
        # one look at the cluster (at least one worker, or DistributedError after worker_timeout): the
        # scheduler may still list a worker that just died, and a second look may find none at all
        live = self._live_workers(wait=True)
        workers = [w for w in live if w not in dead] or live
        for s in lost:
            old = self._actor_futures[s]
            old.release()
            self._actors[s] = None
            # the worker with the fewest shards (a restarted worker usually has none)
            count = {w: 0 for w in workers}
            for t, w in enumerate(self._shard_worker):
                if self._actors[t] is not None and w in count:
                    count[w] += 1
            self._start_shard(s, min(count, key=lambda w: count[w]))
        for s in lost:
            try:
                self._actors[s] = self._result(self._actor_futures[s], f"restarting shard {s}")
                self._shard_worker[s] = self._where(s)
                log.warning("shard %d (%d rows) was lost with its worker and rebuilt on %s", s,
                            int(sum(self.offsets[b + 1] - self.offsets[b] for b in self.shard_blocks[s])),
                            self._shard_worker[s])
            except BackpropError:
                raise
            except Exception:  # its new worker died too: rebuilt again by the caller's next round
                self._actors[s] = None

    def _where(self, s):
        """The worker that holds shard ``s`` (the scheduler may have chosen another than asked)."""
        addrs = self.client.who_has([self._actor_futures[s]]).get(self._actor_futures[s].key, ())
        return addrs[0] if addrs else self._shard_worker[s]

    # -- waiting, bounded ---------------------------------------------------------------------------
    def _check_client(self):
        if self.client.status not in ("running", "connecting", "newly-created"):
            raise DistributedError(f"the Dask client is {self.client.status}; the scheduler is gone")

    def _check_stop(self):
        if self._stop is not None and self._stop():
            raise InterruptedError("interrupted while the data were being placed on the Dask cluster")

    def _live_workers(self, wait=False):
        """The addresses of the cluster's workers; with ``wait``, waits up to ``worker_timeout``
        seconds for at least one, else raises DistributedError."""
        deadline = time.monotonic() + self.worker_timeout
        while True:
            self._check_stop()
            self._check_client()
            try:
                workers = sorted(self.client.nthreads())
            except OSError as exc:
                raise DistributedError(f"the Dask scheduler cannot be reached: {exc}") from None
            if workers or not wait:
                return workers
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"the cluster has no workers left (waited {self.worker_timeout:g} s for one to join); "
                    "start workers again and resume from the checkpoint"
                )
            time.sleep(_POLL)

    def _result(self, future, what):
        """``future.result()``, waiting as long as the cluster has workers; lost futures: DistributedError."""
        if isinstance(future, list):
            return [self._result(f, what) for f in future]
        idle_since = None
        while True:
            self._check_stop()
            try:
                return future.result(timeout=_POLL)
            except _TIMEOUTS:
                pass
            except BackpropError:
                raise
            except OSError:
                if hasattr(future, "key"):  # a task's own error (a file it could not read)
                    raise
                raise _Lost from None  # an actor call whose worker went away
            except Exception as exc:
                if not _timed_out(exc) or getattr(future, "status", None) == "error":  # not Dask's race
                    _raise_failure(future, what, exc)
            if self._live_workers():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > self.worker_timeout:
                raise DistributedError(
                    f"{what}: the cluster has no workers left (waited {self.worker_timeout:g} s for one to "
                    "join); start workers again and resume from the checkpoint"
                )

    # -- the end ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the shards and blocks on the cluster (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for f in list(self._actor_futures) + list(self._block_futures):
            if f is not None:
                try:
                    f.release()
                except Exception:  # a client already closed: nothing left to release
                    pass
        self._actors, self._actor_futures, self._block_futures = [], [], []
        self.client.direct_to_workers = self._direct

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _raise_failure(future, what, exc):
    """A future's failure as the cluster's: lost data or a killed worker as a DistributedError, an
    actor call refused by a worker that shut down as a lost shard, any other error as it is."""
    if _shut_down(exc) and not hasattr(future, "key"):
        raise _Lost from None  # the worker left while the call waited on it: recovered like OSError
    status = getattr(future, "status", None)
    if status in ("lost", "cancelled"):
        raise DistributedError(f"{what}: Dask lost the data ({exc}); it cannot be recovered") from None
    if type(exc).__name__ in ("KilledWorker", "FutureCancelledError", "CancelledError"):
        raise DistributedError(f"{what} failed on the cluster: {exc}") from None
    raise exc
