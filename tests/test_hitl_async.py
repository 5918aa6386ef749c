"""Every HITL kind under asyncio and in streams, on every store: the awaited twins of each
decision, async evaluators and selectors, and one `StepPausedEvent` per pause, whatever it
asks, announced first by the peer's event for its kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from statemachine import (
    Condition,
    OnError,
    OnReject,
    Parallel,
    RequestKind,
    Router,
    RouterPausedEvent,
    RunOutput,
    RunStatus,
    Step,
    StepContinuedEvent,
    StepErrorEvent,
    StepInput,
    StepOutput,
    StepOutputReviewEvent,
    StepPausedEvent,
    Steps,
    Store,
    Workflow,
    WorkflowCompletedEvent,
    WorkflowEvent,
)

from .helpers import Clock, aio
from .hitl_flows import tag


async def atag_if(step_input: StepInput) -> bool:
    await asyncio.sleep(0)  # a real suspension point
    return bool(step_input.input == "yes")


class Failing:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def __call__(self, step_input: StepInput) -> StepOutput:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"attempt {self.calls} failed")
        return StepOutput(content=f"attempt {self.calls}")


def every_kind(store: Store, clock: Clock, failing: Failing) -> Workflow:
    """A pause of every kind, in order: route, confirmation (inside the route), input,
    error, review."""

    async def pick(step_input: StepInput) -> str:
        return "b"

    return Workflow(name="kinds", store=store, clock=clock, steps=[
        Condition(name="cond", evaluator=atag_if, steps=[
            Router(name="route", requires_user_input=True, choices=[
                Step(name="a", executor=tag("a")),
                Steps("b", steps=[Step(name="b1", executor=tag("b1"), requires_confirmation=True)]),
            ]),
        ], else_steps=[Router(name="auto", selector=pick, choices=[
            Step(name="a", executor=tag("a")), Step(name="b", executor=tag("b"))])]),
        Step(name="values", executor=tag("values"), requires_user_input=True,
             user_input_schema=[{"name": "n", "field_type": "int"}]),
        Step(name="flaky", executor=failing, on_error=OnError.pause),
        Step(name="check", executor=tag("check"), requires_output_review=True,
             on_reject=OnReject.retry),
        Parallel("fan", Step(name="p", executor=tag("p")), Step(name="q", executor=tag("q"))),
    ])  # fmt: skip


def test_every_decision_awaited(store: Store, clock: Clock) -> None:
    failing = Failing(failures=1)
    workflow = every_kind(store, clock, failing)

    paused_at: list[str | None] = []

    async def main() -> RunOutput:
        run = await workflow.arun("yes")
        paused_at.append(run.paused_step_name)
        await run.steps_requiring_route[0].aselect("b")
        run = await workflow.acontinue_run(run)
        paused_at.append(run.paused_step_name)
        await run.steps_requiring_confirmation[0].aconfirm()
        run = await workflow.acontinue_run(run)
        paused_at.append(run.paused_step_name)
        await run.steps_requiring_user_input[0].aset_user_input(n=2)
        run = await workflow.acontinue_run(run)
        paused_at.append(run.paused_step_name)
        await run.steps_with_errors[0].aretry()
        run = await workflow.acontinue_run(run)
        paused_at.append(run.paused_step_name)
        await run.steps_requiring_output_review[0].areject("again")
        run = await workflow.acontinue_run(run)
        await run.steps_requiring_output_review[0].aedit("approved")
        return await workflow.acontinue_run(run)

    done = aio(store, main)
    assert paused_at == ["route", "b1", "values", "flaky", "check"]
    assert done.status is RunStatus.completed
    assert done.content == {"p": "p(approved)", "q": "q(approved)"}
    assert [d.decision for d in done.decided_requirements] == [
        "select", "confirm", "provide", "retry", "reject", "edit",
    ]  # fmt: skip
    assert failing.calls == 2


def test_async_else_branch_and_selector(store: Store, clock: Clock) -> None:
    workflow = every_kind(store, clock, Failing(failures=0))
    run = aio(store, lambda: workflow.arun("no"))
    assert run.paused_step_name == "values"
    assert run.get_step_content("auto") == "b(no)"


def test_askip_and_a_cancelled_rejection(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="skip", store=store, clock=clock, steps=[
        Step(name="flaky", executor=Failing(failures=9), on_error="pause"),
        Step(name="w", executor=tag("w"), requires_output_review=True, on_reject="retry"),
    ])  # fmt: skip

    async def main() -> RunStatus:
        run = await workflow.arun("x")
        await run.steps_with_errors[0].askip()
        run = await workflow.acontinue_run(run)
        asked = run.requirements[0]
        asked.on_reject = "cancel"
        await asked.areject()
        return (await workflow.acontinue_run(run)).status

    assert aio(store, main) is RunStatus.cancelled


FLAGGED = (RequestKind.confirmation, RequestKind.input, RequestKind.route, RequestKind.review)


def pauses(events: Iterator[WorkflowEvent] | list[WorkflowEvent]) -> list[StepPausedEvent]:
    return [event for event in events if isinstance(event, StepPausedEvent)]


def test_one_paused_event_per_pause_whatever_it_asks(store: Store, clock: Clock) -> None:
    workflow = every_kind(store, clock, Failing(failures=1))
    kinds = []
    events = list(workflow.run("yes", stream=True, stream_events=True))
    while True:
        (paused,) = pauses(events)
        assert events[-1] is paused  # it ends the stream
        kinds.append(paused.kind)
        flags = (paused.requires_confirmation, paused.requires_user_input,
                 paused.requires_route_selection, paused.requires_output_review)  # fmt: skip
        assert flags == tuple(paused.kind is kind for kind in FLAGGED)
        announced = {RequestKind.route: RouterPausedEvent, RequestKind.error: StepErrorEvent,
                     RequestKind.review: StepOutputReviewEvent}.get(paused.kind)  # fmt: skip
        if announced is not None:
            assert isinstance(events[-2], announced)
        run = workflow.get_run(paused.run_id)
        asked = run.requirements[0]
        if paused.kind is RequestKind.route:
            assert paused.available_choices == ("a", "b")
            asked.select("a")
        elif paused.kind is RequestKind.input:
            assert paused.user_input_schema[0]["name"] == "n"
            asked.set_user_input(n=1)
        elif paused.kind is RequestKind.error:
            assert paused.error is not None
            assert "attempt 1 failed" in paused.error
            run.steps_with_errors[0].retry()
        else:
            asked.confirm()
        events = list(workflow.continue_run(run, stream=True, stream_events=True))
        if isinstance(events[-1], WorkflowCompletedEvent):
            break
    assert kinds == [RequestKind.route, RequestKind.input, RequestKind.error, RequestKind.review]
    assert events[-1].content == {"p": "p(check(attempt 2))", "q": "q(check(attempt 2))"}


def test_async_stream_pauses_once(store: Store, clock: Clock) -> None:
    workflow = every_kind(store, clock, Failing(failures=0))

    async def collect(stream: AsyncIterator[WorkflowEvent]) -> list[WorkflowEvent]:
        return [event async for event in stream]

    events = aio(store, lambda: collect(workflow.arun("yes", stream=True)))
    (paused,) = pauses(events)
    assert (paused.kind, paused.step_name, events[-1]) == (RequestKind.route, "route", paused)


def test_parallel_branches_run_as_tasks() -> None:
    """Under asyncio a Parallel's branches run as tasks, at the same time."""
    started: list[str] = []
    both = asyncio.Event()

    def branch(name: str):  # type: ignore[no-untyped-def]
        async def run(step_input: StepInput) -> str:
            started.append(name)
            if len(started) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), 5)  # each waits for the other: at once
            return name

        return run

    workflow = Workflow(name="tasks", steps=[
        Parallel("fan", *[Step(name=name, executor=branch(name)) for name in ("x", "y")]),
    ])  # fmt: skip
    run = asyncio.run(workflow.arun(None))
    assert run.content == {"x": "x", "y": "y"}


def test_a_resumed_stream_says_which_decision_resumed_it(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="continued", store=store, clock=clock, steps=[
        Step(name="a", executor=tag("a"), requires_confirmation=True),
    ])  # fmt: skip
    run = workflow.run("x")
    run.requirements[0].confirm()
    events = list(workflow.continue_run(run, stream=True, stream_events=True))
    continued = [event for event in events if isinstance(event, StepContinuedEvent)]
    assert continued == [StepContinuedEvent(run.run_id, "a", "confirm")]
    assert events.index(continued[0]) == 1  # right after the workflow (re)started
