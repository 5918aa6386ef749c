"""User input, error review, edited outputs, conditional reviews, re-runs on rejection, the
flat keywords and the history of answered requests, at runtime on every store."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import (
    HumanReview,
    InvalidInput,
    OnError,
    OnReject,
    OnTimeout,
    RunStatus,
    Step,
    StepInput,
    StepOutput,
    Store,
    UserInputField,
    Workflow,
    WrongDecision,
    pause,
)
from statemachine.runtime.calls import TRACEBACK_CHARS

from .helpers import Clock
from .hitl_flows import tag

COUNT = UserInputField(name="count", field_type="int", description="how many")
SCHEMA = [
    COUNT,
    {"name": "colour", "field_type": "str", "allowed_values": ["red", "blue"]},
    {"name": "note", "field_type": "str", "required": False},
]


def echo_input(step_input: StepInput) -> StepOutput:
    return StepOutput(content=step_input.additional_data["user_input"])


def test_user_input_is_checked_then_reaches_the_step(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="input", store=store, clock=clock, steps=[
        Step(name="ask", executor=echo_input, requires_user_input=True,
             user_input_message="Fill in the order", user_input_schema=SCHEMA),
    ])  # fmt: skip
    run = workflow.run("x")
    (asked,) = run.steps_requiring_user_input
    assert asked.user_input_message == "Fill in the order"
    assert [field.name for field in asked.user_input_schema or []] == ["count", "colour", "note"]
    version = run.version
    with pytest.raises(InvalidInput) as refused:
        asked.set_user_input(count="3", colour="green", extra=1)
    assert "'count' must be an int" in str(refused.value)
    assert "'colour' must be one of ['red', 'blue']" in str(refused.value)
    assert "there is no field 'extra'" in str(refused.value)
    assert store.get(run.run_id).version == version  # nothing was written
    with pytest.raises(WrongDecision):
        asked.confirm()
    asked.set_user_input(count=3, colour="red")
    assert asked.get_user_input("count") == 3
    done = workflow.continue_run(run)
    assert done.content == {"count": 3, "colour": "red"}
    (given,) = done.decided_requirements
    assert (given.decision, given.user_input) == ("provide", {"count": 3, "colour": "red"})


def test_confirmation_then_input_on_one_step(store: Store, clock: Clock) -> None:
    """A step asking both is confirmed first, then given its values."""
    workflow = Workflow(name="both", store=store, clock=clock, steps=[
        Step(name="ask", executor=echo_input, requires_confirmation=True,
             requires_user_input=True),
    ])  # fmt: skip
    run = workflow.run("x")
    run.steps_requiring_confirmation[0].confirm()
    assert run.is_paused
    assert run.steps_requiring_user_input
    run.steps_requiring_user_input[0].set_user_input(anything="goes")  # no schema: any values
    assert workflow.continue_run(run).content == {"anything": "goes"}


class Flaky:
    """Fails its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self, step_input: StepInput) -> StepOutput:
        self.calls += 1
        if self.calls <= self.failures:
            raise ValueError(f"upstream said no ({self.calls})")
        return StepOutput(content=f"ok after {self.calls}")


