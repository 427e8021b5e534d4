"""Elementwise work split by rows over the BLAS threads (NumPy's ufuncs release the GIL).

The matrix products of a step run on every BLAS thread; the elementwise passes between them
(bias, g, g', the optimizer) ran on one. ``for_rows(fn, n, size)`` runs ``fn(lo, hi)`` over the
row blocks of ``[0, n)`` on a small pool of persistent threads and the calling thread together.
Every element is computed by the same ufunc in the same order whichever block it falls in, so
the results are bitwise those of one ``fn(0, n)`` -- which is what runs for small work (below
:data:`MIN_SIZE` elements), with one BLAS thread, or with ``BACKPROP_NO_THREADS=1``.

Blocks are claimed from a shared counter, so a worker that the OS has not scheduled yet costs
nothing: the calling thread takes the blocks itself and only waits for blocks already started.
A worker runs its blocks in a copy of the caller's context, so ``np.errstate`` carries over.

Whether the split pays depends on what else the host runs: on a quiet 2-core machine it nearly
halves the passes; with the cores oversubscribed by other processes a hand-off can wait a whole
time slice, and the split was measured 1.3-4x slower than one thread. So each call site (code,
size, threads) keeps its recent times both ways and takes the faster on average, trying the other
now and then (from every :data:`PROBE_EVERY` calls, less often while the answer holds). The
choice changes timings only, never a result.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable

from backprop.fast import blas as _blas

#: Elements of work below which one thread does it all (a hand-off costs tens of microseconds).
MIN_SIZE = 1 << 16
#: Blocks per thread: more blocks balance a late or slow thread better, each costs a few calls.
BLOCKS_PER_THREAD = 2
#: How soon a call site re-tries the way that was slower (the host's load changes); the interval
#: doubles, up to 512 calls, while the answer stays the same.
PROBE_EVERY = 16

#: True/False: always/never split where the work is large enough (tests); None: the faster way.
FORCE: bool | None = None

_stats: dict = {}  # (code, size, threads) -> _Site

_enabled = os.environ.get("BACKPROP_NO_THREADS", "").strip() in ("", "0")
_queues: list[queue.SimpleQueue] = []
_lock = threading.Lock()
_pid = os.getpid()


class _Job:
    __slots__ = ("fn", "bounds", "claim", "finish", "done", "error", "n")

    def __init__(self, fn, bounds) -> None:
        self.fn, self.bounds, self.n = fn, bounds, len(bounds)
        self.claim = itertools.count().__next__  # atomic under the GIL
        self.finish = itertools.count(1).__next__
        self.done = threading.Lock()
        self.done.acquire()  # released by whoever finishes the last block
        self.error: BaseException | None = None

    def work(self) -> None:
        n = self.n
        while (i := self.claim()) < n:
            try:
                self.fn(*self.bounds[i])
            except BaseException as e:  # handed to the caller, which re-raises it
                self.error = e
            if self.finish() == n:
                self.done.release()


def _worker(q) -> None:
    while True:
        ctx, job = q.get()
        ctx.run(job.work)
        del ctx, job  # an idle worker keeps no arrays alive


def _pool(n):
    """At least n worker queues (threads started on first use, again after a fork)."""
    global _pid
    if _pid != os.getpid():  # a forked child has the queues but not the threads
        _queues.clear()
        _pid = os.getpid()
    if len(_queues) < n:
        with _lock:
            while len(_queues) < n:
                q: queue.SimpleQueue = queue.SimpleQueue()
                threading.Thread(target=_worker, args=(q,), name="backprop-rows", daemon=True).start()
                _queues.append(q)
    return _queues


def threads() -> int:
    """How many threads elementwise work may use now: those BLAS may (1 inside small steps)."""
    if not _enabled:
        return 1
    n = _blas.get_threads()
    return n if n else 1


def for_rows(fn: Callable[[int, int], object], n: int, size: int) -> None:
    """Run ``fn(lo, hi)`` over row blocks covering ``[0, n)``; ``size`` is the whole work in
    elements. ``fn`` must touch only its rows (and release the GIL to gain anything)."""
    t = threads() if size >= MIN_SIZE and n > 1 else 1
    parts = min(n, t * BLOCKS_PER_THREAD, size // (MIN_SIZE // 2)) if t > 1 else 1
    if parts <= 1:
        fn(0, n)
        return
    if FORCE is not None:
        if FORCE:
            _split(fn, n, t, parts)
        else:
            fn(0, n)
        return
    key = (getattr(fn, "__code__", fn), size, t)
    site = _stats.get(key)
    if site is None:
        if len(_stats) > 512:  # many shapes (predict on varied lengths): start over
            _stats.clear()
        site = _stats[key] = _Site()
    split = site.choose()
    t0 = time.perf_counter()
    if split:
        _split(fn, n, t, parts)
    else:
        fn(0, n)
    site.record(split, time.perf_counter() - t0)


class _Site:
    """The recent times of one call site both ways; the faster on average, the other now and then."""

    __slots__ = ("times", "calls", "probe_at", "interval", "split")

    def __init__(self) -> None:
        self.times: tuple[list[float], list[float]] = ([], [])
        self.calls, self.probe_at, self.interval, self.split = 0, 0, PROBE_EVERY, False

    def choose(self) -> bool:
        self.calls += 1
        if self.calls <= 2 * _WARMUP:  # both ways a few times first
            return self.calls % 2 == 0
        if self.calls >= self.probe_at:
            return not self.split
        return self.split

    def record(self, split, dt) -> None:
        times = self.times[split]
        times.append(dt)
        if len(times) > _WINDOW:
            del times[0]
        if self.calls < 2 * _WARMUP:
            return
        # means, not medians: a hand-off that waits a time slice now and then is the split's real cost;
        # less the slowest time, which may be this thread's own time slice lost (either way)
        serial, parallel = ((sum(t) - max(t)) / (len(t) - 1) for t in self.times)
        best = parallel < _MARGIN * serial
        if self.calls >= self.probe_at:  # a probe: try again soon if the choice changed, else later
            self.interval = PROBE_EVERY if best != self.split else min(2 * self.interval, _MAX_INTERVAL)
            self.probe_at = self.calls + self.interval
        self.split = best


_WARMUP = 3
_WINDOW = 8
_MARGIN = 0.9  # the split must save 10% to be chosen
_MAX_INTERVAL = 512


def _split(fn, n, t, parts):
    step = -(-n // parts)
    bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    job = _Job(fn, bounds)
    queues = _pool(t - 1)
    for q in queues[:t - 1]:
        q.put((contextvars.copy_context(), job))
    job.work()
    job.done.acquire()  # blocks still running on a worker
    if job.error is not None:
        raise job.error
