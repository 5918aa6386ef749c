"""The workflow runtime: every row of the transition table through `Workflow`, on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from statemachine import (
    ConflictError,
    DeadlinePassed,
    DefinitionChanged,
    DefinitionError,
    HumanReview,
    InvalidArgument,
    Loop,
    LoopIterationStartedEvent,
    OnReject,
    OnTimeout,
    RunBusy,
    RunOutput,
    RunStatus,
    StaleRequest,
    State,
    Step,
    StepCompletedEvent,
    StepInput,
    StepOutput,
    StepPausedEvent,
    Store,
    VersionConflict,
    Workflow,
    WorkflowCompletedEvent,
    WorkflowFailedEvent,
    dumps,
)

from .helpers import Clock


class Calls:
    """Records every call of user code, to check what ran and with which input."""

    def __init__(self) -> None:
        self.inputs: list[StepInput] = []

    def names(self) -> list[str]:
        return [i.step_name for i in self.inputs]

    def step(self, name: str, content: Callable[[StepInput], Any] | None = None) -> Step:
        def run(step_input: StepInput) -> StepOutput:
            self.inputs.append(step_input)
            value = (
                content(step_input) if content else f"{name} {step_input.iteration or ''}".strip()
            )
            return StepOutput(content=value)

        return Step(name=name, executor=run)


def build(
    store: Store,
    clock: Clock,
    calls: Calls,
    *,
    max_iterations: int = 3,
    body: tuple[str, ...] = ("refine",),
    before: bool = True,
    after: bool = True,
    should_continue: Callable[[StepInput, int], bool] | None = None,
    forward: bool = False,
    name: str = "flow",
    **review: Any,
) -> Workflow:
    """prepare -> loop(body) -> finalize, with `review` as the loop's HumanReview fields."""
    steps: list[Step | Loop] = []
    if before:
        steps.append(calls.step("prepare"))
    steps.append(
        Loop(
            name="loop",
            steps=[calls.step(b) for b in body],
            max_iterations=max_iterations,
            should_continue=should_continue,
            forward_iteration_output=forward,
            human_review=HumanReview(**review) if review else None,
        )
    )
    if after:
        steps.append(calls.step("finalize", lambda si: f"final({si.previous_step_content})"))
    return Workflow(name=name, steps=steps, store=store, clock=clock)


def review_once(out: RunOutput, decide: Callable[[Any], None]) -> None:
    (requirement,) = out.requirements
    decide(requirement)


# Definitions


def test_iteration_review_on_a_step_is_refused_with_a_helpful_message() -> None:
    """requires_iteration_review on a Step raises ValueError naming the step and the options."""
    with pytest.raises(
        ValueError, match=r"Step 'draft'.*requires_iteration_review is not supported.*confirmation"
    ):
        Step(name="draft", executor=str, human_review=HumanReview(requires_iteration_review=True))


BAD_DEFINITIONS: dict[str, Callable[[], object]] = {
    "output review on a loop": lambda: Loop(
        name="l",
        steps=[Step(name="s", executor=str)],
        human_review=HumanReview(requires_output_review=True),
    ),
    "no executor": lambda: Step(name="s"),
    "executor and agent": lambda: Step(name="s", executor=str, agent=object()),
    "agent without run": lambda: Step(name="s", agent=object()),
    "empty loop": lambda: Loop(name="l", steps=[]),
    "zero iterations": lambda: Loop(
        name="l", steps=[Step(name="s", executor=str)], max_iterations=0
    ),
    "review inside a loop": lambda: Loop(
        name="l",
        steps=[Step(name="s", executor=str, human_review=HumanReview(requires_confirmation=True))],
    ),
    "duplicate names": lambda: Workflow(
        name="w",
        steps=[Step(name="s", executor=str), Step(name="s", executor=repr)],
    ),
    "no steps": lambda: Workflow(name="w", steps=[]),
    "empty name": lambda: Step(name=" ", executor=str),
}