def test_error_review_retry_runs_the_step_again(store: Store, clock: Clock) -> None:
    """Executor retries come first; then the failure waits for a human, who retries it."""
    flaky = Flaky(failures=5)
    workflow = Workflow(name="errors", store=store, clock=clock, steps=[
        Step(name="call", executor=flaky, on_error=OnError.pause, max_retries=1),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("x")
    assert flaky.calls == 2  # one call and one executor retry
    (error,) = run.steps_with_errors
    assert (error.error_type, error.error_message) == ("ValueError", "upstream said no (2)")
    assert (error.retry_count, error.needs_decision) == (0, True)
    error.retry()
    run = workflow.continue_run(run)
    (error,) = run.steps_with_errors  # each retry makes the executor's attempts again
    assert (error.error_message, error.retry_count) == ("upstream said no (4)", 1)
    error.retry()
    done = workflow.continue_run(run)
    assert (done.status, done.content) == (RunStatus.completed, "z(ok after 6)")


def test_error_review_skip_goes_on_without_the_output(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="errors", store=store, clock=clock, steps=[
        Step(name="a", executor=tag("a")),
        Step(name="call", executor=Flaky(failures=9), on_error="pause"),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("x")
    run.steps_with_errors[0].skip()
    done = workflow.continue_run(run)
    assert (done.content, done.get_step_content("call")) == ("z(a(x))", None)


@pytest.mark.parametrize(("on_error", "status"), [
    (OnError.fail, RunStatus.failed), (OnError.skip, RunStatus.completed), (None, RunStatus.failed),
])  # fmt: skip
def test_on_error_fail_and_skip(
    store: Store, clock: Clock, on_error: OnError | None, status: RunStatus
) -> None:
    """`fail` (the default) fails the run with the error kept; `skip` goes on."""
    workflow = Workflow(name="errors", store=store, clock=clock, steps=[
        Step(name="call", executor=Flaky(failures=9), on_error=on_error),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("x")
    assert run.status is status
    if status is RunStatus.failed:
        assert run.error is not None
        assert "upstream said no (1)" in run.error
    else:
        assert run.content == "z(x)"


def test_edit_flows_downstream_and_both_outputs_are_kept(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="edit", store=store, clock=clock, steps=[
        Step(name="draft", executor=tag("draft"), requires_output_review=True,
             output_review_message="Send this?"),
        Step(name="send", executor=tag("send")),
    ])  # fmt: skip
    run = workflow.run("x")
    (review,) = run.steps_requiring_output_review
    assert (review.output_review_message, review.step_output.content) == ("Send this?", "draft(x)")
    review.edit("a better draft")
    done = workflow.continue_run(run)
    assert done.content == "send(a better draft)"
    assert done.get_step_content("draft") == "a better draft"
    (edited,) = done.decided_requirements
    assert edited.confirmed is True
    assert edited.edited_output == "a better draft"
    assert edited.step_output is not None
    assert edited.step_output.content == "draft(x)"


@pytest.mark.parametrize(("text", "paused"), [("urgent", True), ("calm", False)])
def test_a_predicate_decides_whether_the_output_is_reviewed(
    store: Store, clock: Clock, text: str, paused: bool
) -> None:
    def risky(output: StepOutput) -> bool:
        return "urgent" in str(output.content)

    workflow = Workflow(name="maybe", store=store, clock=clock, steps=[
        Step(name="w", executor=tag("w"), requires_output_review=risky),
    ])  # fmt: skip
    assert workflow.run(text).is_paused is paused


def test_a_failing_predicate_asks_for_the_review(store: Store, clock: Clock) -> None:
    """Nothing unreviewed flows on because a predicate broke (the peer skips the review)."""

    def broken(output: StepOutput) -> bool:
        raise RuntimeError("bad predicate")

    workflow = Workflow(name="maybe", store=store, clock=clock, steps=[
        Step(name="w", executor=tag("w"), requires_output_review=broken),
    ])  # fmt: skip
    assert workflow.run("x").is_paused


def test_rejected_output_runs_again_with_feedback_up_to_the_cap(store: Store, clock: Clock) -> None:
    seen: list[dict[str, Any]] = []

    def write(step_input: StepInput) -> StepOutput:
        seen.append(dict(step_input.additional_data))
        return StepOutput(content=f"draft {len(seen)}")

    workflow = Workflow(name="retry", store=store, clock=clock, steps=[
        Step(name="w", executor=write, requires_output_review=True, on_reject=OnReject.retry,
             hitl_max_retries=1),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("x")
    assert (run.requirements[0].retry_count, run.requirements[0].max_retries) == (0, 1)
    run.requirements[0].reject("shorter")
    run = workflow.continue_run(run)
    assert seen[1] == {"rejection_feedback": "shorter", "previous_output": "draft 1"}
    assert run.requirements[0].retry_count == 1
    run.requirements[0].reject("still too long")
    done = workflow.continue_run(run)  # no retries left: skipped, nothing unapproved flows on
    assert (done.status, done.content, len(seen)) == (RunStatus.completed, "z(x)", 2)


def test_on_reject_cancel_at_decision_time(store: Store, clock: Clock) -> None:
    """The peer's `req.reject(); req.on_reject = "cancel"` cancels instead of retrying."""
    workflow = Workflow(name="cancel", store=store, clock=clock, steps=[
        Step(name="w", executor=tag("w"), requires_output_review=True, on_reject="retry"),
    ])  # fmt: skip
    run = workflow.run("x")
    asked = run.requirements[0]
    asked.reject()
    asked.on_reject = "cancel"
    assert workflow.continue_run(run).status is RunStatus.cancelled
    with pytest.raises(ValueError, match="only be made 'cancel'"):
        workflow.run("y").requirements[0].on_reject = "skip"


def test_flat_keywords_build_the_same_review() -> None:
    flat = Step(name="s", executor=tag("s"), requires_confirmation=True,
                confirmation_message="Go?", on_reject="skip", timeout=60, on_timeout="approve",
                requires_user_input=True, user_input_schema=SCHEMA, hitl_max_retries=2)  # fmt: skip
    nested = Step(name="s", executor=tag("s"), human_review=HumanReview(
        requires_confirmation=True, confirmation_message="Go?", on_reject=OnReject.skip,
        timeout=60, on_timeout=OnTimeout.approve, requires_user_input=True,
        user_input_schema=SCHEMA, max_retries=2))  # fmt: skip
    assert flat.human_review == nested.human_review
    assert (flat.requires_confirmation, flat.confirmation_message, flat.timeout) == (
        True, "Go?", 60,
    )  # fmt: skip
    assert flat.on_reject == "skip"
    spelled: list[str] = ["else", "pause"]  # as the peer's code compares them, with strings
    assert [OnReject.else_branch, OnError.pause] == spelled
    assert flat.hitl_max_retries == 2
    with_review = Step(name="s", executor=tag("s"), requires_confirmation=True,
                       human_review=HumanReview(requires_output_review=True))  # fmt: skip
    assert with_review.human_review == HumanReview(requires_output_review=True)  # it wins


def test_history_says_who_decided_what_and_when(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="audit", store=store, clock=clock, user_id="ada", steps=[
        Step(name="a", executor=tag("a"), requires_confirmation=True),
        Step(name="b", executor=tag("b"), requires_output_review=True, timeout=30,
             on_timeout="approve"),
    ])  # fmt: skip
    run = workflow.run("x")
    run.requirements[0].confirm()
    run = workflow.continue_run(run)
    clock.advance(31)
    done = workflow.continue_run(run.run_id)
    history = done.decided_requirements
    assert done.step_requirements == history  # nothing is pending
    assert [(h.step_name, h.decision, h.decided_by) for h in history] == [
        ("a", "confirm", "ada"), ("b", "timeout", None),
    ]  # fmt: skip
    assert history[0].decided_at is not None
    assert history[1].decided_at is not None
    assert history[0].decided_at < history[1].decided_at


def test_sessions_hold_their_runs_in_creation_order(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="sessions", store=store, clock=clock, steps=[
        Step(name="a", executor=tag("a"), requires_confirmation=True),
    ])  # fmt: skip
    first = workflow.run("1", session_id="s-1", user_id="u-1")
    clock.advance(1)
    workflow.run("other", session_id="s-2")
    clock.advance(1)
    second = workflow.run("2", session_id="s-1", user_id="u-1")
    session = workflow.get_session("s-1")
    assert [run.run_id for run in session.runs] == [first.run_id, second.run_id]
    assert {run.user_id for run in session.runs} == {"u-1"}
    assert session.runs[-1].is_paused


def test_pause_decorator_gives_the_step_its_gates(store: Store, clock: Clock) -> None:
    """`@pause` on the executor sets what its Step does not say itself (and names a function
    given as a step)."""

    @pause(name="Ask first", requires_user_input=True, user_input_schema=[COUNT],
           user_input_message="How many?")  # fmt: skip
    def counted(step_input: StepInput) -> StepOutput:
        return StepOutput(content=step_input.additional_data["user_input"]["count"])

    step = Step(name="counted", executor=counted)
    assert (step.requires_user_input, step.user_input_message) == (True, "How many?")
    assert step.human_review is not None
    assert Step(name="s", executor=counted, user_input_message="Own").user_input_message == "Own"
    workflow = Workflow(name="paused", store=store, clock=clock, steps=[counted])
    run = workflow.run(None)
    assert run.paused_step_name == "Ask first"
    run.steps_requiring_user_input[0].set_user_input(count=4)
    assert workflow.continue_run(run).content == 4


def test_a_failed_step_keeps_its_traceback_until_it_succeeds(store: Store, clock: Clock) -> None:
    """The run keeps the end of the failure's traceback (bounded), and forgets it once the
    step succeeds."""
    calls: list[int] = []

    def flaky(step_input: StepInput) -> StepOutput:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("upstream said no")
        if len(calls) == 2:
            raise ValueError("a long answer: " + "x" * 20_000)
        return StepOutput(content="fine")

    workflow = Workflow(name="tb", store=store, clock=clock, steps=[
        Step(name="flaky", executor=flaky),
    ])  # fmt: skip
    failed = workflow.run("x")
    assert failed.status is RunStatus.failed
    assert failed.traceback is not None
    assert failed.traceback.startswith("Traceback (most recent call last):")
    assert "in flaky" in failed.traceback
    assert failed.traceback.endswith("ValueError: upstream said no")
    assert store.get(failed.run_id).traceback == failed.traceback  # stored, not just shown
    again = workflow.continue_run(failed.run_id)
    assert again.traceback is not None
    assert len(again.traceback) == TRACEBACK_CHARS  # its end: where the error is
    assert again.traceback.endswith("x" * 100)
    done = workflow.continue_run(again.run_id)
    assert (done.status, done.error, done.traceback) == (RunStatus.completed, None, None)
