"""Store I/O never blocks the event loop: while a store call awaited under asyncio waits (on
a disk, on a Redis server), the loop goes on running other tasks."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import pytest

from statemachine import HumanReview, RunRecord, Step, Store, StoreUnavailable, Workflow
from stores import FileStore, RedisStore

from .helpers import aio
from .servers import RedisServer


def paused_workflow(store: Store) -> Workflow:
    return Workflow(
        name="waits",
        store=store,
        steps=[
            Step(
                name="ask",
                executor=lambda si: "draft",
                human_review=HumanReview(requires_output_review=True),
            )
        ],
    )


class SlowDisk(FileStore):
    """A real file store whose reads, once armed, wait for the event loop to say go: were a
    read made on the loop's own thread, the loop could never say it, and the read gives up."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, create=True)
        self.armed = False
        self.reading = threading.Event()
        self.go = threading.Event()

    def load(self, run_id: str) -> RunRecord:
        if self.armed:
            self.reading.set()
            if not self.go.wait(10):
                raise AssertionError("the event loop stood still while the store read")
        return super().load(run_id)


def test_file_store_reads_and_writes_leave_the_event_loop_free(tmp_path: Path) -> None:
    """aget_run and acontinue_run on the file store: while its read waits, another task on the
    loop runs (and is what lets it finish)."""
    store = SlowDisk(tmp_path / "runs")
    workflow = paused_workflow(store)

    async def scenario() -> None:
        run = await workflow.arun("x")
        store.armed = True
        for call in (workflow.aget_run(run.run_id), workflow.acontinue_run(run.run_id)):
            store.reading.clear()
            store.go.clear()
            task = asyncio.create_task(call)
            assert await asyncio.to_thread(store.reading.wait, 10)  # the read has begun...
            assert not task.done()
            store.go.set()  # ...and the loop is free to say go
            assert (await task).is_paused

    aio(store, scenario)


def test_redis_store_calls_leave_the_event_loop_free(tmp_path: Path) -> None:
    """With the Redis server stopped (SIGSTOP), an awaited read waits on its socket while other
    tasks run; once the server goes on, the read completes. A read that blocked the loop would
    be over, with StoreUnavailable, before any other task ran."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        store = RedisStore(f"{server.url}?retry_seconds=5")
        workflow = paused_workflow(store)

        async def scenario() -> None:
            run = await workflow.arun("x")
            assert server.process is not None
            server.process.send_signal(signal.SIGSTOP)
            try:
                task = asyncio.create_task(workflow.aget_run(run.run_id))
                await asyncio.sleep(0)  # the read starts, and waits on the server
                await asyncio.sleep(0)
                assert not task.done(), "the read blocked the loop"
            finally:
                server.process.send_signal(signal.SIGCONT)
            try:
                got = await task
            except StoreUnavailable as exc:  # pragma: no cover (a failure's message)
                pytest.fail(f"the read gave up while the loop was free: {exc}")
            assert got.is_paused

        aio(store, scenario)
        store.close()
    finally:
        server.stop()