@pytest.mark.parametrize("build_it", BAD_DEFINITIONS.values(), ids=BAD_DEFINITIONS.keys())
def test_bad_definitions_raise_definition_errors(build_it: Callable[[], object]) -> None:
    """Each unsupported definition raises DefinitionError, a ValueError, at construction."""
    with pytest.raises(DefinitionError):
        build_it()


# The transition table, row by row


def test_start_without_confirmation_runs_the_first_iteration(store: Store, clock: Clock) -> None:
    """pending + start, no confirmation: iteration 1 runs at once, after the step before."""
    calls = Calls()
    out = build(store, clock, calls, max_iterations=1).run("in")
    assert out.status is RunStatus.completed
    assert calls.names() == ["prepare", "refine", "finalize"]
    assert out.content == "final(refine 1)"
    assert out.states == {"loop": State.done}


def test_start_confirmation_pauses_then_confirm_runs(store: Store, clock: Clock) -> None:
    """pending + start with confirmation pauses; confirm starts iteration 1."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_confirmation=True, confirmation_message="Go?")
    out = workflow.run("in")
    assert out.is_paused
    assert out.states["loop"] is State.awaiting_confirmation
    (req,) = out.steps_requiring_confirmation
    assert (req.step_name, req.confirmation_message) == ("loop", "Go?")
    assert req.step_output.content is None  # nothing to review before the first iteration
    assert calls.names() == ["prepare"]
    req.confirm()
    out = workflow.continue_run(out)
    assert out.status is RunStatus.completed
    assert calls.names() == ["prepare", "refine", "refine", "refine", "finalize"]


@pytest.mark.parametrize("on_reject", [OnReject.skip, OnReject.retry])
def test_rejected_start_skips_the_loop_and_goes_on(
    store: Store, clock: Clock, on_reject: OnReject
) -> None:
    """Rejecting the start confirmation skips the loop, with retry too (nothing to retry yet)."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_confirmation=True, on_reject=on_reject)
    out = workflow.run("in")
    review_once(out, lambda r: r.reject("not now"))
    out = workflow.continue_run(out)
    assert out.status is RunStatus.completed
    assert out.states["loop"] is State.skipped
    assert calls.names() == ["prepare", "finalize"]
    assert out.content == "final(prepare)"  # nothing from the skipped loop flows downstream


