"""Workflows for the command-line and worker tests: ``--app tests.cli_app:workflows``."""

from __future__ import annotations

from statemachine import HumanReview, Loop, OnReject, Step, StepInput, Workflow


def draft(step_input: StepInput) -> str:
    feedback = step_input.additional_data.get("rejection_feedback")
    return f"draft {step_input.iteration}" + (f" ({feedback})" if feedback else "")


def always_fails(step_input: StepInput) -> str:
    raise RuntimeError("the model is down")


reviewed = Workflow(
    name="reviewed",
    steps=[
        Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
        Loop(
            name="loop",
            steps=[Step(name="draft", executor=draft)],
            human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
        ),
    ],
)

failing = Workflow(name="failing", steps=[Step(name="call", executor=always_fails)])

# A review with a deadline, for the JSON of a run that has one.
timed = Workflow(
    name="timed",
    steps=[
        Step(
            name="draft",
            executor=draft,
            human_review=HumanReview(requires_output_review=True, timeout=3600),
        )
    ],
)

workflows = [reviewed, failing, timed]
