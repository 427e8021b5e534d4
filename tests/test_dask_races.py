"""Dask's own races, as the training source sees them (no cluster: the calls are stand-ins).

Two were met in CI: a worker retiring while an actor call reached it answers "cannot schedule new
futures after shutdown" before the scheduler lists it as gone, and distributed's ``sync()`` raises
UnboundLocalError when a poll's timeout and its cancellation race. The first is a lost shard, the
second a poll that timed out; neither is an error of the user's data or computation.
"""

from __future__ import annotations

import types

import pytest

pytest.importorskip("distributed")

from backprop.distributed import source as src  # noqa: E402


class Call:
    """An actor call or task future that raises the given errors, then answers."""

    def __init__(self, *errors, answer=None, status="pending"):
        self.errors, self.answer, self.status, self.calls = list(errors), answer, status, 0

    def result(self, timeout=None):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.answer


def unbound():
    try:
        def f():
            result: int
            return result  # noqa: F821 -- what distributed's sync() does when it lost the race
        f()
    except UnboundLocalError as exc:
        return exc
    raise AssertionError("no UnboundLocalError")


def fake_source(alive=True):
    return types.SimpleNamespace(_alive=lambda s: alive, _check_stop=lambda: None,
                                 _live_workers=lambda: ["w"], worker_timeout=5.0)


def test_a_call_refused_by_a_worker_shutting_down_is_a_lost_shard_even_while_it_is_listed():
    call = Call(RuntimeError("cannot schedule new futures after shutdown"))
    with pytest.raises(src._Lost):
        src.DaskSource._answer(fake_source(alive=True), 0, call)


def test_any_other_error_of_a_live_workers_call_is_the_computations_own():
    call = Call(RuntimeError("the computation failed"))
    with pytest.raises(RuntimeError, match="the computation failed"):
        src.DaskSource._answer(fake_source(alive=True), 0, call)


def test_dasks_unbound_result_race_is_a_poll_that_timed_out():
    call = Call(unbound(), TimeoutError(), answer="sums")
    assert src.DaskSource._answer(fake_source(alive=True), 0, call) == "sums" and call.calls == 3
    with pytest.raises(src._Lost):  # and like a timeout, it asks whether the worker still lives
        src.DaskSource._answer(fake_source(alive=False), 0, Call(unbound()))
    task = Call(unbound(), answer=[4, 4], status="pending")
    assert src.DaskSource._result(fake_source(), task, "computing the blocks") == [4, 4]


def test_a_tasks_own_unbound_local_error_is_raised_not_polled():
    task = Call(unbound(), status="error")
    with pytest.raises(UnboundLocalError):
        src.DaskSource._result(fake_source(), task, "computing the blocks")
    assert task.calls == 1


def test_a_closed_connection_is_a_lost_shard_and_a_timeout_a_poll():
    with pytest.raises(src._Lost):
        src.DaskSource._answer(fake_source(alive=True), 0, Call(OSError("Unable to contact Actor's worker")))
    call = Call(TimeoutError(), TimeoutError(), answer="sums")  # TimeoutError is an OSError: polled first
    assert src.DaskSource._answer(fake_source(alive=True), 0, call) == "sums"