def test_rejected_start_with_cancel_cancels_the_run(store: Store, clock: Clock) -> None:
    """on_reject=cancel at the confirmation cancels the gate and the whole run."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_confirmation=True, on_reject=OnReject.cancel)
    out = workflow.run("in")
    review_once(out, lambda r: r.reject())
    assert workflow.get_run(out.run_id).status is RunStatus.cancelled
    out = workflow.continue_run(out)
    assert out.status is RunStatus.cancelled
    assert out.states["loop"] is State.cancelled
    assert calls.names() == ["prepare"]


def test_loop_without_review_iterates_until_should_continue_says_stop(
    store: Store, clock: Clock
) -> None:
    """No review: iterating continues while should_continue is true, then the loop is done."""
    calls = Calls()
    seen: list[tuple[object, int]] = []

    def should_continue(step_input: StepInput, iteration: int) -> bool:
        seen.append((step_input.previous_step_content, iteration))
        return iteration < 2

    out = build(store, clock, calls, max_iterations=5, should_continue=should_continue).run("in")
    assert calls.names() == ["prepare", "refine", "refine", "finalize"]
    assert seen == [("refine 1", 1), ("refine 2", 2)]
    assert out.content == "final(refine 2)"


def test_loop_without_review_stops_at_max_iterations(store: Store, clock: Clock) -> None:
    """No review and no should_continue: exactly max_iterations iterations run."""
    calls = Calls()
    out = build(store, clock, calls, max_iterations=4).run("in")
    assert [i.iteration for i in calls.inputs if i.step_name == "refine"] == [1, 2, 3, 4]
    gate = out.record.gate("loop")
    assert gate is not None
    assert gate.iteration == 4


def test_every_iteration_is_reviewed_including_the_last(store: Store, clock: Clock) -> None:
    """With review and retry, each iteration pauses, the last one too; confirm keeps iteration k."""
    calls = Calls()
    workflow = build(
        store, clock, calls, max_iterations=3, requires_iteration_review=True, on_reject="retry"
    )
    out = workflow.run("in")
    for k in (1, 2):
        (req,) = out.steps_requiring_output_review
        assert (req.iteration, req.step_output.content) == (k, f"refine {k}")
        req.reject(f"feedback {k}")
        out = workflow.continue_run(out)
    (req,) = out.steps_requiring_output_review
    assert req.iteration == 3  # the last iteration is reviewed
    req.confirm()
    out = workflow.continue_run(out)
    assert out.status is RunStatus.completed
    assert out.content == "final(refine 3)"
    gate = out.record.gate("loop")
    assert gate is not None
    assert gate.feedback == ("feedback 1", "feedback 2")


def test_retry_passes_feedback_and_the_rejected_output(store: Store, clock: Clock) -> None:
    """After a rejection the next iteration sees rejection_feedback and previous_output."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_iteration_review=True, on_reject=OnReject.retry)
    out = workflow.run("in")
    review_once(out, lambda r: r.reject("shorter"))
    workflow.continue_run(out)
    first, second = (i for i in calls.inputs if i.step_name == "refine")
    assert first.additional_data == {}
    assert second.additional_data == {
        "rejection_feedback": "shorter",
        "previous_output": "refine 1",
    }
    assert second.iteration == 2


def test_retry_exhausted_skips_the_loop(store: Store, clock: Clock) -> None:
    """Rejecting the last allowed iteration with retry skips the loop: nothing unapproved flows."""
    calls = Calls()
    workflow = build(
        store, clock, calls, max_iterations=2, requires_iteration_review=True, on_reject="retry"
    )
    out = workflow.run("in")
    for _ in range(2):
        review_once(out, lambda r: r.reject("no"))
        out = workflow.continue_run(out)
    assert out.status is RunStatus.completed
    assert out.states["loop"] is State.skipped
    assert out.content == "final(prepare)"


