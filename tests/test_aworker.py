"""The asyncio worker on every store: many units at once on one event loop, the same promises
as the threaded worker (decisions from anywhere, timeouts swept, failures retried and
dead-lettered, runs it cannot execute set aside), and as a command."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from statemachine import (
    AsyncWorker,
    HumanReview,
    Loop,
    OnReject,
    RetryPolicy,
    RunStatus,
    Step,
    StepInput,
    Store,
    Workflow,
)

from .conftest import STORE_KINDS
from .helpers import aio

ROOT = Path(__file__).parent.parent


async def waits(step_input: StepInput) -> str:
    """User code that mostly waits, as a call to a model would."""
    await asyncio.sleep(0.05)
    return f"answer {step_input.iteration}"


def reviewed(store: Store, timeout: float | None = None) -> Workflow:
    return Workflow(
        name="awaited",
        store=store,
        steps=[
            Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
            Loop(
                name="loop",
                steps=[Step(name="ask", executor=waits)],
                max_iterations=2,
                human_review=HumanReview(
                    requires_iteration_review=True,
                    on_reject=OnReject.retry,
                    timeout=timeout,
                    on_timeout="approve",
                ),
            ),
        ],
    )


async def until(predicate: Callable[[], object], timeout: float = 30) -> None:
    """Wait until `predicate()` (awaited, if it is a coroutine) holds, polling; fail after
    `timeout` seconds."""
    end = asyncio.get_running_loop().time() + timeout
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.01)  # polls the stored state, bounded by `end`


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_an_async_worker_runs_many_units_at_once_and_all_to_the_end(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """30 runs, each awaiting 50 ms per unit, executed 30 at a time: each pauses, is decided
    from elsewhere (one rejected, once), and completes; the worker counts no error."""
    store = make_store(kind)

    async def scenario() -> None:
        workflow = reviewed(store)
        run_ids = [await workflow.asubmit(n) for n in range(30)]
        worker = AsyncWorker([workflow], store, concurrency=30, poll_seconds=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))

        async def paused() -> bool:
            runs = [await store.aload(run_id) for run_id in run_ids]
            return all(run.status is RunStatus.paused for run in runs)

        await until(paused)
        for n, run_id in enumerate(run_ids):
            verdict = "reject" if n == 0 else "confirm"
            await store.adecide(run_id, None, verdict, "again")

        async def reviewed_again() -> bool:
            return (await store.aload(run_ids[0])).gates[-1].iteration == 2 and await paused_one()

        async def paused_one() -> bool:
            return (await store.aload(run_ids[0])).status is RunStatus.paused

        await until(reviewed_again)
        await store.adecide(run_ids[0], None, "confirm")

        async def completed() -> bool:
            runs = [await store.aload(run_id) for run_id in run_ids]
            return all(run.status is RunStatus.completed for run in runs)

        await until(completed)
        stop.set()
        await task
        assert worker.counts["errors"] == 0
        assert worker.counts["units"] >= 30 * 3
        first = await store.aload(run_ids[0])
        assert first.results[-1].content == "answer 2"

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_an_async_worker_sweeps_timeouts_and_dead_letters_failures(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """With nobody deciding, the worker's sweep fires the timeout (approve) and the run
    completes; a step that always raises is retried, then dead-lettered."""
    store = make_store(kind)

    def broken(step_input: StepInput) -> str:
        raise RuntimeError("upstream API returned 503")

    async def scenario() -> None:
        timed = reviewed(store, timeout=0.2)
        failing = Workflow(name="failing", store=store, steps=[Step(name="s", executor=broken)])
        timed_id = await timed.asubmit("x")
        failing_id = await failing.asubmit("y")
        retry = RetryPolicy(max_attempts=2, base_seconds=0.01, cap_seconds=0.01)
        worker = AsyncWorker(
            [timed, failing], store, concurrency=4, retry=retry, poll_seconds=0.01,
            sweep_seconds=0.05,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))

        async def settled() -> bool:
            done = (await store.aload(timed_id)).status is RunStatus.completed
            dead = [run.run_id for run in await store.adead()]
            return done and dead == [failing_id]

        await until(settled)
        stop.set()
        await task
        assert worker.counts["timeouts"] >= 1
        assert (await store.aload(failing_id)).attempts == 2

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_stopped_async_worker_finishes_its_units_and_claims_no_more(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Stop set while every slot is busy: the unit under way finishes and commits; no slot
    freed afterwards claims another run."""
    store = make_store(kind)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(step_input: StepInput) -> str:
        started.set()
        await release.wait()
        return "done"

    async def scenario() -> None:
        workflow = Workflow(name="slow", store=store, steps=[Step(name="s", executor=slow)])
        ids = [await workflow.asubmit(n) for n in range(3)]
        worker = AsyncWorker([workflow], store, concurrency=1, poll_seconds=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await started.wait()
        stop.set()
        release.set()
        await task
        statuses = sorted([(await store.aload(run_id)).status.value for run_id in ids])
        assert statuses == ["completed", "pending", "pending"]
        assert worker.counts["units"] == 1

    aio(store, scenario)


def test_the_async_worker_command_stops_on_sigterm(tmp_path: Path) -> None:
    """`statemachine worker --async` says it is ready, executes runs, and on SIGTERM finishes
    what it is doing and exits 0."""
    from stores import FileStore

    from .cli_app import reviewed as cli_reviewed

    location = tmp_path / "runs"
    store = FileStore(location)
    run_id = cli_reviewed.bind(store).submit("x")
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine", "worker", "--async", "--concurrency", "8",
         "--app", "tests.cli_app:workflows", "--store", f"file://{location}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        ready = process.stderr.readline()
        assert "up to 8 unit(s) at once" in ready
        end = asyncio.run(_poll_until_paused(store, run_id))
        assert end
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert "stopped after" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def _poll_until_paused(store: Store, run_id: str) -> bool:
    await until(lambda: store.load(run_id).status is RunStatus.paused)
    return True
