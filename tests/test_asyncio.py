"""The asyncio API on every store: runs, streams, decisions and reads awaited, ``async def``
user code, and the cancellation rule (only the `cancel` event cancels a run)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from statemachine import (
    HumanReview,
    Loop,
    OnReject,
    RunBusy,
    RunStatus,
    Step,
    StepInput,
    StepPausedEvent,
    Store,
    Workflow,
)
from statemachine.runtime.stream import LoopIterationStartedEvent
from stores import MemoryStore

from .conftest import STORE_KINDS
from .helpers import aio


async def drafted(step_input: StepInput) -> str:
    """An ``async def`` executor: it awaits before it answers, as a network call would."""
    await asyncio.sleep(0)
    feedback = step_input.additional_data.get("rejection_feedback")
    return f"draft {step_input.iteration}" + (f" ({feedback})" if feedback else "")


def reviewed(store: Store, executor: Callable[..., object] = drafted) -> Workflow:
    """prepare, then a loop whose every iteration is reviewed (retry on reject), then finish."""
    return Workflow(
        name="async_flow",
        store=store,
        steps=[
            Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
            Loop(
                name="loop",
                steps=[Step(name="draft", executor=executor)],
                max_iterations=3,
                human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
            ),
            Step(name="finish", executor=lambda si: f"final {si.previous_step_content}"),
        ],
    )


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_run_paused_decided_and_continued_under_asyncio(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """arun pauses at the review; areject and aconfirm record decisions; acontinue_run goes
    on from the stored iteration; aget_run and aget_session read it back."""
    store = make_store(kind)

    async def scenario() -> None:
        workflow = reviewed(store)
        run = await workflow.arun("notes")
        assert run.is_paused
        assert run.steps_requiring_output_review[0].step_output.content == "draft 1"
        await run.requirements[0].areject("shorter")
        run = await workflow.acontinue_run(run)
        assert run.requirements[0].step_output.content == "draft 2 (shorter)"
        await run.requirements[0].aconfirm()
        done = await workflow.acontinue_run(run.run_id)
        assert (done.status, done.content) == (RunStatus.completed, "final draft 2 (shorter)")
        assert (await workflow.aget_run(run.run_id)).version == done.version
        session = await workflow.aget_session()
        assert [each.run_id for each in session.runs] == [run.run_id]

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_an_async_session_is_its_callers_runs_in_creation_order(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """aget_session lists this object's runs in creation order (many within one clock tick),
    not another caller's runs of the same workflow; a session id finds them again."""
    store = make_store(kind)

    async def scenario() -> None:
        mine, theirs = reviewed(store), reviewed(store)
        ids = []
        for n in range(5):
            ids.append((await mine.arun(f"mine {n}")).run_id)
            await theirs.arun(f"theirs {n}")
        assert [run.run_id for run in (await mine.aget_session()).runs] == ids
        assert not set(ids) & {run.run_id for run in (await theirs.aget_session()).runs}
        again = reviewed(store)
        assert [run.run_id for run in (await again.aget_session(mine.session_id)).runs] == ids

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_an_async_stream_yields_what_the_sync_stream_yields(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """The same workflow, streamed with events by both APIs, yields the same events."""
    store = make_store(kind)

    def shape(event: object) -> tuple[object, ...]:
        fields = dict(vars(event)) if hasattr(event, "__dict__") else {}
        kept = {k: v for k, v in fields.items() if k not in ("run_id", "request_id", "deadline")}
        return (type(event).__name__, tuple(sorted(kept.items())))

    sync_events = [shape(e) for e in reviewed(store).run("x", stream=True, stream_events=True)]

    async def collect() -> list[tuple[object, ...]]:
        return [
            shape(event)
            async for event in reviewed(store).arun("x", stream=True, stream_events=True)
        ]

    assert aio(store, collect) == sync_events
    assert sync_events[-1][0] == "StepPausedEvent"


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_async_executors_run_to_completion_under_the_sync_api(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """An ``async def`` executor works under `run` too: on an event loop of its own."""
    store = make_store(kind)
    run = reviewed(store).run("x")
    assert run.requirements[0].step_output.content == "draft 1"


def test_a_sync_run_inside_a_running_loop_still_completes_async_executors() -> None:
    """Called from async code, the sync API runs async executors on a loop in a thread."""

    async def scenario() -> str:
        run = reviewed(MemoryStore()).run("x")
        content = run.requirements[0].step_output.content
        assert isinstance(content, str)
        return content

    assert asyncio.run(scenario()) == "draft 1"  # a memory store: nothing to close


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_cancelling_the_task_mid_iteration_changes_nothing_stored(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """A task running acontinue_run cancelled while an iteration awaits: the run stays at its
    last commit, nothing is held, and it can be continued; it is not cancelled."""
    store = make_store(kind)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(step_input: StepInput) -> str:
        started.set()
        await release.wait()
        return "late draft"

    async def scenario() -> None:
        workflow = reviewed(store, slow)
        run_id = await workflow.asubmit("x")
        before = await store.aload(run_id)
        task = asyncio.create_task(workflow.acontinue_run(run_id))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await store.aload(run_id)
        assert after.status is not RunStatus.cancelled
        assert after.version >= before.version
        assert "iteration_completed" not in [entry.event for entry in after.history]
        release.set()
        resumed = await workflow.acontinue_run(run_id)  # nothing held: it can be continued
        assert resumed.is_paused
        assert resumed.requirements[0].step_output.content == "late draft"

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_leaving_an_async_stream_early_changes_nothing_stored(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Leaving a stream at its StepPausedEvent, or in the middle of an iteration, leaves the
    run as last committed (paused is paused, never cancelled), and continuable at once."""
    store = make_store(kind)

    async def scenario() -> None:
        workflow = reviewed(store)
        stream = workflow.arun("x", stream=True, stream_events=True)
        async for event in stream:
            if isinstance(event, StepPausedEvent):
                run_id = event.run_id
                break
        paused = await store.aload(run_id)
        assert paused.status is RunStatus.paused
        run = await workflow.aget_run(run_id)
        await run.requirements[0].areject("again")
        decided = await store.aload(run_id)
        middle = workflow.acontinue_run(run_id, stream=True, stream_events=True)
        async for event in middle:
            if isinstance(event, LoopIterationStartedEvent):
                break  # mid-iteration: the user code has not run
        await middle.aclose()
        assert await store.aload(run_id) == decided
        resumed = await workflow.acontinue_run(run_id)
        assert resumed.requirements[0].step_output.content == "draft 2 (again)"

    aio(store, scenario)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_only_the_cancel_event_cancels_a_run_under_asyncio(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """acancel_run cancels from any task; a run being executed meanwhile is held (RunBusy)
    for other executors, and the cancellation is a transition of its own."""
    store = make_store(kind)

    async def scenario() -> None:
        workflow = reviewed(store)
        run = await workflow.arun("x")
        cancelled = await workflow.acancel_run(run.run_id)
        assert cancelled.status is RunStatus.cancelled
        assert cancelled.record.history[-1].event == "cancel"
        async with store.ahold(run.run_id):
            with pytest.raises(RunBusy):
                await workflow.acontinue_run(run.run_id)

    aio(store, scenario)