@pytest.mark.parametrize(("on_reject", "state", "status"), [
    (OnReject.skip, State.skipped, RunStatus.completed),
    (OnReject.cancel, State.cancelled, RunStatus.cancelled),
])  # fmt: skip
def test_rejected_review_skips_or_cancels(
    store: Store, clock: Clock, on_reject: OnReject, state: State, status: RunStatus
) -> None:
    """Rejecting a review with skip skips the loop; with cancel, cancels the run."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_iteration_review=True, on_reject=on_reject)
    out = workflow.run("in")
    review_once(out, lambda r: r.reject("no"))
    out = workflow.continue_run(out)
    assert (out.states["loop"], out.status) == (state, status)
    assert ("finalize" in calls.names()) == (status is RunStatus.completed)


TIMEOUT_OUTCOMES = [
    # (paused at, on_timeout, on_reject, gate state after the timeout, run status at the end)
    ("confirmation", OnTimeout.approve, OnReject.skip, State.iterating, RunStatus.completed),
    ("confirmation", OnTimeout.reject, OnReject.retry, State.skipped, RunStatus.completed),
    ("confirmation", OnTimeout.reject, OnReject.cancel, State.cancelled, RunStatus.cancelled),
    ("confirmation", OnTimeout.skip, OnReject.skip, State.skipped, RunStatus.completed),
    ("confirmation", OnTimeout.cancel, OnReject.skip, State.cancelled, RunStatus.cancelled),
    ("review", OnTimeout.approve, OnReject.retry, State.done, RunStatus.completed),
    ("review", OnTimeout.reject, OnReject.retry, State.iterating, RunStatus.paused),
    ("review", OnTimeout.reject, OnReject.skip, State.skipped, RunStatus.completed),
    ("review", OnTimeout.skip, OnReject.retry, State.skipped, RunStatus.completed),
    ("review", OnTimeout.cancel, OnReject.retry, State.cancelled, RunStatus.cancelled),
]


@pytest.mark.parametrize(
    ("paused_at", "on_timeout", "on_reject", "state", "final"), TIMEOUT_OUTCOMES
)
def test_timeouts_fire_with_nobody_calling(
    store: Store,
    clock: Clock,
    paused_at: str,
    on_timeout: OnTimeout,
    on_reject: OnReject,
    state: State,
    final: RunStatus,
) -> None:
    """An unanswered pause gets its on_timeout from a sweep alone, just past the deadline."""
    calls = Calls()
    review: dict[str, Any] = (
        {"requires_confirmation": True}
        if paused_at == "confirmation"
        else {"requires_iteration_review": True}
    )
    workflow = build(
        store, clock, calls, on_timeout=on_timeout, on_reject=on_reject, timeout=60, **review
    )
    out = workflow.run("in")
    (req,) = out.requirements
    assert req.deadline == clock.now + timedelta(seconds=60)  # absolute: paused_at + timeout
    clock.now = req.deadline
    assert store.expire_due(clock.now) == []  # at the deadline a decision still wins
    clock.advance(0.000001)
    assert store.expire_due(clock.now) == [out.run_id]
    assert store.expire_due(clock.now) == []
    assert workflow.get_run(out.run_id).states["loop"] is state
    out = workflow.continue_run(out.run_id)
    assert out.status is final


def test_reads_apply_an_overdue_timeout(store: Store, clock: Clock) -> None:
    """get_run never shows a pause past its deadline: it applies the timeout first."""
    workflow = build(
        store, clock, Calls(), requires_iteration_review=True, timeout=30, on_timeout="skip"
    )
    out = workflow.run("in")
    clock.advance(31)
    assert store.load(out.run_id).status is RunStatus.paused  # nothing applied it yet
    after = workflow.get_run(out.run_id)
    assert after.states["loop"] is State.skipped
    assert after.status is RunStatus.pending
    assert store.load(out.run_id).version == after.version  # and it was stored


def test_decision_in_time_wins_over_a_later_sweep(store: Store, clock: Clock) -> None:
    """A decision recorded at the deadline is kept; the sweep after it finds nothing to do."""
    calls = Calls()
    workflow = build(
        store, clock, calls, requires_iteration_review=True, timeout=60, on_timeout="cancel"
    )
    out = workflow.run("in")
    clock.advance(60)
    review_once(out, lambda r: r.confirm())
    clock.advance(3600)
    assert store.expire_due(clock.now) == []
    assert workflow.continue_run(out.run_id).status is RunStatus.completed


def test_decision_after_the_deadline_raises_and_the_timeout_applies(
    store: Store, clock: Clock
) -> None:
    """confirm() after the deadline raises DeadlinePassed; the on_timeout action is what happens."""
    calls = Calls()
    workflow = build(
        store, clock, calls, requires_iteration_review=True, timeout=60, on_timeout="skip"
    )
    out = workflow.run("in")
    clock.advance(61)
    (req,) = out.requirements
    with pytest.raises(DeadlinePassed) as info:
        req.confirm()
    assert info.value.deadline == req.deadline
    assert workflow.get_run(out.run_id).states["loop"] is State.skipped


def test_cancel_run_from_a_pause_and_while_running(store: Store, clock: Clock) -> None:
    """cancel_run cancels a paused run, and a running one from inside its own step."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_iteration_review=True)
    out = workflow.run("in")
    assert workflow.cancel_run(out.run_id).status is RunStatus.cancelled
    assert workflow.get_run(out.run_id).states["loop"] is State.cancelled

    def cancel_myself(step_input: StepInput) -> str:
        workflow2.cancel_run(step_input.run_id)
        return "too late"

    workflow2 = Workflow(
        name="self_cancel", store=store, clock=clock,
        steps=[Step(name="a", executor=cancel_myself), Step(name="b", executor=str)],
    )  # fmt: skip
    with pytest.raises(ConflictError):
        workflow2.run("in")
    run = store.list_runs("self_cancel")[0]
    assert run.status is RunStatus.cancelled
    assert run.results == ()


