"""Workflows the inbox tests decide: a reviewed loop, a step asking for input, a router and a
confirmation."""

from __future__ import annotations

from statemachine import (
    HumanReview,
    Loop,
    OnReject,
    Router,
    Step,
    StepInput,
    StepOutput,
    Store,
    UserInputField,
    Workflow,
)
from statemachine.runtime.workflow import Clock

from .hitl_flows import tag

SCHEMA = [
    UserInputField(name="count", field_type="int", description="how many"),
    UserInputField(name="colour", field_type="str", allowed_values=("red", "blue")),
    UserInputField(name="note", field_type="str", required=False),
]


def draft(step_input: StepInput) -> StepOutput:
    """A draft in several lines; after a rejection, the feedback is worked in."""
    feedback = (step_input.additional_data or {}).get("rejection_feedback")
    lines = [f"Draft for {step_input.input}", "Second line"]
    if feedback:
        lines.append(f"Revised: {feedback}")
    return StepOutput(content="\n".join(lines))


def echo_input(step_input: StepInput) -> StepOutput:
    return StepOutput(content=(step_input.additional_data or {}).get("user_input"))


def reviewed(store: Store, clock: Clock | None = None, timeout: float | None = None) -> Workflow:
    """Each iteration of a loop pauses for review; a rejection runs it again with feedback."""
    return Workflow(name="drafts", store=store, clock=clock, steps=[
        Loop(name="refine", steps=[Step(name="write", executor=draft)], max_iterations=4,
             human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry,
                                      iteration_review_message="Accept this draft?",
                                      timeout=timeout)),
    ])  # fmt: skip


def form(store: Store) -> Workflow:
    """A step that asks for values of a schema."""
    return Workflow(name="orders", store=store, steps=[
        Step(name="order", executor=echo_input, requires_user_input=True,
             user_input_message="Fill in the order", user_input_schema=SCHEMA),
    ])  # fmt: skip


def routed(store: Store) -> Workflow:
    """A router that asks which route to take."""
    return Workflow(name="routes", store=store, steps=[
        Router(name="pick", choices=[Step(name="fast", executor=tag("fast")),
                                     Step(name="slow", executor=tag("slow"))],
               requires_user_input=True),
    ])  # fmt: skip


def confirmed(store: Store) -> Workflow:
    """A step that asks to be started."""
    return Workflow(name="gated", store=store, steps=[
        Step(name="launch", executor=tag("launch"), requires_confirmation=True,
             confirmation_message="Launch?"),
    ])  # fmt: skip


def failing(store: Store) -> Workflow:
    """A step that fails, and pauses for a human to run it again or skip it."""

    def broken(step_input: StepInput) -> StepOutput:
        raise ValueError("upstream said <no>")

    return Workflow(name="failing", store=store, steps=[
        Step(name="call", executor=broken, on_error="pause"),
        Step(name="after", executor=tag("after")),
    ])  # fmt: skip
