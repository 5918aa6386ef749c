"""The harness: scripted humans and virtual time on the real runtime, on every store,
synchronously and awaited; its expectations fail with what the run was doing instead."""

from __future__ import annotations

import asyncio

import pytest

from statemachine import (
    Condition,
    HumanReview,
    InvalidArgument,
    Loop,
    OnReject,
    Router,
    RunStatus,
    Step,
    StepInput,
    StepOutput,
    Store,
    Workflow,
)
from statemachine.testing import Harness, VirtualClock

from .hitl_flows import tag


def draft(step_input: StepInput) -> StepOutput:
    feedback = step_input.additional_data.get("rejection_feedback")
    return StepOutput(
        content=f"draft {step_input.iteration}" + (f" ({feedback})" if feedback else "")
    )


def memo() -> Workflow:
    return Workflow(name="memo", steps=[
        Loop(name="review", steps=[Step(name="draft", executor=draft)], max_iterations=3,
             human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry,
                                      timeout=3600, on_timeout="approve")),
        Router(name="send", choices=[Step(name="mail", executor=tag("mail")),
                                     Step(name="chat", executor=tag("chat"))],
               requires_user_input=True),
    ])  # fmt: skip


def test_scripted_decisions_and_a_timeout_in_virtual_time(store: Store) -> None:
    harness = Harness(memo(), store, by="qa")
    harness.run("a memo")
    assert harness.expect_pause("review", kind="review").step_output.content == "draft 1"
    harness.reject("shorter")
    harness.expect_pause("review", kind="review")
    assert harness.advance(3599) == []  # not due yet: nothing fired, still paused
    harness.expect_pause("review")
    assert harness.advance(2) == [harness.output.run_id]  # the review timed out: approved
    harness.expect_pause("send", kind="route")
    harness.select("chat")
    harness.expect_status("completed")
    harness.expect_content("chat(draft 2 (shorter))")
    assert [(d.decision, d.decided_by) for d in harness.audit] == [
        ("reject", "qa"), ("timeout", None), ("select", "qa"),
    ]  # fmt: skip


def test_expectations_say_what_the_run_was_doing_instead(store: Store) -> None:
    harness = Harness(memo(), store)
    with pytest.raises(AssertionError, match="no run yet"):
        harness.expect_status("completed")
    harness.run("x")
    with pytest.raises(AssertionError, match=r"paused at 'review' for review \(review:review:1\)"):
        harness.expect_pause("send")
    with pytest.raises(AssertionError, match="expected a route request"):
        harness.expect_pause(kind="route")
    with pytest.raises(AssertionError, match="expected the run completed"):
        harness.expect_status("completed")
    with pytest.raises(AssertionError, match="expected content 'x'"):
        harness.expect_content("x")
    harness.confirm()
    harness.select("mail")
    with pytest.raises(AssertionError, match="expected a pause, but the run is completed"):
        harness.expect_pause()


def test_every_decision_awaited(store: Store) -> None:
    workflow = Workflow(name="kinds", steps=[
        Condition(name="c", evaluator=False, requires_confirmation=True,
                  steps=[Step(name="yes", executor=tag("yes"))]),
        Step(name="values", executor=lambda s: StepOutput(content=s.additional_data["user_input"]),
             requires_user_input=True),
        Step(name="check", executor=tag("check"), requires_output_review=True),
    ])  # fmt: skip
    harness = Harness(workflow, store, start=VirtualClock().now)

    async def main() -> RunStatus:
        await harness.arun("x")
        await harness.aconfirm()
        await harness.aprovide(n=1)
        await harness.aedit("edited")
        await harness.aadvance(10)
        await store.aclose()
        return harness.output.status

    assert asyncio.run(main()) is RunStatus.completed
    assert harness.output.content == "edited"
    assert [d.decision for d in harness.audit] == ["confirm", "provide", "edit"]


def test_retry_and_skip_of_a_failed_step(store: Store) -> None:
    calls: list[int] = []

    def flaky(step_input: StepInput) -> StepOutput:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"failure {len(calls)}")
        return StepOutput(content="ok")

    harness = Harness(Workflow(name="errors", steps=[
        Step(name="flaky", executor=flaky, on_error="pause"),
        Step(name="other", executor=lambda s: 1 / 0, on_error="pause"),
    ]), store)  # fmt: skip
    harness.run(None)
    harness.expect_pause("flaky", kind="error")
    harness.retry()
    harness.retry()
    harness.expect_pause("other", kind="error")
    harness.skip()
    harness.expect_status("completed")
    harness.expect_content("ok")


def test_a_virtual_clock_needs_a_timezone() -> None:
    from datetime import datetime

    with pytest.raises(InvalidArgument, match="timezone-aware"):
        VirtualClock(datetime(2030, 1, 1))