def test_finished_gates_refuse_decisions(store: Store, clock: Clock) -> None:
    """Deciding again on a request that was answered elsewhere raises StaleRequest."""
    workflow = build(store, clock, Calls(), requires_iteration_review=True)
    out = workflow.run("in")
    (mine,) = out.requirements
    (theirs,) = workflow.get_run(out.run_id).requirements
    theirs.confirm()
    theirs.confirm()  # the same requirement again: a no-op
    with pytest.raises(StaleRequest):
        mine.reject("too late")


# Iterations, inputs and outputs


def test_multi_step_loop_body_counts_iterations_not_steps(store: Store, clock: Clock) -> None:
    """A three-step body run twice is two iterations, each step seeing its predecessor's content."""
    calls = Calls()
    workflow = build(
        store, clock, calls, body=("draft", "edit", "polish"), max_iterations=3,
        requires_iteration_review=True, on_reject="retry",
    )  # fmt: skip
    out = workflow.run("in")
    review_once(out, lambda r: r.reject("again"))
    out = workflow.continue_run(out)
    (req,) = out.requirements
    assert req.iteration == 2
    assert req.step_output.content == "polish 2"
    edits = [i for i in calls.inputs if i.step_name == "edit"]
    assert [(i.iteration, i.previous_step_content) for i in edits] == [
        (1, "draft 1"),
        (2, "draft 2"),
    ]
    gate = out.record.gate("loop")
    assert gate is not None
    assert gate.iteration == 2
    assert len(gate.outputs) == 2


def test_forward_iteration_output_survives_pause_and_resume_in_a_new_workflow(
    store: Store, clock: Clock
) -> None:
    """With forwarding, iteration k + 1 gets iteration k's output, also after a cold resume."""
    calls = Calls()
    kwargs: dict[str, Any] = {
        "forward": True,
        "requires_iteration_review": True,
        "on_reject": "retry",
    }
    out = build(store, clock, calls, **kwargs).run("in")
    review_once(out, lambda r: r.reject("more"))
    fresh_calls = Calls()
    build(store, clock, fresh_calls, **kwargs).continue_run(out.run_id)
    (second,) = fresh_calls.inputs
    assert (second.iteration, second.previous_step_content, second.input) == (2, "refine 1", "in")


def test_without_forwarding_each_iteration_starts_from_before_the_loop(
    store: Store, clock: Clock
) -> None:
    """Without forwarding, previous_step_content is the pre-loop content in every iteration."""
    calls = Calls()
    build(store, clock, calls, max_iterations=2).run("in")
    assert [i.previous_step_content for i in calls.inputs if i.step_name == "refine"] == [
        "prepare",
        "prepare",
    ]


def test_step_inputs_carry_results_ids_and_idempotency_keys(store: Store, clock: Clock) -> None:
    """Steps see earlier outputs by name, the run id, and a key stable across retries."""
    calls = Calls()
    out = build(store, clock, calls, max_iterations=1).run("in")
    final = calls.inputs[-1]
    assert final.previous_step_outputs["prepare"] == StepOutput(
        content="prepare", step_name="prepare"
    )
    assert final.previous_step_outputs["loop"].content == "refine 1"
    assert final.run_id == out.run_id
    assert calls.inputs[1].idempotency_key == f"{out.run_id}:loop:1"
    assert [r.step_name for r in out.step_results] == ["prepare", "loop", "finalize"]


