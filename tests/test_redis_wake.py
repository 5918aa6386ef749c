"""An idle worker on Redis wakes when work comes, not at its next look: a write that makes a
run runnable now leaves a token its ``BLPOP`` takes; with none, it waits its full time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from statemachine import Step, Worker, Workflow
from stores import RedisStore

from .servers import RedisServer


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:
    made = RedisStore(redis_server.url, prefix=f"wake{uuid4().hex[:8]}", partitions=4)
    yield made
    made.close()


def test_an_idle_wait_returns_when_a_run_becomes_runnable(store: RedisStore) -> None:
    flow = Workflow("flow", [Step(name="s", executor=lambda si: "done")], store)
    stop = threading.Event()
    returned = threading.Event()

    def wait() -> None:
        store.idle(stop, 60)  # a minute, unless woken
        returned.set()

    waiting = threading.Thread(target=wait)
    started = time.monotonic()
    waiting.start()
    flow.submit("x")  # runnable now: a token for the idle worker
    assert returned.wait(10), "the idle wait was not woken by the new run"
    waiting.join(10)
    assert time.monotonic() - started < 10


def test_with_nothing_to_do_the_wait_is_the_full_time(store: RedisStore) -> None:
    started = time.monotonic()
    store.idle(threading.Event(), 0.2)
    assert time.monotonic() - started >= 0.19  # nothing woke it: BLPOP timed out


def test_a_long_idle_worker_takes_new_work_at_once(store: RedisStore) -> None:
    flow = Workflow("flow", [Step(name="s", executor=lambda si: "done")], store)
    stop = threading.Event()
    worker = Worker([flow], store, poll_seconds=30, idle_seconds=60)  # looks twice a minute
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        run_id = flow.submit("x")
        deadline = time.monotonic() + 10
        while store.load(run_id).status.value != "completed":  # the state itself, bounded
            assert time.monotonic() < deadline, "the worker did not wake for the new run"
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join(90)