def test_agent_steps_get_the_feedback_appended_to_their_message(store: Store, clock: Clock) -> None:
    """An agent's message is the previous content, plus the feedback after a rejection."""

    class Reply:
        def __init__(self, content: str) -> None:
            self.content = content

    class EchoAgent:
        def __init__(self) -> None:
            self.messages: list[str] = []

        def run(self, message: str) -> Reply:
            self.messages.append(message)
            return Reply(f"v{len(self.messages)}")

    agent = EchoAgent()
    workflow = Workflow(
        name="agent_flow", store=store, clock=clock,
        steps=[Loop(name="loop", steps=[Step(name="write", agent=agent)],
                    forward_iteration_output=True,
                    human_review=HumanReview(requires_iteration_review=True, on_reject="retry"))],
    )  # fmt: skip
    out = workflow.run("Write a haiku")
    review_once(out, lambda r: r.reject("more snow"))
    workflow.continue_run(out)
    assert agent.messages[0] == "Write a haiku"
    assert agent.messages[1].startswith("v1")
    assert agent.messages[1].endswith("more snow")


def test_step_with_output_review(store: Store, clock: Clock) -> None:
    """A Step with output review pauses after it runs; confirm passes its output downstream."""
    calls = Calls()
    draft = Step(
        name="draft", executor=lambda si: "email draft",
        human_review=HumanReview(requires_output_review=True, output_review_message="Send it?"),
    )  # fmt: skip
    workflow = Workflow(
        name="mail",
        store=store,
        clock=clock,
        steps=[draft, calls.step("send", lambda si: f"sent {si.previous_step_content}")],
    )
    out = workflow.run("x")
    (req,) = out.steps_requiring_output_review
    assert (req.output_review_message, req.step_output.content) == ("Send it?", "email draft")
    req.confirm()
    assert workflow.continue_run(out).content == "sent email draft"


# Failures, conflicts, changed definitions


def test_executor_exception_fails_the_run_and_continue_retries(store: Store, clock: Clock) -> None:
    """A raising executor leaves the gate iterating and the run failed; continue_run retries it."""
    attempts: list[int] = []

    def flaky(step_input: StepInput) -> str:
        attempts.append(step_input.iteration or 0)
        if len(attempts) == 1:
            raise RuntimeError("model timed out")
        return "ok"

    workflow = Workflow(
        name="flaky", store=store, clock=clock,
        steps=[Loop(name="loop", steps=[Step(name="call", executor=flaky)], max_iterations=1)],
    )  # fmt: skip
    out = workflow.run("in")
    assert out.status is RunStatus.failed
    assert out.error is not None
    assert "RuntimeError: model timed out" in out.error
    assert out.states["loop"] is State.iterating
    out = workflow.continue_run(out)
    assert (out.status, out.content, attempts) == (RunStatus.completed, "ok", [1, 1])


@pytest.mark.parametrize("bad", [object(), ("tuple",), float("nan")])
def test_output_json_cannot_store_fails_the_step_clearly(
    store: Store, clock: Clock, bad: object
) -> None:
    """A step returning something JSON would alter fails the run, naming the step."""
    workflow = Workflow(
        name="bad", store=store, clock=clock, steps=[Step(name="odd", executor=lambda si: bad)]
    )
    out = workflow.run("in")
    assert out.status is RunStatus.failed
    assert out.error is not None
    assert "'odd'" in out.error


def test_streaming_failure_ends_the_stream_with_a_failed_event(store: Store, clock: Clock) -> None:
    """A raising step ends the stream with WorkflowFailedEvent."""

    def boom(step_input: StepInput) -> str:
        raise ValueError("boom")

    workflow = Workflow(
        name="boom", store=store, clock=clock, steps=[Step(name="s", executor=boom)]
    )
    events = list(workflow.run("in", stream=True))
    assert isinstance(events[-1], WorkflowFailedEvent)
    assert "ValueError: boom" in events[-1].error


def test_continuing_a_run_that_moved_on_is_a_conflict(store: Store, clock: Clock) -> None:
    """continue_run with an output read before another process continued raises ConflictError."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_iteration_review=True, on_reject="retry")
    out = workflow.run("in")
    stale = workflow.get_run(out.run_id)
    review_once(out, lambda r: r.reject("again"))
    workflow.continue_run(out)
    ran = len(calls.inputs)
    with pytest.raises(VersionConflict) as info:
        workflow.continue_run(stale)
    assert info.value.expected_version == stale.version
    assert len(calls.inputs) == ran  # no user code ran


def test_continuing_a_run_held_elsewhere_is_busy(store: Store, clock: Clock) -> None:
    """While one caller executes a run, another continue_run gets RunBusy and runs nothing."""
    calls = Calls()
    workflow = build(store, clock, calls, requires_iteration_review=True)
    out = workflow.run("in")
    review_once(out, lambda r: r.confirm())
    with store.hold(out.run_id), pytest.raises(RunBusy):
        workflow.continue_run(out.run_id)
    assert calls.names() == ["prepare", "refine"]


def test_resume_against_a_changed_definition(store: Store, clock: Clock) -> None:
    """Resuming works if the paused step keeps its name and kind, and fails clearly otherwise."""
    calls = Calls()
    out = build(store, clock, calls, requires_iteration_review=True).run("in")
    review_once(out, lambda r: r.confirm())
    added = Workflow(
        name="flow", store=store, clock=clock,
        steps=[calls.step("prepare"), Loop(name="loop", steps=[calls.step("refine")]),
               calls.step("extra")],
    )  # fmt: skip
    renamed = Workflow(
        name="flow", store=store, clock=clock, steps=[calls.step("prepare"), calls.step("other")]
    )
    retyped = Workflow(
        name="flow", store=store, clock=clock, steps=[calls.step("prepare"), calls.step("loop")]
    )
    with pytest.raises(DefinitionChanged, match="no such step"):
        renamed.continue_run(out.run_id)
    with pytest.raises(DefinitionChanged, match="it was a loop, it is now a step"):
        retyped.continue_run(out.run_id)
    assert added.continue_run(out.run_id).content == "extra"
    assert calls.names() == ["prepare", "refine", "extra"]  # nothing re-ran


def test_runs_of_another_workflow_are_refused(store: Store, clock: Clock) -> None:
    """continue_run refuses a run that a differently named workflow started."""
    out = build(store, clock, Calls(), requires_iteration_review=True).run("in")
    with pytest.raises(InvalidArgument, match="belongs to workflow 'flow'"):
        build(store, clock, Calls(), name="other").continue_run(out.run_id)


# Streaming


def test_streaming_yields_one_pause_event_and_resumes_from_the_stored_iteration(
    store: Store, clock: Clock
) -> None:
    """Each pause ends its stream with one StepPausedEvent; a resumed stream goes on at k + 1."""
    calls = Calls()
    workflow = build(
        store, clock, calls, requires_iteration_review=True, on_reject="retry", timeout=300
    )
    events = list(workflow.run("in", stream=True, stream_events=True))
    paused = [e for e in events if isinstance(e, StepPausedEvent)]
    assert len(paused) == 1
    assert events[-1] is paused[0]
    assert {e.run_id for e in events} == {paused[0].run_id}
    assert (paused[0].kind.value, paused[0].iteration, paused[0].step_output) == (
        "review",
        1,
        "refine 1",
    )
    assert paused[0].deadline is not None
    for k in (2, 3):
        run = workflow.get_session().runs[-1]
        review_once(run, lambda r: r.reject("again"))
        events = list(workflow.continue_run(run, stream=True, stream_events=True))
        started = [e.iteration for e in events if isinstance(e, LoopIterationStartedEvent)]
        assert started == [k]
        assert sum(isinstance(e, StepPausedEvent) for e in events) == 1
    review_once(workflow.get_session().runs[-1], lambda r: r.confirm())
    events = list(workflow.continue_run(run.run_id, stream=True, stream_events=True))
    assert isinstance(events[-1], WorkflowCompletedEvent)
    assert [e.step_name for e in events if isinstance(e, StepCompletedEvent)] == [
        "loop",
        "finalize",
    ]


def test_stream_without_step_events_yields_only_the_ending(store: Store, clock: Clock) -> None:
    """stream_events=False yields just the event that ends the stream."""
    workflow = build(store, clock, Calls(), requires_confirmation=True)
    (event,) = list(workflow.run("in", stream=True))
    assert isinstance(event, StepPausedEvent)
    assert event.kind.value == "confirmation"


# Sessions and storage size


def test_a_session_is_its_callers_runs_in_creation_order(store: Store, clock: Clock) -> None:
    """get_session() lists this workflow object's runs, in the order they were created (runs
    made at the same instant too); another caller's runs of the same workflow on a shared
    store are not in it, and a session id finds a session again from another process."""
    mine = build(store, clock, Calls())
    theirs = build(store, clock, Calls())  # another process, the same workflow and store
    first = mine.run("a")
    theirs.run("someone else's")
    second, third = mine.run("b"), mine.run("c")  # the clock did not move: one instant
    build(store, clock, Calls(), name="unrelated").run("x")
    expected = [first.run_id, second.run_id, third.run_id]
    assert [r.run_id for r in mine.get_session().runs] == expected
    assert [r.run_id for r in theirs.get_session().runs] != expected
    again = build(store, clock, Calls())
    assert again.get_session().runs == []
    assert [r.run_id for r in again.get_session(mine.session_id).runs] == expected
    named = build(store, clock, Calls())
    run = named.run("d", session_id="team-42", user_id="alice")
    assert (run.session_id, run.record.user_id) == ("team-42", "alice")
    assert [r.run_id for r in named.get_session("team-42").runs] == [run.run_id]


def test_the_seed_pages_session_loop_never_answers_another_callers_request(
    store: Store, clock: Clock
) -> None:
    """The seed page's streaming loop (`get_session().runs[-1]`, confirm, continue) decides
    its own run, even when another caller's paused run of the same workflow is newer."""
    mine = build(store, clock, Calls(), requires_confirmation=True)
    other = build(store, clock, Calls(), requires_confirmation=True)
    list(mine.run("mine", stream=True, stream_events=True))
    clock.advance(1)
    theirs = other.run("theirs")
    run_output = mine.get_session().runs[-1]
    while run_output.is_paused:
        for req in run_output.steps_requiring_confirmation:
            req.confirm()
        list(mine.continue_run(run_output, stream=True, stream_events=True))
        run_output = mine.get_session().runs[-1]
    assert run_output.input == "mine"
    assert run_output.status.value == "completed"
    assert store.load(theirs.run_id).status.value == "paused"


def test_snapshot_grows_linearly_with_rejections(store: Store, clock: Clock) -> None:
    """Each rejection adds at most its feedback twice (the gate's list, and the answer that
    keeps what was decided, when and by whom), the output it keeps, and 300 bytes."""
    workflow = build(
        store, clock, Calls(), max_iterations=41, requires_iteration_review=True, on_reject="retry"
    )
    out = workflow.run("in")
    sizes = [len(dumps(out.record))]
    for k in range(1, 41):
        feedback = f"please change paragraph {k}"
        review_once(out, lambda r, fb=feedback: r.reject(fb))  # type: ignore[misc]
        out = workflow.continue_run(out)
        sizes.append(len(dumps(out.record)))
        kept = len(f'"refine {k + 1}",')
        assert sizes[-1] - sizes[-2] <= 2 * len(feedback) + kept + 300, (k, sizes[-2:])
    assert sizes[-1] < 16_000
